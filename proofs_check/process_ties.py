"""Cor. 3.6, Cor. 3.7 and Thm. 4.1 tied to the noised process and the denoiser (``docs/theory.md`` §3.4–§4.1).

The closed forms on the subset table h(U) = -log P0(x0^U) hold for *any* set function h with
h(∅) = 0 (they are re-indexings), so here every quantity comes from the process instead:

* mdce(x0, λ) = E_{x ~ p_{λ|0}(·|x0)} ℓ_DCE(x0, x, c*): the law of the mask pattern from the
  dense token kernel exp(sQ) at s = -log(1-λ) (:func:`ctmc_lab.forward.process.token_kernel`), the
  loss from the optimal denoiser queried on every masked input (``masked_dce``);
* KL(p_{λ|0} ‖ p_λ) and its λ-derivative from the dense process
  (:func:`ctmc_lab.exact.information.kl`, a 5-point difference in λ), never from h;
* Thm 4.1 on every prefix window: the time-free sum over the window's masks, the other
  positions masked (marginalised), against -log P0(x0^{window}) by direct marginal sums.
  A set function h that is wrong anywhere but at its two endpoints breaks these rows.

Negative control: a random h with the right endpoints (h(∅) = 0, h([L]) = -log p0(x0)) in
place of the denoiser's conditionals must fail each of the three.
"""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab import masks
from ctmc_lab.exact import information
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution, token_kernel
from ctmc_lab.sequences import popcount, subset_members

from . import cost
from ._util import DENSE_LIMIT, fit_dense, fit_queries, five_point, label, pick_sequences, worst
from .framework import TOL_DERIV, TOL_ENUM, TOL_QUAD, Result, Skip, check
from .thm41_43_eq18 import _MAX_LENGTH, masked_dce

__all__ = ["process_mdce", "mask_law", "window_sums", "random_h"]


def mask_law(n_tokens: int, x0: np.ndarray, lam: float) -> np.ndarray:
    """P(mask pattern M | x0) for every mask bitmask M (bit i: position i masked), from the
    dense absorbing kernel K = exp(sQ), s = -log(1-λ): Π_{i∈M} K[mask, x0^i] Π_{i∉M} K[x0^i, x0^i]."""
    K = token_kernel(generators.absorbing(n_tokens), -math.log1p(-lam))
    L = x0.size
    masked = subset_members(L)  # row M: bit i set = masked
    keep = K[x0, x0]
    drop = K[n_tokens, x0]
    return np.prod(np.where(masked, drop[None, :], keep[None, :]), axis=1)


def _denoiser_A(dist, seqs) -> np.ndarray:
    """A(M) from the optimal denoiser for every mask bitmask M (B, 2^L)."""
    L = dist.length
    visible = subset_members(L)
    A_vis = masked_dce(dist, seqs, visible, np.ones(L, bool))  # indexed by the visible set
    full = (1 << L) - 1
    return A_vis[:, full ^ np.arange(1 << L)]


def process_mdce(dist, x0: np.ndarray, A_mask: np.ndarray, lam: float) -> float:
    """E_{p_{λ|0}} ℓ_DCE = Σ_M P(M | x0) A(M), the law from the kernel (A(∅) = 0)."""
    w = mask_law(dist.n_tokens, x0, lam)
    a = np.where(np.isinf(A_mask), 0.0, A_mask)
    return float(math.fsum(w * a))


def _dense_kl(dist, x0, lam: float) -> float:
    gen = generators.absorbing(dist.n_tokens)
    return float(information.kl(NoisedDistribution.at_noise_level(dist, gen, -math.log1p(-lam)), x0))


def random_h(dist, x0, rng) -> np.ndarray:
    """A set function h over visible bitmasks with the right endpoints only: h(∅) = 0,
    h([L]) = -log p0(x0), and every other entry the true value times U(0.3, 1.7)."""
    h = masks.subset_entropy(dist.subset_table(x0))
    fake = h * rng.uniform(0.3, 1.7, size=h.shape)
    fake[0], fake[-1] = 0.0, h[-1]
    return fake


def _dense_dist(ctx):
    """The subset-table distribution, or its longest prefix marginal whose dense absorbing
    process fits (the identities hold for every distribution)."""
    return fit_dense(ctx.large, ctx.large.n_tokens + 1, DENSE_LIMIT)


def _sensitive(dist, count):
    """Support sequences with a positive NLL (a probability-1 sequence makes every side 0)."""
    seqs = [x for x in pick_sequences(dist, max(count, 6)) if dist.nll(x) > 1e-9]
    return np.array(seqs[:count]) if seqs else None


_LEVELS = (0.1, 0.45, 0.8)


def _process_parts(ctx, count: int):
    """(dist, seqs, None) for the process rows, or (None, None, Skip) with the reason."""
    dist = _dense_dist(ctx)
    if dist is None or dist.length > _MAX_LENGTH:
        return None, None, Skip(ctx.large.name, "the dense absorbing process does not fit")
    seqs = _sensitive(dist, count)
    if seqs is None:
        return None, None, Skip(dist.name, "every sequence has probability 1")
    return dist, seqs, None


def _process_work(ctx, count: int, *, kl_evals: int, law_evals: int, denoiser: bool = True) -> float:
    """Work of the process rows on ``count`` sequences: the denoiser's A table over every
    mask, ``kl_evals`` dense KLs (noised marginal + KL) and ``law_evals`` kernel-weighted
    sums over the 2^L masks, per sequence."""
    dist = _dense_dist(ctx)
    if dist is None or dist.length > _MAX_LENGTH:
        return 0.0
    masks = 1 << dist.length
    gen = generators.absorbing(dist.n_tokens)
    per_seq = kl_evals * cost.process(gen, dist, kl_batch=1) + law_evals * cost.ELEM * masks * dist.length
    return (cost.masked_queries(dist, count, masks) if denoiser else 0.0) + count * per_seq


def _cor36_rows(dist, seqs, A_masks):
    rows = []
    for b, x0 in enumerate(seqs):
        for lam in _LEVELS:
            d = five_point(lambda u: _dense_kl(dist, x0, u), lam, min(1e-3, lam / 500))
            rows.append((d, -process_mdce(dist, x0, A_masks[b], lam) / lam, b, lam))
    return rows


@check(
    "cor36.process",
    theorem="Cor 3.6",
    method="float64",
    tolerance=TOL_DERIV,
    statement="dKL_λ/dλ (dense, FD) = −E_{p_λ|0} ℓ_DCE(c*)/λ",
    work=lambda ctx: _process_work(ctx, 2 if ctx.quick else 3, kl_evals=4 * len(_LEVELS), law_evals=len(_LEVELS)),
)
def cor36_process(ctx):
    """Cor. 3.6 from the process: a 5-point difference in λ of the dense KL(p_{λ|0}‖p_λ)
    against -mdce/λ with mdce = E_{x ~ p_{λ|0}} ℓ_DCE(x0, x, c*), the law of x from the dense
    kernel and c* queried on every masked input."""
    dist, seqs, skip = _process_parts(ctx, 2 if ctx.quick else 3)
    if skip is not None:
        yield skip
        return
    rows = _cor36_rows(dist, seqs, _denoiser_A(dist, seqs))
    err = [abs(a - r) / max(1.0, abs(r)) for a, r, *_ in rows]  # relative where |dKL/dλ| > 1
    w = worst(err)
    a, r, b, lam = rows[w]
    yield Result(
        f"{dist.name}; {len(seqs)} x0 × λ∈{_LEVELS} (worst x0={label(dist, seqs[b])}, λ={lam}); rel.", a, r, err[w]
    )


def _cor37_value(dist, x0, A_mask, upper: float) -> tuple[float, float]:
    """(∫_0^Λ mdce(λ)/λ dλ by Gauss–Legendre, KL_Λ dense). mdce/λ is a polynomial of degree
    L-1 in λ (the law is a product over positions), so L//2 + 2 nodes integrate it exactly."""
    nodes, weights = np.polynomial.legendre.leggauss(dist.length // 2 + 2)
    lam = 0.5 * upper * (nodes + 1.0)
    vals = [process_mdce(dist, x0, A_mask, float(u)) / float(u) for u in lam]
    integral = 0.5 * upper * math.fsum(wt * v for wt, v in zip(weights, vals))
    end = 0.0 if upper >= 1.0 else _dense_kl(dist, x0, upper)
    return integral, end


@check(
    "cor37.process",
    theorem="Cor 3.7",
    method="float64",
    tolerance=TOL_QUAD,
    statement="−log p0 = ∫_0^Λ E ℓ_DCE(c*)/λ dλ + KL_Λ (process)",
    work=lambda ctx: _process_work(
        ctx, 2 if ctx.quick else 4, kl_evals=2, law_evals=3 * (_dense_dist(ctx) or ctx.large).length
    ),
)
def cor37_process(ctx):
    """Cor. 3.7 from the process: the λ-integral of the kernel-weighted DCE of c* (exact
    Gauss–Legendre) plus the dense KL at Λ, against -log p0 from the table, Λ = 1, 0.7, 0.3."""
    dist, seqs, skip = _process_parts(ctx, 2 if ctx.quick else 4)
    if skip is not None:
        yield skip
        return
    A = _denoiser_A(dist, seqs)
    for upper in (1.0, 0.7, 0.3):
        rows = []
        for b, x0 in enumerate(seqs):
            integral, end = _cor37_value(dist, x0, A[b], upper)
            rows.append((float(dist.nll(x0)), integral + end, b, end))
        w = worst([abs(a - r) for a, r, *_ in rows])
        a, r, b, end = rows[w]
        yield Result(f"{dist.name}; Λ={upper}; {len(seqs)} x0 (worst x0={label(dist, seqs[b])}; KL_Λ={end:.3g})", a, r)


def window_sums(dist, seqs, A_of_window):
    """For each prefix window 0..ℓ-1 (ℓ = 1..L-1): (ℓ, -log P0(x0^window), time-free sum)."""
    L = dist.length
    out = []
    for ell in range(1, L):
        target = np.arange(L) < ell
        lhs = -np.log(dist.marginal(seqs, target))
        A = A_of_window(ell)  # (B, 2^ℓ), indexed by the visible bitmask J over the window
        k = popcount(np.arange(1 << ell))
        w = np.zeros(1 << ell)
        proper = k < ell
        w[proper] = np.exp([math.lgamma(ell - j) + math.lgamma(j + 1) - math.lgamma(ell + 1) for j in k[proper]])
        out.append((ell, lhs, np.where(np.isinf(A), 0.0, A) @ w))
    return out


def _denoiser_windows(dist, seqs):
    def A_of(ell):
        L = dist.length
        visible = np.zeros((1 << ell, L), bool)
        visible[:, :ell] = subset_members(ell)
        scored = np.arange(L) < ell
        return masked_dce(dist, seqs, visible, scored)

    return A_of


def _h_windows(h, ell):
    """A over the window's visible bitmasks J from a set function h on [L] (the rest never visible)."""
    A = np.zeros(h.shape[:-1] + (1 << ell,))
    for J in range(1 << ell):
        for i in range(ell):
            if not J >> i & 1:
                A[..., J] += h[..., J | (1 << i)] - h[..., J]
    return A


def _windows_work(ctx) -> float:
    dist = fit_queries(ctx.large, (1 << ctx.large.length) * ctx.large.length)
    if dist.length < 2 or dist.length > _MAX_LENGTH:
        return 0.0
    count = min(dist.support_size, 4 if ctx.quick else 16)
    return sum(
        cost.masked_queries(dist, count, 1 << ell) + cost.marginals(dist, count) for ell in range(1, dist.length)
    )


@check(
    "thm41.windows",
    theorem="Thm 4.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="Thm 4.1 on every prefix window (c*, rest masked)",
    work=_windows_work,
)
def thm41_windows(ctx):
    """Theorem 4.1 applied to the marginal of positions 0..ℓ-1 for every ℓ < L: the time-free
    sum over the window's masks with c* queried on inputs whose other positions are masked,
    against -log P0(x0^{0..ℓ-1}) from direct marginal sums. Pins every intermediate h(U)."""
    dist = fit_queries(ctx.large, (1 << ctx.large.length) * ctx.large.length)
    if dist.length < 2 or dist.length > _MAX_LENGTH:
        yield Skip(f"L={dist.length}", f"needs 2 ≤ L ≤ {_MAX_LENGTH}")
        return
    seqs = pick_sequences(dist, 4 if ctx.quick else 16)
    rows = window_sums(dist, seqs, _denoiser_windows(dist, seqs))
    best = max(
        ((ell, b, lhs[b], rhs[b]) for ell, lhs, rhs in rows for b in range(len(seqs))), key=lambda r: abs(r[2] - r[3])
    )
    ell, b, a, r = best
    yield Result(
        f"{dist.name}; ℓ=1..{dist.length - 1} × {len(seqs)} x0 (worst ℓ={ell}, x0={label(dist, seqs[b])})",
        float(a),
        float(r),
    )


def _random_h_work(ctx) -> float:
    """One sequence: the Cor 3.6 and 3.7 process rows with A from h, its subset tables, and
    the window sums of :func:`_h_windows` (a Python loop over ℓ 2^ℓ terms per window)."""
    dist = _dense_dist(ctx)
    if dist is None or dist.length < 2 or dist.length > _MAX_LENGTH:
        return 0.0
    windows = sum(ell * (1 << ell) for ell in range(1, dist.length))
    rows = _process_work(ctx, 1, kl_evals=4 * len(_LEVELS) + 1, law_evals=len(_LEVELS) + dist.length, denoiser=False)
    return rows + cost.subset_tables(2, dist) + cost.STEP * windows + cost.marginals(dist, dist.length)


@check(
    "controls.random_h",
    theorem="Cor 3.6",
    method="float64",
    tolerance=TOL_ENUM,
    statement="CONTROL: random h, right endpoints, for c*",
    expected_to_fail=True,
    work=_random_h_work,
)
def control_random_h(ctx):
    """Negative control: a random set function h with h(∅) = 0 and h([L]) = -log p0(x0) in
    place of the denoiser's conditionals. The Beta sum Σ_M A_h(M) B(m, L-m+1) still equals
    -log p0 (algebra), but Cor 3.6 (process), Cor 3.7 at Λ = 0.5 (process) and Thm 4.1 on the
    windows must each fail."""
    dist = _dense_dist(ctx)
    if dist is None or dist.length < 2 or dist.length > _MAX_LENGTH:
        yield Skip(ctx.large.name, "needs a dense absorbing process with L ≥ 2")
        return
    seqs = _sensitive(dist, 1)
    if seqs is None:
        yield Skip(dist.name, "every sequence has probability 1")
        return
    x0 = seqs[0]
    rng = ctx.rng(91)
    h_true = masks.subset_entropy(dist.subset_table(x0))
    h = random_h(dist, x0, rng)
    gap = float(np.max(np.abs(np.where(np.isfinite(h_true), h - h_true, 0.0))))
    A_mask = masks.mask_dce(h)
    rows = _cor36_rows(dist, seqs, A_mask[None])
    w = worst([abs(a - r) for a, r, *_ in rows])
    a, r, _, lam = rows[w]
    yield Result(
        f"{dist.name}; Cor 3.6 process row with A from h; x0={label(dist, x0)}, worst λ={lam}",
        a,
        r,
        tolerance=TOL_DERIV,
        gap=gap,
    )
    integral, end = _cor37_value(dist, x0, A_mask, 0.5)
    yield Result(
        f"{dist.name}; Cor 3.7 process row at Λ=0.5 with A from h",
        float(dist.nll(x0)),
        integral + end,
        tolerance=TOL_QUAD,
        gap=gap,
    )
    win = window_sums(dist, seqs, lambda ell: _h_windows(h[None], ell))
    ell, lhs, rhs = max(win, key=lambda r: abs(r[1][0] - r[2][0]))
    yield Result(
        f"{dist.name}; Thm 4.1 window rows with A from h (worst ℓ={ell})", float(lhs[0]), float(rhs[0]), gap=gap
    )
