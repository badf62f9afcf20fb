"""Table 1b analogue as a study: variance of the log-ratio estimator with coupled and decoupled masks.

``docs/theory.md`` §4.3, §6.4. Triplets (prompt, y⁺, y⁻) of MK4: a stationary prompt of 16 and two
responses of ``response_length`` drawn from it (as the BeaverTails experiment pairs a safe and an
unsafe response to one prompt). The main table holds the exact single-draw variances of every
triplet, coupled and decoupled (:func:`~ctmc_lab.estimation.moments.ratio_moments`); coupling hurts
where 2 H_n² Cov(A⁺, A⁻) < 0, and the same triplets with k-DCE weights show that coupling is not
guaranteed to help. The table ``by_n``: the mean over triplets of the sample variance over
``repeats`` estimates with n draws (8 repeats, as the paper), against the exact Var/n. The table
``d128_pairs`` scores every D128 pair for contrast. Each table is one case.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.estimation.laws import TableOracle, ratio_draws
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import d128_tables, grid_cases, rows_of, seeds, sizes
from ctmc_lab.studies.engine import MAIN_TABLE, Case, Column
from ctmc_lab.studies.protocol import sample_pair

__all__ = ["NAME", "COLUMNS", "TABLES", "SETTINGS", "cases", "run_case", "estimate_seconds", "summarize"]

NAME = "coupled-vs-decoupled"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: triplets, draws per estimate n (the paper: 5, 10, 15, 20),
#: estimates per triplet and n (the paper: 8), and the response length.
SETTINGS = {
    "small": {"n_triplets": 4, "n_list": (5, 10), "repeats": 4, "response_length": 8},
    "full": {"n_triplets": 200, "n_list": (5, 10, 15, 20), "repeats": 8, "response_length": 8},
}
#: The prompt length of every triplet.
PROMPT_LENGTH = 16
#: The two ways of drawing the masks, in table order.
MODES = ("coupled", "decoupled")

#: One row per triplet.
COLUMNS = (
    Column("triplet", "int", "index of the (prompt, y⁺, y⁻) triplet"),
    Column("prompt", "str", "the stationary prompt, decoded"),
    Column("response_plus", "str", "y⁺, decoded"),
    Column("response_minus", "str", "y⁻, decoded"),
    Column("log_ratio_true", "float", "log p(y⁺|prompt) - log p(y⁻|prompt) by the chain rule (nats)"),
    Column("log_ratio_time_free_exact", "float", "the exact mean of the time-free log-ratio estimator (nats)"),
    Column("variance_coupled", "float", "exact Var of one coupled time-free draw (nats²)"),
    Column("variance_decoupled", "float", "exact Var of one decoupled time-free draw (nats²)"),
    Column("covariance_term", "float", "variance_decoupled - variance_coupled = 2 H_n² Cov(A⁺, A⁻) (nats²)"),
    Column("coupling_helps", "bool", "covariance_term ≥ 0"),
    Column("k_dce_variance_coupled", "float", "the same with k-DCE weights (nats²)"),
    Column("k_dce_variance_decoupled", "float", "the same with k-DCE weights (nats²)"),
    Column("k_dce_coupling_helps", "bool", "k-DCE coupled ≤ decoupled"),
)
TABLES = {
    #: One row per (mode, n).
    "by_n": (
        Column("mode", "str", "coupled or decoupled"),
        Column("n_samples", "int", "draws per estimate n"),
        Column("sampled_variance", "float", "mean over triplets of the sample variance (ddof 1) over repeats (nats²)"),
        Column("exact_variance", "float", "mean over triplets of the exact single-draw variance, divided by n (nats²)"),
        Column("repeats", "int", "estimates per triplet and n"),
        Column("n_triplets", "int", "triplets"),
    ),
    #: One row per pair of D128 support sequences.
    "d128_pairs": (
        Column("i", "int", "support index of the first sequence"),
        Column("j", "int", "support index of the second (i < j)"),
        Column("sequence_i", "str", "the first sequence, decoded"),
        Column("sequence_j", "str", "the second sequence, decoded"),
        Column("variance_coupled", "float", "exact Var of one coupled time-free draw (nats²)"),
        Column("variance_decoupled", "float", "exact Var of one decoupled time-free draw (nats²)"),
    ),
}


cases = grid_cases(NAME, SETTINGS, (MAIN_TABLE, *TABLES))


def estimate_seconds(case: Case) -> float:
    """About 10 ms per triplet and 1 µs per sampled draw, or 3 s for the D128 pairs (measured, 1 core)."""
    if case.table == "d128_pairs":
        return 3.0
    draws = 2 * case["n_triplets"] * case["repeats"] * sum(case["n_list"])
    return 0.2 + 0.01 * case["n_triplets"] + (1e-6 * draws if case.table == "by_n" else 0.0)


def _triplets(ch, rng, n_triplets: int, response_length: int) -> list[tuple]:
    """(prompt, y⁺, y⁻ decoded, A⁺, A⁻, exact log-ratio) per triplet, each from its own spawned generator."""
    P = PROMPT_LENGTH
    target = list(range(P, P + response_length))
    context = list(range(P))
    trip = []
    for g in seeds(rng, n_triplets):
        prompt, y1 = sample_pair(ch, prompt_length=P, response_length=response_length, rng=g)
        y2 = ch.sample(response_length, start=prompt, rng=g)
        A1 = conditional.conditional_mask_dce(ch, np.concatenate([prompt, y1]), target=target, context=context)
        A2 = conditional.conditional_mask_dce(ch, np.concatenate([prompt, y2]), target=target, context=context)
        log_ratio = ch.nll(y2, start=prompt) - ch.nll(y1, start=prompt)
        trip.append((ch.decode(prompt), ch.decode(y1), ch.decode(y2), A1, A2, log_ratio))
    return trip


def _sampled_variances(trip, n_list, repeats: int, response_length: int, rng) -> dict:
    """Table 1b: ``{(mode, n): mean over triplets of the variance across repeats of n-draw estimates}``.

    The draws are those of :func:`ctmc_lab.estimation.estimators.log_ratio`
    (:func:`ctmc_lab.estimation.laws.ratio_draws`), read from the exact tables.
    """
    scheme = estimators.mask_size_scheme("time_free", response_length)
    sampled = {}
    for mode in MODES:
        for n in n_list:
            v = []
            for _, _, _, A1, A2, _ in trip:
                g = ratio_draws(scheme, TableOracle(A1), TableOracle(A2), repeats * n, rng, coupled=mode == "coupled")
                v.append(g.reshape(repeats, n).mean(axis=1).var(ddof=1))
            sampled[mode, n] = float(np.mean(v))
    return sampled


def _mk4(case: Case):
    """The triplets and their exact time-free moments; the generators of the sampled variances.

    Three generators are spawned from ``case.seed``: the triplets', a spare one, the draws'.
    """
    n_triplets = positive_int(case["n_triplets"], "n_triplets")
    response_length = positive_int(case["response_length"], "response_length")
    g_pairs, _, g_mc = seeds(case.seed, 3)
    trip = _triplets(markov4(), g_pairs, n_triplets, response_length)
    return trip, [moments.ratio_moments(A1, A2) for *_, A1, A2, _ in trip], g_mc


def _main(case: Case) -> dict:
    trip, rm, _ = _mk4(case)
    var_c = np.array([r.variance_coupled for r in rm])
    var_d = np.array([r.variance_decoupled for r in rm])
    # With k-DCE weights g = (n/m) A(M) is nearly flat in m, so what is left of its fluctuation
    # is within a mask size, where the two responses can move against each other.
    rk = [moments.ratio_moments(A1, A2, scheme="k_dce") for *_, A1, A2, _ in trip]
    kvar_c = np.array([r.variance_coupled for r in rk])
    kvar_d = np.array([r.variance_decoupled for r in rk])
    return {
        "triplet": np.arange(len(trip)),
        "prompt": np.array([t[0] for t in trip]),
        "response_plus": np.array([t[1] for t in trip]),
        "response_minus": np.array([t[2] for t in trip]),
        "log_ratio_true": np.array([t[5] for t in trip]),
        "log_ratio_time_free_exact": np.array([r.mean for r in rm]),
        "variance_coupled": var_c,
        "variance_decoupled": var_d,
        "covariance_term": np.array([r.covariance_term for r in rm]),
        "coupling_helps": ~(var_c > var_d),
        "k_dce_variance_coupled": kvar_c,
        "k_dce_variance_decoupled": kvar_d,
        "k_dce_coupling_helps": ~(kvar_c > kvar_d),
    }


def _by_n(case: Case) -> dict:
    n_list, repeats = sizes("n_list", case["n_list"]), positive_int(case["repeats"], "repeats", minimum=2)
    trip, rm, g_mc = _mk4(case)
    exact = {
        "coupled": np.mean([r.variance_coupled for r in rm]),
        "decoupled": np.mean([r.variance_decoupled for r in rm]),
    }
    sampled = _sampled_variances(trip, n_list, repeats, case["response_length"], g_mc)
    return {
        "mode": np.repeat(MODES, len(n_list)),
        "n_samples": np.tile(n_list, 2),
        "sampled_variance": np.array([sampled[m, n] for m in MODES for n in n_list]),
        "exact_variance": np.array([exact[m] / n for m in MODES for n in n_list]),
        "repeats": np.full(2 * len(n_list), repeats),
        "n_triplets": np.full(2 * len(n_list), len(trip)),
    }


def _d128_pairs() -> dict:
    """Every D128 pair (exact only), by the covariance route of §6.4."""
    p = datasets.dna128()
    A_d, _ = d128_tables(p)
    iu = np.triu_indices(p.support_size, 1)
    d128 = [moments.ratio_moments(A_d[i], A_d[j]) for i, j in zip(*iu)]
    return {
        "i": iu[0],
        "j": iu[1],
        "sequence_i": np.array(p.decode(p.support[iu[0]])),
        "sequence_j": np.array(p.decode(p.support[iu[1]])),
        "variance_coupled": np.array([r.variance_coupled for r in d128]),
        "variance_decoupled": np.array([r.variance_decoupled for r in d128]),
    }


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of the case's table (``rng`` unused: the streams are spawned from ``case.seed``)."""
    if case.table == "d128_pairs":
        return rows_of(_d128_pairs())
    return rows_of(_by_n(case) if case.table == "by_n" else _main(case))


def summarize(table: dict, *, by_n: dict, d128_pairs: dict) -> str:
    """Where coupling hurts (MK4 time-free and k-DCE, D128), and the mean decoupled / coupled variance."""
    d_hurt = int(np.sum(d128_pairs["variance_coupled"] > d128_pairs["variance_decoupled"]))
    ratio = float(table["variance_decoupled"].mean() / table["variance_coupled"].mean())
    return (
        f"{NAME}: coupling hurts on {int(np.sum(~table['coupling_helps']))} of {len(table['triplet'])} MK4 triplets "
        f"(k-DCE weights: {int(np.sum(~table['k_dce_coupling_helps']))}) and {d_hurt} of "
        f"{len(d128_pairs['i'])} D128 pairs; mean Var_d / mean Var_c = {ratio:.3g}"
    )
