"""The sft step: every SFT source's records validated into release-format conversations, unit by unit.

Layout (one sub-folder per SFT source, so the sampler can read each source's conversations as they are)::

    DIR/<source>/kept/<unit>.parquet          id, conversations, source, source_type, language, path
    DIR/<source>/quarantined/<unit>.parquet   id, stage, reason, excerpt, source, path
    DIR/<source>/_markers/<unit>.json         the unit's ledger (written last)

Units run in order in this process (SFT data is small next to the corpus); ids must be unique within a source,
so a repeated id is quarantined with the path of its first occurrence. A rerun skips committed units.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from huatuo_ray import metrics
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import arrow_source, location
from huatuo_ray.io.units import WorkUnit, describe_units, missing_sources, plan_units
from huatuo_ray.job import Context, Plan, Step, counts
from huatuo_ray.ledger import Ledger, reason_key
from huatuo_ray.recipe import SFT_TYPE, Recipe, SourceConfig
from huatuo_ray.sft.convert import convert_unit, kept_table


def sft_sources(recipe: Recipe) -> list[SourceConfig]:
    """The recipe's sources of type sft (they bypass curation and unification)."""
    return [s for s in recipe.sources if s.type == SFT_TYPE]


def source_dir(root: Path, source: str) -> OutputDir:
    return OutputDir(location(root) / source)


class SftStep(Step):
    name = "sft"
    summary = "validate SFT conversations into the release format"

    def enabled(self, recipe: Recipe) -> bool:
        return bool(sft_sources(recipe))

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"sources": [s.model_dump(mode="json") for s in sft_sources(recipe)],
                "sft": recipe.sft.model_dump(mode="json", exclude={"unit_bytes"})}

    def plan(self, ctx: Context) -> Plan:
        sources = sft_sources(ctx.recipe)
        units = plan_units(sources, ctx.recipe.sft.unit_bytes, 1 << 62)
        line, files = describe_units(sources, units)
        return Plan([u.unit_id for u in units], f"SFT: {line}", detail=units, inputs=files)

    def problems(self, recipe: Recipe) -> list[str]:
        return missing_sources(sft_sources(recipe))

    def units_done(self, ctx: Context, plan: Plan) -> int:
        return sum(source_dir(ctx.output, u.source).is_done(u.unit_id) for u in plan.detail)

    def needs_ray(self, ctx: Context, plan: Plan) -> bool:
        return False

    def remote_unsupported(self, ctx: Context) -> str | None:
        return None

    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        sources = {s.name: s for s in sft_sources(ctx.recipe)}
        units: list[WorkUnit] = plan.detail
        for name in sources:
            source_dir(ctx.output, name).open([u.unit_id for u in units if u.source == name])
        seen: dict[str, dict[str, str]] = {name: {} for name in sources}
        done = ran = 0
        for i, unit in enumerate(units):
            out = source_dir(ctx.output, unit.source)
            if out.is_done(unit.unit_id):  # rebuild the ids seen so far from the committed unit
                done += 1
                kept = out.path("kept", unit.unit_id)
                if kept.exists():
                    t = pq.read_table(arrow_source(kept), columns=["id", "path"])
                    seen[unit.source].update(zip(t.column("id").to_pylist(), t.column("path").to_pylist()))
                continue
            res = convert_unit(unit, sources[unit.source], ctx.recipe.sft, seen[unit.source])
            ledger = Ledger(records=res.records, quarantined=Counter(reason_key(q["reason"]) for q in res.quarantined))
            ledger.check(f"unit {unit.unit_id}")
            out.write_rows(unit.unit_id, {"kept": kept_table(res.kept), "quarantined": res.quarantined})
            out.write_marker(unit.unit_id, {"unit": unit.to_dict(), "unit_id": unit.unit_id, "ledger": ledger.to_dict()})
            ran += 1
            metrics.units(self.name, i + 1, len(units))
            ctx.echo(f"[sft] units {i + 1}/{len(units)}  {unit.relpath}: {len(res.kept):,} conversations, "
                     f"{len(res.quarantined):,} quarantined")
        return finish(ctx.output, units, sources, done, ran)


def finish(root: Path, units: list[WorkUnit], sources: dict[str, SourceConfig], done: int, ran: int) -> dict[str, Any]:
    """Add up the unit ledgers per source and check them against the files."""
    total, by_source = Ledger(), {}
    for unit in units:
        out = source_dir(root, unit.source)
        led = Ledger.from_dict(out.markers([unit.unit_id])[0]["ledger"])
        rows = out.row_counts(unit.unit_id)
        if rows["kept"] != led.kept_rows or rows["quarantined"] != led.quarantined_total:
            from huatuo_ray.errors import LedgerError

            raise LedgerError(f"sft unit {unit.unit_id}: rows on disk {rows} != ledger")
        total.merge(led)
        by_source.setdefault(unit.source, Ledger()).merge(led)
    total.check("sft")
    return {
        "units": {"total": len(units), "done_before_this_run": done, "run_now": ran},
        "counts": counts(total.kept_rows, quarantined=total.quarantined_total,
                         quarantined_by_reason=dict(total.quarantined), item="records"),
        "by_source": {name: {"dir": str(location(root) / name / "kept"), "type": sources[name].type,
                             "conversations": led.kept_rows, "quarantined": led.quarantined_total,
                             "quarantined_by_reason": dict(led.quarantined)} for name, led in sorted(by_source.items())},
        "ledger": total.to_dict(),
    }
