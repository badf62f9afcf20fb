"""Kernel checks (§1.2, §1.4), the DSE-orientation twin, and its negative control.

* Closed-form token kernels against ``scipy.linalg.expm`` and uniformization (A1/A2), and
  the Kronecker-sum generator's exponential against the product of token kernels (A4).
* mdse_s as E_{x ~ p_{s|0}} ℓ_DSE(x0, x, s*) through the pointwise loss
  (:func:`ctmc_lab.exact.scores.dse` with :func:`ctmc_lab.exact.scores.concrete_score`), against -dF/ds.
* Negative control (§8 item 1): the same with the DSE weight taken as Q(y, x) (the rate
  from x into y) instead of Q(x, y); Theorem 3.1 then fails for absorbing noise.

The other negative controls live beside the identity they break: Lemma 3.3 (σ̄ for σ),
Thm 3.2 (no KL term; unshifted geometric), Thm 4.1 (no fully-masked set), Cor 4.3 (H_L).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ctmc_lab.exact import information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.generators import kronecker_sum
from ctmc_lab.forward.process import NoisedDistribution, token_kernel

from . import cost
from ._util import (
    DENSE_LIMIT,
    dist_note,
    fd_step,
    fit_dense,
    five_point,
    label,
    pick_sequences,
    random_generator,
    share_skip,
)
from .framework import TOL_DERIV, TOL_ENUM, Result, Skip, check

__all__ = ["expected_dse"]


@check(
    "kernels.closed_vs_expm",
    theorem="Kernels (§1.2)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="closed form = expm = uniformization",
    work=3e8,
)
def kernels_closed(ctx):
    """exp(sQ) three ways: closed form (absorbing, uniform), ``scipy.linalg.expm`` and
    uniformization, for N = 2..6 and s from 1e-6 to 30 (A1/A2); random generic Q: expm vs
    uniformization."""
    rng = ctx.rng(12)
    levels = (1e-6, 0.1, 1.0, 5.0, 30.0)
    for kind in ("absorbing", "uniform", "random generic Q"):
        rows = []
        for n in range(2, 7):
            gen = random_generator(n, rng) if kind == "random generic Q" else getattr(generators, kind)(n)
            for s in levels:
                ref = scipy.linalg.expm(s * gen.Q)
                methods = ["uniformization"] + (["closed"] if kind != "random generic Q" else [])
                for method in methods:
                    K = token_kernel(gen, s, method=method)
                    a, b = np.unravel_index(np.argmax(np.abs(K - ref)), K.shape)
                    rows.append((abs(K[a, b] - ref[a, b]), K[a, b], ref[a, b], n, s, method, (a, b)))
        err, val, ref, n, s, method, (a, b) = max(rows, key=lambda r: r[0])
        yield Result(
            f"{kind}; N=2..6 × s∈{{1e-6..30}}; worst: {method} vs expm, N={n}, s={s}, entry [{a},{b}]",
            float(val),
            float(ref),
            float(err),
        )


@check(
    "kernels.kronecker",
    theorem="Kernels (§1.2)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="expm(sQ^(L)) = ⊗_i exp(sQ) (A4)",
    work=1e8,
)
def kernels_kronecker(ctx):
    """The dense exponential of the Kronecker-sum generator equals the product kernel (A4)."""
    for kind, n, L in (("absorbing", 4, 3), ("uniform", 4, 3), ("uniform", 3, 4)):
        gen = getattr(generators, kind)(n)
        s = 0.7
        big = scipy.linalg.expm(s * kronecker_sum(gen, L).toarray())
        K = token_kernel(gen, s)
        prod = K
        for _ in range(L - 1):
            prod = np.kron(prod, K)
        a, b = np.unravel_index(np.argmax(np.abs(big - prod)), big.shape)
        yield Result(
            f"{kind}; N={n}, L={L} ({gen.n_states**L} states); s={s}; worst entry [{a},{b}]",
            float(big[a, b]),
            float(prod[a, b]),
            float(abs(big[a, b] - prod[a, b])),
        )


def expected_dse(noised: NoisedDistribution, x0: np.ndarray, *, wrong_orientation: bool = False) -> float:
    """E_{x ~ p_{s|0}(·|x0)} ℓ_DSE(x0, x, s*) by enumerating the states reachable from x0.

    With ``wrong_orientation`` the weight is Q(y, x) instead of Q(x, y): the generator seen by
    :func:`ctmc_lab.exact.scores.dse` is replaced by its transpose (the kernel is kept).
    """
    K = noised.K
    reach = [np.flatnonzero(K[:, b] > 0) for b in x0]
    grids = np.stack(np.meshgrid(*reach, indexing="ij"), axis=-1).reshape(-1, len(x0))
    q = np.prod(K[grids, x0[None, :]], axis=1)
    score = scores.concrete_score(noised, grids)
    Q = noised.generator.Q.T if wrong_orientation else noised.generator.Q
    loss = scores.dse(Q, K, np.broadcast_to(x0, grids.shape), grids, score)
    return float(q @ loss)


def _orientation_fit(ctx, gen):
    """The prefix marginal of the state-by-state DSE rows: within the dense limit, and with
    at most ~1e4 reachable states per sequence (None if even one position does not fit)."""
    dist = fit_dense(ctx.small, gen.n_states, DENSE_LIMIT)
    reach = min(int(np.max(np.sum(gen.Q != 0, axis=0))), gen.n_states)  # reachable symbols per position
    # The state-by-state DSE sum visits reach^L states per x0: keep it below ~1e4.
    while dist is not None and reach**dist.length > 1e4:
        dist = fit_dense(ctx.small, gen.n_states, gen.n_states ** (dist.length - 1)) if dist.length > 1 else None
    return dist, reach


def _orientation_gens(ctx, wrong: bool):
    n = ctx.small.n_tokens
    gens = [("absorbing", generators.absorbing(n))]
    if not wrong and n >= 2:
        gens += [("uniform", generators.uniform(n)), ("random generic Q", random_generator(n, ctx.rng(31)))]
    return gens


def _orientation_plan(ctx, wrong: bool):
    """(name, generator, distribution, work, skip) per generator: per level, the five-point
    difference of F (5 noised marginals, 4 KLs) and, per sequence, the concrete score and DSE
    over its reach^L states; a generator over its share of the budget is skipped."""
    gens = _orientation_gens(ctx, wrong)
    for name, gen in gens:
        dist, reach = _orientation_fit(ctx, gen)
        if dist is None:
            yield name, gen, None, 0.0, Skip(f"{name}; {gen.n_states} states per token", f"dense limit {DENSE_LIMIT}")
            continue
        count = min(dist.support_size, 2 if ctx.quick else 3)
        per_seq = 2 * cost.CALL + cost.ELEM * float(reach) ** dist.length * dist.length * gen.n_states * 4
        work = 3 * (5 * cost.process(gen, dist) + 4 * cost.kl(gen.n_states, dist.length, count) + count * per_seq)
        skip = share_skip(ctx, f"{dist_note(dist, ctx)}{name}", work, len(gens))
        yield name, gen, (None if skip else dist), (0.0 if skip else work), skip


def _orientation_rows(ctx, wrong: bool):
    for name, gen, dist, _, skip in _orientation_plan(ctx, wrong):
        if skip is not None:
            yield skip
            continue
        seqs = pick_sequences(dist, 2 if ctx.quick else 3)
        rows = []
        for s in (0.1, 0.8, 2.0):
            noised = NoisedDistribution.at_noise_level(dist, gen, s)
            # dF/ds of F as a function (a 5-point difference), never the proof's formula.
            rate = five_point(
                lambda u: information.kl(NoisedDistribution.at_noise_level(dist, gen, u), seqs), s, fd_step(s)
            )
            for b, x0 in enumerate(seqs):
                rows.append((float(rate[b]), -expected_dse(noised, x0, wrong_orientation=wrong), x0, s))
        err = [abs(a - r) for a, r, *_ in rows]
        w = int(np.argmax(err))
        a, r, x0, s = rows[w]
        yield Result(f"{dist_note(dist, ctx)}{name}; {len(seqs)} x0 × 3 s (worst x0={label(dist, x0)}, s={s})", a, r)


@check(
    "thm31.pointwise_dse_sum",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="dF/ds (FD) = −E_q ℓ_DSE(x0,x,s*) (pointwise loss)",
    work=lambda ctx: sum(work for *_, work, _ in _orientation_plan(ctx, False)),
)
def pointwise_dse_sum(ctx):
    """Theorem 3.1 with mdse_s assembled from the pointwise DSE (Eq. 3) at the concrete score
    s* = p_s(y)/p_s(x), state by state, against a 5-point difference of F(s)."""
    yield from _orientation_rows(ctx, wrong=False)


@check(
    "thm31.control.dse_orientation",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="CONTROL: DSE weight Q(y,x) not Q(x,y)",
    expected_to_fail=True,
    work=lambda ctx: sum(work for *_, work, _ in _orientation_plan(ctx, True)),
)
def dse_orientation(ctx):
    """Negative control (§8 item 1): the weight of the jump x -> y instead of y -> x."""
    yield from _orientation_rows(ctx, wrong=True)
