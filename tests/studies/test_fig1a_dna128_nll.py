"""Fig. 1a's table, run by the engine, against the D128 JSON probabilities and the z-score definition."""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.studies import engine, fig1a_dna128_nll
from tests.figure_oracles import d128_probabilities


def test_fig1a(tmp_path):
    probs = d128_probabilities()
    run = engine.run_study(fig1a_dna128_nll, out_dir=tmp_path, seed=3, progress=None, notes=None)
    t = engine.read_tables(run, fig1a_dna128_nll)["table"]
    assert list(t)[1:] == [c.name for c in fig1a_dna128_nll.COLUMNS] and len(t["rank"]) == 128
    true = np.array([-math.log(probs[s]) for s in t["sequence"]])
    np.testing.assert_allclose(t["true_nll"], true, rtol=0, atol=1e-13)
    np.testing.assert_allclose(t["exact_time_free"], true, rtol=0, atol=1e-12)
    assert np.all(np.diff(true) >= 0), "rows are sorted by the true NLL"
    assert t["rank"].tolist() == list(range(1, 129))
    z = (t["mc_mean"] - true) / t["mc_stderr"]
    np.testing.assert_allclose(t["z_score"], z, atol=1e-9)
    assert np.all(t["mc_samples"] == fig1a_dna128_nll.SETTINGS["small"]["n_samples"])
    # 128 roughly normal z-scores: a broken estimator would drift far beyond this.
    assert np.mean(np.abs(z) < 1.96) > 0.85 and np.abs(z).max() < 5


def test_the_streams_are_those_of_the_seed_not_of_the_case_key():
    """Sequence j is estimated with the j-th generator spawned from SeedSequence(seed), as before the engine."""
    from ctmc_lab.estimation import estimators
    from ctmc_lab.sources import datasets
    from ctmc_lab.sources.denoisers import OptimalDenoiser

    case = fig1a_dna128_nll.cases("small")[0]
    rows = fig1a_dna128_nll.run_case(engine.Case(case.key, case.params, seed=4), rng=None)
    p = datasets.dna128()
    j = int(np.argsort(p.nll(p.support), kind="stable")[0])  # the support index of rank 1
    g = np.random.default_rng(np.random.SeedSequence(4).spawn(128)[j])
    want = estimators.time_free(OptimalDenoiser(p), p.support[j], n_samples=case["n_samples"], rng=g)
    assert rows[0]["sequence"] == p.decode(p.support[j]) and rows[0]["mc_mean"] == want.mean
