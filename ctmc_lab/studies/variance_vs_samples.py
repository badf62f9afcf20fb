"""Table 1a analogue as a study: sampled and exact variance of repeated estimates, λ-DCE against time-free.

``docs/theory.md`` §6.1–6.3. Two settings, each averaged over ``n_sequences`` sequences (the
paper: 30 sequences, 15 repeats): (a) D128 sequences with no Hamming-1 neighbour in the support,
where every singleton term a_i is 0 and λ-DCE has a finite variance; (b) MK4 prompt–response
pairs (prompt 16, response ``response_length``), where every a_i > 0 and the exact λ-DCE variance
is infinite (§6.3). Sampled: variance over ``repeats`` estimates of n draws; exact: Var(g)/n
(:func:`~ctmc_lab.estimation.moments.estimator_moments`). The main table has one row per (panel,
estimator, n); the table ``sequences`` one row per sequence. Each table is one case.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import d128_tables, grid_cases, mk4_pairs, rows_of, seeds, sizes
from ctmc_lab.studies.engine import MAIN_TABLE, Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "TABLES",
    "ESTIMATORS",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "repeat_variance",
    "sampled_ratio",
]

NAME = "variance-vs-samples"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: draws per estimate n, estimates per sequence and n, sequences per
#: setting, and the MK4 response length (its 2^R masks are enumerated).
SETTINGS = {
    "small": {"n_list": (16, 32), "repeats": 6, "n_sequences": 2, "response_length": 4},
    "full": {"n_list": (128, 256, 512), "repeats": 64, "n_sequences": 30, "response_length": 8},
}
#: The two samplers compared, in table order.
ESTIMATORS = ("lambda_dce", "time_free")

#: One row per (panel, estimator, n).
COLUMNS = (
    Column("panel", "str", "a (D128, every a_i = 0) or b (MK4 pairs, every a_i > 0)"),
    Column("setting", "str", "the panel's description"),
    Column("estimator", "str", "lambda_dce or time_free"),
    Column("n_samples", "int", "draws per estimate n"),
    Column("sampled_variance", "float", "mean over sequences of the sample variance (ddof 1) over repeats (nats²)"),
    Column(
        "exact_variance",
        "float",
        "mean over sequences of the exact Var(g), divided by n (nats²; inf for λ-DCE when some a_i > 0)",
    ),
    Column("repeats", "int", "independent estimates per sequence and n"),
    Column("n_sequences", "int", "sequences in the panel"),
)
#: One row per sequence.
TABLES = {
    "sequences": (
        Column("panel", "str", "a or b"),
        Column("sequence", "str", "the sequence (prompt + response for b), decoded"),
        Column("target_start", "int", "first target position (0 for a, the prompt length for b)"),
        Column("exact_variance_time_free", "float", "exact Var of one time-free draw (nats²)"),
        Column("exact_variance_lambda_dce", "float", "exact Var of one λ-DCE draw (nats²; inf when some a_i > 0)"),
    )
}


cases = grid_cases(NAME, SETTINGS, (MAIN_TABLE, *TABLES))


def estimate_seconds(case: Case) -> float:
    """About 2 µs per draw of the main table, 0.5 s for the exact table (measured, 1 core)."""
    if case.table != MAIN_TABLE:
        return 0.5
    draws = 2 * 2 * case["n_sequences"] * case["repeats"] * sum(case["n_list"])
    return 0.5 + 2e-6 * draws


def repeat_variance(oracle, name: str, n: int, repeats: int, rng) -> float:
    """Sample variance (ddof=1) over ``repeats`` independent n-draw estimates of estimator ``name``."""
    est = estimators.estimate(name, oracle, None, n_samples=repeats * n, rng=rng, return_values=True)
    return float(est.values.reshape(repeats, n).mean(axis=1).var(ddof=1))


def _panels(case: Case):
    """The settings' sequences and the stream of the sampled variances, all spawned from ``case.seed``.

    Generator 0 picks the D128 sequences, generator 1 draws the MK4 pairs, and the rest are taken
    in table order, one per (panel, estimator, n, sequence).
    """
    n_list = sizes("n_list", case["n_list"])
    n_sequences = positive_int(case["n_sequences"], "n_sequences")
    response_length = positive_int(case["response_length"], "response_length")
    rngs = iter(seeds(case.seed, 4 * n_sequences * len(n_list) + 2))
    p = datasets.dna128()
    A_d, singles = d128_tables(p)
    finite = np.flatnonzero(~(singles > 0).any(axis=1))
    pick = np.sort(next(rngs).choice(finite, size=min(n_sequences, finite.size), replace=False))
    ch = markov4()
    X_m, A_m, target, context = mk4_pairs(ch, n_sequences, 16, response_length, next(rngs))
    panels = [
        ("a", "D128, no Hamming-1 neighbour (every $a_i$ = 0)", [(p, p.support[i], A_d[i], None, None) for i in pick]),
        (
            "b",
            f"MK4 prompt 16 + response {response_length} (every $a_i$ > 0)",
            [(ch, x, A, target, context) for x, A in zip(X_m, A_m)],
        ),
    ]
    return panels, rngs


def _exact(items, name: str) -> np.ndarray:
    return np.array([moments.estimator_moments(A, name).variance for *_, A, _t, _c in items])


def _sequences(case: Case) -> dict:
    """The ``sequences`` table: each sequence's exact single-draw variances."""
    panels, _ = _panels(case)
    cols = {c.name: [] for c in TABLES["sequences"]}
    for panel, _, items in panels:
        cols["panel"].append(np.full(len(items), panel))
        cols["sequence"].append(np.array([src.decode(x) for src, x, *_ in items]))
        cols["target_start"].append(np.array([0 if tg is None else tg[0] for *_, tg, _c in items]))
        for name in ESTIMATORS:
            cols[f"exact_variance_{name}"].append(_exact(items, name))
    return {k: np.concatenate(v) for k, v in cols.items()}


def _by_n(case: Case) -> dict:
    """The main table: per panel, estimator and n, the mean sampled variance against the exact Var/n."""
    n_list, repeats = sizes("n_list", case["n_list"]), positive_int(case["repeats"], "repeats", minimum=2)
    panels, rngs = _panels(case)
    cols = {c.name: [] for c in COLUMNS}
    for panel, label, items in panels:
        for name in ESTIMATORS:
            exact_one = _exact(items, name)
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
                row = (panel, label, name, n, float(np.mean(v)), float(np.mean(exact_one)) / n, repeats, len(items))
                for k, value in zip(cols, row):
                    cols[k].append(value)
    return {k: np.array(v) for k, v in cols.items()}


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of the case's table (``rng`` unused: the streams are spawned from ``case.seed``)."""
    return rows_of(_sequences(case) if case.table == "sequences" else _by_n(case))


def sampled_ratio(table: dict, panel: str) -> float:
    """Sampled time-free variance over sampled λ-DCE variance, at the smallest n of ``panel``."""
    sel = table["panel"] == panel
    n0 = table["n_samples"][sel].min()
    at = {
        e: table["sampled_variance"][sel & (table["n_samples"] == n0) & (table["estimator"] == e)][0]
        for e in ESTIMATORS
    }
    return float(at["time_free"] / at["lambda_dce"])


def summarize(table: dict, *, sequences: dict) -> str:
    """Per panel: the sampled time-free / λ-DCE variance ratio at the smallest n."""
    ratios = ", ".join(f"({p}) {sampled_ratio(table, p):.3g}" for p in dict.fromkeys(table["panel"]))
    return f"{NAME}: {len(sequences['sequence'])} sequences; sampled time-free / λ-DCE variance at the smallest n: {ratios}"
