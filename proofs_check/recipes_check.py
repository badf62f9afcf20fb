"""Parameters that must reach what they parametrise: dataset recipes, the registry's
stratification flags, the studies' sample statistics and case seeds.

* :func:`ctmc_lab.sources.datasets.dna128_like`: p ∝ exp(u / T), u ~ U[0, 1), so
  T · log(p_max / p_min) is the range of the u's, within 0.05 of 1 for 512 draws (its
  probability of falling below 0.95 is 512 · 0.95^511 < 1e-9) and never above 1;
  :func:`~ctmc_lab.sources.datasets.dirichlet`: the mean of Σ p² over 8 draws against the
  Dirichlet moment (α + 1)/(Kα + 1) (bands measured over 400 draws: at α = 0.1 the ratio stays
  in 0.81–1.19, at α = 1 in 0.96–1.05, at α = 10 in 0.994–1.006);
* the registry's ``stratified`` flag of every estimator against a table written here (the
  designs the paper and the code stratify per batch), and the behaviour behind it: a
  k_dce_stratified batch of b = r n draws holds every mask size exactly r times;
* :func:`ctmc_lab.studies.variance_vs_samples.repeat_variance` against ``statistics.variance``
  (ddof 1) of the same block means, and :func:`ctmc_lab.studies.engine.case_seed` against the
  documented ``SeedSequence([seed, *sha256(key) words])`` computed with ``hashlib`` here.
"""

from __future__ import annotations

import hashlib
import statistics

import numpy as np

from . import cost
from ._util import prefix_marginal
from .framework import TOL_ENUM, Result, check

#: Length of the tables these registry checks fill: they test the estimators' bookkeeping, not
#: the source, so a long user table is cut to its prefix marginal (2**L masks preloaded).
_TABLE_LENGTH = 8

__all__ = ["STRATIFIED"]

#: The batch-stratified designs (``docs/theory.md`` §6.2, §6.3, §8): evenly spaced mask sizes or
#: masking levels per batch, the code's t-samplers, LLaDA's evaluator and its fix.
STRATIFIED = frozenset(
    {"k_dce_stratified", "lambda_dce_stratified", "t_dce", "t_dse", "llada_stratified", "llada_stratified_fixed"}
)


def _band(ratio: float, lo: float, hi: float) -> float:
    """0 inside [lo, hi], else the distance to it."""
    return max(0.0, lo - ratio, ratio - hi)


@check(
    "datasets.recipe_parameters",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=0.0,
    statement="dna128_like temperature and dirichlet alpha reach the draws (range of u; Σp² moment)",
    work=30 * cost.CALL + 24 * 256 * 200 * cost.ELEM,
)
def recipe_parameters(ctx):
    from ctmc_lab.sources import datasets

    for T in (0.5, 2.0):
        dist = datasets.dna128_like(ctx.seed, n_sequences=512, length=6, temperature=T)
        spread = T * float(np.log(dist.probs.max() / dist.probs.min()))
        distinct = len({tuple(z) for z in dist.support.tolist()}) == 512
        yield Result(
            f"dna128_like(T={T}, 512 sequences of 6): T·log(p_max/p_min) = {spread:.4f} in [0.95, 1]; distinct",
            spread,
            1.0,
            _band(spread, 0.95, 1.0 + 1e-12) + (0.0 if distinct else 1.0),
        )
    K = 4**4
    seeds = ctx.rng(0x4449).integers(0, 2**31, size=8)
    for alpha, (lo, hi) in ((0.1, (0.6, 1.5)), (1.0, (0.85, 1.15)), (10.0, (0.98, 1.02))):
        stat = np.mean([np.sum(datasets.dirichlet(4, 4, alpha=alpha, rng=int(s)).probs ** 2) for s in seeds])
        ratio = float(stat / ((alpha + 1) / (K * alpha + 1)))
        yield Result(
            f"dirichlet(N=4, L=4, alpha={alpha}): mean Σp² over 8 draws / (α+1)/(Kα+1) in [{lo}, {hi}]",
            ratio,
            1.0,
            _band(ratio, lo, hi),
        )


def _source(ctx):
    """The small distribution, or its prefix marginal of :data:`_TABLE_LENGTH` positions."""
    return prefix_marginal(ctx.small, min(ctx.small.length, _TABLE_LENGTH))


def _table_oracle(ctx, A):
    """A prepared MaskDCE over the first sequence of :func:`_source`, filled with the table A
    (draws become lookups of A; the estimators take a denoiser or a MaskDCE)."""
    from ctmc_lab.exact.mask_dce import MaskDCE

    source = _source(ctx)
    return MaskDCE(source.denoiser(), source.support[0]).preload(A)


@check(
    "registry.stratification",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=0.0,
    statement="registry stratified flags = twin table; a k_dce_stratified batch holds each size equally",
    work=40 * cost.CALL,
)
def stratification(ctx):
    from ctmc_lab.estimation.estimators import estimate
    from ctmc_lab.estimation.registry import estimator_names, get_estimator

    names = estimator_names()
    flags = {name: bool(get_estimator(name).stratified) for name in names}
    wrong = sorted(name for name in names if flags[name] != (name in STRATIFIED))
    missing = sorted(STRATIFIED - set(names))
    yield Result(
        f"stratified flags of {len(names)} estimators vs the twin table; differ: {wrong}; unregistered: {missing}",
        float(len(wrong) + len(missing)),
        0.0,
    )
    n, r = _source(ctx).length, 3
    b = n * r
    # A(M) = |M|², so each k-DCE value (n/m) A(M) = n m reveals the mask size m drawn.
    sizes_of = np.array([bin(u).count("1") for u in range(1 << n)], dtype=float)
    oracle = _table_oracle(ctx, sizes_of**2)
    run = estimate(
        "k_dce_stratified", oracle, None, n_samples=4 * b, rng=ctx.rng(0x5354), batch_size=b, return_values=True
    )
    sizes = np.rint(run.values / n).astype(int)
    bad = sum(int(np.any(np.bincount(sizes[k : k + b], minlength=n + 1)[1:] != r)) for k in range(0, sizes.size, b))
    yield Result(
        f"k_dce_stratified, n={n}, batches of {b}: batches without each size exactly {r} times", float(bad), 0.0
    )


def _case_seed_twin(seed: int, key: str) -> np.random.SeedSequence:
    words = hashlib.sha256(key.encode("utf-8")).digest()[:16]
    return np.random.SeedSequence([seed, *(int.from_bytes(words[i : i + 4], "little") for i in range(0, 16, 4))])


@check(
    "studies.statistics_and_seeds",
    theorem="Estimators (§6)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="repeat_variance = statistics.variance (ddof 1) of block means; case_seed = sha256 twin",
    work=20 * cost.CALL,
)
def statistics_and_seeds(ctx):
    from ctmc_lab.estimation.estimators import estimate
    from ctmc_lab.studies.engine import case_seed
    from ctmc_lab.studies.variance_vs_samples import repeat_variance

    L = _source(ctx).length
    A = np.array([bin(u).count("1") * (1.0 + 0.25 * (u % 3)) for u in range(1 << L)])  # A(∅) = 0
    n, repeats = 5, 7
    for name in ("time_free", "k_dce"):
        got = repeat_variance(_table_oracle(ctx, A), name, n, repeats, np.random.default_rng(ctx.seed))
        oracle = _table_oracle(ctx, A)
        rng = np.random.default_rng(ctx.seed)
        values = estimate(name, oracle, None, n_samples=n * repeats, rng=rng, return_values=True).values
        want = statistics.variance([float(np.mean(values[k * n : (k + 1) * n])) for k in range(repeats)])
        yield Result(f"repeat_variance({name}, n={n}, repeats={repeats}) vs statistics.variance", got, want)
    # fig1a's nll_table seeds sequence j by spawn j of SeedSequence(seed): its MC means against
    # estimators.time_free run on each sequence with that stream, spawned here.
    from ctmc_lab.sources.joint import JointDistribution
    from ctmc_lab.studies.fig1a_dna128_nll import nll_table

    small = _source(ctx)
    top = np.argsort(-small.probs, kind="stable")[:3]
    p = JointDistribution(small.support[top], small.probs[top], n_tokens=small.n_tokens, normalize=True, name="top 3")
    table = nll_table(p, 16, ctx.seed)
    streams = np.random.SeedSequence(ctx.seed).spawn(p.support_size)
    den = p.denoiser()
    twin = {
        p.decode(x): estimate("time_free", den, x, n_samples=16, rng=np.random.default_rng(g)).mean
        for x, g in zip(p.support, streams)
    }
    differ = sum(float(m) != twin[str(s)] for s, m in zip(table["sequence"], table["mc_mean"]))
    yield Result(f"fig1a nll_table: mc_mean of 3 sequences vs spawn j of SeedSequence({ctx.seed})", float(differ), 0.0)
    keys = ["a", "b", "mk4/L=8"]
    states = [case_seed(ctx.seed, key).generate_state(4).tolist() for key in keys]
    twins = [_case_seed_twin(ctx.seed, key).generate_state(4).tolist() for key in keys]
    differ = sum(s != t for s, t in zip(states, twins)) + (len({tuple(s) for s in states}) != len(keys))
    yield Result(f"case_seed({ctx.seed}, {keys}) vs the sha256 twin; distinct per key", float(differ), 0.0)
