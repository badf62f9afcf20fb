"""The LLaDA audit tables: zero bias wherever the count law is uniform, the D128 bias at the defaults,
the fixed rule's variance, and a seeded MK4 ranking flip checked against the conditional NLL."""

from __future__ import annotations

import numpy as np
import pytest

from ctmc_lab.estimation import conditional, llada
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies import engine, llada_audit


def test_bias_table_matches_count_law_sum():
    """bias_table's entries are (★) Σ_m (n w̄(m) - 1) μ_m/m, summed here from count_law directly."""
    rng = np.random.default_rng(3)
    mu = {5: rng.uniform(0.5, 2.0, size=(3, 5))}
    t = llada_audit.bias_table(mu, [1, 2, 3, 4], source="toy")
    for b, lo, mean in zip(t["b"], t["bias_min"], t["bias_mean"]):
        w = llada.count_law(5, int(b)).mean(axis=0)
        bias = ((5 * w - 1.0) * mu[5] / np.arange(1, 6)).sum(axis=1)
        assert abs(mean - bias.mean()) < 1e-12 and abs(lo - bias.min()) < 1e-12
    c = llada_audit.count_audit(6, [1, 4])
    for n, b, dev in zip(c["n"], c["b"], c["max_deviation"]):
        assert abs(dev - np.abs(n * llada.count_law(int(n), int(b)).mean(axis=0) - 1).max()) < 1e-12


def test_llada_audit_tables(tmp_path):
    run = engine.run_study(llada_audit, out_dir=tmp_path, progress=None, notes=None)
    assert [p.rsplit("/", 1)[-1] for p in run.table_paths.values()] == [
        "llada-audit.csv",
        "llada-audit.counts.csv",
        "llada-audit.variance.csv",
    ]
    tables = engine.read_tables(run, llada_audit)
    t, c, v = tables["table"], tables["counts"], tables["variance"]
    d16 = (t["source"] == "dna128") & (t["b"] == 16)
    assert t["bias_mean"][d16][0] == pytest.approx(0.360796, abs=1e-6)
    # a (n, b) with a uniform count law has zero bias on every source
    uniform = {(n, b) for n, b, u in zip(c["n"], c["b"], c["uniform"]) if u}
    for n, b, lo, hi in zip(t["n"], t["b"], t["bias_min"], t["bias_max"]):
        if (n, b) in uniform:
            assert abs(lo) < 1e-12 and abs(hi) < 1e-12
    assert np.all(v["var_fixed"] <= v["var_k_dce"] + 1e-12)
    small = llada_audit.SETTINGS["small"]
    assert int(c["n"].max()) == small["n_max"] and set(t["source"]) == {
        "dna128",
        "dna128_like",
        "mk4_pairs",
        "mk1_pairs",
    }
    assert np.all(t["sequences"][t["source"] == "mk4_pairs"] == small["mk4_pairs"])


def test_ranking_flip_on_mk4():
    flip = llada_audit.find_ranking_flip(markov4(), lengths=(8, 9), candidates=128, prompts=8)
    assert flip is not None and flip.flipped
    assert (flip.prompt, flip.answer_a, flip.answer_b) == ("ATTAAGTGACCCAGGG", "GAGCGGGC", "TGGACCTAC")  # README
    assert flip.nll_a < flip.nll_b and flip.llada_a.mean > flip.llada_b.mean
    chain = markov4()
    for y, n, m in ((flip.answer_a, 8, flip.llada_a), (flip.answer_b, 9, flip.llada_b)):
        x = flip.prompt + y
        truth = conditional.conditional_nll(chain, x, target=range(16, 16 + n), context=range(16))
        assert abs(m.mean - m.bias - truth) < 1e-10
        A = conditional.conditional_mask_dce(chain, x, target=range(16, 16 + n), context=range(16))
        fixed = llada.llada_moments(A, rule="fixed", reference=truth)
        assert abs(fixed.bias) < 1e-12  # the fix ranks them as the truth does
