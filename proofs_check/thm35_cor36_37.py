"""Theorem 3.5 (c* minimises the expected DCE), Corollary 3.6 (I-MDCE) and Corollary 3.7
(the masked NLL decomposition), in float64 (``docs/theory.md`` §3.4–§3.5).

Two routes are compared wherever possible:

* the subset table h(U) = -log P0(x0^U) and the closed forms of :mod:`ctmc_lab.masks`
  (KL as a polynomial in λ, mdce, Beta integrals);
* the optimal denoiser queried on masked inputs (the DCE sums A(M)), and the dense forward
  process of :mod:`ctmc_lab.forward.process` / :mod:`ctmc_lab.exact.information`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import integrate
from scipy.special import log_softmax

from ctmc_lab import masks
from ctmc_lab.exact import information
from ctmc_lab.forward import generators, process
from ctmc_lab.sequences import flat_index, popcount, subset_members
from ctmc_lab.sources.denoisers import OptimalDenoiser

from . import cost
from ._util import DENSE_LIMIT, fit_dense, five_point, label, pick_sequences, worst
from .framework import TOL_DERIV, TOL_ENUM, TOL_QUAD, Result, Skip, check
from .process_ties import process_mdce
from .thm41_43_eq18 import _MAX_LENGTH, masked_dce

__all__ = ["expected_dce", "perturbed_log_probs"]

_LEVELS = (0.2, 0.5, 0.8)


def _table(ctx, count):
    dist = ctx.large
    if dist.length > _MAX_LENGTH:
        return Skip(f"L={dist.length}", f"2^{dist.length} subsets exceed the limit L ≤ {_MAX_LENGTH}")
    seqs = pick_sequences(dist, count)
    h = masks.subset_entropy(dist.subset_table(seqs))
    return dist, seqs, h, masks.mask_dce(h)


def _table_work(ctx, count: int, per_sequence: float = 0.0) -> float:
    """Subset tables of ``count`` sequences of ``ctx.large`` (:func:`_table`) and
    ``per_sequence`` further element operations per table entry."""
    dist = ctx.large
    if dist.length > _MAX_LENGTH:
        return 0.0
    count = min(count, dist.support_size)
    return cost.subset_tables(count, dist) + cost.ELEM * count * (1 << dist.length) * dist.length * per_sequence


# ------------------------------------------------------------------------------ Thm 3.5
def perturbed_log_probs(logc: np.ndarray, x_in: np.ndarray, n_states: int, amplitude: float, salt: int):
    """log c for a perturbed denoiser: softmax(log c* + amplitude·ξ(x̃, i, v)).

    ξ is a fixed pseudo-random function of the masked input x̃ (through its flat index), the
    position and the symbol, so the perturbed c is a genuine denoiser: same input, same output.
    """
    B, L, N = logc.shape
    key = flat_index(x_in, n_states).astype(float)[:, None, None]
    i = np.arange(L)[None, :, None]
    v = np.arange(N)[None, None, :]
    xi = np.sin(12.9898 * key + 78.233 * i + 37.719 * v + 4.1 * salt) * 43758.5453
    xi = 2.0 * (xi - np.floor(xi)) - 1.0  # in [-1, 1)
    return log_softmax(logc + amplitude * xi, axis=-1)


def expected_dce(dist, seqs_all, probs, masks_visible, logc_picked, lam: float) -> float:
    """E_{p0} E_{p_{λ|0}} ℓ_DCE = Σ_{x0} p0(x0) Σ_M λ^m (1-λ)^(L-m) Σ_{i∈M} -log c(x̃)_{i,x0^i}."""
    m = (~masks_visible).sum(axis=1)
    w = lam**m * (1 - lam) ** (dist.length - m)
    dce = -np.where(~masks_visible[None], logc_picked, 0.0).sum(axis=2)  # (B, K)
    return float(probs @ (dce @ w))


@functools.lru_cache(maxsize=2)
def _dce_table(dist, quick: bool):
    """Rows (amplitude, λ, E ℓ(c*), E ℓ(c), Σ p_λ(x̃) KL) for Theorem 3.5 (shared by two checks)."""
    L = dist.length
    seqs, probs = dist.support, dist.probs
    visible = subset_members(L)
    B, K = seqs.shape[0], visible.shape[0]
    x_in = np.where(visible[None], seqs[:, None, :], dist.mask_id).reshape(B * K, L)
    # Distinct masked states x̃ and their mass p_λ(x̃) up to the λ factor: P0(x̃^U).
    uniq, inverse = np.unique(x_in, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    uvisible = uniq != dist.mask_id
    marg = dist.marginal(uniq, uvisible)
    logc_star = OptimalDenoiser(dist)(uniq)  # (U, L, N)

    def pick(lc):
        return np.take_along_axis(lc[inverse].reshape(B, K, L, -1), seqs[:, None, :, None], 3)[..., 0]

    m_u = (~uvisible).sum(axis=1)
    cstar = np.exp(logc_star)
    levels = _LEVELS[:2] if quick else _LEVELS
    # c*'s expected DCE depends on λ only: once per level, not once per amplitude.
    picked_star = pick(logc_star)
    e_stars = {lam: expected_dce(dist, seqs, probs, visible, picked_star, lam) for lam in levels}
    rows = []
    for salt, amp in enumerate((1e-3, 0.1, 1.0)):
        logc = perturbed_log_probs(logc_star, uniq, dist.n_tokens + 1, amp, salt)
        with np.errstate(invalid="ignore"):
            kl_rows = np.where(cstar > 0, cstar * (logc_star - logc), 0.0).sum(axis=2)  # (U, L)
        kl_state = np.where(~uvisible, kl_rows, 0.0).sum(axis=1)
        picked = pick(logc)
        for lam in levels:
            e_star = e_stars[lam]
            e_pert = expected_dce(dist, seqs, probs, visible, picked, lam)
            gap_kl = float(np.sum(lam**m_u * (1 - lam) ** (L - m_u) * marg * kl_state))
            rows.append((amp, lam, e_star, e_pert, gap_kl))
    return rows


def _thm35_work(ctx) -> float:
    """:func:`_dce_table`: every (x0, mask) pair, its distinct masked states (sorted), their
    marginals and denoiser rows, and for 3 amplitudes × the levels two expected DCEs and a KL."""
    dist = ctx.large
    if _thm35_skip(dist) is not None:
        return 0.0
    rows = float(dist.support_size) * (1 << dist.length)
    levels = 2 if ctx.quick else 3
    per_row = dist.length * (math.log2(rows) + 3 * (2 * levels + 2) * dist.n_tokens)
    return (
        cost.masked_queries(dist, dist.support_size, 1 << dist.length)
        + cost.marginals(dist, rows)
        + (cost.ELEM * rows * per_row)
    )


def _thm35_skip(dist):
    if dist.length > 12 or dist.support_size * (1 << dist.length) * dist.support_size * dist.length > 4e9:
        return Skip(
            f"L={dist.length}, |support|={dist.support_size}", "enumerating every (x0, mask) pair is too costly"
        )
    return None


@check(
    "thm35.gap_identity",
    theorem="Thm 3.5",
    method="float64",
    tolerance=TOL_ENUM,
    statement="E ℓ_DCE(c) − E ℓ_DCE(c*) = E_x̃ Σ_i KL(c*‖c)",
    work=_thm35_work,
    group="thm35",
)
def thm35_gap(ctx):
    """Theorem 3.5 (§3.4), exactly: for any denoiser c and λ ∈ (0, 1),
    E ℓ(c) - E ℓ(c*) = Σ_{x̃} p_λ(x̃) Σ_{i masked} KL(c*(x̃)_i ‖ c(x̃)_i) ≥ 0 (Gibbs). The left
    side sums over (x0, M); the right side over the distinct masked states x̃, with
    p_λ(x̃) = λ^m (1-λ)^(L-m) P0(x̃^U) from direct marginal sums. c perturbs log c* by a fixed
    pseudo-random function of (x̃, i, v) with amplitude 1e-3, 0.1 or 1."""
    dist = ctx.large
    if (skip := _thm35_skip(dist)) is not None:
        yield skip
        return
    rows = _dce_table(dist, ctx.quick)
    for amp in sorted({r[0] for r in rows}):
        sub = [r for r in rows if r[0] == amp]
        a, lam, e_star, e_pert, gap_kl = max(sub, key=lambda r: abs((r[3] - r[2]) - r[4]))
        yield Result(
            f"{dist.name}; amplitude {amp:g}; λ∈{[r[1] for r in sub]} (worst λ={lam})", e_pert - e_star, gap_kl
        )


#: Rounding bound of an expected DCE, per position: each -log c(x̃)_{i,v} carries an absolute
#: error of a few eps (log of a number with relative error eps), and the weights
#: p0(x0) λ^m (1-λ)^(L-m) sum to at most 1 per position.
_DCE_ROUNDING = 16 * np.finfo(float).eps


@check(
    "thm35.minimiser",
    theorem="Thm 3.5",
    method="float64",
    tolerance=0.0,
    statement="E ℓ_DCE(c*) ≤ E ℓ_DCE(c) for perturbed c",
    work=_thm35_work,
    group="thm35",
)
def thm35_minimiser(ctx):
    """Theorem 3.5 as stated: every perturbation raises the expected DCE. The error is the
    violation max(0, E ℓ(c*) - E ℓ(c)); its tolerance is the rounding of the two expectations,
    L · 16 eps (:data:`_DCE_ROUNDING`), not 0: where every c* is 1 - 1e-300 (a table with a
    probability of 1e-300) both expectations are ~1e-298, made of terms that round to 0.
    lhs/rhs are the two expectations at the λ where the increase is smallest."""
    dist = ctx.large
    if (skip := _thm35_skip(dist)) is not None:
        yield skip
        return
    rows = _dce_table(dist, ctx.quick)
    for amp in sorted({r[0] for r in rows}):
        sub = [r for r in rows if r[0] == amp]
        a, lam, e_star, e_pert, _ = min(sub, key=lambda r: r[3] - r[2])
        yield Result(
            f"{dist.name}; amplitude {amp:g}; smallest increase at λ={lam} ({e_pert - e_star:+.2e}); tol L·16 eps",
            e_star,
            e_pert,
            max(0.0, e_star - e_pert),
            tolerance=dist.length * _DCE_ROUNDING,
        )


# ------------------------------------------------------------------------------ Cor 3.6
@check(
    "algebra.cor36_closed_form",
    theorem="Algebra",
    method="float64",
    tolerance=TOL_ENUM,
    statement="closed forms on h: kl_rate(h) = −mdce(h)/λ",
    work=lambda ctx: _table_work(ctx, 8 if ctx.quick else 128, 10),
)
def cor36_closed(ctx):
    """Algebra, not evidence of Cor 3.6: the closed forms of :mod:`ctmc_lab.masks` on one
    subset table h satisfy kl_rate(h, λ) = -mdce(A_h, λ)/λ for *any* h with h(∅) = 0. It
    checks the polynomial code (exact derivative vs the mask sum); ``cor36.process`` is the
    evidence.

    kl_rate sums 2^L signed terms h(U) d_U(λ) that cancel (measured at L = 16: terms of total
    size 38 summing to 0.2, rounding 1.7e-12), so the residual is relative to the size of
    those terms, bounded by 2L max|h| (Σ_U |d_U(λ)| ≤ 2L by the binomial theorem), not only
    to |rhs|."""
    parts = _table(ctx, 8 if ctx.quick else 128)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, seqs, h, A = parts
    lam = np.array([1e-3, 0.1, 0.4, 0.7, 0.95])
    lhs = masks.mask_kl_rate(h, lam)  # (B, K)
    rhs = -masks.mask_mdce(A, lam) / lam
    terms = 2 * dist.length * np.where(np.isfinite(h), np.abs(h), 0.0).max(axis=1)  # bound on Σ_U |h d_U|
    err = np.abs(lhs - rhs) / np.maximum(np.maximum(1.0, np.abs(rhs)), terms[:, None])
    b, k = np.unravel_index(worst(err.ravel()), err.shape)
    yield Result(
        f"{dist.name}; {len(seqs)} x0 × λ∈{{1e-3..0.95}} (worst x0={label(dist, seqs[b])}, "
        f"λ={lam[k]}); rel. to max(1, |rhs|, 2L max|h|)",
        float(lhs[b, k]),
        float(rhs[b, k]),
        float(err[b, k]),
    )
    if len(seqs) == dist.support_size:
        p = dist.prob(seqs)
        lhs_m, rhs_m = p @ lhs, p @ rhs
        err_m = np.abs(lhs_m - rhs_m) / np.maximum(np.maximum(1.0, np.abs(rhs_m)), p @ terms)
        k = worst(err_m)
        yield Result(
            f"{dist.name}; marginal dI/dλ = −mdce(λ)/λ, worst λ={lam[k]}; rel. to max(1, |rhs|, E 2L max|h|)",
            float(lhs_m[k]),
            float(rhs_m[k]),
            float(err_m[k]),
        )


@check(
    "algebra.cor36_fd",
    theorem="Algebra",
    method="float64",
    tolerance=TOL_DERIV,
    statement="closed forms on h: d/dλ kl(h) (FD) = −mdce(h)/λ",
    work=lambda ctx: _table_work(ctx, 4 if ctx.quick else 16, 20),
)
def cor36_fd(ctx):
    """Algebra: a 5-point difference of the closed-form KL on h, h = min(1e-3, λ/500) (§10),
    against the closed-form mdce on the same h (holds for any h with h(∅) = 0)."""
    parts = _table(ctx, 4 if ctx.quick else 16)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, seqs, h, A = parts
    rows = []
    for b in range(len(seqs)):
        for lam in (0.05, 0.3, 0.6, 0.9):
            d = five_point(lambda x: float(masks.mask_kl(h[b], x)[0]), lam, min(1e-3, lam / 500))
            rows.append((d, float(-masks.mask_mdce(A[b], lam)[0] / lam), b, lam))
    # Relative: the KL is a degree-L polynomial in λ whose difference error grows with |dKL/dλ|.
    err = [abs(a - r) / max(1.0, abs(r)) for a, r, *_ in rows]
    w = worst(err)
    d, r, b, lam = rows[w]
    yield Result(f"{dist.name}; {len(seqs)} x0 × 4 λ (worst x0={label(dist, seqs[b])}, λ={lam}); rel.", d, r, err[w])


def _cor36_dense_work(ctx) -> float:
    gen = generators.absorbing(ctx.small.n_tokens)
    dist = fit_dense(ctx.small, gen.n_states, DENSE_LIMIT)
    if dist is None:
        return 0.0
    count = min(dist.support_size, 2 if ctx.quick else 4)
    masks = 1 << dist.length
    per_level = cost.process(gen, dist, kl_batch=count, mdse_batch=count) + count * cost.ELEM * masks * dist.length
    return cost.subset_tables(count, dist) + cost.masked_queries(dist, count, masks) + 3 * per_level


@check(
    "cor36.dense_process",
    theorem="Cor 3.6",
    method="float64",
    tolerance=TOL_ENUM,
    statement="KL_λ closed form (F2) = dense KL; kl_rate = −mdce(c*)/λ",
    work=_cor36_dense_work,
)
def cor36_dense(ctx):
    """The closed form KL_λ = Σ_U (1-λ)^|U| λ^(L-|U|) h(U) (F2) against the dense absorbing
    process (:func:`ctmc_lab.exact.information.kl` at s = -log(1-λ)), and the library's exact rate
    :func:`ctmc_lab.exact.information.kl_rate`/(1-λ) against -mdce/λ with mdce = E_{p_{λ|0}} ℓ_DCE(c*),
    the mask law from the dense kernel (``cor36.process`` differentiates the KL instead)."""
    gen = generators.absorbing(ctx.small.n_tokens)
    dist = fit_dense(ctx.small, gen.n_states, DENSE_LIMIT)
    if dist is None:
        yield Skip(f"absorbing; {gen.n_states} states per token", f"dense limit {DENSE_LIMIT}")
        return
    seqs = pick_sequences(dist, 2 if ctx.quick else 4)
    h = masks.subset_entropy(dist.subset_table(seqs))
    visible = subset_members(dist.length)
    A = masked_dce(dist, seqs, visible, np.ones(dist.length, bool))  # indexed by visible set
    rows_kl, rows_rate = [], []
    for lam in (0.1, 0.5, 0.85):
        noised = process.NoisedDistribution.at_noise_level(dist, gen, -np.log1p(-lam))
        dense = information.kl(noised, seqs)
        closed = masks.mask_kl(h, lam)[:, 0]
        rate = information.kl_rate(noised, seqs) / (1 - lam)
        full = (1 << dist.length) - 1
        mdce = np.array(
            [process_mdce(dist, seqs[b], A[b, full ^ np.arange(1 << dist.length)], lam) for b in range(len(seqs))]
        )
        for b in range(len(seqs)):
            rows_kl.append((dense[b], closed[b], b, lam))
            rows_rate.append((rate[b], -mdce[b] / lam, b, lam))
    for name, rows in (("dense KL vs closed form F2", rows_kl), ("dense dF/ds/(1−λ) vs −mdce(c*)/λ", rows_rate)):
        w = worst([abs(a - r) for a, r, *_ in rows])
        a, r, b, lam = rows[w]
        yield Result(f"{dist.name}; {name}; worst x0={label(dist, seqs[b])}, λ={lam}", float(a), float(r))


# ------------------------------------------------------------------------------ Cor 3.7
@check(
    "algebra.cor37_quadrature",
    theorem="Algebra",
    method="float64",
    tolerance=TOL_QUAD,
    statement="closed forms on h: ∫ mdce(h)/λ + kl(h) = h([L])",
    work=lambda ctx: _table_work(ctx, 3 if ctx.quick else 6, 3 * 200 * 3),
)
def cor37_quad(ctx):
    """Algebra: adaptive quadrature of the closed-form mdce on h plus the closed-form KL at
    Λ = 1, 0.7, 0.3 equals h([L]) for any h (``cor37.process`` is the evidence of Cor 3.7)."""
    parts = _table(ctx, 3 if ctx.quick else 6)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, seqs, h, A = parts
    nll = dist.nll(seqs)
    m = popcount(np.arange(1 << dist.length))
    for upper in (1.0, 0.7, 0.3):
        rows = []
        for b in range(len(seqs)):
            a = np.where(np.isinf(A[b]), 0.0, A[b])

            def integrand(lam):
                # mdce/λ = Σ_{M≠∅} λ^(m-1) (1-λ)^(L-m) A(M), finite at λ = 0.
                return float(
                    np.sum(np.where(m > 0, lam ** np.maximum(m - 1, 0) * (1 - lam) ** (dist.length - m) * a, 0))
                )

            val = integrate.quad(integrand, 0.0, upper, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
            kl = 0.0 if upper == 1.0 else float(masks.mask_kl(h[b], upper)[0])
            rows.append((nll[b], val + kl, b, val, kl))
        w = worst([abs(a - r) for a, r, *_ in rows])
        a, r, b, val, kl = rows[w]
        yield Result(
            f"{dist.name}; Λ={upper}; {len(seqs)} x0 (worst x0={label(dist, seqs[b])}; KL_Λ={kl:.3g})",
            float(a),
            float(r),
        )


def _beta_count(ctx) -> int:
    """Sequences of the Beta-sum rows: 16, or in full mode as many subset tables (about
    |support|·L + 2^L·L operations each) as fit ~2e7 operations, at most 4096."""
    per = (ctx.large.support_size + (1 << min(ctx.large.length, 30))) * ctx.large.length
    return 16 if ctx.quick else max(16, min(4096, int(2e7 // per)))


@check(
    "algebra.cor37_beta",
    theorem="Algebra",
    method="float64",
    tolerance=TOL_ENUM,
    statement="closed forms on h: Σ_M A_h(M)B(Λ;m,L−m+1) + kl = h([L])",
    work=lambda ctx: _table_work(ctx, _beta_count(ctx), 4),
)
def cor37_beta(ctx):
    """Algebra: the exact incomplete-Beta sums of :func:`ctmc_lab.masks.mdce_integral` on
    the subset table (every support sequence, Λ = 1 and 0.7, and marginally) reproduce
    h([L]) = -log p0; this holds for any h and checks the Beta-weight code. At Λ = 1 it is
    also the subset-table form of Thm 4.1."""
    parts = _table(ctx, _beta_count(ctx))
    if isinstance(parts, Skip):
        yield parts
        return
    dist, seqs, h, A = parts
    nll = dist.nll(seqs)
    for upper in (1.0, 0.7):
        kl = 0.0 if upper == 1.0 else masks.mask_kl(h, upper)[:, 0]
        rhs = masks.imdce_sum(A, upper) + kl
        w = worst(np.abs(nll - rhs))
        yield Result(
            f"{dist.name}; Λ={upper}; {len(seqs)} x0 (worst x0={label(dist, seqs[w])})", float(nll[w]), float(rhs[w])
        )
    if len(seqs) == dist.support_size:
        p = dist.prob(seqs)
        yield Result(
            f"{dist.name}; marginal: H(p0) = Σ p0 ∫ mdce/λ (Λ=1)",
            dist.entropy(),
            float(p @ masks.imdce_sum(A, 1.0)),
        )
