"""Paper Fig. 1a as a study: NLL of every D128 sequence, true vs exact time-free vs Monte Carlo (Thm 4.1).

One case, one table (``COLUMNS``), one row per support sequence. The time-free estimator
(Thm 4.1, Eq. 15; ``docs/theory.md`` §4.1, §7) runs with the optimal denoiser c*
(:class:`~ctmc_lab.sources.denoisers.OptimalDenoiser`) at ``n_samples`` draws per sequence (2^15
in the ``full`` grid, as in the paper and ``eval_sequence.py``); sequence j draws from the j-th
generator spawned from ``SeedSequence(seed)``. "Exact" evaluates H_L Σ_I p(I) Σ_{i∉I} -log c*(x0^I)
over all 2^L - 1 masks through the same denoiser
(:func:`~ctmc_lab.exact.decompositions.time_free_exact`); "true" is -log p0(x0) from the table.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import estimators
from ctmc_lab.exact import decompositions
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import OptimalDenoiser
from ctmc_lab.studies._common import grid_cases, rows_of, seeds
from ctmc_lab.studies.engine import Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "nll_table",
    "nll_summary",
    "nll_headline",
]

NAME = "fig1a-dna128-nll"
#: ``ctmc-lab figures`` draws the paper's sizes.
FIGURE_GRID = "full"
#: The parameters of each grid: ``full`` is the paper's.
SETTINGS = {"small": {"n_samples": 256}, "full": {"n_samples": 2**15}}

#: One row per support sequence.
COLUMNS = (
    Column("rank", "int", "1..S, the rows sorted by increasing true NLL"),
    Column("sequence", "str", "the sequence, decoded"),
    Column("probability", "float", "p0(x0)"),
    Column("true_nll", "float", "-log p0(x0) from the table (nats)"),
    Column("exact_time_free", "float", "H_L Σ_I p(I) Σ_{i∉I} -log c*(x0^I) over all 2^L - 1 masks (nats; Thm 4.1)"),
    Column("mc_mean", "float", "time-free Monte Carlo mean (nats)"),
    Column("mc_stderr", "float", "its standard error (nats)"),
    Column("mc_samples", "int", "draws per sequence"),
    Column("z_score", "float", "(mc_mean - true_nll) / mc_stderr"),
)


cases = grid_cases(NAME, SETTINGS)


def estimate_seconds(case: Case) -> float:
    """About 0.5 µs per time-free draw of 128 sequences, plus 0.3 s (measured, 1 core)."""
    return 0.3 + 5e-7 * 128 * case["n_samples"]


def nll_summary(true, exact, mc_mean, mc_stderr) -> tuple[np.ndarray, dict]:
    """z-scores (MC − true)/se and the headline numbers of an NLL check (Fig. 1a and 1b).

    A sequence whose draws are all equal (se = 0: a point mass) has z = 0 when its mean is the
    true NLL and ±inf otherwise, never the NaN of 0/0."""
    gap = np.asarray(mc_mean, dtype=float) - np.asarray(true, dtype=float)
    se = np.asarray(mc_stderr, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, gap / np.where(se > 0, se, 1.0), np.where(gap == 0, 0.0, np.sign(gap) * np.inf))
    summary = {
        "max_abs_exact_minus_true": float(np.max(np.abs(exact - true))),
        "fraction_within_1.96se": float(np.mean(np.abs(z) < 1.96)),
        "max_abs_z": float(np.abs(z).max()),
    }
    return z, summary


def nll_table(p, n_samples: int, seed) -> dict:
    """The table of ``COLUMNS`` for every support sequence of the joint ``p`` (sequence j seeded by spawn j)."""
    n_samples = positive_int(n_samples, "n_samples", minimum=2)
    X = p.support
    true = p.nll(X)
    den = OptimalDenoiser(p)
    exact = decompositions.time_free_exact(den, X)
    mc = [estimators.time_free(den, x, n_samples=n_samples, rng=g) for x, g in zip(X, seeds(seed, len(X)))]
    mean = np.array([e.mean for e in mc])
    se = np.array([e.stderr for e in mc])
    order = np.argsort(true, kind="stable")
    z, _ = nll_summary(true[order], exact[order], mean[order], se[order])
    return {
        "rank": np.arange(1, len(X) + 1),
        "sequence": np.array(p.decode(X[order])),
        "probability": p.probs[order],
        "true_nll": true[order],
        "exact_time_free": exact[order],
        "mc_mean": mean[order],
        "mc_stderr": se[order],
        "mc_samples": np.full(len(X), n_samples),
        "z_score": z,
    }


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of ``COLUMNS`` on the paper's D128 table (``rng`` unused: the streams are spawned from ``case.seed``)."""
    return rows_of(nll_table(datasets.dna128(), case["n_samples"], case.seed))


def nll_headline(name: str, what: str, table: dict) -> str:
    """One line: the rows, the largest |exact − true| and the share of Monte Carlo estimates within 1.96 se."""
    _, s = nll_summary(table["true_nll"], table["exact_time_free"], table["mc_mean"], table["mc_stderr"])
    return (
        f"{name}: {len(table['rank'])} {what}; max |exact - true| = {s['max_abs_exact_minus_true']:.3g} nats, "
        f"{s['fraction_within_1.96se']:.0%} of MC within 1.96 se, max |z| = {s['max_abs_z']:.3g}"
    )


def summarize(table: dict) -> str:
    """The largest |exact − true| and the share of Monte Carlo estimates within 1.96 standard errors."""
    return nll_headline(NAME, "sequences", table)
