"""Paper Fig. 1b as a study: the MK4 prompt–response protocol, true vs exact vs Monte Carlo (Cor. 4.3).

One case, one table (``COLUMNS``), one row per pair. The pairs are those of
:func:`ctmc_lab.studies.protocol.run_protocol` with the same seed (pair j from the j-th generator
spawned from ``SeedSequence(seed)``: a stationary prompt, then the response), scored by the same
:func:`~ctmc_lab.studies.protocol.score_pair`. "True" is the chain rule Σ_j -log P(y_j | context_j);
"exact" is Cor. 4.3 over all 2^R - 1 response masks with H_R (``docs/theory.md`` §4.2), its A-table
computed from the subset log-evidence (a route independent of the protocol's forward–backward
tries); the MC estimate is the time-free estimator with ``mc_samples`` draws (2^13, the code's
MC_NUM) drawn with the same generator as the protocol's. The ``full`` grid is the paper's: 64
pairs, prompt 16, response 16.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab import masks
from ctmc_lab._validation import positive_int
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import grid_cases, rows_of, seeds
from ctmc_lab.studies.engine import Case, Column
from ctmc_lab.studies.fig1a_dna128_nll import nll_headline, nll_summary
from ctmc_lab.studies.protocol import MC_SAMPLES, score_pair

__all__ = ["NAME", "COLUMNS", "SETTINGS", "cases", "run_case", "estimate_seconds", "summarize"]

NAME = "fig1b-markov-conditional"
#: ``ctmc-lab figures`` draws the paper's sizes.
FIGURE_GRID = "full"
#: The parameters of each grid: ``full`` is the paper's protocol.
SETTINGS = {
    "small": {"pairs": 3, "prompt_length": 16, "response_length": 6, "mc_samples": 256},
    "full": {"pairs": 64, "prompt_length": 16, "response_length": 16, "mc_samples": MC_SAMPLES},
}

#: One row per pair.
COLUMNS = (
    Column("rank", "int", "1..pairs, the rows sorted by increasing true NLL"),
    Column("pair", "int", "index of the pair in the protocol (its spawned generator)"),
    Column("prompt", "str", "the prompt, decoded"),
    Column("response", "str", "the response, decoded"),
    Column("true_nll", "float", "-Σ_j log P(y_j | context_j), the chain rule (nats)"),
    Column("exact_time_free", "float", "Cor. 4.3 over all 2^R - 1 response masks with H_R (nats)"),
    Column("mc_mean", "float", "time-free Monte Carlo mean (nats)"),
    Column("mc_stderr", "float", "its standard error (nats)"),
    Column("mc_samples", "int", "draws per pair"),
    Column("z_score", "float", "(mc_mean - true_nll) / mc_stderr"),
)


cases = grid_cases(NAME, SETTINGS)


def estimate_seconds(case: Case) -> float:
    """About 3 µs per response mask and 1 µs per draw of each pair, plus 0.2 s (measured, 1 core)."""
    return 0.2 + case["pairs"] * (3e-6 * 2 ** case["response_length"] + 1e-6 * case["mc_samples"])


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of ``COLUMNS`` on MK4 (``rng`` unused: the pairs are spawned from ``case.seed``)."""
    ch = markov4()
    pairs = positive_int(case["pairs"], "pairs")
    prompt_length = positive_int(case["prompt_length"], "prompt_length", minimum=ch.order)
    response_length = positive_int(case["response_length"], "response_length")
    mc_samples = positive_int(case["mc_samples"], "mc_samples", minimum=2)
    rows = []
    for g in seeds(case.seed, pairs):
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
    z, _ = nll_summary(true[order], exact[order], mean[order], se[order])
    return rows_of(
        {
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
    )


def summarize(table: dict) -> str:
    """The largest |exact − true| and the share of Monte Carlo estimates within 1.96 standard errors."""
    return nll_headline(NAME, "pairs", table)
