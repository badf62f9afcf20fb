"""Lemma 3.3 (pointwise DSE = scaled DCE) and Theorem 3.4 (time-integrated DSE = λ-DCE for
any denoiser), in float64, for absorbing noise (``docs/theory.md`` §3.2–§3.3).

A denoiser c and a score s_t *correspond* when s_t(x)_{(i,v)} = (1-λ(t))/λ(t) c(x)_{i,v}.
The DSE comes from :func:`ctmc_lab.exact.scores.dse` (the generic neighbour sum with the
forward-rate weight Q_t(x, y)), the DCE from :func:`ctmc_lab.exact.scores.dce`.

Negative control: σ̄(t) in place of the rate σ(t) in Lemma 3.3 (§8 item 2).
"""

from __future__ import annotations

import numpy as np
from scipy import integrate
from scipy.special import log_softmax

from ctmc_lab import masks
from ctmc_lab.exact import scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import token_kernel
from ctmc_lab.sequences import subset_members
from ctmc_lab.sources.denoisers import OptimalDenoiser

from . import cost
from ._util import SCHEDULES, fit_queries, label, pick_sequences
from .framework import TOL_ENUM, TOL_QUAD, Result, Skip, check
from .thm35_cor36_37 import perturbed_log_probs

__all__ = ["corresponding_score", "lemma33_sides"]

#: Horizons of Theorem 3.4 per schedule (the paper's finite-T statement, Λ = λ(T) < 1).
HORIZONS = {
    "loglinear(1e-3)": 0.8,
    "geometric(1e-4..20, shifted)": 0.6,
    "linear(rate 1.5)": 0.5,
    "cosine(1e-3)": 0.7,
}


def corresponding_score(x: np.ndarray, log_c: np.ndarray, mask_level: float, n_states: int) -> np.ndarray:
    """s_t(x)_{(i,v)} = (1-λ)/λ c(x)_{i,v} at masked i, v ∈ V; 1 elsewhere (unweighted entries).

    Returns a (B, L, S) array in the layout of :func:`ctmc_lab.exact.scores.dse`.
    """
    B, L, N = log_c.shape
    out = np.ones((B, L, n_states))
    out[:, :, :N] = (1 - mask_level) / mask_level * np.exp(log_c)
    return out


def _random_triples(dist, rng, n: int, schedule):
    """n triples (x0, x, t): x0 from p0, t ~ U(0.02, 0.98)·t_max, x ~ p_{t|0}(·|x0)."""
    x0 = dist.support[rng.choice(dist.support_size, size=n, p=dist.probs)]
    t_max = min(1.0, schedule.t_max)
    t = rng.uniform(0.02, 0.98, size=n) * t_max
    lam = schedule.mask_level(t)
    masked = rng.random(x0.shape) < lam[:, None]
    x = np.where(masked, dist.mask_id, x0)
    return x0, x, t


def lemma33_sides(dist, x0, x, t, log_c, schedule, *, rate="sigma"):
    """(ℓ_DSE, σ(1-λ)/λ ℓ_DCE, correction) per triple; rate="sigma_bar" gives the control."""
    gen = generators.absorbing(dist.n_tokens)
    lhs = np.empty(len(t))
    dce_part = np.empty(len(t))
    for k, tk in enumerate(t):
        s = float(schedule.sigma_bar(tk))
        lam = float(schedule.mask_level(tk))
        sig = float(schedule.sigma(tk))
        score = corresponding_score(x[k : k + 1], log_c[k : k + 1], lam, gen.n_states)
        # The DSE reads only Q and the kernel (a_y is a ratio of p_{s|0}), so no S^L marginal is built.
        lhs[k] = scores.dse(gen, token_kernel(gen, s), x0[k : k + 1], x[k : k + 1], score, rate=sig)[0]
        factor = (sig if rate == "sigma" else s) * (1 - lam) / lam
        dce_part[k] = factor * scores.dce(x0[k : k + 1], x[k : k + 1], log_c[k : k + 1], mask_id=dist.mask_id)[0]
    return lhs, dce_part


def _lemma_case(ctx, *, normalised: bool, rate: str = "sigma"):
    dist = ctx.small
    rng = ctx.rng(33 if normalised else 34)
    n = 40 if ctx.quick else 200
    rows = []
    per = n // 2
    for sname in ("loglinear(1e-3)", "geometric(1e-4..20, shifted)"):
        sch = SCHEDULES[sname]
        x0, x, t = _random_triples(dist, rng, per, sch)
        raw = rng.normal(size=x0.shape + (dist.n_tokens,))
        # Normalised rows: log-softmax; unnormalised: positive weights that sum to anything.
        log_c = log_softmax(raw, axis=-1) if normalised else raw - 0.3
        lhs, rhs = lemma33_sides(dist, x0, x, t, log_c, sch, rate=rate)
        if not normalised:
            lam = sch.mask_level(t)
            masked = x == dist.mask_id
            excess = np.where(masked, np.exp(log_c).sum(axis=-1) - 1.0, 0.0).sum(axis=1)
            rhs = rhs + sch.sigma(t) * (1 - lam) / lam * excess
        rows += [(lhs[k], rhs[k], x0[k], t[k], sname) for k in range(per)]
    return dist, rows


def _lemma_work(ctx) -> float:
    """Per random triple: a token kernel, one pointwise DSE and one DCE (a few library calls)."""
    gen = generators.absorbing(ctx.small.n_tokens)
    S = gen.n_states
    return (40 if ctx.quick else 200) * (cost.kernel(gen) + 3 * cost.CALL + cost.ELEM * ctx.small.length * S)


def _report(dist, rows, what):
    # Relative residual: σ(1-λ)/λ reaches 1e3 at small t, so absolute float64 error scales with it.
    err = [abs(a - r) / max(1.0, abs(r)) for a, r, *_ in rows]
    w = int(np.argmax(err))
    a, r, x0, t, sname = rows[w]
    return Result(
        f"{what}; {len(rows)} random (x0, x, t) (worst x0={label(dist, x0)}, {sname} t={t:.3g}); rel.",
        float(a),
        float(r),
        err[w],
    )


@check(
    "lemma33.normalised",
    theorem="Lemma 3.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="ℓ_DSE = σ(1−λ)/λ·ℓ_DCE (normalised c)",
    work=_lemma_work,
)
def lemma33_normalised(ctx):
    """Lemma 3.3 (§3.2): ℓ_DSE(x0, x, t, s_t) = σ(t)(1-λ)/λ ℓ_DCE(x0, x, c) for random
    normalised c and random (x0, x, t) (loglinear and shifted geometric schedules)."""
    dist, rows = _lemma_case(ctx, normalised=True)
    yield _report(dist, rows, "absorbing; random normalised c")


@check(
    "lemma33.unnormalised",
    theorem="Lemma 3.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="… + σ(1−λ)/λ Σ_M(Σ_v c−1) (unnormalised c)",
    work=_lemma_work,
)
def lemma33_unnormalised(ctx):
    """Lemma 3.3 for unnormalised rows: add σ(1-λ)/λ Σ_{i∈M} (Σ_v c_{i,v} - 1) (§8 item 2)."""
    dist, rows = _lemma_case(ctx, normalised=False)
    yield _report(dist, rows, "absorbing; random unnormalised c + correction")


@check(
    "lemma33.control.sigma_bar",
    theorem="Lemma 3.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="CONTROL: σ̄(t) in place of σ(t)",
    expected_to_fail=True,
    work=_lemma_work,
)
def lemma33_sigma_bar(ctx):
    """Negative control (§8 item 2): the factor with the total noise σ̄(t) instead of the rate."""
    dist, rows = _lemma_case(ctx, normalised=True, rate="sigma_bar")
    yield _report(dist, rows, "absorbing; σ̄ in place of σ")


# ------------------------------------------------------------------------------ Thm 3.4
def _expected_dse(dist, gen, x0, visible, x_all, log_c_all, schedule, t):
    """E_{x ~ p_{t|0}(·|x0)} ℓ_DSE(x0, x, t, s_t) by enumerating the 2^L reachable masks."""
    s = float(schedule.sigma_bar(t))
    if s <= 0:
        return 0.0
    lam = float(schedule.mask_level(t))
    score = corresponding_score(x_all, log_c_all, lam, gen.n_states)
    x0b = np.broadcast_to(x0, x_all.shape)
    loss = scores.dse(gen, token_kernel(gen, s), x0b, x_all, score, rate=float(schedule.sigma(t)))
    m = (~visible).sum(axis=1)
    return float(np.sum(lam**m * (1 - lam) ** (dist.length - m) * loss))


#: Nodes of the adaptive t-quadrature of one Theorem 3.4 row (about 200 measured).
_THM34_NODES = 300


def _thm34_work(ctx) -> float:
    """Per sequence: the denoiser on its 2^L masked inputs, and per schedule a quadrature
    whose every node is a token kernel and a pointwise DSE over the 2^L masked states."""
    dist = fit_queries(ctx.small)
    if dist.length > 10:
        return 0.0
    gen = generators.absorbing(dist.n_tokens)
    S, masks = gen.n_states, 1 << dist.length
    node = cost.kernel(gen) + cost.CALL + cost.ELEM * masks * dist.length * S
    count = min(dist.support_size, 1 if ctx.quick else 2)
    return count * (cost.masked_queries(dist, 1, masks) + (2 if ctx.quick else 4) * _THM34_NODES * node)


@check(
    "thm34.finite_horizon_any_c",
    theorem="Thm 3.4",
    method="float64",
    tolerance=TOL_QUAD,
    statement="∫_0^T E ℓ_DSE(s_t) dt = L^Λ_DCE(c), any c, Λ=λ(T)",
    work=_thm34_work,
)
def thm34(ctx):
    """Theorem 3.4 (§3.3): for a fixed non-optimal denoiser c (a perturbation of c*) and its
    corresponding score, ∫_0^T E_{p_{t|0}} ℓ_DSE dt (quadrature in t, 2^L masks enumerated)
    equals L^Λ_DCE = Σ_M A_c(M) B(Λ; m, L-m+1) with Λ = λ(T), under every schedule."""
    dist = fit_queries(ctx.small)
    if dist.length > 10:
        yield Skip(f"L={dist.length}", "2^L masks per quadrature node exceed the limit L ≤ 10")
        return
    gen = generators.absorbing(dist.n_tokens)
    L = dist.length
    seqs = pick_sequences(dist, 1 if ctx.quick else 2)
    visible = subset_members(L)
    schedules = list(SCHEDULES.items())[:2] if ctx.quick else list(SCHEDULES.items())
    for x0 in seqs:
        x_all = np.where(visible, x0, dist.mask_id)
        logc_star = OptimalDenoiser(dist)(x_all)
        log_c = perturbed_log_probs(logc_star, x_all, gen.n_states, 1.0, salt=34)
        # A_c(M) for every mask bitmask M (visible = complement), for the closed-form side.
        dce = scores.dce(np.broadcast_to(x0, x_all.shape), x_all, log_c, mask_id=dist.mask_id)
        full = (1 << L) - 1
        A_c = dce[full ^ np.arange(1 << L)]
        for sname, sch in schedules:
            T = HORIZONS[sname]
            Lam = float(sch.mask_level(T))
            f = lambda t: _expected_dse(dist, gen, x0, visible, x_all, log_c, sch, t)
            lhs = integrate.quad(f, 0.0, T, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
            rhs = float(masks.imdce_sum(A_c, Lam))
            nll = float(dist.nll(x0))
            yield Result(
                f"{'' if dist is ctx.small else dist.name + '; '}{sname}; T={T}, Λ={Lam:.4g}; "
                f"x0={label(dist, x0)}; non-optimal c "
                f"(−log p0={nll:.4g})",
                lhs,
                rhs,
            )
