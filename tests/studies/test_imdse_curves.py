"""Thm 3.1/3.2 curves against the brute-force KL and mdse of tests.bruteforce."""

from __future__ import annotations

import numpy as np

from ctmc_lab.forward import generators
from ctmc_lab.sources import datasets
from ctmc_lab.studies import imdse_curves
from tests import bruteforce
from tests.figure_oracles import (
    col,
    tabled,
)


def test_imdse_curves(tmp_path):
    dist = datasets.dirichlet(2, 3, alpha=1.0, rng=np.random.default_rng(7), alphabet="AB")
    res = imdse_curves.imdse_curves(dist=dist, n_points=5)
    rows = tabled(tmp_path, res, imdse_curves.COLUMNS)
    x0 = dist.encode(res.summary["sequence"])
    assert abs(res.summary["neg_log_p0"] - dist.nll(x0)) < 1e-15
    for kind in ("absorbing", "uniform"):
        gen = generators.absorbing(2) if kind == "absorbing" else generators.uniform(2)
        sub = [r for r in rows if r["process"] == kind]
        assert len(sub) == 5
        for r in sub[1::3]:
            s = float(r["sigma_bar"])
            assert abs(float(r["kl"]) - bruteforce.kl(dist, gen, s, x0)) < 1e-12
            mi = sum(p * bruteforce.kl(dist, gen, s, x) for x, p in zip(dist.support, dist.probs))
            assert abs(float(r["mutual_information"]) - mi) < 1e-12
            assert abs(float(r["mdse"]) - float(r["sigma"]) * bruteforce.mdse(dist, gen, s, x0)) < 1e-10
        # Theorem 3.1 in t: the exact rate is -mdse, pointwise and marginally.
        assert np.max(np.abs(col(sub, "kl_rate") + col(sub, "mdse"))) < 1e-10
        assert np.max(np.abs(col(sub, "mutual_information_rate") + col(sub, "mdse_marginal"))) < 1e-10
        # Theorem 3.2: the shaded areas are -log p0(x0) and H(p0).
        assert abs(res.summary[f"{kind}_area_pointwise"] - dist.nll(x0)) < 1e-9
        assert abs(res.summary[f"{kind}_area_marginal"] - dist.entropy()) < 1e-9
