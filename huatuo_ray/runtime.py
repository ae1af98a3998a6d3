"""Ray connection shared by the CLI and jobs/: the cluster named by RAY_ADDRESS, else a local Ray."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray

import huatuo_ray
from huatuo_ray.recipe import RayConfig

log = logging.getLogger(__name__)


def init_ray(cfg: RayConfig) -> str:
    """Connect to the configured cluster or start a local Ray; returns "cluster" or "local".

    Inside ``ray job submit`` the driver already runs on the cluster and RAY_ADDRESS is set, so
    the same call connects there. When connecting to a cluster from outside, the package is shipped
    to the workers with ``py_modules``.
    """
    if ray.is_initialized():
        return "cluster" if os.environ.get("RAY_ADDRESS") or cfg.address else "local"
    address = os.environ.get("RAY_ADDRESS") or cfg.address
    env = {"env_vars": {"PYTHONHASHSEED": "0"}}
    if address:
        env["py_modules"] = [str(Path(huatuo_ray.__file__).parent)]
        ray.init(address=address, runtime_env=env, log_to_driver=True)
        log.info("connected to Ray cluster at %s", address)
        return "cluster"
    kwargs = {}
    if cfg.num_cpus:
        kwargs["num_cpus"] = cfg.num_cpus
    if cfg.object_store_memory_mb:
        kwargs["object_store_memory"] = cfg.object_store_memory_mb * 1024 * 1024
    if cfg.metrics_export_port:
        kwargs["_metrics_export_port"] = cfg.metrics_export_port
    ray.init(address="local", include_dashboard=False, runtime_env=env, **kwargs)
    log.info("started a local Ray with %s CPUs", ray.cluster_resources().get("CPU"))
    return "local"


def start_data_actors() -> None:
    """Start Ray Data's autoscaling coordinator and stats actor now, while the driver still plans, instead of when
    the first dataset starts executing: each is a process that imports Ray Data (about 1.5 CPU s), and until the
    coordinator answers, Ray Data (2.60) sees no cluster resources and runs one task at a time. Best effort:
    nothing happens if Ray Data moved them (the names are internal)."""
    try:
        from ray.data._internal.cluster_autoscaler import get_or_create_autoscaling_coordinator
        from ray.data._internal.stats import get_or_create_stats_actor
    except ImportError:
        return
    get_or_create_autoscaling_coordinator()
    get_or_create_stats_actor()
