"""The fixed zero-shot prompt: one template per language, the same for every model."""

from __future__ import annotations

from huatuo_ray.benchmarks.items import Item
from huatuo_ray.eval.config import EvalConfig, MCPrompt


def render(item: Item, prompt: MCPrompt) -> list[dict[str, str]]:
    """Chat messages for one item (the item's text is inserted as values, never parsed as a template)."""
    options = "\n".join(prompt.option_format.format(letter=k, text=v) for k, v in item.options.items())
    qtype = prompt.type_format.format(type=item.qtype) if item.qtype else ""
    user = prompt.template.format(type=qtype, question=item.question, options=options)
    return ([{"role": "system", "content": prompt.system}] if prompt.system else []) + [{"role": "user", "content": user}]


def prompt_for(cfg: EvalConfig, language: str) -> MCPrompt:
    return cfg.prompt_zh if language == "zh" else cfg.prompt_en
