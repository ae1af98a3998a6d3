"""The helper commands: ``recipe show|validate``, ``density calibrate|score|import-lexicon``, ``quality label|train``, ``llm serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml

from huatuo_ray.cli.common import (
    ConfigOpt,
    SetOpt,
    density_app,
    fail,
    llm_app,
    load,
    local_path,
    quality_app,
    recipe_app,
    setup_logging,
)


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

    setup_logging()
    cfg = load(config, set_).llm.server
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
        fail(f"the server exited with {server.proc.returncode}: {server.log_tail(1500)}")
    except ServerError as e:
        fail(str(e))
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@recipe_app.command("show")
def recipe_show(config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the resolved recipe (defaults + file + overrides) as YAML; anything that looks like a secret is ***."""
    from huatuo_ray.redact import mask

    dump = mask(load(config, set_).model_dump(mode="json"))  # e.g. a key in server.extra_args or env
    typer.echo(yaml.safe_dump(dump, allow_unicode=True, sort_keys=False))


@recipe_app.command("validate")
def recipe_validate(config: Annotated[Path, typer.Argument(help="Recipe YAML file.")], set_: SetOpt = None) -> None:
    """Validate a recipe; errors name the bad key and value."""
    load(config, set_)
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

    recipe = load(config, set_)
    try:
        report = calibrate(labelled, recipe.curate.density, split=split)
    except (OSError, ValueError) as e:
        fail(str(e))
    typer.echo(format_report(report))
    if json_out:
        from huatuo_ray.io.atomic import write_json_atomic

        write_json_atomic(json_out, report)


@density_app.command("import-lexicon")
def density_import_lexicon(
    source: Annotated[Path, typer.Argument(help="A vocabulary file: MeSH desc20XX.xml / d20XX.bin / CSV, the "
                                                "SPECIALIST LEXICON or LRWD file, or one term per line.")],
    output: Annotated[Path, typer.Argument(help="The weighted lexicon to write (term<TAB>weight).")],
    fmt: Annotated[str, typer.Option("--format", help="mesh-xml | mesh-ascii | mesh-csv | specialist | lines.")] = "lines",
) -> None:
    """Weight an English vocabulary by specificity (wordfreq) into a lexicon for curate.density.lexicons.en."""
    from huatuo_ray.curate.density.vocab import en_weights, lexicon_lines, read_terms
    from huatuo_ray.io.atomic import write_text_atomic

    weights = en_weights(read_terms(source, fmt))
    header = [f"Weighted from {source.name} (format {fmt}) by `huatuo-ray density import-lexicon`.",
              "Weight = clip((5.3 - zipf) / (5.3 - 3.0), 0, 1), zipf from wordfreq. Format: term<TAB>weight."]
    write_text_atomic(output, lexicon_lines(weights, header))
    kept = sum(1 for w in weights.values() if w > 0)
    typer.echo(f"{output}: {len(weights)} terms ({kept} with weight > 0). Add it to curate.density.lexicons.en and "
               "recalibrate: huatuo-ray density calibrate LABELLED.jsonl --set curate.density.lexicons.en=[...]")


@density_app.command("score")
def density_score(
    text: Annotated[str, typer.Argument(help="The text to score.")],
    language: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    config: ConfigOpt = None,
    set_: SetOpt = None,
) -> None:
    """Score one text and show which lexicon terms matched, with their weights."""
    from huatuo_ray.curate.density.stage import DensityFilter

    dcfg = load(config, set_).curate.density
    stage = DensityFilter(dcfg)
    s, verdict = stage.score_text(text, language)  # a missing or malformed lexicon: the error family, one message
    if s is None:
        fail(verdict.reason)
    typer.echo(f"density {s.density:.4f} (threshold {dcfg.threshold(language):.3f}), {s.n_terms} distinct terms: "
               + ("keep" if verdict.keep else f"drop ({verdict.reason})"))
    for term, weight, count in stage.scorer.explain(text, language):
        typer.echo(f"  {term}\tweight {weight:.2f}\tx{count}")
    science = stage.science_score(text, language)
    if science is not None:  # the language has a science check: its score and the words that raise it most
        check = dcfg.science_check[language]
        typer.echo(f"science score {science:.3f} (drops at >= {check.max_score:.3f} unless clinical density "
                   f">= {check.min_clinical_density:.3f})")
        for word, ratio, count in stage.scorer.science[language].explain(text):
            typer.echo(f"  {word}\tratio {ratio:+.2f}\tx{count}")


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

    local_path(curated, "quality label")
    setup_logging()
    recipe = load(config, set_)
    if n <= 0:
        fail("--n must be positive")
    if recipe.llm.backend == "vllm_engine":  # generation runs as a Ray Data job
        from huatuo_ray.runtime import init_ray

        init_ray(recipe.ray)
    try:
        summary = label_sample(recipe, curated, output, n, seed)
    except (OSError, ValueError, RuntimeError) as e:
        fail(str(e))
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
        fail("--test-fraction must be in [0, 1)")
    try:
        report = train_classifier(labelled, model, test_fraction, TrainParams(epoch=epoch, seed=seed))
    except (OSError, ValueError) as e:
        fail(str(e))
        raise
    typer.echo(format_report(report))
    typer.echo(f"model: {model}   report: {model}.json   use it with --set curate.quality.model={model}")
