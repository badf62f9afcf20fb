"""The time-law families: seeded draws agree with the exact moments for every batch sampler, and
the identities the samplers must keep hold on random tables (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from ctmc_lab.estimation.laws import TableOracle
from ctmc_lab.estimation.timelaws import CoupledBlend, TimeLaw, TimeMap, cross_level_sums, gauss_nodes
from ctmc_lab.masks import imdce_sum
from ctmc_lab.testing.strategies import budget


def _table(n, seed):
    """A non-negative table with A(∅) = 0 that is not additive (so every level matters)."""
    rng = np.random.default_rng(seed)
    m = np.array([bin(M).count("1") for M in range(1 << n)])
    return np.where(m > 0, rng.gamma(2.0, 0.5, 1 << n) * m + 0.3 * m**2, 0.0)


def _truncated(eps):
    return TimeMap(
        lambda u: (1 - eps) * u + eps, lambda u: 1 / ((1 - eps) * u + eps), pole=eps / (1 - eps) if eps else None
    )


def _comb(k, nb):
    def strata(b):
        s = np.arange(b) * nb + k
        return np.stack([s / (b * nb), (s + 1) / (b * nb)], axis=1)

    return strata


LAWS = {
    "iid": TimeLaw(_truncated(0.05), "iid"),
    "antithetic": TimeLaw(_truncated(0.05), "antithetic"),
    "lattice": TimeLaw(_truncated(0.05), "lattice"),
    "strata": TimeLaw(_truncated(0.05), "strata", _comb(1, 3)),
    "log_term": TimeLaw(
        TimeMap(lambda u: 0.9 * u + 0.05, lambda u: 1 / (0.9 * u + 0.05), lambda u: np.log(0.9 * u + 0.05)), "lattice"
    ),
    "grid": TimeLaw(
        TimeMap(
            lambda u: (np.floor(10 * u) + 1) / 10.5,
            lambda u: 10 / (np.floor(10 * u) + 1),
            breaks=tuple(np.arange(1, 10) / 10),
            constant_pieces=True,
        ),
        "antithetic",
    ),
}


@pytest.mark.parametrize("kind", list(LAWS))
def test_seeded_batches_agree_with_the_exact_moments(kind):
    law, b, batches = LAWS[kind], 8, 4000
    A = _table(4, seed=3)
    values, _ = law.draw("law", TableOracle(A), b * batches, np.random.default_rng(11), b, {})
    means = values.reshape(batches, b).mean(axis=1) if law.stratified else values
    mean, per_draw, infinite = law.moments(A[None], batch_size=b)
    assert not infinite[0]
    se = means.std(ddof=1) / math.sqrt(means.size)
    assert abs(means.mean() - mean[0]) < 5 * se
    want = per_draw[0] / (b if law.stratified else 1)  # Var(batch mean), or of one draw
    ratio = means.var(ddof=1) / want
    lo, hi = stats.chi2.ppf([1e-6, 1 - 1e-6], means.size - 1) / (means.size - 1)
    assert lo < ratio < hi, ratio


def test_the_lattice_and_the_strata_change_the_variance_not_the_mean():
    A = _table(5, seed=1)
    out = {k: LAWS[k].moments(A[None], batch_size=8) for k in ("iid", "antithetic", "lattice")}
    assert out["antithetic"][0][0] == pytest.approx(out["iid"][0][0], rel=1e-13)
    assert out["lattice"][0][0] == pytest.approx(out["iid"][0][0], rel=1e-13)
    assert out["antithetic"][1][0] < out["iid"][1][0] and out["lattice"][1][0] < out["iid"][1][0]


@budget(25, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**31 - 1), st.sampled_from([0.0, 1e-3, 0.2]), st.integers(2, 12))
def test_sampler_identities_on_random_tables(n, seed, eps, b):
    A = _table(n, seed)
    iid = TimeLaw(_truncated(eps), "iid").moments(A[None])
    anti = TimeLaw(_truncated(eps), "antithetic").moments(A[None], batch_size=b)
    lat = TimeLaw(_truncated(eps), "lattice").moments(A[None], batch_size=b)
    # every row of every sampler has a uniform u: one mean
    assert anti[0][0] == pytest.approx(iid[0][0], rel=1e-11) and lat[0][0] == pytest.approx(iid[0][0], rel=1e-11)
    if eps == 0.0:
        # λ-DCE (Thm 4.2): the mean is the NLL; the variance is infinite iff a singleton loss is positive
        assert iid[0][0] == pytest.approx(float(imdce_sum(A)), rel=1e-11)
        assert bool(iid[2][0]) == bool(np.any(A[1 << np.arange(n)] > 0))
    else:
        # proportional stratification never increases the variance of the batch mean
        assert anti[1][0] <= iid[1][0] * (1 + 1e-10)
        assert lat[1][0] >= 0


def test_coupled_blend_draws_agree_and_cross_sums_pair_complements():
    A = _table(4, seed=5)
    X = cross_level_sums(A[None], 4)[0]
    full = 15
    assert X[1] == pytest.approx(sum(A[1 << i] * A[full ^ (1 << i)] for i in range(4)))
    blend = CoupledBlend(0.2, 0.8)
    values, _ = blend.draw("blend", TableOracle(A), 20000, np.random.default_rng(2), 1, {})
    mean, var, _ = blend.moments(A[None])
    assert abs(values.mean() - mean[0]) < 5 * values.std() / math.sqrt(values.size)
    assert values.var() / var[0] == pytest.approx(1.0, abs=0.05)


def test_graded_nodes_integrate_a_near_pole():
    for eps in (1e-3, 1e-4):
        u, w = gauss_nodes(0.0, 1.0, left=eps / 16)
        assert w @ (1 / (u + eps)) == pytest.approx(math.log((1 + eps) / eps), rel=1e-13)
        u, w = gauss_nodes(0.0, 1.0, right=eps / 16)
        assert w @ np.log(1 + eps - u) == pytest.approx(
            (1 + eps) * math.log(1 + eps) - eps * math.log(eps) - 1, rel=1e-12
        )


def test_bad_laws_and_tables_are_refused():
    with pytest.raises(ValueError, match="sampler"):
        TimeLaw(_truncated(0.1), "sobol")
    with pytest.raises(ValueError, match="strata"):
        TimeLaw(_truncated(0.1), "antithetic", _comb(0, 2))
    with pytest.raises(ValueError, match="batch_size"):
        LAWS["lattice"].moments(_table(3, 0)[None])
    bad = _table(3, 0)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="probability 0"):
        LAWS["iid"].moments(bad[None])
    with pytest.raises(ValueError, match="intervals"):
        TimeLaw(_truncated(0.1), "strata", lambda b: np.zeros((b, 2))).moments(_table(3, 0)[None], batch_size=4)
