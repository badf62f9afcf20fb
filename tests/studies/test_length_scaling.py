"""length-scaling rows and the growth-law fit."""

from __future__ import annotations

import numpy as np
import pytest

from ctmc_lab.estimation import moments
from ctmc_lab.studies import engine
from ctmc_lab.studies import length_scaling as ls
from tests.studies.test_sampler_atlas import bf_scheme_variance


def test_rows_match_the_exact_functions_and_enumeration():
    key = "binary-k2/L=06"
    case = next(c for c in ls.cases("small") if c.key == key)
    rows = ls.run_case(case, rng=np.random.default_rng(engine.case_seed(0, key)))
    chain = ls.markov_source("binary-k2", np.random.default_rng(list(b"binary-k2")))
    X = chain.sample(6, n=len(rows), rng=np.random.default_rng(engine.case_seed(0, key)))
    for x, row in zip(X, rows):
        A = chain.mask_dce_table(x, list(range(6)))
        assert row["nll"] == pytest.approx(float(chain.nll(x)), rel=1e-12)
        assert row["var_rb_lambda_dce"] == moments.estimator_moments(A, "rb_lambda_dce").variance
        assert row["var_k_dce"] == pytest.approx(bf_scheme_variance(A, [0.0] + [1 / 6] * 6), rel=1e-11)
        # The log(1/δ) coefficient of λ-DCE's truncated second moment is Σ_i a_i² (§6.3).
        assert row["lambda_dce_slope"] == pytest.approx(float(np.sum(A[1 << np.arange(6)] ** 2)), rel=1e-12)


def test_growth_law_recovers_a_power_law():
    L = np.arange(2, 21)
    c, beta = ls.growth_law(L, 0.3 * L**2.5)
    assert c == pytest.approx(0.3, rel=1e-10) and beta == pytest.approx(2.5, rel=1e-12)
    assert np.isnan(ls.growth_law([4, 4], [1.0, 2.0])[1])


def test_same_chain_at_every_length():
    a = ls.run_case(ls.cases("small")[0], rng=1)
    assert a and all(r["chain"] == ls.cases("small")[0]["chain"] for r in a)
    assert max(c["L"] for c in ls.cases("full") if c["chain"] == "mk4") == 18
    assert max(c["L"] for c in ls.cases("full")) == 20
