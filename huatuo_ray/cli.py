"""The ``huatuo-ray`` command: one thin subcommand per job."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml

from huatuo_ray.errors import RecipeError
from huatuo_ray.recipe import Recipe, SourceConfig, load_recipe

app = typer.Typer(help="HuatuoGPT-II one-stage domain adaptation on Ray.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
recipe_app = typer.Typer(help="Inspect and validate recipes.", no_args_is_help=True)
app.add_typer(recipe_app, name="recipe")
density_app = typer.Typer(help="Calibrate and inspect the dictionary-density filter.", no_args_is_help=True)
app.add_typer(density_app, name="density")
quality_app = typer.Typer(help="Label samples and train the fastText quality classifier.", no_args_is_help=True)
app.add_typer(quality_app, name="quality")
llm_app = typer.Typer(help="The LLM backend: run a local vLLM server.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="Recipe YAML file (default: built-in defaults).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a recipe value for this run: dotted.key=value (repeatable).")]


def _setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("HUATUO_LOG", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _load(config: Optional[Path], overrides: Optional[list[str]]) -> Recipe:
    try:
        return load_recipe(config, overrides or [])
    except RecipeError as e:
        _fail(str(e))
        raise  # unreachable


def _input_sources(inputs: list[str], source_type: str, language: str, fmt: str, text_field: str) -> list[SourceConfig]:
    try:
        return [
            SourceConfig(name=f"input{i}" if len(inputs) > 1 else "input", path=p, type=source_type, language=language,
                         format=fmt, text_field=text_field.split(",") if "," in text_field else text_field)
            for i, p in enumerate(inputs)
        ]
    except Exception as e:  # pydantic ValidationError: show the bad option
        _fail(f"invalid --input options: {e}")
        raise


@app.command()
def curate(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (kept/, dropped/, quarantined/, stats.json).")],
    input: Annotated[Optional[list[str]], typer.Option("--input", "-i", help="Input file, directory or glob; replaces the recipe's sources (repeatable).")] = None,
    config: ConfigOpt = None,
    stages: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the recipe's stages, run in recipe order.")] = None,
    set_: SetOpt = None,
    source_type: Annotated[str, typer.Option(help="Source type for --input: web, literature, encyclopedia, books, sft.")] = "web",
    language: Annotated[str, typer.Option(help="Language for --input: zh, en or detect.")] = "detect",
    format: Annotated[str, typer.Option(help="Reader for --input: auto, jsonl, parquet, text, text_blocks, conversations.")] = "auto",
    text_field: Annotated[str, typer.Option(help="Text field(s) for --input records; comma-separated to join several.")] = "text",
    overwrite: Annotated[bool, typer.Option(help="Discard an existing output directory instead of resuming it.")] = False,
) -> None:
    """Curate a raw corpus on Ray Data: density filter, segmentation, quality classifier, semantic dedup.

    Rerunning the same command resumes: finished work units are skipped.
    """
    _setup_logging()
    recipe = _load(config, set_)
    if input:
        recipe = recipe.model_copy(update={"sources": _input_sources(input, source_type, language, format, text_field)})
    _run_curate(recipe, output, [s.strip() for s in stages.split(",") if s.strip()] if stages else None, overwrite)


def _run_curate(recipe: Recipe, output: Path, stages: list[str] | None, overwrite: bool) -> dict:
    from huatuo_ray.curate.pipeline import run_curation
    from huatuo_ray.errors import InputError, OutputMismatch
    from huatuo_ray.runtime import init_ray

    try:
        init_ray(recipe.ray)
        result = run_curation(recipe, output, stages=stages, overwrite=overwrite)
    except (OutputMismatch, InputError, ValueError) as e:
        _fail(str(e))
        raise
    typer.echo(f"stats: {result.output / 'stats.json'}   plots: {', '.join(result.stats.get('plots', []))}")
    return result.stats


@app.command()
def sample(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (order/, plots/, _sample.json).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    workers: Annotated[Optional[int], typer.Option(help="Ray tasks for keys and sort partitions; never changes the order.")] = None,
) -> None:
    """Order all sources' items by priority sampling (beta^K, epochs) into one stream.

    Inputs of at most sample.local_max_items items run in this process; larger ones on Ray.
    """
    from huatuo_ray.runtime import init_ray
    from huatuo_ray.sample.priority import plan_sample, run_sample

    _setup_logging()
    recipe = _load(config, [*(set_ or []), *([f"sample.workers={workers}"] if workers else [])])
    try:
        plan = plan_sample(recipe.sample)
        if plan.engine == "ray":
            init_ray(recipe.ray)
        result = run_sample(plan, output)
    except (OSError, ValueError) as e:
        _fail(str(e))
        raise
    s = result.summary
    typer.echo(f"ordered {s['total']:,} items from {len(s['sources'])} sources ({s['engine']}, {s['seconds']:.1f} s): "
               f"{output / 'order'}   plot: {output / s['plot'] if s['plot'] else '-'}")


@app.command()
def unify(
    input: Annotated[Path, typer.Option("--input", "-i", help="A finished curation output directory (its kept/ segments).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (kept/, dropped/, quarantined/, release/, stats.json).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Discard an existing output (the request cache is kept).")] = False,
) -> None:
    """Write a question and an answer for every curated segment with an LLM, check them, regenerate failures.

    Rerunning resumes: committed units are skipped, units with LLM errors are retried, and cached requests
    are never resent. llm.backend=local starts a vLLM server for the run; endpoint uses llm.endpoint.
    """
    from huatuo_ray.errors import OutputMismatch, ServerError
    from huatuo_ray.runtime import init_ray
    from huatuo_ray.unify.pipeline import run_unify

    _setup_logging()
    recipe = _load(config, set_)
    try:
        init_ray(recipe.ray)
        result = run_unify(recipe, input, output, overwrite=overwrite)
    except (OutputMismatch, ServerError, ValueError) as e:
        _fail(str(e))
        raise
    s = result.stats
    typer.echo(f"{s['pairs']:,} pairs from {s['segments']:,} segments ({s['llm_errors']:,} LLM errors pending): "
               f"{output / s['release']['jsonl']}   stats: {output / 'stats.json'}")


@llm_app.command("serve")
def llm_serve(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: the recipe's llm.server.port, else a free one).")] = 0,
) -> None:
    """Start the local vLLM OpenAI-compatible server (llm.server) and keep it up until Ctrl-C / SIGTERM."""
    import signal
    import time

    from huatuo_ray.errors import ServerError
    from huatuo_ray.llm.server import LocalServer

    _setup_logging()
    cfg = _load(config, set_).llm.server
    if port:
        cfg = cfg.model_copy(update={"port": port})
    server = LocalServer(cfg)
    def _interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the server group as Ctrl-C does
    try:
        server.start()
        typer.echo(f"serving {server.model_name} at {server.base_url} (process group {server.proc.pid}, log "
                   f"{server.log_path}); Ctrl-C stops it",
                   err=True)
        typer.echo(f"--set llm.backend=endpoint --set llm.endpoint.base_url={server.base_url} "
                   f"--set llm.endpoint.model={server.model_name}")
        while server.proc.poll() is None:
            time.sleep(1)
        _fail(f"the server exited with {server.proc.returncode}: {server.log_tail(1500)}")
    except ServerError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def train(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    packed: Annotated[Optional[str], typer.Option(help="Pack output directory (sets train.packed).")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Storage path of runs (sets train.output).")] = None,
    run_name: Annotated[Optional[str], typer.Option(help="Run name (sets train.run_name); the same name resumes the run.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate the recipe without GPUs: batch arithmetic, DeepSpeed config, memory per GPU.")] = False,
    steps: Annotated[Optional[int], typer.Option(help="--dry-run: global steps assumed for the schedule (default: the pack's, else 1000).")] = None,
) -> None:
    """Train on the packed stream with Ray Train + DeepSpeed ZeRO; resubmitting the same run name resumes it."""
    from huatuo_ray.train.trainer import TrainSetupError, run_training

    _setup_logging()
    extra = [f"train.{k}={v}" for k, v in (("packed", packed), ("output", output), ("run_name", run_name)) if v]
    recipe = _load(config, [*(set_ or []), *extra])
    cfg = recipe.train
    if dry_run:
        from huatuo_ray.train.dry_run import dry_run as run_dry
        from huatuo_ray.train.dry_run import format_report

        if steps is None and cfg.packed and (Path(cfg.packed) / "_SUCCESS").exists():
            from huatuo_ray.train.loop import default_reader_factory

            steps = min(default_reader_factory(cfg.packed).num_steps, cfg.max_steps or 10**12)
        try:
            typer.echo(format_report(run_dry(cfg, steps)))
        except ValueError as e:
            _fail(str(e))
        return
    from huatuo_ray.runtime import init_ray

    try:
        init_ray(recipe.ray)
        result = run_training(cfg)
    except (TrainSetupError, OSError, ValueError) as e:
        _fail(str(e))
        raise
    s = result.summary
    typer.echo(f"trained {s['steps']} steps (loss {s['first_loss']:.3f} -> {s['last_loss']:.3f}, "
               f"{len(s['restores'])} restores): {result.run_dir}   model: {s['model']}   plot: {s['loss_plot']}")


@app.command()
def pack(
    order: Annotated[Path, typer.Option("--order", help="A `huatuo-ray sample` output directory (order/, _sample.json).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory (steps/, samples/, _pack.json, _SUCCESS).")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    engine: Annotated[str, typer.Option(help="auto (by pack.local_max_items), local or ray.")] = "auto",
) -> None:
    """Tokenise and pack the sampled stream, in order, into step-major sequences of pack.max_seq_len tokens."""
    from huatuo_ray.pack.packer import run_pack
    from huatuo_ray.runtime import init_ray

    _setup_logging()
    recipe = _load(config, set_)
    if engine not in ("auto", "local", "ray"):
        _fail(f"--engine must be auto, local or ray, not {engine!r}")
    try:
        if engine == "ray" or (engine == "auto" and _order_total(order) > recipe.pack.local_max_items):
            init_ray(recipe.ray)
        m = run_pack(order, output, recipe.pack, engine=engine, fingerprint=recipe.fingerprint("pack"))
    except (OSError, ValueError) as e:
        _fail(str(e))
        raise
    s = m["samples"]
    typer.echo(f"packed {s['total']:,} samples ({s['packed']:,} packed, {s['truncated']:,} truncated, "
               f"{s['dropped']:,} dropped) into {m['num_steps']:,} steps of {m['global_batch_size']} x "
               f"{m['max_seq_len']} tokens; real-token fraction {m['real_token_fraction']:.4f} ({m['engine']}, "
               f"{m['seconds']['total']:.1f} s): {output}   plot: {output / m['plot'] if m['plot'] else '-'}")


def _order_total(order: Path) -> int:
    try:
        return int(json.loads((order / "_sample.json").read_text(encoding="utf-8"))["total"])
    except (OSError, ValueError, KeyError):
        return 0  # run_pack reports the missing or broken order


@app.command()
def conversations(
    input: Annotated[list[str], typer.Option("--input", "-i", help="HuatuoGPT2/ShareGPT .json (a list) or .jsonl file, directory or glob (repeatable).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for conversations.parquet (+ quarantined.parquet).")],
    name: Annotated[str, typer.Option(help="Source name used in fallback ids.")] = "sft",
) -> None:
    """Convert SFT conversations to Parquet (id, conversations) for `huatuo-ray sample` and `huatuo-ray pack`."""
    from huatuo_ray.pack.sources import convert_conversations

    try:
        s = convert_conversations(input, output, name)
    except (OSError, ValueError) as e:
        _fail(str(e))
        raise
    typer.echo(f"{s['records']:,} records -> {s['conversations']:,} conversations, {s['quarantined']:,} quarantined: "
               f"{output / 'conversations.parquet'}")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where the demo writes its run.")] = Path("runs/demo"),
    overwrite: Annotated[bool, typer.Option(help="Start the demo from scratch.")] = False,
    unify_segments: Annotated[int, typer.Option(help="Segments to unify (SmolLM2 on CPU: a few minutes for 8).")] = 8,
    train_steps: Annotated[int, typer.Option(help="Training steps.")] = 6,
) -> None:
    """Run the local demo end to end on the bundled corpus: curate -> unify -> sample -> pack -> train."""
    from huatuo_ray.demo import run_demo
    from huatuo_ray.errors import OutputMismatch, ServerError
    from huatuo_ray.train.trainer import TrainSetupError

    _setup_logging()
    if unify_segments < 0 or train_steps <= 0:
        _fail("--unify-segments must be >= 0 and --train-steps positive")
    try:
        summary = run_demo(output, overwrite, unify_segments, train_steps, echo=typer.echo)
    except (OutputMismatch, ServerError, TrainSetupError, OSError, ValueError) as e:
        _fail(f"{e} (rerun with --overwrite to start the demo from scratch)")
        raise
    (output / "demo_summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False), encoding="utf-8")
    typer.echo(f"demo done in {summary['elapsed_s']:.0f} s: {output}/curate (segments), {output}/unify/release "
               f"(pairs), {output}/sample (order), {output}/pack (packed steps), {output}/train (run, loss plot, "
               f"model); summary: {output / 'demo_summary.json'}")


@app.command()
def stats(output: Annotated[Path, typer.Argument(help="A curation output directory.")]) -> None:
    """Print the ledger table of a finished run."""
    from huatuo_ray.curate.report import summary_table

    path = output / "stats.json"
    if not path.exists():
        _fail(f"{path} does not exist (has the run finished?)")
    typer.echo(summary_table(json.loads(path.read_text(encoding="utf-8"))))


@recipe_app.command("show")
def recipe_show(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the resolved recipe (defaults + file + overrides) as YAML."""
    typer.echo(yaml.safe_dump(_load(config, set_).model_dump(mode="json"), allow_unicode=True, sort_keys=False))


@recipe_app.command("validate")
def recipe_validate(config: Annotated[Path, typer.Argument(help="Recipe YAML file.")], set_: SetOpt = None) -> None:
    """Validate a recipe; errors name the bad key and value."""
    _load(config, set_)
    typer.echo(f"{config}: ok")


@density_app.command("calibrate")
def density_calibrate(
    labelled: Annotated[Path, typer.Argument(help='Labelled JSONL: {"text", "language": "zh"|"en", "label": "medical"|"other"}.')],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    split: Annotated[Optional[str], typer.Option(help="Only rows whose 'split' field equals this (e.g. test).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the full report as JSON.")] = None,
) -> None:
    """Precision / recall / F1 of the density filter per language, at the recipe's thresholds and over a sweep."""
    from huatuo_ray.curate.density.calibrate import calibrate, format_report

    recipe = _load(config, set_)
    try:
        report = calibrate(labelled, recipe.curate.density, split=split)
    except (OSError, ValueError) as e:
        _fail(str(e))
    typer.echo(format_report(report))
    if json_out:
        json_out.write_text(json.dumps(report, indent=1), encoding="utf-8")


@density_app.command("score")
def density_score(
    text: Annotated[str, typer.Argument(help="The text to score.")],
    language: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score one text and show which lexicon terms matched, with their weights."""
    from huatuo_ray.curate.density.stage import DensityFilter
    from huatuo_ray.errors import HuatuoError

    dcfg = _load(config, set_).curate.density
    stage = DensityFilter(dcfg)
    try:
        s, verdict = stage.score_text(text, language)
    except HuatuoError as e:  # a lexicon file missing or malformed
        _fail(str(e))
        raise
    if s is None:
        _fail(verdict.reason)
    typer.echo(f"density {s.density:.4f} (threshold {dcfg.threshold(language):.3f}), {s.n_terms} distinct terms: "
               f"{'keep' if verdict.keep else 'drop'}")
    for term, weight, count in stage.scorer.explain(text, language):
        typer.echo(f"  {term}\tweight {weight:.2f}\tx{count}")


@quality_app.command("label")
def quality_label(
    curated: Annotated[Path, typer.Argument(help="A curation output directory (its kept/*.parquet rows are sampled).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Labelled JSONL to write (input of `quality train`).")],
    n: Annotated[int, typer.Option("--n", help="Rows to sample and label.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Have the recipe's LLM (llm: section) label sampled segments as advertising / low_quality / good.

    The raw answer is kept on every row; answers naming no label (or several) are counted as unparseable.
    """
    from huatuo_ray.curate.quality.label import label_sample

    _setup_logging()
    recipe = _load(config, set_)
    if n <= 0:
        _fail("--n must be positive")
    if recipe.llm.backend == "vllm_engine":  # generation runs as a Ray Data job
        from huatuo_ray.runtime import init_ray

        init_ray(recipe.ray)
    try:
        summary = label_sample(recipe, curated, output, n, seed)
    except (OSError, ValueError, RuntimeError) as e:
        _fail(str(e))
        raise
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["counts"].items()))
    typer.echo(f"labelled {summary['sampled']} rows with {summary['model']}: {counts}\n"
               f"output: {output}   summary: {output}.summary.json   next: huatuo-ray quality train {output} -m MODEL")


@quality_app.command("train")
def quality_train(
    labelled: Annotated[str, typer.Argument(help='Labelled JSONL {"text", "label"} (from `quality label` or your own); builtin:seed for the demo seed set.')],
    model: Annotated[Path, typer.Option("--model", "-m", help="Where to write the fastText model (a .json report is written beside it).")],
    test_fraction: Annotated[float, typer.Option(help="Held-out share of each label.")] = 0.2,
    epoch: Annotated[int, typer.Option(help="fastText epochs.")] = 25,
    seed: Annotated[int, typer.Option(help="Seed of the split and of fastText.")] = 0,
) -> None:
    """Train the quality classifier with a held-out split and print precision / recall per label."""
    from huatuo_ray.curate.quality.model import (
        TrainParams,
        format_report,
        train_classifier,
    )

    if not 0.0 <= test_fraction < 1.0:
        _fail("--test-fraction must be in [0, 1)")
    try:
        report = train_classifier(labelled, model, test_fraction, TrainParams(epoch=epoch, seed=seed))
    except (OSError, ValueError) as e:
        _fail(str(e))
        raise
    typer.echo(format_report(report))
    typer.echo(f"model: {model}   report: {model}.json   use it with --set curate.quality.model={model}")


if __name__ == "__main__":
    app()
