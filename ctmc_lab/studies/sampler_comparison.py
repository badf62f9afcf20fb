"""Exact single-draw variance of each unbiased sampler, and the exact bias of the audited variants.

``docs/theory.md`` §4.1, §6.1–6.3, §6.5, §8.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import moments
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sequences import popcount
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import StudyResult, d128_tables

__all__ = ["AUDITED", "COLUMNS", "UNBIASED", "sampler_comparison"]

#: The unbiased samplers compared (``winner`` is the one of least variance among them).
UNBIASED = ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce")
#: The audited variants of the official code (§8), whose bias is tabulated.
AUDITED = ("omit_full_mask", "omit_full_mask_token_mean", "t_dce")

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; rows per source sorted by true NLL.
COLUMNS = {
    "sampler_comparison": {
        "source": "d128 (the D128 table, c*) or mk4 (distinct stationary MK4 windows of length 8)",
        "sequence": "the sequence, decoded",
        "true_nll": "-log p0(x0) (nats)",
        **{f"var_{u}": f"exact Var of one {u} draw (nats²; inf for λ-DCE when some a_i > 0)" for u in UNBIASED},
        "var_importance": "exact Var of one draw under the oracle mask-size law q*_m ∝ sqrt(E[A² | m])/m (nats²)",
        "winner": "the unbiased runnable sampler of least variance",
        **{f"bias_{a}": f"exact E[g] - NLL of {a} (nats)" for a in AUDITED},
    }
}


def _t_dce_means(A: np.ndarray, schedule) -> np.ndarray:
    """Exact mean of the code's t-DCE for a batch of tables, by linearity in the level sums.

    E[g] = c_0 + Σ_m c_m S1_m(A), with S1_m the sum of A over masks of size m; the
    coefficients come from :func:`~ctmc_lab.estimation.moments.t_estimator_moments` on n + 1 basis
    tables (one quadrature each instead of one per sequence).
    """
    nb = int(np.log2(A.shape[-1]))
    size = popcount(np.arange(1 << nb))
    zero = np.zeros(1 << nb)
    c0 = moments.t_estimator_moments(zero, schedule=schedule).mean
    coef = np.zeros(nb + 1)
    for m in range(1, nb + 1):
        basis = (size == m).astype(float)
        coef[m] = (moments.t_estimator_moments(basis, schedule=schedule).mean - c0) / basis.sum()
    return c0 + A @ coef[size]


def sampler_comparison(*, n_windows: int = 128, seed: int = 0) -> StudyResult:
    """Exact single-draw variance of each unbiased sampler, and the bias of the audited variants.

    Unbiased (``docs/theory.md`` §4.1, §6.1–6.3, §6.5): time-free (P(m) ∝ 1/m, the paper), k-DCE
    (m uniform), Rao–Blackwellised λ-DCE, λ-DCE (infinite where some a_i > 0), and the
    variance-optimal mask-size importance law q*_m ∝ sqrt(E[A² | m])/m — an oracle, since it
    needs the exact second moments. Audited (§8): the samplers of ``eval_llada.py`` (m = L never
    drawn) and ``eval_text8.py`` (also per-token means), and the code's t-DCE (truncated at
    ε_s = 1e-3, score log, loglinear(1e-3)). Rows: the D128 table, and ``n_windows`` stationary
    MK4 windows of length 8.

    Parameters
    ----------
    n_windows : int
        MK4 windows drawn (duplicates are dropped).
    seed : int

    Returns
    -------
    StudyResult
        Table ``sampler_comparison`` (``COLUMNS``); ``summary``: ``{source}_winners``
        (counts per unbiased sampler) and ``{source}_mean_bias`` (per audited variant);
        ``meta``: ``labels``, the description of each source.
    """
    n_windows = positive_int(n_windows, "n_windows")
    p = datasets.dna128()
    A_d, _ = d128_tables(p)
    ch = markov4()
    joint = ch.joint(8)
    W = np.unique(ch.sample(8, n=n_windows, rng=np.random.default_rng(seed)), axis=0)
    A_w = optimal_mask_dce(joint, W)
    sources = [
        ("d128", "D128 (c*)", p, p.support, A_d),
        ("mk4", f"MK4 windows, L = 8 ({len(W)} distinct)", joint, W, A_w),
    ]
    cols = {k: [] for k in COLUMNS["sampler_comparison"]}
    summary = {}
    sched = Loglinear(1e-3)
    for src, _, dist, X, A in sources:
        true = dist.nll(X)
        mom = {u: moments.all_moments(A, names=(u,), reference=true) for u in UNBIASED + AUDITED[:2]}
        var = {u: np.array([m[u].variance for m in mom[u]]) for u in UNBIASED}
        comp = [moments.compare_samplers(a) for a in A]
        var_is = np.array([c.best_mask_size_variance for c in comp])
        winner = np.array([c.winner for c in comp])
        bias = {a: np.array([m[a].bias for m in mom[a]]) for a in AUDITED[:2]}
        bias["t_dce"] = _t_dce_means(A, sched) - true
        order = np.argsort(true, kind="stable")
        summary[f"{src}_winners"] = {u: int((winner == u).sum()) for u in UNBIASED}
        summary[f"{src}_mean_bias"] = {a: float(np.mean(bias[a])) for a in AUDITED}
        for key, val in (
            ("source", np.full(len(X), src)),
            ("sequence", np.array(dist.decode(X))),
            ("true_nll", true),
            *((f"var_{u}", var[u]) for u in UNBIASED),
            ("var_importance", var_is),
            ("winner", winner),
            *((f"bias_{a}", bias[a]) for a in AUDITED),
        ):
            cols[key].append(np.asarray(val)[order])
    table = {k: np.concatenate(v) for k, v in cols.items()}
    meta = {"labels": {src: label for src, label, *_ in sources}}
    return StudyResult("sampler_comparison", {"sampler_comparison": table}, summary, meta)
