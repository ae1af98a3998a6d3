"""Where the curation job's worker time goes: CPU seconds per GB of each operator over warm work units, in one
process, next to the bare Aho-Corasick scan of the same texts in the same process.

Reads the first ``N + 1`` work units of a JSONL folder (e.g. the input ``bench_curate_throughput.py --keep`` left
under /tmp), runs the first once to warm the process (imports, stage set-up, Arrow), then the next N through
read -> density -> segment -> write exactly as a Ray task does (the fused ``curate_units`` operator, or on older
code the separate ``read_units`` / ``apply_stage`` / ``write_units`` operators with the payload pickled between
them), with the operators' clocks switched to CPU time; "between operators" is what the whole loop took beyond
the operators' own seconds. Run it with another checkout's interpreter to compare code versions::

    .venv/bin/python benchmarks/profile_curate_operators.py /tmp/bench_throughput_0.25GB/in 2
"""
import json
import os
import sys
import tempfile
import time
from pathlib import Path
import numpy as np
from huatuo_ray.recipe import Recipe, SourceConfig
from huatuo_ray.curate import pipeline
try:  # the operators have a module of their own since 2cfc508's successor; before, they were in the pipeline's
    from huatuo_ray.curate import operators as P
except ImportError:
    P = pipeline
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.readers import read_unit
def main() -> None:
    inp = sys.argv[1]; nunits = int(sys.argv[2])
    recipe = Recipe(sources=[SourceConfig(name="input", path=inp, type="web", language="detect")])
    recipe = recipe.model_copy(update={"curate": recipe.curate.model_copy(update={"stages": ["density", "segment"]})})
    units = pipeline.plan_curation(recipe)[:nunits + 1]
    rj = recipe.model_dump_json(); cj = recipe.curate.model_dump_json()
    out = Path(tempfile.mkdtemp()); OutputDir(out).open([u.unit_id for u in units])
    clock = time.process_time
    P.time.perf_counter = clock
    fused = hasattr(P, "curate_units")
    def _run(us):
        secs = {}
        for u in us:
            batch = {"unit": np.array([json.dumps(u.to_dict())], dtype=object)}
            if fused:
                rows = list(P.curate_units(batch, rj, str(out), ["density", "segment"], cj, {}, True))
            else:
                rows = []
                for b in P.read_units(batch, rj, str(out)):
                    for n in ("density", "segment"):
                        b = P.apply_stage(b, n, cj, None)
                    rows.append(P.write_units(b, str(out), True))
            for row in rows:
                for k, v in json.loads(row["marker"][0])["seconds"].items(): secs[k] = secs.get(k, 0) + v
        return secs
    _run(units[:1])
    stage = P._stage("density", cj, None); scorer = stage.scorer; automata = scorer.automata
    texts = []
    for u in units[1:]:
        texts += [(d["text"], d["language"]) for d in read_unit(u, recipe.sources[0], recipe.curate.max_record_bytes, 300).docs]
    b = sum(u.end - u.start for u in units[1:]) / 1e9
    print("package", P.__file__, "fused" if fused else "separate operators", "load", os.getloadavg())
    for rep in range(2):
        c = clock(); m = 0
        for t, lang in texts:
            if lang in automata:
                for _ in automata[lang].iter(scorer.units(t, lang)): m += 1
        bare = clock() - c
        c = clock(); secs = _run(units[1:]); total = clock() - c
        between = total - sum(secs.values())
        print(f"bare {bare / b:.1f} CPU s/GB; operators {total / b:.1f} CPU s/GB:", {k: round(v / b, 1) for k, v in secs.items()},
              f"between operators {between / b:.1f}; CPU ratio bare / operators {bare / total:.3f}", flush=True)


if __name__ == "__main__":
    main()
