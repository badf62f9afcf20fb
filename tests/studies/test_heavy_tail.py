"""The heavy-tail table, run by the engine, against the JSON MK4 window probabilities and brute-force variances."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.studies import engine, heavy_tail
from tests.figure_oracles import DNA, MK4, brute_A, brute_variances, d128_probabilities


def test_heavy_tail(tmp_path):
    probs = d128_probabilities()
    mk4 = MK4()
    run = engine.run_study(heavy_tail, out_dir=tmp_path, seed=2, progress=None, notes=None)
    t = engine.read_tables(run, heavy_tail)["table"]
    a = (t["panel"] == "a") & (t["estimator"] == "lambda_dce")
    window = t["sequence"][a][0]
    assert len(window) == 8
    p = mk4.window_prob(window)
    ai = [-math.log(p / sum(mk4.window_prob(window[:i] + v + window[i + 1 :]) for v in DNA)) for i in range(8)]
    assert abs(t["predicted_slope"][a][0] - 0.5 * sum(x * x for x in ai)) < 1e-10
    assert np.all(t["exact_variance"][a] == math.inf)
    ctrl = t["panel"] == "b"
    v = brute_variances(brute_A(probs, t["sequence"][ctrl][0]), 8)
    for name, exact in zip(t["estimator"][ctrl], t["exact_variance"][ctrl]):
        assert abs(exact - v[name]) < 1e-9
    grid = sorted(set(t["n"].tolist()))
    assert grid[0] == 16 and grid[-1] == heavy_tail.SETTINGS["small"]["n_max"]


def test_fitted_slope_is_least_squares_on_the_upper_half():
    n = 2 ** np.arange(4, 12)
    med = 0.7 * np.log(n) + np.where(np.arange(n.size) < 4, 5.0, 0.0)  # a bend below the upper half
    assert abs(heavy_tail.fitted_slope(n, med) - 0.7) < 1e-12
