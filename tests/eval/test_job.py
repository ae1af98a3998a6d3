"""run_eval through an OpenAI-compatible endpoint whose replies are scripted, so the true accuracy is known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from huatuo_ray.benchmarks.formats import load_benchmark
from huatuo_ray.errors import InputError, SetupError
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.eval.evaluate import run_eval
from huatuo_ray.eval.output import predictions_path, read_predictions
from huatuo_ray.eval.targets import for_model, resolve_models
from huatuo_ray.llm.config import LLMConfig
from tests.eval.fake_endpoint import ScriptedEndpoint

DATA = Path(__file__).parent / "data"
BENCHES = [{"path": str(DATA / "medqa_own.jsonl")}, {"path": str(DATA / "medmcqa_own.json")},
           {"path": str(DATA / "cmb_own.json")}]


def endpoint(url: str, model: str = "scripted") -> LLMConfig:
    return LLMConfig(backend="endpoint", endpoint={"base_url": url, "model": model, "max_attempts": 2,
                                                   "backoff_initial_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 10})


def items_by_question():
    out = {}
    for spec in BENCHES:
        for it in load_benchmark(EvalConfig(benchmarks=[spec]).benchmarks[0]).items:
            out[it.question] = it
    return out


def scripted(items):
    """Reply k (in file order) is right, wrong, unanswered, right in another phrasing, or (once) a server error."""
    order = {q: k for k, q in enumerate(items)}

    def reply(messages):
        prompt = messages[-1]["content"]
        q = next(q for q in items if q in prompt)
        it, k = items[q], order[q]
        wrong = next(x for x in it.options if x not in it.gold)
        if k == 5:
            raise RuntimeError("scripted failure")
        return [f"The answer is {it.gold}.", f"{wrong}. {it.options[wrong]}", "I cannot tell from this.",
                f"答案：{it.gold}"][k % 4]
    return reply


def test_reported_accuracy_is_the_true_accuracy_of_the_replies(tmp_path, capsys):
    items = items_by_question()
    server = ScriptedEndpoint(scripted(items))
    try:
        cfg = EvalConfig(benchmarks=BENCHES)
        stats = run_eval(endpoint(server.base_url), cfg, tmp_path / "out", models={"m1": endpoint(server.base_url)})
        # truth by construction: k % 4 in (0, 3) right, 1 wrong, 2 unanswered, k == 5 an error
        order = list(items)
        for bench in ("medqa", "medmcqa", "cmb"):
            qs = [k for k, q in enumerate(order) if items[q].where.split(":")[0].endswith(
                {"medqa": "medqa_own.jsonl", "medmcqa": "medmcqa_own.json", "cmb": "cmb_own.json"}[bench])]
            right = sum(k % 4 in (0, 3) and k != 5 for k in qs)
            errors = sum(k == 5 for k in qs)
            unans = sum(k % 4 == 2 and k != 5 for k in qs)
            r = stats["results"][bench]["m1"]
            assert (r["n"], r["correct"], r["errored"], r["unanswered"]) == (len(qs), right, errors, unans)
            assert r["accuracy"] == pytest.approx(right / (len(qs) - errors))
            preds = read_predictions(predictions_path(tmp_path / "out", bench, "m1"))
            assert [p["id"] for p in preds] == [items[order[k]].id for k in qs]
            assert all(p["raw"] is None and p["error"] for p in preds if p["status"] == "error")
        on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
        assert on_disk["results"] == stats["results"] and Path(on_disk["plot"]).is_file()
        assert stats["results"]["medmcqa"]["m1"]["by_subject"]["Pediatrics"]["n"] == 2
        out = capsys.readouterr().out
        assert "medqa" in out and "1 request(s) failed" in out and "results.json" in out
        # a rerun answers from the cache and retries only the failed request
        sent = len(server.requests)
        again = run_eval(endpoint(server.base_url), cfg, tmp_path / "out", models={"m1": endpoint(server.base_url)})
        assert again["results"] == stats["results"] and len(server.requests) - sent == 2  # 2 attempts, still failing
        assert again["models"]["m1"]["requests"]["cached"] == len(items) - 1
    finally:
        server.close()


def test_a_constant_model_through_the_endpoint_scores_at_its_letter_frequency(shared_data, tmp_path):
    server = ScriptedEndpoint(lambda messages: "答案是B")
    try:
        cfg = EvalConfig(benchmarks=[{"path": str(shared_data / "benchmarks/cmmlu/test"), "max_items": 64}])
        stats = run_eval(endpoint(server.base_url), cfg, tmp_path / "out", show=False)
        items = load_benchmark(cfg.benchmarks[0]).items
        r = stats["results"]["cmmlu"]["scripted"]
        assert r["accuracy"] == pytest.approx(sum(i.gold == "B" for i in items) / len(items))
        assert set(r["by_subject"]) == {i.subject for i in items}
    finally:
        server.close()


def test_models_given_as_directories_are_served_like_the_recipe_llm(tmp_path):
    recipe = LLMConfig(backend="endpoint", endpoint={"base_url": "http://x/v1", "model": "m"})
    got = for_model(recipe, tmp_path / "export")
    assert got.backend == "local" and got.server.model == str(tmp_path / "export")
    engine = for_model(LLMConfig(backend="vllm_engine"), "org/base")
    assert engine.backend == "vllm_engine" and engine.engine.model == "org/base"
    assert list(resolve_models(recipe, None)) == ["m"]
    assert list(resolve_models(LLMConfig(), None)) == ["smollm2-135m-instruct"]
    with pytest.raises(ValueError):
        resolve_models(recipe, {"bad name": "x"})


def test_setup_errors(tmp_path):
    with pytest.raises(SetupError, match="eval.benchmarks is empty"):
        run_eval(LLMConfig(), EvalConfig(), tmp_path)
    twice = EvalConfig(benchmarks=[BENCHES[0], BENCHES[0]])
    with pytest.raises(InputError, match="both named"):
        run_eval(LLMConfig(), twice, tmp_path)
    cli = EvalConfig().with_benchmarks([str(DATA / "medqa_own.jsonl")], "medqa")
    assert cli.benchmarks[0].format == "medqa"
