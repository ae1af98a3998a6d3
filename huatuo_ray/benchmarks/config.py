"""Benchmarks as the recipe names them (:class:`BenchmarkSpec`) and the contamination check's settings.

Shared by the eval step (scoring) and the sample step (dropping contaminated training samples before sampling).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from huatuo_ray.names import check_source_name

Format = Literal["auto", "medqa", "medmcqa", "cmmlu", "ceval", "cmexam", "cmb"]
PAPER_SUBJECTS = {
    "cmmlu": ["clinical_knowledge", "agronomy", "college_medicine", "genetics", "nutrition",
              "traditional_chinese_medicine", "virology"],
    "ceval": ["clinical_medicine", "basic_medicine"],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BenchmarkSpec(_Strict):
    """One benchmark: a file or a folder of files in one release format."""

    path: str = Field(description="A file, or a folder whose .json/.jsonl/.csv files are read (not recursively).")
    format: Format = Field("auto", description="Release format; auto detects it from each file.")
    name: str | None = Field(None, description="Name in results and file names (default: the format).")
    language: Literal["auto", "zh", "en"] = Field("auto", description="Prompt language; auto: from the questions.")
    subjects: list[str] | None = Field(None, description="Keep only these subjects (e.g. PAPER_SUBJECTS['cmmlu']).")
    max_items: int | None = Field(None, ge=1, description="A slice: N items, in turn from each subject.")
    medmcqa_cop_base: Literal[0, 1] = Field(
        1, description="MedMCQA 'cop' numbering: 1 in the authors' release (1 = opa), 0 in Hugging Face exports.")

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str | None) -> str | None:
        return None if v is None else check_source_name(v)


class DecontamConfig(_Strict):
    """N-gram overlap between training samples and benchmark items (question + options).

    Chinese is compared in characters, English in words. Defaults: 10 characters, 8 words. Eight words, not
    GPT-3's 13: MedMCQA questions average 13 words, so 13-grams would leave many items with no n-gram at all,
    while 8 running words shared by unrelated texts are almost always a template phrase, which the boilerplate
    rule removes. Ten characters is about five to six Chinese words: longer than stock phrases such as
    最常见的临床表现是 (9), short enough that CMMLU's one-line questions plus their options give several n-grams.
    An item counts as contaminated by a sample when the n-grams found in that sample cover at least
    ``threshold`` of the item's characters (words); coverage, unlike a share of n-grams, tolerates light edits.
    """

    n_zh: int = Field(10, ge=3, description="Characters per n-gram for Chinese items.")
    n_en: int = Field(8, ge=3, description="Words per n-gram for English items.")
    threshold: float = Field(0.5, gt=0, le=1, description="Share of an item's tokens covered by one sample's n-grams.")
    boilerplate_items: int = Field(
        5, ge=2, description="An n-gram found in this many benchmark items or more is a template phrase: ignored.")
    drop_contaminated: bool = Field(
        False, description="Drop contaminated training samples before sampling (on in the production recipe).")
    max_hits_reported: int = Field(20, ge=1, description="Training samples listed per contaminated item.")
