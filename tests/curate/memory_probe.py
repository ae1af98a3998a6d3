"""Run one work unit through read -> density -> segment -> write in this process, as a fused Ray Data task runs
it (the same operator functions, one part at a time), and print the peak RSS in MiB: of the whole process
(``peak_mib``) and during the unit's work, stage set-up included (``work_peak_mib``, sampled every 10 ms; the
interpreter's start-up has a transient peak of its own, larger in some environments).

    python tests/curate/memory_probe.py INPUT OUTPUT PART_BYTES

Used by test_memory.py in a fresh process, so the peak is this unit's work and nothing else.
"""

from __future__ import annotations

import json
import resource
import sys
import threading

import psutil

import numpy as np

from huatuo_ray.curate.parts import PartTracker, commit
from huatuo_ray.curate.operators import apply_stage, read_units, write_units
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import Recipe, SourceConfig


def main(path: str, output: str, part_bytes: int) -> None:
    recipe = Recipe(sources=[SourceConfig(name="big", path=path, type="web", language="detect")],
                    curate={"stages": ["density", "segment"], "part_bytes": part_bytes})
    (unit,) = plan_units(recipe.sources, recipe.curate.unit_bytes, recipe.curate.parquet_rows_per_unit)
    OutputDir(output).open([unit.unit_id])
    curate_json = recipe.curate.model_dump_json()
    batch = {"unit": np.array([json.dumps(unit.to_dict())], dtype=object)}
    tracker, marker = PartTracker(), None
    work, done = [0], threading.Event()

    def sample() -> None:  # RSS during the unit's work, apart from the interpreter's start-up
        me = psutil.Process()
        while not done.is_set():
            work[0] = max(work[0], me.memory_info().rss)
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for out in read_units(batch, recipe.model_dump_json(), output):
        for name in ("density", "segment"):
            out = apply_stage(out, name, curate_json)
        row = json.loads(write_units(out, output, True)["marker"][0])
        parts = tracker.add(row) if "part" in row else None
        marker = json.loads(commit(output, parts)) if parts else row if "part" not in row else marker
    done.set()
    sampler.join()
    print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "work_peak_mib": work[0] / 2**20,
                      "parts": marker.get("parts", 1), "ledger": marker["ledger"]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
