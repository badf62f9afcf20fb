"""Theorem 3.2 (NLL decomposition) in float64 (``docs/theory.md`` §2.5).

    -log p0(x0) = ∫_0^T mdse(x0, t) dt + KL(p_{T|0}(·|x0) ‖ p_T),   and at T = ∞ without the KL;
    H(p0) = ∫_0^∞ mdse(t) dt (marginal).

Quadrature by ``scipy.integrate.quad`` of :func:`ctmc_lab.exact.scores.mdse` (in s at T = ∞,
in t under each schedule at finite T), plus the package's own tanh-sinh route
(:func:`ctmc_lab.exact.decompositions.mdse_integral`). Uniform noise has an integrable
log(1/s) singularity at s = 0 (§2.5): the first interval is integrated in u = log s.

Negative controls: dropping the finite-T KL term (§8 item 4), and SEDD's unshifted
geometric schedule with σ̄(0) = σ_min (§8 item 3).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

from ctmc_lab import masks
from ctmc_lab.exact import decompositions, information, scores
from ctmc_lab.forward.process import NoisedDistribution, NumericalRangeError
from ctmc_lab.forward.schedules import Geometric, Loglinear

from . import cost
from ._util import QUAD_LIMIT, SCHEDULES, dist_note, fit_dense, label, pick_sequences, prefix_marginal, range_skip
from .framework import TOL_QUAD, Result, Skip, check
from .thm31_imdse import generators_under_test

__all__ = ["mdse_integral_s", "finite_horizon"]

_QUAD = dict(epsabs=1e-13, epsrel=1e-13, limit=200)
#: Upper noise level at T = ∞: the KL there is below 1e-20 for these sizes (§2.5: 45–60).
S_INF = 60.0
#: Horizons of the finite-T checks, per schedule.
HORIZONS = {
    "loglinear(1e-3)": 1.0,
    "geometric(1e-4..20, shifted)": 0.6,
    "linear(rate 1.5)": 2.0,
    "cosine(1e-3)": 0.8,
}


#: Noised marginals by quadrature node, each with the mdse values computed on it. A node is
#: the distribution (by identity, kept alive here), the generator (by its rates and process)
#: and s; the values are pure functions of it, and the quadratures revisit nodes: two
#: sequences share their first nodes, a control integrates one horizon twice.
_NODES: dict = {}
#: Dense states the node cache may hold at once (their p_s and log p_s: about 16 MB).
_NODE_STATES = 1 << 20


def _noised(dist, gen, s: float):
    """(NoisedDistribution at ``s``, its mdse values by x0), built once per node."""
    key = (id(dist), gen.Q.shape, gen.Q.tobytes(), gen.n_tokens, id(gen.process), s)
    hit = _NODES.get(key)
    if hit is None:
        if (len(_NODES) + 1) * gen.n_states**dist.length > _NODE_STATES:
            _NODES.clear()
        hit = _NODES[key] = (dist, gen.process, NoisedDistribution.at_noise_level(dist, gen, s), {})
    return hit[2], hit[3]


def _mdse_s(dist, gen, x0, s: float) -> float:
    noised, values = _noised(dist, gen, s)
    key = x0.tobytes()
    if key not in values:
        values[key] = float(scores.mdse(noised, x0[None])[0])
    return values[key]


def _log_floor(dist, x0, base: float) -> float:
    """Lower end of the u = log s (or log t) integrals: under uniform noise s·mdse_s decays in
    u only once s is far below p0(x0), so the floor moves down by 2·(-log p0(x0)) (capped where
    e^u stays a normal float)."""
    nll = float(dist.nll(x0))
    return max(-700.0, base - 2.0 * nll) if math.isfinite(nll) else base


def mdse_integral_s(dist, gen, x0, upper: float = S_INF) -> float:
    """∫_0^upper mdse_s(x0, s) ds: [0, 1] in u = log s (the log singularity of uniform noise
    becomes a decaying tail, taken down to ``_log_floor``), then [1, upper] split at 10."""
    low = integrate.quad(
        lambda u: _mdse_s(dist, gen, x0, math.exp(u)) * math.exp(u), _log_floor(dist, x0, -40.0), 0.0, **_QUAD
    )[0]
    mid = integrate.quad(lambda s: _mdse_s(dist, gen, x0, s), 1.0, min(10.0, upper), **_QUAD)[0]
    # Beyond s = 10 the information about x0 lasts until e^{-s} ~ p0(x0): a bump near
    # s = -log p0(x0) that one adaptive interval can miss; pieces of width 5 resolve it.
    edges = np.arange(10.0, upper, 5.0).tolist() + [upper] if upper > 10 else []
    high = math.fsum(
        integrate.quad(lambda s: _mdse_s(dist, gen, x0, s), a, b, **_QUAD)[0] for a, b in zip(edges[:-1], edges[1:])
    )
    return low + mid + high


def finite_horizon(dist, gen, x0, schedule, T: float, *, with_kl: bool = True):
    """(∫_0^T σ(t) mdse_s(x0, σ̄(t)) dt, KL at T) by quadrature in t.

    The t-integral is split at t_1 = T/1000 and taken in u = log t below it (uniform noise:
    log singularity at t = 0); σ̄(0) need not be 0, which is what the unshifted control uses.
    """

    def f(t):
        s = float(schedule.sigma_bar(t))
        # The cosine schedule's σ̄(t) ~ t² rounds to 0 below t ≈ 1e-8; there σ(t) mdse_s is
        # O(t log(1/t)), so the omitted mass is below 1e-14.
        return float(schedule.sigma(t)) * _mdse_s(dist, gen, x0, s) if s > 0 else 0.0

    t1 = T / 1000
    low = integrate.quad(
        lambda u: f(math.exp(u)) * math.exp(u), _log_floor(dist, x0, math.log(t1) - 30.0), math.log(t1), **_QUAD
    )[0]
    high = integrate.quad(f, t1, T, **_QUAD)[0]
    end = information.kl(_noised(dist, gen, float(schedule.sigma_bar(T)))[0], x0) if with_kl else 0.0
    return low + high, float(end)


#: Integrand evaluations (noised marginal + mdse) of one quadrature, at most: the adaptive
#: quadratures of these checks take 150–600 nodes (measured), a piecewise infinite-horizon
#: integral up to 600, a finite-horizon one about 300.
_EVALS = 1500
_INF_NODES, _FINITE_NODES, _MARGINAL_NODES, _TANH_NODES = 600, 300, 250, 150


def _node(gen, dist, batch: int = 1) -> float:
    """One integrand evaluation: a noised marginal and the mdse of ``batch`` sequences."""
    return cost.process(gen, dist, mdse_batch=batch)


def fit_work(dist, gen, limit: int, budget: float, evaluations: float):
    """The longest prefix marginal of ``dist`` within ``limit`` dense states on which
    ``evaluations`` integrand evaluations (:func:`_node`) fit ``budget`` work units (None if
    even one position does not): predicted from the sizes, before anything is computed."""
    fitted = fit_dense(dist, gen.n_states, limit)
    while fitted is not None and evaluations * _node(gen, fitted) > budget:
        fitted = prefix_marginal(dist, fitted.length - 1) if fitted.length > 1 else None
    return fitted


def _two_generators(ctx, share: float = 0.25):
    """(name, generator, distribution, skip): absorbing and uniform noise (stationary limits),
    on ``ctx.small`` or, above the dense quadrature limit or the work budget (``share`` of
    ``ctx.budget`` per generator for about :data:`_EVALS` evaluations per sequence), on its
    longest fitting prefix marginal."""
    for name, gen in generators_under_test(ctx)[:2]:
        dist = fit_work(ctx.small, gen, QUAD_LIMIT, share * ctx.budget, _EVALS * (1 if ctx.quick else 2))
        if dist is None:
            yield (
                name,
                gen,
                None,
                Skip(
                    f"{name}; {gen.n_states} states per token",
                    f"dense quadrature limit {QUAD_LIMIT} states, or {_EVALS} evaluations of "
                    f"{cost.describe(_node(gen, prefix_marginal(ctx.small, 1)))} each over "
                    f"{share:g} of the work budget",
                ),
            )
        else:
            yield name, gen, dist, None


def _quad_work(ctx, per_generator) -> float:
    """Σ over the two generators of ``per_generator(gen, dist)`` on their fitted distributions."""
    return sum(per_generator(gen, dist) for _, gen, dist, skip in _two_generators(ctx) if skip is None)


@check(
    "thm32.infinite_horizon",
    theorem="Thm 3.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="−log p0 = ∫_0^∞ mdse_s ds",
    work=lambda ctx: _quad_work(ctx, lambda gen, dist: (1 if ctx.quick else 2) * _INF_NODES * _node(gen, dist)),
)
def thm32_infinite(ctx):
    """Theorem 3.2 at T = ∞ (§2.5): scipy quadrature of mdse_s over s ∈ [0, 60]
    (the KL left at s = 60 is below 1e-20), for absorbing and uniform noise."""
    for name, gen, dist, skip in _two_generators(ctx):
        if skip:
            yield skip
            continue
        for x0 in pick_sequences(dist, 1 if ctx.quick else 2):
            case = f"{dist_note(dist, ctx)}{name}; x0={label(dist, x0)}; scipy quad in s"
            try:
                yield Result(case, float(dist.nll(x0)), mdse_integral_s(dist, gen, x0))
            except NumericalRangeError as err:  # p_s underflows on the way to s = 60
                yield range_skip(case, err)


@check(
    "thm32.tanh_sinh",
    theorem="Thm 3.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="−log p0 = ∫_0^{s_max} mdse_s + KL(s_max)",
    work=lambda ctx: _quad_work(
        ctx, lambda gen, dist: _TANH_NODES * _node(gen, dist, min(dist.support_size, 4 if ctx.quick else 64))
    ),
)
def thm32_tanh_sinh(ctx):
    """Theorem 3.2 by the package's tanh-sinh route (:func:`ctmc_lab.exact.decompositions.mdse_integral`,
    s_max = 40 with its KL end term), every support sequence of the small distribution."""
    for name, gen, dist, skip in _two_generators(ctx):
        if skip:
            yield skip
            continue
        seqs = pick_sequences(dist, 4 if ctx.quick else 64)
        try:
            res = decompositions.mdse_integral(dist, gen, seqs)
        except NumericalRangeError as err:
            yield range_skip(f"{dist_note(dist, ctx)}{name}; {len(seqs)} x0", err)
            continue
        nll = dist.nll(seqs)
        err = np.abs(res.value - nll)
        w = int(np.argmax(err))
        yield Result(
            f"{dist_note(dist, ctx)}{name}; {len(seqs)} x0 (worst x0={label(dist, seqs[w])})",
            float(nll[w]),
            float(res.value[w]),
        )


@check(
    "thm32.finite_horizon",
    theorem="Thm 3.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="−log p0 = ∫_0^T mdse dt + KL(p_T|0‖p_T)",
    work=lambda ctx: _quad_work(
        ctx, lambda gen, dist: (2 if ctx.quick else len(SCHEDULES)) * _FINITE_NODES * _node(gen, dist)
    ),
)
def thm32_finite(ctx):
    """Theorem 3.2 at finite T with the KL end term, under every schedule (quadrature in t);
    the case names the end term, which is not negligible (loglinear T=1: ~3e-3 absorbing)."""
    schedules = list(SCHEDULES.items())[:2] if ctx.quick else list(SCHEDULES.items())
    for name, gen, dist, skip in _two_generators(ctx):
        if skip:
            yield skip
            continue
        x0 = pick_sequences(dist, 1)[0]
        for sname, sch in schedules:
            T = HORIZONS[sname]
            try:
                integral, end = finite_horizon(dist, gen, x0, sch, T)
            except NumericalRangeError as err:
                yield range_skip(f"{dist_note(dist, ctx)}{name}; {sname}; T={T}; x0={label(dist, x0)}", err)
                continue
            yield Result(
                f"{dist_note(dist, ctx)}{name}; {sname}; T={T}; x0={label(dist, x0)}; KL_T={end:.3g}",
                float(dist.nll(x0)),
                integral + end,
            )


@check(
    "thm32.marginal",
    theorem="Thm 3.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="H(p0) = ∫_0^T mdse ds + I(x0;x_T)",
    work=lambda ctx: _quad_work(
        ctx,
        lambda gen, dist: (
            (1 if ctx.quick else 2) * _MARGINAL_NODES * _node(gen, dist, dist.support_size)
            if dist.support_size <= 4096
            else 0.0
        ),
    ),
)
def thm32_marginal(ctx):
    """Theorem 3.2, marginal form: H(p0) = ∫_0^T E_{p0} mdse_s ds + I(x0; x_T), T = 1 and 3
    in s (unit rate), with :func:`ctmc_lab.exact.scores.marginal_mdse`."""
    for name, gen, dist, skip in _two_generators(ctx):
        if skip:
            yield skip
            continue
        if dist.support_size > 4096:
            yield Skip(f"{name}; |support|={dist.support_size}", "marginal quadrature over > 4096 sequences")
            continue
        f = lambda s: scores.marginal_mdse(NoisedDistribution.at_noise_level(dist, gen, s))
        for T in (3.0,) if ctx.quick else (1.0, 3.0):
            try:
                low = integrate.quad(lambda u: f(math.exp(u)) * math.exp(u), -40.0, math.log(T / 10), **_QUAD)[0]
                high = integrate.quad(f, T / 10, T, **_QUAD)[0]
                mi = information.mutual_information(NoisedDistribution.at_noise_level(dist, gen, T))
            except NumericalRangeError as err:
                yield range_skip(f"{dist_note(dist, ctx)}{name}; s_T={T}", err)
                continue
            yield Result(f"{dist_note(dist, ctx)}{name}; s_T={T}; I(x0;x_T)={mi:.3g}", dist.entropy(), low + high + mi)


def _closed_form_horizon(dist, x0, schedule, T: float, *, with_kl: bool = True):
    """Absorbing noise only, for distributions too large for the dense route: mdse_s from
    the subset table, mdse_s(x0, s) = (1-λ)/λ mdce(x0, λ) with λ = 1 - e^{-s} (F3, checked by
    Cor 3.6/3.7 rows), integrated in t like :func:`finite_horizon`."""
    h = masks.subset_entropy(dist.subset_table(x0))
    A = masks.mask_dce(h)

    def f(t):
        lam = float(schedule.mask_level(t))
        if lam <= 0:
            return 0.0
        return float(schedule.sigma(t)) * (1 - lam) / lam * float(masks.mask_mdce(A, lam)[0])

    t1 = T / 1000
    low = integrate.quad(lambda u: f(math.exp(u)) * math.exp(u), math.log(t1) - 30.0, math.log(t1), **_QUAD)[0]
    high = integrate.quad(f, t1, T, **_QUAD)[0]
    end = float(masks.mask_kl(h, float(schedule.mask_level(T)))[0]) if with_kl else 0.0
    return low + high, end


def _sensitive_sequence(dist):
    """The support sequence with the largest Σ_i -log p0(x0^i | rest): its mdse_s does not
    vanish as s -> 0 (§2.5), so a missing [0, σ_min] piece shows. In a sparse table most
    sequences have every such term 0 and would hide the unshifted-schedule error."""
    if dist.length > 16:
        return pick_sequences(dist, 1)[0]
    # A large support: the candidates are 64 spread sequences (each subset table scans the support).
    seqs = dist.support if dist.support_size <= 512 else pick_sequences(dist, 64)
    A = masks.mask_dce(masks.subset_entropy(dist.subset_table(seqs)))
    singles = A[:, 1 << np.arange(dist.length)].sum(axis=1)
    return seqs[int(np.argmax(np.where(np.isfinite(singles), singles, -1)))]


#: Longest sequence of the controls' subset-table route (2^L subsets per quadrature node).
_CONTROL_LENGTH = 12


def _control_dist(ctx):
    """ctx.small, or its prefix marginal of length 12 (the identity holds for every distribution)."""
    dist = ctx.small
    return dist if dist.length <= _CONTROL_LENGTH else prefix_marginal(dist, _CONTROL_LENGTH)


def _dense_route(ctx) -> bool:
    """True where the controls integrate the dense process: within the dense quadrature limit
    and with two quadratures' predicted work within half the budget; else the subset-table
    mdse (absorbing noise's closed form, F3) stands in, which costs 2^L per node."""
    dist = _control_dist(ctx)
    gen = generators_under_test(ctx)[0][1]
    dense = 2 * _FINITE_NODES * _node(gen, dist)
    return gen.n_states**dist.length <= QUAD_LIMIT and dense <= ctx.budget / 2


def _control_horizon(ctx, schedule, T, *, with_kl=True):
    """(case prefix, lhs, integral, end) on the dense route, or the closed form if too large."""
    dist = _control_dist(ctx)
    x0 = _sensitive_sequence(dist)
    name, gen = generators_under_test(ctx)[0]
    if _dense_route(ctx):
        integral, end = finite_horizon(dist, gen, x0, schedule, T, with_kl=with_kl)
        route = "dense"
    else:
        integral, end = _closed_form_horizon(dist, x0, schedule, T, with_kl=with_kl)
        route = "subset-table mdse"
    return f"{dist_note(dist, ctx)}{name} ({route}); x0={label(dist, x0)}", float(dist.nll(x0)), integral, end


def _control_work(ctx, horizons: int, extra_nodes: int = 0) -> float:
    """Work of ``horizons`` finite-horizon quadratures of the controls (on the route of
    :func:`_dense_route`) plus ``extra_nodes`` evaluations, with the subset tables that pick
    the sensitive sequence once per horizon."""
    dist = _control_dist(ctx)
    gen = generators_under_test(ctx)[0][1]
    picks = dist.support_size if dist.length > 16 or dist.support_size <= 512 else 64
    if _dense_route(ctx):
        node = _node(gen, dist)
    else:
        node = cost.CALL + cost.ELEM * (1 << dist.length) * dist.length  # mask_mdce at one λ
    return (
        horizons * cost.subset_tables(min(picks, dist.support_size) + 1, dist)
        + (horizons * _FINITE_NODES + extra_nodes) * node
    )


@check(
    "thm32.control.drop_kl_term",
    theorem="Thm 3.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="CONTROL: drop the finite-T KL term",
    expected_to_fail=True,
    work=lambda ctx: _control_work(ctx, 2),
)
def thm32_drop_kl(ctx):
    """Negative control (§8 item 4): loglinear(1e-3) at T = 1 never reaches λ = 1; without
    the KL end term the decomposition misses it (about 3e-3 nats for absorbing noise)."""
    try:
        case, nll, integral, _ = _control_horizon(ctx, Loglinear(1e-3), 1.0, with_kl=False)
        # The term the control drops, KL at T, computed on its own: where it is below rounding
        # the control cannot fail and is skipped.
        _, _, _, end = _control_horizon(ctx, Loglinear(1e-3), 1.0, with_kl=True)
    except NumericalRangeError as err:  # the control cannot run where its check cannot
        yield range_skip("loglinear(1e-3); T=1; no KL term", err)
        return
    yield Result(f"{case}; loglinear(1e-3); T=1; no KL term", nll, integral, gap=end)


@check(
    "thm32.control.unshifted_geometric",
    theorem="Thm 3.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="CONTROL: unshifted geometric, σ̄(0)=σ_min",
    expected_to_fail=True,
    work=lambda ctx: _control_work(ctx, 1, extra_nodes=63) + cost.subset_tables(65, _control_dist(ctx)),
)
def thm32_unshifted(ctx):
    """Negative control (§8 item 3): SEDD's geometric schedule has σ̄(0) = σ_min = 1e-4, so
    ∫_0^T mdse dt misses ∫_0^{σ_min} mdse_s ds (about σ_min Σ_i a_i for absorbing)."""
    try:
        case, nll, integral, end = _control_horizon(ctx, Geometric(1e-4, 20.0, shifted=False), 0.6)
        gap = _missing_piece(ctx, 1e-4)
    except NumericalRangeError as err:  # the control cannot run where its check cannot
        yield range_skip("geometric(1e-4..20, unshifted); T=0.6", err)
        return
    yield Result(f"{case}; geometric(1e-4..20, unshifted); T=0.6", nll, integral + end, gap=gap)


def _missing_piece(ctx, sigma_min: float) -> float:
    """∫_0^{σ_min} mdse_s(x0, s) ds, the piece the unshifted schedule never integrates
    (absorbing noise, the sequence of :func:`_control_horizon`)."""
    dist = _control_dist(ctx)
    x0 = _sensitive_sequence(dist)
    name, gen = generators_under_test(ctx)[0]
    if _dense_route(ctx):
        f = lambda s: _mdse_s(dist, gen, x0, s)
    else:
        A = masks.mask_dce(masks.subset_entropy(dist.subset_table(x0)))
        f = lambda s: float(np.exp(-s) / -np.expm1(-s) * masks.mask_mdce(A, -np.expm1(-s))[0]) if s > 0 else 0.0
    return integrate.quad(f, 0.0, sigma_min, epsabs=1e-16, epsrel=1e-10, limit=100)[0]
