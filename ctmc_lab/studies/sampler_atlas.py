"""``sampler-atlas``: which unbiased likelihood sampler has the lowest exact variance, and where.

For every sequence x0 of every case the table holds the exact single-draw variance of each
unbiased estimator (time-free, k-DCE, stratified k-DCE, RB-λ-DCE, λ-DCE with its finiteness;
``docs/theory.md`` §6.1–6.3, §6.5), of the variance-optimal mask-size law
q*_m ∝ sqrt(E[A² | m])/m, and of the practical pilot-fitted law (4 seeded pilot draws per m). All
are functions of the table A(M) over the 2^L masks (Thm 4.1); only the pilot's draws are random.

Families (the case key names every parameter):

* ``dirichlet``: p0 ~ Dirichlet(α) on V^L (``support=full``) or on 64 random sequences
  (``support=sparse``), N ∈ {2, 3, 4}, α from 0.05 to 5, L from 3 to 12;
* ``d128``: the D128 recipe (128 distinct DNA sequences, L = 8) at many seeds;
* ``markov``: random k-th order chains, rows ~ Dirichlet(α), orders 1–4;
* ``mk4``: stationary windows of the paper's order-4 DNA chain.

At most :data:`MAX_SEQUENCES` sequences per case: the whole support when it is that small,
otherwise that many distinct support sequences drawn uniformly (joints) or windows drawn from
the chain (Markov), so low-probability sequences are represented too.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation import moments
from ctmc_lab.estimation.registry import estimator_names, get_estimator
from ctmc_lab.masks import imdce_sum
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies.engine import Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "UNBIASED_ESTIMATORS",
    "STRATIFIED_BATCH",
    "MAX_SEQUENCES",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "build_source",
    "draw_sequences",
    "mask_tables",
    "unbiased_variances",
]

NAME = "sampler-atlas"


def _unbiased_estimators() -> tuple[str, ...]:
    """The registry's compared, unbiased estimators runnable by name: i.i.d. ones, then stratified ones."""
    names = estimator_names(compare=True, biased=False, by_name=True)
    return tuple(sorted(names, key=lambda e: get_estimator(e).stratified))


#: The estimators of the table, read from the registry when this module is imported: unbiased,
#: runnable by name and compared (``EstimatorSpec.compare``), the i.i.d. ones first (built in:
#: time-free, k-DCE, RB λ-DCE, λ-DCE, then stratified k-DCE).
UNBIASED_ESTIMATORS = _unbiased_estimators()
#: Batch size B of stratified k-DCE; its column is the per-draw variance B · Var(batch mean).
STRATIFIED_BATCH = 16
#: Sequences per case at most.
MAX_SEQUENCES = 128
#: Pilot draws per mask size of the fitted law (``moments.fit_mask_size_weights``).
PILOT_PER_SIZE = 4

_SOURCE_COLUMNS = (
    Column("family", "str", "dirichlet, d128, markov or mk4"),
    Column("N", "int", "alphabet size"),
    Column("L", "int", "sequence length (all L positions are the target)"),
    Column("alpha", "float", "Dirichlet concentration of p0 or of the chain's rows (nan for d128, mk4)"),
    Column("support", "str", "full or sparse (joints), chain (Markov)"),
    Column("order", "int", "Markov order k (0 for a joint table)"),
    Column("entropy", "float", "entropy of the source per position, nats (H(p0)/L, or the entropy rate)"),
    Column("sequence", "str", "x0, one digit per token"),
    Column("nll", "float", "-log p0(x0) = sum_M B(m, L-m+1) A(M) (Thm 4.1)"),
)
_VARIANCE_COLUMNS = (
    *(
        Column(f"var_{e}", "float", f"exact single-draw variance of {e} (inf when infinite)")
        for e in UNBIASED_ESTIMATORS
    ),
    Column("lambda_dce_finite", "bool", "λ-DCE variance finite (no singleton a_i = A({i}) > 0, §6.3)"),
    Column("var_q_star", "float", "variance of the mask-size importance law q* (Cauchy–Schwarz optimum)"),
    Column("var_pilot", "float", "variance of the pilot-fitted mask-size law (its q from 4 draws per m)"),
    Column("winner", "str", "the unbiased estimator of lowest variance (first in table order on a tie)"),
    Column("win_ratio", "float", "runner-up variance over the winner's (inf if the winner's is 0)"),
    Column("pilot_over_q_star", "float", "var_pilot / var_q_star (1 = the pilot is optimal; nan if both 0)"),
)
#: The table's columns, after ``case``.
COLUMNS = _SOURCE_COLUMNS + _VARIANCE_COLUMNS


# ====================================================================================== grids
def _dirichlet_cases(Ns, Ls, alphas, supports, seeds):
    out = []
    for N in Ns:
        for L in Ls:
            for support in supports:
                if support == "full" and N**L > 4096:
                    continue  # the full joint over more than 4096 sequences: use the sparse support
                if support == "sparse" and N**L <= 64:
                    continue
                for alpha in alphas:
                    for seed in seeds:
                        params = dict(family="dirichlet", N=N, L=L, alpha=alpha, support=support, order=0, seed=seed)
                        out.append(
                            Case(f"dirichlet/N={N}/L={L:02d}/alpha={alpha}/support={support}/seed={seed}", params)
                        )
    return out


def _markov_cases(Ns, orders, Ls, alphas, seeds):
    out = []
    for N in Ns:
        for k in orders:
            for L in Ls:
                for alpha in alphas:
                    for seed in seeds:
                        params = dict(family="markov", N=N, L=L, alpha=alpha, support="chain", order=k, seed=seed)
                        out.append(Case(f"markov/N={N}/k={k}/L={L:02d}/alpha={alpha}/seed={seed}", params))
    return out


def _named_cases(family, Ls, seeds):
    N, k = (4, 0) if family == "d128" else (4, 4)
    support = "sparse" if family == "d128" else "chain"
    return [
        Case(
            f"{family}/L={L:02d}/seed={seed:03d}",
            dict(family=family, N=N, L=L, alpha=float("nan"), support=support, order=k, seed=seed),
        )
        for L in Ls
        for seed in seeds
    ]


def cases(grid: str) -> list[Case]:
    """The cases of the ``small`` (CI, seconds) or ``full`` grid."""
    if grid == "small":
        return (
            _dirichlet_cases((2, 3), (3, 6), (0.1, 1.0), ("full",), (0,))
            + _dirichlet_cases((4,), (8,), (0.5,), ("sparse",), (0,))
            + _named_cases("d128", (8,), (0, 1))
            + _markov_cases((2,), (1, 3), (8,), (0.5,), (0,))
            + _named_cases("mk4", (8,), (0,))
        )
    alphas = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
    return (
        _dirichlet_cases((2, 3, 4), (3, 4, 5, 6, 8, 10, 12), alphas, ("full", "sparse"), (0, 1))
        + _named_cases("d128", (8,), range(64))
        + _markov_cases((2, 4), (1, 2, 3, 4), (4, 6, 8, 10, 12), (0.1, 1.0), (0, 1))
        + _named_cases("mk4", (4, 6, 8, 10, 12), range(4))
    )


def estimate_seconds(case: Case) -> float:
    """Cost model: about 5 µs per mask per sequence plus a fixed 0.02 s (measured, 1 core)."""
    return 0.02 + 5e-6 * MAX_SEQUENCES * 2 ** case["L"]


# ===================================================================================== sources
def build_source(params, rng):
    """The source of a case: a ``JointDistribution`` or a ``MarkovChain``, seeded by ``rng``."""
    family = params["family"]
    if family == "dirichlet":
        size = None if params["support"] == "full" else 64
        return datasets.dirichlet(params["N"], params["L"], alpha=params["alpha"], support_size=size, rng=rng)
    if family == "d128":
        return datasets.dna128_like(rng)
    if family == "markov":
        return MarkovChain.from_dirichlet(params["N"], params["order"], alpha=params["alpha"], rng=rng)
    if family == "mk4":
        return markov4()
    raise ValueError(f"unknown family {family!r}; choose dirichlet, d128, markov or mk4")


def draw_sequences(source, length: int, n_max: int, rng) -> np.ndarray:
    """(S, L) int array: the support if it has at most ``n_max`` sequences, else ``n_max`` distinct ones.

    A joint's sequences are drawn uniformly from its support (without replacement); a chain's are
    stationary windows (duplicates dropped, so S ≤ ``n_max``). Returned in lexicographic order.
    """
    if getattr(source, "support", None) is None:  # no finite support to enumerate: sample windows
        return np.unique(source.sample(length, n=n_max, rng=rng), axis=0)
    support = np.asarray(source.support)
    if support.shape[0] > n_max:
        support = support[np.sort(rng.choice(support.shape[0], size=n_max, replace=False))]
    return np.unique(support, axis=0)


def mask_tables(source, X: np.ndarray) -> np.ndarray:
    """(S, 2**L) float array: A(M) of the optimal denoiser for every sequence, all L positions the target."""
    target = np.arange(X.shape[1])
    return np.stack([source.mask_dce_table(x, target) for x in X])


def _entropy_per_position(source, length: int) -> float:
    """The chain's entropy rate, or H(p0)/L for a source on V^L."""
    if callable(getattr(source, "entropy_rate", None)):
        return float(source.entropy_rate())
    return float(source.entropy()) / length


# ==================================================================================== adapter
def unbiased_variances(A: np.ndarray, *, denoiser=None, x0=None, rng=None) -> dict:
    """Exact single-draw variances of the registry's unbiased estimators and the designed laws.

    The one place this study calls the estimator functions (the registry adapter).

    Parameters
    ----------
    A : (2**n,) float array
        A(M) by local bitmask (``docs/theory.md`` §3.5).
    denoiser, x0 : optional
        For the pilot-fitted law (``moments.fit_mask_size_weights``); omitted: no ``var_pilot``.
    rng : numpy.random.Generator, optional
        The pilot draws.

    Returns
    -------
    dict
        ``nll``, ``var_<estimator>`` for :data:`UNBIASED_ESTIMATORS` (the stratified ones per
        draw at batch :data:`STRATIFIED_BATCH`), ``lambda_dce_finite``,
        ``var_q_star`` and (with a denoiser) ``var_pilot``.

    Notes
    -----
    Mask-size schemes: Var g = sum_M P(M)(f_m A(M) - E g)² (§6.1–6.2); λ-DCE infinite iff some
    a_i > 0 (§6.3); q*_m ∝ sqrt(E[A²|m])/m (§6.5); NLL = sum_M B(m, n-m+1) A(M) (Thm 4.1).
    """
    out = {"nll": float(imdce_sum(A))}
    for name in UNBIASED_ESTIMATORS:
        # The batch is that of the stratified designs; the i.i.d. ones do not read it.
        out[f"var_{name}"] = moments.estimator_moments(A, name, batch_size=STRATIFIED_BATCH).variance
    out["lambda_dce_finite"] = not moments.estimator_moments(A, "lambda_dce").variance_is_infinite
    out["var_q_star"] = float(moments.best_mask_size_weights(A)[1])
    if denoiser is not None:
        q = moments.fit_mask_size_weights(denoiser, x0, pilot_per_size=PILOT_PER_SIZE, rng=rng)
        out["var_pilot"] = moments.estimator_moments(A, "mask_size_importance", weights=q).variance
    return out


def winner_of(row: dict) -> tuple[str, float]:
    """The unbiased estimator of lowest variance in ``row`` and runner-up / winner (ties: table order)."""
    order = sorted(UNBIASED_ESTIMATORS, key=lambda e: row[f"var_{e}"])
    best, second = row[f"var_{order[0]}"], row[f"var_{order[1]}"]
    return order[0], (float("inf") if best == 0 else second / best)


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return float("nan") if a == 0 else float("inf")
    return a / b


# ======================================================================================== case
def run_case(case: Case, *, rng) -> list[dict]:
    """One row per sequence of the case's source (see ``COLUMNS``)."""
    rng = np.random.default_rng(rng)
    p = case.params
    source = build_source(p, rng)
    L = p["L"]
    X = draw_sequences(source, L, MAX_SEQUENCES, rng)
    tables = mask_tables(source, X)
    denoiser = source.denoiser(L)
    entropy = _entropy_per_position(source, L)
    N = int(source.n_tokens)
    rows = []
    for x, A in zip(X, tables):
        v = unbiased_variances(A, denoiser=denoiser, x0=x, rng=rng)
        winner, ratio = winner_of(v)
        rows.append(
            {
                "family": p["family"],
                "N": N,
                "L": L,
                "alpha": float(p["alpha"]),
                "support": p["support"],
                "order": int(p["order"]),
                "entropy": entropy,
                "sequence": "".join(str(int(t)) for t in x),
                "nll": v["nll"],
                **{f"var_{e}": float(v[f"var_{e}"]) for e in UNBIASED_ESTIMATORS},
                "lambda_dce_finite": bool(v["lambda_dce_finite"]),
                "var_q_star": v["var_q_star"],
                "var_pilot": float(v["var_pilot"]),
                "winner": winner,
                "win_ratio": ratio,
                "pilot_over_q_star": _ratio(v["var_pilot"], v["var_q_star"]),
            }
        )
    return rows


# ===================================================================================== summary
def summarize(table: dict) -> str:
    """Who wins how often and by what median ratio, by family and by L; how close the pilot comes to q*."""
    win = table["winner"]
    lines = [f"{NAME}: {len(win)} sequences, {len(set(table['case']))} cases"]
    lines.append("wins (share of sequences; median runner-up/winner ratio):")
    for e in UNBIASED_ESTIMATORS:
        pick = win == e
        if pick.any():
            lines.append(f"  {e:<18} {pick.mean():6.1%}   median ratio {np.median(table['win_ratio'][pick]):.3g}")
    for fam in sorted(set(table["family"])):
        sel = table["family"] == fam
        counts = {e: int(np.sum(win[sel] == e)) for e in UNBIASED_ESTIMATORS}
        best = max(counts, key=counts.get)
        lines.append(f"  {fam:<10} most often won by {best} ({counts[best]}/{int(sel.sum())})")
    # The paper's own comparison is between i.i.d. draws (stratification helps every law alike):
    # rank those without the stratified column, and pit time-free against k-DCE head to head.
    iid = [e for e in UNBIASED_ESTIMATORS if not get_estimator(e).stratified]
    var = np.stack([table[f"var_{e}"] for e in iid])
    iid_win = np.array(iid)[np.argmin(var, axis=0)]
    lines.append("among i.i.d. samplers only: " + ", ".join(f"{e} {np.mean(iid_win == e):.1%}" for e in iid))
    for L in sorted(set(table["L"].tolist())):
        sel = table["L"] == L
        with np.errstate(invalid="ignore"):  # 0/0 on a sequence every estimator gets exactly
            ratio = table["var_time_free"][sel] / table["var_k_dce"][sel]
        lines.append(
            f"  L = {L:>2}: time-free below k-DCE on {np.mean(ratio < 1):6.1%}; "
            f"median Var(time-free)/Var(k-DCE) {np.nanmedian(ratio):.3g}"
        )
    r = table["pilot_over_q_star"]
    r = r[np.isfinite(r)]
    if r.size:
        lines.append(
            f"pilot / q* variance: median {np.median(r):.3f}, 90% quantile {np.quantile(r, 0.9):.3f}, max {r.max():.3g}"
        )
    lines.append(f"λ-DCE finite on {np.mean(table['lambda_dce_finite']):.1%} of sequences")
    return "\n".join(lines)
