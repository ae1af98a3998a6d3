"""run_eval end to end against the real local vLLM server (offline SmolLM2) as an OpenAI-compatible endpoint.

The true accuracy is computed from the saved raw replies by :func:`independent_reading`, a reader written apart
from huatuo_ray.eval.extract for the shapes of reply this model gives (greedy decoding, so they are stable): a
reply of another shape fails the test with the reply shown, rather than being guessed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.eval.evaluate import run_eval
from huatuo_ray.eval.output import predictions_path, read_predictions
from huatuo_ray.llm.cache import RequestCache
from huatuo_ray.llm.config import LLMConfig

DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.slow


class UnknownShape(AssertionError):
    pass


def independent_reading(raw: str, options: dict[str, str]) -> str | None:
    stated = re.findall(r"(?:correct|the) answer is \(?([A-E])\b", raw)
    if stated:
        return stated[-1]
    labels = [m for line in raw.splitlines() if (m := re.match(r"^\s*\(?([A-E])[.)]\s+(.*)$", line))]
    if labels:
        if len({m.group(1) for m in labels}) > 1:
            return None  # the reply enumerates options
        letter, rest = labels[0].groups()
        named = [k for k, v in sorted(options.items(), key=lambda kv: -len(kv[1])) if rest.lower().startswith(v.lower())]
        return None if named and named[0] != letter else letter  # "C. <text of D>" contradicts itself
    found = [k for k, v in options.items() if re.search(rf"\b{re.escape(v.lower())}\b", raw.lower())]
    if len(found) == 1:
        return found[0]
    if not found and not re.search(r"\b[A-E]\b", raw):
        return None
    raise UnknownShape(f"no independent reading for {raw!r}")


def test_run_eval_against_the_real_server(llm_server, tmp_path, capsys):
    llm = LLMConfig(backend="endpoint", endpoint={"base_url": llm_server.base_url, "model": "local", "concurrency": 8,
                                                  "timeout_s": 120, "max_attempts": 3})
    cfg = EvalConfig(benchmarks=[{"path": str(DATA / "medqa_own.jsonl")}, {"path": str(DATA / "medmcqa_own.json")}],
                     sampling={"temperature": 0, "top_p": 1, "max_tokens": 64, "seed": 0}, loglik=True)
    out = tmp_path / "out"
    stats = run_eval(llm, cfg, out, models={"smollm2": llm})
    cached = {json.dumps(e["messages"], ensure_ascii=False): e["result"]["text"]
              for e in RequestCache(out / "_llm_cache").entries()}
    assert len(cached) == 24 and stats["models"]["smollm2"]["requests"]["errors"] == 0
    assert stats["models"]["smollm2"]["loglik"]["scored"] == 0   # an endpoint gives no prompt log-probabilities
    for bench in ("medqa", "medmcqa"):
        preds = read_predictions(predictions_path(out, bench, "smollm2"))
        assert set(cached.values()) >= {p["raw"] for p in preds}       # raw is what the server replied
        readings = [independent_reading(p["raw"], p["options"]) for p in preds]
        assert [p["pred"] for p in preds] == readings, [(p["pred"], r, p["raw"][:60]) for p, r in zip(preds, readings)]
        true_correct = sum(r == p["gold"] for r, p in zip(readings, preds))
        r = stats["results"][bench]["smollm2"]
        assert r["correct"] == true_correct and r["accuracy"] == pytest.approx(true_correct / len(preds), abs=1e-6)
        assert r["answered"] + r["unanswered"] + r["errored"] == r["n"] == 12
        assert "loglik" not in r
    assert "smollm2 acc %" in capsys.readouterr().out
    assert (out / "plots" / "accuracy.png").stat().st_size > 1000
    again = run_eval(llm, cfg, out, models={"smollm2": llm}, show=False)   # all from the request cache
    assert again["results"] == stats["results"] and again["models"]["smollm2"]["requests"]["cached"] == 24

    # the command a user runs: `huatuo-ray eval` against the endpoint, the same numbers (replies from the cache)
    from typer.testing import CliRunner

    from huatuo_ray.cli import app

    cli_out = tmp_path / "cli"
    res = CliRunner().invoke(app, [
        "eval", "--no-trained", "--benchmark", str(DATA / "medqa_own.jsonl"), "--benchmark", str(DATA / "medmcqa_own.json"),
        "--output", str(cli_out), "--set", "llm.backend=endpoint", "--set", f"llm.endpoint.base_url={llm_server.base_url}",
        "--set", "llm.endpoint.model=local", "--set", f"llm.cache_dir={out / '_llm_cache'}",
        "--set", "eval.sampling={temperature: 0, top_p: 1, max_tokens: 64, seed: 0}"])
    assert res.exit_code == 0, res.output
    step = json.loads((cli_out / "stats.json").read_text())
    assert step["complete"] and step["counts"]["in"] == 24
    for bench in ("medqa", "medmcqa"):
        assert step["results"][bench]["local"]["correct"] == stats["results"][bench]["smollm2"]["correct"]


def test_pairwise_judging_mechanics_against_the_real_server(llm_server, tmp_path):
    from huatuo_ray.eval.config import JudgeConfig
    from huatuo_ray.eval.judge import run_judge
    from tests.eval.fake_endpoint import ScriptedEndpoint

    canned = ScriptedEndpoint(lambda messages: "Rest, drink fluids and see a doctor if it gets worse.")
    try:
        real = LLMConfig(backend="endpoint", endpoint={"base_url": llm_server.base_url, "model": "local",
                                                       "timeout_s": 120})
        other = LLMConfig(backend="endpoint", endpoint={"base_url": canned.base_url, "model": "canned"})
        greedy = {"temperature": 0, "top_p": 1, "max_tokens": 48, "seed": 0}
        cfg = JudgeConfig(questions=str(DATA / "open_questions.jsonl"), answer_sampling=greedy, judge_sampling=greedy)
        stats = run_judge(real, cfg, {"smollm2": real, "canned": other}, tmp_path / "judge")   # judge: the real model
        pair = stats["pairs"]["smollm2_vs_canned"]
        assert pair["win"] + pair["tie"] + pair["loss"] + pair["undecided"] + pair["answer_error"] == 3
        judged = [e["messages"][-1]["content"] for e in RequestCache(tmp_path / "judge" / "_llm_cache").entries()
                  if "[Assistant 1]" in e["messages"][-1]["content"]]
        assert len(judged) == 6
        for q in ("mild fever", "ibuprofen", "type 2 diabetes"):
            orders = [re.search(r"\[Assistant 1\]\n(.*?)\n\[End", j, re.S).group(1) for j in judged if q in j]
            assert len(orders) == 2 and len(set(orders)) == 2   # the same pair, once in each order
        verdicts = [json.loads(line) for line in (tmp_path / "judge" / "verdicts.smollm2_vs_canned.jsonl")
                    .read_text().splitlines()]
        assert all(v["judge_a_first"] and v["judge_a_second"] for v in verdicts)
        assert (tmp_path / "judge" / "answers" / "canned.jsonl").is_file()
    finally:
        canned.close()
