"""The cluster configs a cluster accepts.

- cluster/ray-cluster-aws.yaml passes Ray's own validator (ray.autoscaler._private.util.validate_config, the
  check `ray up` makes, after prepare_config fills the defaults; it validates against ray/autoscaler/ray-schema.json).
- cluster/kuberay/*.yaml name only fields of the KubeRay CRDs (v1.7.0, ray.io/v1): validated against their
  openAPIV3Schema (tests/cluster/kuberay_crd/, see its NOTICE.md), made strict here so unknown fields fail.
- cluster/capacity.yaml's node types agree with both, and every worker the production recipes ask for
  (curate.resources, llm.engine, train) fits the node type meant to run it, accelerator type included.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from huatuo_ray.capacity.config import load_capacity
from huatuo_ray.recipe import load_recipe
from tests.conftest import REPO

CLUSTER = REPO / "cluster"
CRDS = Path(__file__).parent / "kuberay_crd" / "crds.json"
RECIPES = ["configs/huatuogpt2.yaml", "configs/qwen2.5-7b.yaml", "configs/llama3-8b.yaml"]
BACKENDS = [[], ["llm.backend=vllm_engine"]]  # the endpoint, and vLLM inside the cluster (the recipes' alternative)


def launcher() -> dict:
    return yaml.safe_load((CLUSTER / "ray-cluster-aws.yaml").read_text())


def manifests() -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((CLUSTER / "kuberay").glob("*.yaml"))}


def ray_validate(config: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(config)))


def test_the_launcher_config_passes_rays_validator():
    ray_validate(launcher())


def test_rays_validator_refuses_what_ray_up_would():
    bad = launcher()
    bad["available_node_types"]["gpu_worker"]["resource"] = bad["available_node_types"]["gpu_worker"].pop("resources")
    with pytest.raises(jsonschema.ValidationError):
        ray_validate(bad)
    bad = launcher()
    bad["head_node_type"] = "no_such_type"
    with pytest.raises(ValueError, match="head_node_type"):
        ray_validate(bad)


def strict(node):
    """The CRD schema as the API server applies it, except that unknown fields are errors, not pruned."""
    if isinstance(node, dict):
        out = {k: strict(v) for k, v in node.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


@pytest.fixture(scope="module")
def crd_validators() -> dict[str, jsonschema.protocols.Validator]:
    doc = strict(json.loads(CRDS.read_text()))
    return {kind: jsonschema.Draft202012Validator({**doc[kind], "$defs": doc["$defs"]}) for kind in ("RayCluster", "RayJob")}


def crd_errors(validators, manifest: dict) -> list[str]:
    assert manifest["apiVersion"] == "ray.io/v1"
    v = validators[manifest["kind"]]
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(manifest)]


@pytest.mark.parametrize("name", [p.name for p in sorted((CLUSTER / "kuberay").glob("*.yaml"))])
def test_kuberay_manifests_name_only_crd_fields(crd_validators, name):
    assert crd_errors(crd_validators, manifests()[name]) == []


def test_the_crd_check_refuses_unknown_and_mistyped_fields(crd_validators):
    rc = manifests()["raycluster.yaml"]
    bad = copy.deepcopy(rc)
    bad["spec"]["workerGroupSpec"] = bad["spec"].pop("workerGroupSpecs")  # a typo KubeRay would silently prune
    bad["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resource"] = {}
    bad["spec"]["headGroupSpec"]["rayStartParams"]["num-gpus"] = 0  # must be a string
    errors = crd_errors(crd_validators, bad)
    assert any("workerGroupSpec' was unexpected" in e for e in errors), errors
    assert any("'resource' was unexpected" in e for e in errors), errors
    assert any("num-gpus: 0 is not of type 'string'" in e for e in errors), errors
    job = copy.deepcopy(manifests()["rayjob-run.yaml"])
    job["spec"]["entryPoint"] = job["spec"].pop("entrypoint")
    assert any("entryPoint' was unexpected" in e for e in crd_errors(crd_validators, job))


def _kuberay_groups() -> dict[str, dict]:
    rc = manifests()["raycluster.yaml"]["spec"]
    return {g["groupName"]: g for g in rc["workerGroupSpecs"]}


def _kuberay_resources(group: dict) -> dict[str, float]:
    """What Ray sees on a KubeRay worker: CPUs and GPUs from the container limits, custom ones from rayStartParams."""
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    out = {"CPU": float(limits["cpu"])}
    if "nvidia.com/gpu" in limits:
        out["GPU"] = float(limits["nvidia.com/gpu"])
    custom = group.get("rayStartParams", {}).get("resources")
    if custom:
        out.update(json.loads(json.loads(custom)))  # KubeRay's format: a JSON string holding a JSON object
    return out


def test_node_types_agree_with_the_launcher_and_kuberay():
    cap, launch, groups = load_capacity(CLUSTER / "capacity.yaml"), launcher(), _kuberay_groups()
    types = launch["available_node_types"]
    assert cap.head.launcher == launch["head_node_type"]
    assert types[cap.head.launcher]["node_config"]["InstanceType"] == cap.head.instance_type
    assert set(types) == {cap.head.launcher, *(t.launcher for t in cap.node_types.values())}
    assert set(groups) == {t.kuberay for t in cap.node_types.values()}
    for name, t in cap.node_types.items():
        lt, g = types[t.launcher], groups[t.kuberay]
        assert lt["node_config"]["InstanceType"] == t.instance_type, name
        assert lt["max_workers"] == t.max_workers == g["maxReplicas"], name
        # the launcher detects CPUs and GPUs from the instance type; custom resources must be declared
        assert {k: v for k, v in lt["resources"].items()} == {k: v for k, v in t.resources().items()
                                                              if k not in ("CPU", "GPU")}, name
        assert _kuberay_resources(g) == t.resources(), name
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert float(limits["memory"].removesuffix("Gi")) <= t.memory_gib, name


def _asks(recipe):
    from huatuo_ray.run.registry import STEPS

    return [(s.name, a) for s in STEPS if s.enabled(recipe) for a in s.resources(recipe)]


@pytest.mark.parametrize("backend", BACKENDS, ids=["endpoint", "vllm_engine"])
@pytest.mark.parametrize("config", RECIPES)
def test_every_worker_the_recipe_asks_for_fits_its_node_type(config, backend):
    recipe = load_recipe(REPO / config, backend)
    cap = load_capacity(CLUSTER / "capacity.yaml")
    for step, ask in _asks(recipe):
        want = {"CPU": ask.cpus, **({"GPU": ask.gpus} if ask.gpus else {}),
                **({f"accelerator_type:{ask.accelerator}": 0.001} if ask.accelerator else {})}
        hosts = {n: t for n, t in cap.node_types.items() if all(t.resources().get(k, 0) >= v for k, v in want.items())}
        assert hosts, f"{config}: {step} asks for {ask}: no node type has {want}"
        if ask.gpus:  # meant for the GPU nodes: every GPU node type that could host it declares the accelerator
            assert all(t.gpus for t in hosts.values())
            n = ask.min_count if ask.min_count is not None else ask.count
            assert n * ask.gpus <= sum(t.gpus * t.max_workers for t in hosts.values()), f"{config}: {step} {ask}"
        else:
            assert any(not t.gpus for t in hosts.values()), f"{config}: {step} {ask} fits only GPU nodes"
    acc = recipe.train.accelerator_type
    gpu = [t for t in cap.node_types.values() if t.accelerator == acc]
    assert gpu, f"{config}: train.accelerator_type {acc} is on no node type"
    if recipe.llm.backend == "vllm_engine":
        assert recipe.llm.engine.accelerator_type in {t.accelerator for t in cap.node_types.values()}


@pytest.mark.parametrize("config", RECIPES)
def test_the_training_run_fits_the_gpu_memory_of_its_node_type(config):
    from huatuo_ray.train.dry_run import dry_run

    recipe = load_recipe(REPO / config, [])
    node = next(t for t in load_capacity(CLUSTER / "capacity.yaml").node_types.values()
                if t.accelerator == recipe.train.accelerator_type)
    r = dry_run(recipe.train, gpu_memory_gib=node.gpu_memory_gib)
    assert r["fits"], f"{config}: {r['memory_per_gpu']['total_gib']:.1f} GiB per GPU > {node.gpu_memory_gib} GiB"
    assert recipe.train.num_workers <= node.gpus * node.max_workers
