"""Stage ``quality``: a fastText model labels each row; rows it gives the drop labels are dropped.

Every row gets ``quality_label`` (the most probable label) and ``quality_drop_prob`` (the model's total
probability of the labels in ``drop_labels``). A row is dropped when ``quality_drop_prob >= threshold``,
with the reason ``quality <label> p=<prob> >= <threshold>``. Texts are tokenised by
:func:`huatuo_ray.curate.quality.tokens.tokenize`, the same rule used in training.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from huatuo_ray.curate.base import KEEP, FilterStage, Verdict
from huatuo_ray.curate.quality.config import (
    MODEL_HINT,
    MODEL_SETTING,
    NAME,
    SEED_SET,
    QualityConfig,
)
from huatuo_ray.curate.quality.model import PREFIX, fit, read_labelled
from huatuo_ray.curate.quality.tokens import tokenize
from huatuo_ray.errors import ModelNotFound, SetupError
from huatuo_ray.models import locate


class QualityFilter(FilterStage):
    """Apply the fastText quality classifier to every row."""

    name = NAME

    def __init__(self, config: QualityConfig):
        self.config = config
        self.model = None

    def setup(self) -> None:
        """Train the seed model or load the model file (ModelNotFound naming curate.quality.model if there is none)."""
        import fasttext

        if self.config.model == SEED_SET:
            self.model = fit(read_labelled(SEED_SET).rows)
        else:
            path = locate(self.config.model, MODEL_SETTING, MODEL_HINT)
            if not path.is_file():
                raise ModelNotFound(f"{MODEL_SETTING} = {self.config.model!r} is a directory, not a fastText model "
                                    f"file. {MODEL_HINT}")
            self.model = fasttext.load_model(str(path))
        labels = {lab[len(PREFIX):] for lab in self.model.labels}
        if not labels & set(self.config.drop_labels):
            raise SetupError(f"the quality model's labels {sorted(labels)} include none of drop_labels "
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
            raise TypeError(f"{NAME}: expected model bytes, got {type(state).__name__}")
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

    def judge(self, docs: list[dict]) -> list[Verdict]:
        """Annotate and decide every row, with one batched ``predict`` per unit."""
        tops, probs = self.score([d.get("text") or "" for d in docs])
        verdicts = []
        for doc, top, drop_prob in zip(docs, tops, probs):
            doc["quality_label"] = top
            doc["quality_drop_prob"] = round(drop_prob, 6)
            if drop_prob >= self.config.threshold:
                worst = top if top in self.config.drop_labels else "+".join(self.config.drop_labels)
                verdicts.append(Verdict(False, f"quality {worst} p={drop_prob:.2f} >= {self.config.threshold}"))
            else:
                verdicts.append(KEEP)
        return verdicts
