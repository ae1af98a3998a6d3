"""The models an evaluation compares: names and the LLM configuration that serves each.

A model is an :class:`~huatuo_ray.llm.config.LLMConfig` (used as given: any backend) or a model directory / hub
id, served like the recipe's ``llm`` with that model: ``engine.model`` for ``vllm_engine``, otherwise the local
vLLM server with ``server.model`` set to it (an endpoint serves one fixed model, so a directory needs a server).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

from huatuo_ray.llm.config import LLMConfig
from huatuo_ray.names import check_source_name

ModelSpec = LLMConfig | str | Path


def safe_name(text: str) -> str:
    """A name usable in file names: letters, digits, '-', '_', '.'; anything else becomes '-'."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^0-9A-Za-z_.-]", "-", text)).strip("-.") or "model"


def default_name(llm: LLMConfig) -> str:
    if llm.backend == "endpoint":
        return safe_name(llm.endpoint.model or "endpoint")
    model = llm.engine.model if llm.backend == "vllm_engine" else llm.server.model
    return safe_name(Path(model).name) if model else "smollm2-135m-instruct"


def context_of(model: str | Path) -> int | None:
    """The context length a local model directory was built for (``max_position_embeddings``), if readable."""
    try:
        return int(json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))["max_position_embeddings"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def for_model(recipe_llm: LLMConfig, model: str | Path) -> LLMConfig:
    """The recipe's LLM settings serving ``model`` (a directory or hub id), its context capped at the model's own."""
    if recipe_llm.backend == "vllm_engine":
        sec, part = recipe_llm.engine, "engine"
    else:
        sec, part = recipe_llm.server, "server"
    update = {"model": str(model), "max_model_len": min(sec.max_model_len, context_of(model) or sec.max_model_len)}
    return recipe_llm.model_copy(update={part: sec.model_copy(update=update),
                                         **({} if part == "engine" else {"backend": "local"})})


def resolve_models(recipe_llm: LLMConfig, models: Mapping[str, ModelSpec] | None) -> dict[str, LLMConfig]:
    """name -> LLMConfig; no models at all means the recipe's own ``llm``."""
    if not models:
        return {default_name(recipe_llm): recipe_llm}
    out = {}
    for name, spec in models.items():
        check_source_name(name)
        out[name] = spec if isinstance(spec, LLMConfig) else for_model(recipe_llm, spec)
    return out


def local_weights(llm: LLMConfig) -> tuple[Path | None, str]:
    """The Hugging Face directory behind a model for log-likelihood scoring, or (None, why not)."""
    if llm.backend == "endpoint":
        return None, "an OpenAI-compatible endpoint returns no prompt log-probabilities"
    model = llm.engine.model if llm.backend == "vllm_engine" else llm.server.model
    if not model:
        from huatuo_ray.llm.local_model import ensure_local_model

        return ensure_local_model(), ""
    from huatuo_ray.models import locate

    setting = "llm.engine.model" if llm.backend == "vllm_engine" else "llm.server.model"
    return locate(model, setting), ""
