"""The fastText quality classifier: tokenisation, numpy 2, training on the seed set, the pipeline stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from huatuo_ray.cli import app
from huatuo_ray.curate.pipeline import run_curation
from huatuo_ray.curate.quality.config import QualityConfig
from huatuo_ray.curate.quality.model import (
    evaluate,
    fit,
    format_report,
    read_labelled,
    split_rows,
    train_classifier,
)
from huatuo_ray.curate.quality.stage import QualityFilter
from huatuo_ray.curate.quality.tokens import tokenize
from huatuo_ray.recipe import Recipe, SourceConfig
from tests.curate.test_pipeline import assert_balanced, read_kind

HELDOUT = Path(__file__).parent / "data" / "quality_heldout.jsonl"


@pytest.fixture(scope="module")
def seed_model():
    return fit(read_labelled("builtin:seed").rows)


def test_tokenize_rule():
    assert tokenize("高血压") == "高 高血 血 血压 压"
    assert tokenize("Call 13800138000 NOW!") == "call <d11> now !"
    assert tokenize("X-ray ¥299") == "x - ray ¥ <d3>"
    assert tokenize("Miracle 神药") == "miracle 神 神药 药"
    assert tokenize("  ") == ""


def test_fasttext_predict_works_with_numpy2(seed_model):

    assert int(np.__version__.split(".")[0]) >= 2
    labels, probs = seed_model.predict([tokenize("专治不孕不育，电话13800001111"), tokenize("Asthma is a disease.")], k=-1)
    assert len(labels) == 2 and all(isinstance(p, np.ndarray) for p in probs)
    assert all(abs(float(p.sum()) - 1.0) < 1e-3 for p in probs)
    label, prob = seed_model.predict(tokenize("call now for a free trial"))
    assert label[0].startswith("__label__") and 0.0 <= float(prob[0]) <= 1.0


def test_seed_classifier_separates_heldout_ads_from_medical_text(seed_model, capsys):
    """Trained on the whole seed set, tested on 40 texts written separately (10 per language and label).

    Bar: precision and recall >= 0.85 per label. With 20 texts per label that tolerates three errors; a
    classifier that had not learnt the distinction sits near 0.5.
    """
    report = evaluate(seed_model, read_labelled(HELDOUT).rows)
    print(format_report({"heldout": report, "test_rows": report["n"], "train_rows": 255}))
    assert report["n"] == 40
    for label in ("advertising", "good"):
        assert report["labels"][label]["precision"] >= 0.85, report
        assert report["labels"][label]["recall"] >= 0.85, report
    assert "advertising" in capsys.readouterr().out


def test_train_writes_model_report_and_split_is_stratified(tmp_path):
    rows = read_labelled("builtin:seed").rows
    train, test = split_rows(rows, 0.2, seed=0)
    assert len(train) + len(test) == len(rows)
    assert {r["label"] for r in test} == {"advertising", "good"}
    assert split_rows(rows, 0.2, seed=0) == (train, test)
    report = train_classifier("builtin:seed", tmp_path / "m.bin")
    assert (tmp_path / "m.bin").exists() and json.loads((tmp_path / "m.bin.json").read_text())["test_rows"] == len(test)
    for label in ("advertising", "good"):
        assert report["heldout"]["labels"][label]["recall"] >= 0.85


def test_unlabelled_rows_are_counted_not_trained(tmp_path):
    src = tmp_path / "l.jsonl"
    src.write_text("\n".join([json.dumps({"text": "a", "label": "good"}), json.dumps({"text": "b", "label": None}),
                              json.dumps({"text": "", "label": "good"})]), encoding="utf-8")
    data = read_labelled(src)
    assert len(data.rows) == 1 and data.skipped == {"no label (unparseable answer)": 1, "no text": 1}


def test_cli_train_prints_the_table(tmp_path):
    res = CliRunner().invoke(app, ["quality", "train", "builtin:seed", "--model", str(tmp_path / "q.bin")])
    assert res.exit_code == 0, res.output
    assert "precision" in res.output and "advertising" in res.output and (tmp_path / "q.bin").exists()


def test_stage_threshold_and_labels(seed_model):
    stage = QualityFilter(QualityConfig(model="builtin:seed"))
    stage.model = seed_model
    docs = [{"id": "ad", "text": "祖传秘方，三天根治糖尿病，咨询电话13800001111"},
            {"id": "med", "text": "Type 2 diabetes is treated with lifestyle change and metformin."}]
    out = stage.process([dict(d) for d in docs])
    assert [d["id"] for d in out.kept] == ["med"] and [d["id"] for d in out.dropped] == ["ad"]
    assert out.dropped[0]["reason"].startswith("quality advertising p=")
    assert all("quality_label" in d and 0 <= d["quality_drop_prob"] <= 1 for d in out.kept + out.dropped)
    strict = QualityFilter(QualityConfig(model="builtin:seed", threshold=1.0))  # only p == 1.0 is dropped
    strict.model = seed_model
    assert len(strict.process([dict(d) for d in docs]).dropped) <= 1
    nothing = QualityFilter(QualityConfig(model="builtin:seed", drop_labels=["low_quality", "advertising"], threshold=0.0))
    nothing.model = seed_model
    assert len(nothing.process([dict(d) for d in docs]).dropped) == 2


def test_stage_needs_a_model():
    with pytest.raises(ValueError, match="quality.model is not set"):
        QualityFilter(QualityConfig()).setup()


def test_quality_stage_in_the_pipeline(ray_local, tmp_path):
    rows = read_labelled(HELDOUT).rows
    src = tmp_path / "in"
    src.mkdir()
    with open(src / "a.jsonl", "w", encoding="utf-8") as fh:
        for i, r in enumerate(rows):
            fh.write(json.dumps({"id": f"r{i}", "text": r["text"], "truth": r["label"]}, ensure_ascii=False) + "\n")
    recipe = Recipe(sources=[SourceConfig(name="q", path=str(src), type="web")],
                    curate={"stages": ["quality"], "unit_bytes": 2048, "quality": {"model": "builtin:seed"}})
    stats = run_curation(recipe, tmp_path / "out").stats
    assert_balanced(stats, len(rows))
    kept, dropped = read_kind(tmp_path / "out", "kept"), read_kind(tmp_path / "out", "dropped")
    assert len(kept) + len(dropped) == len(rows)
    assert kept["quality_label"].notna().all() and dropped["quality_drop_prob"].notna().all()
    assert set(dropped["stage"]) == {"quality"} and dropped["reason"].str.startswith("quality ").all()
    truth_dropped = [json.loads(m)["truth"] for m in dropped["meta"]]
    assert truth_dropped.count("advertising") >= 17 and truth_dropped.count("good") <= 3
