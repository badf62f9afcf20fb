"""Exact single-draw variance of each unbiased sampler, and the exact bias of the audited variants.

``docs/theory.md`` §4.1, §6.1–6.3, §6.5, §8.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import moments
from ctmc_lab.estimation.registry import estimator_names
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import StudyResult, d128_tables

__all__ = ["COLUMNS", "compared_estimators", "sampler_comparison"]

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; rows per source sorted by true NLL.
#: ``{name}`` runs over :func:`compared_estimators`, in registry order.
COLUMNS = {
    "sampler_comparison": {
        "source": "d128 (the D128 table, c*) or mk4 (distinct stationary MK4 windows of length 8)",
        "sequence": "the sequence, decoded",
        "true_nll": "-log p0(x0) (nats)",
        "var_{name}": "exact Var of one draw of each unbiased sampler compared (nats²; inf for λ-DCE when some a_i > 0)",
        "var_importance": "exact Var of one draw under the oracle mask-size law q*_m ∝ sqrt(E[A² | m])/m (nats²)",
        "winner": "the unbiased runnable sampler of least variance (the first in registry order on a tie)",
        "bias_{name}": "exact E[g] - NLL of each biased sampler compared (nats)",
    }
}


def compared_estimators() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unbiased, audited): the registry's estimators this study compares, read when it runs.

    Unbiased: specs with ``compare``, unbiased, i.i.d. and runnable by name, whose exact moments
    need only the table (built in: time_free, k_dce, rb_lambda_dce, lambda_dce). Audited: specs
    with ``compare`` and ``biased`` (built in: the omit-full-mask samplers and the code's t-DCE).
    """
    unbiased = estimator_names(compare=True, biased=False, stratified=False, by_name=True, exact_moments=True)
    audited = estimator_names(compare=True, biased=True, by_name=True)
    return unbiased, audited


def sampler_comparison(*, n_windows: int = 128, seed: int = 0) -> StudyResult:
    """Exact single-draw variance of each unbiased sampler, and the bias of the audited variants.

    Unbiased (``docs/theory.md`` §4.1, §6.1–6.3, §6.5): time-free (P(m) ∝ 1/m, the paper), k-DCE
    (m uniform), Rao–Blackwellised λ-DCE, λ-DCE (infinite where some a_i > 0), any unbiased
    sampler a user registered, and the variance-optimal mask-size importance law
    q*_m ∝ sqrt(E[A² | m])/m — an oracle, since it needs the exact second moments. Audited (§8):
    the samplers of ``eval_llada.py`` (m = L never drawn) and ``eval_text8.py`` (also per-token
    means), and the code's t-DCE (truncated at ε_s = 1e-3, score log, loglinear(1e-3)). Which
    estimators are compared is :func:`compared_estimators`'s. Rows: the D128 table, and
    ``n_windows`` stationary MK4 windows of length 8.

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
        ``meta``: ``labels``, the description of each source, and ``unbiased`` and ``audited``,
        the estimator names of the columns.
    """
    n_windows = positive_int(n_windows, "n_windows")
    unbiased, audited = compared_estimators()
    if len(unbiased) < 1:
        raise ValueError("no unbiased estimator of the registry is compared (`compare=True`)")
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
    names = ("source", "sequence", "true_nll", *(f"var_{u}" for u in unbiased), "var_importance", "winner")
    cols = {k: [] for k in (*names, *(f"bias_{a}" for a in audited))}
    summary = {}
    for src, _, dist, X, A in sources:
        true = dist.nll(X)
        var = {u: np.array([m.variance for m in moments.estimator_moments(A, u, reference=true)]) for u in unbiased}
        var_is = np.array([moments.best_mask_size_weights(a)[1] for a in A])
        winner = np.array(unbiased)[np.argmin(np.stack([var[u] for u in unbiased]), axis=0)]
        bias = {a: moments.exact_mean(A, a) - true for a in audited}
        order = np.argsort(true, kind="stable")
        summary[f"{src}_winners"] = {u: int((winner == u).sum()) for u in unbiased}
        summary[f"{src}_mean_bias"] = {a: float(np.mean(bias[a])) for a in audited}
        for key, val in (
            ("source", np.full(len(X), src)),
            ("sequence", np.array(dist.decode(X))),
            ("true_nll", true),
            *((f"var_{u}", var[u]) for u in unbiased),
            ("var_importance", var_is),
            ("winner", winner),
            *((f"bias_{a}", bias[a]) for a in audited),
        ):
            cols[key].append(np.asarray(val)[order])
    table = {k: np.concatenate(v) for k, v in cols.items()}
    meta = {"labels": {src: label for src, label, *_ in sources}, "unbiased": unbiased, "audited": audited}
    return StudyResult("sampler_comparison", {"sampler_comparison": table}, summary, meta)
