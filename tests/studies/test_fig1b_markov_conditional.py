"""Fig. 1b's table against the chain rule on the JSON MK4 table and against run_protocol."""

from __future__ import annotations

import numpy as np

from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies import fig1b_markov_conditional
from ctmc_lab.studies.protocol import run_protocol
from tests.figure_oracles import (
    MK4,
    col,
    tabled,
)


def test_fig1b_matches_protocol_and_chain_rule(tmp_path):
    mk4 = MK4()
    res = fig1b_markov_conditional.fig1b_markov_conditional(pairs=3, response_length=6, mc_samples=256, seed=5)
    rows = tabled(tmp_path, res, fig1b_markov_conditional.COLUMNS)
    true = np.array([mk4.cond_nll(r["prompt"], r["response"]) for r in rows])
    np.testing.assert_allclose(col(rows, "true_nll"), true, rtol=0, atol=1e-11)
    np.testing.assert_allclose(col(rows, "exact_time_free"), true, rtol=0, atol=1e-10)
    # The same pairs, and the same Monte Carlo draws, as the issue-5 protocol.
    proto = run_protocol(markov4(), response_length=6, pairs=3, mc_samples=256, seed=5)
    by_prompt = {p.prompt + p.response: p for p in proto.pairs}
    for r in rows:
        p = by_prompt[r["prompt"] + r["response"]]
        assert abs(float(r["mc_mean"]) - p.mc.mean) < 1e-10
