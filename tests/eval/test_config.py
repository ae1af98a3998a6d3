"""EvalConfig as a recipe section: strict keys, paper defaults, the fixed prompt."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from huatuo_ray.benchmarks.items import Item
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.eval.prompt import prompt_for, render


class _Recipe(BaseModel):   # how recipe.py composes it: `eval: EvalConfig`
    model_config = ConfigDict(extra="forbid")
    eval: EvalConfig = EvalConfig()


def test_defaults_reproduce_the_paper_prompt_and_greedy_decoding():
    cfg = EvalConfig()
    item = Item(id="x", question="对评估肝硬化患者预后意义不大的是", qtype="单项选择题", gold="C",
                options={"A": "腹水", "B": "清蛋白", "C": "血电解质", "D": "凝血酶原时间"})
    assert render(item, prompt_for(cfg, "zh")) == [{"role": "user", "content":
        "请回答下面选择题。\n[单项选择题]对评估肝硬化患者预后意义不大的是\nA. 腹水\nB. 清蛋白\nC. 血电解质\nD. 凝血酶原时间"}]
    untyped = Item(id="y", question="Q?", options={"A": "a", "B": "b"}, gold="A")
    assert render(untyped, prompt_for(cfg, "en"))[0]["content"] == \
        "Please answer the following multiple-choice question.\nQ?\nA. a\nB. b"
    assert cfg.sampling.temperature == 0 and not cfg.loglik and not cfg.decontam.drop_contaminated
    assert (cfg.decontam.n_zh, cfg.decontam.n_en) == (10, 8)


def test_a_recipe_section_from_yaml_with_strict_keys():
    text = """
eval:
  benchmarks:
    - {path: ../shared/data/benchmarks/cmmlu/test, max_items: 40, subjects: [virology]}
    - {path: data/medmcqa/dev.json, format: medmcqa, medmcqa_cop_base: 1}
  models: {base: /models/base}
  decontam: {drop_contaminated: true}
  judge: {questions: q.jsonl, llm: {backend: endpoint, endpoint: {base_url: "http://judge/v1", model: gpt-4}}}
"""
    r = _Recipe.model_validate(yaml.safe_load(text))
    assert r.eval.benchmarks[1].format == "medmcqa" and r.eval.judge.llm.endpoint.model == "gpt-4"
    for bad in ({"benchmarks": [{"path": "x", "fromat": "medqa"}]}, {"prompt_zh": {"template": "{question} {oops}"}},
                {"models": {"bad name": "x"}}, {"judge": {"prompt": "{question} {answer}"}}):
        with pytest.raises(ValidationError):
            EvalConfig.model_validate(bad)
