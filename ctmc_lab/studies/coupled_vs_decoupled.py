"""Table 1b analogue: variance of the log-ratio estimator with coupled and decoupled masks.

``docs/theory.md`` §4.3, §6.4.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.estimation.laws import TableOracle, ratio_draws
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import StudyResult, d128_tables, seeds, sizes
from ctmc_lab.studies.protocol import sample_pair

__all__ = ["COLUMNS", "coupled_vs_decoupled"]

#: The prompt length of every triplet.
PROMPT_LENGTH = 16

#: CSV schema: ``{file stem: {column: meaning (unit)}}``.
COLUMNS = {
    "coupled_vs_decoupled": {
        "triplet": "index of the (prompt, y⁺, y⁻) triplet",
        "prompt": "the stationary prompt, decoded",
        "response_plus": "y⁺, decoded",
        "response_minus": "y⁻, decoded",
        "log_ratio_true": "log p(y⁺|prompt) - log p(y⁻|prompt) by the chain rule (nats)",
        "log_ratio_time_free_exact": "the exact mean of the time-free log-ratio estimator (nats)",
        "variance_coupled": "exact Var of one coupled time-free draw (nats²)",
        "variance_decoupled": "exact Var of one decoupled time-free draw (nats²)",
        "covariance_term": "variance_decoupled - variance_coupled = 2 H_n² Cov(A⁺, A⁻) (nats²)",
        "coupling_helps": "covariance_term ≥ 0",
        "k_dce_variance_coupled": "the same with k-DCE weights (nats²)",
        "k_dce_variance_decoupled": "the same with k-DCE weights (nats²)",
        "k_dce_coupling_helps": "k-DCE coupled ≤ decoupled",
    },
    "coupled_vs_decoupled_by_n": {
        "mode": "coupled or decoupled",
        "n_samples": "draws per estimate n",
        "sampled_variance": "mean over triplets of the sample variance (ddof 1) over repeats (nats²)",
        "exact_variance": "mean over triplets of the exact single-draw variance, divided by n (nats²)",
        "repeats": "estimates per triplet and n",
        "n_triplets": "triplets",
    },
    "coupled_vs_decoupled_d128_pairs": {
        "i": "support index of the first sequence",
        "j": "support index of the second (i < j)",
        "sequence_i": "the first sequence, decoded",
        "sequence_j": "the second sequence, decoded",
        "variance_coupled": "exact Var of one coupled time-free draw (nats²)",
        "variance_decoupled": "exact Var of one decoupled time-free draw (nats²)",
    },
}


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
    for mode in ("coupled", "decoupled"):
        for n in n_list:
            v = []
            for _, _, _, A1, A2, _ in trip:
                g = ratio_draws(scheme, TableOracle(A1), TableOracle(A2), repeats * n, rng, coupled=mode == "coupled")
                v.append(g.reshape(repeats, n).mean(axis=1).var(ddof=1))
            sampled[mode, n] = float(np.mean(v))
    return sampled


def coupled_vs_decoupled(
    *, n_triplets: int = 200, n_list=(5, 10, 15, 20), repeats: int = 8, response_length: int = 8, seed: int = 0
) -> StudyResult:
    """Table 1b analogue: variance of the log-ratio estimator, coupled vs decoupled masks.

    Triplets (prompt, y⁺, y⁻) of MK4: a stationary prompt of 16 and two responses of
    ``response_length`` drawn from it (as the BeaverTails experiment pairs a safe and an
    unsafe response to one prompt). Sampled: the mean over triplets of the sample variance over
    ``repeats`` estimates with n draws (8 repeats, as the paper), against the exact Var/n
    (``docs/theory.md`` §6.4, :func:`~ctmc_lab.estimation.moments.ratio_moments`). Exact: the
    single-draw variances of every triplet, coupled and decoupled; coupling hurts where
    2 H_n² Cov(A⁺, A⁻) < 0. Every D128 pair is scored for contrast, and the same triplets with
    k-DCE weights show that coupling is not guaranteed to help.

    Parameters
    ----------
    n_triplets : int
    n_list : increasing sequence of int
        Draws per estimate (the paper: 5, 10, 15, 20).
    repeats : int
        Estimates per triplet and n (≥ 2; the paper: 8).
    response_length : int
    seed : int

    Returns
    -------
    StudyResult
        Tables ``coupled_vs_decoupled``, ``coupled_vs_decoupled_by_n`` and
        ``coupled_vs_decoupled_d128_pairs`` (``COLUMNS``); ``meta``: the sizes.
    """
    n_triplets = positive_int(n_triplets, "n_triplets")
    n_list = sizes("n_list", n_list)
    repeats = positive_int(repeats, "repeats", minimum=2)
    response_length = positive_int(response_length, "response_length")
    g_pairs, _, g_mc = seeds(seed, 3)  # the middle stream is spare; three spawns fix the other two
    trip = _triplets(markov4(), g_pairs, n_triplets, response_length)
    rm = [moments.ratio_moments(A1, A2) for *_, A1, A2, _ in trip]
    var_c = np.array([r.variance_coupled for r in rm])
    var_d = np.array([r.variance_decoupled for r in rm])
    cov = np.array([r.covariance_term for r in rm])
    # With k-DCE weights g = (n/m) A(M) is nearly flat in m, so what is left of its fluctuation
    # is within a mask size, where the two responses can move against each other.
    rk = [moments.ratio_moments(A1, A2, scheme="k_dce") for *_, A1, A2, _ in trip]
    kvar_c = np.array([r.variance_coupled for r in rk])
    kvar_d = np.array([r.variance_decoupled for r in rk])
    sampled = _sampled_variances(trip, n_list, repeats, response_length, g_mc)
    # D128 all pairs (exact only), by the covariance route of §6.4.
    p = datasets.dna128()
    A_d, _ = d128_tables(p)
    iu = np.triu_indices(p.support_size, 1)
    d128 = [moments.ratio_moments(A_d[i], A_d[j]) for i, j in zip(*iu)]
    d_c = np.array([r.variance_coupled for r in d128])
    d_d = np.array([r.variance_decoupled for r in d128])
    hurt, d_hurt, k_hurt = var_c > var_d, d_c > d_d, kvar_c > kvar_d
    ratio = var_d.mean() / var_c.mean()
    modes = ("coupled", "decoupled")
    t_main = {
        "triplet": np.arange(n_triplets),
        "prompt": np.array([t[0] for t in trip]),
        "response_plus": np.array([t[1] for t in trip]),
        "response_minus": np.array([t[2] for t in trip]),
        "log_ratio_true": np.array([t[5] for t in trip]),
        "log_ratio_time_free_exact": np.array([r.mean for r in rm]),
        "variance_coupled": var_c,
        "variance_decoupled": var_d,
        "covariance_term": cov,
        "coupling_helps": ~hurt,
        "k_dce_variance_coupled": kvar_c,
        "k_dce_variance_decoupled": kvar_d,
        "k_dce_coupling_helps": ~k_hurt,
    }
    t_n = {
        "mode": np.repeat(modes, len(n_list)),
        "n_samples": np.tile(n_list, 2),
        "sampled_variance": np.array([sampled[m, n] for m in modes for n in n_list]),
        "exact_variance": np.array([(var_c if m == "coupled" else var_d).mean() / n for m in modes for n in n_list]),
        "repeats": np.full(2 * len(n_list), repeats),
        "n_triplets": np.full(2 * len(n_list), n_triplets),
    }
    t_d = {
        "i": iu[0],
        "j": iu[1],
        "sequence_i": np.array(p.decode(p.support[iu[0]])),
        "sequence_j": np.array(p.decode(p.support[iu[1]])),
        "variance_coupled": d_c,
        "variance_decoupled": d_d,
    }
    summary = {
        "mk4_hurt": int(hurt.sum()),
        "d128_hurt": int(d_hurt.sum()),
        "mk4_k_dce_hurt": int(k_hurt.sum()),
        "mean_ratio_d_over_c": float(ratio),
    }
    meta = {"n_triplets": n_triplets, "repeats": repeats, "response_length": response_length}
    return StudyResult(
        "coupled_vs_decoupled",
        {"coupled_vs_decoupled": t_main, "coupled_vs_decoupled_by_n": t_n, "coupled_vs_decoupled_d128_pairs": t_d},
        summary,
        meta,
    )
