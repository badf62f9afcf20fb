"""Lemma 3.3's table against c* built from explicit pattern sums."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.sources import datasets
from ctmc_lab.studies import dse_dce_equivalence
from tests.figure_oracles import (
    pattern_prob,
    tabled,
)


def test_dse_dce_equivalence(tmp_path):
    dist = datasets.dirichlet(3, 3, alpha=1.0, rng=np.random.default_rng(11), alphabet="ABC")
    res = dse_dce_equivalence.dse_dce_equivalence(dist=dist, n_points=9, mix_weight=0.25)
    rows = tabled(tmp_path, res, dse_dce_equivalence.COLUMNS)
    table = dict(zip(dist.decode(dist.support), dist.probs))
    x0 = dist.decode(dist.support[np.argmax(dist.probs)])
    # c* at x = x0 masked on {0, 2}: each masked site conditioned on the visible site 1 only.
    cond = {i: pattern_prob(table, x0, [1, i]) / pattern_prob(table, x0, [1]) for i in (0, 2)}
    dce_opt = -sum(math.log(c) for c in cond.values())
    dce_mix = -sum(math.log(0.75 * c + 0.25 / 3) for c in cond.values())
    eps = 1e-3
    for r in rows:
        want = dce_opt if r["denoiser"].startswith("optimal") else dce_mix
        assert abs(float(r["dce"]) - want) < 1e-12
        t = float(r["t"])
        sb = -math.log(1 - (1 - eps) * t)
        sig = (1 - eps) / (1 - (1 - eps) * t)
        assert abs(float(r["scaled_dce"]) - sig / math.expm1(sb) * want) < 1e-10 * (1 + sig / math.expm1(sb))
        assert float(r["rel_residual"]) < 1e-12  # Lemma 3.3
        # The control with sigma_bar in place of sigma differs by orders of magnitude at small t.
    small = [r for r in rows if float(r["t"]) < 1e-2]
    assert all(float(r["scaled_dce_wrong_factor"]) < 0.1 * float(r["dse"]) for r in small)
