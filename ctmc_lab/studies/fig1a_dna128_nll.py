"""Paper Fig. 1a as a table: NLL of every D128 sequence, true vs exact time-free vs Monte Carlo (Thm 4.1).

``docs/theory.md`` §4.1, §7.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import estimators
from ctmc_lab.exact import decompositions
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import OptimalDenoiser
from ctmc_lab.studies._common import StudyResult, seeds

__all__ = ["COLUMNS", "fig1a_dna128_nll", "nll_summary"]

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; one row per support sequence.
COLUMNS = {
    "fig1a_dna128_nll": {
        "rank": "1..S, the rows sorted by increasing true NLL",
        "sequence": "the sequence, decoded",
        "probability": "p0(x0)",
        "true_nll": "-log p0(x0) from the table (nats)",
        "exact_time_free": "H_L Σ_I p(I) Σ_{i∉I} -log c*(x0^I) over all 2^L - 1 masks (nats; Thm 4.1)",
        "mc_mean": "time-free Monte Carlo mean (nats)",
        "mc_stderr": "its standard error (nats)",
        "mc_samples": "draws per sequence",
        "z_score": "(mc_mean - true_nll) / mc_stderr",
    }
}


def nll_summary(true, exact, mc_mean, mc_stderr) -> tuple[np.ndarray, dict]:
    """z-scores (MC − true)/se and the headline numbers of an NLL check (Fig. 1a and 1b)."""
    z = (mc_mean - true) / mc_stderr
    summary = {
        "max_abs_exact_minus_true": float(np.max(np.abs(exact - true))),
        "fraction_within_1.96se": float(np.mean(np.abs(z) < 1.96)),
        "max_abs_z": float(np.abs(z).max()),
    }
    return z, summary


def fig1a_dna128_nll(*, dist=None, n_samples: int = 2**15, seed: int = 0) -> StudyResult:
    """Paper Fig. 1a: NLL of every D128 sequence, true vs time-free MC vs exact enumeration.

    The time-free estimator (Thm 4.1, Eq. 15; ``docs/theory.md`` §4.1) runs with the optimal
    denoiser c* (:class:`~ctmc_lab.sources.denoisers.OptimalDenoiser`) at ``n_samples`` draws per
    sequence (2^15 as in the paper and ``eval_sequence.py``). "Exact" evaluates
    H_L Σ_I p(I) Σ_{i∉I} -log c*(x0^I) over all 2^L - 1 masks through the same denoiser
    (:func:`~ctmc_lab.exact.decompositions.time_free_exact`); "true" is -log p0(x0) from the table.

    Parameters
    ----------
    dist : JointDistribution, optional
        Default: the paper's D128 table.
    n_samples : int
    seed : int
        Sequence j uses the j-th generator spawned from ``SeedSequence(seed)``.

    Returns
    -------
    StudyResult
        Table ``fig1a_dna128_nll`` (``COLUMNS``); ``meta``: ``title`` and ``n_samples``.
    """
    n_samples = positive_int(n_samples, "n_samples", minimum=2)
    p = datasets.dna128() if dist is None else dist
    X = p.support
    true = p.nll(X)
    den = OptimalDenoiser(p)
    exact = decompositions.time_free_exact(den, X)
    mc = [estimators.time_free(den, x, n_samples=n_samples, rng=g) for x, g in zip(X, seeds(seed, len(X)))]
    mean = np.array([e.mean for e in mc])
    se = np.array([e.stderr for e in mc])
    order = np.argsort(true, kind="stable")
    z, summary = nll_summary(true[order], exact[order], mean[order], se[order])
    table = {
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
    meta = {
        "title": f"{p.name}: L = {p.length}, {p.support_size} sequences, optimal denoiser",
        "n_samples": n_samples,
    }
    return StudyResult("fig1a_dna128_nll", {"fig1a_dna128_nll": table}, summary, meta)
