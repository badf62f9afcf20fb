"""The infinite variance of λ-DCE as a study: sample variance of n draws against ln n.

``docs/theory.md`` §6.3. (a) An MK4 window of length 8 (stationary; all a_i > 0): the median over
``repeats`` runs of the sample variance of the first n λ-DCE draws grows like ½ Σ_i a_i² ln n,
the tail index-2 law (P(g > u) ≈ Σ a_i²/(2u²)), while the time-free sample variance stays at its
exact value. The prediction is E[g²; λ ≥ n^{-1/2}] - NLL², from the exact truncated second
moment (:func:`~ctmc_lab.estimation.moments.lambda_dce_truncation`), whose slope in ln n is
½ Σ a_i². (b) Control: a D128 sequence with every a_i = 0, where both stay flat. One case, one
table, one row per (panel, estimator, n).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab import masks
from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import d128_tables, grid_cases, seeds
from ctmc_lab.studies.engine import Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "prefix_variances",
    "fitted_slope",
]

NAME = "heavy-tail"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: draws per run (a power of 2, the grid is n = 16, 32, ..., n_max)
#: and independent runs (the median and quartiles are over runs).
SETTINGS = {"small": {"n_max": 2**10, "repeats": 4}, "full": {"n_max": 2**18, "repeats": 32}}

#: One row per (panel, estimator, n).
COLUMNS = (
    Column("panel", "str", "a (MK4 window, every a_i > 0) or b (D128 control, every a_i = 0)"),
    Column("setting", "str", "the panel's description"),
    Column("sequence", "str", "the sequence, decoded"),
    Column("estimator", "str", "lambda_dce or time_free"),
    Column("n", "int", "number of draws, 16, 32, ..., n_max"),
    Column(
        "median_sample_variance",
        "float",
        "median over runs of the sample variance (ddof 1) of the first n draws (nats²)",
    ),
    Column("q25", "float", "its lower quartile over runs (nats²)"),
    Column("q75", "float", "its upper quartile over runs (nats²)"),
    Column("exact_variance", "float", "exact Var of one draw (nats²; inf for λ-DCE when some a_i > 0)"),
    Column("predicted", "float", "λ-DCE: E[g²; λ ≥ n^{-1/2}] - NLL²; time-free: its exact variance (nats²)"),
    Column("predicted_slope", "float", "λ-DCE: ½ Σ_i a_i², the growth per unit ln n; time-free: 0 (nats²)"),
)


cases = grid_cases(NAME, SETTINGS)


def estimate_seconds(case: Case) -> float:
    """About 0.25 µs per draw of the 2 × 2 × ``repeats`` runs, plus 0.5 s (measured, 1 core)."""
    return 0.5 + 2.5e-7 * 4 * case["repeats"] * case["n_max"]


def prefix_variances(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Sample variance (ddof=1) of the first n values, for each n in ``grid``; values (R, n_max)."""
    c1 = np.cumsum(values, axis=1)[:, grid - 1]
    c2 = np.cumsum(values**2, axis=1)[:, grid - 1]
    return (c2 - c1**2 / grid) / (grid - 1)


def fitted_slope(n: np.ndarray, median: np.ndarray) -> float:
    """Least-squares slope of the median sample variance in ln n, on the upper half of the grid.

    The growth law is asymptotic: the fit uses the upper half of the grid (at least 2 points).
    """
    big = np.arange(n.size) >= min(n.size // 2, n.size - 2)
    return float(np.polyfit(np.log(n[big]), median[big], 1)[0])


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of ``COLUMNS`` (``rng`` unused: the runs are spawned from ``case.seed``).

    Generator 0 draws the 32 candidate MK4 windows; the rest are the runs, in table order.
    """
    n_max = positive_int(case["n_max"], "n_max", minimum=64)
    if n_max & (n_max - 1):
        raise ValueError(f"`n_max` must be a power of 2 (got {n_max})")
    repeats = positive_int(case["repeats"], "repeats")
    g_seq, *rngs = seeds(case.seed, 2 * 2 * repeats + 1)
    ch = markov4()
    joint = ch.joint(8)
    cand = ch.sample(8, n=32, rng=g_seq)
    A_c = optimal_mask_dce(joint, cand)
    s2 = (A_c[:, 1 << np.arange(8)] ** 2).sum(axis=1)
    # The window of median Σ a_i² among 32 stationary draws: typical, not cherry-picked.
    j = int(np.argsort(s2)[len(s2) // 2])
    p = datasets.dna128()
    A_d, singles = d128_tables(p)
    k = int(np.flatnonzero(~(singles > 0).any(axis=1))[0])
    panels = [
        ("a", f"MK4 window {joint.decode(cand[j])}: $\\Sigma_i a_i^2$ = {s2[j]:.2f}", joint, cand[j], A_c[j]),
        ("b", f"D128 {p.decode(p.support[k])}: every $a_i$ = 0 (control)", p, p.support[k], A_d[k]),
    ]
    grid = 2 ** np.arange(4, int(np.log2(n_max)) + 1)
    rngs = iter(rngs)
    rows = []
    for panel, label, src, x, A in panels:
        oracle = conditional.mask_dce_oracle(src, x, table=A)
        nll = float(masks.imdce_sum(A))
        slope = 0.5 * float((A[1 << np.arange(len(x))] ** 2).sum())
        for name in ("lambda_dce", "time_free"):
            vals = np.stack(
                [
                    estimators.estimate(
                        name, oracle, None, n_samples=n_max, rng=next(rngs), batch_size=1 << 16, return_values=True
                    ).values
                    for _ in range(repeats)
                ]
            )
            pv = prefix_variances(vals, grid)
            med, q25, q75 = (np.quantile(pv, q, axis=0) for q in (0.5, 0.25, 0.75))
            exact = moments.estimator_moments(A, name).variance
            if name == "lambda_dce":
                pred = np.array([moments.lambda_dce_truncation(A, n**-0.5).second_moment - nll**2 for n in grid])
            else:
                pred = np.full(grid.size, exact)
            values = (panel, label, src.decode(x), name, grid, med, q25, q75, exact, pred)
            values += (slope if name == "lambda_dce" else 0.0,)
            columns = [c.name for c in COLUMNS]
            for row in zip(*(np.broadcast_to(v, grid.shape) for v in values)):
                rows.append(dict(zip(columns, row)))
    return rows


def summarize(table: dict) -> str:
    """Per panel where some a_i > 0: the fitted slope of the λ-DCE median in ln n against ½ Σ a_i²."""
    parts = []
    for panel in dict.fromkeys(table["panel"]):
        sel = (table["panel"] == panel) & (table["estimator"] == "lambda_dce")
        slope = float(table["predicted_slope"][sel][0])
        if slope > 0:
            fit = fitted_slope(table["n"][sel], table["median_sample_variance"][sel])
            parts.append(f"({panel}) λ-DCE slope in ln n: fitted {fit:.3g}, predicted {slope:.3g}")
    return f"{NAME}: " + ("; ".join(parts) if parts else "every a_i = 0 (flat)")
