"""eval.decontam.drop_contaminated: a training sample that holds a benchmark item is left out of the sampler's
order, counted with its reason, and the other samples are ordered as before."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq

from huatuo_ray.recipe import Recipe
from tests.conftest import REPO, run_steps

BENCH = REPO / "examples" / "demo_benchmarks" / "cmmlu"


def test_contaminated_sft_samples_are_dropped_before_sampling(tmp_path):
    row = next(csv.DictReader(open(BENCH / "clinical_knowledge.csv", encoding="utf-8")))
    copied = f"{row['Question']}\nA. {row['A']}\nB. {row['B']}\nC. {row['C']}\nD. {row['D']}"
    convs = [{"id": f"ok{i}", "conversations": [{"from": "human", "value": f"头痛第{i}天怎么办？"},
                                               {"from": "gpt", "value": "多休息，必要时就医。"}]} for i in range(4)]
    convs.append({"id": "leak", "conversations": [{"from": "human", "value": copied}, {"from": "gpt", "value": "D"}]})
    (tmp_path / "sft.json").write_text(json.dumps(convs, ensure_ascii=False), encoding="utf-8")

    def recipe(drop: bool) -> Recipe:
        return Recipe.model_validate({
            "run": {"dir": str(tmp_path / f"run-{drop}")},
            "sources": [{"name": "sft", "path": str(tmp_path / "sft.json"), "type": "sft", "language": "zh"}],
            "eval": {"benchmarks": [{"path": str(BENCH), "format": "cmmlu"}], "decontam": {"drop_contaminated": drop}}})

    kept = run_steps(recipe(False), "sft", "sample")["sample"]
    dropped = run_steps(recipe(True), "sft", "sample")["sample"]
    assert kept["total"] == 5 and kept["counts"]["dropped"] == 0
    assert dropped["total"] == 4 and dropped["counts"]["dropped"] == 1
    assert list(dropped["counts"]["dropped_by_reason"]) == ["overlaps benchmark cmmlu (decontamination)"]
    assert dropped["sources"][0]["dropped"] == 1 and dropped["sources"][0]["items"] == 4
    order = pq.read_table(tmp_path / "run-True" / "sample" / "order").column("id").to_pylist()
    assert sorted(order) == ["ok0", "ok1", "ok2", "ok3"]
    report = json.loads((tmp_path / "run-True" / "sample" / "decontam" / "sft" / "report.json").read_text())
    assert report["benchmarks"]["cmmlu"]["contaminated"] == 1
