"""Run metrics in the Ray dashboard and on the Prometheus endpoint (``ray.util.metrics``), tagged by step.

Every series is named ``huatuo_*`` (Prometheus shows ``ray_huatuo_*``; counters also ``..._total``). Recording is
a no-op in a process without Ray (a step that ran locally records its final figures through the run, which
connects to Ray when the recipe names a cluster). ``cluster/grafana/huatuo-ray.json`` is a dashboard for them.

  huatuo_step_items{step, outcome}      gauge: the step's counts when it finished (in, kept, dropped, quarantined, out)
  huatuo_step_dropped{step, reason}     gauge: dropped and quarantined items by reason, when the step finished
  huatuo_units{step, state}             gauge: work units done / pending, live while the step runs
  huatuo_llm_requests{outcome}          counter: LLM requests sent, answered from the cache, retried, failed
  huatuo_llm_tokens{kind}               counter: prompt and completion tokens of the requests sent
  huatuo_regenerations                  counter: regenerated questions and answers (unification)
  huatuo_sampler_items                  gauge: items in the sampled order
  huatuo_packed_tokens                  gauge: tokens packed into training sequences
  huatuo_train_{step,loss,tokens_per_second,mfu}  gauges: the training loop, every step (rank 0)
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

log = logging.getLogger(__name__)

_GAUGES = {
    "huatuo_step_items": ("Items of a finished step by outcome.", ("step", "outcome")),
    "huatuo_step_dropped": ("Dropped or quarantined items of a finished step by reason.", ("step", "reason")),
    "huatuo_units": ("Work units done / pending of a running step.", ("step", "state")),
    "huatuo_sampler_items": ("Items in the sampled order.", ()),
    "huatuo_packed_tokens": ("Tokens packed into training sequences.", ()),
    "huatuo_train_step": ("Last finished global training step.", ()),
    "huatuo_train_loss": ("Training loss of the last step.", ()),
    "huatuo_train_tokens_per_second": ("Training throughput (real tokens per second, all workers).", ()),
    "huatuo_train_mfu": ("Model FLOPs utilisation of the last step.", ()),
}
_COUNTERS = {
    "huatuo_llm_requests": ("LLM requests by outcome.", ("outcome",)),
    "huatuo_llm_tokens": ("LLM tokens of the requests sent.", ("kind",)),
    "huatuo_regenerations": ("Regenerated questions and answers.", ()),
}


def _enabled() -> bool:
    if os.environ.get("HUATUO_METRICS", "1") == "0":
        return False
    try:
        import ray

        return ray.is_initialized()
    except ImportError:
        return False


@lru_cache(maxsize=None)
def _metric(name: str):
    from ray.util.metrics import Counter, Gauge

    if name in _GAUGES:
        desc, tags = _GAUGES[name]
        return Gauge(name, description=desc, tag_keys=tags)
    desc, tags = _COUNTERS[name]
    return Counter(name, description=desc, tag_keys=tags)


def set_gauge(name: str, value: float, **tags: str) -> None:
    """Set a ``huatuo_*`` gauge (no-op without Ray)."""
    if _enabled() and value is not None:
        try:
            _metric(name).set(float(value), tags={k: str(v) for k, v in tags.items()} or None)
        except Exception as e:  # metrics must never break a run
            log.debug("metric %s not recorded: %s", name, e)


def inc(name: str, value: float = 1, **tags: str) -> None:
    """Add to a ``huatuo_*`` counter (no-op without Ray)."""
    if _enabled() and value:
        try:
            _metric(name).inc(float(value), tags={k: str(v) for k, v in tags.items()} or None)
        except Exception as e:
            log.debug("metric %s not recorded: %s", name, e)


def units(step: str, done: int, total: int) -> None:
    set_gauge("huatuo_units", done, step=step, state="done")
    set_gauge("huatuo_units", max(0, total - done), step=step, state="pending")


def step_finished(step: str, stats: dict[str, Any]) -> None:
    """A finished step's counts and drop reasons."""
    c = stats["counts"]
    for outcome in ("in", "kept", "dropped", "quarantined", "out"):
        set_gauge("huatuo_step_items", c[outcome], step=step, outcome=outcome)
    for kind in ("dropped", "quarantined"):
        for reason, n in (c.get(f"{kind}_by_reason") or {}).items():
            set_gauge("huatuo_step_dropped", n, step=step, reason=f"{kind}: {reason}"[:120])
