"""Estimator families: how each likelihood estimator draws its masks, and its exact moments (``docs/theory.md`` §6, §8).

An :class:`~ctmc_lab.estimation.registry.EstimatorSpec` carries one family object; every caller
(Monte Carlo, exact moments, the command line, the studies) asks that object, never the
estimator's name. A family draws single values g from any A-oracle (``oracle.n`` and
``oracle(local) -> A(M)``: :class:`ctmc_lab.exact.mask_dce.MaskDCE` or
:class:`~ctmc_lab.estimation.laws.TableOracle`) and gives the exact mean, per-draw variance and
infinite-variance flag of those draws from the table A(M) over all 2^n masks:

======================  =======================================  ======================================
family                  how M is drawn, value g                  exact moments
======================  =======================================  ======================================
:class:`MaskSize`       m ~ q_m, M uniform of size m,            sum over masks (§6.1–6.2); stratified:
                        g = f_m A(M); optionally m stratified    per stratum, B · Var(batch mean)
                        per batch (v_j = (j + u_j)/B)
:class:`LambdaDCE`      λ ~ U(0,1) (or λ_j = (j + u_j)/B),       Beta integrals; infinite iff some
                        M ~ Bern(λ)^n, g = A(M)/λ (Eq. 16)       a_i = A({i}) > 0 (§6.3)
:class:`TimeSampled`    t = (1-ε_s)u + ε_s, M ~ Bern(λ(t))^n,    one quadrature over t of the level
                        the code's t-DCE / t-DSE (Lemma 3.3)     sums (§6.3, §8); the ``vdm`` batch
:class:`CountRule`      one k per batch, row j of LLaDA's        given k the rows are independent:
                        count table, g = (n/x_j) A(M_j)          (★) and Var Ḡ of ``llada``
======================  =======================================  ======================================

Moments take a batch of tables ``A2`` of shape ``(B, 2**n)`` and return three ``(B,)`` arrays
(mean, variance, variance_is_infinite); :mod:`ctmc_lab.estimation.moments` turns them into
:class:`~ctmc_lab.estimation.records.Moments`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

import numpy as np
from scipy.integrate import quad_vec
from scipy.special import betainc, betaln, comb

from ctmc_lab._validation import ensure_array, positive_int
from ctmc_lab.estimation import llada
from ctmc_lab.estimation.laws import (
    DRAW_CHUNK,
    MaskSizeScheme,
    UniformMasks,
    chunks,
    level_sums,
    validated_law,
)
from ctmc_lab.estimation.records import moments_records
from ctmc_lab.exact.mask_dce import DEFAULT_BATCH
from ctmc_lab.masks import imdce_sum
from ctmc_lab.sequences import popcount

__all__ = [
    "Family",
    "MaskSize",
    "LambdaDCE",
    "TimeSampled",
    "CountRule",
    "stratified_scheme_moments",
    "stratified_k_dce_moments",
    "stratified_lambda_dce_moments",
    "lambda_dce_moments",
    "t_moments",
    "t_vdm_excess",
    "m1_tail",
    "beta_between",
]


def _n_of(A2: np.ndarray) -> int:
    return int(A2.shape[-1]).bit_length() - 1


class Family:
    """The behaviour an estimator's spec carries: drawing and exact moments.

    Attributes
    ----------
    kind : str
        A short name of the family, for display (``mask``, ``lambda``, ``time``, ``llada``).
    stratified : bool
        The default design draws a batch of ``batch_size`` dependently (stratified), so the
        draws depend on ``batch_size`` and the standard error comes from the batch means.
    needs_weights, needs_schedule : bool
        Runs only with ``weights`` (not by name), or takes a ``schedule``.
    exact_by_table : bool
        Its exact moments need nothing but the table (``estimator_moments(A, name)``).
    draws_mask_sizes : bool
        It draws m ~ q, then M uniform of size m, with g = f_m A(M): :meth:`Family.scheme` gives that
        law, which log-ratios (Eq. 18) and the mask-size tables use.
    """

    kind: ClassVar[str] = ""
    stratified: bool = False
    needs_weights: ClassVar[bool] = False
    needs_schedule: ClassVar[bool] = False
    exact_by_table: ClassVar[bool] = True
    draws_mask_sizes: ClassVar[bool] = False
    #: Default number of draws (None: required) and of rows per batch.
    default_n_samples: ClassVar[int | None] = None
    default_batch: ClassVar[int] = DEFAULT_BATCH

    # Two families are equal when they draw alike: the same class with the same options.
    def __eq__(self, other):
        return NotImplemented if not isinstance(other, Family) else self is other or vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), self.kind))

    # ----------------------------------------------------------------- options and run sizes
    def option_defaults(self) -> dict:
        """The keyword options of :meth:`draw` beyond the common ones, with their defaults."""
        return {}

    def options(self, name: str, given: dict) -> dict:
        """``given`` validated and completed with defaults; an unknown key is a TypeError naming it."""
        defaults = self.option_defaults()
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}; it takes {sorted(defaults)}")
        return {**defaults, **given}

    def is_stratified(self, options: dict) -> bool:
        """Whether a run with these options stratifies its batches."""
        return self.stratified

    def default_batch_size(self, n_samples: int) -> int:
        """The batch size a run of ``n_samples`` uses when none is given (the command line's rule).

        Not stratified: ``DEFAULT_BATCH`` (a memory knob). Stratified: the largest divisor of
        ``n_samples`` up to ``min(DEFAULT_BATCH, n_samples // 2)``, so the run has whole batches
        and at least two of them.
        """
        n_samples = positive_int(n_samples, "n_samples")
        if not self.stratified:
            return self.default_batch
        if n_samples < 2:
            raise ValueError(f"a batch-stratified estimator needs at least 2 samples (2 batches); got {n_samples}")
        b = min(DEFAULT_BATCH, n_samples // 2)
        while n_samples % b:
            b -= 1
        return b

    # ------------------------------------------------------------------------- the interface
    def scheme(self, name: str, n: int, *, weights=None) -> MaskSizeScheme | None:
        """Its mask-size law at length n, if it draws m ~ q, M uniform of size m, g = f_m A(M)."""
        return None

    def draw(self, name, oracle, n_samples, rng, batch_size, options) -> tuple[np.ndarray, str]:
        """(values, label): ``n_samples`` single-draw values from ``oracle`` and the estimate's name."""
        raise NotImplementedError

    def moments(self, A2, *, name="estimator", batch_size=None, **options):
        """(mean, variance, variance_is_infinite), each ``(B,)``, of one draw for each table of ``A2``.

        ``A2`` is a validated ``(B, 2**n)`` float array; ``batch_size`` is the batch of a
        stratified design (its variance is then per draw, B · Var(batch mean)); ``options`` are
        the family's own (weights, schedule, ...).
        """
        raise NotImplementedError

    def mean(self, A2, *, name="estimator", **options) -> np.ndarray:
        """The exact mean of one draw for each table of ``A2`` ``(B, 2**n)``."""
        return self.moments(A2, name=name, **options)[0]

    @staticmethod
    def _no_options(name, options):
        if options:
            raise TypeError(f"the moments of {name} take no option {sorted(options)[0]!r}")

    def exact_record(self, name: str, A2, *, reference, positions) -> list[dict]:
        """The ``ctmc-lab nll --json`` record of each table: :meth:`~ctmc_lab.estimation.records.Moments.as_json` of its moments."""
        mean, var, infinite = self.moments(A2, name=name)
        recs = moments_records(name, A2, mean, var, infinite, reference=reference, positions=positions)
        return [r.as_json() for r in recs]


# ================================================================================ mask sizes
def _exact_edges(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of the interval of v that gives m, for m = 1..n: the cumulative law of q.

    Summed in rational arithmetic on the binary values of q and rounded once, so a uniform law
    has its edges exactly at fl(m/n).
    """
    exact = [Fraction(float(x)) for x in q]
    total = sum(exact)
    cum, acc = [], Fraction(0)
    for x in exact:
        acc += x
        cum.append(float(acc / total))
    cum = np.array(cum)
    return cum[:-1], cum[1:]


def stratified_scheme_moments(A, lo, hi, f, batch_size: int):
    """Mean and per-draw variance B·Var(batch mean) of a mask-size scheme with stratified counts.

    Draw j of a batch of B has v_j = (j + u_j)/B and takes the mask size m whose interval
    [lo_m, hi_m) of the cumulative law holds v_j, so P(m | j) = B |[j/B, (j+1)/B) ∩ [lo_m, hi_m)|,
    and Var(batch mean) = (1/B²) sum_j Var(g_j) (``docs/theory.md`` §6.2).

    Parameters
    ----------
    A : (2**n,) or (..., 2**n) float array
    lo, hi : (n,) float arrays
        The interval of m = 1..n.
    f : (n,) float array
        The value weights f_m, m = 1..n.
    batch_size : int
    """
    n = _n_of(np.asarray(A))
    B = positive_int(batch_size, "batch_size")
    j = np.arange(B)[:, None]
    overlap = np.clip(np.minimum((j + 1) / B, hi[None, :]) - np.maximum(j / B, lo[None, :]), 0, None) * B
    C = comb(n, np.arange(n + 1))
    g1 = level_sums(A, n, 1)[..., 1:] * f / C[1:]  # E[g | m]
    g2 = level_sums(A, n, 2)[..., 1:] * f**2 / C[1:]  # E[g² | m]
    e1 = g1 @ overlap.T  # (..., B) E[g_j]
    e2 = g2 @ overlap.T
    mean = e1.mean(axis=-1)
    var = (e2 - e1**2).mean(axis=-1)
    return mean, var


def stratified_k_dce_moments(A, batch_size: int) -> tuple[float, float]:
    """Mean and per-draw variance B·Var(batch mean) of stratified k-DCE (evenly spaced m).

    Draw j of a batch of B has v_j = (j + u_j)/B and m_j = 1 + floor(n v_j), so
    P(m | j) = B |[j/B, (j+1)/B) ∩ [(m-1)/n, m/n)| and Var(batch mean) = (1/B²) sum_j Var(g_j),
    with g = (n/m) A(M) (``docs/theory.md`` §6.2).
    """
    A = np.asarray(A, dtype=float)
    n = _n_of(A)
    mm = np.arange(1, n + 1)
    return stratified_scheme_moments(A, (mm - 1) / n, mm / n, n / mm, batch_size)


def _scheme_moments(A: np.ndarray, scheme: MaskSizeScheme):
    P = scheme.mask_probabilities  # (2^n,)
    g = scheme.mask_weights * A  # f_0 A(∅) = 0
    live = P > 0
    inf_mean = np.any(np.isinf(g) & live, axis=-1)
    gf = np.where(live, g, 0.0)
    with np.errstate(invalid="ignore"):
        mean = np.where(inf_mean, np.inf, np.where(np.isinf(gf), 0.0, gf) @ P)
        # Centred sum, not E g² - (E g)²: exact where the variance is tiny compared with the mean².
        dev = np.where(live, gf - np.where(inf_mean, 0.0, mean)[..., None], 0.0)
        var = np.where(inf_mean, np.inf, dev**2 @ P)
    return mean, var, inf_mean


@dataclass(frozen=True, eq=False)
class MaskSize(Family):
    """m ~ q_m, M uniform of size m, g = f_m A(M): any law ``law(n) -> (q, f)`` (Thm 4.1, §6.1–6.2).

    Parameters
    ----------
    law : callable
        ``law(n)`` (or ``law(n, weights=w)`` with ``needs_weights``) returning ``(q, f)``, two
        ``(n+1,)`` arrays: q_m = P(|M| = m), m = 0..n, summing to 1, and the value weight f_m.
    stratified : bool, default False
        Evenly spaced mask counts per batch of B draws: v_j = (j + u_j)/B inverted through the
        cumulative law, so each batch mean is unbiased and its variance drops.
    needs_weights : bool, default False
        The law takes ``weights`` (then the estimator runs only with them, not by name).
    batch_moments : callable, optional
        ``batch_moments(A, B) -> (mean, per-draw variance)`` of the stratified design when it
        has a closed form; by default :func:`stratified_scheme_moments` on the law's exact
        cumulative edges.
    """

    law: object
    stratified: bool = False
    needs_weights: bool = False
    batch_moments: object = None
    kind: ClassVar[str] = "mask"
    draws_mask_sizes: ClassVar[bool] = True

    @property
    def exact_by_table(self) -> bool:
        return not self.stratified

    def option_defaults(self) -> dict:
        return {"weights": None} if self.needs_weights else {}

    def scheme(self, name, n, *, weights=None) -> MaskSizeScheme:
        q, f = validated_law(name, self.law, n, weights=weights, needs_weights=self.needs_weights)
        return MaskSizeScheme(name, int(n), q, f)

    def draw(self, name, oracle, n_samples, rng, batch_size, options):
        sch = self.scheme(name, oracle.n, weights=options.get("weights"))
        return sch.values(oracle, n_samples, rng, batch_size=batch_size if self.stratified else None), name

    def moments(self, A2, *, name="estimator", batch_size=None, weights=None, **options):
        self._no_options(name, options)
        sch = self.scheme(name, _n_of(A2), weights=weights)
        if not self.stratified:
            return _scheme_moments(A2, sch)
        if batch_size is None:
            raise ValueError("a stratified design's moments need its `batch_size`")
        if self.batch_moments is not None:
            pairs = [self.batch_moments(a, batch_size) for a in A2]
        else:
            lo, hi = _exact_edges(sch.q)
            pairs = [stratified_scheme_moments(a, lo, hi, sch.f[1:], batch_size) for a in A2]
        mean, var = (np.array([float(p[i]) for p in pairs]) for i in (0, 1))
        return mean, var, np.zeros(A2.shape[0], bool)


# ===================================================================================== λ-DCE
def lambda_dce_moments(A: np.ndarray, n: int):
    """(mean, variance, infinite, singles) of λ-DCE: E g² = sum_{m≥2} S2_m B(m-1, n-m+1) + S2_1 · ∞ (§6.3)."""
    m = popcount(np.arange(1 << n))
    mean = imdce_sum(A)
    w2 = np.where(m >= 2, np.exp(betaln(np.maximum(m - 1, 1), n - m + 1)), 0.0)
    singles = A[..., 1 << np.arange(n)]  # a_i = A({i})
    with np.errstate(invalid="ignore"):
        second = np.where(np.isinf(A), 0.0, A) ** 2 @ w2
        var = second - np.where(np.isfinite(mean), mean, 0.0) ** 2
    infinite = np.any(singles > 0, axis=-1) | np.any(np.isinf(A) & (m > 0), axis=-1)
    return mean, np.where(infinite, np.inf, var), infinite, singles


def m1_tail(delta, n: int):
    """∫_δ^1 λ^{-1}(1-λ)^{n-1} dλ = log(1/δ) - sum_{k=1}^{n-1} (1-δ)^k / k, exact (S6, S8)."""
    delta = ensure_array(delta, "delta", lo=0.0, hi=1.0)  # δ = 0 is the divergent tail: +inf
    k = np.arange(1, positive_int(n, "n"))
    with np.errstate(divide="ignore"):
        return -np.log(delta) - np.sum((1 - delta[..., None]) ** k / k, axis=-1)


def beta_between(a, b, lo, hi):
    """∫_lo^hi λ^{a-1}(1-λ)^{b-1} dλ for a, b ≥ 1 and 0 ≤ lo ≤ hi ≤ 1 (regularised incomplete
    betas × B(a, b)); outside those ranges the difference of betainc is not that integral."""
    a, b = ensure_array(a, "a", lo=1.0, finite=True), ensure_array(b, "b", lo=1.0, finite=True)
    lo, hi = ensure_array(lo, "lo", lo=0.0, hi=1.0), ensure_array(hi, "hi", lo=0.0, hi=1.0)
    if np.any(lo > hi):
        raise ValueError("`lo` must not exceed `hi` (the integral runs from lo up to hi)")
    return (betainc(a, b, hi) - betainc(a, b, lo)) * np.exp(betaln(a, b))


def stratified_lambda_dce_moments(A, batch_size: int):
    """Mean and per-draw variance B·Var(batch mean) of stratified λ-DCE (λ_j = (j + u_j)/B).

    Infinite iff some a_i > 0: the first stratum still reaches λ → 0 (``docs/theory.md`` §6.3).
    """
    n = _n_of(A)
    B = positive_int(batch_size, "batch_size")
    lo, hi = np.arange(B) / B, (np.arange(B) + 1) / B
    S1, S2 = level_sums(A, n, 1), level_sums(A, n, 2)
    m = np.arange(1, n + 1)[:, None]
    I1 = beta_between(m, n - m + 1, lo, hi)  # (n, B)
    I2 = np.zeros((n, B))
    I2[1:] = beta_between(m[1:] - 1, n - m[1:] + 1, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        I2[0] = m1_tail(lo, n) - m1_tail(hi, n)
    e1 = B * (S1[..., 1:] @ I1)
    has_single = np.any(np.atleast_2d(A)[:, 1 << np.arange(n)] > 0, axis=-1).reshape(np.shape(A)[:-1])
    with np.errstate(invalid="ignore"):
        e2 = B * (S2[..., 2:] @ I2[1:] + S2[..., 1:2] * np.where(np.isfinite(I2[0]), I2[0], 0.0))
    mean = e1.mean(axis=-1)
    var = np.where(has_single, np.inf, (e2 - e1**2).mean(axis=-1))
    return mean, var


@dataclass(frozen=True, eq=False)
class LambdaDCE(Family):
    """λ-DCE, the time-integral estimator: λ ~ U(0, 1), M ~ Bern(λ)^n, g = A(M)/λ (Eq. 16, §6.3).

    Parameters
    ----------
    stratified : bool, default False
        infodis' ``decoupled`` batch sampler λ_j = (j + u_j)/B within each batch of B draws (its
        first stratum still reaches λ → 0, so the variance stays infinite where λ-DCE's is).
    """

    stratified: bool = False
    kind: ClassVar[str] = "lambda"

    @property
    def exact_by_table(self) -> bool:
        return not self.stratified

    def draw(self, name, oracle, n_samples, rng, batch_size, options):
        stratified = self.stratified
        sizes = UniformMasks(oracle.n)
        out = np.empty(n_samples)
        for sl in chunks(n_samples, batch_size if stratified else DRAW_CHUNK):
            k = sl.stop - sl.start
            u = rng.random(k)
            # 1 - U lies in (0, 1]: λ = 0 (a division by zero) cannot occur.
            lam = (np.arange(k) + 1.0 - u) / k if stratified else 1.0 - u
            # M ~ Bern(λ)^n has the law of (m ~ Binomial(n, λ), then M uniform of size m).
            m = rng.binomial(oracle.n, lam)
            out[sl] = oracle(sizes.draw(m, rng)) / lam
        return out, name

    def moments(self, A2, *, name="estimator", batch_size=None, **options):
        self._no_options(name, options)
        if not self.stratified:
            mean, var, infinite, _ = lambda_dce_moments(A2, _n_of(A2))
            return mean, var, infinite
        if batch_size is None:
            raise ValueError("a stratified design's moments need its `batch_size`")
        pairs = [stratified_lambda_dce_moments(a, batch_size) for a in A2]
        mean, var = (np.array([float(p[i]) for p in pairs]) for i in (0, 1))
        return mean, var, np.isinf(var)


# ========================================================================== time-sampled (code)
_T_SAMPLERS = ("vdm", "plain")


def t_moments(A, *, schedule, eps_s: float, log_terms: bool, V=None):
    """(mean, second moment) of one draw of the code's t-estimators for one table (§6.3, §8).

    E g^p = (1/(1-ε_s)) ∫_{ε_s}^1 w^p sum_m λ^m (1-λ)^{n-m} E_m[V^p] dt with w = σ/(e^σ̄ - 1),
    V = A (+ the defect D for t-DSE) and, with ``log_terms``, V + m log(e^σ̄ - 1); computed with
    ``scipy.integrate.quad_vec`` (tolerance 1e-13 relative) for all levels at once.
    """
    n = _n_of(A)
    V = A if V is None else V
    C = comb(n, np.arange(n + 1))
    mm = np.arange(n + 1)
    S1, S2 = level_sums(V, n, 1), level_sums(V, n, 2)

    def integrand(t):
        sb = float(schedule.sigma_bar(t))
        sig = float(schedule.sigma(t))
        lam = -np.expm1(-sb)
        if lam <= 0:
            return np.zeros(5 * (n + 1))
        w = sig / np.expm1(sb)
        ell = np.log(np.expm1(sb))
        p = lam**mm * np.exp(-sb * (n - mm))  # λ^m (1-λ)^(n-m), with 1 - λ = e^{-σ̄}
        return np.concatenate([w * p, w * p * ell, w * w * p, w * w * p * ell, w * w * p * ell * ell])

    vals, _ = quad_vec(integrand, eps_s, 1.0, epsabs=0.0, epsrel=1e-13, limit=20000)
    vals = vals.reshape(5, n + 1) / (1.0 - eps_s)
    mean = S1 @ vals[0]
    second = S2 @ vals[2]
    if log_terms:
        mean += (C * mm) @ vals[1]
        second += 2 * (mm * S1) @ vals[3] + (C * mm**2) @ vals[4]
    return float(mean), float(second)


def t_vdm_excess(A, *, schedule, eps_s: float, log_terms: bool, batch_size: int, mean: float, V=None) -> float:
    """B · Var(Ḡ) minus the i.i.d. variance, for the ``vdm`` sampler's batch of B draws (§8).

    The sampler sets u_j = (u_0 + j/B) mod 1 with one u_0 ~ U(0, 1) per batch and draws the
    masks independently given t_j, so with μ(t) = E[g | t] and h(u_0) = (1/B) sum_j μ(t_j),

        B · Var(Ḡ) = [E g² - E_t μ²] + B · [E h² - (E g)²],

    and the excess over the i.i.d. variance E g² - (E g)² is B E h² - E_t μ² - (B - 1)(E g)²
    (0 at B = 1). h has period 1/B, so E h² = B ∫_0^{1/B} h² du_0; both integrals by
    ``scipy.integrate.quad`` (relative tolerance 1e-12).
    """
    from scipy.integrate import quad

    n = _n_of(A)
    V = A if V is None else V
    S1 = level_sums(V, n, 1)
    mm = np.arange(n + 1)
    Cm = comb(n, mm) * mm
    B = positive_int(batch_size, "batch_size")

    def mu(t):
        sb = float(schedule.sigma_bar(t))
        lam = -np.expm1(-sb)
        if lam <= 0:
            return 0.0
        w = float(schedule.sigma(t)) / np.expm1(sb)
        p = lam**mm * np.exp(-sb * (n - mm))
        return w * (p @ S1 + (np.log(np.expm1(sb)) * (p @ Cm) if log_terms else 0.0))

    def h(u0):
        return np.mean([mu((1.0 - eps_s) * (u0 + j / B) + eps_s) for j in range(B)])

    opts = dict(epsabs=0.0, epsrel=1e-12, limit=500)
    mu2 = quad(lambda t: mu(t) ** 2, eps_s, 1.0, **opts)[0] / (1.0 - eps_s)
    h2 = B * quad(lambda u: h(u) ** 2, 0.0, 1.0 / B, **opts)[0]
    return B * h2 - mu2 - (B - 1) * mean**2


def _schedule(options):
    from ctmc_lab.forward.schedules import Loglinear, Schedule

    schedule = options.get("schedule")
    if schedule is None:
        return Loglinear(1e-3)
    if not isinstance(schedule, Schedule):
        raise ValueError(f"`schedule` must be a ctmc_lab.forward.schedules.Schedule (got {type(schedule).__name__})")
    return schedule


def _eps_s(value) -> float:
    eps_s = float(value)
    if not 0.0 <= eps_s < 1.0:
        raise ValueError(f"`eps_s` must lie in [0, 1) (got {value!r})")
    return eps_s


@dataclass(frozen=True, eq=False)
class TimeSampled(Family):
    """The code's t-sampled DCE or DSE loss (SEDD/RADD/infodis ``t_DCE_loss``/``t_DSE_loss``, §8).

    t = (1-ε_s)u + ε_s, M ~ Bern(λ(t))^n, w = σ(t)/(e^σ̄(t) - 1) (Lemma 3.3) and

    * DCE: g = w [A(M) + m log(e^σ̄ - 1)] (``score_log=True``, the code's log of the score
      s = c/(e^σ̄ - 1)), or the true t-DCE g = w A(M) (``score_log=False``);
    * DSE (``defect=True``): g = w [A(M) + D(M)] with the row-sum defect D.

    Biased by the truncation at ε_s, the missing 1/(1-ε_s) and, for loglinear(ε), the unreached
    λ ∈ (1-ε, 1]. The default sampler is the code's ``vdm`` (u_j = (u_0 + j/B) mod 1, one u_0 per
    batch), so it is stratified.
    """

    defect: bool = False
    stratified: bool = True
    kind: ClassVar[str] = "time"
    needs_schedule: ClassVar[bool] = True
    exact_by_table: ClassVar[bool] = False

    def option_defaults(self) -> dict:
        out = {"schedule": None, "eps_s": 1e-3, "sampler": "vdm" if self.stratified else "plain"}
        return out if self.defect else {**out, "score_log": True}

    def options(self, name, given):
        opts = super().options(name, given)
        opts["schedule"] = _schedule(opts)
        opts["eps_s"] = _eps_s(opts["eps_s"])
        if opts["sampler"] not in _T_SAMPLERS:
            raise ValueError(f"unknown `sampler` {opts['sampler']!r}; choose one of {list(_T_SAMPLERS)}")
        return opts

    def is_stratified(self, options):
        return options["sampler"] == "vdm"

    def draw(self, name, oracle, n_samples, rng, batch_size, options):
        schedule, eps_s = options["schedule"], options["eps_s"]
        score_log = options.get("score_log", False)
        stratified = self.is_stratified(options)
        sizes = UniformMasks(oracle.n)
        # The loop draws (t, m, M) and queries the oracle batch by batch, in the order the
        # random stream and the model see them; the weights are elementwise in t and m, so
        # they are computed once for all draws after it.
        t_all, sigma_bar, V = np.empty(n_samples), np.empty(n_samples), np.empty(n_samples)
        m = np.empty(n_samples, dtype=np.int64)
        grid = np.arange(batch_size) / batch_size  # the vdm offsets j/B of a full batch
        for sl in chunks(n_samples, batch_size if stratified else DRAW_CHUNK):
            k = sl.stop - sl.start
            if stratified:  # infodis Batch_Uniform_Sampler(type="vdm"): one u0 per batch
                u = (rng.random() + (grid if k == batch_size else np.arange(k) / k)) % 1.0
            else:
                u = rng.random(k)
            t = (1.0 - eps_s) * u + eps_s
            t_all[sl] = t
            sigma_bar[sl] = schedule.sigma_bar(t)
            m[sl] = rng.binomial(oracle.n, -np.expm1(-sigma_bar[sl]))
            if self.defect:
                A, D = oracle(sizes._draw(m[sl], rng), with_defect=True)
                V[sl] = A + D
            else:
                V[sl] = oracle(sizes._draw(m[sl], rng))
        sigma = np.asarray(schedule.sigma(t_all), dtype=float)
        lam = -np.expm1(-sigma_bar)
        esigm1 = np.expm1(sigma_bar)
        # Lemma 3.3 weight σ(t)/(e^σ̄ - 1) = σ(1-λ)/λ; at t = 0 (eps_s = 0, u = 0) no mask is drawn.
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(lam > 0, sigma / esigm1, 0.0)
        if not self.defect:
            with np.errstate(divide="ignore"):
                offset = m * np.log(esigm1) if score_log else 0.0
            V += np.where(m > 0, offset, 0.0)
        out = np.where(m > 0, w * V, 0.0)
        return out, (name if self.defect or score_log else f"{name}_true")

    def _values(self, A2, name, options):
        allowed = {"schedule", "eps_s", *(("defect",) if self.defect else ("score_log",))}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise TypeError(f"the moments of {name} take no option {unknown[0]!r}; they take {sorted(allowed)}")
        opts = self.options(name, {k: v for k, v in options.items() if k != "defect"})
        if np.isinf(A2).any():
            raise ValueError("`A` has infinite entries: the t-estimators' moments are infinite")
        defect = options.get("defect")
        V = A2 if defect is None or not self.defect else A2 + np.asarray(defect, float)
        return V, dict(schedule=opts["schedule"], eps_s=opts["eps_s"], log_terms=opts.get("score_log", False))

    def moments(self, A2, *, name="estimator", batch_size=None, **options):
        """Without ``batch_size``, the variance of i.i.d. draws (the ``plain`` sampler); with it,
        the per-draw variance B · Var(Ḡ) of the ``vdm`` sampler's batches (:func:`t_vdm_excess`).
        The mean is that of every draw of either sampler (each t_j is marginally uniform)."""
        V, kw = self._values(A2, name, options)
        pairs = [t_moments(A, V=v, **kw) for A, v in zip(A2, V)]
        mean = np.array([p[0] for p in pairs])
        var = np.array([p[1] - p[0] ** 2 for p in pairs])
        if batch_size is not None:
            var = var + np.array(
                [t_vdm_excess(A, V=v, batch_size=batch_size, mean=m, **kw) for A, v, m in zip(A2, V, mean)]
            )
        return mean, var, np.zeros(A2.shape[0], bool)

    def mean(self, A2, *, name="estimator", batch_size=None, **options) -> np.ndarray:
        """The exact mean for a batch of tables by linearity: E g = c_0 + sum_M c_{|M|} V(M), with
        the n + 1 coefficients from :func:`t_moments` on the zero table and the n level
        indicators (one quadrature each, however many tables)."""
        V, kw = self._values(A2, name, options)
        nb = _n_of(V)
        size = popcount(np.arange(1 << nb))
        c0 = t_moments(np.zeros(1 << nb), **kw)[0]
        coef = np.zeros(nb + 1)
        for m in range(1, nb + 1):
            basis = (size == m).astype(float)
            coef[m] = (t_moments(basis, **kw)[0] - c0) / basis.sum()
        return c0 + V @ coef[size]


# ================================================================================ count rules
@dataclass(frozen=True, eq=False)
class CountRule(Family):
    """LLaDA's evaluator: one k ~ U{1..n} per batch of b rows, row j masks x_j(k) positions,
    g = (n/x_j) A(M_j) (:mod:`ctmc_lab.estimation.llada`, ``docs/theory.md`` §8).

    Parameters
    ----------
    rule : {"llada", "fixed"}
        LLaDA's float32 ``round(linspace)`` counts, or the integer fix k + floor(j n/b) mod n.

    Notes
    -----
    Defaults are ``get_log_likelihood``'s: ``n_samples`` = mc_num = 128, ``batch_size`` = 16.
    The per-draw variance is b · Var(batch mean).
    """

    rule: str = "llada"
    stratified: bool = True
    kind: ClassVar[str] = "llada"
    default_n_samples: ClassVar[int] = llada.DEFAULT_MC_NUM
    default_batch: ClassVar[int] = llada.DEFAULT_BATCH_SIZE

    def __post_init__(self):
        if self.rule not in llada.RULES:
            raise ValueError(f"unknown `rule` {self.rule!r}; choose one of {list(llada.RULES)}")

    def default_batch_size(self, n_samples):
        positive_int(n_samples, "n_samples")
        return self.default_batch

    def draw(self, name, oracle, n_samples, rng, batch_size, options):
        return llada.llada_draws(oracle, n_samples, rng, batch_size, rule=self.rule), name

    def moments(self, A2, *, name="estimator", batch_size=None, **options):
        self._no_options(name, options)
        b = self.default_batch if batch_size is None else batch_size
        per = llada.llada_moments(A2, batch_size=b, mc_num=max(b, llada.DEFAULT_MC_NUM), rule=self.rule)
        mean = np.array([m.mean for m in per])
        var = np.array([m.per_draw_variance for m in per])
        return mean, var, np.zeros(A2.shape[0], bool)

    def exact_record(self, name, A2, *, reference, positions):
        """LLaDA's record: :meth:`~ctmc_lab.estimation.llada.LLaDAMoments.as_json` at b = 16, mc_num = 128."""
        return [m.as_json() for m in llada.llada_moments(A2, rule=self.rule, reference=reference)]
