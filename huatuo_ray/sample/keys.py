"""Per-item sort keys for priority sampling without replacement (Efraimidis-Spirakis).

Drawing items one at a time without replacement, each with probability proportional to its
weight w among those left, gives exactly the same distribution of orders as sorting all items by
``key = -ln(U) / w`` with independent ``U ~ Uniform(0, 1)``: ``-ln(U) / w`` is an exponential
variable of rate ``w``, the smallest of independent exponentials is item ``x`` with probability
``w_x / sum(w)``, and by memorylessness the rest of the race is the same draw over the remaining
items. With ``w = beta^K_i`` for every item of source ``i`` this is the paper's
``P_t(x in D_i) = |D_i^t| beta^K_i / sum_j |D_j^t| beta^K_j``, step by step.

``U`` is a pure function of (seed, source name, epoch, item id): a 64-bit hash of the id, mixed
with a per-(seed, source, epoch) stream through splitmix64. A key therefore never depends on
which block, task or machine computes it, so any partitioning of the items gives the same keys.
Everything here is vectorised numpy; ``-ln(U)`` uses only IEEE add/multiply/divide (no SIMD
``log``, whose last bit differs between CPUs), so keys are bit-identical on every machine.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STRING_SEED = np.uint64(0x6A09E667F3BCC909)
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): e * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_SQRT_HALF = 0.7071067811865476
_ATANH_TERMS = 11  # s^2 <= 0.0295, so 11 odd terms reach below 1e-17 relative


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 output function of ``x + golden`` on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def stream(seed: int, source: str, epoch: int) -> int:
    """The 64-bit stream of one (seed, source, epoch): blake2b of the three, computed once per pair."""
    tag = f"huatuo-ray/sample/v1\x00{seed}\x00{source}\x00{epoch}".encode()
    return int.from_bytes(hashlib.blake2b(tag, digest_size=8).digest(), "little")


def hash_ids(ids: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    """64-bit hashes of item ids: integers through splitmix64, strings over their UTF-8 bytes.

    The hash depends only on each id's value (and whether it is an integer or a string), never on
    its position in the array.
    """
    if isinstance(ids, np.ndarray):
        ids = pa.array(ids)
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if ids.null_count:
        raise ValueError(f"item ids must not be null ({ids.null_count} null)")
    if pa.types.is_integer(ids.type):
        return splitmix64(ids.cast(pa.int64()).to_numpy(zero_copy_only=False).view(np.uint64))
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_binary(ids.type) \
            or pa.types.is_large_binary(ids.type):
        return _hash_bytes(ids.cast(pa.large_binary()))
    raise TypeError(f"item ids must be integers or strings, not {ids.type}")


def _hash_bytes(arr: pa.LargeBinaryArray) -> np.ndarray:
    """Chain splitmix64 over each value's bytes, 8 at a time (little-endian, zero-padded), then its length."""
    n = len(arr)
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    data = np.concatenate([data[: offsets[-1] if n else 0], np.zeros(8, np.uint8)])
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(n, _STRING_SEED, dtype=np.uint64)
    lane = np.arange(8)
    for k in range(0, int(lengths.max()) if n else 0, 8):
        active = np.flatnonzero(lengths > k)
        idx = starts[active, None] + k + lane
        chunk = np.where(lane < (lengths[active, None] - k), data[np.minimum(idx, len(data) - 1)], 0).astype(np.uint8)
        h[active] = splitmix64(h[active] ^ np.ascontiguousarray(chunk).view("<u8").ravel())
    return splitmix64(h ^ lengths.astype(np.uint64))


def uniforms(item_hash: np.ndarray, stream_value: int) -> np.ndarray:
    """U in the open interval (0, 1): the top 52 bits of ``splitmix64(hash ^ stream)``, centred in their cell."""
    bits = splitmix64(item_hash ^ np.uint64(stream_value))
    return ((bits >> np.uint64(12)).astype(np.float64) + 0.5) * 2.0**-52


def neg_log(u: np.ndarray) -> np.ndarray:
    """``-ln(u)`` for u in (0, 1), within ~1 ulp, from frexp and an atanh series (IEEE basic ops only)."""
    m, e = np.frexp(u)  # u = m * 2^e, m in [0.5, 1)
    low = m < _SQRT_HALF
    np.multiply(m, 2.0, out=m, where=low)  # m in [sqrt(1/2), sqrt(2))
    e = e.astype(np.float64)
    np.subtract(e, 1.0, out=e, where=low)
    s = m - 1.0
    m += 1.0
    s /= m  # s = (m - 1) / (m + 1), |s| < 0.172; ln(m) = 2 atanh(s)
    s2 = np.multiply(s, s, out=m)
    poly = np.full_like(s, 1.0 / (2 * _ATANH_TERMS - 1))
    for k in range(_ATANH_TERMS - 2, -1, -1):
        poly *= s2
        poly += 1.0 / (2 * k + 1)
    poly *= s
    poly *= -2.0  # -ln(m)
    poly -= e * _LN2_LO
    e *= _LN2_HI
    poly -= e
    return poly


def priority_keys(u: np.ndarray, weight: float) -> np.ndarray:
    """Efraimidis-Spirakis keys ``-ln(U) / w``: ascending order = sampling without replacement by weight."""
    return neg_log(u) / weight


def item_keys(item_hash: np.ndarray, seed: int, source: str, epoch: int, weight: float) -> np.ndarray:
    """Keys of one source's items in one epoch (an item repeated for e epochs is e items, e keys)."""
    return priority_keys(uniforms(item_hash, stream(seed, source, epoch)), weight)
