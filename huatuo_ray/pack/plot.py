"""The pack job's figure: sample lengths in tokens, and how full the packed sequences are."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_pack_plot(manifest: dict, path: Path) -> str | None:
    """Two panels: histogram of sample lengths (with max_seq_len), histogram of sequence fill."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lengths = np.asarray(manifest["length_hist"]["counts"], dtype=float)
    fill = np.asarray(manifest.get("fill_hist") or [], dtype=float)
    if not lengths.size and not fill.size:
        return None
    width, L = manifest["length_hist"]["bin"], manifest["max_seq_len"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    if len(lengths) > 100:  # at most 100 bins: merge neighbours
        k = -(-len(lengths) // 100)
        lengths = np.pad(lengths, (0, (-len(lengths)) % k)).reshape(-1, k).sum(axis=1)
        width *= k
    a.stairs(lengths, np.arange(len(lengths) + 1) * width, fill=True)
    a.axvline(L, color="red", linestyle="--", label=f"max_seq_len {L}")
    a.set_xlabel("sample length (tokens)")
    a.set_ylabel("samples")
    s = manifest["samples"]
    a.set_title(f"{s['total']:,} samples: {s['packed']:,} packed, {s['truncated']:,} truncated, {s['dropped']:,} dropped",
                fontsize="medium")
    a.legend()
    if fill.size:
        b.stairs(fill, np.arange(len(fill) + 1) * 5, fill=True)
    b.set_xlabel("real tokens in the sequence (% of max_seq_len; last bin: 95-100%)")
    b.set_ylabel("sequences (incl. empty padding sequences)")
    b.set_title(f"real-token fraction {manifest['real_token_fraction']:.4f} ({manifest['rules']['fill']} fill), "
                f"{manifest['num_sequences']:,} sequences", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return "plots/pack.png"
