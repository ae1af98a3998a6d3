"""One interface over the backends: a context that yields the endpoint every worker talks to.

``local`` starts a :class:`~huatuo_ray.llm.server.LocalServer` for the duration of the run and stops it (and
its engine processes) after; ``endpoint`` uses the configured OpenAI-compatible server as it is. Workers then
use :class:`~huatuo_ray.llm.client.ChatClient` with the yielded :class:`EndpointConfig`.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from huatuo_ray.llm.config import EndpointConfig, LLMConfig
from huatuo_ray.llm.server import LocalServer


@contextmanager
def open_backend(cfg: LLMConfig, log_dir: str | Path | None = None) -> Iterator[EndpointConfig]:
    """Yield the endpoint for this run, starting and stopping a local server when the backend is ``local``."""
    if cfg.backend == "endpoint":
        if not cfg.endpoint.model:
            raise ValueError("llm.backend=endpoint needs llm.endpoint.model")
        yield cfg.endpoint
        return
    server = LocalServer(cfg.server, Path(log_dir) / "vllm-server.log" if log_dir else None)
    server.start()
    try:
        yield cfg.endpoint.model_copy(update={"base_url": server.base_url, "model": server.model_name})
    finally:
        server.stop()
