"""conditional-balance rows against the conditional tables and a brute-force chain-rule twin."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctmc_lab.estimation import conditional, moments
from ctmc_lab.studies import conditional_balance as cb
from ctmc_lab.studies import engine
from ctmc_lab.studies import length_scaling as ls
from tests.studies.test_sampler_atlas import bf_scheme_variance


def bf_conditional_nll(chain, x, c):
    """Twin of -log p(x^T | x^C): enumerate every window of length L sharing x's context, from the chain
    rule with the stationary pre-context (``chain.log_prob``), and take the ratio of sums."""
    L = x.shape[0]
    full = float(np.exp(chain.log_prob(x)))
    ctx_total = sum(
        float(np.exp(chain.log_prob(np.array([*x[:c], *tail]))))
        for tail in itertools.product(range(chain.n_tokens), repeat=L - c)
    )
    return -np.log(full / ctx_total)


@pytest.mark.parametrize("key", ["binary-k2/c=04/n=04/seed=0", "mk4/c=00/n=04/seed=0"])
def test_rows_match_conditional_tables_and_brute_force(key):
    case = next(c for c in cb.cases("small") if c.key == key)
    rows = cb.run_case(case, rng=np.random.default_rng(engine.case_seed(0, key)))
    rng = np.random.default_rng(engine.case_seed(0, key))
    chain = ls.markov_source(case["chain"], rng)
    X = chain.sample(case["context_length"] + case["target_length"], n=len(rows), rng=rng)
    n = case["target_length"]
    H = sum(1 / k for k in range(1, n + 1))
    for x, row in zip(X, rows):
        A = conditional.conditional_mask_dce(
            chain,
            x,
            target=list(range(case["context_length"], x.size)),
            context=list(range(case["context_length"])) or None,
        )
        assert row["var_k_dce"] == moments.estimator_moments(A, "k_dce").variance
        assert row["nll"] == pytest.approx(bf_conditional_nll(chain, x, case["context_length"]), rel=1e-11)
        tf = bf_scheme_variance(A, [0.0] + [1 / (m * H) for m in range(1, n + 1)])
        assert row["var_time_free"] == pytest.approx(tf, rel=1e-11)


def test_grids_respect_the_trie_limit():
    full = cb.cases("full")
    assert max(c["target_length"] for c in full if c["chain"] == "mk4") == 18
    assert max(c["target_length"] for c in full if c["chain"] == "binary-k2") == 20
