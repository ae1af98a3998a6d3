"""The run report from a real small run, opened in headless chromium (Debian's package; skipped without it).

The run: curation (density, segmentation, quality) of the demo corpus' Chinese forum, then `sft`, `sample` and `pack` of
the SFT sources through `run_recipe`, the code behind `huatuo-ray run` (which writes the report at its end; the
step commands do not).
Unification, dedup, training and evaluation did not run: their sections must say so.
"""

from __future__ import annotations

import re
from html import escape

import pytest
from typer.testing import CliRunner

from huatuo_ray.cli import app
from huatuo_ray.report import REPORT_FILE, write_report
from huatuo_ray.report.collect import STEPS
from huatuo_ray.run.rundir import read_json
from huatuo_ray.run.runner import RunOptions
from tests.conftest import SFT_SOURCES, local_recipe, run_steps
from tests.report.browser import CHROMIUM, check_report, inspect_page

pytestmark = pytest.mark.slow
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no headless browser: {CHROMIUM} is absent "
                                    "(Debian: apt-get install -y chromium)")
NOT_RUN = {"dedup", "unify", "pairs", "train", "eval"}


@pytest.fixture(scope="module")
def small_run(ray_local, tmp_path_factory):
    from huatuo_ray.cli.run import run_recipe

    root = tmp_path_factory.mktemp("report") / "run"
    corpus = local_recipe(root, "curate.stages=[density,segment,quality]", "curate.unit_bytes=1000000",
                          sources=("web-zh",))
    run_steps(corpus, "curate")
    run_recipe(local_recipe(root, "pack.max_seq_len=512", sources=SFT_SOURCES), RunOptions(),
               only=["sft", "sample", "pack"], report=True)  # as `huatuo-ray run --only sft,sample,pack`
    return root


def test_the_run_writes_its_report(small_run):
    html = (small_run / REPORT_FILE).read_text(encoding="utf-8")
    # self-contained: every image is a data URI, nothing is fetched
    assert re.findall(r'<img src="([^"]{0,22})', html) and all(
        s.startswith("data:image/png;base64,") for s in re.findall(r'<img src="([^"]{0,22})', html))
    assert not re.search(r'(?:src|href)="(?!data:|#)', html)
    # the numbers are the run's
    curate, pack = read_json(small_run / "curate" / "stats.json"), read_json(small_run / "pack" / "stats.json")
    density = next(s for s in curate["ledger"]["stages"] if s["name"] == "density")
    for reason, n in density["dropped_by_reason"].items():
        assert re.search(rf"{re.escape(escape(reason))}</td><td class=\"num\">{n:,}</td>", html), reason
    assert f"<dd>{pack['num_sequences']:,}</dd>" in html
    for step in NOT_RUN - {"pairs"}:
        assert f"Not run: {step} did not run in this run directory" in html or step == "dedup"
    assert "Not run: the dedup stage was not in curate.stages (density, segment, quality)" in html


@needs_chromium
def test_the_report_renders_in_a_browser(small_run):
    r = check_report(small_run / REPORT_FILE, NOT_RUN)
    by_id = {s["id"]: s for s in r["sections"]}
    assert [i["alt"] for i in by_id["funnel"]["images"]] == ["funnel"]
    assert {i["alt"] for i in by_id["quality"]["images"]} == {"quality labels", "quality distribution"}
    assert by_id["sample"]["images"][0]["alt"] == "source share over training"
    assert r["screenshot"].startswith(b"\x89PNG")


@needs_chromium
def test_the_browser_check_sees_broken_images_and_console_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><body><section id="x"><h2>x</h2><img alt="broken" src="data:image/png;base64,AAAA">'
                    '</section><script>console.error("boom")</script></body></html>')
    r = inspect_page(page)
    assert [(i["alt"], i["width"]) for i in r["all_images"]] == [("broken", 0)]
    assert r["console_errors"] and "boom" in str(r["console_errors"])


def test_report_command(small_run, tmp_path):
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(small_run), "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "holds no step output" in res.output


def test_the_report_knows_every_step():
    from huatuo_ray.run.registry import STEP_NAMES

    assert STEPS == STEP_NAMES


def test_an_unfinished_step_says_so(small_run, tmp_path):
    import shutil

    root = tmp_path / "run"
    shutil.copytree(small_run, root, symlinks=True)
    (root / "pack" / "stats.json").unlink()
    html = write_report(root).read_text(encoding="utf-8")
    assert "Not run: pack started but did not finish" in html
