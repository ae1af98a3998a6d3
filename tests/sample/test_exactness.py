"""The sampler's order follows P_t(x in D_i) = |D_i^t| beta^K_i / sum_j |D_j^t| beta^K_j, step by step.

The reference is the paper's process written out literally: at each step pick a source with that
probability, then an item of it uniformly, and remove it. Its exact law is enumerated by the same
recursion; the sampler's orders over many seeds are compared with it by chi-square tests. Seeds
are fixed, so the p-values are fixed too (no flakiness). The power checks run the same tests on two
plausible wrong samplers and require them to fail.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import numpy as np
import pytest

from huatuo_ray.sample import keys
from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sample.order import order_ids

BETA = 2.0
N_SEEDS = 12_000


# --- the reference: the paper's process, step by step ---------------------------------------


def reference_order(counts: list[int], weights: list[float], rng: np.random.Generator) -> tuple[int, ...]:
    """Simulate the step-by-step process; return the sequence of source indices."""
    left, seq = list(counts), []
    while sum(left):
        p = np.array([n * w for n, w in zip(left, weights)], dtype=float)
        i = int(rng.choice(len(left), p=p / p.sum()))
        seq.append(i)
        left[i] -= 1
    return tuple(seq)


def exact_prefix_law(counts: list[int], weights: list[float], depth: int | None = None) -> dict[tuple, float]:
    """Exact probability of every sequence of the first ``depth`` sources under the step-by-step process."""
    depth = sum(counts) if depth is None else depth

    @lru_cache(maxsize=None)
    def law(left: tuple[int, ...], d: int) -> tuple[tuple[tuple, float], ...]:
        if d == 0 or not sum(left):
            return (((), 1.0),)
        total = sum(n * w for n, w in zip(left, weights))
        out = []
        for i, (n, w) in enumerate(zip(left, weights)):
            if n:
                nxt = tuple(c - (j == i) for j, c in enumerate(left))
                out += [((i, *seq), n * w / total * p) for seq, p in law(nxt, d - 1)]
        return tuple(out)

    return dict(law(tuple(counts), depth))


# --- statistics -----------------------------------------------------------------------------


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square(df): the regularised upper incomplete gamma Q(df/2, x/2)."""
    a, x = df / 2.0, x / 2.0
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P(a, x)
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_front))
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)  # continued fraction for Q(a, x) (Lentz)
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def gof_pvalue(observed: Counter, law: dict[tuple, float], n: int, min_expected: float = 5.0) -> float:
    """Chi-square goodness of fit; cells expected below ``min_expected`` are pooled into one."""
    assert set(observed) <= set(law), f"impossible outcomes observed: {set(observed) - set(law)}"
    stat, cells, pool_o, pool_e = 0.0, 0, 0, 0.0
    for outcome, p in law.items():
        e, o = p * n, observed.get(outcome, 0)
        if e < min_expected:
            pool_o, pool_e = pool_o + o, pool_e + e
        else:
            stat += (o - e) ** 2 / e
            cells += 1
    if pool_e > 0:
        stat += (pool_o - pool_e) ** 2 / pool_e
        cells += 1
    return chi2_sf(stat, cells - 1)


def homogeneity_pvalue(a: Counter, b: Counter, min_count: int = 10) -> float:
    """Two-sample chi-square test that two equal-size samples come from one law (sparse cells pooled)."""
    assert sum(a.values()) == sum(b.values())
    stat, cells, pool_a, pool_b = 0.0, 0, 0, 0
    for outcome in set(a) | set(b):
        x, y = a.get(outcome, 0), b.get(outcome, 0)
        if x + y < min_count:
            pool_a, pool_b = pool_a + x, pool_b + y
        else:
            stat += (x - y) ** 2 / (x + y)
            cells += 1
    if pool_a + pool_b:
        stat += (pool_a - pool_b) ** 2 / (pool_a + pool_b)
        cells += 1
    return chi2_sf(stat, cells - 1)


def test_chi2_sf_matches_tables():
    assert chi2_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-5)
    assert chi2_sf(18.307038, 10) == pytest.approx(0.05, abs=1e-5)
    assert chi2_sf(5.991465, 2) == pytest.approx(0.05, abs=1e-5)
    assert chi2_sf(1300.0, 1200) == pytest.approx(0.0221, abs=2e-3)


# --- the sampler under test -----------------------------------------------------------------

# Three sources of 2, 3 and 4 items with weights 4, 2, 1 (beta = 2, K = 2, 1, 0).
SIZES = {"a": 2, "b": 3, "c": 4}
K = {"a": 2, "b": 1, "c": 0}
NAMES = sorted(SIZES)


def _config(epochs: dict[str, int], seed: int = 0) -> SamplerConfig:
    return SamplerConfig(preset=None, beta=BETA, seed=seed,
                         sources=[{"name": n, "K": K[n], "epochs": epochs[n]} for n in NAMES])


def _ids() -> dict[str, np.ndarray]:
    return {n: np.arange(100 * i, 100 * i + SIZES[n]) for i, n in enumerate(NAMES)}


def sampled(epochs: dict[str, int], n_seeds: int, what: str = "sources", depth: int | None = None) -> Counter:
    """Counts of the sampler's orders over seeds 0..n-1: source sequences or (source, epoch, id) sequences."""
    base, ids, out = _config(epochs), _ids(), Counter()
    for seed in range(n_seeds):
        t = order_ids(ids, base.model_copy(update={"seed": seed}))
        src = t.column("source").combine_chunks().indices.to_pylist()
        if what == "sources":
            out[tuple(src[:depth])] += 1
        else:
            out[tuple(zip(src, t.column("epoch").to_pylist(), t.column("id").to_pylist()))] += 1
    return out


def _counts(epochs: dict[str, int]) -> list[int]:
    return [SIZES[n] * epochs[n] for n in NAMES]


def _weights() -> list[float]:
    return [BETA ** K[n] for n in NAMES]


ONE_EPOCH = {"a": 1, "b": 1, "c": 1}
EPOCHS = {"a": 2, "b": 1, "c": 2}


def test_source_sequence_law_one_epoch():
    """All 1,260 source sequences of 2+3+4 items against their exact step-by-step probabilities."""
    law = exact_prefix_law(_counts(ONE_EPOCH), _weights())
    assert len(law) == 1260 and sum(law.values()) == pytest.approx(1.0)
    assert gof_pvalue(sampled(ONE_EPOCH, N_SEEDS), law, N_SEEDS) > 1e-3


def test_source_sequence_with_epochs_against_reference_simulation():
    """With epochs (4+3+8 items): the sampler vs the step-by-step reference simulation, and both vs the exact law."""
    counts, weights, depth = _counts(EPOCHS), _weights(), 6
    ours = sampled(EPOCHS, N_SEEDS, depth=depth)
    rng = np.random.default_rng(12345)
    ref = Counter(reference_order(counts, weights, rng)[:depth] for _ in range(N_SEEDS))
    assert homogeneity_pvalue(ours, ref) > 1e-3
    law = exact_prefix_law(counts, weights, depth)
    assert gof_pvalue(ours, law, N_SEEDS) > 1e-3
    assert gof_pvalue(ref, law, N_SEEDS) > 1e-3


def test_item_level_law_with_epochs():
    """Whole orders of 5 items (one item of a repeated for 2 epochs is 2 items): all 120 orders, exactly."""
    epochs = {"a": 2, "b": 1, "c": 1}
    sizes = {"a": 1, "b": 2, "c": 1}
    ids = {n: np.arange(100 * i, 100 * i + sizes[n]) for i, n in enumerate(NAMES)}
    items = [(i, e, int(x)) for i, n in enumerate(NAMES) for e in range(epochs[n]) for x in ids[n]]
    w = {it: BETA ** K[NAMES[it[0]]] for it in items}

    def prob(perm):
        p, left = 1.0, sum(w.values())
        for it in perm:
            p *= w[it] / left
            left -= w[it]
        return p

    import itertools

    law = {perm: prob(perm) for perm in itertools.permutations(items)}
    base, out = _config(epochs), Counter()
    for seed in range(N_SEEDS // 2):
        t = order_ids(ids, base.model_copy(update={"seed": seed}))
        src = t.column("source").combine_chunks().indices.to_pylist()
        out[tuple(zip(src, t.column("epoch").to_pylist(), t.column("id").to_pylist()))] += 1
    assert len(law) == 120 and set(out) <= set(law)
    assert gof_pvalue(out, law, N_SEEDS // 2) > 1e-3


# --- power: the same tests reject plausible wrong samplers -----------------------------------


def test_power_rejects_u_over_w(monkeypatch):
    """Ordering by U / w instead of -ln(U) / w also puts heavy items early, but not with the right law."""
    monkeypatch.setattr(keys, "priority_keys", lambda u, weight: u / weight)
    n = 4000
    law = exact_prefix_law(_counts(ONE_EPOCH), _weights())
    assert gof_pvalue(sampled(ONE_EPOCH, n), law, n) < 1e-6


def test_power_rejects_epochs_sharing_one_uniform(monkeypatch):
    """A stream that ignores the epoch gives an item's copies one U: right marginals per epoch, wrong joint law."""
    real = keys.stream
    monkeypatch.setattr(keys, "stream", lambda seed, source, epoch: real(seed, source, 0))
    n = 4000
    law = exact_prefix_law(_counts(EPOCHS), _weights(), 6)
    assert gof_pvalue(sampled(EPOCHS, n, depth=6), law, n) < 1e-6
