"""The infinite variance of λ-DCE as a table: sample variance of n draws against ln n.

``docs/theory.md`` §6.3.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab import masks
from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import StudyResult, d128_tables, seeds

__all__ = ["COLUMNS", "heavy_tail", "prefix_variances"]

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; one row per (panel, estimator, n).
COLUMNS = {
    "heavy_tail": {
        "panel": "a (MK4 window, every a_i > 0) or b (D128 control, every a_i = 0)",
        "setting": "the panel's description",
        "sequence": "the sequence, decoded",
        "estimator": "lambda_dce or time_free",
        "n": "number of draws, 16, 32, ..., n_max",
        "median_sample_variance": "median over runs of the sample variance (ddof 1) of the first n draws (nats²)",
        "q25": "its lower quartile over runs (nats²)",
        "q75": "its upper quartile over runs (nats²)",
        "exact_variance": "exact Var of one draw (nats²; inf for λ-DCE when some a_i > 0)",
        "predicted": "λ-DCE: E[g²; λ ≥ n^{-1/2}] - NLL²; time-free: its exact variance (nats²)",
        "predicted_slope": "λ-DCE: ½ Σ_i a_i², the growth per unit ln n; time-free: 0 (nats²)",
    }
}


def prefix_variances(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Sample variance (ddof=1) of the first n values, for each n in ``grid``; values (R, n_max)."""
    c1 = np.cumsum(values, axis=1)[:, grid - 1]
    c2 = np.cumsum(values**2, axis=1)[:, grid - 1]
    return (c2 - c1**2 / grid) / (grid - 1)


def heavy_tail(*, n_max: int = 2**18, repeats: int = 32, seed: int = 0) -> StudyResult:
    """The infinite variance of λ-DCE, seen: sample variance against ln n (``docs/theory.md`` §6.3).

    (a) An MK4 window of length 8 (stationary; all a_i > 0): the median over ``repeats`` runs
    of the sample variance of the first n λ-DCE draws grows like ½ Σ_i a_i² ln n, the tail
    index-2 law (P(g > u) ≈ Σ a_i²/(2u²)), while the time-free sample variance stays at its
    exact value. The prediction is E[g²; λ ≥ n^{-1/2}] - NLL², from the exact truncated
    second moment (:func:`~ctmc_lab.estimation.moments.lambda_dce_truncation`), whose slope in ln n is
    ½ Σ a_i². (b) Control: a D128 sequence with every a_i = 0, where both stay flat.

    Parameters
    ----------
    n_max : int
        Draws per run, a power of 2 (≥ 2^6); the grid is n = 16, 32, ..., n_max.
    repeats : int
        Independent runs (the median and quartiles are over runs).
    seed : int

    Returns
    -------
    StudyResult
        Table ``heavy_tail`` (``COLUMNS``); ``summary``: ``{panel}_fitted_slope`` (least
        squares on the upper half of the grid) and ``{panel}_predicted_slope`` where some
        a_i > 0; ``meta``: ``repeats``.
    """
    n_max = positive_int(n_max, "n_max", minimum=64)
    if n_max & (n_max - 1):
        raise ValueError(f"`n_max` must be a power of 2 (got {n_max})")
    repeats = positive_int(repeats, "repeats")
    g_seq, *rngs = seeds(seed, 2 * 2 * repeats + 1)
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
    cases = [
        ("a", f"MK4 window {joint.decode(cand[j])}: $\\Sigma_i a_i^2$ = {s2[j]:.2f}", joint, cand[j], A_c[j]),
        ("b", f"D128 {p.decode(p.support[k])}: every $a_i$ = 0 (control)", p, p.support[k], A_d[k]),
    ]
    grid = 2 ** np.arange(4, int(np.log2(n_max)) + 1)
    rngs = iter(rngs)
    cols = {key: [] for key in COLUMNS["heavy_tail"]}
    summary = {}
    for panel, label, src, x, A in cases:
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
            row_values = (
                panel,
                label,
                src.decode(x),
                name,
                grid,
                med,
                q25,
                q75,
                exact,
                pred,
                slope if name == "lambda_dce" else 0.0,
            )
            for row in zip(*(np.broadcast_to(v, grid.shape) for v in row_values)):
                for key, v in zip(cols, row):
                    cols[key].append(v)
            if name == "lambda_dce" and slope > 0:
                # The growth law is asymptotic: fit the upper half of the grid (at least 2 points).
                big = np.arange(grid.size) >= min(grid.size // 2, grid.size - 2)
                summary[f"{panel}_fitted_slope"] = float(np.polyfit(np.log(grid[big]), med[big], 1)[0])
                summary[f"{panel}_predicted_slope"] = slope
    table = {key: np.array(v) for key, v in cols.items()}
    return StudyResult("heavy_tail", {"heavy_tail": table}, summary, {"repeats": repeats})
