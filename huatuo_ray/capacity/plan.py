"""The capacity plan: wall time and node-hours per step for a corpus size, with every number's origin.

Volumes flow down the chain (corpus bytes -> curated segments -> segments sent -> pairs -> items ordered ->
tokens -> optimizer steps -> benchmark answers); each step's time comes from the calibration of this machine
(:mod:`huatuo_ray.capacity.calibrate`) and, on a cluster, from its node types and the configured GPU figures
(:mod:`huatuo_ray.capacity.config`). Every figure is tagged where it is used: ``input`` (the command line),
``recipe`` (a recipe key), ``measured`` (the calibration: its machine and date), ``configured`` (the
capacity file, with its source) or ``derived``. On this machine (``nodes="local"``) a step takes
``fixed + per_unit x volume`` as calibrated. On a cluster the CPU work (core-seconds measured here) is spread
over the CPU nodes at the configured per-core speed, embedding, generation, training and evaluation run at
the configured GPU rates, and the fixed parts (start-up, model loading) are taken as measured here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from huatuo_ray.capacity.config import Capacity, NodeType
from huatuo_ray.errors import InputError
from huatuo_ray.recipe import SFT_TYPE, Recipe

LOCAL = "local"
HEAD = "head"


@dataclass
class StepPlan:
    step: str
    volume: float
    unit: str
    wall_s: float = 0.0
    node_hours: dict[str, float] = field(default_factory=dict)
    how: list[str] = field(default_factory=list)


@dataclass
class Plan:
    recipe: str
    where: str
    corpus_bytes: int
    steps: dict[str, StepPlan]
    assumptions: list[str]

    @property
    def wall_s(self) -> float:
        return sum(s.wall_s for s in self.steps.values())

    def node_hours(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.steps.values():
            for k, v in s.node_hours.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "where": self.where, "corpus_bytes": self.corpus_bytes,
                "steps": {n: {"volume": s.volume, "unit": s.unit, "wall_s": s.wall_s, "node_hours": s.node_hours,
                              "how": s.how} for n, s in self.steps.items()},
                "total": {"wall_s": self.wall_s, "node_hours": self.node_hours()}, "assumptions": self.assumptions}


def _n(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


class Planner:
    """One plan: the recipe, the calibration, where it runs; ``tag`` collects each assumption once."""

    def __init__(self, recipe: Recipe, cal: dict[str, Any], nodes: Capacity | None):
        self.recipe, self.cal, self.nodes = recipe, cal, nodes
        m = cal["machine"]
        self.measured = f"measured: calibration of {m['calibrated_at'][:10]} on {m['cpus']} x {m['cpu_model']}"
        self.assumptions: list[str] = []

    def tag(self, what: str, value: Any, origin: str) -> Any:
        line = f"{what} = {value if isinstance(value, str) else _n(value)}   [{origin}]"
        if line not in self.assumptions:
            self.assumptions.append(line)
        return value

    def vol(self, key: str, configured: str | None = None) -> float:
        """A linking volume: the capacity file's figure on a cluster (when it has one), else the calibration's."""
        if self.nodes is not None and configured:
            f = getattr(self.nodes.configured, configured)
            return self.tag(configured, f.value, f"configured: {f.source}")
        if self.cal["volumes"].get(key) is None:
            raise InputError(f"the calibration has no {key}: calibrate from runs that ran the steps it comes from "
                             "(a whole local run)")
        return self.tag(key, self.cal["volumes"][key], self.measured)

    def conf(self, key: str) -> float:
        f = getattr(self.nodes.configured, key)
        return self.tag(key, f.value, f"configured: {f.source}")

    def local(self, step: str, volume: float) -> StepPlan:
        """The step on this machine, as calibrated: ``fixed + per_unit x volume``."""
        c = self.cal["steps"][step]
        unit = c["unit"][:-1] if c["unit"].endswith("s") else c["unit"]
        p = StepPlan(step, volume, c["unit"], c["fixed_s"] + c["per_unit_s"] * volume)
        p.node_hours[LOCAL] = p.wall_s / 3600
        p.how.append(f"{_n(c['fixed_s'])} s fixed + {c['per_unit_s']:.4g} s per {unit} x {_n(volume)} ({c['how']}) "
                     f"[{self.measured}]")
        return p

    # --- cluster resources -------------------------------------------------------------------------------------
    def cpu_types(self) -> dict[str, NodeType]:
        return {n: t for n, t in self.nodes.node_types.items() if not t.gpus}

    def gpu_type(self) -> tuple[str, NodeType]:
        return next((n, t) for n, t in self.nodes.node_types.items() if t.gpus)

    def cluster_cores(self) -> float:
        cores = sum(t.cpus * t.max_workers for t in self.cpu_types().values())
        speed = self.conf("cpu_speed")
        return self.tag("CPU cores for CPU work", cores * speed,
                        "derived: max_workers x cpus of the CPU node types x cpu_speed (autoscaled to the maximum)")

    def cpu_work(self, p: StepPlan, core_s: float, fixed: float, what: str) -> None:
        cores = self.cluster_cores()
        wall = core_s / cores
        p.wall_s += fixed + wall
        for n, t in self.cpu_types().items():  # busy node-hours; each type takes its share of the cores
            share = t.cpus * t.max_workers * self.nodes.configured.cpu_speed.value / cores
            p.node_hours[n] = p.node_hours.get(n, 0.0) + t.max_workers * share * wall / 3600
        p.how.append(f"{what}: {_n(core_s)} CPU-core seconds / {_n(cores)} cores = {_n(wall)} s, + {_n(fixed)} s fixed "
                     f"[{self.measured}; fixed part as measured here]")

    def gpu_work(self, p: StepPlan, seconds: float, gpus: float, what: str) -> None:
        name, t = self.gpu_type()
        p.wall_s += seconds
        nodes = math.ceil(gpus / t.gpus)
        p.node_hours[name] = p.node_hours.get(name, 0.0) + nodes * seconds / 3600
        p.how.append(f"{what}: {_n(seconds)} s on {gpus:g} GPUs ({nodes} {name} node{'s' if nodes > 1 else ''})")

    # --- steps -------------------------------------------------------------------------------------------------
    def plan(self, corpus_bytes: int, sft_bytes: int | None, sizes_from: str) -> Plan:
        from huatuo_ray.run.registry import STEPS

        r = self.recipe
        enabled = {s.name for s in STEPS if s.enabled(r)}
        steps: dict[str, StepPlan] = {}

        def add(name: str, make) -> None:
            if name not in enabled:
                return
            if name not in self.cal["steps"]:
                steps[name] = StepPlan(name, 0, "-", how=[f"not estimated: the calibration has no {name} step "
                                                          "(calibrate from runs that ran it)"])
                return
            steps[name] = make()

        conv = pairs = 0.0
        if "sft" in enabled:
            sft_bytes = self.sft_size(sft_bytes, sizes_from)
            conv = sft_bytes * self.vol("conversations_per_sft_byte")
            add("sft", lambda: self.simple("sft", sft_bytes, parallel=True))
        if "curate" in enabled:
            self.tag("corpus size (bytes)", corpus_bytes, f"input: {sizes_from}")
            segments = self.segments(corpus_bytes)
            add("curate", lambda: self.curate(corpus_bytes, segments))
            cap = r.unify.max_segments
            sent = min(segments, cap) if cap is not None else segments
            if cap is not None:
                self.tag("unify.max_segments", cap, "recipe")
            pairs = sent * self.vol("unify_acceptance", "unify_acceptance")
            add("unify", lambda: self.unify(sent))
        items, tokens = self.items_tokens(pairs, conv)
        add("sample", lambda: self.simple("sample", items))
        add("pack", lambda: self.pack(tokens))
        add("train", lambda: self.train(tokens))
        add("eval", self.evaluate)
        if self.nodes is not None:
            total = sum(s.wall_s for s in steps.values())
            for s in steps.values():
                s.node_hours[HEAD] = s.wall_s / 3600
            self.tag("head node", f"1 x {self.nodes.head.instance_type} for the whole run ({_n(total / 3600)} h)",
                     "configured: capacity file")
        where = "this machine (local Ray)" if self.nodes is None else "the cluster of the capacity file"
        return Plan(r.name, where, corpus_bytes, steps, self.assumptions)

    def sft_size(self, sft_bytes: int | None, sizes_from: str) -> float:
        if sft_bytes is not None:
            return self.tag("SFT size (bytes)", sft_bytes, f"input: {sizes_from}")
        if self.nodes is not None:
            conv = self.conf("sft_conversations")
            return self.tag("SFT size (bytes)", conv / self.vol("conversations_per_sft_byte"),
                            "derived: sft_conversations / the calibration's conversations per byte")
        return self.tag("SFT size (bytes)", self.cal["runs"][0]["sft_bytes"],
                        f"{self.measured}: its first run's SFT input (no --sft-size)")

    def segments(self, corpus_bytes: float) -> float:
        if self.nodes is None:
            return corpus_bytes * self.vol("segments_per_corpus_byte")
        pairs = corpus_bytes / 1e12 * self.conf("pairs_per_corpus_tb")
        return self.tag("curated segments", pairs / self.conf("unify_acceptance"),
                        "derived: pairs_per_corpus_tb x corpus TB / unify_acceptance")

    def simple(self, step: str, volume: float, parallel: bool = False) -> StepPlan:
        """A CPU step: on this machine as calibrated; on a cluster its variable part as core-seconds (the local
        run used one core, or all of them for ``parallel`` steps) spread over the CPU nodes."""
        c = self.cal["steps"][step]
        if self.nodes is None:
            return self.local(step, volume)
        p = StepPlan(step, volume, c["unit"])
        cores_here = self.cal["machine"]["cpus"] if parallel else 1
        per_unit, bound = c["per_unit_s"], ""
        if not per_unit and c.get("per_unit_bound_s"):
            per_unit, bound = c["per_unit_bound_s"], "; an upper bound: the calibration runs showed no growth"
        self.cpu_work(p, per_unit * volume * cores_here, c["fixed_s"],
                      f"{step} ({'all' if parallel else 'one'} of the calibration machine's cores busy{bound})")
        return p

    def curate(self, corpus_bytes: float, segments: float) -> StepPlan:
        c = self.cal["steps"]["curate"]
        if self.nodes is None:
            return self.local("curate", corpus_bytes)
        p = StepPlan("curate", corpus_bytes, c["unit"])
        split, cur = c["split"], self.recipe.curate
        self.cpu_work(p, split["cpu_core_s_per_byte"] * corpus_bytes, c["fixed_s"],
                      "CPU stages (read, density, segment, quality, write; their worker seconds)")
        if "dedup" not in cur.stages:
            return p
        rows = segments * self.vol("dedup_rows_per_segment")
        embed = cur.runtime("embed")
        if embed.num_gpus:
            gpus = min(embed.actors[1] if embed.actors else 1, self.gpu_type()[1].gpus * self.gpu_type()[1].max_workers)
            rate = self.conf("embed_rows_per_s_per_gpu")
            self.gpu_work(p, rows / (rate * gpus), gpus, f"embedding {_n(rows)} rows at {_n(rate)} rows/s per GPU "
                          "[configured]")
        else:
            self.cpu_work(p, split["embed_s_per_row"] * rows * self.cal["machine"]["cpus"], 0, "embedding on CPUs")
        search_core_s = split["search_s_per_row_and_cluster_row"] * rows * cur.dedup.cluster_size * self.cal["machine"]["cpus"]
        self.tag("curate.dedup.cluster_size", cur.dedup.cluster_size, "recipe")
        d = cur.runtime("dedup")
        name, t = self.gpu_type()
        tasks = max(1, min(math.ceil(rows / cur.dedup.bucket_rows),
                           (t.gpus * t.max_workers) // d.num_gpus if d.num_gpus else 10**9))
        cores = tasks * d.num_cpus * self.nodes.configured.cpu_speed.value
        self.gpu_work(p, search_core_s / cores, tasks * d.num_gpus,
                      f"k-means and near-duplicate search: {_n(search_core_s)} core-seconds [{self.measured}, scaled by "
                      f"cluster size] on {tasks} tasks x {d.num_cpus:g} CPUs")
        return p

    def unify(self, sent: float) -> StepPlan:
        c = self.cal["steps"]["unify"]
        if self.nodes is None:
            return self.local("unify", sent)
        p = StepPlan("unify", sent, c["unit"])
        tokens = sent * self.conf("attempts_per_segment") * self.conf("tokens_per_pair")
        rate = self.conf("generation_tokens_per_s_per_gpu")
        llm = self.recipe.llm
        p.wall_s += c["fixed_s"]
        p.how.append(f"{_n(c['fixed_s'])} s fixed (server start, as measured here) [{self.measured}]")
        if llm.backend == "vllm_engine":
            gpus = llm.engine.tensor_parallel_size * llm.engine.pipeline_parallel_size * llm.engine.actors
            self.tag("llm.engine replicas x GPUs", f"{llm.engine.actors} x {gpus // llm.engine.actors}", "recipe")
            self.gpu_work(p, tokens / (rate * gpus), gpus, f"generating {_n(tokens)} tokens")
        else:
            gpus = self.conf("endpoint_gpus")
            seconds = tokens / (rate * gpus)
            p.wall_s += seconds
            p.node_hours["endpoint GPUs (outside the cluster)"] = gpus * seconds / 3600
            p.how.append(f"generating {_n(tokens)} tokens on the endpoint's {gpus:g} GPUs: {_n(seconds)} s "
                         "(GPU-hours, not node-hours, outside the cluster)")
        return p

    def items_tokens(self, pairs: float, conv: float) -> tuple[float, float]:
        from huatuo_ray.sample.job import sampler_config

        cfg = sampler_config(self.recipe)
        ep = {s.type: s.epochs for s in cfg.sources}
        ep_pairs = max((e for t, e in ep.items() if t != SFT_TYPE), default=1)
        ep_sft = ep.get(SFT_TYPE, 1)
        self.tag("epochs (pairs, SFT)", f"{ep_pairs}, {ep_sft}", f"recipe: sample.preset {cfg.preset}")
        items = pairs * ep_pairs + conv * ep_sft
        tpp = self.vol("tokens_per_pair", "tokens_per_pair") if pairs else 0.0
        if not conv:
            tps = 0.0
        elif self.nodes is not None:
            tps = self.conf("tokens_per_sft_conversation")
        else:
            tps = self.vol("tokens_per_sft_item")
        tokens = pairs * ep_pairs * tpp + conv * ep_sft * tps
        self.tag("items ordered", items, "derived: pairs x epochs + SFT conversations x epochs")
        self.tag("tokens packed", tokens, "derived: items x tokens per item")
        return items, tokens

    def pack(self, tokens: float) -> StepPlan:
        c = self.cal["steps"]["pack"]
        if self.nodes is None or "split" not in c:
            return self.simple("pack", tokens)
        p = StepPlan("pack", tokens, c["unit"])
        core_s = c["split"]["tokenize_core_s_per_token"] * tokens
        other = max(0.0, c["per_unit_s"] - c["split"]["tokenize_core_s_per_token"]) * tokens
        self.cpu_work(p, core_s + other, c["fixed_s"], "tokenising and packing (one core here)")
        return p

    def train(self, tokens: float) -> StepPlan:
        t = self.recipe.train
        c = self.cal["steps"]["train"]
        seq = tokens / self.vol("real_token_fraction") / t.max_seq_len
        steps = math.ceil(seq / t.global_batch_size)
        self.tag("train.global_batch_size x max_seq_len", f"{t.global_batch_size} x {t.max_seq_len}", "recipe")
        if t.max_steps is not None and t.max_steps < steps:
            steps = self.tag("train.max_steps", t.max_steps, "recipe")
        if self.nodes is None:
            return self.local("train", steps)
        p = StepPlan("train", steps, c["unit"])
        import contextlib
        import sys

        with contextlib.redirect_stdout(sys.stderr):  # DeepSpeed logs to stdout on import: keep --json clean
            from huatuo_ray.train.dry_run import dry_run

            params = dry_run(t)["memory_per_gpu"]["parameters"]
        params = self.tag("model parameters", params,
                          f"derived: the train dry run ({t.model.size or t.model.path})")
        mfu = self.conf("train_mfu")
        self.tag("train.peak_flops per worker", t.peak_flops, "recipe")
        tokens_step = t.global_batch_size * t.max_seq_len
        step_s = 6 * params * tokens_step / (t.num_workers * t.peak_flops * mfu)
        p.wall_s += c["fixed_s"]
        p.how.append(f"{_n(c['fixed_s'])} s fixed (workers, model load, as measured here) [{self.measured}]")
        self.gpu_work(p, steps * step_s, t.num_workers, f"{steps:,} steps x {_n(step_s)} s "
                      f"(6 x parameters x {tokens_step:,} tokens / ({t.num_workers} x peak x MFU))")
        return p

    def evaluate(self) -> StepPlan:
        c = self.cal["steps"]["eval"]
        e = self.recipe.eval
        models = (2 if e.trained else 0) + len(e.models)
        items = self.bench_items()
        answers = items * max(models, 1)
        if self.nodes is None:
            return self.local("eval", answers)
        p = StepPlan("eval", answers, c["unit"])
        rate = self.conf("generation_tokens_per_s_per_gpu")
        tokens = answers * self.tag("eval.sampling.max_tokens", e.sampling.max_tokens,
                                    "recipe (an upper bound: replies stop earlier)")
        p.wall_s += c["fixed_s"]
        gpus = self.gpu_type()[1].gpus
        self.gpu_work(p, tokens / (rate * gpus), gpus, f"{_n(answers)} answers, {_n(tokens)} tokens at most, one GPU node")
        return p

    def bench_items(self) -> float:
        from huatuo_ray.benchmarks.formats import load_benchmark
        from huatuo_ray.errors import HuatuoError

        n = 0
        try:
            for b in self.recipe.eval.benchmarks:
                n += len(load_benchmark(b).items)
        except (HuatuoError, OSError):
            if self.nodes is not None:
                return self.conf("eval_items")
            raise
        return self.tag("benchmark items", n, "derived: the recipe's benchmark files")


def estimate(recipe: Recipe, calibration: dict[str, Any], corpus_bytes: int, sft_bytes: int | None = None,
             nodes: Capacity | None = None, sizes_from: str = "--corpus-size / --sft-size") -> Plan:
    """The plan for ``corpus_bytes`` of corpus (and ``sft_bytes`` of SFT data) on ``nodes`` (None: this machine)."""
    return Planner(recipe, calibration, nodes).plan(corpus_bytes, sft_bytes, sizes_from)


def _size(n: float) -> str:
    unit = next((u for u, f in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)) if n >= f), "B")
    return f"{n / dict(TB=1e12, GB=1e9, MB=1e6, KB=1e3, B=1)[unit]:,.3g} {unit}"


def _hms(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def format_plan(plan: Plan) -> str:
    """The plan as a table (wall time and node-hours per step), how each step was estimated, every assumption."""
    import io

    from rich.console import Console
    from rich.table import Table

    kinds = list(dict.fromkeys(k for s in plan.steps.values() for k in s.node_hours))
    table = Table(title=f"capacity plan: {plan.recipe} on {plan.where}, {_size(plan.corpus_bytes)} of corpus")
    for col in ("step", "volume", "unit", "wall"):
        table.add_column(col, justify="left" if col in ("step", "unit") else "right")
    for k in kinds:
        table.add_column(f"{k} node-h" if "GPUs" not in k else "endpoint GPU-h", justify="right")
    for s in plan.steps.values():
        table.add_row(s.step, _n(s.volume), s.unit, _hms(s.wall_s), *(f"{s.node_hours.get(k, 0):,.2f}" for k in kinds))
    totals = plan.node_hours()
    table.add_row("total", "", "", _hms(plan.wall_s), *(f"{totals.get(k, 0):,.2f}" for k in kinds))
    buf = io.StringIO()
    Console(file=buf, width=170, force_terminal=False).print(table)
    lines = [buf.getvalue().rstrip(), "how each step was estimated:"]
    for s in plan.steps.values():
        lines += [f"  {s.step}: {h}" for h in s.how]
    lines.append("assumptions (where each number comes from):")
    lines += [f"  {a}" for a in plan.assumptions]
    if plan.where != "this machine (local Ray)":
        lines.append("  node-hours: busy time of the nodes a step uses (idle time before the autoscaler's timeout is "
                     "not counted); GPU figures marked configured were not measured here")
    return "\n".join(lines)
