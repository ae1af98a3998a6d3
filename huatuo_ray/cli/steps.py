"""One command per step: ``huatuo-ray run --only STEP`` with the step's own input and output options.

Without options a step reads and writes the run directory (``run.dir``), as ``huatuo-ray run`` does; ``--input`` /
``--order`` / ``--packed`` point it at another upstream output, ``--output`` writes elsewhere. ``--overwrite``
discards the step's existing output and starts it afresh.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from huatuo_ray.cli.common import ConfigOpt, OverwriteOpt, SetOpt, app, fail, load
from huatuo_ray.cli.run import run_recipe
from huatuo_ray.errors import InputError
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.io.storage import resolved
from huatuo_ray.recipe import SFT_TYPE, Recipe, SourceConfig
from huatuo_ray.run.runner import RunOptions

OutputOpt = Annotated[Optional[str], typer.Option("--output", "-o", help="Output directory (default: <run.dir>/<step>).")]


def _one(recipe: Recipe, step: str, output: str | None, inputs: dict[str, str | None], overwrite: bool,
         dry_run: bool = False) -> None:
    options = RunOptions(overwrite="always" if overwrite else "never",
                         outputs={step: output} if output else {},
                         inputs={k: v for k, v in inputs.items() if v is not None})
    run_recipe(recipe, options, only=[step], dry_run=dry_run)


def _sources(inputs: list[str], name: str, source_type: str, language: str, fmt: str, text_field: str) -> list[SourceConfig]:
    try:
        return [SourceConfig(name=f"{name}{i}" if len(inputs) > 1 else name, path=p, type=source_type,
                             language=language, format=fmt,
                             text_field=text_field.split(",") if "," in text_field else text_field)
                for i, p in enumerate(inputs)]
    except ValueError as e:  # pydantic: show the bad option
        raise InputError(f"invalid --input options: {e}") from None


@app.command()
def curate(
    output: OutputOpt = None,
    input: Annotated[Optional[list[str]], typer.Option("--input", "-i", help="Input file, directory or glob; replaces the recipe's corpus sources (repeatable).")] = None,
    config: ConfigOpt = None,
    stages: Annotated[Optional[str], typer.Option(help="Comma-separated subset of the recipe's stages, run in recipe order.")] = None,
    set_: SetOpt = None,
    source_type: Annotated[str, typer.Option(help="Source type for --input: web, literature, encyclopedia, books.")] = "web",
    language: Annotated[str, typer.Option(help="Language for --input: zh, en or detect.")] = "detect",
    format: Annotated[str, typer.Option(help="Reader for --input: auto, jsonl, parquet, text, text_blocks, conversations.")] = "auto",
    text_field: Annotated[str, typer.Option(help="Text field(s) for --input records; comma-separated to join several.")] = "text",
    overwrite: OverwriteOpt = False,
) -> None:
    """Curate the corpus on Ray Data: density filter, segmentation, quality classifier, semantic dedup.

    Rerunning the same command resumes: finished work units are skipped.
    """
    from huatuo_ray.curate.registry import select_stages

    recipe = load(config, set_)
    if input:
        if source_type == SFT_TYPE:
            fail("SFT data is not curated: use `huatuo-ray sft --input ...`")
        keep = [s for s in recipe.sources if s.type == SFT_TYPE]
        recipe = recipe.model_copy(update={"sources": keep + _sources(input, "input", source_type, language, format,
                                                                      text_field)})
    if stages:
        picked = select_stages(recipe.curate.stages, [s.strip() for s in stages.split(",") if s.strip()])
        recipe = recipe.model_copy(update={"curate": recipe.curate.model_copy(update={"stages": picked})})
    _one(recipe, "curate", output, {}, overwrite)


@app.command()
def sft(
    output: OutputOpt = None,
    input: Annotated[Optional[list[str]], typer.Option("--input", "-i", help="ShareGPT / HuatuoGPT2 .json, .jsonl or Parquet file, directory or glob; replaces the recipe's SFT sources (repeatable).")] = None,
    name: Annotated[str, typer.Option(help="Source name for --input (the sampler's source name).")] = "sft",
    language: Annotated[str, typer.Option(help="Language for --input: zh, en or detect.")] = "detect",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Validate SFT conversations into the release format for the sampler (they bypass curation and unify).

    Records with a broken conversation (roles that do not alternate, empty turns, wrong types, repeated ids)
    are quarantined with the reason.
    """
    recipe = load(config, set_)
    if input:
        keep = [s for s in recipe.sources if s.type != SFT_TYPE]
        recipe = recipe.model_copy(update={"sources": keep + _sources(input, name, SFT_TYPE, language, "auto", "text")})
    _one(recipe, "sft", output, {}, overwrite)


@app.command()
def unify(
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="A finished curation output (default: <run.dir>/curate).")] = None,
    output: OutputOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: Annotated[bool, typer.Option(help="Discard the existing output (the request cache is kept).")] = False,
) -> None:
    """Write a question and an answer for every curated segment with an LLM, check them, regenerate failures.

    Rerunning resumes: committed units are skipped, units with LLM errors are retried, and cached requests
    are never resent. llm.backend=local starts a vLLM server for the run; endpoint uses llm.endpoint.
    """
    _one(load(config, set_), "unify", output, {"curate": input}, overwrite)


@app.command()
def sample(
    output: OutputOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    unified: Annotated[Optional[str], typer.Option("--unify", help="The unify output to read (default: <run.dir>/unify).")] = None,
    sft_dir: Annotated[Optional[str], typer.Option("--sft", help="The sft output to read (default: <run.dir>/sft).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Ray tasks for keys and sort partitions; never changes the order.")] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Order all sources' items by priority sampling (beta^K, epochs) into one stream.

    Without sample.sources in the recipe the sources are the unified pairs (one per source type) and each SFT
    source. Inputs of at most sample.local_max_items items run in this process; larger ones on Ray.
    """
    recipe = load(config, [*(set_ or []), *([f"sample.workers={workers}"] if workers else [])])
    _one(recipe, "sample", output, {"unify": unified, "sft": sft_dir}, overwrite)


@app.command()
def pack(
    order: Annotated[Optional[str], typer.Option("--order", help="A sampler output (default: <run.dir>/sample).")] = None,
    output: OutputOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    engine: Annotated[str, typer.Option(help="auto (by pack.local_max_items), local or ray; the output is the same.")] = "auto",
    overwrite: OverwriteOpt = False,
) -> None:
    """Tokenise and pack the sampled stream, in order, into step-major sequences of pack.max_seq_len tokens."""
    limits = {"auto": [], "local": [f"pack.local_max_items={1 << 62}"], "ray": ["pack.local_max_items=0"]}
    if engine not in limits:
        fail(f"--engine must be auto, local or ray, not {engine!r}")
    _one(load(config, [*(set_ or []), *limits[engine]]), "pack", output, {"sample": order}, overwrite)


@app.command()
def train(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    packed: Annotated[Optional[str], typer.Option(help="A pack output (default: train.packed, else <run.dir>/pack).")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Storage path of training runs (sets train.output; default <run.dir>/train).")] = None,
    run_name: Annotated[Optional[str], typer.Option(help="Run name (sets train.run_name); the same name resumes the run.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate without GPUs: batch arithmetic, DeepSpeed config, memory per GPU.")] = False,
    steps: Annotated[Optional[int], typer.Option(help="--dry-run: global steps assumed for the schedule (default: the pack's, else 1000).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Discard the run's checkpoints and start training afresh.")] = False,
) -> None:
    """Train on the packed stream with Ray Train + DeepSpeed ZeRO; the same run name resumes the run."""
    extra = [f"train.{k}={v}" for k, v in (("output", output), ("run_name", run_name)) if v]
    recipe = load(config, [*(set_ or []), *extra])
    if dry_run:
        from huatuo_ray.io.packed import PackedReader
        from huatuo_ray.run.rundir import finished
        from huatuo_ray.run.runner import Runner
        from huatuo_ray.train.dry_run import dry_run as run_dry
        from huatuo_ray.train.dry_run import format_report

        pack_dir = resolved(packed) if packed else Runner(recipe).input_dir("pack")[0]
        if steps is None and finished(pack_dir):
            steps = min(PackedReader(pack_dir).num_steps, recipe.train.max_steps or 10**12)
        report = run_dry(recipe.train, steps)
        typer.echo(format_report(report))
        if report["isolation"]["refused"]:
            fail(report["isolation"]["reason"])
        return
    _one(recipe, "train", None, {"pack": packed}, overwrite)


@app.command("eval")
def evaluate(
    benchmark: Annotated[Optional[list[str]], typer.Option("--benchmark", "-b", help="A benchmark file or folder in its own release format (repeatable; replaces eval.benchmarks).")] = None,
    format: Annotated[str, typer.Option(help="Release format of --benchmark: auto, medqa, medmcqa, cmmlu, ceval, cmexam, cmb.")] = "auto",
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="NAME=DIR_OR_HUB_ID: a model to evaluate (repeatable; adds to eval.models).")] = None,
    trained: Annotated[bool, typer.Option(help="Also the run's trained model and its base (the train step's outputs).")] = True,
    output: OutputOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Zero-shot multiple-choice evaluation: every model answers every item; accuracy per benchmark and subject.

    Without --model and with --no-trained, the recipe's llm is evaluated as configured (e.g. an endpoint:
    --set llm.backend=endpoint --set llm.endpoint.base_url=URL --set llm.endpoint.model=NAME).
    """
    recipe = load(config, set_)
    cfg = recipe.eval.with_benchmarks(benchmark, format) if benchmark else recipe.eval
    extra = {}
    for m in model or []:
        name, sep, where = m.partition("=")
        if not sep or not name or not where:
            fail(f"--model {m!r}: give NAME=DIR_OR_HUB_ID")
        extra[name] = where
    cfg = cfg.model_copy(update={"trained": trained, "models": {**cfg.models, **extra}})
    _one(recipe.model_copy(update={"eval": EvalConfig.model_validate(cfg.model_dump())}), "eval", output, {},
         overwrite)
