"""The local recipe's sft -> sample -> pack -> train with ``run.dir`` in a bucket, on a Ray cluster of three nodes
on this machine (``ray.cluster_utils.Cluster``) that share no staging directory: the driver's node (no CPU for a
worker, as a production head node has no GPU) and two nodes of one CPU, one training worker each. Every node has
its own ``$HUATUO_RAY_STAGING``, so a worker can read only what its own node downloaded.

    python -m tests.train.two_nodes RUN_URI STAGING_BASE   (the bucket's endpoint and keys in the environment)

Prints the steps' stats as JSON on its last line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NODES = ("head", "a", "b")


def main() -> None:
    import ray
    from ray.cluster_utils import Cluster

    from tests.conftest import local_recipe, run_steps

    root, base = sys.argv[1], Path(sys.argv[2])
    env = {"PYTHONHASHSEED": "0"}
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "env_vars": {"HUATUO_RAY_STAGING": str(base / "head")}})
    for name in NODES[1:]:
        cluster.add_node(num_cpus=1, env_vars={"HUATUO_RAY_STAGING": str(base / name)})
    cluster.wait_for_nodes()
    os.environ["HUATUO_RAY_STAGING"] = str(base / "head")  # the driver's
    ray.init(address=cluster.address, runtime_env={"env_vars": env})
    try:
        recipe = local_recipe(root, "pack.max_seq_len=128", "train.max_seq_len=128", "train.max_steps=2",
                              "train.checkpoint_every=1", sources=("sft-medical",))
        stats = run_steps(recipe, "sft", "sample", "pack", "train")
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(stats, default=str))


if __name__ == "__main__":
    main()
