"""Baichuan2-7B in its own (remote-code) layout -> the Llama layout transformers implements natively.

Baichuan2-7B is a Llama block for block except in two places: each layer's query, key and value projections are
one fused ``W_pack`` (``Linear(h, 3h)``, read as ``unflatten(-1, (3, h))``: rows ``[0, h)`` query, ``[h, 2h)``
key, ``[2h, 3h)`` value), and the output layer is a ``NormHead``, which multiplies by its weight rows
normalised to unit length. So the conversion splits ``W_pack`` into ``q_proj`` / ``k_proj`` / ``v_proj``, stores
the normalised rows as a plain ``lm_head``, and writes a ``LlamaConfig`` (rotary base 10000 as Baichuan2-7B's
code fixes it, no biases, untied embeddings); every other tensor keeps its name. Tokenizer files are copied as
they are (Baichuan2's tokenizer stays remote code: ``trust_remote_code`` for the tokenizer only). The logits of
the two layouts agree (tests/train/test_convert.py, fp32, on a tiny model built from the same weights).

What changes for training: the converted ``lm_head`` is a plain matrix, so its rows are no longer renormalised
at every step as Baichuan2's own training did (and its z-loss is not used). Baichuan2-13B has no Llama layout: it
uses ALiBi position biases instead of rotary embeddings; it is refused.

Example::

    huatuo-ray model convert baichuan2 /models/Baichuan2-7B-Base /models/Baichuan2-7B-Base-llama
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from huatuo_ray.errors import InputError
from huatuo_ray.io.atomic import atomic_path, write_json_atomic, write_text_atomic

# Files of a Baichuan2 checkpoint that the Llama layout keeps as they are (the tokenizer and generation settings).
CARRIED = ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
           "added_tokens.json", "generation_config.json")
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(self_attn\.o_proj|mlp\.(gate|up|down)_proj|input_layernorm|"
                    r"post_attention_layernorm)\.weight$")
_PLAIN = {"model.embed_tokens.weight", "model.norm.weight"}


def _read_config(src: Path) -> dict[str, Any]:
    try:
        return json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{src}: no readable config.json ({e}); expected a Baichuan2-7B model directory") from None


def check_baichuan2_7b(src: Path, conf: dict[str, Any]) -> None:
    """Refuse what is not Baichuan2-7B's layout: another model type, ALiBi (13B), no NormHead (Baichuan 1)."""
    if conf.get("model_type") != "baichuan":
        raise InputError(f"{src}: model_type {conf.get('model_type')!r}, not a Baichuan checkpoint ('baichuan')")
    code = src / "modeling_baichuan.py"
    text = code.read_text(encoding="utf-8", errors="replace") if code.is_file() else ""
    if "max_position_embeddings" not in conf or "alibi" in text.lower():
        raise InputError(f"{src}: this Baichuan model uses ALiBi position biases (Baichuan2-13B), not rotary "
                         "embeddings; it has no Llama layout and cannot be converted. Train Baichuan2-7B, or set "
                         "train.model.allow_cross_sample_attention to train it in its own layout with packed "
                         "samples attending to each other")
    if ("NormHead" not in text) if text else conf.get("vocab_size") != 125696:
        raise InputError(f"{src}: no NormHead output layer (Baichuan 1?); only Baichuan2-7B is converted")
    if conf.get("num_key_value_heads", conf["num_attention_heads"]) != conf["num_attention_heads"]:
        raise InputError(f"{src}: W_pack with grouped key/value heads is not Baichuan2-7B's layout")


def llama_config(conf: dict[str, Any]) -> dict[str, Any]:
    """The LlamaConfig (as config.json content) with Baichuan2-7B's shape and token ids."""
    from transformers import LlamaConfig

    c = LlamaConfig(
        vocab_size=conf["vocab_size"], hidden_size=conf["hidden_size"], intermediate_size=conf["intermediate_size"],
        num_hidden_layers=conf["num_hidden_layers"], num_attention_heads=conf["num_attention_heads"],
        num_key_value_heads=conf["num_attention_heads"], hidden_act=conf.get("hidden_act", "silu"),
        max_position_embeddings=conf["max_position_embeddings"], rms_norm_eps=conf.get("rms_norm_eps", 1e-6),
        initializer_range=conf.get("initializer_range", 0.02), rope_theta=10000.0, attention_bias=False,
        mlp_bias=False, tie_word_embeddings=False, bos_token_id=conf.get("bos_token_id"),
        eos_token_id=conf.get("eos_token_id"), pad_token_id=conf.get("pad_token_id"), use_cache=True,
    )
    out = json.loads(c.to_json_string())
    out["architectures"] = ["LlamaForCausalLM"]
    if conf.get("torch_dtype"):
        out["dtype"] = conf["torch_dtype"]
    return out


def convert_tensors(state: dict[str, Any], hidden_size: int) -> dict[str, Any]:
    """One shard's tensors in the Llama layout (every key is accounted for: an unknown one is refused)."""
    import torch

    out = {}
    for name, t in state.items():
        if name.endswith(".self_attn.W_pack.weight"):
            if t.shape[0] != 3 * hidden_size:
                raise InputError(f"{name}: shape {tuple(t.shape)}, expected ({3 * hidden_size}, {hidden_size})")
            base = name[: -len("W_pack.weight")]
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), t.split(hidden_size, dim=0)):
                out[f"{base}{part}.weight"] = chunk.contiguous().clone()
        elif name == "lm_head.weight":
            out[name] = torch.nn.functional.normalize(t.float(), dim=-1).to(t.dtype)   # NormHead, folded
        elif name.endswith("rotary_emb.inv_freq"):
            continue   # recomputed by Llama's rotary embedding (the same base 10000)
        elif name in _PLAIN or _LAYER.match(name):
            out[name] = t.contiguous()
        else:
            raise InputError(f"unexpected tensor {name!r} for Baichuan2-7B's layout")
    return out


def _weight_files(src: Path) -> list[Path]:
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (src / index).is_file():
            files = json.loads((src / index).read_text(encoding="utf-8"))["weight_map"].values()
            return [src / f for f in dict.fromkeys(files)]
    for single in ("model.safetensors", "pytorch_model.bin"):
        if (src / single).is_file():
            return [src / single]
    raise InputError(f"{src}: no weights (model.safetensors, pytorch_model.bin or their shard index)")


def _load(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    import torch

    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def convert_baichuan2(src: str | Path, dst: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """Write the Llama-layout copy of the Baichuan2-7B directory ``src`` to ``dst`` (atomically: whole or absent).

    Shards are converted one at a time (one output safetensors shard per input shard), so memory holds one shard.
    """
    from safetensors.torch import save_file

    src, dst = Path(src), Path(dst)
    conf = _read_config(src)
    check_baichuan2_7b(src, conf)
    files = _weight_files(src)
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise InputError(f"{dst} exists and is not empty: choose another destination or pass --overwrite")
    n, h = len(files), conf["hidden_size"]
    weight_map: dict[str, str] = {}
    total = 0
    with atomic_path(dst) as tmp:
        tmp.mkdir()
        for k, f in enumerate(files):
            tensors = convert_tensors(_load(f), h)
            name = "model.safetensors" if n == 1 else f"model-{k + 1:05d}-of-{n:05d}.safetensors"
            with atomic_path(tmp / name) as part:
                save_file(tensors, str(part), metadata={"format": "pt"})
            weight_map |= dict.fromkeys(tensors, name)
            total += sum(t.numel() * t.element_size() for t in tensors.values())
            del tensors
        missing = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"} - set(weight_map)
        if missing:
            raise InputError(f"{src}: the weights lack {sorted(missing)}")
        if n > 1:
            write_json_atomic(tmp / "model.safetensors.index.json",
                              {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})
        write_text_atomic(tmp / "config.json", json.dumps(llama_config(conf), indent=2) + "\n")
        carried = [p for p in sorted(src.iterdir()) if p.name in CARRIED or re.match(r"tokenization_\w+\.py$", p.name)]
        for p in carried:
            with atomic_path(tmp / p.name) as out:
                shutil.copyfile(p, out)
    return {"source": str(src), "output": str(dst), "tensors": len(weight_map), "shards": n, "bytes": total,
            "carried": [p.name for p in carried]}
