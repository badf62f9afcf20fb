"""Theorem 3.1 (I-MDSE) in float64, pointwise and marginal (``docs/theory.md`` §2.3–§2.4).

    d/dt KL(p_{t|0}(·|x0) ‖ p_t) = -mdse(x0, t),      d/dt I(x0; x_t) = -mdse(t),

for absorbing, uniform and a random generic Q, at unit rate (noise level s) and under
every schedule, where the derivative in t is taken by finite differences *in t* (so the
chain rule mdse(x0, t) = σ(t) mdse_s(x0, σ̄(t)) is tested, not assumed).

The KL comes from :func:`ctmc_lab.exact.information.kl`, mdse from :func:`ctmc_lab.exact.scores.mdse`.
Every derivative is a difference of F *as a function*: the proof's formula for dF/ds
equals -mdse for any positive p and product q, so a row comparing it with mdse could not
fail. The library's :func:`ctmc_lab.exact.information.kl_rate` is checked against the
differences as a library function. Negative control: p_s at the wrong noise level.

The tolerance of a difference against a derivative of size |d| of a function of size |F|
is 1e-9 · max(1, |d|, |F|) (:func:`~proofs_check.framework.deriv_tolerance`): the 5-point
error grows with the size of F and its derivatives (2.1e-9 on a derivative of 64, relative
3e-11), while p_s at a wrong noise level is off by a relative 1e-2 or more.
"""

from __future__ import annotations

from ctmc_lab.exact import information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution

from . import cost
from ._util import (
    DENSE_LIMIT,
    QUAD_LIMIT,
    SCHEDULES,
    dist_note,
    fd_step,
    fit_dense,
    five_point,
    label,
    pick_sequences,
    random_generator,
    share_skip,
    worst,
)
from .framework import TOL_DERIV, Result, Skip, check, deriv_tolerance

__all__ = ["generators_under_test", "T_GRIDS"]

#: Times (fractions of the horizon) for the t-derivative checks.
T_GRIDS = {
    "loglinear(1e-3)": (0.1, 0.4, 0.7),
    "geometric(1e-4..20, shifted)": (0.1, 0.4, 0.7),
    "linear(rate 1.5)": (0.1, 0.6, 1.5),
    "cosine(1e-3)": (0.1, 0.4, 0.7),
}
_S_GRID = (0.05, 0.3, 1.0, 2.5)


def generators_under_test(ctx):
    """(name, Generator) for every registered noise process defined on N symbols (absorbing,
    uniform, and any process registered before ``verify`` runs), then a seeded random generic Q."""
    n = ctx.small.n_tokens
    out = [
        (name, process.generator(n)) for name, process in generators.NOISE_PROCESSES.items() if n >= process.min_tokens
    ]
    if n >= 2:
        out.append(("random generic Q", random_generator(n, ctx.rng(31))))
    return out


def _fd_work(gen, dist, seqs: int, points: int, *, p_builds: int = 1, method: str = "auto") -> float:
    """Work of ``points`` five-point differences of F (4 nodes: noised marginal + KL of
    ``seqs`` sequences) against mdse (one more noised marginal + mdse by ``method``);
    ``p_builds`` noised marginals per node (2 for the wrong-noise-level control)."""
    node = p_builds * cost.process(gen, dist) + cost.kl(gen.n_states, dist.length, seqs)
    side = p_builds * cost.process(gen, dist) + cost.mdse(gen, dist.length, seqs, method)
    return points * (4 * node + side)


def _plan(ctx, per_generator, limit: int = DENSE_LIMIT):
    """(name, generator, distribution, work, skip) for every generator under test: the
    distribution is ``ctx.small`` or its longest prefix marginal within ``limit`` dense
    states, ``work`` its predicted work ``per_generator(gen, dist, large)``; a generator
    over the dense limit or over its share of the budget is skipped with the reason."""
    gens = generators_under_test(ctx)
    for name, gen in gens:
        dist = fit_dense(ctx.small, gen.n_states, limit)
        if dist is None:
            yield name, gen, None, 0.0, Skip(f"{name}; {gen.n_states} states per token", f"dense limit {limit} states")
            continue
        work = per_generator(gen, dist, gen.n_states**dist.length > QUAD_LIMIT)
        skip = share_skip(ctx, f"{dist_note(dist, ctx)}{name}", work, len(gens))
        yield name, gen, (None if skip else dist), (0.0 if skip else work), skip


def _plan_work(ctx, per_generator, limit: int = DENSE_LIMIT) -> float:
    """The predicted work of the generators :func:`_plan` runs."""
    return sum(work for *_, work, _ in _plan(ctx, per_generator, limit))


def _t_step(schedule, t: float) -> float:
    """h = min(1e-3, t/500) shrunk by the schedule's time scales, max(1, σ, |σ'/σ|): F(t)
    varies on the scale 1/σ (fast noise) and 1/|σ'/σ| (geometric growth)."""
    sig = float(schedule.sigma(t))
    return fd_step(t) / max(1.0, sig, abs(float(schedule.dsigma_dt(t))) / sig)


def _worst_scaled(rows):
    """(index, tolerance) of the row (lhs, rhs, ..., scale) with the largest |lhs − rhs|
    relative to its tolerance :func:`~proofs_check.framework.deriv_tolerance`
    (1e-9 · max(1, |rhs|, max |F| over the difference's nodes))."""
    tols = [deriv_tolerance(row[1], row[-1]) for row in rows]
    w = worst([abs(row[0] - row[1]) / tol for row, tol in zip(rows, tols)])
    return w, tols[w]


def _noised(dist, gen, s):
    return NoisedDistribution.at_noise_level(dist, gen, s)


def _unit_fd_work(ctx):
    return lambda gen, dist, large: _fd_work(
        gen,
        dist,
        1 if large else (2 if ctx.quick else 3),
        len(_S_GRID) - 1 if large else len(_S_GRID),
        method="contract",
    )


@check(
    "thm31.unit_rate_fd",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="dF/ds = −mdse_s (5-point FD in s)",
    work=lambda ctx: _plan_work(ctx, _unit_fd_work(ctx)),
)
def thm31_unit_fd(ctx):
    """Theorem 3.1 at unit rate: 5-point difference of F(x0, s) = KL(p_{s|0}‖p_s) in s,
    h = min(1e-3, s/500), against -mdse_s by the kernel-contraction method."""
    for name, gen, dist, _, skip in _plan(ctx, _unit_fd_work(ctx)):
        if skip is not None:
            yield skip
            continue
        large = gen.n_states**dist.length > QUAD_LIMIT  # fewer cases on big state spaces
        seqs = pick_sequences(dist, 1 if large else (2 if ctx.quick else 3))
        rows = _fd_mdse_rows(dist, gen, seqs, _S_GRID[1:] if large else _S_GRID)
        w, tol = _worst_scaled(rows)
        a, r, b, s, _ = rows[w]
        yield Result(
            f"{dist_note(dist, ctx)}{name}; {len(seqs)} x0 × s∈{_S_GRID} (worst x0={label(dist, seqs[b])}, s={s}); "
            "tol 1e-9·max(1,|rhs|,|F|)",
            float(a),
            float(r),
            tolerance=tol,
        )


def fd_rate(dist, gen, seqs, s: float, noised_at=None, *, with_scale: bool = False):
    """dF/ds by a 5-point difference of F(s) = KL(p_{s|0}‖p_s) *as a function* of s
    (:func:`ctmc_lab.exact.information.kl` at s ± h, s ± 2h, h = min(1e-3, s/500)). ``noised_at``
    replaces the map s -> NoisedDistribution (the wrong-noise-level control); ``with_scale``
    also returns max |F| over the nodes (:func:`~proofs_check._util.five_point`)."""
    build = noised_at or (lambda u: _noised(dist, gen, u))
    return five_point(lambda u: information.kl(build(u), seqs), s, fd_step(s), with_scale=with_scale)


def _fd_mdse_rows(dist, gen, seqs, levels, noised_at=None):
    build = noised_at or (lambda u: _noised(dist, gen, u))
    rows = []
    for s in levels:
        d, scale = fd_rate(dist, gen, seqs, s, noised_at, with_scale=True)
        m = scores.mdse(build(s), seqs, method="contract")
        rows += [(d[b], -m[b], b, s, scale[b]) for b in range(len(seqs))]
    return rows


def _kl_rate_work(ctx):
    return lambda gen, dist, large: _fd_work(gen, dist, 2 if ctx.quick or large else 6, len(_S_GRID), method="contract")


@check(
    "thm31.kl_rate_library",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="library kl_rate = dF/ds (5-point FD of F)",
    work=lambda ctx: _plan_work(ctx, _kl_rate_work(ctx)),
)
def thm31_kl_rate(ctx):
    """The library's exact rate :func:`ctmc_lab.exact.information.kl_rate` (the proof's formula
    Σ (Qq) log(q/p_s) - Σ q (Q p_s)/p_s) against a 5-point difference of F(s) as a function.
    The formula equals -mdse_s for any positive p, so only the difference of F ties it to
    p_s = K^{⊗L} p0; relative residual where |dF/ds| > 1."""
    for name, gen, dist, _, skip in _plan(ctx, _kl_rate_work(ctx)):
        if skip is not None:
            yield skip
            continue
        states = gen.n_states**dist.length
        seqs = pick_sequences(dist, 2 if ctx.quick else (6 if states <= QUAD_LIMIT else 2))
        rows = []
        for s in _S_GRID:
            noised = _noised(dist, gen, s)
            d = information.kl_rate(noised, seqs)
            fd = fd_rate(dist, gen, seqs, s)
            rows += [(d[b], fd[b], b, s) for b in range(len(seqs))]
        err = [abs(a - r) / max(1.0, abs(r)) for a, r, *_ in rows]
        w = worst(err)
        a, r, b, s = rows[w]
        yield Result(
            f"{dist_note(dist, ctx)}{name}; {len(seqs)} x0 × {len(_S_GRID)} s (worst x0={label(dist, seqs[b])}, "
            f"s={s}); rel.",
            float(a),
            float(r),
            err[w],
        )


def _mismatched(dist, gen, s: float, u: float):
    """A NoisedDistribution whose kernel is at s but whose marginal p is at u."""
    right = _noised(dist, gen, s)
    return NoisedDistribution(dist, gen, right.s, right.K, _noised(dist, gen, u).p)


def wrong_level(dist, gen, factor: float = 1.6):
    """s -> a NoisedDistribution whose kernel is at s but whose marginal p is at factor·s."""
    return lambda s: _mismatched(dist, gen, s, factor * s)


def _planted_mismatch(dist, gen, x0, s: float, factor: float = 1.6) -> float:
    """What the control plants at s: with the kernel at s and p at u = factor·s, dF/ds minus the
    proof's rate (still -mdse for this p) is (factor - 1)·∂_u KL(k_s(·|x0) ‖ p_u), by a
    5-point difference in u with the kernel held at s. It is the term the control changes, so
    where it is below the tolerance the control cannot fail (a nearly flat p_u)."""
    u = factor * s
    return float(
        (factor - 1.0) * five_point(lambda v: information.kl(_mismatched(dist, gen, s, v), x0[None])[0], u, fd_step(u))
    )


def _wrong_level_work(gen, dist, large) -> float:
    return _fd_work(gen, dist, 2, 2, p_builds=2, method="contract") + 8 * cost.noised(gen, dist.length)


@check(
    "thm31.control.wrong_noise_level",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="CONTROL: p_s taken at noise level 1.6·s",
    expected_to_fail=True,
    work=lambda ctx: _plan_work(ctx, _wrong_level_work),
)
def thm31_wrong_level(ctx):
    """Negative control: p_s replaced by p at 1.6·s (kernel kept at s) in F and in mdse. The
    proof's formula still equals -mdse for this p, but dF/ds of the function does not."""
    for name, gen, dist, _, skip in _plan(ctx, _wrong_level_work):
        if skip is not None:
            yield skip
            continue
        seqs = pick_sequences(dist, 2)
        rows = _fd_mdse_rows(dist, gen, seqs, (0.3, 1.0), noised_at=wrong_level(dist, gen))
        w, tol = _worst_scaled(rows)
        a, r, b, s, _ = rows[w]
        gap = _planted_mismatch(dist, gen, seqs[b], s)
        yield Result(
            f"{dist_note(dist, ctx)}{name}; FD of F vs −mdse with p at 1.6·s (x0={label(dist, seqs[b])}, s={s}); "
            "tol 1e-9·max(1,|rhs|,|F|)",
            float(a),
            float(r),
            tolerance=tol,
            gap=gap,
        )


def _schedules_work(ctx):
    return lambda gen, dist, large: (
        len(SCHEDULES) * _fd_work(gen, dist, 1 if large else 2, 2 if ctx.quick or large else 3)
    )


@check(
    "thm31.schedules_pointwise",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="dF/dt = −σ(t)·mdse_s(σ̄(t)) (FD in t)",
    work=lambda ctx: _plan_work(ctx, _schedules_work(ctx)),
)
def thm31_schedules(ctx):
    """Theorem 3.1 in t under loglinear, shifted geometric, linear and cosine schedules:
    a 5-point difference in t of F(x0, t), with h = min(1e-3, t/500)/max(1, σ, |σ'/σ|) so
    fast schedules are resolved, against -σ(t) mdse_s(x0, σ̄(t))."""
    for name, gen, dist, _, skip in _plan(ctx, _schedules_work(ctx)):
        if skip is not None:
            yield skip
            continue
        large = gen.n_states**dist.length > QUAD_LIMIT  # fewer cases on big state spaces
        seqs = pick_sequences(dist, 1 if large else 2)
        for sname, sch in SCHEDULES.items():
            rows = []
            for t in T_GRIDS[sname][: 2 if ctx.quick or large else 3]:
                h = _t_step(sch, t)
                F = lambda u: information.kl(_noised(dist, gen, float(sch.sigma_bar(u))), seqs)
                d, scale = five_point(F, t, h, with_scale=True)
                m = float(sch.sigma(t)) * scores.mdse(_noised(dist, gen, float(sch.sigma_bar(t))), seqs)
                rows += [(d[b], -m[b], b, t, scale[b]) for b in range(len(seqs))]
            w, tol = _worst_scaled(rows)
            a, r, b, t, _ = rows[w]
            yield Result(
                f"{dist_note(dist, ctx)}{name}; {sname}; worst x0={label(dist, seqs[b])}, t={t}; "
                "tol 1e-9·max(1,|rhs|,|F|)",
                float(a),
                float(r),
                tolerance=tol,
            )


def _marginal_work(ctx):
    return lambda gen, dist, large: len(SCHEDULES) * _fd_work(gen, dist, dist.support_size, 1 if ctx.quick else 2)


@check(
    "thm31.schedules_marginal",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_DERIV,
    statement="dI/dt = −σ(t)·mdse(σ̄(t)) marginal (FD in t)",
    work=lambda ctx: _plan_work(ctx, _marginal_work(ctx), QUAD_LIMIT),
)
def thm31_marginal(ctx):
    """Theorem 3.1, marginal form, under every schedule: 5-point difference in t of
    I(x0; x_t) = E_{p0} KL against -σ(t) E_{p0} mdse_s (:func:`ctmc_lab.exact.scores.marginal_mdse`)."""
    # One KL per support sequence at every node: the tighter quadrature limit applies.
    for name, gen, dist, _, skip in _plan(ctx, _marginal_work(ctx), QUAD_LIMIT):
        if skip is not None:
            yield skip
            continue
        for sname, sch in SCHEDULES.items():
            rows = []
            for t in T_GRIDS[sname][1 : 2 if ctx.quick else 3]:
                h = _t_step(sch, t)
                I = lambda u: information.mutual_information(_noised(dist, gen, float(sch.sigma_bar(u))))
                d, scale = five_point(I, t, h, with_scale=True)
                m = float(sch.sigma(t)) * scores.marginal_mdse(_noised(dist, gen, float(sch.sigma_bar(t))))
                rows.append((d, -m, t, scale))
            w, tol = _worst_scaled(rows)
            a, r, t, _ = rows[w]
            yield Result(
                f"{dist_note(dist, ctx)}{name}; {sname}; marginal, worst t={t}; tol 1e-9·max(1,|rhs|,|F|)",
                float(a),
                float(r),
                tolerance=tol,
            )
