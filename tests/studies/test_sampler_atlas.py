"""sampler-atlas rows: against the exact functions they wrap and against brute-force enumeration."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy.integrate import quad

from ctmc_lab.estimation import moments
from ctmc_lab.sources.markov import MarkovChain
from ctmc_lab.studies import engine
from ctmc_lab.studies import sampler_atlas as sa


def bf_scheme_variance(A, q):
    """Twin of the mask-size schemes' variance: enumerate every mask M with P(M) = q_m / C(n, m)
    and g = A(M) / (m q_m) (g = 0 where P(M) = 0, e.g. m = 0), and sum P (g - E g)² by a loop over masks."""
    n = int(np.log2(len(A)))
    P, g = [], []
    for M in range(1 << n):
        m = bin(M).count("1")
        P.append(q[m] / comb(n, m))
        g.append(0.0 if m == 0 or q[m] == 0 else A[M] / (m * q[m]))  # A(∅) = 0; P(M) = 0 adds nothing
    P, g = np.array(P), np.array(g)
    mean = P @ g
    return float(P @ (g - mean) ** 2)


def bf_stratified_k_dce_variance(A, B):
    """Twin of stratified k-DCE: stratum j has v ~ U[j/B, (j+1)/B), m = 1 + floor(n v); P(m | j) as an
    exact Fraction overlap of intervals; per-draw variance = mean over j of Var(g_j), g = (n/m) A(M)."""
    n = int(np.log2(len(A)))
    by_m = {m: [A[M] * n / m for M in range(1 << n) if bin(M).count("1") == m] for m in range(1, n + 1)}
    total = 0.0
    for j in range(B):
        lo, hi = Fraction(j, B), Fraction(j + 1, B)
        e1 = e2 = 0.0
        for m in range(1, n + 1):
            w = max(Fraction(0), min(hi, Fraction(m, n)) - max(lo, Fraction(m - 1, n))) * B
            e1 += float(w) * np.mean(by_m[m])
            e2 += float(w) * np.mean(np.square(by_m[m]))
        total += e2 - e1**2
    return total / B


def bf_lambda_dce_second_moment(A):
    """Twin of λ-DCE's E g²: ∫_0^1 sum_M λ^m (1-λ)^(n-m) A(M)² / λ² dλ by quadrature (finite case only)."""
    n = int(np.log2(len(A)))
    m = np.array([bin(M).count("1") for M in range(1 << n)])
    return quad(lambda lam: np.sum(lam ** (m - 2.0) * (1 - lam) ** (n - m) * A**2), 0, 1, epsabs=0, epsrel=1e-12)[0]


@pytest.fixture(scope="module")
def small_rows():
    """The rows of three small-grid cases, with their tables recomputed outside the study."""
    keys = [
        "dirichlet/N=3/L=03/alpha=0.1/support=full/seed=0",
        "markov/N=2/k=1/L=08/alpha=0.5/seed=0",
        "d128/L=08/seed=000",
    ]
    by_key = {c.key: c for c in sa.cases("small")}
    out = []
    for key in keys:
        case = by_key[key]
        rows = sa.run_case(case, rng=np.random.default_rng(engine.case_seed(0, key)))
        rng = np.random.default_rng(engine.case_seed(0, key))
        source = sa.build_source(case.params, rng)
        X = sa.draw_sequences(source, case["L"], sa.MAX_SEQUENCES, rng)
        out.append((case, source, X, rows))
    return out


def test_rows_match_the_exact_functions(small_rows):
    for _, source, X, rows in small_rows:
        assert len(rows) == len(X)
        tables = sa.mask_tables(source, X)
        for x, A, row in zip(X, tables, rows):
            assert row["sequence"] == "".join(map(str, x))
            cmp = moments.compare_samplers(A)
            for name, var in cmp.variances.items():
                assert row[f"var_{name}"] == var
            assert row["var_q_star"] == cmp.best_mask_size_variance
            assert row["var_k_dce_stratified"] == moments.stratified_k_dce_moments(A, sa.STRATIFIED_BATCH)[1]
            assert row["nll"] == pytest.approx(float(source.nll(x)), rel=1e-12, abs=1e-12)


def test_selected_rows_against_brute_force_enumeration(small_rows):
    checked_finite = 0
    for case, source, X, rows in small_rows:
        tables = sa.mask_tables(source, X)
        n = case["L"]
        H = sum(1 / k for k in range(1, n + 1))
        laws = {
            "time_free": [0.0] + [1 / (m * H) for m in range(1, n + 1)],
            "k_dce": [0.0] + [1 / n] * n,
            "rb_lambda_dce": [1 / (n + 1)] * (n + 1),
        }
        for A, row in list(zip(tables, rows))[:6]:
            scale = max(1.0, row["var_time_free"])
            for name, q in laws.items():
                assert abs(row[f"var_{name}"] - bf_scheme_variance(A, q)) <= 1e-11 * scale
            q_star = [0.0, *moments.best_mask_size_weights(A)[0]]
            assert abs(row["var_q_star"] - bf_scheme_variance(A, q_star)) <= 1e-11 * scale
            assert (
                abs(row["var_k_dce_stratified"] - bf_stratified_k_dce_variance(A, sa.STRATIFIED_BATCH)) <= 1e-11 * scale
            )
            singles = A[1 << np.arange(n)]
            assert row["lambda_dce_finite"] == (not np.any(singles > 0))
            if row["lambda_dce_finite"]:
                exact = bf_lambda_dce_second_moment(A) - row["nll"] ** 2
                assert row["var_lambda_dce"] == pytest.approx(exact, rel=1e-9, abs=1e-12)
                checked_finite += 1
    assert checked_finite > 0


def test_pilot_is_never_better_than_q_star_and_winner_is_the_minimum(small_rows):
    for _, _, _, rows in small_rows:
        for row in rows:
            assert row["var_pilot"] >= row["var_q_star"] * (1 - 1e-12) - 1e-12
            best = min(row[f"var_{e}"] for e in sa.UNBIASED_ESTIMATORS)
            assert row[f"var_{row['winner']}"] == best


def test_pilot_law_is_the_fitted_one():
    """var_pilot is the exact variance of mask_size_importance at the law fitted from the same draws."""
    chain = MarkovChain.from_dirichlet(2, 1, alpha=0.5, rng=1)
    x = chain.sample(6, rng=2)
    A = chain.mask_dce_table(x, list(range(6)))
    v = sa.unbiased_variances(A, denoiser=chain.denoiser(6), x0=x, rng=np.random.default_rng(5))
    q = moments.fit_mask_size_weights(
        chain.denoiser(6), x, pilot_per_size=sa.PILOT_PER_SIZE, rng=np.random.default_rng(5)
    )
    assert v["var_pilot"] == pytest.approx(bf_scheme_variance(A, [0.0, *q]), rel=1e-12)


def test_grids_have_stable_unique_keys():
    for grid in ("small", "full"):
        keys = [c.key for c in sa.cases(grid)]
        assert len(keys) == len(set(keys))
    assert len(sa.cases("full")) == 664
    assert "dirichlet/N=3/L=06/alpha=0.5/support=full/seed=1" in {c.key for c in sa.cases("full")}
