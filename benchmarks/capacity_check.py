"""The capacity planner against measured local runs: the local recipe on the demo corpus grown F times.

    python benchmarks/capacity_check.py build --factor 4 --out /tmp/cap/r4      # recipe + corpus (outside the repo)
    huatuo-ray run --config /tmp/cap/r4/recipe.yaml                              # measure it
    huatuo-ray calibrate /tmp/cap/r2 /tmp/cap/r4 -o cluster/calibration.json     # rates from two sizes
    python benchmarks/capacity_check.py check /tmp/cap/r1 /tmp/cap/r6             # plan vs measured, per step

A factor-F corpus is the demo corpus (examples/demo_corpus/) plus (F - 1) x its size of extra text from
../shared/data, in the same proportions at every factor: the curated sources grow with a cut of the zh medical
textbook, the zh novel, the zh medical Q&A and the English prose (fever.txt, tianlongbabu.txt,
medical_corpus.txt, en_article_tail500.txt), the SFT sources with a cut of the two 1K conversation files. The
extra files are written under --out, never into the repository (two of them are copyrighted works).

`check` plans each run with `huatuo-ray plan --nodes local` for its measured corpus and SFT sizes and prints,
per step, the measured and the estimated wall seconds and the error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "corpus"

from huatuo_ray.io.atomic import atomic_path, write_text_atomic  # noqa: E402

# (file, share of the extra bytes, source settings); shares of the curated and of the SFT extras add up to 1
CURATED = [("fever.txt", 0.32, {"type": "books", "language": "zh", "format": "jsonl"}),
           ("tianlongbabu.txt", 0.61, {"type": "web", "language": "zh", "format": "jsonl"}),
           ("medical_corpus.txt", 0.035, {"type": "web", "language": "zh", "format": "jsonl", "text_field": ["问", "答"]}),
           ("en_article_tail500.txt", 0.035, {"type": "books", "language": "en", "format": "jsonl"})]
SFT = [("medical_sft_1K_format.jsonl", 0.2, {"type": "sft", "language": "zh"}),
       ("sharegpt_zh_1K_format.jsonl", 0.8, {"type": "sft", "language": "detect"})]


def _cut(src: Path, dest: Path, nbytes: int) -> int:
    """The first lines of ``src`` adding up to about ``nbytes`` (whole lines: JSONL stays valid); the lines of a
    plain text file become JSONL documents (one per non-empty line: the text files have few blank lines)."""
    out, n = [], 0
    with open(src, "rb") as fh:
        for i, line in enumerate(fh):
            if n >= nbytes:
                break
            if src.suffix == ".txt" and not line.lstrip().startswith(b"{"):
                if not line.strip():
                    continue
                line = (json.dumps({"id": f"{src.stem}-{i}", "text": line.decode("utf-8").strip()},
                                   ensure_ascii=False) + "\n").encode("utf-8")
            out.append(line)
            n += len(line)
    if n < nbytes:
        raise SystemExit(f"{src} has only {n:,} bytes, {nbytes:,} wanted: use a smaller --factor")
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        fh.writelines(out)
    return n


def build(factor: float, out: Path) -> Path:
    from huatuo_ray.recipe import load_recipe

    base = load_recipe(REPO / "configs" / "local.yaml", [f"run.dir={out / 'run'}"], base_dir=REPO)
    data = base.model_dump(mode="json")
    demo_curated = sum(f.stat().st_size for s in base.sources if s.type != "sft" for f in Path(s.path).rglob("*")
                       if f.is_file())
    demo_sft = sum(f.stat().st_size for s in base.sources if s.type == "sft" for f in Path(s.path).rglob("*")
                   if f.is_file())
    extra = []
    if factor > 1:
        for files, total in ((CURATED, demo_curated), (SFT, demo_sft)):
            for name, share, settings in files:
                dest = out / "corpus" / (name.rsplit(".", 1)[0] + ".jsonl")
                _cut(SHARED / name, dest, int((factor - 1) * total * share))
                extra.append({"name": "x-" + name.split(".")[0].replace("_", "-"), "path": str(dest), **settings})
    data["sources"] += extra
    recipe = out / "recipe.yaml"
    write_text_atomic(recipe, yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    print(f"{recipe}: factor {factor:g}, {len(data['sources'])} sources")
    return recipe


def check(run_dirs: list[Path], calibration: Path | None) -> list[dict]:
    from typer.testing import CliRunner

    from huatuo_ray.cli import app

    rows = []
    for d in run_dirs:
        args = ["plan", "--config", str(d / "recipe.yaml"), "--nodes", "local", "--like-run", str(d / "run"), "--json"]
        if calibration:
            args += ["--calibration", str(calibration)]
        res = CliRunner().invoke(app, args)
        if res.exit_code:
            raise SystemExit(res.output)
        plan = json.loads(res.stdout)
        run = json.loads((d / "run" / "run.json").read_text())
        for step, est in plan["steps"].items():
            measured = run["steps"].get(step, {}).get("elapsed_s")
            if measured is not None:
                rows.append({"run": str(d), "step": step, "measured_s": measured, "estimated_s": est["wall_s"]})
        total_m = sum(r["measured_s"] for r in rows if r["run"] == str(d))
        rows.append({"run": str(d), "step": "total", "measured_s": total_m, "estimated_s": plan["total"]["wall_s"]})
    for r in rows:
        r["error"] = (r["estimated_s"] - r["measured_s"]) / r["measured_s"] if r["measured_s"] else None
        err = f"{100 * r['error']:+.0f}%" if r["error"] is not None else "-"
        print(f"{r['run']:<24} {r['step']:<7} measured {r['measured_s']:8.1f} s  estimated {r['estimated_s']:8.1f} s  {err}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--factor", type=float, required=True)
    b.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check")
    c.add_argument("runs", nargs="+", type=Path, help="directories made by `build` whose run has finished")
    c.add_argument("--calibration", type=Path)
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.factor, args.out)
    else:
        check(args.runs, args.calibration)


if __name__ == "__main__":
    main()
