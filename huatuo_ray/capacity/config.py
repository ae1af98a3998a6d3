"""The capacity file (``cluster/capacity.yaml``): the cluster's node types and the figures nobody measured here.

Node types name the launcher entry (``cluster/ray-cluster-aws.yaml``) and the KubeRay worker group
(``cluster/kuberay/raycluster.yaml``) they describe; tests/cluster checks that the three agree and that every
worker the recipes ask for fits a node type that has its accelerator. ``configured`` holds the rates a
development machine without GPUs cannot measure (embedding, generation, training MFU) and the volumes a
terabyte corpus would have; each carries the ``source`` the plan prints beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from huatuo_ray.errors import InputError, RecipeError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeType(_Strict):
    instance_type: str
    cpus: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpus: int = Field(0, ge=0)
    accelerator: str | None = None
    gpu_memory_gib: float | None = None
    max_workers: int = Field(ge=0)
    launcher: str | None = Field(None, description="Its available_node_types key in the launcher config.")
    kuberay: str | None = Field(None, description="Its workerGroupSpecs groupName in the KubeRay RayCluster.")
    source: str = Field(description="Where the hardware figures come from.")

    def resources(self) -> dict[str, float]:
        """The Ray resources a node of this type offers (``accelerator_type:X`` as Ray names it)."""
        out = {"CPU": self.cpus}
        if self.gpus:
            out["GPU"] = float(self.gpus)
        if self.accelerator:
            out[f"accelerator_type:{self.accelerator}"] = 1.0
        return out


class Figure(_Strict):
    value: float = Field(gt=0)
    source: str


class Configured(_Strict):
    cpu_speed: Figure  # a cluster vCPU relative to one core of the calibration machine
    embed_rows_per_s_per_gpu: Figure
    generation_tokens_per_s_per_gpu: Figure
    train_mfu: Figure
    endpoint_gpus: Figure  # GPUs behind llm.backend = endpoint (a deployment outside the cluster)
    eval_items: Figure  # benchmark items when the recipe's benchmark files are not on this machine
    pairs_per_corpus_tb: Figure  # unified pairs from a TB of raw corpus
    unify_acceptance: Figure  # pairs / segments sent
    attempts_per_segment: Figure  # question + answer rounds per segment, regenerations included
    tokens_per_pair: Figure
    sft_conversations: Figure  # when --sft-size is not given
    tokens_per_sft_conversation: Figure


class Capacity(_Strict):
    head: NodeType
    node_types: dict[str, NodeType]
    configured: Configured


def load_capacity(path: str | Path) -> Capacity:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read the capacity file {p}: {e.strerror}") from None
    try:
        return Capacity.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        raise RecipeError(f"invalid capacity file ({p}): {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "PB": 1e15,
         "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50}


def parse_size(text: str) -> int:
    """``1.1TB`` -> 1,100,000,000,000 bytes (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB of 1024)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in UNITS:
        raise InputError(f"not a size: {text!r} (e.g. 1.1TB, 500GB, 2.5MiB, 123456)")
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])
