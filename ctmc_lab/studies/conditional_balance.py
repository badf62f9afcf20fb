"""``conditional-balance``: exact variance of the conditional estimators over (context, target) lengths.

The conditional likelihood -log p(x^T | x^C) of Cor 4.3 (``docs/theory.md`` §4.2) is the
Beta-weighted sum of the table A(M) over the 2^n masks M of the target T, with the context C
visible; each unbiased estimator of :data:`~ctmc_lab.studies.sampler_atlas.UNBIASED_ESTIMATORS`
draws masks of T only, so its variance is that of the table. A case is one chain, a context
length c and a target length n: windows of length c + n drawn from the chain's stationary law,
context = the first c positions, target = the last n. Target lengths reach 20 (2^20 masks): the
table comes from the chain's prefix/suffix tries (``MarkovChain.mask_dce_table``), whose
memory is bounded by 2^n × N^k contexts ≤ 2^26 entries, so MK4 (N^k = 256) stops at n = 18.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation import conditional
from ctmc_lab.sources.markov import MarkovChain
from ctmc_lab.studies import length_scaling
from ctmc_lab.studies.engine import Case, Column
from ctmc_lab.studies.length_scaling import fits_trie, markov_source
from ctmc_lab.studies.sampler_atlas import UNBIASED_ESTIMATORS, unbiased_variances, winner_of

__all__ = ["NAME", "COLUMNS", "CHAINS", "cases", "run_case", "estimate_seconds", "summarize", "conditional_table"]

NAME = "conditional-balance"
#: The chains of the study: name → (N, order, alpha) of ``MarkovChain.from_dirichlet``, or MK4.
CHAINS = {name: length_scaling.CHAINS[name] for name in ("mk4", "binary-k2", "dna-k1")}

#: The table's columns, after ``case``.
COLUMNS = (
    Column("chain", "str", "mk4, or a random chain of CHAINS"),
    Column("N", "int", "alphabet size"),
    Column("order", "int", "Markov order k"),
    Column("context_length", "int", "c, visible positions before the target"),
    Column("target_length", "int", "n, the target positions (2^n masks)"),
    Column("window", "int", "index of the drawn window within the case"),
    Column("nll", "float", "-log p(x^T | x^C) = sum_M B(m, n-m+1) A(M) (Cor 4.3)"),
    *(Column(f"var_{e}", "float", f"exact single-draw variance of conditional {e}") for e in UNBIASED_ESTIMATORS),
    Column("lambda_dce_finite", "bool", "λ-DCE variance finite (no a_i > 0 on the target, §6.3)"),
    Column("var_q_star", "float", "variance of the optimal mask-size law q* on the target"),
    Column("winner", "str", "the unbiased estimator of lowest variance"),
    Column("win_ratio", "float", "runner-up variance over the winner's"),
    Column("var_per_nll2", "float", "var_time_free / nll², the time-free squared coefficient of variation"),
)


def cases(grid: str) -> list[Case]:
    """(chain, c, n, seed) cases; ``small``: n ≤ 8, ``full``: n up to 20."""
    if grid == "small":
        chains, contexts, targets, seeds = ("mk4", "binary-k2"), (0, 4), (4, 8), (0,)
    else:
        chains, contexts, targets, seeds = (
            tuple(CHAINS),
            (0, 1, 2, 4, 8, 16),
            (2, 4, 6, 8, 10, 12, 14, 16, 18, 20),
            (0, 1),
        )
    out = []
    for name in chains:
        for c in contexts:
            for n in targets:
                if not fits_trie(name, n):
                    continue
                for seed in seeds:
                    N, k, _ = CHAINS[name]
                    params = dict(chain=name, N=N, order=k, context_length=c, target_length=n, seed=seed)
                    out.append(Case(f"{name}/c={c:02d}/n={n:02d}/seed={seed}", params))
    return out


def _windows(n: int) -> int:
    """Windows per case: 8 for short targets, fewer where one table has 2^16 masks or more."""
    return 8 if n <= 12 else (2 if n <= 16 else 1)


def estimate_seconds(case: Case) -> float:
    """About 3 µs per mask and context entry per window, plus 0.05 s (measured, 1 core)."""
    N, k = case["N"], case["order"]
    return 0.05 + _windows(case["target_length"]) * 3e-6 * 2 ** case["target_length"] * max(N**k / 16, 1)


def conditional_table(chain: MarkovChain, x: np.ndarray, context_length: int) -> np.ndarray:
    """A(M) over the masks of the target (positions c..L-1) with the first c positions visible (Cor 4.3)."""
    L = x.shape[0]
    ctx = list(range(context_length)) or None
    return conditional.conditional_mask_dce(chain, x, target=list(range(context_length, L)), context=ctx)


def run_case(case: Case, *, rng) -> list[dict]:
    """One row per window (see ``COLUMNS``)."""
    rng = np.random.default_rng(rng)
    p = case.params
    chain = markov_source(p["chain"], rng)
    c, n = p["context_length"], p["target_length"]
    X = chain.sample(c + n, n=_windows(n), rng=rng)
    rows = []
    for w, x in enumerate(X):
        v = unbiased_variances(conditional_table(chain, x, c))
        winner, ratio = winner_of(v)
        rows.append(
            {
                "chain": p["chain"],
                "N": int(chain.n_tokens),
                "order": int(chain.order),
                "context_length": c,
                "target_length": n,
                "window": w,
                "nll": v["nll"],
                **{f"var_{e}": float(v[f"var_{e}"]) for e in UNBIASED_ESTIMATORS},
                "lambda_dce_finite": bool(v["lambda_dce_finite"]),
                "var_q_star": v["var_q_star"],
                "winner": winner,
                "win_ratio": ratio,
                "var_per_nll2": v["var_time_free"] / v["nll"] ** 2 if v["nll"] > 0 else float("nan"),
            }
        )
    return rows


def summarize(table: dict) -> str:
    """Median time-free CV² and the winning estimator by (chain, context length, target length)."""
    lines = [f"{NAME}: {len(table['case'])} windows, {len(set(table['case']))} cases"]
    lines.append("chain       c   n  median var_time_free/nll²  median var_k_dce/var_time_free  most wins")
    keys = sorted(set(zip(table["chain"], table["context_length"].tolist(), table["target_length"].tolist())))
    for chain, c, n in keys:
        sel = (table["chain"] == chain) & (table["context_length"] == c) & (table["target_length"] == n)
        ratio = np.median(table["var_k_dce"][sel] / table["var_time_free"][sel])
        winners = list(table["winner"][sel])
        best = max(UNBIASED_ESTIMATORS, key=winners.count)
        lines.append(
            f"{chain:<10} {c:>2} {n:>3}  {np.median(table['var_per_nll2'][sel]):>24.4g}  {ratio:>30.3g}  {best}"
        )
    return "\n".join(lines)
