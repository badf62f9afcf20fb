"""Denoisers built on c*, the subset-table helpers' edge paths and the Markov source's summaries.

* :class:`~ctmc_lab.sources.denoisers.MixedDenoiser` (uniform, marginals, another denoiser) and
  :class:`~ctmc_lab.sources.denoisers.TemperedDenoiser` against their definitions computed from
  the joint: c* by support sums (:func:`proofs_check.library_rows.brute_conditionals`), the
  single-site marginals by summing p0, then (1-w) c* + w r and c*^(1/T) renormalised;
* the subset tables over a batch longer than one comparison block, and of sequences outside
  the support (zero-probability entries), with :func:`ctmc_lab.masks.mask_dce`,
  :func:`~ctmc_lab.masks.mask_kl`, :func:`~ctmc_lab.masks.mask_mdce` and
  :func:`~ctmc_lab.masks.imdce_sum` on their infinite entries, against support scans;
* the Markov chain's entropy rate against H(window of k+1) - H(window of k) of the enumerated
  stationary windows, its tempered chain likewise, and its NLL after a prompt against a ratio
  of enumerated window probabilities.
"""

from __future__ import annotations

import math

import numpy as np

from . import cost
from ._util import fit_queries, pick_sequences
from .framework import TOL_ENUM, Result, Skip, check
from .library_rows import brute_conditionals
from .ratios_check import _table_error, agreement_masses, brute_joint, brute_mask_dce

__all__: list[str] = []


def _masked_inputs(dist, rng, count: int) -> np.ndarray:
    """``count`` support sequences with a random subset of positions masked (at least one)."""
    x = dist.support[rng.integers(0, dist.support_size, size=count)].copy()
    hide = rng.random(x.shape) < 0.5
    hide[np.arange(count), rng.integers(0, dist.length, size=count)] = True
    x[hide] = dist.mask_id
    return x


def _dists(ctx):
    return list(dict.fromkeys(fit_queries(d, max_support=4096) for d in ctx.distributions))


def _denoiser_work(ctx) -> float:
    total = 0.0
    for dist in _dists(ctx):
        # The brute conditionals: a scan of the support per input, position and symbol.
        total += 16 * dist.length * dist.n_tokens * (4 * cost.STEP + cost.ELEM * dist.support_size) + 40 * cost.CALL
    return total


@check(
    "denoisers.mixed_tempered",
    theorem="Denoiser c* (§3.4)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="MixedDenoiser (uniform, marginals, a denoiser) and TemperedDenoiser = definition from the joint",
    work=_denoiser_work,
)
def mixed_tempered(ctx):
    """On 16 random masked inputs: log((1-w) c* + w r) at masked positions (r uniform, the
    single-site marginals of p0, or the tempered c*) and c*^(1/T)/Σ, the base's rows at visible
    positions, all from support sums."""
    from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser, TemperedDenoiser

    rng = ctx.rng(0x4D49)
    for dist in _dists(ctx):
        x = _masked_inputs(dist, rng, 16)
        c = np.exp(brute_conditionals(dist, x))  # (B, L, N), point masses at visible positions
        masked = (x == dist.mask_id)[..., None]
        marg = np.stack(
            [[dist.probs[dist.support[:, i] == v].sum() for v in range(dist.n_tokens)] for i in range(dist.length)]
        )
        T = 1.7
        with np.errstate(divide="ignore"):
            tempered = np.where(c > 0, c ** (1 / T), 0.0)
        tempered = np.where(masked, tempered / tempered.sum(-1, keepdims=True), c)
        base = OptimalDenoiser(dist)
        w = 0.3
        cases = {
            "mixed uniform": (MixedDenoiser(base, "uniform", weight=w), (1 - w) * c + w / dist.n_tokens),
            "mixed marginals": (MixedDenoiser(base, "marginals", weight=w), (1 - w) * c + w * marg[None]),
            "mixed with tempered c*": (
                MixedDenoiser(base, TemperedDenoiser(base, temperature=T), weight=w),
                (1 - w) * c + w * tempered,
            ),
            f"tempered T={T}": (TemperedDenoiser(base, temperature=T), tempered),
            "tempered T=0.5": (TemperedDenoiser(base, temperature=0.5), None),
        }
        for name, (den, want) in cases.items():
            if want is None:
                sharp = np.where(c > 0, c**2, 0.0)
                want = sharp / sharp.sum(-1, keepdims=True)
            want = np.where(masked, want, c)
            got = np.exp(np.asarray(den(x), dtype=float))
            yield Result(f"{name}; {dist.name}; 16 masked inputs; max |Δc|", 0.0, 0.0, _table_error(got, want))


def _subset_work(ctx) -> float:
    total = 0.0
    for dist in _dists(ctx):
        block = max(1, (1 << 22) // (dist.support_size * dist.length))
        B = block + 3 if block + 3 <= 1 << 16 else 64
        total += B * (dist.support_size * dist.length * cost.ELEM + (1 << dist.length) * dist.length * cost.ELEM)
        total += 6 * (1 << dist.length) * (cost.STEP + cost.ELEM * dist.support_size) * 2
    return 3 * total + 20 * cost.CALL  # measured ~3x the element count (bool comparisons, bincount)


def _outside(dist, x):
    """``x`` with its last token changed so that it leaves the support (None if it cannot)."""
    inside = {tuple(z) for z in dist.support.tolist()}
    y = x.copy()
    for v in range(dist.n_tokens):
        y[-1] = v
        if tuple(y.tolist()) not in inside:
            return y
    return None


@check(
    "subset_tables.blocks_and_zeros",
    theorem="Thm 4.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="subset_table / marginal over several blocks; zero-probability entries of h, A, mask_kl, mdce",
    work=_subset_work,
)
def blocks_and_zeros(ctx):
    """A batch one comparison block plus 3 rows long (the last rows come from the second block)
    and sequences outside the support: P0(x^U) against support scans; mask_dce of their h
    (+inf where a conditional or a context has probability 0); mask_kl, mask_mdce at λ ∈ {0, ½, 1}
    and imdce_sum against sums over subsets written here (0·inf = 0 where a weight is 0)."""
    from ctmc_lab import masks

    rng = ctx.rng(0x5542)
    zero_paths = False
    for dist in _dists(ctx):
        L = dist.length
        block = max(1, (1 << 22) // (dist.support_size * L))
        # Past one block only where that stays cheap (a tiny support makes a block huge).
        B = block + 3 if block + 3 <= 1 << 16 else 64
        x = dist.support[rng.integers(0, dist.support_size, size=B)]
        probe = sorted({0, min(block - 1, B - 1), min(block, B - 1), B - 1})
        outside = _outside(dist, x[-1])
        if outside is not None:
            x[-1] = outside
        table = dist.subset_table(x)
        full = list(range(L))
        for row in probe:
            P = agreement_masses(dist.support, dist.probs, x[row], full)
            want = np.array([P[frozenset(j for j in full if u >> j & 1)] for u in range(1 << L)])
            yield Result(
                f"{dist.name}; subset_table row {row} of {B} (block {block}); max |ΔP|",
                0.0,
                0.0,
                _table_error(table[row], want),
            )
        hidden = rng.random(x.shape) < 0.4
        xm = np.where(hidden, dist.mask_id, x)
        got = dist.marginal(xm, ~hidden)[probe]
        want = [dist.probs[np.all((dist.support == x[r]) | hidden[r], axis=1)].sum() for r in probe]
        yield Result(f"{dist.name}; marginal rows {probe} of {B}; max |ΔP|", 0.0, 0.0, _table_error(got, want))
        if outside is None:
            continue
        zero_paths = True
        for y in (outside, pick_sequences(dist, 1)[0]):
            yield from _zero_rows(dist, y, masks)
    if not zero_paths:
        yield Skip("zero-probability paths", "every distribution has full support: no sequence outside it")


def _zero_rows(dist, y, masks):
    L = dist.length
    case = f"{dist.name}; x={dist.decode(y)}"
    h = masks.subset_entropy(dist.subset_table(y))
    A = masks.mask_dce(h)
    want = brute_mask_dce(dist.support, dist.probs, y, range(L))
    yield Result(f"{case}; mask_dce(h); max |ΔA| (inf agree)", 0.0, 0.0, _table_error(A, want))
    sizes = np.array([bin(u).count("1") for u in range(1 << L)])
    for lam in (0.0, 0.5, 1.0):
        weights = lam**sizes * (1 - lam) ** (L - sizes)  # P(M) of a Bernoulli(λ) mask
        yield Result(f"{case}; mask_mdce at λ={lam}", float(masks.mask_mdce(want, lam)[0]), _weighted(weights, want))
        # mask_kl: weight (1-λ)^|U| λ^(L-|U|) on the visible set U.
        weights_u = (1 - lam) ** sizes * lam ** (L - sizes)
        yield Result(
            f"{case}; mask_kl at λ={lam}",
            float(masks.mask_kl(h, lam)[0]),
            _weighted(weights_u, _scan_entropy(dist, y)),
        )
    beta = np.array([0.0 if m == 0 else 1.0 / (m * math.comb(L, m)) for m in sizes])  # B(m, L-m+1)
    yield Result(f"{case}; imdce_sum", float(masks.imdce_sum(want)), _weighted(beta, want), terms=1 << L)


def _scan_entropy(dist, y) -> np.ndarray:
    """h(U) = -log P0(y^U) for every visible bitmask U, by support scans."""
    full = list(range(dist.length))
    P = agreement_masses(dist.support, dist.probs, y, full)
    table = np.array([P[frozenset(j for j in full if u >> j & 1)] for u in range(1 << dist.length)])
    with np.errstate(divide="ignore"):  # h = +inf where P0(x^U) = 0
        return -np.log(table)


def _weighted(weights, values) -> float:
    """Σ w v over the entries of positive weight (an infinite value there makes it inf)."""
    keep = weights > 0
    return float(np.sum(weights[keep] * values[keep])) if keep.any() else 0.0


def _markov_work(ctx) -> float:
    chain = ctx.chain
    if chain is None:
        return cost.CALL
    return 12 * chain.n_tokens ** (chain.order + 4) * cost.ELEM * 4 + 100 * cost.CALL


@check(
    "markov.entropy_rate_prompt",
    theorem="Markov source (§7)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="entropy rate = H(k+1 window) − H(k window); tempered rows; nll(y | prompt) = window ratio",
    work=_markov_work,
)
def entropy_rate_prompt(ctx):
    """The entropy rate of the chain and of its tempered chains (T = 2, 0.5) against the
    difference of the entropies of its enumerated stationary windows; the tempered table
    against P^(1/T) renormalised; nll(y, start=prompt), ContinuedChain.nll and conditional_nll
    with the prompt as context against -log of a ratio of enumerated window probabilities."""
    from ctmc_lab.estimation.conditional import conditional_nll

    chain = ctx.chain
    if chain is None:
        yield Skip("no chain", "the context has no Markov source")
        return
    k = chain.order
    name = chain.name or "chain"
    for T in (None, 2.0, 0.5):
        src = chain if T is None else chain.tempered(T)
        h1 = _entropy(src.joint(k + 1).probs)
        h0 = _entropy(src.joint(k).probs) if k > 0 else 0.0
        yield Result(f"{name}; T={T}; entropy_rate vs H(X^{k + 1}) - H(X^{k})", src.entropy_rate(), h1 - h0)
        if T is not None:
            raw = np.asarray(chain.table, float) ** (1 / T)
            want = raw / raw.sum(axis=-1, keepdims=True)
            yield Result(f"{name}; tempered(T={T}) table", 0.0, 0.0, _table_error(np.asarray(src.table, float), want))
    # A prompt of k + 2 symbols: only its last k may set the chain's start (§5.4), so a chain
    # started from its first k symbols gives another value.
    R, P = 3, k + 2
    support, probs = brute_joint(chain, P + R)
    x = support[int(np.argmin(np.where(probs > 0, probs, np.inf)))]
    prompt, y = x[:P], x[P:]
    sub_support, sub_probs = brute_joint(chain, len(y), chain.decode(prompt))  # reads the last k only
    match = np.all(sub_support == y, axis=1)
    truth = -math.log(float(sub_probs[match].sum()))
    case = f"{name}; prompt={chain.decode(prompt)}; y={chain.decode(y)}"
    yield Result(f"{case}; nll(y, start=prompt)", float(chain.nll(y, start=chain.decode(prompt))), truth)
    yield Result(f"{case}; continuing(prompt).nll(y)", float(chain.continuing(chain.decode(prompt)).nll(y)), truth)
    full = np.concatenate([prompt, y])
    P = agreement_masses(support, probs, full, list(range(len(full))))
    cond = -math.log(P[frozenset(range(len(full)))] / P[frozenset(range(len(prompt)))])
    got = conditional_nll(chain, full, target=range(len(prompt), len(full)), context=range(len(prompt)))
    yield Result(f"{case}; conditional_nll(stationary window, prompt as context)", got, cond)


def _entropy(p) -> float:
    p = np.asarray(p, float)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())
