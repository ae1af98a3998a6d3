"""Quality-classifier cleaning (stage ``quality``): a fastText model labels each row; bad labels are dropped.

Every row gets ``quality_label`` (the most probable label) and ``quality_drop_prob`` (the model's total
probability of the labels in ``drop_labels``). A row is dropped when ``quality_drop_prob >= threshold``,
with the reason ``quality <label> p=<prob> >= <threshold>``. Texts are tokenised by
:func:`huatuo_ray.curate.quality_tokens.tokenize`, the same rule used in training.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from huatuo_ray.curate.base import FilterStage, StageOutput
from huatuo_ray.curate.quality_model import PREFIX, SEED_SET, fit, read_labelled
from huatuo_ray.curate.quality_tokens import tokenize


class QualityConfig(BaseModel):
    """Configuration of the quality classifier stage."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="fastText model file from `huatuo-ray quality train`, or 'builtin:seed' to train one on the "
        "packaged demo seed set when the stage starts (demo and tests only).",
    )
    drop_labels: list[str] = Field(
        default_factory=lambda: ["advertising", "low_quality"],
        description="Labels that mean 'remove' (the paper: advertising and low quality); others are kept.",
    )
    threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="Drop a row when the probability of drop_labels together is at least this."
    )


class QualityFilter(FilterStage):
    """Apply the fastText quality classifier to every row."""

    name = "quality"

    def __init__(self, config: QualityConfig):
        self.config = config
        self.model = None

    def setup(self) -> None:
        import fasttext

        if self.config.model is None:
            raise ValueError("curate.quality.model is not set: train one with `huatuo-ray quality train`, "
                             "or use builtin:seed (the demo seed set)")
        if self.config.model == SEED_SET:
            self.model = fit(read_labelled(SEED_SET).rows)
        else:
            if not Path(self.config.model).is_file():
                raise FileNotFoundError(f"curate.quality.model: {self.config.model} does not exist")
            self.model = fasttext.load_model(self.config.model)
        labels = {lab[len(PREFIX):] for lab in self.model.labels}
        if not labels & set(self.config.drop_labels):
            raise ValueError(f"the quality model's labels {sorted(labels)} include none of drop_labels "
                             f"{self.config.drop_labels}")

    def shared_state(self) -> bytes:
        """The model file's bytes (fastText models are not picklable)."""
        with tempfile.TemporaryDirectory(prefix="huatuo-ft-") as tmp:
            path = os.path.join(tmp, "model.bin")
            self.model.save_model(path)
            return Path(path).read_bytes()

    def load_shared_state(self, state: object) -> None:
        import fasttext

        if not isinstance(state, bytes):
            raise TypeError(f"quality: expected model bytes, got {type(state).__name__}")
        with tempfile.TemporaryDirectory(prefix="huatuo-ft-") as tmp:
            path = os.path.join(tmp, "model.bin")
            Path(path).write_bytes(state)
            self.model = fasttext.load_model(path)

    def score(self, texts: list[str]) -> tuple[list[str], list[float]]:
        """(top label, total probability of drop_labels) for each text."""
        if self.model is None:
            self.setup()
        labels, probs = self.model.predict([tokenize(t) for t in texts], k=-1)
        drop = {PREFIX + lab for lab in self.config.drop_labels}
        tops, drop_probs = [], []
        for ls, ps in zip(labels, probs):
            tops.append(ls[0][len(PREFIX):])
            drop_probs.append(min(1.0, float(sum(p for lab, p in zip(ls, ps.tolist()) if lab in drop))))
        return tops, drop_probs

    def _decide(self, doc: dict, top: str, drop_prob: float) -> tuple[bool, str | None]:
        doc["quality_label"] = top
        doc["quality_drop_prob"] = round(drop_prob, 6)
        if drop_prob >= self.config.threshold:
            worst = top if top in self.config.drop_labels else "+".join(self.config.drop_labels)
            return False, f"quality {worst} p={drop_prob:.2f} >= {self.config.threshold}"
        return True, None

    def filter(self, doc: dict) -> tuple[bool, str | None]:
        tops, probs = self.score([doc.get("text") or ""])
        return self._decide(doc, tops[0], probs[0])

    def process(self, docs: list[dict]) -> StageOutput:
        """Same as ``filter`` per row, with one batched ``predict`` per unit."""
        tops, probs = self.score([d.get("text") or "" for d in docs])
        out = StageOutput()
        for doc, top, p in zip(docs, tops, probs):
            keep, reason = self._decide(doc, top, p)
            if keep:
                out.kept.append(doc)
            else:
                doc["reason"] = reason
                out.dropped.append(doc)
        out.kept_inputs = len(out.kept)
        return out
