"""``length-scaling``: exact variance of each unbiased estimator against L for Markov sources.

A case is one chain and one length L; its rows are the exact single-draw variances (Thm 4.1,
``docs/theory.md`` §6.1–6.3, §6.5) at a few stationary windows of length L, together with the
λ-DCE growth coefficient sum_i a_i² (the slope of E[g²; λ ≥ δ] in log 1/δ, §6.3, S8). The summary
fits the growth law var ≈ c · L^β per estimator and chain by least squares on log(median
variance) against log L (:func:`growth_law`). L reaches 20 (2^20 masks) on the chains whose
tries fit (2^L × N^k ≤ 2^26 entries), 18 on MK4.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation import moments
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.sources.markov.trie import TRIE_LIMIT
from ctmc_lab.studies.engine import Case, Column
from ctmc_lab.studies.sampler_atlas import UNBIASED_ESTIMATORS, unbiased_variances

__all__ = [
    "NAME",
    "COLUMNS",
    "CHAINS",
    "markov_source",
    "fits_trie",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "growth_law",
]

NAME = "length-scaling"
#: name → (N, order, alpha) of ``MarkovChain.from_dirichlet``; ``mk4`` is the paper's chain.
CHAINS = {
    "mk4": (4, 4, None),
    "binary-k1": (2, 1, 0.5),
    "binary-k2": (2, 2, 0.5),
    "binary-k3": (2, 3, 0.5),
    "binary-k4": (2, 4, 0.5),
    "dna-k1": (4, 1, 0.3),
    "dna-k2": (4, 2, 0.3),
}
#: The λ-DCE truncation level at which the log(1/δ) slope is reported.
DELTA = 1e-3

#: The table's columns, after ``case``.
COLUMNS = (
    Column("chain", "str", "a name of CHAINS"),
    Column("N", "int", "alphabet size"),
    Column("order", "int", "Markov order k"),
    Column("L", "int", "window length (all L positions are the target; 2^L masks)"),
    Column("window", "int", "index of the window within the case"),
    Column("nll", "float", "-log p(x) of the stationary window (Thm 4.1)"),
    *(Column(f"var_{e}", "float", f"exact single-draw variance of {e}") for e in UNBIASED_ESTIMATORS),
    Column("lambda_dce_finite", "bool", "λ-DCE variance finite"),
    Column("lambda_dce_slope", "float", "sum_i a_i², the coefficient of log(1/δ) in E[g²; λ ≥ δ] (§6.3)"),
    Column("var_q_star", "float", "variance of the optimal mask-size law q*"),
)


def fits_trie(name: str, n: int) -> bool:
    """Whether the chain ``name``'s mask tries over an n-position target stay within
    :data:`~ctmc_lab.sources.markov.trie.TRIE_LIMIT` entries (2^n × N^k), which the chain refuses beyond."""
    N, k, _ = CHAINS[name]
    return (1 << n) * N**k <= TRIE_LIMIT


def cases(grid: str) -> list[Case]:
    """(chain, L) cases: ``small`` L ∈ {4, 6, 8} on two chains, ``full`` L = 2..20 on all."""
    if grid == "small":
        chains, lengths = ("mk4", "binary-k2"), (4, 6, 8)
    else:
        chains, lengths = tuple(CHAINS), tuple(range(2, 21))
    out = []
    for name in chains:
        N, k, _ = CHAINS[name]
        for L in lengths:
            if fits_trie(name, L):
                out.append(Case(f"{name}/L={L:02d}", dict(chain=name, N=N, order=k, L=L)))
    return out


def _windows(L: int) -> int:
    return 8 if L <= 12 else (4 if L <= 16 else 2)


def estimate_seconds(case: Case) -> float:
    """About 3 µs per mask and context entry per window, plus 0.05 s (measured, 1 core)."""
    N, k = case["N"], case["order"]
    return 0.05 + _windows(case["L"]) * 3e-6 * 2 ** case["L"] * max(N**k / 16, 1)


def markov_source(name: str, rng) -> MarkovChain:
    """The chain ``name`` of :data:`CHAINS`: MK4 as released, or a chain with Dirichlet(α) rows drawn by ``rng``."""
    if name == "mk4":
        return markov4()
    N, k, alpha = CHAINS[name]
    return MarkovChain.from_dirichlet(N, k, alpha=alpha, rng=rng)


def run_case(case: Case, *, rng) -> list[dict]:
    """One row per window (see ``COLUMNS``).

    The chain's rows are drawn from a generator seeded by the chain's name alone, so every L of
    one chain uses the same chain; the windows come from the case's own ``rng``.
    """
    rng = np.random.default_rng(rng)
    p = case.params
    chain = markov_source(p["chain"], np.random.default_rng(list(p["chain"].encode())))
    L = p["L"]
    rows = []
    for w, x in enumerate(chain.sample(L, n=_windows(L), rng=rng)):
        A = chain.mask_dce_table(x, list(range(L)))
        v = unbiased_variances(A)
        rows.append(
            {
                "chain": p["chain"],
                "N": int(chain.n_tokens),
                "order": int(chain.order),
                "L": L,
                "window": w,
                "nll": v["nll"],
                **{f"var_{e}": float(v[f"var_{e}"]) for e in UNBIASED_ESTIMATORS},
                "lambda_dce_finite": bool(v["lambda_dce_finite"]),
                "lambda_dce_slope": moments.lambda_dce_truncation(A, DELTA).slope,
                "var_q_star": v["var_q_star"],
            }
        )
    return rows


def growth_law(L: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """(c, β) of var ≈ c · L^β, least squares on log var against log L over the finite positive values.

    Returns (nan, nan) with fewer than two usable lengths.
    """
    L = np.asarray(L, float)
    var = np.asarray(var, float)
    ok = np.isfinite(var) & (var > 0)
    if np.unique(L[ok]).size < 2:
        return float("nan"), float("nan")
    beta, logc = np.polyfit(np.log(L[ok]), np.log(var[ok]), 1)
    return float(np.exp(logc)), float(beta)


def summarize(table: dict) -> str:
    """The fitted exponent β of var ≈ c L^β per chain and estimator (median variance per L)."""
    names = [*(f"var_{e}" for e in UNBIASED_ESTIMATORS), "var_q_star", "lambda_dce_slope"]
    lines = [f"{NAME}: fitted growth var ≈ c · L^β (β per column; median over windows at each L)"]
    lines.append("chain      " + " ".join(f"{n.removeprefix('var_'):>16}" for n in names))
    for chain in sorted(set(table["chain"])):
        sel = table["chain"] == chain
        Ls = np.unique(table["L"][sel])
        cells = []
        for n in names:
            med = np.array([np.median(table[n][sel & (table["L"] == L)]) for L in Ls])
            cells.append(f"{growth_law(Ls, med)[1]:>16.3f}")
        lines.append(f"{chain:<10} " + " ".join(cells))
    return "\n".join(lines)
