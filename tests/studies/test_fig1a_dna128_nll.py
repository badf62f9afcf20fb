"""Fig. 1a's table against the D128 JSON probabilities and the z-score definition."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.studies import fig1a_dna128_nll
from tests.figure_oracles import (
    col,
    d128_probabilities,
    tabled,
)


def test_fig1a(tmp_path):
    probs = d128_probabilities()
    res = fig1a_dna128_nll.fig1a_dna128_nll(n_samples=256, seed=3)
    rows = tabled(tmp_path, res, fig1a_dna128_nll.COLUMNS)
    assert len(rows) == 128
    seqs = [r["sequence"] for r in rows]
    true = np.array([-math.log(probs[s]) for s in seqs])
    np.testing.assert_allclose(col(rows, "true_nll"), true, rtol=0, atol=1e-13)
    np.testing.assert_allclose(col(rows, "exact_time_free"), true, rtol=0, atol=1e-12)
    assert np.all(np.diff(true) >= 0), "rows are sorted by the true NLL"
    z = (col(rows, "mc_mean") - true) / col(rows, "mc_stderr")
    np.testing.assert_allclose(col(rows, "z_score"), z, atol=1e-9)
    assert np.all(col(rows, "mc_samples", int) == 256)
    # 128 roughly normal z-scores: a broken estimator would drift far beyond this.
    assert np.mean(np.abs(z) < 1.96) > 0.85 and np.abs(z).max() < 5
