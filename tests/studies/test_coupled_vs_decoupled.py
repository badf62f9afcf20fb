"""Table 1b analogue against the chain rule and the covariance route from brute-force tables."""

from __future__ import annotations

import numpy as np

from ctmc_lab.studies import coupled_vs_decoupled
from tests.figure_oracles import (
    MK4,
    H,
    beta_fn,
    brute_A,
    col,
    d128_probabilities,
    read_csv,
    tabled,
)


def test_coupled_vs_decoupled(tmp_path):
    probs = d128_probabilities()
    mk4 = MK4()
    res = coupled_vs_decoupled.coupled_vs_decoupled(n_triplets=4, n_list=(5, 10), repeats=4, seed=4)
    rows = tabled(tmp_path, res, coupled_vs_decoupled.COLUMNS)
    for r in rows:
        want = mk4.cond_nll(r["prompt"], r["response_minus"]) - mk4.cond_nll(r["prompt"], r["response_plus"])
        assert abs(float(r["log_ratio_true"]) - want) < 1e-10
        assert abs(float(r["log_ratio_time_free_exact"]) - want) < 1e-10
        cov = float(r["variance_decoupled"]) - float(r["variance_coupled"])
        assert abs(cov - float(r["covariance_term"])) < 1e-9
        assert (r["coupling_helps"] == "true") == (cov >= 0)
    # D128 pairs against the covariance route of docs/theory.md §6.4, from brute-force tables.
    pairs = read_csv(tmp_path / "coupled_vs_decoupled_d128_pairs.csv")
    assert len(pairs) == 128 * 127 // 2
    pick = [pairs[k] for k in (0, 77, 4000, 8127)]
    L, h = 8, H(8)
    for r in pick:
        Ai, Aj = brute_A(probs, r["sequence_i"]), brute_A(probs, r["sequence_j"])
        P = {M: beta_fn(len(M), L - len(M) + 1) / h for M in Ai if M}
        mi = sum(P[M] * h * Ai[M] for M in P)
        mj = sum(P[M] * h * Aj[M] for M in P)
        vi = sum(P[M] * (h * Ai[M] - mi) ** 2 for M in P)
        vj = sum(P[M] * (h * Aj[M] - mj) ** 2 for M in P)
        cij = sum(P[M] * (h * Ai[M] - mi) * (h * Aj[M] - mj) for M in P)
        assert abs(float(r["variance_decoupled"]) - (vi + vj)) < 1e-8
        assert abs(float(r["variance_coupled"]) - (vi + vj - 2 * cij)) < 1e-8
    by_n = read_csv(tmp_path / "coupled_vs_decoupled_by_n.csv")
    mean_c = np.mean(col(rows, "variance_coupled"))
    for r in by_n:
        if r["mode"] == "coupled":
            assert abs(float(r["exact_variance"]) - mean_c / int(r["n_samples"])) < 1e-10
