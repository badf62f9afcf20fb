"""Every registered estimator against an independent twin (scipy's ``distcont`` style).

Each test is parametrized over the registry (:func:`ctmc_lab.estimation.registry.estimator_names`),
so an estimator registered in the package is checked with no other edit, and one without a twin
here fails with "no independent twin for NAME". The twins are written out in this file from the
paper or the code each estimator mirrors (``docs/theory.md`` §4, §6, §8), never read from the
spec: a mask-size law by its q_m and f_m, λ-DCE and the t-estimators by quadrature over λ or t of
an explicit sum over masks, LLaDA's count rule by the counts torch itself produced
(``tests/data/llada_mask_counts.json``). For each estimator:

* the exact mean (``moments.exact_mean``) equals its twin's enumeration;
* the exact variance equals its twin's enumeration of the law of one draw, or of the joint law
  of a small batch for a batch-stratified design (LLaDA's, stratified k- and λ-DCE, the code's
  ``vdm`` t-sampler);
* a seeded Monte Carlo run lands within 5 standard errors of the exact mean, and its reported
  standard error matches the exact variance;
* the spec's flags say what the estimator does: ``stratified`` ⇔ the draws depend on
  ``batch_size``; ``biased`` ⇔ the exact mean differs from the NLL on a generic table;
  ``min_length`` is the shortest target it accepts.

The coupled and decoupled log-ratio moments are checked here too, against an enumeration of the
joint mask law of every scheme :func:`~ctmc_lab.estimation.registry.ratio_schemes` offers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from ctmc_lab.estimation import estimators, families, moments, registry
from ctmc_lab.estimation.laws import TableOracle, ratio_draws
from ctmc_lab.exact.mask_dce import MaskDCE, optimal_mask_dce
from ctmc_lab.sources.datasets import dirichlet, dna128
from ctmc_lab.sources.denoisers import OptimalDenoiser

DATA = Path(__file__).resolve().parents[1] / "data"
LINEAR = "linear_mask_size"


def importance_weights(n: int) -> np.ndarray:
    """The mask-size weights of every importance law here, m = 1..n (n ≤ 8)."""
    return np.array([3.0, 1.0, 2.0, 0.5, 1.5, 2.5, 1.0, 4.0])[:n]


# ============================================================================ the twins' sums
def H(n: int) -> float:
    return math.fsum(1.0 / j for j in range(1, n + 1))


def popcount(M: int) -> int:
    return bin(M).count("1")


def beta(a: int, b: int) -> float:
    return math.exp(math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


def nll_of(A) -> float:
    """Thm 4.1: sum over masks of B(m, n-m+1) A(M)."""
    n = len(A).bit_length() - 1
    return math.fsum(beta(popcount(M), n - popcount(M) + 1) * A[M] for M in range(1, 1 << n))


def level_mean(A, m: int) -> float:
    n = len(A).bit_length() - 1
    vals = [A[M] for M in range(1 << n) if popcount(M) == m]
    return math.fsum(vals) / len(vals)


# --------------------------------------------------------------------------- mask-size laws
def time_free_law(n):
    return (lambda m: Fraction(0) if m == 0 else 1 / (m * H(n))), (lambda m: H(n))


def k_dce_law(n):
    return (lambda m: Fraction(0) if m == 0 else Fraction(1, n)), (lambda m: 0.0 if m == 0 else n / m)


def rb_law(n):
    return (lambda m: Fraction(1, n + 1)), (lambda m: 0.0 if m == 0 else (n + 1) / m)


def omit_law(n, *, token_mean=False):
    def q(m):
        return 1 / (m * H(n - 1)) if 0 < m < n else Fraction(0)

    return q, (lambda m: (H(n) / m if m else 0.0) if token_mean else H(n))


def weights_law(weights):
    def law(n):
        w = weights(n)
        z = math.fsum(w)
        return (lambda m: w[m - 1] / z if m else Fraction(0)), (lambda m: z / (m * w[m - 1]) if m else 0.0)

    return law


def scheme_mean_var(A, law):
    """E g and Var g of g = f_m A(M), P(M) = q_m / C(n, m), by a loop over the 2^n masks."""
    n = len(A).bit_length() - 1
    q, f = law(n)
    P = [float(q(popcount(M))) / math.comb(n, popcount(M)) for M in range(1 << n)]
    g = [f(popcount(M)) * A[M] for M in range(1 << n)]
    mean = math.fsum(p * x for p, x in zip(P, g))
    return mean, math.fsum(p * (x - mean) ** 2 for p, x in zip(P, g))


def _strata(A, law, B):
    """For each stratum j of a batch of B: [(P(M | j), g(M))] over masks.

    Draw j inverts v_j ~ U[j/B, (j+1)/B) through the cumulative law of q (exact rationals), so
    P(m | j) = B |[j/B, (j+1)/B) ∩ [Q_{m-1}, Q_m)|, and M is uniform of size m.
    """
    n = len(A).bit_length() - 1
    q, f = law(n)
    qs = [Fraction(q(m)) for m in range(n + 1)]
    cum = [sum(qs[: m + 1], Fraction(0)) / sum(qs) for m in range(n + 1)]
    lows = [Fraction(0)] + cum[:-1]
    out = []
    for j in range(B):
        lo, hi = Fraction(j, B), Fraction(j + 1, B)
        rows = []
        for M in range(1 << n):
            m = popcount(M)
            w = max(Fraction(0), min(hi, cum[m]) - max(lo, lows[m])) * B
            if w:
                rows.append((float(w) / math.comb(n, m), f(m) * A[M]))
        out.append(rows)
    return out


def stratified_scheme_mean(A, law, B):
    return math.fsum(p * g for rows in _strata(A, law, B) for p, g in rows) / B


def stratified_scheme_var(A, law, B):
    """B · Var(batch mean) of a stratified mask-size scheme, by enumerating the joint law of one
    batch: the B draws are independent given their strata."""
    t1, t2 = [], []
    for combo in product(*_strata(A, law, B)):
        p = math.prod(c[0] for c in combo)
        gbar = math.fsum(c[1] for c in combo) / B
        t1.append(p * gbar)
        t2.append(p * gbar**2)
    e1 = math.fsum(t1)
    return B * (math.fsum(t2) - e1**2)


# ------------------------------------------------------------------------------------ λ-DCE
def lambda_integral(A, power, lo=0.0, hi=1.0):
    """∫ E[(A/λ)^p | λ] dλ over [lo, hi] with M ~ Bern(λ)^n, by quadrature of the sum over masks."""
    n = len(A).bit_length() - 1
    terms = [(popcount(M), A[M]) for M in range(1, 1 << n)]

    def integrand(lam):
        return sum(lam ** (m - power) * (1 - lam) ** (n - m) * a**power for m, a in terms)

    return quad(integrand, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]


def lambda_mean(A, B=None):
    return lambda_integral(A, 1)


def lambda_var(A, B=None):
    """Per-draw variance of λ-DCE (finite tables, every a_i = 0); stratified: λ_j uniform on
    [j/B, (j+1)/B), independent strata, so B · Var(batch mean) = (1/B) sum_j Var(g_j)."""
    if B is None:
        return lambda_integral(A, 2) - lambda_integral(A, 1) ** 2
    strata = [(j / B, (j + 1) / B) for j in range(B)]
    return math.fsum(B * lambda_integral(A, 2, *s) - (B * lambda_integral(A, 1, *s)) ** 2 for s in strata) / B


# --------------------------------------------------------------------------- t-estimators
EPS = 1e-3  # loglinear(ε) and the sampling floor ε_s, the code's defaults


def loglinear(t):
    """(σ̄, σ) of loglinear(ε): σ̄ = -log(1 - (1-ε) t), written out here."""
    return -math.log1p(-(1 - EPS) * t), (1 - EPS) / (1 - (1 - EPS) * t)


def t_draws(A, t, *, score_log):
    """[(P(M | t), g(M, t))] over masks: M ~ Bern(λ(t))^n, g = w (A + m log(e^σ̄ - 1)) or w A."""
    n = len(A).bit_length() - 1
    sb, sig = loglinear(t)
    lam = -math.expm1(-sb)
    w = sig / math.expm1(sb)
    out = []
    for M in range(1 << n):
        m = popcount(M)
        g = w * (A[M] + (m * math.log(math.expm1(sb)) if score_log and m else 0.0)) if m else 0.0
        out.append((lam**m * (1 - lam) ** (n - m), g))
    return out


_QUAD = dict(epsabs=0.0, epsrel=1e-11, limit=400)


def t_moment(A, p, *, score_log):
    """E g^p of one draw, t = (1-ε_s)u + ε_s with u ~ U(0, 1)."""
    f = lambda t: math.fsum(q * g**p for q, g in t_draws(A, t, score_log=score_log))  # noqa: E731
    return quad(f, EPS, 1.0, **_QUAD)[0] / (1 - EPS)


def t_var(A, *, score_log, B=None):
    """Per-draw variance: i.i.d. draws; with B, the ``vdm`` batch u_j = (u0 + j/B) mod 1 (one u0),
    by quadrature over u0 of E[Ḡ² | u0], summed over the joint masks of the batch."""
    mean = t_moment(A, 1, score_log=score_log)
    if B is None:
        return t_moment(A, 2, score_log=score_log) - mean**2

    def batch_second(u0):
        ts = [(1 - EPS) * ((u0 + j / B) % 1.0) + EPS for j in range(B)]
        rows = [t_draws(A, t, score_log=score_log) for t in ts]
        return math.fsum(
            math.prod(c[0] for c in combo) * (math.fsum(c[1] for c in combo) / B) ** 2 for combo in product(*rows)
        )

    cuts = [0.0] + [1 - j / B for j in range(B - 1, 0, -1)] + [1.0]  # where some u_j wraps
    second = math.fsum(quad(batch_second, a, b, **_QUAD)[0] for a, b in zip(cuts, cuts[1:]))
    return B * (second - mean**2)


# ------------------------------------------------------------------------------ count rules
TORCH_COUNTS = json.loads((DATA / "llada_mask_counts.json").read_text())["counts"]


def llada_counts(n, b):
    """LLaDA's counts as torch computed them (rows k = 1..n)."""
    return TORCH_COUNTS[f"{n},{b}"]


def fixed_counts(n, b):
    """The integer rule LLaDA's linspace intends: x_j(k) = ((k - 1 + floor(j n/b)) mod n) + 1."""
    return [[(k - 1 + (j * n) // b) % n + 1 for j in range(b)] for k in range(1, n + 1)]


def count_rule_mean(A, counts, b):
    """E Ḡ = (1/n) sum_k (1/b) sum_j (n/x_j) Ā_{x_j}, Ā_m the mean of A over masks of size m."""
    n = len(A).bit_length() - 1
    return math.fsum(n / x * level_mean(A, x) for row in counts(n, b) for x in row) / (n * b)


def count_rule_var(A, counts, b):
    """b · Var(batch mean) by enumerating k and the masks of every row of one batch."""
    n = len(A).bit_length() - 1
    by_size = {m: [M for M in range(1 << n) if popcount(M) == m] for m in range(1, n + 1)}
    t1, t2 = [], []
    for row in counts(n, b):
        for masks in product(*(by_size[x] for x in row)):
            p = (1 / n) * math.prod(1 / len(by_size[x]) for x in row)
            gbar = math.fsum(n / x * A[M] for x, M in zip(row, masks)) / b
            t1.append(p * gbar)
            t2.append(p * gbar**2)
    e1 = math.fsum(t1)
    return b * (math.fsum(t2) - e1**2)


# ================================================================================ the table
@dataclass(frozen=True)
class Twin:
    """An estimator's independent reference on a table A.

    ``mean(A, B)`` and ``var(A, B)`` give the exact mean and per-draw variance of one draw; ``B``
    is the batch of a stratified design (its variance is then B · Var(batch mean); i.i.d. twins
    ignore it). ``batch`` is the B the variance is checked at, ``options`` go to the estimator,
    ``heavy`` marks draws too heavy-tailed for a sample standard error to match the exact one.
    ``options(n)`` are the estimator's options on a target of length n.
    """

    mean: object
    var: object
    options: object = lambda n: {}
    batch: int | None = None
    heavy: bool = False


def scheme_twin(law, **kw):
    return Twin(lambda A, B: scheme_mean_var(A, law)[0], lambda A, B: scheme_mean_var(A, law)[1], **kw)


LLADA_B = 16  # get_log_likelihood's batch: the bias of LLaDA's rule depends on it

TWINS = {
    "time_free": scheme_twin(time_free_law),
    "k_dce": scheme_twin(k_dce_law),
    "k_dce_stratified": Twin(
        lambda A, B: stratified_scheme_mean(A, k_dce_law, B or 16),
        lambda A, B: stratified_scheme_var(A, k_dce_law, B),
        batch=3,
    ),
    "rb_lambda_dce": scheme_twin(rb_law),
    "lambda_dce": Twin(lambda_mean, lambda_var),
    "lambda_dce_stratified": Twin(lambda_mean, lambda_var, batch=2),
    "omit_full_mask": scheme_twin(omit_law),
    "omit_full_mask_token_mean": scheme_twin(lambda n: omit_law(n, token_mean=True)),
    "mask_size_importance": scheme_twin(
        weights_law(importance_weights), options=lambda n: {"weights": importance_weights(n)}
    ),
    "t_dce": Twin(
        lambda A, B: t_moment(A, 1, score_log=True), lambda A, B: t_var(A, score_log=True, B=B), batch=2, heavy=True
    ),
    "t_dse": Twin(lambda A, B: t_moment(A, 1, score_log=False), lambda A, B: t_var(A, score_log=False, B=B), batch=2),
    "llada_stratified": Twin(
        lambda A, B: count_rule_mean(A, llada_counts, B or LLADA_B),
        lambda A, B: count_rule_var(A, llada_counts, B),
        batch=4,
    ),
    "llada_stratified_fixed": Twin(
        lambda A, B: count_rule_mean(A, fixed_counts, B or LLADA_B),
        lambda A, B: count_rule_var(A, fixed_counts, B),
        batch=4,
    ),
    LINEAR: scheme_twin(weights_law(lambda n: np.arange(1.0, n + 1))),
}


def twin(name: str) -> Twin:
    if name not in TWINS:
        pytest.fail(f"no independent twin for {name}")
    return TWINS[name]


def linear_law(n):
    """P(m) ∝ m on 1..n with f_m = 1/(m q_m): unbiased (Thm 4.1)."""
    q = np.r_[0.0, np.arange(1.0, n + 1)]
    q /= q.sum()
    f = np.zeros(n + 1)
    f[1:] = 1.0 / (np.arange(1, n + 1) * q[1:])
    return q, f


@pytest.fixture
def linear_scheme():
    """A scheme registered from outside the package, as a user would."""
    spec = registry.register_estimator(registry.EstimatorSpec(LINEAR, "P(m) ∝ m", "mask", law=linear_law))
    yield spec
    registry.unregister_estimator(LINEAR)


def generic_table(n: int, seed: int, *, singletons=True) -> np.ndarray:
    """A(M) ≥ 0 with no structure (A(∅) = 0), so no estimator's bias can cancel by accident."""
    A = np.random.default_rng(seed).gamma(2.0, 0.7, 1 << n)
    A[0] = 0.0
    if not singletons:
        A[1 << np.arange(n)] = 0.0  # a_i = 0: λ-DCE has a finite variance (§6.3)
    return A


# =================================================================================== checks
def check_exact_moments(name: str) -> None:
    tw = twin(name)
    spec = registry.get_estimator(name)
    n = max(3, spec.min_length)
    for A in (generic_table(n, 1), generic_table(n, 2, singletons=False)):
        want_mean = tw.mean(A, tw.batch)
        got_mean = moments.exact_mean(A, name, batch_size=tw.batch, **tw.options(n))
        assert got_mean == pytest.approx(want_mean, rel=1e-10, abs=1e-12), name
        got = moments.estimator_moments(A, name, batch_size=tw.batch, **tw.options(n))
        assert got.mean == pytest.approx(want_mean, rel=1e-10, abs=1e-12), name
        singles = A[1 << np.arange(n)]
        if got.variance_is_infinite:
            # Only λ-DCE's 1/λ weight makes a finite table's variance infinite: exactly when some a_i > 0 (§6.3).
            assert np.any(singles > 0) and got.infinite_because == tuple(np.flatnonzero(singles > 0)), name
        else:
            assert got.variance == pytest.approx(tw.var(A, tw.batch), rel=1e-8, abs=1e-11), name
    if spec.exact_moments:  # its moments need nothing but the table
        assert moments.estimator_moments(A, name, **tw.options(n)).mean == pytest.approx(tw.mean(A, None), rel=1e-10)


def _d128_case():
    """A D128 sequence with every singleton a_i = 0 (finite λ-DCE variance) and its exact table."""
    p = dna128()
    A = optimal_mask_dce(p, p.support)
    row = int(np.flatnonzero(~(A[:, 1 << np.arange(8)] > 0).any(axis=1))[0])
    return OptimalDenoiser(p), p.support[row], A[row]


def check_monte_carlo(name: str) -> None:
    tw = twin(name)
    spec = registry.get_estimator(name)
    den, x0, A = _d128_case()
    batch = 16 if spec.stratified else 4096
    n_samples = batch * 2048 if spec.stratified else 1 << 15
    opts = tw.options(8)
    est = estimators.estimate(name, MaskDCE(den, x0), n_samples=n_samples, rng=11, batch_size=batch, **opts)
    exact = moments.estimator_moments(A, name, batch_size=batch if spec.stratified else None, **opts)
    assert abs(est.mean - exact.mean) <= 5 * est.stderr, (name, est, exact)
    if not (tw.heavy or exact.variance_is_infinite):
        # The reported standard error (batch means when stratified) estimates sqrt(Var/n).
        assert est.stderr == pytest.approx(math.sqrt(exact.variance / n_samples), rel=0.2), (name, est, exact)


def check_flags(name: str) -> None:
    tw = twin(name)
    spec = registry.get_estimator(name)
    p = dirichlet(2, 5, alpha=0.7, rng=3)
    den, x0 = OptimalDenoiser(p), p.support[7]
    runs = [
        estimators.estimate(
            name, MaskDCE(den, x0), n_samples=64, rng=5, batch_size=b, return_values=True, **tw.options(5)
        )
        for b in (8, 16)
    ]
    assert spec.stratified == (not np.array_equal(runs[0].values, runs[1].values)), name
    A = generic_table(4, 7)
    assert spec.biased == (abs(tw.mean(A, None) - nll_of(A)) > 1e-9), name
    if spec.min_length > 1:
        n = spec.min_length - 1
        with pytest.raises(ValueError, match=f"needs a target of at least {spec.min_length}"):
            oracle = MaskDCE(den, x0, target=list(range(n)))
            estimators.estimate(name, oracle, n_samples=32, batch_size=16, **tw.options(n))
    n = spec.min_length
    short = MaskDCE(den, x0, target=list(range(n)))
    assert np.isfinite(estimators.estimate(name, short, n_samples=32, batch_size=16, rng=1, **tw.options(n)).mean)


# ==================================================================== parametrized over the registry
NAMES = registry.estimator_names()


@pytest.mark.parametrize("name", NAMES)
def test_exact_mean_and_variance_against_the_independent_twin(name):
    check_exact_moments(name)


@pytest.mark.parametrize("name", NAMES)
def test_monte_carlo_mean_within_five_standard_errors_of_the_exact_mean(name):
    check_monte_carlo(name)


@pytest.mark.parametrize("name", NAMES)
def test_flags_say_what_the_estimator_does(name):
    check_flags(name)


def test_a_scheme_registered_from_outside_conforms(linear_scheme):
    assert LINEAR in registry.estimator_names()
    check_exact_moments(LINEAR)
    check_monte_carlo(LINEAR)
    check_flags(LINEAR)


def test_an_estimator_without_a_twin_fails_visibly(linear_scheme):
    other = registry.EstimatorSpec("no_twin_here", "x", "mask", law=linear_law)
    registry.register_estimator(other)
    try:
        with pytest.raises(pytest.fail.Exception, match="no independent twin for no_twin_here"):
            check_exact_moments("no_twin_here")
    finally:
        registry.unregister_estimator("no_twin_here")


# ================================================================================= log-ratios
def ratio_twin(A_num, A_den, law):
    """(mean, Var coupled, Var decoupled) by enumerating M (shared) and the pairs (M, M')."""
    n = len(A_num).bit_length() - 1
    q, f = law(n)
    P = [float(q(popcount(M))) / math.comb(n, popcount(M)) for M in range(1 << n)]
    gn = [f(popcount(M)) * A_num[M] for M in range(1 << n)]
    gd = [f(popcount(M)) * A_den[M] for M in range(1 << n)]
    coupled = [(p, d - u) for p, u, d in zip(P, gn, gd)]
    decoupled = [(P[i] * P[j], gd[i] - gn[j]) for i in range(1 << n) for j in range(1 << n)]

    def mean_var(pairs):
        mean = math.fsum(p * g for p, g in pairs)
        return mean, math.fsum(p * (g - mean) ** 2 for p, g in pairs)

    (mc, vc), (md, vd) = mean_var(coupled), mean_var(decoupled)
    assert mc == pytest.approx(md, rel=1e-12, abs=1e-12)
    return mc, vc, vd


RATIO_LAWS = {"time_free": time_free_law, "k_dce": k_dce_law, "rb_lambda_dce": rb_law}


@pytest.mark.parametrize("scheme", estimators.ratio_schemes())
def test_log_ratio_moments_against_the_joint_mask_law(scheme):
    if scheme not in RATIO_LAWS:
        pytest.fail(f"no independent twin for {scheme}")
    A_num, A_den = generic_table(4, 21), generic_table(4, 22)
    A_den[3::5] = A_num[3::5]  # some shared structure: a covariance of either sign
    mean, var_c, var_d = ratio_twin(A_num, A_den, RATIO_LAWS[scheme])
    r = moments.ratio_moments(A_num, A_den, scheme=scheme)
    assert r.mean == pytest.approx(mean, rel=1e-12, abs=1e-12)
    assert r.mean == pytest.approx(nll_of(A_den) - nll_of(A_num), rel=1e-10, abs=1e-12)
    assert r.variance_coupled == pytest.approx(var_c, rel=1e-10)
    assert r.variance_decoupled == pytest.approx(var_d, rel=1e-10)
    assert r.covariance_term == pytest.approx(var_d - var_c, rel=1e-9, abs=1e-12)
    # The one draw loop on the exact tables: unbiased, with the exact spread, coupled and decoupled.
    sch = estimators.mask_size_scheme(scheme, 4)
    for coupled, var in ((True, var_c), (False, var_d)):
        g = ratio_draws(sch, TableOracle(A_num), TableOracle(A_den), 1 << 16, np.random.default_rng(3), coupled=coupled)
        assert abs(g.mean() - mean) <= 5 * math.sqrt(var / g.size)
        assert g.var(ddof=1) == pytest.approx(var, rel=0.05)


def test_coupled_and_decoupled_draws_are_those_of_log_ratio():
    """``log_ratio`` on a denoiser and ``ratio_draws`` on the exact tables draw the same masks."""
    p = dirichlet(3, 4, alpha=0.5, rng=2)
    den = OptimalDenoiser(p)
    x, y = p.support[3], p.support[10]
    A_x, A_y = optimal_mask_dce(p, x), optimal_mask_dce(p, y)
    sch = estimators.mask_size_scheme("k_dce", 4)
    for coupled in (True, False):
        est = estimators.log_ratio(
            den, x, y, n_samples=5000, coupled=coupled, scheme="k_dce", rng=9, return_values=True
        )
        g = ratio_draws(sch, TableOracle(A_x), TableOracle(A_y), 5000, np.random.default_rng(9), coupled=coupled)
        np.testing.assert_allclose(est.values, g, rtol=1e-12, atol=1e-12)


@pytest.fixture
def stratified_linear_scheme():
    """A stratified scheme with no closed form: its batch moments come from its exact cumulative law."""
    family = families.MaskSize(linear_law, stratified=True)
    spec = registry.register_estimator(registry.EstimatorSpec("linear_stratified", "P(m) ∝ m, stratified", family))
    TWINS["linear_stratified"] = Twin(
        lambda A, B: stratified_scheme_mean(A, weights_law(lambda n: np.arange(1.0, n + 1)), B or 16),
        lambda A, B: stratified_scheme_var(A, weights_law(lambda n: np.arange(1.0, n + 1)), B),
        batch=3,
    )
    yield spec
    del TWINS["linear_stratified"]
    registry.unregister_estimator("linear_stratified")


def test_a_stratified_scheme_registered_from_outside_conforms(stratified_linear_scheme):
    check_exact_moments("linear_stratified")
    check_monte_carlo("linear_stratified")
    check_flags("linear_stratified")
    # The general route on k-DCE's law agrees with k-DCE's closed form (edges m/n, weights n/m).
    A = generic_table(5, 4)
    general = families.MaskSize(registry.get_estimator("k_dce").family.law, stratified=True)
    mean, var, _ = general.moments(A[None], batch_size=7)
    want = moments.stratified_k_dce_moments(A, 7)
    assert mean[0] == pytest.approx(want[0], rel=1e-13) and var[0] == pytest.approx(want[1], rel=1e-12)
