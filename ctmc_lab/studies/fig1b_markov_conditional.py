"""Paper Fig. 1b as a table: the MK4 prompt–response protocol, true vs exact vs Monte Carlo (Cor. 4.3).

``docs/theory.md`` §4.2, §7.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab import masks
from ctmc_lab._validation import positive_int
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies._common import StudyResult, seeds
from ctmc_lab.studies.fig1a_dna128_nll import nll_summary
from ctmc_lab.studies.protocol import MC_SAMPLES, score_pair

__all__ = ["COLUMNS", "fig1b_markov_conditional"]

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; one row per pair.
COLUMNS = {
    "fig1b_markov_conditional": {
        "rank": "1..pairs, the rows sorted by increasing true NLL",
        "pair": "index of the pair in the protocol (its spawned generator)",
        "prompt": "the prompt, decoded",
        "response": "the response, decoded",
        "true_nll": "-Σ_j log P(y_j | context_j), the chain rule (nats)",
        "exact_time_free": "Cor. 4.3 over all 2^R - 1 response masks with H_R (nats)",
        "mc_mean": "time-free Monte Carlo mean (nats)",
        "mc_stderr": "its standard error (nats)",
        "mc_samples": "draws per pair",
        "z_score": "(mc_mean - true_nll) / mc_stderr",
    }
}


def fig1b_markov_conditional(
    *,
    chain: MarkovChain | None = None,
    pairs: int = 64,
    prompt_length: int = 16,
    response_length: int = 16,
    mc_samples: int = MC_SAMPLES,
    seed: int = 0,
) -> StudyResult:
    """Paper Fig. 1b: conditional NLL of MK4 prompt–response pairs, true vs exact vs time-free MC.

    The pairs are those of :func:`ctmc_lab.studies.protocol.run_protocol` with the same ``seed``
    (pair j from the j-th spawned generator: a stationary prompt, then the response), scored by
    the same :func:`~ctmc_lab.studies.protocol.score_pair`. "True" is the chain rule
    Σ_j -log P(y_j | context_j); "exact" is Cor. 4.3 over all 2^R - 1 response masks with H_R
    (``docs/theory.md`` §4.2), its A-table computed from the subset log-evidence (a route
    independent of the protocol's forward–backward tries); the MC estimate is the time-free
    estimator with ``mc_samples`` draws (2^13, the code's MC_NUM) drawn with the same generator
    as the protocol's.

    Parameters
    ----------
    chain : MarkovChain, optional
        Default: the paper's MK4 table.
    pairs, prompt_length, response_length : int
        64, 16 and 16 in the paper (``prompt_length`` ≥ the chain's order).
    mc_samples : int
        Time-free draws per pair.
    seed : int

    Returns
    -------
    StudyResult
        Table ``fig1b_markov_conditional`` (``COLUMNS``); ``meta``: ``title`` and ``n_samples``.
    """
    ch = markov4() if chain is None else chain
    pairs = positive_int(pairs, "pairs")
    prompt_length = positive_int(prompt_length, "prompt_length", minimum=ch.order)
    response_length = positive_int(response_length, "response_length")
    mc_samples = positive_int(mc_samples, "mc_samples", minimum=2)
    rows = []
    for g in seeds(seed, pairs):
        s = score_pair(
            ch, g, prompt_length=prompt_length, response_length=response_length, mc_samples=mc_samples, method="subset"
        )
        rows.append(
            (
                ch.decode(s.prompt),
                ch.decode(s.response),
                s.true_nll,
                float(masks.imdce_sum(s.table)),
                s.mc.mean,
                s.mc.stderr,
            )
        )
    prompt_s, response_s, true, exact, mean, se = (np.array(c) for c in zip(*rows))
    true, exact, mean, se = (a.astype(float) for a in (true, exact, mean, se))
    order = np.argsort(true, kind="stable")
    z, summary = nll_summary(true[order], exact[order], mean[order], se[order])
    table = {
        "rank": np.arange(1, pairs + 1),
        "pair": order,
        "prompt": prompt_s[order],
        "response": response_s[order],
        "true_nll": true[order],
        "exact_time_free": exact[order],
        "mc_mean": mean[order],
        "mc_stderr": se[order],
        "mc_samples": np.full(pairs, mc_samples),
        "z_score": z,
    }
    meta = {
        "title": f"MK4: prompt {prompt_length} + response {response_length}, {pairs} pairs, $H_{{{response_length}}}$",
        "n_samples": mc_samples,
    }
    return StudyResult("fig1b_markov_conditional", {"fig1b_markov_conditional": table}, summary, meta)
