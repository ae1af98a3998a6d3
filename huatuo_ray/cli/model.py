"""``huatuo-ray model convert``: base models into a layout the trainer can keep packed samples apart in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from huatuo_ray.cli.common import app, fail

model_app = typer.Typer(help="Prepare base models for training.", no_args_is_help=True)
app.add_typer(model_app, name="model")

FAMILIES = ("baichuan2",)


@model_app.command("convert")
def model_convert(
    family: Annotated[str, typer.Argument(help="Source layout: baichuan2 (Baichuan2-7B; 13B uses ALiBi and is refused).")],
    src: Annotated[Path, typer.Argument(help="The model directory in its own layout (config.json, weights, tokenizer).")],
    dst: Annotated[Path, typer.Argument(help="Where the Llama-layout copy is written (whole or not at all).")],
    overwrite: Annotated[bool, typer.Option(help="Replace a non-empty destination.")] = False,
) -> None:
    """Convert a base model to the Llama layout: Baichuan2-7B's fused W_pack split into q/k/v, its NormHead folded
    into a plain lm_head, a LlamaConfig, the tokenizer files carried over. Train the result with
    train.model.path=DST (the tokenizer stays Baichuan2's remote code: train.model.trust_remote_code true)."""
    from huatuo_ray.train.convert import convert_baichuan2

    if family not in FAMILIES:
        fail(f"unknown model family {family!r}: one of {', '.join(FAMILIES)}")
    summary = convert_baichuan2(src, dst, overwrite=overwrite)
    typer.echo(json.dumps(summary, indent=1))
