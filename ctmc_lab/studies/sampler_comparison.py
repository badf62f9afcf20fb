"""Exact single-draw variance of each unbiased sampler, and the exact bias of the audited variants, as a study.

``docs/theory.md`` §4.1, §6.1–6.3, §6.5, §8. Unbiased: time-free (P(m) ∝ 1/m, the paper), k-DCE
(m uniform), Rao–Blackwellised λ-DCE, λ-DCE (infinite where some a_i > 0), any unbiased sampler a
user registered, and the variance-optimal mask-size importance law q*_m ∝ sqrt(E[A² | m])/m — an
oracle, since it needs the exact second moments. Audited (§8): the samplers of ``eval_llada.py``
(m = L never drawn) and ``eval_text8.py`` (also per-token means), and the code's t-DCE
(truncated at ε_s = 1e-3, score log, loglinear(1e-3)). Which estimators are compared is
:func:`compared_estimators`'s, read from the registry when the study runs, so ``COLUMNS`` is too.
Rows: the D128 table, and ``n_windows`` stationary MK4 windows of length 8 (drawn with the study
seed; duplicates dropped), each sorted by true NLL. One case, one table.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import moments
from ctmc_lab.estimation.registry import estimator_names
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import markov4
from ctmc_lab.studies._common import d128_tables, grid_cases
from ctmc_lab.studies.engine import Case, Column

__all__ = [
    "NAME",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "compared_estimators",
    "table_estimators",
]

NAME = "sampler-comparison"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: the MK4 windows drawn.
SETTINGS = {"small": {"n_windows": 8}, "full": {"n_windows": 128}}


def compared_estimators() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unbiased, audited): the registry's estimators this study compares, read when it runs.

    Unbiased: specs with ``compare``, unbiased, i.i.d. and runnable by name, whose exact moments
    need only the table (built in: time_free, k_dce, rb_lambda_dce, lambda_dce). Audited: specs
    with ``compare`` and ``biased`` (built in: the omit-full-mask samplers and the code's t-DCE).
    """
    unbiased = estimator_names(compare=True, biased=False, stratified=False, by_name=True, exact_moments=True)
    audited = estimator_names(compare=True, biased=True, by_name=True)
    return unbiased, audited


def _columns() -> tuple[Column, ...]:
    """One row per sequence; ``var_{name}`` and ``bias_{name}`` run over :func:`compared_estimators`."""
    unbiased, audited = compared_estimators()
    return (
        Column("source", "str", "d128 (the D128 table, c*) or mk4 (distinct stationary MK4 windows of length 8)"),
        Column("sequence", "str", "the sequence, decoded"),
        Column("true_nll", "float", "-log p0(x0) (nats)"),
        *(Column(f"var_{u}", "float", f"exact Var of one draw of {u} (nats²; inf when infinite)") for u in unbiased),
        Column(
            "var_importance",
            "float",
            "exact Var of one draw under the oracle mask-size law q*_m ∝ sqrt(E[A² | m])/m (nats²)",
        ),
        Column(
            "winner", "str", "the unbiased runnable sampler of least variance (the first in registry order on a tie)"
        ),
        *(Column(f"bias_{a}", "float", f"exact E[g] - NLL of {a} (nats)") for a in audited),
    )


def __getattr__(name: str):
    # ``COLUMNS`` follows the registry: an estimator registered after this module was imported
    # gets its column.
    if name == "COLUMNS":
        return _columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def table_estimators(table: dict) -> tuple[list[str], list[str]]:
    """(unbiased, audited): the estimators whose columns a table of this study holds, in column order."""
    unbiased = [k[4:] for k in table if k.startswith("var_") and k != "var_importance"]
    return unbiased, [k[5:] for k in table if k.startswith("bias_")]


cases = grid_cases(NAME, SETTINGS)


def estimate_seconds(case: Case) -> float:
    """About 5 ms per sequence, plus 0.5 s (measured, 1 core)."""
    return 0.5 + 5e-3 * (128 + case["n_windows"])


def run_case(case: Case, *, rng) -> list[dict]:
    """One row per sequence (``rng`` unused: the windows are drawn with ``default_rng(case.seed)``)."""
    n_windows = positive_int(case["n_windows"], "n_windows")
    unbiased, audited = compared_estimators()
    if len(unbiased) < 1:
        raise ValueError("no unbiased estimator of the registry is compared (`compare=True`)")
    p = datasets.dna128()
    A_d, _ = d128_tables(p)
    ch = markov4()
    joint = ch.joint(8)
    W = np.unique(ch.sample(8, n=n_windows, rng=np.random.default_rng(case.seed)), axis=0)
    A_w = optimal_mask_dce(joint, W)
    names = [c.name for c in _columns()]
    rows = []
    for src, dist, X, A in (("d128", p, p.support, A_d), ("mk4", joint, W, A_w)):
        true = dist.nll(X)
        var = {u: np.array([m.variance for m in moments.estimator_moments(A, u, reference=true)]) for u in unbiased}
        var_is = np.array([moments.best_mask_size_weights(a)[1] for a in A])
        winner = np.array(unbiased)[np.argmin(np.stack([var[u] for u in unbiased]), axis=0)]
        bias = {a: moments.exact_mean(A, a) - true for a in audited}
        seqs = np.array(dist.decode(X))
        for i in np.argsort(true, kind="stable"):
            values = (src, seqs[i], true[i], *(var[u][i] for u in unbiased), var_is[i], winner[i])
            rows.append(dict(zip(names, (*values, *(bias[a][i] for a in audited)))))
    return rows


def summarize(table: dict) -> str:
    """Per source: how often each unbiased sampler has the least variance, and each audited one's mean bias."""
    unbiased, audited = table_estimators(table)
    parts = []
    for src in dict.fromkeys(table["source"]):
        sel = table["source"] == src
        wins = ", ".join(f"{u} {int(np.sum(table['winner'][sel] == u))}" for u in unbiased)
        bias = ", ".join(f"{a} {float(np.mean(table[f'bias_{a}'][sel])):+.3g}" for a in audited)
        parts.append(f"{src}: least variance {wins}; mean bias {bias}")
    return f"{NAME}: " + "; ".join(parts)
