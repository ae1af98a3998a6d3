"""Recipe section ``eval``: benchmarks, the fixed prompt, decoding, decontamination and pairwise judging.

The defaults reproduce the paper (HuatuoGPT-II, appendices K and L): zero-shot, one prompt for every model
(``请回答下面选择题。`` then ``[type]`` question and ``A. text`` option lines, as its ``eval_qa.py``), greedy
decoding, answers read from free text; pairwise judging in both orders. The paper's medical subjects of the
general benchmarks are :data:`PAPER_SUBJECTS` (set ``subjects`` of a CMMLU / C-Eval benchmark to them).
"""

from __future__ import annotations

import string

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from huatuo_ray.benchmarks.config import (
    BenchmarkSpec,
    DecontamConfig,
    Format,
)
from huatuo_ray.llm.config import LLMConfig, SamplingConfig
from huatuo_ray.names import check_source_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _placeholders(template: str, allowed: set[str], what: str) -> str:
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = names - allowed
    if unknown:
        raise ValueError(f"{what}: unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return template


class MCPrompt(_Strict):
    """The fixed multiple-choice prompt: ``template`` with ``{type}``, ``{question}``, ``{options}``."""

    system: str = Field("", description="Optional system message (the paper uses none).")
    template: str
    type_format: str = Field("[{type}]", description="How a question type is shown; empty when an item has none.")
    option_format: str = Field("{letter}. {text}", description="One option line.")

    @model_validator(mode="after")
    def _check(self) -> MCPrompt:
        _placeholders(self.template, {"type", "question", "options"}, "template")
        _placeholders(self.type_format, {"type"}, "type_format")
        _placeholders(self.option_format, {"letter", "text"}, "option_format")
        return self


ZH_PROMPT = MCPrompt(template="请回答下面选择题。\n{type}{question}\n{options}")
EN_PROMPT = MCPrompt(template="Please answer the following multiple-choice question.\n{type}{question}\n{options}")


JUDGE_PROMPT = (
    "[Question]\n{question}\n[End of Question]\n\n[Assistant 1]\n{answer_1}\n[End of Assistant 1]\n\n"
    "[Assistant 2]\n{answer_2}\n[End of Assistant 2]\n\n"
    "[System]\nYou are reviewing two AI assistants' replies to the medical question above. A good reply addresses "
    "what was asked, describes symptoms completely and correctly, reaches the most plausible diagnosis given all "
    "the facts, and recommends effective, safe treatment and medication (indications, contraindications, doses) "
    "suited to how severe the illness is.\n"
    "Compare the two replies against these requirements and explain briefly. Then, on the last line, write exactly "
    "one of: 'Assistant 1 is better than Assistant 2', 'Assistant 1 is worse than Assistant 2', "
    "'Assistant 1 is equal to Assistant 2'."
)


class JudgeConfig(_Strict):
    """Pairwise judging of open answers: a judge model compares two models' replies, in both orders."""

    questions: str | None = Field(None, description="JSON / JSONL of open questions: {id?, question}.")
    max_questions: int | None = Field(None, ge=1)
    prompt: str = Field(JUDGE_PROMPT, description="Judge prompt with {question}, {answer_1}, {answer_2}.")
    system: str = ""
    llm: LLMConfig | None = Field(None, description="The judge model (any backend); null: the recipe's llm.")
    answer_sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0, top_p=1,
                                                                                   max_tokens=512))
    judge_sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0, top_p=1,
                                                                                  max_tokens=1024))

    @field_validator("prompt")
    @classmethod
    def _fields(cls, v: str) -> str:
        return _placeholders(v, {"question", "answer_1", "answer_2"}, "judge prompt")


class EvalConfig(_Strict):
    """Evaluation: zero-shot multiple choice, decontamination, pairwise judging."""

    benchmarks: list[BenchmarkSpec] = Field(default_factory=list)
    trained: bool = Field(
        True, description="As a step of the run: evaluate the train step's export ('trained') next to its base "
        "model ('base': train.model.path, or the random start of a model trained from scratch).")
    models: dict[str, str] = Field(
        default_factory=dict, description="Models to evaluate side by side: name -> HF directory or hub id. "
        "With trained false and no models, the recipe's llm as configured (e.g. an endpoint).")
    prompt_zh: MCPrompt = Field(default_factory=lambda: ZH_PROMPT.model_copy())
    prompt_en: MCPrompt = Field(default_factory=lambda: EN_PROMPT.model_copy())
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(temperature=0, top_p=1, max_tokens=512),
                                     description="Greedy decoding (temperature 0).")
    loglik: bool = Field(False, description="Also score option letters by log-likelihood (local HF models only).")
    loglik_device: str = Field("cpu", description="torch device for log-likelihood scoring.")
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    plot: bool = True

    @field_validator("models")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            check_source_name(k)
        return v

    def with_benchmarks(self, paths: list[str], format: Format = "auto") -> EvalConfig:
        """A copy whose benchmarks are ``paths`` (the CLI's ``--benchmark PATH ... [--format F]``)."""
        return self.model_copy(update={"benchmarks": [BenchmarkSpec(path=str(p), format=format) for p in paths]})
