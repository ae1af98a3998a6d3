"""Write the minimal copy of KubeRay's CRD schemas that tests/cluster validates the manifests against.

    git -C KUBERAY show v1.7.0:ray-operator/config/crd/bases/ray.io_rayclusters.yaml > /tmp/rayclusters.yaml
    git -C KUBERAY show v1.7.0:ray-operator/config/crd/bases/ray.io_rayjobs.yaml > /tmp/rayjobs.yaml
    python scripts/vendor_kuberay_crds.py --version v1.7.0 --commit $(git -C KUBERAY rev-parse v1.7.0) \
        /tmp/rayclusters.yaml /tmp/rayjobs.yaml

From each CRD it keeps the ``v1`` version's ``openAPIV3Schema`` and changes it only in form: ``description``
texts and the ``status`` subtree (written by the operator, never by a manifest) are left out, and subtrees that
repeat (the pod template, the RayCluster spec inside a RayJob) are stored once under ``$defs`` and referenced.
The fields, types and constraints are KubeRay's. The output is tests/cluster/kuberay_crd/crds.json; its NOTICE.md
names the source and the licence (Apache-2.0).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from huatuo_ray.io.atomic import write_text_atomic  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "cluster" / "kuberay_crd" / "crds.json"
MIN_HOIST = 1500  # characters: smaller repeated subtrees stay inline


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def subtrees(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from subtrees(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from subtrees(v, path + (str(i),))


def replace(node, canon: str, ref: dict):
    if isinstance(node, dict):
        if json.dumps(node, sort_keys=True) == canon:
            return ref
        return {k: replace(v, canon, ref) for k, v in node.items()}
    if isinstance(node, list):
        return [replace(v, canon, ref) for v in node]
    return node


def hoist(doc: dict) -> dict:
    """Store every repeated subtree (largest first) once under ``$defs``, named after where it first occurs."""
    defs: dict[str, dict] = {}
    while True:
        seen: Counter = Counter()
        where: dict[str, tuple] = {}
        for root_name, root in [*doc.items(), *(("$defs/" + k, v) for k, v in defs.items())]:
            for path, sub in subtrees(root, (root_name,)):
                canon = json.dumps(sub, sort_keys=True)
                if len(canon) >= MIN_HOIST:
                    seen[canon] += 1
                    where.setdefault(canon, path)
        repeated = [c for c, n in seen.items() if n > 1]
        if not repeated:
            return {"$defs": defs, **doc}
        canon = max(repeated, key=len)
        path = [p for p in where[canon] if p not in ("properties", "items") and not p.isdigit()]
        name = ".".join(path[-2:]).replace("$defs/", "")
        while name in defs:
            name += "_"
        ref = {"$ref": f"#/$defs/{name}"}
        doc = {k: replace(v, canon, ref) for k, v in doc.items()}
        defs = {k: replace(v, canon, ref) for k, v in defs.items()}
        defs[name] = json.loads(canon)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("crds", nargs="+", type=Path, help="CRD YAML files (ray.io_rayclusters.yaml, ray.io_rayjobs.yaml)")
    ap.add_argument("--version", required=True, help="the KubeRay release, e.g. v1.7.0")
    ap.add_argument("--commit", required=True, help="the commit of that release")
    args = ap.parse_args()
    kinds = {}
    for f in args.crds:
        crd = yaml.safe_load(f.read_text(encoding="utf-8"))
        v1 = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schema = strip(v1["schema"]["openAPIV3Schema"])
        schema["properties"].pop("status", None)
        kinds[crd["spec"]["names"]["kind"]] = schema
    doc = hoist(kinds)
    doc = {"$comment": (f"KubeRay {args.version} ({args.commit}) CRD schemas, ray.io/v1, from "
                        "ray-operator/config/crd/bases/; Apache-2.0, see NOTICE.md. Modified by "
                        "scripts/vendor_kuberay_crds.py: descriptions and status removed, repeated subtrees moved "
                        "to $defs."), "version": args.version, "commit": args.commit, **doc}
    write_text_atomic(OUT, json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{OUT}: {OUT.stat().st_size:,} bytes; kinds {', '.join(kinds)}; {len(doc['$defs'])} shared subtrees")


if __name__ == "__main__":
    main()
