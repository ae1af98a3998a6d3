"""The sft step: SFT conversations validated into the release format, bad records quarantined with a reason,
and every kept conversation reaching the sampler and the packer unchanged (same turns, same ids)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huatuo_ray.recipe import Recipe
from tests.conftest import run_steps

GOOD = [{"from": "human", "value": "高血压吃什么药？"}, {"from": "gpt", "value": "遵医嘱服用降压药。"}]
OPENAI = [{"role": "user", "content": "What lowers blood pressure?"}, {"role": "assistant", "content": "Less salt."}]
BAD = {
    "order": ([{"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}], "turns must alternate"),
    "empty": ([{"from": "human", "value": "q"}, {"from": "gpt", "value": "  "}], "turn 1 has no text"),
    "type": ([{"from": "human", "value": "q"}, {"from": "gpt", "value": 7}], "lacks string 'from' and 'value'"),
    "open": ([{"from": "human", "value": "q"}], "question without an answer"),
    "nolist": ("just text", "not a non-empty list"),
}


def write_sources(root) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.json").write_text(json.dumps([{"id": f"a{i}", "conversations": GOOD} for i in range(3)]
                                            + [{"id": f"bad-{k}", "conversations": c} for k, (c, _) in BAD.items()],
                                            ensure_ascii=False), encoding="utf-8")
    lines = [json.dumps({"id": f"o{i}", "conversations": OPENAI}) for i in range(2)]
    lines += [json.dumps({"id": "o0", "conversations": OPENAI}), json.dumps({"id": "x", "text": "no turns"}), "{broken"]
    (root / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    conv = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
    pq.write_table(pa.table({"id": ["p0", "p1"], "conversations": pa.array([GOOD, GOOD + GOOD], conv)}),
                   root / "c.parquet")
    return {"medical": str(root / "a.json"), "openai": str(root / "b.jsonl"), "parquet": str(root / "c.parquet")}


def recipe_for(tmp_path, paths: dict[str, str], **extra) -> Recipe:
    return Recipe.model_validate({
        "run": {"dir": str(tmp_path / "run")},
        "sources": [{"name": n, "path": p, "type": "sft", "language": "detect"} for n, p in paths.items()],
        "pack": {"tokenizer": "local:smollm2", "trust_remote_code": False, "template": "chat", "max_seq_len": 256,
                 "global_batch_size": 2}, **extra})


def test_bad_conversations_are_quarantined_with_their_reason(tmp_path):
    stats = run_steps(recipe_for(tmp_path, write_sources(tmp_path / "in")), "sft")["sft"]
    c = stats["counts"]
    assert (c["in"], c["kept"], c["quarantined"]) == (15, 7, 8)
    by = stats["by_source"]
    assert {n: s["conversations"] for n, s in by.items()} == {"medical": 3, "openai": 2, "parquet": 2}
    rows = [r for f in (tmp_path / "run" / "sft").glob("*/quarantined/*.parquet") for r in pq.read_table(f).to_pylist()]
    reasons = {r["id"]: r["reason"] for r in rows}
    for k, (_, why) in BAD.items():
        assert why in reasons[f"bad-{k}"], (k, reasons[f"bad-{k}"])
    assert "duplicate id" in reasons["o0"] and "no 'conversations'" in reasons["x"]
    assert any("malformed JSON" in r for r in reasons.values())
    kept = pq.read_table(tmp_path / "run" / "sft" / "openai" / "kept").to_pylist()
    assert kept[0]["conversations"] == [{"from": "human", "value": OPENAI[0]["content"]},
                                        {"from": "gpt", "value": OPENAI[1]["content"]}]  # one spelling: release format


def test_sft_conversations_reach_the_sampler_and_the_packer_unchanged(tmp_path):
    paths = write_sources(tmp_path / "in")
    stats = run_steps(recipe_for(tmp_path, paths, sample={"preset": "release"}), "sft", "sample", "pack")
    run = tmp_path / "run"
    kept = {n: pq.read_table(run / "sft" / n / "kept").to_pylist() for n in paths}
    order = pq.read_table(run / "sample" / "order").to_pydict()
    for name, rows in kept.items():  # release preset: SFT 3 epochs, every kept id once per epoch
        ordered = sorted((i, e) for s, i, e in zip(order["source"], order["id"], order["epoch"]) if s == name)
        assert ordered == sorted((r["id"], e) for r in rows for e in range(3))
    assert kept["parquet"][1]["conversations"] == GOOD + GOOD  # multi-turn, as given
    samples = pq.read_table(run / "pack" / "samples").to_pydict()
    assert samples["id"] == order["id"] and stats["pack"]["counts"]["in"] == len(order["id"]) == 21
    assert {s["name"]: s["items"] for s in stats["sample"]["sources"]} == {"medical": 3, "openai": 2, "parquet": 2}


@pytest.mark.parametrize("name", ["web"])
def test_an_sft_source_named_like_a_source_type_is_refused(tmp_path, name):
    from huatuo_ray.errors import InputError
    from huatuo_ray.sample.job import sampler_config

    recipe = Recipe.model_validate({"sources": [{"name": name, "path": "x", "type": "sft"},
                                                {"name": "c", "path": "y", "type": "web"}]})
    with pytest.raises(InputError, match="rename them"):
        sampler_config(recipe)
