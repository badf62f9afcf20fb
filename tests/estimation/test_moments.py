"""Exact moments of the likelihood estimators against brute-force twins (docs/theory.md §6, §8)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import beta as beta_fn

from ctmc_lab.estimation import moments as Mo
from ctmc_lab.estimation.registry import estimator_names
from ctmc_lab.exact.mask_dce import exact_nll, mask_dce_table, optimal_mask_dce
from ctmc_lab.masks import imdce_sum
from ctmc_lab.sources.datasets import dirichlet, dna128, dna128_like
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser
from ctmc_lab.testing.strategies import budget


def H(n):
    return sum(1.0 / j for j in range(1, n + 1))


@pytest.fixture(scope="module")
def d128():
    return dna128()


@pytest.fixture(scope="module")
def A128(d128):
    return optimal_mask_dce(d128, d128.support)


def brute_scheme(A, name):
    """(mean, variance, E g^4 central) of a mask-size scheme by explicit loops over masks."""
    n = int(math.log2(len(A)))
    probs, vals = [], []
    for local in range(1 << n):
        m = bin(local).count("1")
        c = math.comb(n, m)
        if name == "time_free":
            p, f = (1 / (m * H(n)) / c if m else 0.0), H(n)
        elif name == "k_dce":
            p, f = (1 / n / c if m else 0.0), (n / m if m else 0.0)
        elif name == "rb_lambda_dce":
            p, f = 1 / (n + 1) / c, ((n + 1) / m if m else 0.0)
        elif name == "omit_full_mask":
            p, f = (1 / (m * H(n - 1)) / c if 0 < m < n else 0.0), H(n)
        elif name == "omit_full_mask_token_mean":
            p, f = (1 / (m * H(n - 1)) / c if 0 < m < n else 0.0), (H(n) / m if m else 0.0)
        probs.append(p)
        vals.append(f * A[local])
    probs, vals = np.array(probs), np.array(vals)
    mean = probs @ vals
    return mean, probs @ (vals - mean) ** 2, probs @ (vals - mean) ** 4


# The moments of every registered estimator against its twin: tests/estimation/test_registry_conformance.py.


# --------------------------------------------------------------------- mask-size schemes
def test_unbiased_schemes_have_zero_bias_and_audited_bias_formulas(A128):
    nll = imdce_sum(A128)
    n = 8
    for rec, A, truth in zip(Mo.all_moments(A128), A128, nll):
        for name in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce"):
            assert abs(rec[name].bias) <= 1e-12
        # docs/theory.md §8: E = H_L/H_{L-1} sum_{k≥1} Ā_k/(L-k) (and /(L-k)² for the token mean).
        k_sizes = n - np.bitwise_count(np.arange(256, dtype=np.uint64)).astype(int)
        Abar = np.array([A[k_sizes == k].mean() for k in range(n + 1)])
        omit = H(n) / H(n - 1) * sum(Abar[k] / (n - k) for k in range(1, n))
        token = H(n) / H(n - 1) * sum(Abar[k] / (n - k) ** 2 for k in range(1, n))
        assert abs(rec["omit_full_mask"].bias - (omit - truth)) <= 1e-12
        assert abs(rec["omit_full_mask_token_mean"].bias - (token - truth)) <= 1e-12
        assert rec["omit_full_mask"].bias < 0  # dropping the fully masked set loses mass


# ----------------------------------------------------------------------------------- λ-DCE
def test_lambda_dce_infinite_exactly_for_hamming1_neighbours(d128, A128):
    S = d128.support
    has_neighbour = ((S[:, None, :] != S[None]).sum(-1) == 1).any(axis=1)
    recs = [r["lambda_dce"] for r in Mo.all_moments(A128)]
    infinite = np.array([r.variance_is_infinite for r in recs])
    assert np.array_equal(infinite, has_neighbour)
    assert 0 < infinite.sum() < 128
    for r, A in zip(recs, A128):
        if r.variance_is_infinite:
            assert r.variance == math.inf
            singles = A[1 << np.arange(8)]
            assert r.infinite_because == tuple(np.flatnonzero(singles > 0))
        else:
            assert math.isfinite(r.variance) and r.infinite_because is None


def test_lambda_dce_finite_variance_matches_quadrature_twin(d128, A128):
    row = 5
    A = A128[row]
    assert np.all(A[1 << np.arange(8)] == 0)
    sizes = np.bitwise_count(np.arange(256, dtype=np.uint64)).astype(int)

    def second(lam):
        return sum(lam ** sizes[M] * (1 - lam) ** (8 - sizes[M]) * (A[M] / lam) ** 2 for M in range(1, 256))

    e2 = quad(second, 0, 1, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
    got = Mo.estimator_moments(A, "lambda_dce")
    assert abs(got.variance - (e2 - d128.nll(d128.support[row]) ** 2)) <= 1e-9 * got.variance


@pytest.mark.parametrize("row", [58, 127])
def test_lambda_truncated_second_moment_and_log_law(A128, row):
    A = A128[row]
    sizes = np.bitwise_count(np.arange(256, dtype=np.uint64)).astype(int)
    delta = 1e-3

    def second(lam):
        return sum(lam ** sizes[M] * (1 - lam) ** (8 - sizes[M]) * (A[M] / lam) ** 2 for M in range(1, 256))

    twin = quad(second, delta, 1, epsabs=1e-12, epsrel=1e-13, limit=500, points=[1e-2, 1e-1])[0]
    tr = Mo.lambda_dce_truncation(A, delta)
    assert abs(tr.second_moment - twin) <= 1e-10 * twin
    assert tr.slope == pytest.approx(np.sum(A[1 << np.arange(8)] ** 2), rel=1e-14)
    # the o(1) remainder vanishes as δ → 0, and the law grows by slope·log(10^4) per 4 decades
    r1, r2 = Mo.lambda_dce_truncation(A, 1e-8), Mo.lambda_dce_truncation(A, 1e-12)
    assert abs(r1.second_moment - r1.asymptote) <= 1e-6 * r1.second_moment
    assert abs((r2.second_moment - r1.second_moment) - tr.slope * math.log(1e4)) <= 1e-6 * r2.second_moment


def test_stratified_moments_match_brute_force():
    p = dirichlet(2, 3, alpha=0.8, rng=4)
    A = optimal_mask_dce(p, p.support[5])
    n, B = 3, 5
    sizes = np.bitwise_count(np.arange(8, dtype=np.uint64)).astype(int)
    # k-DCE: stratum j covers v ∈ [j/B, (j+1)/B), m = 1 + floor(n v); integrate v by quadrature
    var_sum, mean_sum = 0.0, 0.0
    for j in range(B):

        def mom(v, k):
            m = 1 + int(n * v)
            vals = [(n / m * A[M]) ** k for M in range(8) if sizes[M] == m]
            return np.mean(vals)

        edges = sorted({j / B, (j + 1) / B, *[e / n for e in range(n + 1) if j / B < e / n < (j + 1) / B]})
        e1 = sum(quad(mom, a, b, args=(1,))[0] for a, b in zip(edges, edges[1:])) * B
        e2 = sum(quad(mom, a, b, args=(2,))[0] for a, b in zip(edges, edges[1:])) * B
        mean_sum += e1 / B
        var_sum += (e2 - e1**2) / B
    mean, var = Mo.stratified_k_dce_moments(A, B)
    assert abs(mean - mean_sum) <= 1e-12 and abs(var - var_sum) <= 1e-10
    assert var < Mo.estimator_moments(A, "k_dce").variance
    # λ-DCE stratified: finite only when every a_i = 0
    _, v = Mo.stratified_lambda_dce_moments(A, B)
    assert math.isinf(v) == bool(np.any(A[1 << np.arange(n)] > 0))


def test_stratified_lambda_finite_case_matches_quadrature(d128, A128):
    A = A128[5]
    B = 4
    sizes = np.bitwise_count(np.arange(256, dtype=np.uint64)).astype(int)

    def moment(lam, k):
        return sum(lam ** sizes[M] * (1 - lam) ** (8 - sizes[M]) * (A[M] / lam) ** k for M in range(1, 256))

    e1 = np.array([quad(moment, j / B, (j + 1) / B, args=(1,), epsrel=1e-13)[0] * B for j in range(B)])
    e2 = np.array([quad(moment, j / B, (j + 1) / B, args=(2,), epsrel=1e-13)[0] * B for j in range(B)])
    mean, var = Mo.stratified_lambda_dce_moments(A, B)
    assert abs(mean - e1.mean()) <= 1e-12
    assert abs(var - (e2 - e1**2).mean()) <= 1e-9 * var


# ------------------------------------------------------------------------------ t-estimators
def test_t_moments_match_per_mask_quadrature_twin():
    from ctmc_lab.forward.schedules import Geometric, Loglinear

    p = dirichlet(2, 3, alpha=0.8, rng=9)
    c = MixedDenoiser(OptimalDenoiser(p), "uniform", weight=0.2)
    A = mask_dce_table(c, p.support[2])
    sizes = np.bitwise_count(np.arange(8, dtype=np.uint64)).astype(int)
    for sched, eps in [(Loglinear(1e-3), 1e-3), (Geometric(1e-4, 20.0), 1e-2)]:
        for score_log in (True, False):

            def g(t, M, k):
                sb, sig = sched.sigma_bar(t), sched.sigma(t)
                lam = -math.expm1(-sb)
                w = sig / math.expm1(sb)
                val = w * (A[M] + (sizes[M] * math.log(math.expm1(sb)) if score_log else 0.0))
                return lam ** sizes[M] * (1 - lam) ** (3 - sizes[M]) * val**k / (1 - eps)

            # break points near the floor, where w(t) ~ 1/t and log(e^σ̄ - 1) ~ log t vary fastest
            pts = [10 * eps, 0.1 if 10 * eps < 0.1 else 0.5]
            e1 = sum(quad(g, eps, 1, args=(M, 1), epsrel=1e-13, limit=400, points=pts)[0] for M in range(1, 8))
            e2 = sum(quad(g, eps, 1, args=(M, 2), epsrel=1e-13, limit=400, points=pts)[0] for M in range(1, 8))
            got = Mo.t_estimator_moments(A, schedule=sched, eps_s=eps, score_log=score_log)
            assert abs(got.mean - e1) <= 1e-10 * abs(e1)
            assert abs(got.variance - (e2 - e1**2)) <= 1e-9 * (e2 - e1**2)
            assert abs(got.bias) > 1e-4  # the truncation bias of §6.3 is visible


def test_t_dse_carries_the_row_sum_defect():
    from ctmc_lab.forward.schedules import Loglinear

    p = dirichlet(2, 3, alpha=0.8, rng=9)
    A = optimal_mask_dce(p, p.support[1])
    D = 0.01 * np.bitwise_count(np.arange(8, dtype=np.uint64)).astype(float)
    base = Mo.t_estimator_moments(A, schedule=Loglinear(1e-3), kind="t_dse")
    shifted = Mo.t_estimator_moments(A + D, schedule=Loglinear(1e-3), kind="t_dse")
    got = Mo.t_estimator_moments(A, schedule=Loglinear(1e-3), kind="t_dse", defect=D)
    assert got.mean == pytest.approx(shifted.mean, rel=1e-13) and got.mean > base.mean


# ------------------------------------------------------------------------------------ ratio
def test_ratio_moments_brute_force_and_negative_covariance_exists():
    p = dirichlet(3, 3, alpha=0.3, rng=0)
    A = optimal_mask_dce(p, p.support)
    found_negative = False
    for i, j in [(9, 19), (0, 1), (2, 7)]:
        r = Mo.ratio_moments(A[i], A[j])
        n = 3
        probs = np.array(
            [0.0] + [1 / (bin(M).count("1") * H(n) * math.comb(n, bin(M).count("1"))) for M in range(1, 8)]
        )
        gx, gy = H(n) * A[i], H(n) * A[j]
        mean = probs @ (gy - gx)
        vc = probs @ ((gy - gx) - mean) ** 2
        vx = probs @ (gx - probs @ gx) ** 2
        vy = probs @ (gy - probs @ gy) ** 2
        assert abs(r.mean - (p.nll(p.support[j]) - p.nll(p.support[i]))) <= 1e-12
        assert abs(r.variance_coupled - vc) <= 1e-12 * max(1, vc)
        assert abs(r.variance_decoupled - (vx + vy)) <= 1e-12 * max(1, vx + vy)
        assert abs(r.covariance_term - (r.variance_decoupled - r.variance_coupled)) <= 1e-10
        found_negative |= not r.coupling_helps
    assert found_negative  # docs/theory.md §6.4: coupling is not guaranteed to help


# ---------------------------------------------------------------------- which sampler wins
def test_sampler_comparison_and_optimal_laws(A128):
    A = A128[5]
    cmp_ = Mo.compare_samplers(A)
    assert cmp_.winner == min(cmp_.variances, key=cmp_.variances.get)
    assert cmp_.factor_vs_runner_up >= 1 and cmp_.factor_vs_time_free >= 1
    # zero-variance law: the importance value B(m,n-m+1) A(M)/P*(M) is the NLL on every mask
    P = cmp_.zero_variance
    sizes = np.bitwise_count(np.arange(256, dtype=np.uint64)).astype(int)
    live = P > 0
    vals = beta_fn(sizes[live], 9 - sizes[live]) * A[live] / P[live]
    assert np.max(np.abs(vals - imdce_sum(A))) <= 1e-12
    # q* is optimal in its family and reproduces its advertised variance
    q = cmp_.best_mask_size_weights
    v = Mo.estimator_moments(A, "mask_size_importance", weights=q).variance
    assert abs(v - cmp_.best_mask_size_variance) <= 1e-10
    for name in ("time_free", "k_dce"):
        assert v <= cmp_.variances[name]
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = rng.random(8) + 0.01
        assert Mo.estimator_moments(A, "mask_size_importance", weights=other).variance >= v - 1e-12


def test_fitted_weights_are_unbiased_and_close(d128, A128):
    c = OptimalDenoiser(d128)
    ratios = []
    for row in range(0, 128, 16):
        q = Mo.fit_mask_size_weights(c, d128.support[row], pilot_per_size=4, rng=row)
        rec = Mo.estimator_moments(A128[row], "mask_size_importance", weights=q)
        assert abs(rec.bias) <= 1e-12
        _, v_best = Mo.best_mask_size_weights(A128[row])
        ratios.append(rec.variance / v_best)
        assert rec.variance < Mo.estimator_moments(A128[row], "time_free").variance
    assert np.median(ratios) < 3.0


# ---------------------------------------------------------------------- CLI record, speed
def test_estimator_fields_fast_path_equals_generic_path(d128):
    fast = Mo.estimator_fields(d128, d128.support)
    generic = Mo.estimator_fields(d128, d128.support[::9], denoiser=OptimalDenoiser(d128))
    for f, g in zip(fast[::9], generic):
        assert tuple(f) == Mo.FIELD_ESTIMATORS == estimator_names(record="sequences")
        for name in f:
            a, b = f[name], g[name]
            assert a["variance_is_infinite"] == b["variance_is_infinite"]
            assert a["infinite_because"] == b["infinite_because"]
            assert abs(a["mean"] - b["mean"]) <= 1e-12 and abs(a["bias"] - b["bias"]) <= 1e-12
            if a["variance"] is None:
                assert b["variance"] is None and a["infinite_because"]
            else:
                assert abs(a["variance"] - b["variance"]) <= 1e-10 * a["variance"]
    infinite = [i for i, f in enumerate(fast) if f["lambda_dce"]["variance_is_infinite"]]
    assert infinite == [58, 63, 120, 124, 125, 126, 127]


def test_estimator_fields_outside_support_is_null_not_nan(d128):
    rec = Mo.estimator_fields(d128, ["AAAAAAAA"])[0]
    for r in rec.values():
        assert r["mean"] is None and r["bias"] is None and r["variance"] is None


# ------------------------------------------------------------------------- property tests
@budget(25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n_tokens=st.integers(2, 3),
    length=st.integers(2, 4),
    alpha=st.sampled_from([0.2, 0.5, 1.0]),
    weight=st.sampled_from([0.0, 0.05, 0.5]),
)
def test_property_unbiased_schemes_agree_and_variances_nonnegative(seed, n_tokens, length, alpha, weight):
    p = dirichlet(n_tokens, length, alpha=alpha, rng=seed)
    c = MixedDenoiser(OptimalDenoiser(p), "uniform", weight=weight)
    row = seed % p.support_size
    A = mask_dce_table(c, p.support[row])
    nll = imdce_sum(A)
    if weight == 0.0:
        assert abs(nll - p.nll(p.support[row])) <= 1e-11
    recs = Mo.all_moments(A)
    for name in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce"):
        assert abs(recs[name].mean - nll) <= 1e-11 * max(1, nll)
    for name, r in recs.items():
        assert r.variance >= -1e-12
        _, var, _ = brute_scheme(A, name) if name != "lambda_dce" else (0, r.variance, 0)
        assert r.variance_is_infinite or abs(r.variance - var) <= 1e-10 * max(1, var)
    if weight > 0:  # a mixed model has every a_i > 0: λ-DCE variance infinite (§6.3)
        assert recs["lambda_dce"].infinite_because == tuple(range(length))


@budget(15, deadline=None)
@given(seed=st.integers(0, 10**6), weight=st.sampled_from([0.02, 0.3]))
def test_property_mixed_model_integrated_dce_upper_bounds_entropy(seed, weight):
    """Average over p0 of the model's exact NLL ≥ H(p0) (Thm 3.5 / Gibbs), strictly for w > 0."""
    p = dirichlet(2, 3, alpha=0.5, rng=seed)
    c = MixedDenoiser(OptimalDenoiser(p), "marginals", weight=weight)
    nll = np.array([exact_nll(c, x) for x in p.support])
    assert p.probs @ nll > p.entropy() + 1e-9


@pytest.mark.slow
def test_all_six_for_dna128_in_under_two_seconds(d128):
    t0 = time.perf_counter()
    Mo.estimator_fields(d128, d128.support)
    assert time.perf_counter() - t0 < 2.0
    # a held-out D128-like table goes through the same path
    other = dna128_like(7)
    assert len(Mo.estimator_fields(other, other.support)) == 128


def test_beta_between_and_m1_tail_are_their_integrals_and_refuse_other_ranges():
    """beta_between and m1_tail (the stratified λ-DCE moments' pieces, §6.3) against adaptive
    quadrature of their integrands; arguments outside the ranges where the closed forms are
    those integrals are refused by name instead of returning a number (lo > hi gave -0.6)."""
    from scipy import integrate

    from ctmc_lab.estimation.families import beta_between, m1_tail

    for a, b, lo, hi in ((1, 1, 0.2, 0.8), (2, 5, 0.0, 0.3), (4, 2, 0.55, 1.0)):
        want = integrate.quad(lambda x: x ** (a - 1) * (1 - x) ** (b - 1), lo, hi, epsabs=0, epsrel=1e-13)[0]
        assert float(beta_between(a, b, lo, hi)) == pytest.approx(want, rel=1e-12)
    for delta, n in ((0.25, 1), (0.1, 4), (0.9, 7)):
        want = integrate.quad(lambda x: (1 - x) ** (n - 1) / x, delta, 1.0, epsabs=0, epsrel=1e-13)[0]
        assert float(m1_tail(delta, n)) == pytest.approx(want, rel=1e-12)
    assert float(m1_tail(0.0, 3)) == np.inf  # the divergent tail of a first stratum reaching λ = 0
    for call, name in (
        (lambda: beta_between(1, 1, 0.8, 0.2), "`lo`"),
        (lambda: beta_between(0.5, 1, 0.0, 1.0), "`a`"),
        (lambda: beta_between(1, 1, 0.0, 1.5), "`hi`"),
        (lambda: m1_tail(np.nan, 2), "`delta`"),
        (lambda: m1_tail(0.5, 2.7), "`n`"),
    ):
        with pytest.raises((ValueError, TypeError), match=name):
            call()
