"""Two-pass generation for one segment: question, then answer; checks; bounded regeneration.

Attempt k (0 <= k <= max_regenerations) asks for a question unless an earlier one passed its checks, then an
answer to it. A rejected question is asked again in the next attempt; a rejected answer is asked again for the
same question. Attempt k uses seed + k, so each attempt is a different request (and a different cache key)
and a rerun repeats exactly the same requests. Every attempt is recorded. An LLM error (after the client's
retries) ends the segment with status ``error``: it stays pending and a rerun retries it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from huatuo_ray.llm.client import CONTEXT_REASON, LLMResult
from huatuo_ray.unify.config import UnifyConfig
from huatuo_ray.unify.crosslingual import embedding_similarity
from huatuo_ray.unify.jaccard import jaccard
from huatuo_ray.unify.prompts import LANGUAGE_NAMES, truncate_source

ChatFn = Callable[[list[dict], object, int], Awaitable[LLMResult]]


@dataclass
class PairOutcome:
    """What happened to one segment."""

    status: str  # kept | dropped | error
    reason: str | None = None
    question: str | None = None
    answer: str | None = None
    deviation: float | None = None
    deviation_kind: str | None = None
    truncated: bool = False
    requests: int = 0
    cached: int = 0
    attempts: list[dict] = field(default_factory=list)
    request_log: Counter = field(default_factory=Counter)  # requests, cache_hits, sent, retries, errors


def mentions(text: str, markers: list[str]) -> str | None:
    low = text.lower()
    return next((m for m in markers if m.lower() in low), None)


def clean_question(q: str, cfg: UnifyConfig) -> str:
    """The question without the leading labels of ``question_strip_prefixes`` and the quotes around it."""
    q = q.strip()
    for prefix in sorted(cfg.question_strip_prefixes, key=len, reverse=True):
        if q.lower().startswith(prefix.lower()):
            q = q[len(prefix):].strip()
            break
    if len(q) > 1 and q[0] in "\"'“‘「" and q[-1] in "\"'”’」":
        q = q[1:-1].strip()
    return q


def question_problem(q: str, cfg: UnifyConfig) -> str | None:
    """Why a question is rejected, or None."""
    if not q:
        return "empty question"
    if len(q) > cfg.max_question_chars:
        return f"question too long ({len(q)} > {cfg.max_question_chars} chars)"
    if mentions(q, cfg.reference_markers.get(cfg.target_language, [])):
        return "question mentions the text"
    if mentions(q, cfg.question_reject_markers):
        return "question is not a plain question"
    if cfg.question_needs_mark and not q.rstrip().endswith(("?", "？")):
        return "question has no question mark"
    return None


def deviation(segment: str, segment_lang: str, answer: str, cfg: UnifyConfig) -> tuple[float, str, float]:
    """(score, kind, threshold): unigram Jaccard in one language, embedding similarity across languages."""
    if segment_lang == cfg.target_language:
        return jaccard(segment, answer), "jaccard", cfg.jaccard_threshold
    return embedding_similarity(cfg.crosslingual_model, segment, answer), "embedding", cfg.crosslingual_threshold


def answer_problem(segment: str, segment_lang: str, a: str, finish_reason: str | None,
                   cfg: UnifyConfig) -> tuple[str | None, float | None, str | None]:
    """(reason or None, deviation score, score kind) for an answer."""
    if len(a) < cfg.min_answer_chars:
        return "empty answer", None, None
    if finish_reason == "length" and cfg.drop_cut_answers:
        return "answer cut at max_tokens", None, None
    if mentions(a, cfg.reference_markers.get(cfg.target_language, [])):
        return "answer mentions the reference", None, None
    score, kind, threshold = deviation(segment, segment_lang, a, cfg)
    if score < threshold:
        return f"answer deviates ({kind} {score:.3f} < {threshold})", score, kind
    return None, score, kind


async def unify_segment(chat: ChatFn, segment: str, segment_lang: str, cfg: UnifyConfig) -> PairOutcome:
    """Run the two passes with checks and at most ``cfg.max_regenerations`` regenerations."""
    lang = LANGUAGE_NAMES[cfg.target_language][cfg.target_language]
    q_src, t1 = truncate_source(segment, cfg.question_source_chars)
    a_src, t2 = truncate_source(segment, cfg.answer_source_chars)
    out = PairOutcome(status="dropped", truncated=t1 or t2)
    question: str | None = None
    for k in range(cfg.max_regenerations + 1):
        rec: dict = {"attempt": k}
        out.attempts.append(rec)
        if question is None:
            res = await _call(chat, cfg.question_prompt.render(text=q_src, language=lang), cfg.question_sampling, k, out)
            if res.error:
                return _failed(out, rec, res.error)
            q = clean_question(res.text or "", cfg)
            rec["question"] = q
            problem = question_problem(q, cfg)
            if problem:
                rec["reason"] = out.reason = problem
                continue
            question = q
        rec.setdefault("question", question)
        res = await _call(chat, cfg.answer_prompt.render(text=a_src, language=lang, question=question),
                          cfg.answer_sampling, k, out)
        if res.error:
            return _failed(out, rec, res.error)
        a = (res.text or "").strip()
        rec["answer"] = a
        problem, score, kind = answer_problem(segment, segment_lang, a, res.finish_reason, cfg)
        rec["deviation"] = score
        if problem:
            rec["reason"] = out.reason = problem
            continue
        out.status, out.reason, out.question, out.answer = "kept", None, question, a
        out.deviation, out.deviation_kind = score, kind
        return out
    return out


async def _call(chat: ChatFn, messages: list[dict], sampling, attempt: int, out: PairOutcome) -> LLMResult:
    res = await chat(messages, sampling, attempt)
    out.requests += 1
    out.cached += int(res.cached)
    log = out.request_log
    log["requests"] += 1
    if res.cached:
        log["cache_hits"] += 1
    else:
        log["sent"] += res.attempts
        log["retries"] += max(0, res.attempts - 1)
    if res.error:
        log["errors"] += 1
    return res


def _failed(out: PairOutcome, rec: dict, error: str) -> PairOutcome:
    rec["reason"] = f"llm error: {error}"
    if error == CONTEXT_REASON:  # resending cannot help: a deliberate drop, not pending work
        out.status, out.reason = "dropped", CONTEXT_REASON
    else:
        out.status, out.reason = "error", f"llm error: {error}"
    return out
