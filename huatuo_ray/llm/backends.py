"""One interface over the backends.

``local`` starts a :class:`~huatuo_ray.llm.server.LocalServer` for the duration of the run and stops it (and
its engine processes) after, however the run ends (see :mod:`huatuo_ray.llm.server`; with ``log_dir``, the
step's output, the server is recorded there and a server a killed run left is stopped first); ``endpoint`` uses the configured OpenAI-compatible server as it is. For these two,
:func:`open_backend` yields the endpoint and workers use :class:`~huatuo_ray.llm.client.ChatClient` with it.
``vllm_engine`` has no endpoint: generation runs as Ray Data jobs (:mod:`huatuo_ray.llm.vllm_engine`).
:func:`run_requests` sends a list of requests through any of the three.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from huatuo_ray.io.digest import digest_path
from huatuo_ray.llm.client import LLMResult, endpoint_identity, generate
from huatuo_ray.llm.config import EndpointConfig, LLMConfig, SamplingConfig
from huatuo_ray.llm.local_model import LOCAL_ALIAS
from huatuo_ray.llm.server import (
    SERVER_RECORD,
    LocalServer,
    reap_recorded,
    terminate_raises,
)

OFFLINE_MODEL_ID = "smollm2-135m-instruct (offline)"


def model_name(cfg: LLMConfig) -> str:
    """The model a run's outputs are attributed to (and that keys the engine backend's request cache)."""
    if cfg.backend == "endpoint":
        return cfg.endpoint.model
    if cfg.backend == "vllm_engine":
        return cfg.engine.model or OFFLINE_MODEL_ID
    return cfg.server.model or OFFLINE_MODEL_ID


def model_identity(cfg: LLMConfig) -> dict:
    """What decides the model's answers, for fingerprints: ``settings`` (model, dtype, context) and ``files``
    ({setting: local path} of a model directory here, whose content is hashed). Where it runs does not count."""
    if cfg.backend == "endpoint":
        return {"settings": {"model": cfg.endpoint.model}, "files": {}}
    part, sec = ("engine", cfg.engine) if cfg.backend == "vllm_engine" else ("server", cfg.server)
    settings = {"model": sec.model or OFFLINE_MODEL_ID, "dtype": sec.dtype, "max_model_len": sec.max_model_len}
    from huatuo_ray.models import content_files

    return {"settings": settings, "files": content_files(sec.model or LOCAL_ALIAS, f"llm.{part}.model")}


def cache_identity(cfg: LLMConfig) -> str:
    """What keys the request cache: the model's identity (:func:`model_identity`, its local files by content
    digest) and, for an endpoint, the base URL. Computed once on the driver (digests read files)."""
    if cfg.backend == "endpoint":
        return endpoint_identity(cfg.endpoint)
    ident = model_identity(cfg)
    # the files by content only: the same model directory served or run in the engine answers the same
    return json.dumps({"settings": ident["settings"], "files": sorted(digest_path(v) for v in ident["files"].values())},
                      sort_keys=True)


@contextmanager
def open_backend(cfg: LLMConfig, log_dir: str | Path | None = None) -> Iterator[EndpointConfig]:
    """Yield the endpoint for this run, starting and stopping a local server when the backend is ``local``."""
    if cfg.backend == "vllm_engine":
        raise ValueError("llm.backend=vllm_engine has no endpoint; use run_requests() or the unify job")
    if cfg.backend == "endpoint":
        if not cfg.endpoint.model:
            raise ValueError("llm.backend=endpoint needs llm.endpoint.model")
        yield cfg.endpoint
        return
    record = Path(log_dir) / SERVER_RECORD if log_dir else None
    if record is not None:
        reap_recorded(record)  # a server a killed run of this step left behind
    server = LocalServer(cfg.server, Path(log_dir) / "vllm-server.log" if log_dir else None, record)
    with terminate_raises():  # SIGTERM (ray job stop, kill) unwinds through the finally below
        try:
            server.start()
            yield cfg.endpoint.model_copy(update={"base_url": server.base_url, "model": server.model_name})
        finally:
            server.stop()


def run_requests(cfg: LLMConfig, requests: list[list[dict]], sampling: SamplingConfig | dict, cache_dir: str | Path,
                 log_dir: str | Path | None = None) -> tuple[list[LLMResult], str]:
    """Blocking: answer every chat request with the configured backend; returns (results in order, model name).

    Must not be called inside a running event loop; Ray must be initialised for ``vllm_engine``.
    """
    if cfg.backend == "vllm_engine":
        from huatuo_ray.llm.vllm_engine import engine_generate

        return engine_generate(requests, sampling, cfg.engine, cache_identity(cfg), model_name(cfg),
                               cache_dir), model_name(cfg)
    identity = cache_identity(cfg)
    with open_backend(cfg, log_dir) as endpoint:
        return generate(requests, sampling, endpoint, cache_dir=str(cache_dir), identity=identity), endpoint.model
