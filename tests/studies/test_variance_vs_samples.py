"""Table 1a analogue against textbook variance sums over all masks."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.studies import variance_vs_samples
from tests.figure_oracles import (
    brute_A,
    brute_variances,
    d128_probabilities,
    read_csv,
    tabled,
)


def test_variance_vs_samples(tmp_path):
    probs = d128_probabilities()
    res = variance_vs_samples.variance_vs_samples(n_list=(16, 32), repeats=6, n_sequences=2, response_length=4, seed=1)
    rows = tabled(tmp_path, res, variance_vs_samples.COLUMNS)
    seqs = read_csv(tmp_path / "variance_vs_samples_sequences.csv")
    d128 = [r for r in seqs if r["panel"] == "a"]
    assert len(d128) == 2
    refs = []
    for r in d128:
        v = brute_variances(brute_A(probs, r["sequence"]), 8)
        assert math.isfinite(v["lambda_dce"]), "panel a holds sequences with finite λ-DCE variance"
        assert abs(float(r["exact_variance_time_free"]) - v["time_free"]) < 1e-9
        assert abs(float(r["exact_variance_lambda_dce"]) - v["lambda_dce"]) < 1e-9
        refs.append(v)
    for r in rows:
        n = int(r["n_samples"])
        if r["panel"] == "a":
            want = np.mean([v[r["estimator"]] for v in refs]) / n
            assert abs(float(r["exact_variance"]) - want) < 1e-10
        elif r["estimator"] == "lambda_dce":
            assert r["exact_variance"] == "inf"  # MK4: every a_i > 0
        assert float(r["sampled_variance"]) > 0
    assert {r["panel"] for r in seqs} == {"a", "b"}
    assert all(r["exact_variance_lambda_dce"] == "inf" for r in seqs if r["panel"] == "b")
