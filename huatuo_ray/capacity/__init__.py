"""The capacity plan: per-step rates measured here (``calibrate``), the cluster's node types and configured GPU
figures (``config``, ``cluster/capacity.yaml``), and the estimate of wall time and node-hours per step for a
corpus size (``plan``), every number tagged with where it comes from.

    huatuo-ray calibrate runs/local                                  # -> cluster/calibration.json
    huatuo-ray plan --config configs/huatuogpt2.yaml --corpus-size 1.1TB
"""
