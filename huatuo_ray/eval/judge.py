"""Pairwise judging: a judge model compares two models' answers to the same open questions, in both orders.

Each question is judged twice, with model A as "Assistant 1" and then as "Assistant 2", to cancel position
bias (the paper's protocol). The judge's last line names one of three labels ('Assistant 1 is better than /
worse than / equal to Assistant 2'). Per question, from A's side:

- both orders agree -> that outcome (win, tie or loss);
- they disagree (the judge changed its mind when the order changed) -> tie, counted as ``inconsistent``;
- a verdict is missing (judge error or no label) -> ``undecided``; a contestant's answer failed -> ``answer_error``.

win + tie + loss + undecided + answer_error = questions. :func:`judge_pairs` takes any batch chat function
(``list of messages -> list of LLMResult``); :func:`run_judge` wires it to the LLM layer::

    from huatuo_ray.eval.judge import run_judge
    stats = run_judge(recipe.llm, recipe.eval.judge, {"trained": export_dir, "base": base_dir}, "runs/x/judge")
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from huatuo_ray.benchmarks.formats._rows import json_records
from huatuo_ray.benchmarks.items import text
from huatuo_ray.errors import InputError, SetupError
from huatuo_ray.eval.config import JudgeConfig
from huatuo_ray.eval.targets import ModelSpec, resolve_models
from huatuo_ray.io.atomic import write_json_atomic, write_text_atomic
from huatuo_ray.io.storage import location
from huatuo_ray.llm.backends import run_requests
from huatuo_ray.llm.client import LLMResult
from huatuo_ray.llm.config import LLMConfig

Chat = Callable[[list[list[dict]]], list[LLMResult]]
_LABEL = re.compile(r"assistant\s*1\s+is\s+(better\s+than|worse\s+than|equal\s+to)\s+assistant\s*2", re.I)
_SIDE = {"better": "1", "worse": "2", "equal": "tie"}


def parse_verdict(reply: str | None) -> str | None:
    """"1", "2" or "tie" from the judge's last label; None when it gives none."""
    found = _LABEL.findall(reply or "")
    return _SIDE[found[-1].split()[0].lower()] if found else None


def combine(first: str | None, second: str | None) -> tuple[str, bool]:
    """A's outcome from the two orders (A first: "1" = A; A second: "2" = A) and whether they disagree."""
    a1 = {"1": "win", "2": "loss", "tie": "tie"}.get(first or "")
    a2 = {"2": "win", "1": "loss", "tie": "tie"}.get(second or "")
    if a1 is None or a2 is None:
        return "undecided", False
    return (a1, False) if a1 == a2 else ("tie", True)


def judge_messages(cfg: JudgeConfig, question: str, answer_1: str, answer_2: str) -> list[dict]:
    user = cfg.prompt.format(question=question, answer_1=answer_1, answer_2=answer_2)
    return ([{"role": "system", "content": cfg.system}] if cfg.system else []) + [{"role": "user", "content": user}]


def judge_pairs(questions: list[dict], answers_a: list[LLMResult], answers_b: list[LLMResult], chat: Chat,
                cfg: JudgeConfig) -> dict[str, Any]:
    """Judge A against B on every question (both orders); returns counts and one verdict record per question."""
    both = [k for k in range(len(questions)) if answers_a[k].ok and answers_b[k].ok]
    requests = []
    for k in both:
        q, a, b = questions[k]["question"], answers_a[k].text or "", answers_b[k].text or ""
        requests += [judge_messages(cfg, q, a, b), judge_messages(cfg, q, b, a)]
    replies = chat(requests) if requests else []
    verdicts, by_k = [], {k: (replies[2 * i], replies[2 * i + 1]) for i, k in enumerate(both)}
    counts = dict.fromkeys(("win", "tie", "loss", "undecided", "answer_error", "inconsistent"), 0)
    for k, q in enumerate(questions):
        rec = {"id": q["id"], "question": q["question"], "answer_a": answers_a[k].text, "answer_b": answers_b[k].text}
        if k not in by_k:
            rec.update(outcome="answer_error", inconsistent=False)
        else:
            r1, r2 = by_k[k]
            first, second = parse_verdict(r1.text if r1.ok else None), parse_verdict(r2.text if r2.ok else None)
            outcome, inconsistent = combine(first, second)
            rec.update(outcome=outcome, inconsistent=inconsistent, a_first=first, a_second=second,
                       judge_a_first=r1.text, judge_a_second=r2.text, judge_errors=[r.error for r in (r1, r2) if r.error])
        counts[rec["outcome"]] += 1
        counts["inconsistent"] += rec["inconsistent"]
        verdicts.append(rec)
    decided = counts["win"] + counts["tie"] + counts["loss"]
    counts["n"] = len(questions)
    counts["win_tie_rate"] = round((counts["win"] + counts["tie"]) / decided, 6) if decided else None
    return {**counts, "verdicts": verdicts}


def load_questions(path: str | Path, limit: int | None = None) -> list[dict]:
    """Open questions from JSON / JSONL records ``{"id"?, "question"}``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"judge questions {p}: no such file")
    out = [{"id": str(obj.get("id", f"q{line}")), "question": text(obj, "question", p, line)}
           for line, obj in json_records(p)]
    return out[:limit] if limit else out


def run_judge(recipe_llm: LLMConfig, cfg: JudgeConfig, models: Mapping[str, ModelSpec], output: str | Path,
              cache_dir: str | Path | None = None, show: bool = True) -> dict[str, Any]:
    """Answer ``cfg.questions`` with every model, then judge the first model against each other one."""
    if not cfg.questions:
        raise SetupError("eval.judge.questions is not set: a JSON / JSONL file of open questions")
    targets = resolve_models(recipe_llm, models)
    if len(targets) < 2:
        raise SetupError(f"pairwise judging needs two models or more, got {list(targets)}")
    output = Path(output)
    cache = location(cache_dir or recipe_llm.cache_dir or output / "_llm_cache")  # a folder or a prefix
    questions = load_questions(cfg.questions, cfg.max_questions)
    asks = [[{"role": "user", "content": q["question"]}] for q in questions]
    answers = {}
    for name, llm in targets.items():
        answers[name] = run_requests(llm, asks, cfg.answer_sampling, cache, output)[0]
        write_text_atomic(output / "answers" / f"{name}.jsonl", "".join(
            json.dumps({"id": q["id"], "question": q["question"], "answer": r.text, "error": r.error},
                       ensure_ascii=False) + "\n" for q, r in zip(questions, answers[name])))
    judge = cfg.llm or recipe_llm
    chat = lambda reqs: run_requests(judge, reqs, cfg.judge_sampling, cache, output)[0]  # noqa: E731
    names = list(targets)
    pairs = {}
    for other in names[1:]:
        res = judge_pairs(questions, answers[names[0]], answers[other], chat, cfg)
        key = f"{names[0]}_vs_{other}"
        write_text_atomic(output / f"verdicts.{key}.jsonl", "".join(
            json.dumps(v, ensure_ascii=False) + "\n" for v in res.pop("verdicts")))
        pairs[key] = res
    stats = {"job": "judge", "output": str(output), "questions": len(questions), "models": names, "pairs": pairs}
    write_json_atomic(output / "results.json", stats)
    if show:
        print(judge_table(stats), flush=True)
    return stats


def judge_table(stats: dict) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    t = Table(title="pairwise judging (both orders)")
    for col in ("pair", "win", "tie", "loss", "inconsistent", "undecided", "answer errors", "win+tie %"):
        t.add_column(col, justify="left" if col == "pair" else "right")
    for key, r in stats["pairs"].items():
        rate = "-" if r["win_tie_rate"] is None else f"{100 * r['win_tie_rate']:.1f}"
        t.add_row(key.replace("_vs_", " vs "), *(str(r[c]) for c in ("win", "tie", "loss", "inconsistent",
                                                                    "undecided", "answer_error")), rate)
    buf = io.StringIO()
    Console(file=buf, width=120, force_terminal=False).print(t)
    return buf.getvalue() + f"inconsistent: the verdict changed with the order (counted as tie); {stats['output']}"
