"""Sampler variances and audited biases against textbook sums over all masks."""

from __future__ import annotations

import math

from ctmc_lab.studies import sampler_comparison
from tests.figure_oracles import (
    brute_A,
    brute_variances,
    d128_probabilities,
    tabled,
)


def test_sampler_comparison(tmp_path):
    probs = d128_probabilities()
    res = sampler_comparison.sampler_comparison(n_windows=8, seed=0)
    rows = tabled(tmp_path, res, sampler_comparison.COLUMNS)
    d = [r for r in rows if r["source"] == "d128"]
    assert len(d) == 128
    for r in d[::25]:
        v = brute_variances(brute_A(probs, r["sequence"]), 8)
        assert abs(float(r["true_nll"]) + math.log(probs[r["sequence"]])) < 1e-13
        for name in ("time_free", "k_dce", "rb_lambda_dce"):
            assert abs(float(r[f"var_{name}"]) - v[name]) < 1e-9
        if math.isinf(v["lambda_dce"]):
            assert r["var_lambda_dce"] == "inf"
        else:
            assert abs(float(r["var_lambda_dce"]) - v["lambda_dce"]) < 1e-9
        assert abs(float(r["bias_omit_full_mask"]) - v["bias_omit_full_mask"]) < 1e-10
        finite = {k: v[k] for k in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce")}
        assert r["winner"] == min(finite, key=finite.get)
        assert float(r["var_importance"]) <= min(finite.values()) + 1e-9
        # The code's t-DCE is nearly unbiased: truncation at 1e-3 and the missing 1/(1-ε_s).
        assert -0.05 < float(r["bias_t_dce"]) < 0
    assert any(r["source"] == "mk4" for r in rows)
