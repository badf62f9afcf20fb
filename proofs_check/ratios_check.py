"""Exact moments users read, against enumerations that share no algebra with the library.

* the coupled and decoupled log-ratio moments (:func:`ctmc_lab.estimation.moments.ratio_moments`,
  §4.3, §6.4) against the joint law of the masks enumerated outright: one mask per draw
  (coupled) or every pair of independent masks (decoupled), with the laws of
  :func:`proofs_check.estimators_check.reference_law`, and A(M) from support scans;
* the conditional mask-DCE table with a context (Cor 4.3), every route of
  :func:`ctmc_lab.estimation.conditional.conditional_mask_dce`, on a JointDistribution and on a
  Markov chain, against the same support scan of the conditionals (marginalised positions
  summed out), and the conditional log-ratio built on it;
* LLaDA's alternative designs (:mod:`ctmc_lab.estimation.llada`): the balanced design's
  moments against an enumeration of every batch it can draw, and the reported
  ``variance_of_mean`` / per-draw variance of every design against the enumerated batch.

A(M) here is Σ_{t∈M} -log P(x^t | x^V), V = (T ∖ M) ∪ C, each P a sum of p0 over the support
sequences that agree with x on the visible positions (no subset table, no zeta transform,
no denoiser). A conditional on a context of probability 0 is +inf, as the library states.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import cost
from ._util import pick_sequences, prefix_marginal
from .estimators_check import _batch_moments, _enumerated_batch_moments, reference_law
from .framework import TOL_ENUM, Result, Skip, check, relative_error

__all__ = ["agreement_masses", "brute_mask_dce", "brute_joint"]

#: Longest target enumerated by these rows (2^n masks; the decoupled law has 4^n mask pairs).
MAX_TARGET = 6


def agreement_masses(support, probs, x, positions) -> dict:
    """{frozenset U: P(x^U)} for every subset U of ``positions``: the mass of the support
    sequences equal to x on U (a scan of the support per subset)."""
    agree = np.asarray(support) == np.asarray(x)[None, :]
    out = {}
    for r in range(len(positions) + 1):
        for U in itertools.combinations(positions, r):
            rows = np.all(agree[:, list(U)], axis=1) if U else np.ones(len(probs), bool)
            out[frozenset(U)] = float(np.asarray(probs)[rows].sum())
    return out


def brute_mask_dce(support, probs, x, target, context=()) -> np.ndarray:
    """A(M) by local bitmask over ``target`` (bit j = j-th target): Σ_{t∈M} -log P(x^t | x^V),
    V = (target ∖ M) ∪ context, other positions summed out; +inf where P(x^{V∪t}) = 0."""
    target, context = list(target), list(context)
    P = agreement_masses(support, probs, x, target + context)
    n = len(target)
    A = np.zeros(1 << n)
    for local in range(1 << n):
        M = [target[j] for j in range(n) if local >> j & 1]
        V = frozenset(t for t in target if t not in M) | frozenset(context)
        total = 0.0
        for t in M:
            num, den = P[V | {t}], P[V]
            total += math.inf if num <= 0 or den <= 0 else -math.log(num / den)
        A[local] = total
    return A


def brute_joint(chain, length: int, prompt=None):
    """(support, probs) of the chain's window of ``length`` symbols, by enumerating V^(k+length)
    with the chain's stationary window of k+length symbols and keeping (and renormalising) the
    windows whose first k symbols are the prompt's last k (k = the order). Without a prompt,
    the stationary window itself."""
    if prompt is None:
        dist = chain.joint(length)
        return dist.support, dist.probs
    k = chain.order
    tail = np.asarray(chain.encode(prompt))[-k:]
    dist = chain.joint(k + length)
    keep = np.all(dist.support[:, :k] == tail, axis=1)
    probs = dist.probs[keep]
    return dist.support[keep][:, k:], probs / probs.sum()


def _enumerable(dist):
    """``dist``, or its prefix marginal of length :data:`MAX_TARGET`."""
    return prefix_marginal(dist, MAX_TARGET) if dist.length > MAX_TARGET else dist


def _law_moments(A, P, f):
    mean = float(P @ (f * A))
    return mean, float(P @ (f * A - mean) ** 2)


def _ratio_work(ctx) -> float:
    total = 0.0
    for dist in ctx.distributions:
        n = min(dist.length, MAX_TARGET)
        # Two A-tables by support scans (one NumPy call per subset and per mask), then per
        # scheme the 4^n decoupled pairs (calibrated: ~10 ms at n = 6 and n = 3 together).
        total += 2 * 2.0**n * (cost.CALL + n * cost.STEP + cost.ELEM * dist.support_size)
        total += 3 * (4.0**n * cost.ELEM * 8 + cost.CALL)
    return total


@check(
    "ratios.coupled_decoupled_moments",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="ratio_moments: mean, Var_c, Var_d, 2Cov = enumerated joint mask law",
    work=_ratio_work,
)
def coupled_decoupled_moments(ctx):
    """For every ratio scheme with a twin law: the coupled variance over one mask M ~ q_m/C(n,m)
    of f_m(A_y - A_x), the decoupled one over every pair (M, M') of independent masks of
    f_m A_y(M) - f_m' A_x(M'), the mean against log p(x) - log p(y)."""
    from ctmc_lab.estimation.moments import ratio_moments
    from ctmc_lab.estimation.registry import ratio_schemes

    for dist in dict.fromkeys(_enumerable(d) for d in ctx.distributions):
        seqs = pick_sequences(dist, 2)
        if len(seqs) < 2:
            yield Skip(f"{dist.name}", "one support sequence: no pair to form a log-ratio")
            continue
        x, y = seqs
        n = dist.length
        Ax = brute_mask_dce(dist.support, dist.probs, x, range(n))
        Ay = brute_mask_dce(dist.support, dist.probs, y, range(n))
        sizes = np.array([bin(u).count("1") for u in range(1 << n)])
        for scheme in ratio_schemes():
            law = reference_law(scheme, n)
            if law is None or law[1] is None:
                yield Skip(f"{scheme}; {dist.name}", "n/a: no independent twin of this scheme's law")
                continue
            q, f = law
            P = q[sizes] / np.array([math.comb(n, m) for m in sizes])
            fm = f[sizes]
            lib = ratio_moments(Ax, Ay, scheme=scheme)
            mean_c, var_c = _law_moments(Ay - Ax, P, fm)
            # Decoupled: the product law of (M, M'), value f_m A_y(M) - f_m' A_x(M').
            pair = (fm * Ay)[:, None] - (fm * Ax)[None, :]
            w = P[:, None] * P[None, :]
            mean_d = float(np.sum(w * pair))
            var_d = float(np.sum(w * (pair - mean_d) ** 2))
            truth = float(dist.nll(y) - dist.nll(x))
            case = f"{scheme}; {dist.name}; x={dist.decode(x)}, y={dist.decode(y)}"
            scale = float(P @ (fm * (Ax + Ay)) ** 2)
            yield Result(f"{case}; mean vs log p(x) - log p(y)", lib.mean, truth, terms=1 << n)
            yield Result(f"{case}; coupled mean = decoupled mean", mean_c, mean_d, terms=1 << (2 * n))
            for what, got, want in (
                ("Var coupled", lib.variance_coupled, var_c),
                ("Var decoupled", lib.variance_decoupled, var_d),
                ("2 Cov = Var_d - Var_c", lib.covariance_term, var_d - var_c),
            ):
                yield Result(f"{case}; {what}; rel.", got, want, relative_error(got, want, scale=scale))


def _context_cases(dist):
    """(x, target, context) cases: a context with marginalised positions, no context with
    marginalised positions, and a sequence outside the support (a zero-probability path)."""
    L = dist.length
    x = pick_sequences(dist, 1)[0]
    cases = []
    if L >= 4:
        cases.append((x, [1, L - 2], [0, L - 1]))
    if L >= 3:
        cases.append((x, [0, L - 1], []))
        cases.append((x, [L - 1], [0]))
    cases.append((x, list(range(L)), []))
    outside = x.copy()
    inside = {tuple(z) for z in dist.support.tolist()}
    for v in range(dist.n_tokens):  # change the last token until the sequence leaves the support
        outside[-1] = v
        if tuple(outside.tolist()) not in inside:
            cases.append((outside.copy(), [0, L - 1] if L >= 2 else [0], []))
            break
    return cases


def _context_work(ctx) -> float:
    total = 0.0
    for dist in ctx.distributions:
        n = min(dist.length, MAX_TARGET)
        total += 6 * 2.0**n * (n * cost.STEP + cost.ELEM * dist.support_size) + 3 * cost.CALL * 2.0**n
    chain_states = ctx.chain.n_tokens ** (ctx.chain.order + 4) if ctx.chain is not None else 0
    return total + chain_states * 8 * cost.STEP + 1e7


@check(
    "conditional.context_table",
    theorem="Cor 4.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="conditional_mask_dce with a context (every route) = support scan; log-ratio",
    work=_context_work,
)
def context_table(ctx):
    """conditional_mask_dce(source, x, target, context) by each of its routes against
    :func:`brute_mask_dce` (+inf entries must agree), the conditional NLL from the table against
    -log P(x^{T∪C})/P(x^C), and conditional_log_ratio's exact values and moments."""
    from ctmc_lab.estimation.conditional import conditional_log_ratio, conditional_mask_dce, mask_dce_methods
    from ctmc_lab.masks import imdce_sum

    for dist in dict.fromkeys(_enumerable(d) for d in ctx.distributions):
        for x, target, context in _context_cases(dist):
            want = brute_mask_dce(dist.support, dist.probs, x, target, context)
            case = f"{dist.name}; x={dist.decode(x)}; target={target}; context={context}"
            for method in mask_dce_methods(dist):
                got = conditional_mask_dce(dist, x, target=target, context=context or None, method=method)
                yield Result(f"{case}; {method}; max |ΔA|", 0.0, 0.0, _table_error(got, want), terms=1 << len(target))
            P = agreement_masses(dist.support, dist.probs, x, target + context)
            joint, given = P[frozenset(target + context)], P[frozenset(context)]
            if given > 0:
                truth = math.inf if joint == 0 else -math.log(joint / given)
                yield Result(f"{case}; Σ B·A = -log P(x^T|x^C)", float(imdce_sum(want)), truth, terms=1 << len(target))
        yield from _ratio_rows(dist, conditional_log_ratio)
    if ctx.chain is not None:
        yield from _chain_rows(ctx.chain)


def _table_error(got, want) -> float:
    """Largest |got - want| where both are finite; inf where only one side is infinite."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape:
        return math.inf
    same_inf = np.isinf(got) & np.isinf(want) & (got == want)
    with np.errstate(invalid="ignore"):  # inf - inf where both are infinite: replaced by 0 below
        d = np.where(same_inf, 0.0, np.abs(got - want))
    return float(np.max(np.where(np.isnan(d), np.inf, d)))


def _ratio_rows(dist, conditional_log_ratio):
    """Two responses sharing the first position as a prompt: the exact conditional log-ratio
    and its coupled variance against the support scan."""
    if dist.length < 2:
        return
    seqs = pick_sequences(dist, dist.support_size)
    first = seqs[0]
    other = next((z for z in seqs[1:] if z[0] == first[0] and not np.array_equal(z, first)), None)
    if other is None:
        return
    target, context = list(range(1, dist.length)), [0]
    res = conditional_log_ratio(dist, first, other, target=target, context=context)
    Ap = brute_mask_dce(dist.support, dist.probs, first, target, context)
    Am = brute_mask_dce(dist.support, dist.probs, other, target, context)
    truth = float(dist.nll(other) - dist.nll(first))
    q, f = reference_law("time_free", len(target))
    sizes = np.array([bin(u).count("1") for u in range(1 << len(target))])
    P = q[sizes] / np.array([math.comb(len(target), m) for m in sizes])
    _, var_c = _law_moments(Am - Ap, P, f[sizes])
    case = f"{dist.name}; conditional_log_ratio({dist.decode(first)}, {dist.decode(other)} | position 0)"
    yield Result(f"{case}; exact", res.exact, truth)
    yield Result(f"{case}; time_free_exact", res.time_free_exact, truth, terms=1 << len(target))
    yield Result(
        f"{case}; Var coupled; rel.",
        res.moments.variance_coupled,
        var_c,
        relative_error(res.moments.variance_coupled, var_c, scale=float(P @ (f[sizes] * (Am + Ap)) ** 2)),
    )


def _chain_rows(chain):
    """The chain's conditional tables with a context, stationary and after a prompt, against
    the support scan of the enumerated window."""
    from ctmc_lab.estimation.conditional import conditional_mask_dce, conditional_nll, mask_dce_methods

    L = 4
    # A prompt longer than the order, whose first and last k symbols differ where they can.
    long_support, long_probs = brute_joint(chain, chain.order + 2)
    prompt = chain.decode(long_support[int(np.argmin(np.where(long_probs > 0, long_probs, np.inf)))])
    for start, (sup, pr) in ((None, brute_joint(chain, L)), (prompt, brute_joint(chain, L, prompt))):
        # The most probable window under this start: its contexts have positive probability
        # (a deterministic chain after a prompt may give the stationary mode probability 0).
        x = sup[int(np.argmax(pr))]
        for target, context in (([1, 2], [0]), ([0, 3], [2]), ([0, 1, 2, 3], [])):
            want = brute_mask_dce(sup, pr, x, target, context)
            case = f"{chain.name or 'chain'}; x={chain.decode(x)}; start={start!r}; target={target}; context={context}"
            for method in mask_dce_methods(chain):
                got = conditional_mask_dce(chain, x, target=target, context=context or None, start=start, method=method)
                yield Result(f"{case}; {method}; max |ΔA|", 0.0, 0.0, _table_error(got, want), terms=1 << len(target))
            P = agreement_masses(sup, pr, x, target + context)
            got = conditional_nll(chain, x, target=target, context=context or None, start=start)
            joint, given = P[frozenset(target + context)], P[frozenset(context)]
            yield Result(f"{case}; conditional_nll", got, math.inf if joint == 0 else -math.log(joint / given))


# =========================================================================== LLaDA's designs
def _balanced_enumerated(A: np.ndarray, b: int):
    """(E Ḡ, Var Ḡ) of the balanced design by enumerating every batch: each count 1..n
    ⌊b/n⌋ times plus a remainder of r = b mod n distinct counts (every r-subset equally likely),
    each row's mask uniform of its size, independently."""
    n = A.size.bit_length() - 1
    by_size = [[u for u in range(1 << n) if bin(u).count("1") == m] for m in range(n + 1)]
    terms = [[n / m * A[u] for u in by_size[m]] if m else [] for m in range(n + 1)]
    base = [m for m in range(1, n + 1) for _ in range(b // n)]
    means, squares = [], []
    for extra in itertools.combinations(range(1, n + 1), b % n):
        counts = base + list(extra)
        # The batch mean is a sum of independent rows: its law is the convolution of the rows'.
        values = np.zeros(1)
        for m in counts:
            values = (values[:, None] + np.asarray(terms[m])[None, :]).ravel()
        values = values / b
        means.append(values.mean())
        squares.append(values)
    mean = float(np.mean(means))
    return mean, float(np.mean([((v - mean) ** 2).mean() for v in squares]))


def _llada_work(ctx) -> float:
    n = min(ctx.small.length, 3)
    return 3 * (3.0**8) * cost.ELEM * 8 + 20 * cost.CALL + 4 * (2.0**n) ** 4 * cost.STEP


@check(
    "llada.designs",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="balanced / llada / fixed designs: mean, Var Ḡ, Var of mean, per-draw = enumerated batches",
    work=_llada_work,
)
def llada_designs(ctx):
    """Every design of :mod:`ctmc_lab.estimation.llada` on a 3-position target of the small
    distribution: the balanced design's E Ḡ and Var Ḡ against every batch enumerated, and for
    every design the reported variance of the mean (Var Ḡ / R) and per-draw variance (b Var Ḡ),
    at b = 4, mc_num = 12 (R = 3); the balanced design also on 4 positions at b = 6, where
    the remainder r = b mod n = 2 gives r (n - r) = 4, and b // n = 1 would give 3 (at n = 3
    the two are equal for every b)."""
    from ctmc_lab.estimation import llada

    dist = prefix_marginal(ctx.small, min(ctx.small.length, 3))
    x = pick_sequences(dist, 1)[0]
    A = brute_mask_dce(dist.support, dist.probs, x, range(dist.length))
    n, b, mc = dist.length, 4, 12
    R = mc // b
    truth = float(dist.nll(x))
    case = f"{dist.name}; x={dist.decode(x)}; n={n}, b={b}, mc_num={mc}"
    e_mean, e_var = _balanced_enumerated(A, b)
    lib = llada.balanced_moments(A, batch_size=b, mc_num=mc)
    scale = float(np.max(A) * n) ** 2
    yield Result(f"balanced; {case}; E Ḡ vs enumerated", lib.mean, e_mean)
    yield Result(f"balanced; {case}; E Ḡ vs -log p0", lib.mean, truth)
    yield Result(f"balanced; {case}; bias", lib.bias, 0.0)
    for what, got, want in (
        ("Var Ḡ", lib.batch_variance, e_var),
        ("Var of mean", lib.variance_of_mean, e_var / R),
        ("per-draw variance", lib.per_draw_variance, b * e_var),
        ("as_json variance", lib.as_json()["variance"], b * e_var),
    ):
        yield Result(f"balanced; {case}; {what}; rel.", got, want, relative_error(got, want, scale=scale))
    wide = prefix_marginal(ctx.large, min(ctx.large.length, 4))
    if wide.length == 4:
        x4 = pick_sequences(wide, 1)[0]
        A4 = brute_mask_dce(wide.support, wide.probs, x4, range(4))
        e_mean4, e_var4 = _balanced_enumerated(A4, 6)
        lib4 = llada.balanced_moments(A4, batch_size=6, mc_num=12)
        case4 = f"balanced; {wide.name}; x={wide.decode(x4)}; n=4, b=6"
        yield Result(f"{case4}; E Ḡ vs enumerated", lib4.mean, e_mean4)
        yield Result(
            f"{case4}; Var Ḡ; rel.",
            lib4.batch_variance,
            e_var4,
            relative_error(lib4.batch_variance, e_var4, scale=float(np.max(A4) * 4) ** 2),
        )
    for name, rule in (("llada_stratified", "llada"), ("llada_stratified_fixed", "fixed")):
        _, var = _enumerated_batch_moments(name, A, b)
        mom = llada.llada_moments(A, batch_size=b, mc_num=mc, rule=rule)
        for what, got, want in (
            ("Var of mean", mom.variance_of_mean, var / R),
            ("per-draw variance", mom.per_draw_variance, b * var),
            ("as_json variance_of_mean", mom.as_json()["variance_of_mean"], var / R),
        ):
            yield Result(f"{rule}; {case}; {what}; rel.", got, want, relative_error(got, want, scale=scale))
    # The nll --json record of the LLaDA evaluators (b = 16, mc_num = 128) by total variance.
    from ctmc_lab.estimation.moments import exact_records

    rec = exact_records(A[None], reference=np.array([truth]))[0]
    for name in ("llada_stratified", "llada_stratified_fixed"):
        if name not in rec:
            yield Skip(f"{name}; {case}", "n/a: not an estimator of the nll --json records")
            continue
        mean, var = _batch_moments(name, A, 16)
        got = rec[name]
        yield Result(f"{name}; nll record mean; {case}", got["mean"], mean)
        yield Result(f"{name}; nll record bias; {case}", got["bias"], mean - truth)
        yield Result(
            f"{name}; nll record variance (16 Var Ḡ); rel.",
            got["variance"],
            16 * var,
            relative_error(got["variance"], 16 * var, scale=scale),
        )
        yield Result(
            f"{name}; nll record variance_of_mean (Var Ḡ / 8); rel.",
            got["variance_of_mean"],
            var / 8,
            relative_error(got["variance_of_mean"], var / 8, scale=scale),
        )


# ============================================================================ time-sampled
def _t_moments_twin(A: np.ndarray, *, log_terms: bool, eps: float = 1e-3):
    """(E g, E g²) of one draw of the code's t-estimator under loglinear(ε), by quadrature over
    t of a sum over every mask written here: t ~ U(ε, 1), M ~ Bernoulli(λ(t))^n, g = w(t) V(M),
    w = σ/(e^σ̄ - 1), V = A(M) (+ |M| log(e^σ̄ - 1) with ``log_terms``)."""
    from scipy import integrate

    n = A.size.bit_length() - 1
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    # The size of |V|, which quad's absolute tolerance is scaled by (below).
    size = float(np.max(np.abs(A))) + (n * abs(math.log(eps)) if log_terms else 0.0)

    def moment(p):
        def f(t):
            sb = -math.log1p(-(1 - eps) * t)
            sig = (1 - eps) / (1 - (1 - eps) * t)
            lam = -math.expm1(-sb)
            V = A + (sizes * math.log(math.expm1(sb)) if log_terms else 0.0)
            w = sig / math.expm1(sb)
            return float(np.sum(lam**sizes * (1 - lam) ** (n - sizes) * (w * V) ** p))

        # epsabs: a moment near 0 (a point mass: A = 0, the log offsets cancel) cannot meet a
        # relative tolerance; scaled by the size of V^p, so that a tiny A (a sequence of
        # probability 1 - 1e-12: E g² ~ 1e-24) is still integrated to 1e-12 relative.
        return integrate.quad(f, eps, 1.0, epsabs=1e-13 * size**p, epsrel=1e-12, limit=400)[0] / (1 - eps)

    return moment(1), moment(2)


@check(
    "moments.t_variance",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=1e-10,
    statement="t-DCE / t-DSE exact mean and variance = quadrature over t of the enumerated masks",
    work=3 * 2 * 400 * 8 * cost.STEP + 6 * cost.CALL,
)
def t_variance(ctx):
    """:func:`ctmc_lab.estimation.moments.t_estimator_moments` (t_dce with and without the log
    offset, t_dse) against :func:`_t_moments_twin` on the most probable sequence of the small
    distribution (its A-table by support scans)."""
    from ctmc_lab.estimation.moments import t_estimator_moments
    from ctmc_lab.forward.schedules import Loglinear

    dist = prefix_marginal(ctx.small, min(ctx.small.length, 4))
    x = pick_sequences(dist, 1)[0]
    A = brute_mask_dce(dist.support, dist.probs, x, range(dist.length))
    for kind, score_log, log_terms in (("t_dce", True, True), ("t_dce", False, False), ("t_dse", True, False)):
        got = t_estimator_moments(A, schedule=Loglinear(1e-3), kind=kind, score_log=score_log)
        m1, m2 = _t_moments_twin(A, log_terms=log_terms)
        case = f"{kind} (score_log={score_log}); {dist.name}; x={dist.decode(x)}"
        yield Result(f"{case}; mean", got.mean, m1, scale=m2**0.5)
        yield Result(
            f"{case}; variance; rel.",
            got.variance,
            m2 - m1 * m1,
            relative_error(got.variance, m2 - m1 * m1, scale=m2, tol=1e-10),
        )
