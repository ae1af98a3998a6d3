"""Scoring: every item ends answered (right or wrong), unanswered (a reply naming no option) or errored
(no reply: the request failed after its retries). Accuracy is correct / replies (answered + unanswered); errors are
counted beside it, never scored as wrong, and a rerun retries them (only successful replies are cached).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Iterable

from huatuo_ray.benchmarks.items import Item
from huatuo_ray.errors import LedgerError
from huatuo_ray.eval.extract import extract_answer

if TYPE_CHECKING:
    from huatuo_ray.llm.client import LLMResult


@dataclass
class Prediction:
    id: str
    question: str
    options: dict[str, str]
    gold: str
    pred: str | None
    status: str  # answered | unanswered | error
    correct: bool
    rule: str
    raw: str | None
    error: str | None = None
    subject: str | None = None
    loglik_pred: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict(items: list[Item], results: list[LLMResult]) -> list[Prediction]:
    """Read each reply (extraction never sees the gold) and compare with the gold letters."""
    if len(items) != len(results):
        raise LedgerError(f"{len(items)} items but {len(results)} replies")
    out = []
    for item, res in zip(items, results):
        if not res.ok:
            out.append(Prediction(item.id, item.question, item.options, item.gold, None, "error", False, "error",
                                  None, res.error, item.subject))
            continue
        ext = extract_answer(res.text or "", item.options, item.multi, item.question)
        status = "answered" if ext.pred else "unanswered"
        out.append(Prediction(item.id, item.question, item.options, item.gold, ext.pred, status,
                              ext.pred == item.gold, ext.rule, res.text, None, item.subject))
    return out


def _counts(preds: Iterable[Prediction]) -> dict[str, Any]:
    preds = list(preds)
    status = Counter(p.status for p in preds)
    correct = sum(p.correct for p in preds)
    replies = status["answered"] + status["unanswered"]
    row = {"n": len(preds), "correct": correct, "accuracy": round(correct / replies, 6) if replies else None,
           "answered": status["answered"], "unanswered": status["unanswered"], "errored": status["error"]}
    scored = [p for p in preds if p.loglik_pred is not None]
    if scored:
        ll = sum(p.loglik_pred == p.gold for p in scored)
        row["loglik"] = {"n": len(scored), "correct": ll, "accuracy": round(ll / len(scored), 6)}
    return row


def summarise(preds: list[Prediction], where: str = "") -> dict[str, Any]:
    """n, correct, accuracy, answered / unanswered / errored (they add up to n), extraction rules, per subject."""
    row = _counts(preds)
    if row["answered"] + row["unanswered"] + row["errored"] != row["n"]:
        raise LedgerError(f"{where}: answered + unanswered + errored != n ({row})")
    row["rules"] = dict(Counter(p.rule for p in preds).most_common())
    subjects = sorted({p.subject for p in preds if p.subject})
    if subjects:
        row["by_subject"] = {s: _counts(p for p in preds if p.subject == s) for s in subjects}
    return row
