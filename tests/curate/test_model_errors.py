"""A model, classifier or lexicon the recipe names but this machine lacks: one error naming the setting, at once."""

from __future__ import annotations

import json
import os

import pytest
import ray
from typer.testing import CliRunner

from huatuo_ray import models
from huatuo_ray.cli import app
from huatuo_ray.curate.dedup.config import OFFLINE_MODEL, DedupConfig
from huatuo_ray.curate.pipeline import run_curation
from huatuo_ray.errors import ModelNotFound
from huatuo_ray.recipe import SourceConfig, load_recipe

HUB_MODEL = DedupConfig().model


@pytest.fixture
def corpus(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "高血压患者应长期服用降压药物，定期监测血压。"}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    return src


@pytest.fixture
def no_ray_job(monkeypatch):
    """Fail the test if curation gets as far as starting a Ray Data job."""
    def started(*a, **k):
        raise AssertionError("a Ray Data job started before the missing model was reported")

    monkeypatch.setattr(ray.data, "from_items", started)


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no download attempt: the model is simply not on this machine
    if models._cached(HUB_MODEL) is not None:
        pytest.skip(f"{HUB_MODEL} is in this machine's Hugging Face cache")


def recipe(src, *overrides):
    r = load_recipe(None, list(overrides))
    return r.model_copy(update={"sources": [SourceConfig(name="t", path=str(src), type="web", language="zh")]})


def test_default_dedup_model_missing_names_the_setting(corpus, tmp_path, offline, no_ray_job):
    with pytest.raises(ModelNotFound) as e:
        run_curation(recipe(corpus, "curate.stages=[dedup]"), tmp_path / "out")
    msg = str(e.value)
    assert msg.startswith(f"curate.dedup.model = {HUB_MODEL!r}: not on this machine")
    assert f"curate.dedup.model={OFFLINE_MODEL}" in msg and "huggingface.co" not in msg
    assert not (tmp_path / "out").exists()  # nothing written: rerunning with another model is not a changed run


def test_dedup_error_comes_before_the_unit_stages(corpus, tmp_path, offline, no_ray_job):
    with pytest.raises(ModelNotFound, match="curate.dedup.model"):
        run_curation(recipe(corpus, "curate.stages=[density,segment,dedup]"), tmp_path / "out")


def test_cli_shows_one_line_not_a_hub_traceback(ray_local, corpus, tmp_path, offline):
    res = CliRunner().invoke(app, ["curate", "--input", str(corpus), "--output", str(tmp_path / "out"),
                                   "--set", "curate.stages=[dedup]"])
    assert res.exit_code == 2, res.output
    assert "error: curate.dedup.model = " in res.output
    assert "Traceback" not in res.output and "huggingface.co" not in res.output and "OSError" not in res.output


def test_quality_without_a_model_says_how_to_get_one(corpus, tmp_path, no_ray_job):
    with pytest.raises(ModelNotFound) as e:
        run_curation(recipe(corpus, "curate.stages=[density,segment,quality]"), tmp_path / "out")
    msg = str(e.value)
    assert msg.startswith("curate.quality.model is not set.")
    for hint in ("huatuo-ray quality label", "huatuo-ray quality train", "builtin:seed", "curate.stages"):
        assert hint in msg


def test_quality_model_file_missing(corpus, tmp_path, no_ray_job):
    missing = tmp_path / "nope.bin"
    with pytest.raises(ModelNotFound, match=rf"curate.quality.model = '{missing}': no such file"):
        run_curation(recipe(corpus, "curate.stages=[quality]", f"curate.quality.model={missing}"), tmp_path / "out")


def test_missing_lexicon_names_its_setting(corpus, tmp_path, no_ray_job):
    missing = tmp_path / "zh.tsv"
    with pytest.raises(ModelNotFound, match=rf"curate.density.lexicons.zh.0 = '{missing}': no such file"):
        run_curation(recipe(corpus, "curate.stages=[density]", f"curate.density.lexicons.zh=[{missing}]"),
                     tmp_path / "out")


def test_builtin_embedder_loads_offline(monkeypatch):
    from huatuo_ray.curate.dedup.embed import encode, load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored after the test
    cfg = DedupConfig(model=OFFLINE_MODEL)
    model = load_model(cfg, device="cpu")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert encode(model, ["fever"], cfg).shape == (1, 384)
