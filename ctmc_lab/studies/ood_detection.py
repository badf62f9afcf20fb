"""Out-of-distribution detection by NLL, exact and estimated (paper Fig. 2, made quantitative), as a study.

``docs/theory.md`` §4.1, §7. In-distribution: stationary MK4 windows of length ``length``.
Shifted: windows of the same chain with every row tempered, P^(1/T) (T = 3 flattens it). The
detector flags a high NLL under MK4 (the model is the true chain, scored by its optimal
denoiser). The NLL is either exact (chain rule) or the time-free estimate (Thm 4.1, §4.1) with a
budget of n draws of :data:`BUDGETS`; the ROC and AUROC (Mann–Whitney, :func:`auroc`) show what a
budget costs. Each budget uses its own disjoint block of draws of one seeded run per sequence.
The main table has one row per window, the table ``auroc`` one row per score; each table is one
case (the ``auroc`` case scores the same windows with the same draws).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import grid_cases, rows_of, seeds
from ctmc_lab.studies.engine import MAIN_TABLE, Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "TABLES",
    "BUDGETS",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "auroc",
    "roc_curve",
    "scores",
]

NAME = "ood-detection"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: Time-free draws per sequence of each estimated NLL (one column each).
BUDGETS = (1, 4, 16, 64, 256)
#: The parameters of each grid: windows per group, T of the shifted source (T = 1 is no shift),
#: the window length L (4^L windows are enumerated for the joint; L ≤ 10).
SETTINGS = {
    "small": {"n_per_group": 30, "temperature": 3.0, "length": 8},
    "full": {"n_per_group": 500, "temperature": 3.0, "length": 8},
}

#: One row per window.
COLUMNS = (
    Column("group", "str", "in (MK4) or shifted (tempered MK4)"),
    Column("label", "int", "0 in, 1 shifted"),
    Column("sequence", "str", "the window, decoded"),
    Column("exact_nll", "float", "-log p(x) under MK4, the chain rule (nats)"),
    *(Column(f"estimated_nll_n{n}", "float", f"time-free estimate with {n} draws (nats)") for n in BUDGETS),
)
#: One row per score: the exact NLL, then each budget.
TABLES = {
    "auroc": (
        Column("nll", "str", "exact or estimated_n{n}"),
        Column("n_samples", "int", "draws per sequence (0 for exact)"),
        Column("auroc", "float", "P(score_out > score_in) + ½ P(score_out = score_in)"),
    )
}


cases = grid_cases(NAME, SETTINGS, (MAIN_TABLE, *TABLES))


def estimate_seconds(case: Case) -> float:
    """About 4 ms per window, plus 0.5 s (measured, 1 core)."""
    return 0.5 + 4e-3 * 2 * case["n_per_group"]


def roc_curve(scores_in, scores_out) -> tuple[np.ndarray, np.ndarray]:
    """ROC of the detector "flag as out-of-distribution when the score is high".

    Parameters
    ----------
    scores_in, scores_out : 1-D float arrays
        Scores (NLLs) of in-distribution (negative) and shifted (positive) samples.

    Returns
    -------
    fpr, tpr : 1-D float arrays
        From (0, 0) to (1, 1), one point per distinct threshold (ties move both at once).
    """
    neg, pos = _check_scores(scores_in, scores_out)
    thresholds = np.unique(np.concatenate([neg, pos]))[::-1]
    # Flag score >= threshold; counts via sorted search, so ties are handled exactly.
    neg_s, pos_s = np.sort(neg), np.sort(pos)
    fp = neg.size - np.searchsorted(neg_s, thresholds, side="left")
    tp = pos.size - np.searchsorted(pos_s, thresholds, side="left")
    fpr = np.concatenate([[0.0], fp / neg.size])
    tpr = np.concatenate([[0.0], tp / pos.size])
    return fpr, tpr


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC: P(score_out > score_in) + ½ P(score_out = score_in).

    The Mann–Whitney form with mid-ranks, so it is exact (no trapezoid error) and handles
    ties. 1 means the shifted samples always score higher (higher NLL).

    Examples
    --------
    >>> auroc([1.0, 2.0], [3.0, 2.0])
    0.875
    """
    neg, pos = _check_scores(scores_in, scores_out)
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))
    u = ranks[neg.size :].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (neg.size * pos.size))


def _check_scores(scores_in, scores_out):
    neg = np.asarray(scores_in, dtype=float).ravel()
    pos = np.asarray(scores_out, dtype=float).ravel()
    for name, arr in (("scores_in", neg), ("scores_out", pos)):
        if arr.size == 0:
            raise ValueError(f"`{name}` must be non-empty")
        if np.isnan(arr).any():
            raise ValueError(f"`{name}` contains NaN")
    return neg, pos


def scores(case: Case) -> dict:
    """The main table: every window's exact NLL and its time-free estimate at each budget.

    Generators 0 and 1 spawned from ``case.seed`` draw the two groups; generator 2 + i the
    estimates of window i.
    """
    n_per_group = positive_int(case["n_per_group"], "n_per_group", minimum=2)
    temperature, length = case["temperature"], positive_int(case["length"], "length")
    if not float(temperature) > 0:
        raise ValueError(f"`temperature` must be positive (got {temperature!r})")
    if length > 10:
        raise ValueError(f"`length` must be at most 10: the exact joint has 4^L windows (got {length})")
    g_in, g_out, *g_mc = seeds(case.seed, 2 + 2 * n_per_group)
    ch = markov4()
    shifted = ch.tempered(temperature)
    X = np.concatenate([ch.sample(length, n=n_per_group, rng=g_in), shifted.sample(length, n=n_per_group, rng=g_out)])
    label = np.repeat([0, 1], n_per_group)
    exact = ch.nll(X)
    joint = ch.joint(length)
    A = optimal_mask_dce(joint, X)
    draws = np.stack(
        [
            conditional.conditional_estimate(
                joint, x, estimator="time_free", n_samples=int(sum(BUDGETS)), rng=g, table=a, return_values=True
            ).values
            for x, a, g in zip(X, A, g_mc)
        ]
    )
    edges = np.concatenate([[0], np.cumsum(BUDGETS)])
    est = {n: draws[:, lo:hi].mean(axis=1) for n, lo, hi in zip(BUDGETS, edges[:-1], edges[1:])}
    return {
        "group": np.where(label == 0, "in", "shifted"),
        "label": label,
        "sequence": np.array(ch.decode(X)),
        "exact_nll": exact,
        **{f"estimated_nll_n{n}": est[n] for n in BUDGETS},
    }


def _auroc_table(table: dict) -> dict:
    """The ``auroc`` table of a main table: the AUROC of the exact NLL and of each budget's estimate."""
    label = table["label"]
    names = ["exact", *(f"estimated_n{n}" for n in BUDGETS)]
    columns = ["exact_nll", *(f"estimated_nll_n{n}" for n in BUDGETS)]
    return {
        "nll": np.array(names),
        "n_samples": np.array([0, *BUDGETS]),
        "auroc": np.array([auroc(table[c][label == 0], table[c][label == 1]) for c in columns]),
    }


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of the case's table (``rng`` unused: the streams are spawned from ``case.seed``)."""
    table = scores(case)
    return rows_of(_auroc_table(table) if case.table == "auroc" else table)


def summarize(table: dict, *, auroc: dict) -> str:
    """The AUROC of the exact NLL and of each budget's estimate."""
    listed = ", ".join(f"{n} {a:.3g}" for n, a in zip(auroc["nll"], auroc["auroc"]))
    return f"{NAME}: {len(table['label'])} windows; AUROC {listed}"
