"""LLaDA's evaluator audited as tables: where its count law is not uniform, its exact bias and the variance of the fix.

The count rule and the exact moments are :mod:`ctmc_lab.estimation.llada`; this module runs them
over sources (D128, D128-like tables, MK4 prompt–response pairs, a first-order chain) and over
the (n, b) grid, and searches MK4 for a pair of answers the evaluator ranks against the truth.
Every number is exact: the bias (★) = Σ_m (n w̄(m) - 1) μ_m/m and the batch moments (Thm 4.1 /
Cor. 4.3, ``docs/theory.md`` §4.1, §4.2, §8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, moments
from ctmc_lab.estimation.llada import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MC_NUM,
    LLaDAMoments,
    balanced_moments,
    count_law,
    level_stats,
    llada_bias,
    llada_moments,
    markov1_level_means,
)
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies._common import d128_tables, grid_cases, rows_of
from ctmc_lab.studies.engine import MAIN_TABLE, Case, Column
from ctmc_lab.studies.protocol import sample_pair

__all__ = [
    "NAME",
    "COLUMNS",
    "TABLES",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "RankingFlip",
    "bias_table",
    "count_audit",
    "dna128_like_level_stats",
    "find_ranking_flip",
    "markov1_pair_level_means",
    "mk4_pair_level_stats",
]

#: The batch sizes of the audit grid.
BATCH_SIZES = np.arange(1, 65)

#: One row per (source, n, b).
COLUMNS = (
    Column("source", "str", "dna128, dna128_like, mk4_pairs or mk1_pairs"),
    Column("n", "int", "answer length"),
    Column("b", "int", "batch size"),
    Column("sequences", "int", "sequences (or pairs) of this source and n"),
    Column("bias_mean", "float", "mean over them of the exact bias (★) (nats)"),
    Column("bias_min", "float", "its minimum (nats)"),
    Column("bias_max", "float", "its maximum (nats)"),
    Column("relative_bias_mean", "float", "mean of bias / NLL"),
)
TABLES = {
    #: One row per (n, b): the count law.
    "counts": (
        Column("n", "int", "answer length"),
        Column("b", "int", "batch size"),
        Column("uniform", "bool", "every row's count uniform on 1..n (the evaluator unbiased for every source)"),
        Column("max_row_deviation", "float", "max_{j,m} |n w_j(m) - 1|"),
        Column("max_deviation", "float", "max_m |n w̄(m) - 1| of the batch average"),
        Column(
            "bias_per_loss_range",
            "float",
            "½ Σ_m |n w̄(m) - 1|, the largest |bias| per nat of spread of the per-token losses",
        ),
    ),
    #: One row per b: D128 variances per draw.
    "variance": (
        Column("b", "int", "batch size"),
        Column("bias_llada", "float", "D128 mean of the exact bias of LLaDA's rule (nats)"),
        Column("var_llada", "float", "D128 mean of b · Var(batch mean), LLaDA's rule (nats²)"),
        Column("var_fixed", "float", "the same for the fixed rule (nats²)"),
        Column("var_balanced", "float", "the same for a balanced multiset of counts with a random remainder (nats²)"),
        Column("var_k_dce", "float", "D128 mean of the exact Var of one plain k-DCE draw (nats²)"),
        Column("var_k_dce_stratified", "float", "D128 mean of b · Var of stratified k-DCE (nats²)"),
        Column(
            "mse_llada_default",
            "float",
            "D128 mean of bias² + Var of LLaDA's output at mc_num = max(128, b) (nats²)",
        ),
    ),
}

NAME = "llada-audit"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: the largest answer length of the count-law grid and of the
#: first-order chain; the answer lengths 1.. of the D128-like sources and the MK4 pairs (all 2^n
#: masks enumerated); the prompt–response pairs per answer length; the prompt length.
SETTINGS = {
    "small": {"n_max": 12, "dna_lengths": 4, "mk4_lengths": 4, "mk4_pairs": 2, "mk1_pairs": 2, "prompt_length": 16},
    "full": {"n_max": 64, "dna_lengths": 12, "mk4_lengths": 12, "mk4_pairs": 16, "mk1_pairs": 8, "prompt_length": 16},
}


cases = grid_cases(NAME, SETTINGS, (MAIN_TABLE, *TABLES))


def estimate_seconds(case: Case) -> float:
    """About 4 ms per (n, b) of the count law, 0.1 s per MK4 answer length and pair (measured, 1 core)."""
    if case.table == "counts":
        return 0.2 + 4e-3 * 64 * case["n_max"]
    if case.table == "variance":
        return 2.0
    return 1.0 + 0.1 * case["mk4_lengths"] * case["mk4_pairs"] + 0.02 * case["n_max"] * case["mk1_pairs"]


def count_audit(n_max: int = 64, batch_sizes=range(1, 65), *, rule: str = "llada") -> dict:
    """The count law of LLaDA's rule over the (n, b) grid, source-free (the weights of the bias (★)).

    Returns
    -------
    dict of 1-D arrays, one entry per (n, b)
        ``n``, ``b``; ``uniform`` (every row's count uniform on 1..n); ``max_row_deviation`` =
        max_{j,m} |n w_j(m) - 1|; ``max_deviation`` = max_m |δ(m)| of the batch average
        δ(m) = n w̄(m) - 1; ``bias_per_loss_range`` = ½ sum_m |δ(m)|, the largest |bias| per nat
        of spread max ℓ - min ℓ of the per-token losses (the bound under (★)).
    """
    rows = []
    for n in range(1, positive_int(n_max, "n_max") + 1):
        for b in batch_sizes:
            w = count_law(n, int(b), rule=rule)
            dev = n * w.mean(axis=0) - 1.0
            row_dev = float(np.abs(n * w - 1.0).max())
            rows.append((n, int(b), row_dev < 1e-12, row_dev, float(np.abs(dev).max()), 0.5 * float(np.abs(dev).sum())))
    cols = list(zip(*rows))
    names = ("n", "b", "uniform", "max_row_deviation", "max_deviation", "bias_per_loss_range")
    return {name: np.array(col) for name, col in zip(names, cols)}


def bias_table(level_means: dict, batch_sizes=range(1, 65), *, source: str, rule: str = "llada") -> dict:
    """Exact bias (★) of every sequence, summarised per (n, b) (Thm 4.1 / Cor. 4.3: NLL = Σ_m μ_m/m).

    Parameters
    ----------
    level_means : dict
        ``{n: (S, n) array}``: μ_m of S sequences (or pairs) of answer length n.
    batch_sizes : iterable of int
    source : str
        Written in the ``source`` column.

    Returns
    -------
    dict of 1-D arrays
        ``source``, ``n``, ``b``, ``sequences`` (S), ``bias_mean``, ``bias_min``, ``bias_max``,
        ``relative_bias_mean`` (mean of bias/NLL) — every number exact (no sampling), for the
        optimal denoiser of the source.
    """
    out = {k: [] for k in ("source", "n", "b", "sequences", "bias_mean", "bias_min", "bias_max", "relative_bias_mean")}
    for n, mu in sorted(level_means.items()):
        mu = np.atleast_2d(mu)
        nll = mu @ (1.0 / np.arange(1, n + 1))
        for b in batch_sizes:
            bias = llada_bias(mu, int(b), rule=rule)
            for key, val in (
                ("source", source),
                ("n", n),
                ("b", int(b)),
                ("sequences", mu.shape[0]),
                ("bias_mean", bias.mean()),
                ("bias_min", bias.min()),
                ("bias_max", bias.max()),
                ("relative_bias_mean", np.mean(bias / nll)),
            ):
                out[key].append(val)
    return {k: np.array(v) for k, v in out.items()}


def dna128_like_level_stats(length: int, *, seed: int = 0):
    """LevelStats of every support sequence of ``dna128_like(seed, length=length)`` (c*, enumerated).

    The support has min(128, 4**length) sequences; the A-tables are Thm 4.1's (``docs/theory.md`` §4.1).

    Returns
    -------
    (LevelStats, JointDistribution)
    """
    p = datasets.dna128_like(seed, length=length, n_sequences=min(128, 4**length))
    return level_stats(optimal_mask_dce(p, p.support)), p


def mk4_pair_level_stats(chain, answer_length: int, *, pairs: int, prompt_length: int = 16, seed: int = 0):
    """LevelStats and true conditional NLLs of seeded MK4 prompt–response pairs (Cor. 4.3, forward–backward tries).

    Pair i of answer length n uses the i-th generator spawned from ``SeedSequence([seed, n])``.

    Returns
    -------
    (LevelStats, (pairs,) float array, (pairs, P + n) int array)
        The per-count statistics, the chain-rule NLLs and the sequences.
    """
    target = list(range(prompt_length, prompt_length + answer_length))
    context = list(range(prompt_length))
    tables, truth, xs = [], [], []
    for g in (np.random.default_rng(s) for s in np.random.SeedSequence([seed, answer_length]).spawn(pairs)):
        prompt, answer = sample_pair(chain, prompt_length=prompt_length, response_length=answer_length, rng=g)
        x = np.concatenate([prompt, answer])
        tables.append(conditional.conditional_mask_dce(chain, x, target=target, context=context))
        truth.append(chain.nll(answer, start=prompt))
        xs.append(x)
    return level_stats(np.array(tables)), np.array(truth), np.array(xs)


def markov1_pair_level_means(chain1, answer_length: int, *, pairs: int, seed: int = 0):
    """μ_m of seeded prompt–response pairs of a first-order chain (exact at any n, :func:`~ctmc_lab.estimation.llada.markov1_level_means`).

    Returns
    -------
    (pairs, answer_length) float array
    """
    out = []
    for g in (np.random.default_rng(s) for s in np.random.SeedSequence([seed, answer_length]).spawn(pairs)):
        left = int(chain1.sample(1, rng=g)[0])
        y = chain1.sample(answer_length, start=[left], rng=g)
        out.append(markov1_level_means(chain1.table, y, left=left))
    return np.array(out)


@dataclass(frozen=True)
class RankingFlip:
    """Two answers to one prompt whose true and LLaDA-expected likelihoods rank oppositely.

    Attributes
    ----------
    prompt, answer_a, answer_b : str
    nll_a, nll_b : float
        True -log p(answer | prompt).
    llada_a, llada_b : LLaDAMoments
        The evaluator's exact moments (mean = expected -output).
    """

    prompt: str
    answer_a: str
    answer_b: str
    nll_a: float
    nll_b: float
    llada_a: LLaDAMoments
    llada_b: LLaDAMoments

    @property
    def flipped(self) -> bool:
        return bool((self.nll_a < self.nll_b) and (self.llada_a.mean > self.llada_b.mean))


def find_ranking_flip(
    chain,
    *,
    lengths=(8, 16),
    prompt_length: int = 16,
    candidates: int = 64,
    batch_size: int = DEFAULT_BATCH_SIZE,
    mc_num: int = DEFAULT_MC_NUM,
    seed: int = 0,
    prompts: int = 8,
) -> RankingFlip | None:
    """Search seeded prompts for answers a, b (lengths ``lengths``) with NLL_a < NLL_b but E_a > E_b.

    Candidates are sampled from the chain after the prompt; each candidate's exact LLaDA mean
    comes from its A-table (Cor. 4.3 enumeration). Among flips the one with the largest
    smaller margin min(NLL_b - NLL_a, E_a - E_b) is returned (None if no prompt has one).
    """
    best, best_margin = None, 0.0
    for g in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(prompts)):
        prompt = chain.sample(prompt_length, rng=g)
        found = {}
        for n in lengths:
            ys = np.unique(chain.sample(n, n=candidates, start=prompt, rng=g), axis=0)
            nll = np.atleast_1d(chain.nll(ys, start=prompt))
            found[n] = (ys, nll)
        (ya, na), (yb, nb) = found[lengths[0]], found[lengths[1]]
        # cheap screen with the exact count law: E = NLL + bias needs μ only for the candidates kept
        order_a = np.argsort(na)[: max(4, candidates // 4)]
        tabs = {}

        def moments_of(y, n):
            key = (n, y.tobytes())
            if key not in tabs:
                x = np.concatenate([prompt, y])
                A = conditional.conditional_mask_dce(
                    chain, x, target=range(prompt_length, prompt_length + n), context=range(prompt_length)
                )
                tabs[key] = llada_moments(A, batch_size=batch_size, mc_num=mc_num, reference=chain.nll(y, start=prompt))
            return tabs[key]

        for i in order_a:
            ma = moments_of(ya[i], lengths[0])
            # a flip needs NLL_a < NLL_b < E_a - bias_b; screen b by its NLL before its table
            cand = np.flatnonzero((nb > na[i]) & (nb < ma.mean + 1.0))
            for jdx in cand[np.argsort(nb[cand])][:6]:
                mb = moments_of(yb[jdx], lengths[1])
                margin = min(nb[jdx] - na[i], ma.mean - mb.mean)
                if margin > best_margin:
                    best_margin = margin
                    best = RankingFlip(
                        chain.decode(prompt),
                        chain.decode(ya[i]),
                        chain.decode(yb[jdx]),
                        float(na[i]),
                        float(nb[jdx]),
                        ma,
                        mb,
                    )
    return best


def _bias(case: Case) -> dict:
    """The main table: the exact bias (★) per source, answer length and batch size."""
    seed, bs = case.seed, BATCH_SIZES
    n_max = positive_int(case["n_max"], "n_max")
    p = datasets.dna128()
    A_d, _ = d128_tables(p)
    tables = [bias_table({8: level_stats(A_d).mean}, bs, source="dna128")]
    dna_means = {
        n: dna128_like_level_stats(n, seed=seed)[0].mean
        for n in range(1, positive_int(case["dna_lengths"], "dna_lengths") + 1)
    }
    tables.append(bias_table(dna_means, bs, source="dna128_like"))
    mk4, mk4_pairs = markov4(), positive_int(case["mk4_pairs"], "mk4_pairs")
    mk4_means = {
        n: mk4_pair_level_stats(mk4, n, pairs=mk4_pairs, prompt_length=case["prompt_length"], seed=seed)[0].mean
        for n in range(1, positive_int(case["mk4_lengths"], "mk4_lengths") + 1)
    }
    tables.append(bias_table(mk4_means, bs, source="mk4_pairs"))
    mk1 = MarkovChain.from_softmax(4, 1, temperature=0.5, rng=seed)
    mk1_pairs = positive_int(case["mk1_pairs"], "mk1_pairs")
    mk1_means = {n: markov1_pair_level_means(mk1, n, pairs=mk1_pairs, seed=seed) for n in range(1, n_max + 1)}
    tables.append(bias_table(mk1_means, bs, source="mk1_pairs"))
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _variance() -> dict:
    """The ``variance`` table: D128 variances per draw (b · Var of one batch mean), mean over the support."""
    p = datasets.dna128()
    A_d, _ = d128_tables(p)
    nll_d = p.nll(p.support)
    stats_d = level_stats(A_d)
    var = {c.name: [] for c in TABLES["variance"]}
    plain = np.array([m.variance for m in moments.estimator_moments(A_d, "k_dce")])
    for b in BATCH_SIZES:
        lm = llada_moments(stats_d, batch_size=int(b), mc_num=max(128, int(b)), reference=nll_d)
        fx = llada_moments(stats_d, batch_size=int(b), mc_num=max(128, int(b)), rule="fixed")
        bal = balanced_moments(stats_d, batch_size=int(b), mc_num=max(128, int(b)))
        _, strat = moments.stratified_k_dce_moments(A_d, int(b))
        for key, val in (
            ("b", b),
            ("bias_llada", np.mean([m.bias for m in lm])),
            ("var_llada", np.mean([m.per_draw_variance for m in lm])),
            ("var_fixed", np.mean([m.per_draw_variance for m in fx])),
            ("var_balanced", np.mean([m.per_draw_variance for m in bal])),
            ("var_k_dce", plain.mean()),
            ("var_k_dce_stratified", np.mean(strat)),
            ("mse_llada_default", np.mean([m.bias**2 + m.variance_of_mean for m in lm])),
        ):
            var[key].append(val)
    return {k: np.array(v) for k, v in var.items()}


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of the case's table (``rng`` unused: the sources are drawn from ``case.seed``)."""
    if case.table == "counts":
        return rows_of(count_audit(positive_int(case["n_max"], "n_max"), BATCH_SIZES))
    return rows_of(_variance() if case.table == "variance" else _bias(case))


def summarize(table: dict, *, counts: dict, variance: dict) -> str:
    """The (n, b) with a non-uniform count law, and the exact bias on D128 and MK4 pairs at b = 16."""
    at16 = table["b"] == 16
    d16 = (table["source"] == "dna128") & at16
    mk4 = at16 & (table["source"] == "mk4_pairs")
    return (
        f"{NAME}: non-uniform count law on {int(np.sum(~counts['uniform']))} of {len(counts['n'])} (n, b); "
        f"D128 bias at b = 16: mean {float(table['bias_mean'][d16][0]):.3g} nats "
        f"(range {float(table['bias_min'][d16][0]):.3g} to {float(table['bias_max'][d16][0]):.3g}); "
        f"largest MK4 mean bias at b = 16: {float(table['bias_mean'][mk4].max()):.3g} nats"
    )
