"""Table 1a analogue: sampled and exact variance of repeated estimates, λ-DCE against time-free.

``docs/theory.md`` §6.1–6.3.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import StudyResult, d128_tables, mk4_pairs, seeds, sizes

__all__ = ["COLUMNS", "ESTIMATORS", "variance_vs_samples", "repeat_variance"]

#: The two samplers compared, in table order.
ESTIMATORS = ("lambda_dce", "time_free")

#: CSV schema: ``{file stem: {column: meaning (unit)}}``.
COLUMNS = {
    "variance_vs_samples": {
        "panel": "a (D128, every a_i = 0) or b (MK4 pairs, every a_i > 0)",
        "setting": "the panel's description",
        "estimator": "lambda_dce or time_free",
        "n_samples": "draws per estimate n",
        "sampled_variance": "mean over sequences of the sample variance (ddof 1) over repeats (nats²)",
        "exact_variance": "mean over sequences of the exact Var(g), divided by n (nats²; inf for λ-DCE when some a_i > 0)",
        "repeats": "independent estimates per sequence and n",
        "n_sequences": "sequences in the panel",
    },
    "variance_vs_samples_sequences": {
        "panel": "a or b",
        "sequence": "the sequence (prompt + response for b), decoded",
        "target_start": "first target position (0 for a, the prompt length for b)",
        "exact_variance_time_free": "exact Var of one time-free draw (nats²)",
        "exact_variance_lambda_dce": "exact Var of one λ-DCE draw (nats²; inf when some a_i > 0)",
    },
}


def repeat_variance(oracle, name: str, n: int, repeats: int, rng) -> float:
    """Sample variance (ddof=1) over ``repeats`` independent n-draw estimates of estimator ``name``."""
    est = estimators.estimate(name, oracle, None, n_samples=repeats * n, rng=rng, return_values=True)
    return float(est.values.reshape(repeats, n).mean(axis=1).var(ddof=1))


def variance_vs_samples(
    *, n_list=(128, 256, 512), repeats: int = 64, n_sequences: int = 30, response_length: int = 8, seed: int = 0
) -> StudyResult:
    """Table 1a analogue: variance of repeated estimates, time-integral (λ-DCE) vs time-free.

    Two settings, each averaged over ``n_sequences`` sequences (the paper: 30 sequences, 15
    repeats): (a) D128 sequences with no Hamming-1 neighbour in the support, where every
    singleton term a_i is 0 and λ-DCE has a finite variance; (b) MK4 prompt–response pairs
    (prompt 16, response ``response_length``), where every a_i > 0 and the exact λ-DCE
    variance is infinite (``docs/theory.md`` §6.3). Sampled: variance over ``repeats``
    estimates of n draws; exact: Var(g)/n (§6.1–6.3, :func:`~ctmc_lab.estimation.moments.estimator_moments`).

    Parameters
    ----------
    n_list : increasing sequence of int
        Draws per estimate (the paper: 128, 256, 512).
    repeats : int
        Independent estimates per sequence and n (≥ 2).
    n_sequences : int
        Sequences per setting.
    response_length : int
        MK4 response length (its 2^R masks are enumerated).
    seed : int

    Returns
    -------
    StudyResult
        Tables ``variance_vs_samples`` and ``variance_vs_samples_sequences`` (``COLUMNS``);
        ``summary``: ``{panel}_{estimator}_sampled_at_{n}`` at the smallest n and
        ``{panel}_ratio_time_free_over_lambda_dce``.
    """
    n_list = sizes("n_list", n_list)
    repeats = positive_int(repeats, "repeats", minimum=2)
    n_sequences = positive_int(n_sequences, "n_sequences")
    response_length = positive_int(response_length, "response_length")
    rngs = iter(seeds(seed, 4 * n_sequences * len(n_list) + 2))
    p = datasets.dna128()
    A_d, singles = d128_tables(p)
    finite = np.flatnonzero(~(singles > 0).any(axis=1))
    pick = np.sort(next(rngs).choice(finite, size=min(n_sequences, finite.size), replace=False))
    ch = markov4()
    X_m, A_m, target, context = mk4_pairs(ch, n_sequences, 16, response_length, next(rngs))
    settings = [
        ("a", "D128, no Hamming-1 neighbour (every $a_i$ = 0)", [(p, p.support[i], A_d[i], None, None) for i in pick]),
        (
            "b",
            f"MK4 prompt 16 + response {response_length} (every $a_i$ > 0)",
            [(ch, x, A, target, context) for x, A in zip(X_m, A_m)],
        ),
    ]
    cols = {k: [] for k in COLUMNS["variance_vs_samples"]}
    per_seq = {k: [] for k in COLUMNS["variance_vs_samples_sequences"]}
    summary = {}
    for panel, label, items in settings:
        per_seq["panel"].append(np.full(len(items), panel))
        per_seq["sequence"].append(np.array([src.decode(x) for src, x, *_ in items]))
        per_seq["target_start"].append(np.array([0 if tg is None else tg[0] for *_, tg, _c in items]))
        for name in ESTIMATORS:
            exact_one = np.array([moments.estimator_moments(A, name).variance for *_, A, _t, _c in items])
            per_seq[f"exact_variance_{name}"].append(exact_one)
            sampled = []
            for n in n_list:
                v = [
                    repeat_variance(
                        conditional.mask_dce_oracle(src, x, table=A, target=tg, context=cx),
                        name,
                        n,
                        repeats,
                        next(rngs),
                    )
                    for src, x, A, tg, cx in items
                ]
                sampled.append(float(np.mean(v)))
            exact = np.array([float(np.mean(exact_one)) / n for n in n_list])
            for n, s, e in zip(n_list, sampled, exact):
                for k, v in zip(cols, (panel, label, name, n, s, e, repeats, len(items))):
                    cols[k].append(v)
            summary[f"{panel}_{name}_sampled_at_{n_list[0]}"] = sampled[0]
        r = summary[f"{panel}_time_free_sampled_at_{n_list[0]}"] / summary[f"{panel}_lambda_dce_sampled_at_{n_list[0]}"]
        summary[f"{panel}_ratio_time_free_over_lambda_dce"] = r
    table = {k: np.array(v) for k, v in cols.items()}
    seq_table = {k: np.concatenate(v) for k, v in per_seq.items()}
    return StudyResult(
        "variance_vs_samples", {"variance_vs_samples": table, "variance_vs_samples_sequences": seq_table}, summary
    )
