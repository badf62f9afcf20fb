"""Lemma 3.3's table, run by the engine, against c* built from explicit pattern sums."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.sources import datasets
from ctmc_lab.studies import dse_dce_equivalence, engine
from tests.figure_oracles import pattern_prob


def test_dse_dce_equivalence(tmp_path):
    run = engine.run_study(dse_dce_equivalence, out_dir=tmp_path, seed=11, progress=None, notes=None)
    t = engine.read_tables(run, dse_dce_equivalence)["table"]
    # The source: Dirichlet(1) on 3 symbols and 4 positions drawn with the study seed; x0 its mode.
    dist = datasets.dirichlet(3, 4, alpha=1.0, rng=np.random.default_rng(11), alphabet="ABC")
    table = dict(zip(dist.decode(dist.support), dist.probs))
    x0 = dist.decode(dist.support[np.argmax(dist.probs)])
    # c* at x = x0 masked on {0, 2}: each masked site conditioned on the visible sites 1 and 3.
    cond = {i: pattern_prob(table, x0, [1, 3, i]) / pattern_prob(table, x0, [1, 3]) for i in (0, 2)}
    w = dse_dce_equivalence.SETTINGS["small"]["mix_weight"]
    dce_opt = -sum(math.log(c) for c in cond.values())
    dce_mix = -sum(math.log((1 - w) * c + w / 3) for c in cond.values())
    eps = 1e-3
    for name, t_, dce, scaled, rel, dse, wrong in zip(
        *(t[k] for k in ("denoiser", "t", "dce", "scaled_dce", "rel_residual", "dse", "scaled_dce_wrong_factor"))
    ):
        want = dce_opt if name.startswith("optimal") else dce_mix
        assert abs(dce - want) < 1e-12
        sb = -math.log(1 - (1 - eps) * t_)
        sig = (1 - eps) / (1 - (1 - eps) * t_)
        assert abs(scaled - sig / math.expm1(sb) * want) < 1e-10 * (1 + sig / math.expm1(sb))
        assert rel < 1e-12  # Lemma 3.3
        if t_ < 1e-2:  # the control with sigma_bar in place of sigma is off by orders of magnitude
            assert wrong < 0.1 * dse
    assert set(t["denoiser"]) == {"optimal c*", f"mixture, w = {w}"}
