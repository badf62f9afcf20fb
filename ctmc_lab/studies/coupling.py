"""``coupling``: coupled against decoupled log-ratio variance, by Hamming distance and loss correlation.

The log-ratio log p(x)/p(y) = NLL(y) - NLL(x) is estimated from one mask per draw. Coupled,
both tables A_x, A_y are read at the same mask M; decoupled, at independent masks. Then
Var_d - Var_c = 2 Cov_M(f_m A_x(M), f_m A_y(M)) (Eq. 18, ``docs/theory.md`` §6.4): coupling helps
exactly when the two mask-wise losses are positively correlated. A case is one source, a length
L and a Hamming distance d; its rows are pairs (x, y): x drawn from the source, y = x with d
uniformly chosen positions changed to a uniformly chosen other token, for each mask-size scheme.
The correlation column is ρ = Cov / sqrt(Var(f A_x) Var(f A_y)) under the scheme's mask law.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation import estimators, moments
from ctmc_lab.sources import datasets
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies.engine import Case, Column
from ctmc_lab.studies.sampler_atlas import mask_tables

__all__ = ["NAME", "COLUMNS", "SCHEMES", "cases", "run_case", "estimate_seconds", "summarize", "ratio_row"]

NAME = "coupling"
#: The mask-size schemes a coupled log-ratio may use (:func:`~ctmc_lab.estimation.estimators.ratio_schemes`:
#: the registry's unbiased i.i.d. mask-size estimators, read when this module is imported).
SCHEMES = estimators.ratio_schemes()
#: Pairs per case.
PAIRS = 16

#: The table's columns, after ``case``.
COLUMNS = (
    Column("source", "str", "dirichlet (full support, α = 0.5), mk4, or binary-k2 (random order-2 chain)"),
    Column("N", "int", "alphabet size"),
    Column("L", "int", "sequence length"),
    Column("hamming", "int", "d, positions where y differs from x"),
    Column("pair", "int", "index of the pair within the case"),
    Column("scheme", "str", "the mask-size scheme"),
    Column("log_ratio", "float", "NLL(y) - NLL(x), the estimated quantity"),
    Column("var_coupled", "float", "Var_c: one shared mask (Eq. 18)"),
    Column("var_decoupled", "float", "Var_d = Var(f A_x) + Var(f A_y): independent masks"),
    Column("correlation", "float", "ρ of f_m A_x(M) and f_m A_y(M) under the mask law (nan if a variance is 0)"),
    Column("gain", "float", "Var_d / Var_c (> 1: coupling helps; inf if Var_c = 0)"),
)


def cases(grid: str) -> list[Case]:
    """(source, L, d, seed): ``small`` two sources at L = 6; ``full`` three sources, L ∈ {6, 8, 10}, every d."""
    if grid == "small":
        sources, lengths, seeds = ("dirichlet", "mk4"), (6,), (0,)
    else:
        sources, lengths, seeds = ("dirichlet", "mk4", "binary-k2"), (6, 8, 10), (0, 1)
    out = []
    for src in sources:
        N = 2 if src == "binary-k2" else 4
        for L in lengths:
            if src == "dirichlet" and N**L > 4096:
                N = 2  # the full joint over 4^8 sequences is too large: binary alphabet at L ≥ 8
            for d in range(1, L + 1) if grid == "full" else (1, 3, 6):
                for seed in seeds:
                    params = dict(source=src, N=N, L=L, hamming=d, seed=seed)
                    out.append(Case(f"{src}/N={N}/L={L:02d}/d={d:02d}/seed={seed}", params))
    return out


def estimate_seconds(case: Case) -> float:
    """About 4 µs per mask per pair and scheme, plus 0.05 s (measured, 1 core)."""
    return 0.05 + 4e-6 * PAIRS * len(SCHEMES) * 2 ** case["L"]


def _source(p, rng):
    if p["source"] == "dirichlet":
        return datasets.dirichlet(p["N"], p["L"], alpha=0.5, rng=rng)
    if p["source"] == "mk4":
        return markov4()
    return MarkovChain.from_dirichlet(2, 2, alpha=0.5, rng=rng)


def _pairs(source, p, rng):
    L, N, d = p["L"], p["N"], p["hamming"]
    X = source.sample(L, n=PAIRS, rng=rng)
    Y = X.copy()
    for i in range(PAIRS):
        pos = rng.choice(L, size=d, replace=False)
        Y[i, pos] = (X[i, pos] + rng.integers(1, N, size=d)) % N  # a different token at each chosen position
    return X, Y


def ratio_row(A_x: np.ndarray, A_y: np.ndarray, scheme: str) -> dict:
    """Coupled and decoupled variance and the loss correlation of one pair (the registry adapter).

    Notes
    -----
    Var_c = Var_M(f_m (A_y - A_x)), Var_d = Var(f A_x) + Var(f A_y), and
    ρ = (Var_d - Var_c) / (2 sqrt(Var(f A_x) Var(f A_y))) (Eq. 18, §6.4).
    """
    r = moments.ratio_moments(A_x, A_y, scheme=scheme)
    vx = moments.estimator_moments(A_x, scheme).variance
    vy = moments.estimator_moments(A_y, scheme).variance
    denom = 2.0 * np.sqrt(vx * vy)
    return {
        "log_ratio": r.mean,
        "var_coupled": r.variance_coupled,
        "var_decoupled": r.variance_decoupled,
        "correlation": float(r.covariance_term / denom) if denom > 0 else float("nan"),
        "gain": float("inf") if r.variance_coupled == 0 else r.variance_decoupled / r.variance_coupled,
    }


def run_case(case: Case, *, rng) -> list[dict]:
    """One row per pair and scheme (see ``COLUMNS``)."""
    rng = np.random.default_rng(rng)
    p = case.params
    source = _source(p, rng)
    X, Y = _pairs(source, p, rng)
    TX, TY = mask_tables(source, X), mask_tables(source, Y)
    rows = []
    for i in range(PAIRS):
        for scheme in SCHEMES:
            base = dict(source=p["source"], N=p["N"], L=p["L"], hamming=p["hamming"], pair=i, scheme=scheme)
            rows.append(base | ratio_row(TX[i], TY[i], scheme))
    return rows


def summarize(table: dict) -> str:
    """Median gain and correlation by Hamming distance (time-free), and the share of pairs coupling helps."""
    tf = table["scheme"] == "time_free"
    lines = [f"{NAME}: {int(tf.sum())} pairs, {len(set(table['case']))} cases (time-free scheme below)"]
    lines.append("source      L   d  median ρ  median Var_d/Var_c  coupling helps")
    for src in sorted(set(table["source"])):
        for L in sorted(set(table["L"][tf & (table["source"] == src)].tolist())):
            for d in sorted(set(table["hamming"][tf & (table["source"] == src) & (table["L"] == L)].tolist())):
                sel = tf & (table["source"] == src) & (table["L"] == L) & (table["hamming"] == d)
                lines.append(
                    f"{src:<10} {L:>2} {d:>3}  {np.nanmedian(table['correlation'][sel]):>8.3f}  "
                    f"{np.median(table['gain'][sel]):>18.3g}  {np.mean(table['gain'][sel] > 1):>14.0%}"
                )
    corr, gain = table["correlation"], table["gain"]
    ok = np.isfinite(corr) & np.isfinite(gain)
    lines.append(
        f"all schemes: coupling helps on {np.mean(gain > 1):.0%} of rows; corr(ρ, log gain) = "
        f"{np.corrcoef(corr[ok], np.log(gain[ok]))[0, 1]:.3f}"
    )
    return "\n".join(lines)
