"""The heavy-tail table against the JSON MK4 window probabilities and brute-force variances."""

from __future__ import annotations

import math

from ctmc_lab.studies import heavy_tail
from tests.figure_oracles import (
    DNA,
    MK4,
    brute_A,
    brute_variances,
    d128_probabilities,
    tabled,
)


def test_heavy_tail(tmp_path):
    probs = d128_probabilities()
    mk4 = MK4()
    res = heavy_tail.heavy_tail(n_max=2**10, repeats=4, seed=2)
    rows = tabled(tmp_path, res, heavy_tail.COLUMNS)
    a_rows = [r for r in rows if r["panel"] == "a" and r["estimator"] == "lambda_dce"]
    window = a_rows[0]["sequence"]
    assert len(window) == 8
    p = mk4.window_prob(window)
    a = [-math.log(p / sum(mk4.window_prob(window[:i] + v + window[i + 1 :]) for v in DNA)) for i in range(8)]
    assert abs(float(a_rows[0]["predicted_slope"]) - 0.5 * sum(x * x for x in a)) < 1e-10
    assert all(r["exact_variance"] == "inf" for r in a_rows)
    ctrl = [r for r in rows if r["panel"] == "b"]
    seq = ctrl[0]["sequence"]
    v = brute_variances(brute_A(probs, seq), 8)
    for r in ctrl:
        assert abs(float(r["exact_variance"]) - v[r["estimator"]]) < 1e-9
    grid = sorted({int(r["n"]) for r in rows})
    assert grid[0] == 16 and grid[-1] == 2**10
