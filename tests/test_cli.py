import json

import pytest
from typer.testing import CliRunner

from huatuo_ray.cli import app

runner = CliRunner()
SUBCOMMANDS = [[], ["run"], ["demo"], ["stats"], ["sft"], ["curate"], ["unify"], ["sample"], ["pack"], ["train"],
               ["recipe"], ["recipe", "show"], ["recipe", "validate"], ["density"], ["density", "calibrate"],
               ["density", "score"], ["quality"], ["quality", "label"], ["quality", "train"], ["llm"], ["llm", "serve"],
               ["report"], ["calibrate"], ["plan"]]


@pytest.mark.parametrize("cmd", SUBCOMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help_on_every_subcommand(cmd):
    res = runner.invoke(app, [*cmd, "--help"])
    assert res.exit_code == 0 and "Usage" in res.output


def test_recipe_errors_name_key_and_value(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("curate:\n  segment:\n    max_chars: lots\n")
    res = runner.invoke(app, ["recipe", "validate", str(p)])
    assert res.exit_code == 2 and 'curate.segment.max_chars = "lots"' in res.output


def test_recipe_show_applies_overrides():
    res = runner.invoke(app, ["recipe", "show", "--set", "curate.segment.max_chars=400"])
    assert res.exit_code == 0 and "max_chars: 400" in res.output


def test_curate_resume_refusal_and_stats(ray_local, tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"id": "a", "text": "高血压患者应长期服用降压药物，定期监测血压，糖尿病可引起视网膜病变。"},
            {"id": "b", "text": "那天傍晚，他骑着马穿过山谷，远处的村庄升起了炊烟。"}, "not an object"]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    stages = ["--set", "curate.stages=[density,segment]"]
    res = runner.invoke(app, ["curate", "--input", str(src), "--output", str(out), *stages])
    assert res.exit_code == 0, res.output
    assert "input records 3 = kept documents 1 + dropped 1 + quarantined 1" in res.output
    res = runner.invoke(app, ["curate", "--input", str(src), "--output", str(out), *stages,
                              "--set", "curate.segment.max_chars=100"])
    assert res.exit_code == 2 and "curate.segment.max_chars: 512 -> 100" in res.output
    assert "Traceback" not in res.output and res.output.startswith("error: ")  # one message, no traceback
    res = runner.invoke(app, ["stats", str(out)])
    assert res.exit_code == 0 and "density" in res.output and "input records 3 =" in res.output
    res = runner.invoke(app, ["curate", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o2"),
                              *stages])
    assert res.exit_code == 2 and "matches no file" in res.output


def test_density_calibrate_prints_table():
    from pathlib import Path

    genres = Path(__file__).parent / "curate" / "data" / "density_genres.jsonl"
    res = runner.invoke(app, ["density", "calibrate", str(genres)])
    assert res.exit_code == 0 and "precision" in res.output and "[zh]" in res.output and "[en]" in res.output


def test_density_score_explains_a_science_drop():
    text = ("The catalytic oxidation of phenol over copper zeolite was studied at 300 K; the enzyme activity and liver "
            "toxicity of the product were measured in vivo in rats.")
    res = runner.invoke(app, ["density", "score", text, "--language", "en"])
    assert res.exit_code == 0, res.output
    assert "drop (density science" in res.output and "clinical density" in res.output
    assert "science score" in res.output and "zeolite\tratio +" in res.output
