"""Entrypoint for `ray job submit -- python jobs/evaluate.py --config ... --benchmark PATH --output ...`.

Takes the same options as `huatuo-ray eval`; RAY_ADDRESS (set by `ray job submit`) selects the cluster.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working dir uploaded by ray job submit

from huatuo_ray.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["eval", *sys.argv[1:]])
