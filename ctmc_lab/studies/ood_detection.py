"""Out-of-distribution detection by NLL, exact and estimated (paper Fig. 2, made quantitative).

``docs/theory.md`` §4.1, §7.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import StudyResult, seeds, sizes

__all__ = ["COLUMNS", "auroc", "ood_detection", "roc_curve"]

#: CSV schema: ``{file stem: {column: meaning (unit)}}``.
COLUMNS = {
    "ood_detection": {
        "group": "in (MK4) or shifted (tempered MK4)",
        "label": "0 in, 1 shifted",
        "sequence": "the window, decoded",
        "exact_nll": "-log p(x) under MK4, the chain rule (nats)",
        "estimated_nll_n{n}": "time-free estimate with n draws, one column per budget (nats)",
    },
    "ood_detection_auroc": {
        "nll": "exact or estimated_n{n}",
        "n_samples": "draws per sequence (0 for exact)",
        "auroc": "P(score_out > score_in) + ½ P(score_out = score_in)",
    },
}


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


def ood_detection(
    *, n_per_group: int = 500, budgets=(1, 4, 16, 64, 256), temperature: float = 3.0, length: int = 8, seed: int = 0
) -> StudyResult:
    """Out-of-distribution detection by NLL, exact and estimated (paper Fig. 2, made quantitative).

    In-distribution: stationary MK4 windows of length ``length``. Shifted: windows of the
    same chain with every row tempered, P^(1/T) (T = 3 flattens it). The detector flags a
    high NLL under MK4 (the model is the true chain, scored by its optimal denoiser). The
    NLL is either exact (chain rule) or the time-free estimate (Thm 4.1, ``docs/theory.md``
    §4.1) with a budget of n draws; the ROC and AUROC (Mann–Whitney, ``auroc``) show what
    a budget costs. Each budget uses its own disjoint block of draws of one seeded run per
    sequence.

    Parameters
    ----------
    n_per_group : int
    budgets : increasing sequence of int
        Time-free draws per sequence.
    temperature : float > 0
        T of the shifted source (T = 1 is no shift).
    length : int
        Window length L (4^L windows are enumerated for the joint; L ≤ 10).
    seed : int

    Returns
    -------
    StudyResult
        Tables ``ood_detection`` and ``ood_detection_auroc`` (``COLUMNS``); ``meta``:
        ``roc`` (``{"exact" or n: (fpr, tpr)}``), ``budgets``, ``temperature``, ``length``,
        ``n_per_group``.
    """
    n_per_group = positive_int(n_per_group, "n_per_group", minimum=2)
    budgets = sizes("budgets", budgets)
    if not float(temperature) > 0:
        raise ValueError(f"`temperature` must be positive (got {temperature!r})")
    length = positive_int(length, "length")
    if length > 10:
        raise ValueError(f"`length` must be at most 10: the exact joint has 4^L windows (got {length})")
    g_in, g_out, *g_mc = seeds(seed, 2 + 2 * n_per_group)
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
                joint, x, estimator="time_free", n_samples=int(sum(budgets)), rng=g, table=a, return_values=True
            ).values
            for x, a, g in zip(X, A, g_mc)
        ]
    )
    edges = np.concatenate([[0], np.cumsum(budgets)])
    est = {n: draws[:, lo:hi].mean(axis=1) for n, lo, hi in zip(budgets, edges[:-1], edges[1:])}
    scores = {"exact": exact, **est}
    au = {k: auroc(v[label == 0], v[label == 1]) for k, v in scores.items()}
    roc = {k: roc_curve(v[label == 0], v[label == 1]) for k, v in scores.items()}
    table = {
        "group": np.where(label == 0, "in", "shifted"),
        "label": label,
        "sequence": np.array(ch.decode(X)),
        "exact_nll": exact,
        **{f"estimated_nll_n{n}": est[n] for n in budgets},
    }
    t_auc = {
        "nll": np.array(["exact", *[f"estimated_n{n}" for n in budgets]]),
        "n_samples": np.array([0, *budgets]),
        "auroc": np.array([au["exact"], *[au[n] for n in budgets]]),
    }
    summary = {"auroc_exact": au["exact"], **{f"auroc_n{n}": au[n] for n in budgets}}
    meta = {"roc": roc, "budgets": budgets, "temperature": temperature, "length": length, "n_per_group": n_per_group}
    return StudyResult("ood_detection", {"ood_detection": table, "ood_detection_auroc": t_auc}, summary, meta)
