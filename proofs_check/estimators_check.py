"""The Monte Carlo estimators users run, verified against -log p0 (``docs/theory.md`` §4, §6, §8).

Every registered estimator that runs by name (:data:`ctmc_lab.estimation.estimators.ESTIMATORS`,
read from :mod:`ctmc_lab.estimation.registry`), and every one that needs weights when its twin
gives them, is checked, so one registered later appears here by itself. Its reference is its
twin in :data:`proofs_check.twins.ESTIMATOR_TWINS`, written from the paper and the code it
mirrors, never read from the registry. On sequences of the subset-table distribution with the
optimal denoiser c* (queried like a model, through :class:`ctmc_lab.exact.mask_dce.MaskDCE`):

* **sampler law**: a seeded run through a recording oracle; the masks the sampler actually
  drew (their popcounts and their spread over the C(n, m) masks of each size) against the
  twin's law (a chi-square bound at p = 1e-6), and the value weight each draw carries,
  g / A(M), against the twin's weight;
* **exact mean**: Σ_M P(M) f_m A(M) by enumerating the twin's law (or the Beta integral of
  λ-DCE) against -log p0 from the table, and :func:`ctmc_lab.estimation.moments.estimator_moments`
  against it;
* **Monte Carlo**: the seeded run's mean within z = 5 standard errors of -log p0.

The biased variants (specs with ``biased=True``: the audited code variants of §8) are negative
controls: their exact mean must differ from -log p0 (the control fails as it must), while their
Monte Carlo mean is checked against their own exact mean. An estimator without a twin gets no
row that would compare it with its own declared law: its sampler-law and exact-mean cases are
skips whose reason starts with :data:`proofs_check.twins.NO_TWIN` (an ``n/a`` cell of the
report's registry coverage); its Monte Carlo mean is still checked against -log p0 unless it
is declared biased. Conditional forms (Cor. 4.3) and the coupled log-ratio (Eq. 18) are
checked likewise.

The batch-stratified count rules (LLaDA's evaluator ``llada_stratified`` and its fix
``llada_stratified_fixed``, b = 16 rows sharing one k) are checked against the exact rational
rule of :mod:`proofs_check.count_rules`: every batch's drawn counts must be the row x(k) of that
rule, k uniform and the masks uniform given their sizes (chi-square); the exact mean of a batch
mean comes from the rational rule and the per-count mean losses μ_m enumerated here; the fix
must give -log p0, LLaDA's rule is a control with its exact bias; the Monte Carlo bound uses the
exact variance of a batch mean (its rows are dependent); and ``ctmc_lab.estimation.llada``'s count law and
moments are compared with the rational ones.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln, chdtri, comb

from ctmc_lab.estimation import estimators, moments
from ctmc_lab.estimation.registry import estimator_specs, get_estimator
from ctmc_lab.exact.mask_dce import MaskDCE
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sources.denoisers import OptimalDenoiser

from . import cost, count_rules
from ._util import fit_queries, label, pick_sequences
from .framework import TOL_ENUM, Result, Skip, check, relative_error
from .twins import estimator_twin, no_twin_reason

__all__ = ["reference_law", "Z_BOUND"]

#: z bound of every Monte Carlo row: |mean − target| ≤ Z_BOUND · stderr.
Z_BOUND = 5.0
#: p-value below which a sampler-law chi-square statistic fails.
LAW_P = 1e-6


def _chi2_isf(p: float, dof: int) -> float:
    """The 1 - p quantile of a chi-square law with ``dof`` degrees of freedom (``chdtri``, the
    function scipy.stats.chi2.isf calls, without importing scipy.stats)."""
    return float(chdtri(dof, p))


def _biased(name: str) -> bool:
    """The registry's word: the audited code variants of ``docs/theory.md`` §8 are biased."""
    return get_estimator(name).biased


#: Targets at least this long must be accepted by every estimator: a refusal (ValueError) is a
#: skip only on shorter ones (omit_* need n ≥ 2), elsewhere it is an error like any crash.
_REFUSAL_LENGTH = 3
#: Largest target length whose 2^n masks the law and mean rows enumerate.
_MAX_N = 12


def reference_law(name: str, n: int):
    """(q, f) of the registered estimator ``name`` at length n from its twin
    (:data:`proofs_check.twins.ESTIMATOR_TWINS`, written from the paper, never read from the
    registry): q[m] = P(mask size m), f[m] = value weight (None where the weight is random,
    as 1/λ). None when it has no twin, no law by mask size, or is not defined on length n."""
    twin = estimator_twin(name)
    if twin is None:
        return None
    weights = twin.weights(n) if twin.weights is not None else None
    return twin.law(n, weights=weights)


def _twin_or_skip(name, what):
    """(twin, None), or (None, Skip) naming what an estimator without a twin does not get."""
    twin = estimator_twin(name)
    return (twin, None) if twin is not None else (None, Skip(name, no_twin_reason(what)))


def _exact_mean_of_law(A: np.ndarray, q: np.ndarray, f: np.ndarray) -> float:
    n = q.size - 1
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    P = q[sizes] / comb(n, sizes)
    return float(math.fsum(P * f[sizes] * A))


def _beta_mean(A: np.ndarray) -> float:
    """E[A(M)/λ] for λ ~ U(0,1), M ~ Bern(λ)^n: Σ_M A(M) ∫ λ^{m-1}(1-λ)^{n-m} dλ = Σ A(M) B(m, n-m+1)."""
    n = A.size.bit_length() - 1
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    w = np.where(sizes > 0, np.exp(betaln(np.maximum(sizes, 1), n - sizes + 1)), 0.0)
    return float(math.fsum(w * A))


def _tables(denoiser, x0):
    """(A, D) over every local mask, by the library's own :class:`MaskDCE` (its ``table``)."""
    return MaskDCE(denoiser, x0).table(with_defect=True)


class _Lookup(MaskDCE):
    """A MaskDCE answered from its full table (A, D), computed once by :func:`_tables`.

    The batch-stratified samplers ask for 16 masks at a time, 12,500 times a run; answering
    by lookup instead of the library's per-call cache bookkeeping changes no value (the
    table holds exactly what the cache would), only the cost. With ``record`` it keeps every
    batch of masks the sampler asked for (the sampler-law rows)."""

    def __init__(self, denoiser, x0, tables, *, record: bool = False):
        super().__init__(denoiser, x0)
        self.A_table, self.D_table = tables
        self.drawn: list[np.ndarray] | None = [] if record else None

    def __call__(self, local, *, with_defect: bool = False):
        local = np.asarray(local, dtype=np.int64)
        if self.drawn is not None:
            self.drawn.append(local.ravel().copy())
        # One reduction: a negative int64 viewed as uint64 is above every table size.
        if local.size and local.view(np.uint64).max() >= self.A_table.size:
            raise ValueError(f"masks must lie in 0..2**{self.n} - 1")
        A = self.A_table[local]
        return (A, self.D_table[local]) if with_defect else A


def _sequences(ctx):
    dist = fit_queries(ctx.large)  # a prefix marginal where the 2^L denoiser queries are too costly
    if dist.length > _MAX_N:
        return dist, Skip(f"L={dist.length}", f"the law and mean rows enumerate 2^L masks, L ≤ {_MAX_N}")
    # Sequences with a positive NLL: on a deterministic sequence every estimator is 0.
    seqs = [x for x in pick_sequences(dist, 6) if dist.nll(x) > 1e-9]
    if not seqs:
        return dist, Skip(dist.name, "every support sequence has probability 1: the NLL is 0")
    return dist, seqs[: 1 if ctx.quick else 2]


def _n_samples(ctx) -> int:
    return 60_000 if ctx.quick else 200_000


#: Batch size of the batch-stratified samplers here: small, so that a slip in the strata
#: (a missing or doubled stratum, a shifted grid) moves a visible share of the draws.
_STRATA = 16


def _estimators() -> list[str]:
    """The registered estimators verify runs: every one that runs by name (registry order), then
    those that run only with weights, when their twin gives the weights."""
    weighted = [s.name for s in estimator_specs() if s.needs_weights and _twin_weights(s.name)]
    return [*estimators.ESTIMATORS, *weighted]


def _twin_weights(name) -> bool:
    twin = estimator_twin(name)
    return twin is not None and twin.weights is not None


def _run(name, oracle, n_samples, seed):
    spec = get_estimator(name)
    # t_*: the vdm sampler; the count rules draw one k per batch of _STRATA rows
    options = dict(n_samples=n_samples, rng=seed, batch_size=_STRATA if spec.stratified else 4000, return_values=True)
    if spec.needs_schedule:
        options["schedule"] = Loglinear(1e-3)
    if spec.needs_weights:
        options["weights"] = estimator_twin(name).weights(oracle.n)
    return estimators.estimate(name, oracle, **options)


def _exact_or_skip(name, A, nll, dist, x0, *, then=""):
    """(mean, how, None) from :func:`_exact_target`, or (None, None, Skip) when the estimator
    refuses this target (e.g. omit_* need n ≥ 2) or has no exact law here; ``then`` says
    what that means for the calling check."""
    try:
        mean, how = _exact_target(name, A, nll)
    except ValueError as err:
        if dist.length >= _REFUSAL_LENGTH:
            raise
        return None, None, Skip(f"{name}; L={dist.length}", f"the estimator refuses this target: {err}")
    if mean is None:
        return None, None, Skip(name, no_twin_reason("exact mean" + (f"; {then}" if then else "")))
    return mean, how, None


def _exact_target(name, A, nll):
    """(exact mean of one draw, how it was computed) of a registered estimator by its twin
    (:mod:`proofs_check.twins`); (None, None) for an estimator without a twin."""
    n = A.size.bit_length() - 1
    twin = estimator_twin(name)
    if twin is None:
        return None, None
    if twin.mean == "count_rule":
        return _batch_moments(name, A, _STRATA)[0], f"the exact rational count law (b={_STRATA}), μ_m enumerated"
    if twin.mean == "quadrature":
        return moments.t_estimator_moments(A, schedule=Loglinear(1e-3), kind=name).mean, "t-quadrature (moments)"
    if twin.mean == "beta":
        return _beta_mean(A), "Beta integral over λ"
    law = reference_law(name, n)
    if law is None:  # the twin's law is not defined on this length: the estimator must refuse it too
        get_estimator(name).check_length(n)
        raise ValueError(f"the twin of {name} has no law at n = {n}")
    return _exact_mean_of_law(A, *law), f"its twin law, {twin.source}"


def _runs_work(samples: int) -> float:
    """One seeded run of every registered estimator (:func:`_run`'s batch sizes)."""
    return sum(cost.monte_carlo(samples, _STRATA if get_estimator(name).stratified else 4000) for name in _estimators())


def _per_sequence_work(ctx, count: int, runs: bool) -> float:
    """Per sequence of :func:`_sequences` (at most ``count``): the A table over every mask,
    each estimator's exact law (a few operations per mask, a t-quadrature for the time
    family) and, with ``runs``, one seeded run of every estimator."""
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        return 0.0
    masks = 1 << dist.length
    exact = len(_estimators()) * cost.ELEM * masks * 8 + 2 * 400 * cost.STEP * (dist.length + 1)
    one = cost.masked_queries(dist, 1, masks) + exact + (_runs_work(_n_samples(ctx)) if runs else 0.0)
    return min(count, len(seqs)) * one


# ------------------------------------------------------- batch-stratified count rules (LLaDA)
def _level_moments(A: np.ndarray):
    """μ_m = E[A(M) | |M| = m] and E[A(M)² | |M| = m], m = 1..n, by enumerating the masks."""
    n = A.size.bit_length() - 1
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    mu = [math.fsum(A[sizes == m]) / comb(n, m, exact=True) for m in range(1, n + 1)]
    s2 = [math.fsum(A[sizes == m] ** 2) / comb(n, m, exact=True) for m in range(1, n + 1)]
    return mu, s2


def _row_second_moment(A: np.ndarray) -> float:
    """max_m E[((n/m) A(M))² | |M| = m]: the size of the squared terms a batch variance is
    computed from (its rounding scale)."""
    n = A.size.bit_length() - 1
    _, s2 = _level_moments(A)
    return max((n / m) ** 2 * s2[m - 1] for m in range(1, n + 1))


def _batch_moments(name: str, A: np.ndarray, b: int):
    """(E Ḡ, Var Ḡ) of one batch mean Ḡ = (1/b) Σ_j (n/x_j) A(M_j) under the rational count rule.

    Given k the b masks are drawn independently (uniform of sizes x_j(k)), so
    E[Ḡ | k] = (1/b) Σ_j e(x_j(k)) and Var(Ḡ | k) = (1/b²) Σ_j v(x_j(k)) with e(m) = (n/m) μ_m,
    v(m) = (n/m)² Var(A | m); then Var Ḡ = E_k Var(Ḡ | k) + Var_k E[Ḡ | k] (total variance).
    """
    n = A.size.bit_length() - 1
    mu, s2 = _level_moments(A)
    e = [n / m * mu[m - 1] for m in range(1, n + 1)]
    v = [(n / m) ** 2 * max(s2[m - 1] - mu[m - 1] ** 2, 0.0) for m in range(1, n + 1)]
    rows = count_rules.counts(name, n, b)
    given_k = [math.fsum(e[x - 1] for x in row) / b for row in rows]
    mean = math.fsum(given_k) / n
    var = (
        math.fsum(math.fsum(v[x - 1] for x in row) / b**2 for row in rows) + math.fsum((g - mean) ** 2 for g in given_k)
    ) / n
    return mean, var


#: Most (k, M_0..M_{b-1}) combinations the enumerated joint of a batch visits (a Python loop:
#: about 1e6 b-term sums in ~10 s); above it the row is skipped with the count.
_JOINT_LIMIT = 1e6


def _joint_size(name: str, n: int, b: int) -> int:
    """Σ_k Π_j C(n, x_j(k)): the combinations :func:`_enumerated_batch_moments` visits."""
    return sum(math.prod(math.comb(n, x) for x in row) for row in count_rules.counts(name, n, b))


def _enumerated_batch_moments(name: str, A: np.ndarray, b: int):
    """(E Ḡ, Var Ḡ) by enumerating the joint law of (k, M_0, ..., M_{b-1}) outright: k uniform,
    then every combination of masks of sizes x_j(k), each of probability Π_j 1/C(n, x_j).
    No conditional independence or variance decomposition is used (small n and b only)."""
    import itertools

    n = A.size.bit_length() - 1
    by_size = [[u for u in range(1 << n) if bin(u).count("1") == m] for m in range(n + 1)]
    # The value (n/x) A(M) of a row of count x with each mask M of that size.
    terms = [[n / x * A[u] for u in masks] if x else [] for x, masks in enumerate(by_size)]
    # Every batch value with its probability (k uniform, then the masks uniform jointly).
    values = []
    for row in count_rules.counts(name, n, b):
        gs = [math.fsum(batch) / b for batch in itertools.product(*(terms[x] for x in row))]
        values.append(np.array(gs))
    mean = math.fsum(g.mean() for g in values) / n
    # Two passes (deviations from the mean), so a small variance is not lost to cancellation.
    return mean, math.fsum(float(((g - mean) ** 2).mean()) for g in values) / n


def _batch_bias(name: str, A: np.ndarray, b: int) -> float:
    """E Ḡ + log p0 by the other route, Σ_m (n w̄(m) - 1) μ_m/m with w̄ the rational batch count
    law (-log p0 = Σ_m μ_m/m, Thm 4.1): no per-k sum and no -log p0 from the table."""
    n = A.size.bit_length() - 1
    mu, _ = _level_moments(A)
    w = count_rules.batch_law(name, n, b)
    return math.fsum(float(n * w[m - 1] - 1) * mu[m - 1] / m for m in range(1, n + 1))


#: The (n, b) grid on which the library's float32 count rule is compared with the rational one:
#: b a power of two, where the two agree exactly (count_rules' docstring).
_GRID_N, _GRID_B = range(1, 33), (1, 2, 4, 8, 16, 32, 64)


def _batch_sampler_rows(name, dist, x0, denoiser, tables, n_samples, seed):
    """Sampler-law rows of a batch-stratified count rule (see :func:`sampler_law`)."""
    n, b = dist.length, _STRATA
    rec = _Lookup(denoiser, x0, tables, record=True)
    est = _run(name, rec, n_samples, seed)
    batches = [np.asarray(d) for d in rec.drawn]
    sizes_of = np.array([bin(u).count("1") for u in range(1 << n)])
    table = np.array(count_rules.counts(name, n, b))
    drawn = np.concatenate(batches)
    if drawn.size != est.n_samples or any(d.size != b for d in batches):
        yield Result(
            f"{name}: {drawn.size} masks queried in batches of "
            f"{sorted({d.size for d in batches})} for {est.n_samples} draws at b={b}",
            float(drawn.size),
            float(est.n_samples),
            error=1.0,
            tolerance=0.0,
        )
        return
    got = np.array([sizes_of[d] for d in batches])  # (R, b) counts per batch
    k = got[:, 0]  # x_0(k) = k under both rules
    inside = (k >= 1) & (k <= n)
    mismatch = int((~inside).sum()) + int(np.any(got[inside] != table[k[inside] - 1], axis=1).sum())
    yield Result(
        f"{name}; x0={label(dist, x0)}; {len(batches)} batches of b={b}: count vectors vs "
        f"the rational rule x_j(k), k = row 0's count; mismatching batches",
        float(mismatch),
        0.0,
        float(mismatch),
        tolerance=0.0,
    )
    obs_k = np.bincount(k[inside], minlength=n + 1)[1:].astype(float)
    exp_k = len(batches) / n
    stat = float(np.sum((obs_k - exp_k) ** 2 / exp_k))
    limit = float(_chi2_isf(LAW_P, max(1, n - 1)))
    yield Result(
        f"{name}; x0={label(dist, x0)}; k ~ U{{1..{n}}}: χ² of the {len(batches)} batch draws "
        f"(limit {limit:.0f} at p=1e-6)",
        stat,
        limit,
        max(0.0, stat - limit),
    )
    # Given their sizes the masks are independent and uniform over the C(n, m) masks of each size.
    sizes = sizes_of[drawn]
    per_size = np.bincount(sizes, minlength=n + 1)
    expected = per_size[sizes_of] / comb(n, sizes_of)
    observed = np.bincount(drawn, minlength=1 << n).astype(float)
    live = expected > 0
    stat = float(np.sum((observed[live] - expected[live]) ** 2 / expected[live]))
    dof = int(sum(comb(n, m, exact=True) - 1 for m in range(n + 1) if per_size[m] > 0))
    limit = float(_chi2_isf(LAW_P, max(1, dof)))
    yield Result(
        f"{name}; x0={label(dist, x0)}; masks given their size: χ² over 2^{n} masks "
        f"({dof} dof, limit {limit:.0f} at p=1e-6)",
        stat,
        limit,
        max(0.0, stat - limit),
    )
    A = rec.table()
    vals = np.asarray(est.values)
    a = A[drawn]
    use = a > 1e-9
    ratio = vals[use] / a[use]
    w = n / sizes[use]
    err = float(np.max(np.abs(ratio - w) / np.maximum(1.0, w))) if use.any() else 0.0
    yield Result(
        f"{name}; value weight g/A(M) vs n/x_j over {int(use.sum())} draws; rel.",
        float(ratio[0]) if use.any() else 0.0,
        float(w[0]) if use.any() else 0.0,
        err,
        tolerance=1e-12,
    )


def _infinite_variance(name, A) -> bool:
    """Whether one draw has an infinite variance on table A (no z bound then): by the twin
    (λ-DCE with a singleton term a_i > 0, §6.3), else by the library's exact moments."""
    twin = estimator_twin(name)
    if twin is not None:
        return twin.infinite_variance(A)
    spec = get_estimator(name)
    return bool(spec.exact_moments and moments.estimator_moments(A, name).variance_is_infinite)


def _stderr_row(case, reported, exact, *, scale):
    """The reported standard error against the exact one, relative, within a 20% band (the
    Monte Carlo bounds are only as good as the reported stderr).

    Where the exact standard error is at the rounding level of a variance computed as
    E g² − (E g)² (sqrt(8 eps)·|E g|: an estimator constant up to rounding), a relative error
    means nothing; both must then lie within that level, absolutely."""
    floor = math.sqrt(8 * np.finfo(float).eps) * max(1.0, abs(scale))
    if exact > floor:
        yield Result(case, reported, exact, abs(reported - exact) / exact, tolerance=0.2)
    else:
        yield Result(case + " (both at the rounding level)", reported, exact, abs(reported - exact), tolerance=floor)


def _batch_mc_rows(name, A, nll, x0, dist, oracle, n_samples, seed):
    """Seeded Monte Carlo rows of a batch-stratified count rule (see :func:`monte_carlo`)."""
    mean, var = _batch_moments(name, A, _STRATA)
    target = nll if not _biased(name) else mean
    est = _run(name, oracle, n_samples, seed)
    batches = est.n_samples // _STRATA
    exact_se = math.sqrt(var / batches)
    tol = max(Z_BOUND * exact_se, 1e-12 * max(1.0, abs(target)))
    what = "−log p0" if not _biased(name) else f"its exact mean (bias {mean - nll:+.4g})"
    yield Result(
        f"{name}; x0={label(dist, x0)}; {batches} batches of b={_STRATA}; target {what}; bound "
        f"{Z_BOUND:g}·sqrt(Var Ḡ/R) = {tol:.2g} (exact Var Ḡ of a batch mean)",
        est.mean,
        target,
        tolerance=tol,
    )
    yield from _stderr_row(
        f"{name}; x0={label(dist, x0)}; reported stderr (from batch means) vs sqrt(Var Ḡ/R) exact; rel.",
        est.stderr,
        exact_se,
        scale=target,
    )


@check(
    "estimators.sampler_law",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=0.0,
    statement="masks drawn ~ reference law; g/A(M) = f_m",
    work=lambda ctx: _per_sequence_work(ctx, 1, True),
)
def sampler_law(ctx):
    """For every registered estimator with a reference law: the chi-square statistic of the
    masks its sampler drew (cells: every mask M, expected N q_m / C(n, m)) must stay below the
    1 - 1e-6 quantile (error = excess), and every draw's weight g / A(M) must equal f_m."""
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        yield seqs
        return
    x0 = seqs[0]
    denoiser = OptimalDenoiser(dist)
    tables = _tables(denoiser, x0)
    for k, name in enumerate(_estimators()):
        if name in count_rules.RULES:
            yield from _batch_sampler_rows(name, dist, x0, denoiser, tables, _n_samples(ctx), ctx.rng(600 + k))
            continue
        twin, skip = _twin_or_skip(name, "sampler law and value weights")
        law = None if twin is None else reference_law(name, dist.length)
        if law is None:
            yield skip or Skip(f"{name}; L={dist.length}", "its twin law is not defined on this length")
            continue
        q, f = law
        rec = _Lookup(denoiser, x0, tables, record=True)
        try:
            est = _run(name, rec, _n_samples(ctx), ctx.rng(600 + k))
        except ValueError as err:
            if dist.length >= _REFUSAL_LENGTH:
                raise
            yield Skip(f"{name}; L={dist.length}", f"the estimator refuses this target: {err}")
            continue
        drawn = np.concatenate(rec.drawn)
        if drawn.size != est.n_samples:
            yield Result(
                f"{name}: {drawn.size} masks queried for {est.n_samples} draws", float(drawn.size), float(est.n_samples)
            )
            continue
        n = dist.length
        sizes = np.array([bin(u).count("1") for u in range(1 << n)])
        expected = drawn.size * q[sizes] / comb(n, sizes)
        observed = np.bincount(drawn, minlength=1 << n).astype(float)
        impossible = float(observed[expected == 0].sum())
        live = expected > 0
        stat = float(np.sum((observed[live] - expected[live]) ** 2 / expected[live]))
        limit = float(_chi2_isf(LAW_P, max(1, int(live.sum()) - 1)))
        yield Result(
            f"{name}; x0={label(dist, x0)}; {drawn.size} draws; χ² over 2^{n} masks "
            f"(limit {limit:.0f} at p=1e-6); {int(impossible)} draws of impossible masks",
            stat,
            limit,
            max(0.0, stat - limit) + impossible,
        )
        if f is not None:
            A = rec.table()
            vals = np.asarray(est.values)
            a = A[drawn]
            use = a > 1e-9
            ratio = vals[use] / a[use]
            w = f[sizes[drawn[use]]]
            err = float(np.max(np.abs(ratio - w) / np.maximum(1.0, w))) if use.any() else 0.0
            yield Result(
                f"{name}; value weight g/A(M) vs f_m over {int(use.sum())} draws; rel.",
                float(ratio[0]) if use.any() else 0.0,
                float(w[0]) if use.any() else 0.0,
                err,
                tolerance=1e-12,
            )


@check(
    "estimators.exact_mean",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="E g (twin law, enumerated) = −log p0",
    work=lambda ctx: _per_sequence_work(ctx, 2, False),
)
def exact_mean(ctx):
    """Exact mean of one draw of every unbiased registered estimator, by enumerating its own
    law over the 2^n masks, against -log p0 from the table; and the moments module's mean."""
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        yield seqs
        return
    denoiser = OptimalDenoiser(dist)
    for x0 in seqs:
        A = MaskDCE(denoiser, x0).table()
        nll = float(dist.nll(x0))
        for name in _estimators():
            if _biased(name):
                continue
            mean, how, skip = _exact_or_skip(name, A, nll, dist, x0)
            if skip is not None:
                yield skip
                continue
            yield Result(f"{name}; x0={label(dist, x0)}; mean by {how}", nll, mean)
        for name in moments.exact_estimators():
            weights = None
            if get_estimator(name).needs_weights:
                if not _twin_weights(name):
                    continue
                weights = estimator_twin(name).weights(dist.length)
            if _biased(name):
                continue
            mean = moments.estimator_moments(A, name, weights=weights).mean
            yield Result(f"moments.estimator_moments({name}); x0={label(dist, x0)}", nll, mean)


def _count_rule_work(ctx) -> float:
    """The (n, b) grid of count laws (a library call per law and rule), the batch moments of
    the A tables, and the enumerated joints of a batch that fit :data:`_JOINT_LIMIT`:
    :func:`_joint_size` combinations of a b-term fsum each (~0.1 µs per term)."""
    grid = 2 * len(_GRID_N) * len(_GRID_B) * cost.CALL
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        return grid
    total = grid + cost.masked_queries(dist, 1, 1 << dist.length)
    cases = [(dist.length, _STRATA)] + ([(4, 2), (4, 8)] if dist.length >= 4 else [])
    total += cost.masked_queries(dist, 1, 16) if dist.length >= 4 else 0.0
    for n, b in cases:
        for name in count_rules.RULES:
            combos = _joint_size(name, n, b) if n <= 4 else _JOINT_LIMIT + 1
            total += (combos * b * cost.STEP / 10 if combos <= _JOINT_LIMIT else 0.0) + cost.STEP * (1 << n) * 4
    return total


@check(
    "estimators.count_rule_library",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="ctmc_lab.estimation.llada counts, law, moments = rational twin",
    work=_count_rule_work,
)
def count_rule_library(ctx):
    """The library's float32 count rules and exact moments (:mod:`ctmc_lab.estimation.llada`) against the
    rational twin of :mod:`proofs_check.count_rules`: the count tables and laws over a grid of
    (n, b) with b a power of two (where float32 is exact), and E Ḡ, Var Ḡ of a batch mean."""
    from ctmc_lab.estimation import llada

    for name in count_rules.RULES:
        rule = "llada" if name == "llada_stratified" else "fixed"
        bad = worst = 0
        for gn in _GRID_N:
            for gb in _GRID_B:
                # c / n of integer counts: the correctly rounded float of the rational law.
                ref = np.array(count_rules.count_table(name, gn, gb)) / gn
                lib = llada.count_law(gn, gb, rule=rule)
                worst = max(worst, float(np.max(np.abs(ref - lib))))
                bad += int(
                    not np.array_equal(
                        np.array(count_rules.counts(name, gn, gb)), llada.llada_counts(gn, gb, rule=rule)
                    )
                )
        yield Result(
            f"{name}; ctmc_lab.estimation.llada count_law vs the rational law, n ≤ {_GRID_N[-1]}, b ∈ "
            f"{{1..64}} powers of two ({bad} count tables differ); max |Δw|",
            float(worst),
            0.0,
            float(worst) + bad,
            tolerance=1e-12,
        )
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        yield seqs
        return
    denoiser = OptimalDenoiser(dist)
    x0 = seqs[0]
    cases = [(MaskDCE(denoiser, x0).table(), f"x0={label(dist, x0)}", _STRATA)]
    if dist.length >= 4:
        # A 4-position target (the rest masked throughout): small enough to enumerate the joint law of a
        # batch, at b = 2 (counts k, k+2: E[Ḡ | k] varies with k) and b = 8 (ties at j/2).
        small = MaskDCE(denoiser, x0, target=range(4)).table()
        cases += [
            (small, f"x0={label(dist, x0)}; target 0..3 of {dist.length}", 2),
            (small, f"x0={label(dist, x0)}; target 0..3 of {dist.length}", 8),
        ]
    for A, where, b in cases:
        for name in count_rules.RULES:
            mean, var = _batch_moments(name, A, b)
            lib = llada.llada_moments(
                A, batch_size=b, mc_num=2 * b, rule="llada" if name == "llada_stratified" else "fixed"
            )
            yield Result(f"llada_moments({name}) E Ḡ; {where}; b={b}", lib.mean, mean)
            # A variance is a difference of second moments: below their rounding (a two-point
            # or deterministic source has Var Ḡ = 0 exactly) it is compared absolutely. A batch
            # mean's variance sums b row variances divided by b², so its rounding scale is
            # the rows' second moment over b.
            scale = _row_second_moment(A) / b
            yield Result(
                f"llada_moments({name}) Var Ḡ; {where}; b={b}; rel.",
                lib.batch_variance,
                var,
                relative_error(lib.batch_variance, var, scale=scale),
            )
            if A.size > 16:  # the enumerated joint is a twin for small n and b only
                continue
            combos = _joint_size(name, A.size.bit_length() - 1, b)
            if combos > _JOINT_LIMIT:
                yield Skip(
                    f"{name}: Var Ḡ by the enumerated joint of (k, M_0..M_{b - 1}); {where}; b={b}",
                    f"the joint has {combos:.2g} mask combinations (limit {_JOINT_LIMIT:.0e})",
                )
            else:
                e_mean, e_var = _enumerated_batch_moments(name, A, b)
                yield Result(
                    f"{name}: Var Ḡ by total variance vs the enumerated joint of (k, M_0..M_{b - 1}); "
                    f"{where}; b={b}; rel. (E Ḡ |Δ| {abs(e_mean - mean):.1g})",
                    var,
                    e_var,
                    relative_error(var, e_var, scale=scale) + abs(e_mean - mean) / max(1.0, abs(mean)),
                )


@check(
    "estimators.monte_carlo",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="seeded MC mean within 5σ of its exact mean",
    work=lambda ctx: _per_sequence_work(ctx, 2, True),
)
def monte_carlo(ctx):
    """Every registered estimator run with a seeded rng: |mean − target| ≤ 5 stderr, target
    = -log p0 for the unbiased ones and the exact mean for the biased ones. λ-DCE with an
    infinite variance has no z bound and is skipped with that reason."""
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        yield seqs
        return
    denoiser = OptimalDenoiser(dist)
    for b, x0 in enumerate(seqs):
        tables = _tables(denoiser, x0)
        A = tables[0]
        nll = float(dist.nll(x0))
        for k, name in enumerate(_estimators()):
            if _infinite_variance(name, A):
                yield Skip(
                    f"{name}; x0={label(dist, x0)}",
                    "infinite variance (a singleton term a_i > 0, §6.3): no z bound applies",
                )
                continue
            if name in count_rules.RULES:
                yield from _batch_mc_rows(
                    name, A, nll, x0, dist, _Lookup(denoiser, x0, tables), _n_samples(ctx), ctx.rng(700 + 31 * b + k)
                )
                continue
            target = nll
            if _biased(name):
                target, how, skip = _exact_or_skip(name, A, nll, dist, x0, then="so no Monte Carlo target")
                if skip is not None:
                    yield skip
                    continue
            try:
                est = _run(name, _Lookup(denoiser, x0, tables), _n_samples(ctx), ctx.rng(700 + 31 * b + k))
            except ValueError as err:  # the estimator's own refusal (e.g. omit_* needs n ≥ 2)
                if dist.length >= _REFUSAL_LENGTH:
                    raise
                yield Skip(f"{name}; L={dist.length}", f"the estimator refuses this target: {err}")
                continue
            tol = max(Z_BOUND * est.stderr, 1e-12 * max(1.0, abs(target)))
            yield Result(
                f"{name}; x0={label(dist, x0)}; {est.n_samples} draws; stderr {est.stderr:.2g}; bound {Z_BOUND:g}σ",
                est.mean,
                target,
                tolerance=tol,
            )
            # The bound is only as good as the reported stderr: for i.i.d. draws of a scheme
            # with a known exact variance it must match sqrt(Var g / n) (a 20% band; the
            # sampling error of a standard deviation from 6e4 draws is about 1%).
            spec = get_estimator(name)
            if spec.exact_moments and not spec.stratified and spec.family.draws_mask_sizes:
                weights = estimator_twin(name).weights(dist.length) if spec.needs_weights else None
                exact = math.sqrt(moments.estimator_moments(A, name, weights=weights).variance / est.n_samples)
                yield from _stderr_row(
                    f"{name}; x0={label(dist, x0)}; reported stderr vs sqrt(Var g / n) exact; rel.",
                    est.stderr,
                    exact,
                    scale=target,
                )


@check(
    "estimators.control.biased_variants",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="CONTROL: audited biased variants ≠ −log p0",
    expected_to_fail=True,
    work=lambda ctx: _per_sequence_work(ctx, 1, False),
)
def biased_variants(ctx):
    """The audited variants (omit the fully masked set, per-token mean, t-DCE/t-DSE with the
    code's ε_s floor) have an exact mean that differs from -log p0: their bias is reported."""
    dist, seqs = _sequences(ctx)
    if isinstance(seqs, Skip):
        yield seqs
        return
    denoiser = OptimalDenoiser(dist)
    x0 = seqs[0]
    A = MaskDCE(denoiser, x0).table()
    nll = float(dist.nll(x0))
    for name in _estimators():
        if not _biased(name):
            continue
        mean, how, skip = _exact_or_skip(name, A, nll, dist, x0)
        if skip is not None:
            yield skip
            continue
        law = reference_law(name, dist.length)
        if name in count_rules.RULES:
            gap = _batch_bias(name, A, _STRATA)
        elif law is not None and law[1] is not None:
            gap = _exact_mean_of_law(A, *law) - nll
        else:
            gap = mean - nll
        yield Result(f"{name}; x0={label(dist, x0)}; exact bias {mean - nll:+.4g} ({how})", nll, mean, gap=gap)


def _conditional_runs_work(ctx) -> float:
    """Three conditional estimator runs and two coupled log-ratio runs of half the samples,
    with the denoiser over the target's masks and the marginal sums of the truth."""
    dist = fit_queries(ctx.large)
    if dist.length < 2 or dist.length > _MAX_N:
        return 0.0
    half = _n_samples(ctx) // 2
    runs = 3 * cost.monte_carlo(half, 4096) + 2 * 2 * cost.monte_carlo(half, 4096)
    return runs + 7 * cost.masked_queries(dist, 1, 1 << dist.length) + cost.marginals(dist, 12)


@check(
    "estimators.conditional_and_ratio",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="conditional MC and coupled log-ratio within 5σ",
    work=_conditional_runs_work,
)
def conditional_and_ratio(ctx):
    """Cor. 4.3 by the estimators with ``target``/``context`` (true conditional NLL from direct
    marginal sums), and Eq. 18 by the coupled log-ratio (true log p0(x) - log p0(y))."""
    dist = fit_queries(ctx.large)
    if dist.length < 2 or dist.length > _MAX_N:
        yield Skip(f"L={dist.length}", f"needs 2 ≤ L ≤ {_MAX_N}")
        return
    denoiser = OptimalDenoiser(dist)
    L = dist.length
    context = np.arange(L // 2)
    target = np.arange(L // 2, L)
    vis_t = np.zeros(L, bool)
    vis_t[target] = True
    vis_c = ~vis_t
    seqs = pick_sequences(dist, min(dist.support_size, 6))
    cond = -(np.log(dist.marginal(seqs, vis_t | vis_c)) - np.log(dist.marginal(seqs, vis_c)))
    b = int(np.argmax(cond))
    x0 = seqs[b]
    for k, name in enumerate(("time_free", "k_dce", "rb_lambda_dce")):
        est = estimators.ESTIMATORS[name](
            denoiser, x0, target=target, context=context, n_samples=_n_samples(ctx) // 2, rng=ctx.rng(800 + k)
        )
        tol = max(Z_BOUND * est.stderr, 1e-12 * max(1.0, abs(cond[b])))
        yield Result(
            f"{name}; −log p0(x^I1|x^I2), I2={{0..{L // 2 - 1}}}; x0={label(dist, x0)}",
            est.mean,
            float(cond[b]),
            tolerance=tol,
        )
    if dist.support_size < 2:
        yield Skip(dist.name, "a ratio needs two support sequences")
        return
    x, y = seqs[0], seqs[-1] if not np.array_equal(seqs[0], seqs[-1]) else seqs[1]
    truth = float(dist.log_prob(x) - dist.log_prob(y))
    for k, scheme in enumerate(("time_free", "k_dce")):
        est = estimators.log_ratio(denoiser, x, y, n_samples=_n_samples(ctx) // 2, scheme=scheme, rng=ctx.rng(810 + k))
        tol = max(Z_BOUND * est.stderr, 1e-12 * max(1.0, abs(truth)))
        yield Result(
            f"coupled log-ratio ({scheme}); x={label(dist, x)}, y={label(dist, y)}", est.mean, truth, tolerance=tol
        )
