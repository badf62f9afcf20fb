"""Table 1b analogue, run by the engine, against the chain rule and the covariance route from brute-force tables."""

from __future__ import annotations

import numpy as np

from ctmc_lab.studies import coupled_vs_decoupled, engine
from tests.figure_oracles import MK4, H, beta_fn, brute_A, d128_probabilities


def test_coupled_vs_decoupled(tmp_path):
    probs = d128_probabilities()
    mk4 = MK4()
    run = engine.run_study(coupled_vs_decoupled, out_dir=tmp_path, seed=4, progress=None, notes=None)
    tables = engine.read_tables(run, coupled_vs_decoupled)
    t, by_n, pairs = tables["table"], tables["by_n"], tables["d128_pairs"]
    for k in range(len(t["triplet"])):
        want = mk4.cond_nll(t["prompt"][k], t["response_minus"][k]) - mk4.cond_nll(
            t["prompt"][k], t["response_plus"][k]
        )
        assert abs(t["log_ratio_true"][k] - want) < 1e-10
        assert abs(t["log_ratio_time_free_exact"][k] - want) < 1e-10
        cov = t["variance_decoupled"][k] - t["variance_coupled"][k]
        assert abs(cov - t["covariance_term"][k]) < 1e-9
        assert t["coupling_helps"][k] == (cov >= 0)
    # D128 pairs against the covariance route of docs/theory.md §6.4, from brute-force tables.
    assert len(pairs["i"]) == 128 * 127 // 2
    L, h = 8, H(8)
    for k in (0, 77, 4000, 8127):
        Ai, Aj = brute_A(probs, pairs["sequence_i"][k]), brute_A(probs, pairs["sequence_j"][k])
        P = {M: beta_fn(len(M), L - len(M) + 1) / h for M in Ai if M}
        mi = sum(P[M] * h * Ai[M] for M in P)
        mj = sum(P[M] * h * Aj[M] for M in P)
        vi = sum(P[M] * (h * Ai[M] - mi) ** 2 for M in P)
        vj = sum(P[M] * (h * Aj[M] - mj) ** 2 for M in P)
        cij = sum(P[M] * (h * Ai[M] - mi) * (h * Aj[M] - mj) for M in P)
        assert abs(pairs["variance_decoupled"][k] - (vi + vj)) < 1e-8
        assert abs(pairs["variance_coupled"][k] - (vi + vj - 2 * cij)) < 1e-8
    coupled = by_n["mode"] == "coupled"
    np.testing.assert_allclose(
        by_n["exact_variance"][coupled], np.mean(t["variance_coupled"]) / by_n["n_samples"][coupled], rtol=1e-12
    )
    assert np.all(by_n["n_triplets"] == len(t["triplet"])) and np.all(by_n["sampled_variance"] > 0)
