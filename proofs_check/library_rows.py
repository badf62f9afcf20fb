"""Library functions the theorem rows rely on, each against an independent route.

* the schedules (§1.3): σ = dσ̄/dt, σ' and dλ/dt by 5-point differences, λ = 1 - e^{-σ̄},
  and the inverse maps t(σ̄), t(λ) round trips;
* the optimal denoiser c* (§3.4) on random masked inputs against brute-force support sums,
  both of the library's routes, with its contract (rows sum to 1, a point mass at visible
  positions);
* every mdse summation method (§2.3) against the others;
* the decompositions of ``ctmc-lab nll`` and the conditional helpers (Cor 4.3, Thm 4.2)
  against -log p0 from marginal sums;
* the exact variances of :mod:`ctmc_lab.estimation.moments` against an enumeration of each estimator's
  reference law, and the t-estimators' exact mean against a quadrature written here.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate
from scipy.special import betaln, comb

from ctmc_lab import masks
from ctmc_lab.estimation import conditional, moments
from ctmc_lab.exact import decompositions, scores
from ctmc_lab.exact.mask_dce import MaskDCE, exact_nll
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sources.denoisers import OptimalDenoiser

from . import cost
from ._util import (
    DENSE_LIMIT,
    SCHEDULES,
    fit_dense,
    fit_queries,
    five_point,
    label,
    pick_sequences,
    random_generator,
    share_skip,
)
from .estimators_check import reference_law
from .framework import TOL_DERIV, TOL_ENUM, TOL_QUAD, Result, Skip, check

__all__ = ["brute_conditionals", "t_mean_reference"]


@check(
    "schedules.consistency",
    theorem="Schedules (§1.3)",
    method="float64",
    tolerance=TOL_DERIV,
    statement="σ = dσ̄/dt, σ', dλ/dt (FD); λ = 1−e^{−σ̄}; inverses",
    work=1e7,
)
def schedules_consistency(ctx):
    """Every schedule: σ(t) against a 5-point difference of σ̄, dσ/dt against one of σ, dλ/dt
    against one of λ (relative), λ(t) = 1 - exp(-σ̄(t)), and t(σ̄(t)) = t, t(λ(t)) = t."""
    for name, sch in SCHEDULES.items():
        ts = [0.1, 0.3, 0.6] if name != "linear(rate 1.5)" else [0.1, 0.8, 2.0]
        rows = []
        for t in ts:
            h = min(1e-4, t / 500)
            for what, f, d in (
                ("σ vs dσ̄/dt", sch.sigma_bar, sch.sigma),
                ("σ' vs dσ/dt", sch.sigma, sch.dsigma_dt),
                ("dλ/dt", sch.mask_level, sch.dlambda_dt),
            ):
                fd = five_point(lambda u: float(f(u)), t, h)
                ex = float(d(t))
                rows.append((abs(fd - ex) / max(1.0, abs(ex)), fd, ex, what, t))
            lam = float(sch.mask_level(t))
            rows.append(
                (
                    abs(lam - (-math.expm1(-float(sch.sigma_bar(t))))),
                    lam,
                    -math.expm1(-float(sch.sigma_bar(t))),
                    "λ = 1 − e^{−σ̄}",
                    t,
                )
            )
            back = float(sch.t_of_sigma_bar(float(sch.sigma_bar(t))))
            rows.append((abs(back - t), back, t, "t(σ̄(t))", t))
            back = float(sch.t_of_mask_level(lam))
            rows.append((abs(back - t), back, t, "t(λ(t))", t))
        err, a, b, what, t = max(rows, key=lambda r: r[0])
        yield Result(f"{name}; t∈{ts}; worst: {what} at t={t}; rel. for derivatives", a, b, err)


def brute_conditionals(dist, x: np.ndarray) -> np.ndarray:
    """c*(x̃)_{i,v} = P0(x̃^U, x^i = v)/P0(x̃^U) by scanning the support (visible: point mass)."""
    N = dist.n_tokens
    out = np.full(x.shape + (N,), -np.inf)
    for b, row in enumerate(x):
        vis = row != dist.mask_id
        match = np.all(dist.support[:, vis] == row[vis], axis=1)
        den = dist.probs[match].sum()
        for i in range(x.shape[1]):
            if vis[i]:
                out[b, i, row[i]] = 0.0
                continue
            for v in range(N):
                num = dist.probs[match & (dist.support[:, i] == v)].sum()
                if num > 0 and den > 0:
                    out[b, i, v] = math.log(num / den)
    return out


def _brute_dists(ctx):
    """The distributions of the brute-force denoiser rows (≤ 20000 support sequences each)."""
    return dict.fromkeys([fit_queries(ctx.large, max_support=20000), fit_queries(ctx.small, max_support=20000)])


def _brute_work(ctx) -> float:
    """Per distribution and random input: a Python loop over (position, symbol) that scans
    the support, and both library routes on the inputs."""
    B = 16 if ctx.quick else 48
    total = 0.0
    for dist in _brute_dists(ctx):
        scan = B * dist.length * dist.n_tokens
        total += scan * (cost.STEP + cost.ELEM * dist.support_size) + cost.pattern_table(dist)
        total += 2 * cost.queries(B, dist) + cost.marginals(dist, B)
    return total


@check(
    "denoiser.brute_force",
    theorem="Denoiser c* (§3.4)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="c*(x̃) = support-sum ratios; rows sum to 1; visible = δ",
    work=_brute_work,
)
def denoiser_brute_force(ctx):
    """The optimal denoiser on random masked inputs of the subset-table distribution (drawn
    from p0, each position masked with probability 1/2): every entry of c* (as probabilities)
    against a brute-force scan of the support, for both library routes (pattern marginals
    and support scan); and the Denoiser contract."""
    # The brute-force scan visits the support once per (input, position, symbol): ≤ 20000 sequences.
    for dist in _brute_dists(ctx):
        rng = ctx.rng(151)
        B = 16 if ctx.quick else 48
        x = dist.support[rng.choice(dist.support_size, size=B, p=dist.probs)].copy()
        x[rng.random(x.shape) < 0.5] = dist.mask_id
        ref = brute_conditionals(dist, x)
        routes = [("OptimalDenoiser", OptimalDenoiser(dist)(x)), ("support scan", dist._conditionals_from_support(x))]
        for name, got in routes:
            same = np.array_equal(np.isfinite(got), np.isfinite(ref))
            diff = np.where(np.isfinite(ref), np.abs(np.exp(got) - np.exp(np.where(np.isfinite(ref), ref, 0))), 0.0)
            w = np.unravel_index(int(np.argmax(diff)), diff.shape)
            yield Result(
                f"{dist.name}; {name}; {B} random masked inputs; worst entry {tuple(int(v) for v in w)}",
                float(np.exp(got[w])),
                float(np.exp(ref[w])),
                float(diff[w]) if same else math.inf,
            )
        got = OptimalDenoiser(dist)(x)
        sums = np.exp(got).sum(axis=-1)
        yield Result(
            f"{dist.name}; max |Σ_v c*(x̃)_{{i,v}} − 1| over every position",
            float(sums.max()),
            1.0,
            float(np.max(np.abs(sums - 1.0))),
        )


def _methods_fit(ctx, gen):
    """The longest prefix within the dense limit with S^L ≤ 5000 (None if none fits)."""
    dist = fit_dense(ctx.small, gen.n_states, DENSE_LIMIT)
    while dist is not None and dist.length > 1 and gen.n_states**dist.length > 5000:
        dist = fit_dense(ctx.small, gen.n_states, gen.n_states ** (dist.length - 1))
    return dist


def _methods_generators(ctx):
    n = ctx.small.n_tokens
    gens = [("absorbing", generators.absorbing(n))]
    if n >= 2:
        gens += [("uniform", generators.uniform(n)), ("random generic Q", random_generator(n, ctx.rng(31)))]
    return gens


def _methods_plan(ctx):
    """(name, generator, distribution, work, skip) per generator: per level a noised marginal
    and the mdse of 3 sequences by 4 methods; one over its share of the budget is skipped."""
    gens = _methods_generators(ctx)
    for name, gen in gens:
        dist = _methods_fit(ctx, gen)
        if dist is None:
            yield name, gen, None, 0.0, Skip(name, f"dense limit {DENSE_LIMIT}")
            continue
        count = min(3, dist.support_size)
        methods = ("contract", "enumerate", "factored", "auto")
        work = 3 * (cost.process(gen, dist) + sum(cost.mdse(gen, dist.length, count, m) for m in methods))
        skip = share_skip(ctx, f"{name}; {dist.name}", work, len(gens))
        yield name, gen, (None if skip else dist), (0.0 if skip else work), skip


@check(
    "scores.mdse_methods",
    theorem="Thm 3.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="mdse_s: contract = enumerate = factored = auto",
    work=lambda ctx: sum(work for *_, work, _ in _methods_plan(ctx)),
)
def mdse_methods(ctx):
    """Every summation method of :func:`ctmc_lab.exact.scores.mdse` (the Thm 3.1 rows use
    ``contract`` against the differences of F) against ``contract``: absorbing, uniform and a
    random generic Q, three noise levels; relative residual, its tolerance growing with the
    number of summed terms (:func:`~proofs_check.framework.scaled_tolerance`)."""
    for name, gen, dist, _, skip in _methods_plan(ctx):
        if skip is not None:
            yield skip
            continue
        seqs = pick_sequences(dist, 3)
        rows = []
        for s in (0.05, 0.7, 3.0):
            noised = NoisedDistribution.at_noise_level(dist, gen, s)
            ref = scores.mdse(noised, seqs, method="contract")
            for method in ("enumerate", "factored", "auto"):
                got = scores.mdse(noised, seqs, method=method)
                err = np.abs(got - ref) / np.maximum(1.0, np.abs(ref))
                b = int(np.argmax(err))
                rows.append((float(err[b]), float(got[b]), float(ref[b]), method, s))
        err, a, r, method, s = max(rows, key=lambda row: row[0])
        # Each method sums the DSE brackets of the reach^L states with their L·S neighbours,
        # in a different order: its rounding grows with that count (4e4 terms at N = 200).
        terms = cost.reach(gen) ** dist.length * dist.length * gen.n_states
        yield Result(f"{name}; {dist.name}; worst: {method} vs contract at s={s}; rel.", a, r, err, terms=terms)


def _nll_routes_work(ctx) -> float:
    """Two denoiser routes over every mask (time_free_exact, exact_nll) and two subset-table
    routes, on 4 or 12 sequences."""
    dist = fit_queries(ctx.large)
    if dist.length > 14:
        return 0.0
    count = min(dist.support_size, 4 if ctx.quick else 12)
    return 2 * cost.masked_queries(dist, count, 1 << dist.length) + 2 * cost.subset_tables(count, dist)


@check(
    "decompositions.nll_routes",
    theorem="Thm 4.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="nll routes (time_free ×2, mdce_integral, exact_nll) = −log p0",
    work=_nll_routes_work,
)
def nll_routes(ctx):
    """The exact routes of ``ctmc-lab nll``: :func:`decompositions.time_free_exact` by the
    denoiser and by the subset table, :func:`decompositions.mdce_integral` and
    :func:`ctmc_lab.exact.mask_dce.exact_nll`, against -log p0 from the table."""
    dist = fit_queries(ctx.large)
    if dist.length > 14:
        yield Skip(f"L={dist.length}", "2^L masks per sequence exceed the limit L ≤ 14")
        return
    seqs = pick_sequences(dist, 4 if ctx.quick else 12)
    nll = dist.nll(seqs)
    routes = [
        ("time_free_exact (denoiser)", decompositions.time_free_exact(OptimalDenoiser(dist), seqs)),
        ("time_free_exact (subset)", decompositions.time_free_exact(dist, seqs, method="subset")),
        ("mdce_integral", decompositions.mdce_integral(dist, seqs)),
        ("mask_dce.exact_nll", np.array([exact_nll(OptimalDenoiser(dist), x) for x in seqs])),
    ]
    for name, val in routes:
        err = np.abs(np.asarray(val, dtype=float) - nll)
        b = int(np.argmax(err))
        yield Result(
            f"{dist.name}; {name}; {len(seqs)} x0 (worst x0={label(dist, seqs[b])})",
            float(nll[b]),
            float(np.asarray(val)[b]),
            float(err[b]),
        )


def _helpers_work(ctx) -> float:
    """The conditional helpers on the table (marginal sums, a conditional mask-DCE table over
    the target's masks, its quadrature) and on the chain (its brute-force window joint, the
    trie table)."""
    from .markov_check import _length

    dist = fit_queries(ctx.large)
    total = 0.0
    if 2 <= dist.length <= 14:
        n = len(range(dist.length // 2 + 1, dist.length)) or 1
        total += cost.marginals(dist, 16) + 4 * cost.subset_tables(1, dist) + 200 * cost.ELEM * (1 << n)
    chain = ctx.chain
    windows = float(chain.n_tokens) ** _length(chain, ctx)
    total += cost.ELEM * windows * _length(chain, ctx) * chain.table.shape[0] + 3 * cost.CALL * (
        1 << _length(chain, ctx)
    )
    return total


@check(
    "conditional.helpers",
    theorem="Cor 4.3",
    method="float64",
    tolerance=TOL_QUAD,
    statement="conditional_nll / masks.imdce_sum / Thm 4.2 integral = marginal sums",
    work=_helpers_work,
)
def conditional_helpers(ctx):
    """:mod:`ctmc_lab.estimation.conditional` on the subset-table distribution and on the Markov chain:
    ``conditional_nll``, the time-free value and the Thm 4.2 integral of
    ``conditional_mask_dce``, against log P(x^{I2}) - log P(x^{I1 ∪ I2}) by direct sums (a
    brute-force window joint for the chain)."""
    dist = fit_queries(ctx.large)
    L = dist.length
    if 2 <= L <= 14:
        context, target = list(range(L // 2)), list(range(L // 2 + 1, L)) or [L - 1]
        vis_c = np.zeros(L, bool)
        vis_c[context] = True
        vis_t = np.zeros(L, bool)
        vis_t[target] = True
        seqs = pick_sequences(dist, 8)
        truth = -(np.log(dist.marginal(seqs, vis_c | vis_t)) - np.log(dist.marginal(seqs, vis_c)))
        b = int(np.argmax(truth))
        x = seqs[b]
        A = conditional.conditional_mask_dce(dist, x, target=target, context=context)
        for name, val in (
            ("conditional_nll", conditional.conditional_nll(dist, x, target=target, context=context)),
            ("masks.imdce_sum", float(masks.imdce_sum(A))),
            ("theorem42_integral", conditional.theorem42_integral(A)),
        ):
            yield Result(
                f"{dist.name}; {name}; I2={context}, I1={target}; x={label(dist, x)}", float(val), float(truth[b])
            )
    from .markov_check import _length, window_joint

    chain = ctx.chain
    Lw = _length(chain, ctx)
    wins, probs = window_joint(chain.table, chain.n_tokens, chain.order, Lw)
    k = min(chain.order, Lw - 1)
    context, target = list(range(k)), list(range(k, Lw))
    x = wins[int(np.argmax(probs))]
    num = probs[np.all(wins == x, axis=1)].sum()
    den = probs[np.all(wins[:, :k] == x[:k], axis=1)].sum()
    truth = -math.log(num / den)
    A = conditional.conditional_mask_dce(chain, x, target=target, context=context)
    for name, val in (
        ("conditional_nll", conditional.conditional_nll(chain, x, target=target, context=context)),
        ("masks.imdce_sum", float(masks.imdce_sum(A))),
        (
            "chain.log_prob(start=prompt)",
            -chain.log_prob(x[k:], start=x[:k])
            if k >= chain.order
            else conditional.conditional_nll(chain, x, target=target, context=context),
        ),
    ):
        yield Result(f"{chain.name}; {name}; I2={context}, I1={target}; x={chain.decode(x)}", float(val), truth)


def t_mean_reference(A: np.ndarray, kind: str, eps: float = 1e-3) -> float:
    """E g of the code's t-DCE (with the log(e^σ̄-1) offset) / t-DSE under loglinear(ε), by
    quadrature written here: (1/(1-ε)) ∫_ε^1 w(t) Σ_m λ^m (1-λ)^{n-m} [S1_m + (t-DCE) m C(n,m)
    log(e^σ̄ - 1)] dt, w = σ/(e^σ̄ - 1), S1_m = Σ_{|M|=m} A(M)."""
    n = A.size.bit_length() - 1
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    S1 = np.array([A[sizes == m].sum() for m in range(n + 1)])
    C = comb(n, np.arange(n + 1))
    m = np.arange(n + 1)

    def f(t):
        sb = -math.log1p(-(1 - eps) * t)
        sig = (1 - eps) / (1 - (1 - eps) * t)
        lam = -math.expm1(-sb)
        w = sig / math.expm1(sb)
        p = lam**m * (1 - lam) ** (n - m)
        extra = m * C * math.log(math.expm1(sb)) if kind == "t_dce" else 0.0
        return w * float(np.sum(p * (S1 + extra)))

    return integrate.quad(f, eps, 1.0, epsabs=1e-13, epsrel=1e-12, limit=400)[0] / (1 - eps)


def _variances_work(ctx) -> float:
    """Per sequence (2): the A table over every mask, 6 enumerated variances, and two
    t-quadratures (about 400 nodes over n + 1 sizes) with the library's t-moments."""
    dist = fit_queries(ctx.large)
    if dist.length > 12:
        return 0.0
    masks = 1 << dist.length
    per_seq = cost.masked_queries(dist, 1, masks) + 6 * cost.ELEM * masks * 4 + 4 * 400 * (cost.STEP * 10)
    return min(2, dist.support_size) * per_seq


@check(
    "moments.variances",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="exact Var g and t-estimator means = own enumeration",
    work=_variances_work,
)
def moments_variances(ctx):
    """:func:`ctmc_lab.estimation.moments.estimator_moments` variances against Σ_M P(M)(f_m A(M) - E g)²
    over the reference law of each mask-size scheme, λ-DCE's E g² = Σ_{m≥2} A² B(m-1, n-m+1)
    (infinite iff a singleton term is positive), and the t-DCE/t-DSE exact means of
    :func:`moments.t_estimator_moments` against :func:`t_mean_reference` (relative)."""
    dist = fit_queries(ctx.large)
    if dist.length > 12:
        yield Skip(f"L={dist.length}", "2^L masks, L ≤ 12")
        return
    seqs = [x for x in pick_sequences(dist, 6) if dist.nll(x) > 1e-9][:2]
    if not seqs:
        yield Skip(dist.name, "every sequence has probability 1")
        return
    denoiser = OptimalDenoiser(dist)
    n = dist.length
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    for x0 in seqs:
        A = MaskDCE(denoiser, x0).table()
        rows = []
        for name in ("time_free", "k_dce", "rb_lambda_dce", "omit_full_mask", "omit_full_mask_token_mean"):
            if reference_law(name, n) is None:  # omit_* need n ≥ 2
                continue
            q, f = reference_law(name, n)
            P = q[sizes] / comb(n, sizes)
            g = f[sizes] * A
            mean = float(np.sum(P * g))
            var = float(np.sum(P * (g - mean) ** 2))
            got = moments.estimator_moments(A, name)
            rows.append((abs(got.variance - var) / max(1.0, var), got.variance, var, name))
        singles = A[1 << np.arange(n)]
        lam_m = moments.estimator_moments(A, "lambda_dce")
        if np.any(singles > 0):
            rows.append((0.0 if lam_m.variance_is_infinite else math.inf, lam_m.variance, math.inf, "lambda_dce (∞)"))
        else:
            w2 = np.where(sizes >= 2, np.exp(betaln(np.maximum(sizes - 1, 1), n - sizes + 1)), 0.0)
            var = float(np.sum(A**2 * w2)) - lam_m.mean**2
            rows.append((abs(lam_m.variance - var) / max(1.0, var), lam_m.variance, var, "lambda_dce"))
        for kind in ("t_dce", "t_dse"):
            ref = t_mean_reference(A, kind)
            got = moments.t_estimator_moments(A, schedule=Loglinear(1e-3), kind=kind).mean
            rows.append((abs(got - ref) / max(1.0, abs(ref)), got, ref, f"{kind} mean"))
        err, a, r, name = max(rows, key=lambda row: row[0] if math.isfinite(row[0]) else math.inf)
        yield Result(
            f"{dist.name}; x0={label(dist, x0)}; 6 variances, 2 t-means (worst: {name}); rel.",
            float(a),
            float(r),
            float(err),
            tolerance=1e-10,
        )
