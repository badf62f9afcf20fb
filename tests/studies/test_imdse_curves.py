"""Thm 3.1/3.2 curves and areas, run by the engine, against the brute-force KL and mdse of tests.bruteforce."""

from __future__ import annotations

import numpy as np

from ctmc_lab.forward import generators
from ctmc_lab.sources import datasets
from ctmc_lab.studies import engine, imdse_curves
from tests import bruteforce


def test_imdse_curves(tmp_path):
    run = engine.run_study(imdse_curves, out_dir=tmp_path, seed=7, progress=None, notes=None)
    tables = engine.read_tables(run, imdse_curves)
    t, areas = tables["table"], tables["areas"]
    # The source: Dirichlet(1) on 3 symbols and 3 positions drawn with the study seed, x0 of median probability.
    dist = datasets.dirichlet(3, 3, alpha=1.0, rng=np.random.default_rng(7), alphabet="ABC")
    x0 = dist.encode(areas["sequence"][0])
    assert sorted(dist.probs).index(float(dist.prob(x0))) == dist.support_size // 2
    n_points = imdse_curves.SETTINGS["small"]["n_points"]
    for i, kind in enumerate(areas["process"]):
        gen = generators.absorbing(3) if kind == "absorbing" else generators.uniform(3)
        sel = t["process"] == kind
        assert sel.sum() == n_points
        for s, sig, kl, mi, mdse in zip(
            *(t[k][sel][1::3] for k in ("sigma_bar", "sigma", "kl", "mutual_information", "mdse"))
        ):
            assert abs(kl - bruteforce.kl(dist, gen, s, x0)) < 1e-12
            want = sum(p * bruteforce.kl(dist, gen, s, x) for x, p in zip(dist.support, dist.probs))
            assert abs(mi - want) < 1e-12
            assert abs(mdse - sig * bruteforce.mdse(dist, gen, s, x0)) < 1e-10
        # Theorem 3.1 in t: the exact rate is -mdse, pointwise and marginally.
        assert imdse_curves.rate_residual(t, kind) < 1e-10
        assert np.max(np.abs(t["kl_rate"][sel] + t["mdse"][sel])) < 1e-10
        # Theorem 3.2: the areas are -log p0(x0) and H(p0).
        assert abs(areas["neg_log_p0"][i] + np.log(dist.prob(x0))) < 1e-14
        assert abs(areas["area_pointwise"][i] - dist.nll(x0)) < 1e-9
        assert abs(areas["area_marginal"][i] - dist.entropy()) < 1e-9
