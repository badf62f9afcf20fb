"""Fig. 1b's table, run by the engine, against the chain rule on the JSON MK4 table and against run_protocol."""

from __future__ import annotations

import numpy as np

from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies import engine, fig1b_markov_conditional
from ctmc_lab.studies.protocol import run_protocol
from tests.figure_oracles import MK4


def test_fig1b_matches_protocol_and_chain_rule(tmp_path):
    mk4 = MK4()
    run = engine.run_study(fig1b_markov_conditional, out_dir=tmp_path, seed=5, progress=None, notes=None)
    t = engine.read_tables(run, fig1b_markov_conditional)["table"]
    settings = fig1b_markov_conditional.SETTINGS["small"]
    assert len(t["rank"]) == settings["pairs"]
    true = np.array([mk4.cond_nll(p, r) for p, r in zip(t["prompt"], t["response"])])
    np.testing.assert_allclose(t["true_nll"], true, rtol=0, atol=1e-11)
    np.testing.assert_allclose(t["exact_time_free"], true, rtol=0, atol=1e-10)
    # The same pairs, and the same Monte Carlo draws, as the issue-5 protocol.
    proto = run_protocol(
        markov4(),
        response_length=settings["response_length"],
        pairs=settings["pairs"],
        mc_samples=settings["mc_samples"],
        seed=5,
    )
    by_prompt = {p.prompt + p.response: p for p in proto.pairs}
    for prompt, response, mean in zip(t["prompt"], t["response"], t["mc_mean"]):
        assert abs(mean - by_prompt[prompt + response].mc.mean) < 1e-10
