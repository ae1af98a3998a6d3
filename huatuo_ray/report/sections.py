"""The report's sections, one function each, from a run directory's files (:mod:`huatuo_ray.report.collect`).

A section is a title and blocks (a paragraph, facts, a table, an image); a section whose step did not run, or
whose stage was not part of the run, carries one ``not_run`` line instead of blocks.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from huatuo_ray.report import figures
from huatuo_ray.report.collect import (
    MAX_ROWS,
    RunFiles,
    StepOutput,
    jsonl_head,
    parquet_columns,
    read_json,
)

PAIRS_SHOWN = 5
TEXT_SHOWN = 500  # characters of a question or answer shown


@dataclass
class Section:
    id: str
    title: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    not_run: str | None = None

    def text(self, s: str) -> None:
        self.blocks.append({"kind": "text", "text": s})

    def facts(self, items: list[tuple[str, Any]]) -> None:
        self.blocks.append({"kind": "facts", "items": [(k, _fmt(v)) for k, v in items if v is not None]})

    def table(self, header: list[str], rows: list[list[Any]], caption: str | None = None) -> None:
        self.blocks.append({"kind": "table", "header": header, "rows": [[_cell(c) for c in r] for r in rows],
                            "caption": caption})

    def image(self, uri: str | None, alt: str, caption: str) -> None:
        if uri:
            self.blocks.append({"kind": "image", "src": uri, "alt": alt, "caption": caption})

    def step_plot(self, step: StepOutput, path: str | None, alt: str, caption: str) -> bool:
        """Embed a plot the step wrote; a line saying it is missing otherwise."""
        p = step.path(path)
        uri = figures.file_uri(p) if p else None
        if uri:
            self.image(uri, alt, caption)
            return True
        self.text(f"{alt}: the step wrote no plot{f' at {p}' if p else ''}.")
        return False


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "" if v is None else str(v)


def _cell(v: Any) -> dict[str, str]:
    text = _fmt(v)
    numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
    return {"text": text, "cls": "num" if numeric else ("text" if len(text) > 80 else "")}


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def _not_run(sid: str, title: str, why: str) -> Section:
    return Section(sid, title, not_run=why)


def overview(run: RunFiles) -> Section:
    s = Section("overview", "Run")
    meta = run.run or {}
    s.facts([("run directory", str(run.root)), ("last `huatuo-ray run` finished", meta.get("finished_at")),
             ("its wall time (s)", meta.get("elapsed_s"))])
    rows = []
    for name, st in run.steps.items():
        if st.done:
            c = st.stats["counts"]
            rows.append([name, st.state or "finished", c["item"], c["in"], c["kept"], c["dropped"], c["quarantined"],
                         c["out"], round(st.stats.get("elapsed_s") or 0, 1)])
        else:
            rows.append([name, "not run" if not st.started else "unfinished", "", "", "", "", "", "", ""])
    s.table(["step", "state", "items", "in", "kept", "dropped", "quarantined", "out", "seconds"], rows,
            "in = kept + dropped + quarantined for every step (checked by the run); out: rows written")
    checks = meta.get("handoffs") or []
    if checks:
        s.table(["hand-off", "left", "right", "ok"], [[c["check"], c["left"], c["right"], c["ok"]] for c in checks],
                "between steps: what one wrote is what the next read")
    elif run.run is None:
        s.text("No run.json here (the steps were run one by one): the hand-offs between steps were not checked by a "
               "`huatuo-ray run`.")
    return s


def on_step(step: str, sid: str, title: str) -> Callable[[Callable], Callable[[RunFiles], Section]]:
    """A section on ``step``'s output from a body ``f(section, step_output)``: marked not run when the step did not
    finish; the body fills the section (or returns another one, e.g. a not-run line)."""
    def wrap(body: Callable[..., Section | None]) -> Callable[[RunFiles], Section]:
        @functools.wraps(body)
        def make(run: RunFiles) -> Section:
            st = run.steps[step]
            if not st.done:
                return _not_run(sid, title, st.why_not())
            s = Section(sid, title)
            return body(s, st) or s
        return make
    return wrap


def on_curate_stage(sid: str, title: str) -> Callable[[Callable], Callable[[RunFiles], Section]]:
    """A section on curation stage ``sid`` from a body ``f(section, curate_output, stage_ledger)``; marked not run
    when curation did not finish or the stage was not among its stages."""
    def wrap(body: Callable[..., Section | None]) -> Callable[[RunFiles], Section]:
        @on_step("curate", sid, title)
        @functools.wraps(body)
        def make(s: Section, st: StepOutput) -> Section | None:
            stage = next((x for x in st.stats["ledger"]["stages"] if x["name"] == sid), None)
            if stage is None:
                return _not_run(sid, title, f"the {sid} stage was not in curate.stages ({', '.join(st.stats['stages'])})")
            return body(s, st, stage)
        return make
    return wrap


def funnel(run: RunFiles) -> Section:
    s = Section("funnel", "Funnel: every stage, with its drop reasons")
    rows: list[figures.FunnelRow] = []
    reasons: list[list[Any]] = []

    def add(label: str, unit: str, inp: int, kept: int, dropped: int, quarantined: int = 0, out: str = "",
            dropped_by: dict | None = None, quarantined_by: dict | None = None) -> None:
        rows.append(figures.FunnelRow(label, unit, inp, kept, dropped, quarantined, out))
        for kind, by in (("dropped", dropped_by or {}), ("quarantined", quarantined_by or {})):
            for r, n in sorted(by.items(), key=lambda kv: -kv[1]):
                reasons.append([label, kind, r, n, _pct(n, inp)])

    steps = run.steps
    if steps["sft"].done:
        c = steps["sft"].stats["counts"]
        add("sft", c["item"], c["in"], c["kept"], c["dropped"], c["quarantined"], "",
            c["dropped_by_reason"], c["quarantined_by_reason"])
    if steps["curate"].done:
        led = steps["curate"].stats["ledger"]
        add("curate: read", "records", led["records"], led["records"] - led["quarantined"], 0, led["quarantined"],
            quarantined_by=led["quarantined_by_reason"])
        for x in led["stages"]:
            out = f"{x['rows_out']:,} rows" if x["rows_out"] != x["kept_in"] else ""
            add(f"curate: {x['name']}", "rows", x["rows_in"], x["kept_in"], x["dropped"], 0, out,
                x["dropped_by_reason"])
    for name in ("unify", "sample", "pack", "train", "eval"):
        st = steps[name]
        if st.done:
            c = st.stats["counts"]
            out = f"{c['out']:,} written" if c["out"] != c["kept"] else ""
            add(name, c["item"], c["in"], c["kept"], c["dropped"], c["quarantined"], out, c["dropped_by_reason"],
                c["quarantined_by_reason"])
    if not rows:
        return _not_run(s.id, s.title, "no step finished in this run directory: there is nothing to count")
    s.image(figures.data_uri(figures.funnel(rows)), "funnel",
            "each bar is a stage's input; curate's stages count rows (documents, then segments after segmentation)")
    if reasons:
        s.table(["stage", "outcome", "reason", "items", "share of the stage's input"], reasons,
                "numbers inside reasons are replaced by # so that reasons group")
    else:
        s.text("No stage dropped or quarantined anything.")
    missing = [n for n, st in steps.items() if not st.done]
    if missing:
        s.text(f"Not in the funnel (did not run here): {', '.join(missing)}.")
    return s


def _stage_facts(s: Section, stage: dict, what: str) -> None:
    s.facts([(what, stage["rows_in"]), ("kept", stage["kept_in"]),
             ("dropped", f"{stage['dropped']:,} ({_pct(stage['dropped'], stage['rows_in'])})")])


def _score_plot(s: Section, st: StepOutput, name: str, what: str) -> Section:
    """A curation stage's score histogram (``plots/<name>.png``, drawn by curation)."""
    s.step_plot(st, str(st.dir / "plots" / f"{name}.png"), f"{name} distribution",
                f"{what}, kept vs dropped; dashed: the threshold")
    return s


@on_curate_stage("density", "Dictionary density")
def density(s: Section, st: StepOutput, stage: dict) -> Section | None:
    _stage_facts(s, stage, "documents scored")
    return _score_plot(s, st, "density", "matched domain-word density per document and language")


@on_curate_stage("quality", "Quality labels")
def quality(s: Section, st: StepOutput, stage: dict) -> Section | None:
    by: dict[str, Counter] = {"kept": Counter(), "dropped by quality": Counter(), "dropped later": Counter()}
    infos = []
    for folder, outcome in (("kept", "kept"), ("dropped", None)):
        rows, info = parquet_columns(st.dir / folder, ["quality_label", "stage"])
        infos.append((folder, info))
        for r in rows:
            if r["quality_label"] is None:
                continue  # dropped before the classifier saw it
            key = outcome or ("dropped by quality" if r["stage"] == "quality" else "dropped later")
            by[key][r["quality_label"]] += 1
    labels = sorted({lab for c in by.values() for lab in c}, key=lambda lab: -sum(c[lab] for c in by.values()))
    _stage_facts(s, stage, "segments classified")
    bounded = [f"{f}/: {i['files_read']} of {i['files']} files" for f, i in infos if i["bounded"]]
    if labels:
        series = {k: [c[lab] for lab in labels] for k, c in by.items() if sum(c.values())}
        s.image(figures.data_uri(figures.stacked_bars(
            labels, series, {"kept": figures.KEPT, "dropped by quality": figures.DROPPED, "dropped later": "tab:gray"},
            "quality label of every classified segment", "segments")), "quality labels",
            "the classifier's label per segment and what became of it ('dropped later': e.g. a near duplicate)")
        s.table(["label", *series], [[lab, *(by[k][lab] for k in series)] for lab in labels],
                "counted from the curation's kept/ and dropped/ rows"
                + (f" (bounded at {MAX_ROWS:,} rows: {'; '.join(bounded)})" if bounded else ""))
    else:
        s.text("The kept and dropped rows carry no quality_label column.")
    return _score_plot(s, st, "quality", "probability of the drop labels per segment and language")


@on_curate_stage("dedup", "Semantic dedup")
def dedup(s: Section, st: StepOutput, stage: dict) -> Section | None:
    d = st.stats.get("dedup") or {}
    reps: Counter = Counter()
    rows, info = parquet_columns(st.dir / "dropped", ["stage", "duplicate_of"])
    for r in rows:
        if r["stage"] == "dedup" and r["duplicate_of"] is not None:
            reps[r["duplicate_of"]] += 1
    sizes = Counter(n + 1 for n in reps.values())
    s.facts([("segments embedded", stage["rows_in"]), ("near duplicates dropped", stage["dropped"]),
             ("groups with a duplicate", len(reps)), ("largest group", max(sizes) if sizes else None),
             ("kept segments without a near duplicate", stage["kept_in"] - len(reps)),
             ("model", d.get("model")), ("cosine threshold", d.get("threshold")),
             ("k-means clusters", d.get("k"))])
    if sizes:
        s.image(figures.data_uri(figures.group_sizes(dict(sizes))), "dedup group sizes",
                "groups: a kept representative and the rows dropped as its near duplicates"
                + (f" (from {info['files_read']} of {info['files']} dropped/ files)" if info["bounded"] else ""))
    else:
        s.text("No near-duplicate groups: dedup dropped nothing.")
    s.step_plot(st, d.get("plot") or str(st.dir / "plots" / "dedup.png"), "k-means clusters and similarities",
                "left: rows per k-means cluster (the search space); right: cosine of each dropped row to its representative")
    return s


@on_step("unify", "unify", "Unification: acceptance, regeneration, deviation")
def unify(s: Section, st: StepOutput) -> Section | None:
    stats, c = st.stats, st.stats["counts"]
    stage = next((x for x in stats.get("ledger", {}).get("stages", []) if x["name"] == "unify"), {})
    counters = stage.get("counters", {})
    sent = counters.get("sent", stats.get("sent", c["in"]))
    s.facts([("segments read", c["in"]), ("sent to the LLM", sent), ("accepted pairs", c["kept"]),
             ("acceptance (accepted / sent)", _pct(c["kept"], sent)), ("generation attempts", counters.get("attempts")),
             ("regenerations", counters.get("regenerations")),
             ("regenerations per sent segment", round(counters["regenerations"] / sent, 2)
              if sent and "regenerations" in counters else None),
             ("LLM requests", (stats.get("requests") or {}).get("requests")), ("LLM errors", stats.get("llm_errors"))])
    outcomes = {r: n for r, n in c["dropped_by_reason"].items() if r != "beyond unify.max_segments"}
    cats = ["accepted", *sorted(outcomes, key=lambda r: -outcomes[r])]
    vals = [c["kept"], *(outcomes[r] for r in cats[1:])]
    s.image(figures.data_uri(figures.stacked_bars(cats, {"segments": vals}, {"segments": "tab:blue"},
                                                  "what became of the segments sent to the LLM", "segments")),
            "unification outcomes", "accepted pairs and each drop reason (after the allowed regenerations)")
    if c["dropped_by_reason"].get("beyond unify.max_segments"):
        s.text(f"{c['dropped_by_reason']['beyond unify.max_segments']:,} segments were not sent "
               "(beyond unify.max_segments).")
    hist = stats.get("deviation_hist") or {}
    if hist:
        s.table(["check:score bin", "answers"], [[k, v] for k, v in sorted(hist.items())],
                "deviation scores of accepted and rejected answers")
    for p in stats.get("plots") or []:
        s.step_plot(st, p, "deviation scores", "deviation score of every checked answer (Jaccard or embedding)")
    return s


@on_step("unify", "pairs", "A sample of the unified pairs")
def pairs(s: Section, st: StepOutput) -> Section | None:
    rel = (st.stats.get("release") or {}).get("jsonl")
    path = st.path(rel)
    recs = jsonl_head(path, PAIRS_SHOWN) if path else []
    if not recs:
        return _not_run(s.id, s.title, f"the unification released no pairs ({path or 'no release file'})")
    rows = []
    for r in recs:
        turns = r.get("conversations") or []
        q = next((t.get("value", "") for t in turns if t.get("from") == "human"), "")
        a = next((t.get("value", "") for t in turns if t.get("from") == "gpt"), "")
        rows.append([r.get("id", ""), r.get("source", ""), _cut(q), _cut(a)])
    s.table(["id", "source", "question", "answer"], rows,
            f"the first {len(rows)} of {st.stats['release'].get('rows', len(rows)):,} pairs in {rel}")
    return s


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + " ..."


@on_step("sample", "sample", "Sampler: the source mixture over training")
def sampler(s: Section, st: StepOutput) -> Section | None:
    stats = st.stats
    s.facts([("items ordered", stats.get("total")), ("beta", stats.get("beta")), ("preset", stats.get("preset")),
             ("seed", stats.get("seed")), ("key", stats.get("key"))])
    s.step_plot(st, stats.get("plot"), "source share over training",
                "share of each source in consecutive windows of the order (the paper's Figure 4)")
    s.table(["source", "type", "K", "weight", "epochs", "items", "dropped", "ordered"],
            [[x["name"], x["type"], x["K"], x["weight"], x["epochs"], x["items"], x.get("dropped", 0), x["count"]]
             for x in stats.get("sources", [])])
    return s


@on_step("pack", "pack", "Packing efficiency")
def packing(s: Section, st: StepOutput) -> Section | None:
    p = st.stats
    smp = p.get("samples", {})
    s.facts([("sequences", p.get("num_sequences")), ("max_seq_len", p.get("max_seq_len")),
             ("global batch", p.get("global_batch_size")), ("optimizer steps", p.get("num_steps")),
             ("real-token fraction", p.get("real_token_fraction")),
             ("real-token fraction incl. empty padding rows", p.get("real_token_fraction_all_rows")),
             ("tokens with loss (answers)", f"{p['trained_tokens']:,} of {p['tokens']:,} ({_pct(p['trained_tokens'], p['tokens'])})"
              if p.get("tokens") else None),
             ("samples packed / truncated / dropped",
              f"{smp.get('packed', 0):,} / {smp.get('truncated', 0):,} / {smp.get('dropped', 0):,}"),
             ("fill", (p.get("rules") or {}).get("fill")), ("template", p.get("template"))])
    s.step_plot(st, p.get("plot"), "packing", "left: sample lengths; right: real tokens per packed sequence")
    return s


@on_step("train", "train", "Training: loss and throughput")
def training(s: Section, st: StepOutput) -> Section | None:
    t = st.stats
    metrics = jsonl_head(st.dir / "train_log" / "metrics.jsonl", MAX_ROWS)
    last = {r["step"]: r for r in metrics if "step" in r}  # a resumed run rewrites steps: the last record wins
    metrics = [last[k] for k in sorted(last)]
    tps = [r["tokens_per_s"] for r in metrics if r.get("tokens_per_s")]
    s.facts([("steps", t.get("steps")), ("first loss", t.get("first_loss")), ("last loss", t.get("last_loss")),
             ("mean step seconds", t.get("mean_step_seconds")),
             ("median tokens/s", sorted(tps)[len(tps) // 2] if tps else None),
             ("workers", t.get("num_workers")), ("ZeRO stage", t.get("zero_stage")),
             ("sample isolation", t.get("sample_isolation")), ("restores", len(t.get("restores") or [])),
             ("model", t.get("model"))])
    s.step_plot(st, t.get("loss_plot"), "training loss", "loss on answer tokens and the learning rate per step")
    if metrics:
        s.image(figures.data_uri(figures.throughput(metrics)), "training throughput",
                "tokens per second over all workers per step (the first steps include warm-up)")
    else:
        s.text("No train_log/metrics.jsonl: no throughput to show.")
    return s


@on_step("eval", "eval", "Evaluation")
def evaluation(s: Section, st: StepOutput) -> Section | None:
    res = read_json(st.dir / "results.json") or st.stats
    models = list(res.get("models", {}))
    rows = []
    for bench, per_model in (res.get("results") or {}).items():
        for m in models:
            r = per_model.get(m)
            if r:
                ll = r.get("loglik") or {}
                rows.append([bench, m, r["n"], f"{100 * (r['accuracy'] or 0):.1f}", r["answered"], r["unanswered"],
                             r["errored"], f"{100 * ll['accuracy']:.1f}" if ll.get("accuracy") is not None else "-"])
    if not rows:
        return _not_run(s.id, s.title, "the evaluation has no results (no benchmark items)")
    s.table(["benchmark", "model", "n", "accuracy %", "answered", "unanswered", "errors", "log-likelihood accuracy %"],
            rows, "zero-shot multiple choice; accuracy = correct / n, answers read from the free-text reply")
    dec = res.get("decontam") or st.stats.get("decontam") or {}
    if dec:
        s.table(["benchmark", "items", "contaminated", "too short to check"],
                [[b, d.get("items"), d.get("contaminated"), d.get("too_short")] for b, d in dec.items()],
                "benchmark items found in the training data")
    s.step_plot(st, st.stats.get("plot") or res.get("plot"), "accuracy", "accuracy per benchmark and model")
    return s


SECTIONS = (overview, funnel, density, quality, dedup, unify, pairs, sampler, packing, training, evaluation)


def build_sections(run: RunFiles) -> list[Section]:
    return [f(run) for f in SECTIONS]
