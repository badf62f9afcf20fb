"""Table 1a analogue, run by the engine, against textbook variance sums over all masks."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.studies import engine, variance_vs_samples
from tests.figure_oracles import brute_A, brute_variances, d128_probabilities


def test_variance_vs_samples(tmp_path):
    probs = d128_probabilities()
    run = engine.run_study(variance_vs_samples, out_dir=tmp_path, seed=1, progress=None, notes=None)
    tables = engine.read_tables(run, variance_vs_samples)
    t, seqs = tables["table"], tables["sequences"]
    settings = variance_vs_samples.SETTINGS["small"]
    a = seqs["panel"] == "a"
    assert a.sum() == settings["n_sequences"]
    refs = []
    for seq, tf, ld in zip(
        seqs["sequence"][a], *(seqs[k][a] for k in ("exact_variance_time_free", "exact_variance_lambda_dce"))
    ):
        v = brute_variances(brute_A(probs, seq), 8)
        assert math.isfinite(v["lambda_dce"]), "panel a holds sequences with finite λ-DCE variance"
        assert abs(tf - v["time_free"]) < 1e-9 and abs(ld - v["lambda_dce"]) < 1e-9
        refs.append(v)
    for panel, name, n, exact, sampled in zip(
        *(t[k] for k in ("panel", "estimator", "n_samples", "exact_variance", "sampled_variance"))
    ):
        if panel == "a":
            assert abs(exact - np.mean([v[name] for v in refs]) / n) < 1e-10
        elif name == "lambda_dce":
            assert exact == math.inf  # MK4: every a_i > 0
        assert sampled > 0
    assert set(seqs["panel"]) == {"a", "b"} and np.all(seqs["exact_variance_lambda_dce"][~a] == math.inf)
    assert sorted(set(t["n_samples"].tolist())) == list(settings["n_list"])
