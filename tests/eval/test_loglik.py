"""Log-likelihood scoring of option letters with the offline SmolLM2 weights (transformers, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from huatuo_ray.benchmarks.formats import load_benchmark
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.eval.evaluate import _add_loglik
from huatuo_ray.eval.prompt import prompt_for, render
from huatuo_ray.eval.report import results_table
from huatuo_ray.eval.score import predict, summarise
from huatuo_ray.llm.client import LLMResult
from huatuo_ray.llm.config import LLMConfig

DATA = Path(__file__).parent / "data"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scorer():
    from huatuo_ray.eval.loglik import LoglikScorer
    from huatuo_ray.llm.local_model import ensure_local_model

    return LoglikScorer(ensure_local_model())


def test_the_letter_with_the_highest_continuation_log_probability_wins(scorer):
    import torch

    cfg = EvalConfig()
    for item in load_benchmark(EvalConfig(benchmarks=[{"path": str(DATA / "medmcqa_own.json")}]).benchmarks[0]).items[:1]:
        ctx = scorer.context(render(item, prompt_for(cfg, "en")), "en")
        batched = scorer.letter_logprobs(ctx, list(item.options), "en")
        ctx_ids = scorer.tok(ctx, add_special_tokens=False)["input_ids"]
        for letter, value in batched.items():  # the whole sequence, one letter at a time, summed by hand
            cont = scorer.tok(" " + letter, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([ctx_ids + cont])
            with torch.no_grad():
                logp = torch.log_softmax(scorer.model(input_ids=ids).logits[0], -1)
            alone = sum(float(logp[len(ctx_ids) - 1 + j, t]) for j, t in enumerate(cont))
            assert value == pytest.approx(alone, abs=1e-3)
        assert scorer.predict(item, render(item, prompt_for(cfg, "en")), "en") == max(batched, key=batched.get)


def test_loglik_is_its_own_column_and_skips_multi_answer_items(scorer, monkeypatch):
    import huatuo_ray.eval.loglik as loglik

    monkeypatch.setattr(loglik, "LoglikScorer", lambda path, device: scorer)  # the weights are already loaded
    cfg = EvalConfig(loglik=True)
    benches = [load_benchmark(EvalConfig(benchmarks=[{"path": str(DATA / p), "max_items": 4}]).benchmarks[0])
               for p in ("medmcqa_own.json", "cmb_own.json")]
    work = [(b, it, render(it, prompt_for(cfg, b.language))) for b in benches for it in b.items]
    preds = predict([it for _, it, _ in work], [LLMResult(text="Answer: A")] * len(work))
    info = _add_loglik(LLMConfig(backend="local"), cfg, work, preds)
    assert info["scored"] == 4 + 2   # CMB's two 多项选择题 items are not scored by log-likelihood
    mc = summarise(preds[:4])
    assert mc["loglik"]["n"] == 4 and mc["loglik"]["correct"] == sum(p.loglik_pred == p.gold for p in preds[:4])
    results = {"output": "x", "models": {"m": {}}, "benchmarks": {"medmcqa": {"items": 4}},
               "results": {"medmcqa": {"m": mc}}}
    assert "m loglik %" in results_table(results)
