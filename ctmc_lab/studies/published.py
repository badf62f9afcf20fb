"""The published table: exact bias and variance of every registered replica of a public evaluator.

For each replica of :mod:`ctmc_lab.estimation.replica_registry` and each case set, the exact mean
and variance of one run's output (the replica's :meth:`~ctmc_lab.estimation.replicas.Replica.moments`)
against the quantity the evaluator claims (-log p(answer | prompt); a model difference for the
VRPO-style ratios), aggregated over the cases of the set at each answer length:

* ``dna128``: the 128 rows of the paper's D128 table (the answer is the whole row, n = 8);
* ``mk4``: MK4 prompt(16)+answer(n) pairs, n = 1..12, ``mk4_pairs`` seeded pairs per length
  (the cases ``mk4:n:i`` of ``ctmc-lab conform``);
* ``eos``: the EOS-bearing chain (``eos:n:i``): prompt(8) + answer(n) + end symbol + padding.

Exact for the optimal denoiser of these small sources: the bias is what the estimator does to any
model's scores, not a published model's number (``docs/published.md``). A replica whose exact
moments take long on a case (:meth:`~ctmc_lab.estimation.replicas.Replica.slow`: d1's 2^16 prompt masks on
MK4; SEDD's uniform-noise variance) is reported without them (``skipped``, ``variance_known``)
when ``quick``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import cases as C
from ctmc_lab.estimation.replica_registry import REPLICAS, get_replica
from ctmc_lab.studies._common import grid_cases, rows_of
from ctmc_lab.studies.engine import Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "SETTINGS",
    "CASE_SETS",
    "PublishedTable",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "published",
    "case_sets",
    "replica_rows",
    "verdict",
]

NAME = "published"
#: The grid of the gallery figure (``docs/figures/published.png``): the table of ``ctmc-lab conform --published``.
FIGURE_GRID = "full"

#: The case sets of the table, in print order.
CASE_SETS = ("dna128", "mk4", "eos")

#: One row per (replica, case set, answer length).
COLUMNS = (
    Column("replica", "str", "registered replica name (ctmc_lab.estimation.replica_registry)"),
    Column("case_set", "str", "dna128, mk4 (prompt 16) or eos (prompt 8, end symbol, padding)"),
    Column("n", "int", "answer length"),
    Column("cases", "int", "cases of the set at this n with exact moments"),
    Column(
        "skipped", "int", "cases without them (the replica does not apply there, or is slow there and quick is set)"
    ),
    Column("target_mean", "float", "mean over the cases of the claimed quantity (nats)"),
    Column("bias_mean", "float", "mean over the cases of exact mean minus target (nats)"),
    Column("bias_min", "float", "its minimum (nats)"),
    Column("bias_max", "float", "its maximum (nats)"),
    Column("relative_bias_mean", "float", "mean of bias / target"),
    Column(
        "variance_mean",
        "float",
        "mean over the cases of the exact variance of one run (nats²); inf if one is infinite",
    ),
    Column("infinite_variance", "int", "cases whose exact variance is infinite"),
    Column("variance_known", "int", "cases whose variance was computed (the rest: mean only)"),
    Column("verdict", "str", "unbiased, infinite variance, or the documented cause of the bias (:func:`verdict`)"),
)

#: The parameters of each grid: answer lengths 1.. and pairs per length of the MK4 pairs and of
#: the EOS chain, the first ``d128_rows`` rows of D128, and ``quick`` (:func:`published`).
SETTINGS = {
    "small": {"mk4_lengths": 4, "mk4_pairs": 2, "eos_lengths": 2, "eos_pairs": 2, "d128_rows": 8, "quick": True},
    "full": {"mk4_lengths": 12, "mk4_pairs": 16, "eos_lengths": 8, "eos_pairs": 8, "d128_rows": 128, "quick": True},
}

cases = grid_cases(NAME, SETTINGS)


@dataclass(frozen=True)
class PublishedTable:
    """The table of :func:`published` with, per replica, what the registry says of it.

    Attributes
    ----------
    table : dict of 1-D arrays
        One entry per column of :data:`COLUMNS`.
    meta : dict
        Replica name → ``label``, ``code`` (repo, path, function, commit), ``config``, ``cause``, ``scope``.
    summary : dict
        ``dna128_bias_mean``: replica name → its mean bias on D128 (nats).
    """

    table: dict
    meta: dict
    summary: dict


#: Below this |bias| (nats, relative to 1 + |target|) a replica is unbiased on a case: float64 sums.
UNBIASED_TOLERANCE = 1e-9


def case_sets(*, mk4_lengths: int = 12, mk4_pairs: int = 16, eos_lengths: int = 8, eos_pairs: int = 8, d128_rows=None):
    """``{(case set, n): [Case, ...]}`` of the table (D128 rows ``d128_rows``, default all 128)."""
    rows = range(128) if d128_rows is None else d128_rows
    out = {("dna128", 8): [C.dna128(i) for i in rows]}
    for n in range(1, positive_int(mk4_lengths, "mk4_lengths") + 1):
        out[("mk4", n)] = [C.markov_pair(n, index=i) for i in range(positive_int(mk4_pairs, "mk4_pairs"))]
    for n in range(1, positive_int(eos_lengths, "eos_lengths", minimum=0) + 1):
        out[("eos", n)] = [C.eos_pair(n, index=i) for i in range(positive_int(eos_pairs, "eos_pairs"))]
    return out


def verdict(row: dict, replica) -> str:
    """A one-line reading of a table row: unbiased, infinite variance, or the documented cause."""
    if not row["cases"]:
        return "not computed"
    worst = max(abs(row["bias_min"]), abs(row["bias_max"]))
    unbiased = worst <= UNBIASED_TOLERANCE * (1.0 + abs(row["target_mean"]))
    infinite = row["infinite_variance"] > 0
    if unbiased:
        return "unbiased, infinite variance" if infinite else "unbiased"
    cause = replica.cause or "biased"
    return f"{cause}; infinite variance" if infinite else cause


def replica_rows(replica, groups, *, quick: bool = True) -> list[dict]:
    """The table rows of one replica: one per (case set, n) of ``groups`` (:func:`case_sets`)."""
    out = []
    for (kind, n), members in groups.items():
        bias, target, var, skipped = [], [], [], 0
        for case in members:
            if replica.applies(case) or (quick and replica.slow(case, variance=False)):
                skipped += 1
                continue
            m = replica.moments(case, variance=not (quick and replica.slow(case, variance=True)))
            t = replica.target(case)
            bias.append(m.mean - t)
            target.append(t)
            var.append(np.nan if m.variance is None else m.variance)
        bias, target, var = np.array(bias), np.array(target), np.array(var, dtype=float)
        known = var[~np.isnan(var)]
        row = {
            "replica": replica.name,
            "case_set": kind,
            "n": n,
            "cases": int(bias.size),
            "skipped": skipped,
            "target_mean": float(target.mean()) if bias.size else np.nan,
            "bias_mean": float(bias.mean()) if bias.size else np.nan,
            "bias_min": float(bias.min()) if bias.size else np.nan,
            "bias_max": float(bias.max()) if bias.size else np.nan,
            "relative_bias_mean": float(np.mean(bias / target)) if bias.size else np.nan,
            "variance_mean": float(known.mean()) if known.size else np.nan,
            "infinite_variance": int(np.isinf(known).sum()),
            "variance_known": int(known.size),
        }
        row["verdict"] = verdict(row, replica)
        out.append(row)
    return out


def published(
    *,
    replicas=None,
    mk4_lengths: int = 12,
    mk4_pairs: int = 16,
    eos_lengths: int = 8,
    eos_pairs: int = 8,
    d128_rows=None,
    quick: bool = True,
) -> PublishedTable:
    """The exact bias and variance of the public evaluators' replicas over D128, MK4 pairs and the EOS chain.

    Parameters
    ----------
    replicas : sequence of str, optional
        Registered replica names (default: all, in registry order).
    mk4_lengths, mk4_pairs : int
        Answer lengths 1.. of the MK4 pairs and pairs per length.
    eos_lengths, eos_pairs : int
        The same for the EOS-bearing chain (0 lengths: none).
    d128_rows : sequence of int, optional
        D128 rows (default all 128).
    quick : bool
        Skip what a replica calls slow (:meth:`~ctmc_lab.estimation.replicas.Replica.slow`: d1's 2^16
        prompt masks on MK4, SEDD's uniform-noise variance); ``False`` computes everything.

    Returns
    -------
    PublishedTable
        The table (:data:`COLUMNS`, one row per replica × case set × answer length) and per replica
        its label, citation, settings, cause and scope.
    """
    names = list(REPLICAS) if replicas is None else [get_replica(r).name for r in replicas]
    groups = case_sets(
        mk4_lengths=mk4_lengths, mk4_pairs=mk4_pairs, eos_lengths=eos_lengths, eos_pairs=eos_pairs, d128_rows=d128_rows
    )
    rows, meta = [], {}
    for name in names:
        r = get_replica(name)
        rows += replica_rows(r, groups, quick=bool(quick))
        meta[name] = {
            "label": r.label,
            "code": {"repo": r.code.repo, "path": r.code.path, "function": r.code.function, "commit": r.code.commit},
            "config": r.config,
            "cause": r.cause,
            "scope": r.scope,
        }
    table = {col.name: np.array([row[col.name] for row in rows]) for col in COLUMNS}
    d128 = {row["replica"]: row["bias_mean"] for row in rows if row["case_set"] == "dna128"}
    return PublishedTable(table, meta, {"dna128_bias_mean": d128})


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of the grid's table (``rng`` unused: every number is exact)."""
    p = case.params
    result = published(
        mk4_lengths=p["mk4_lengths"],
        mk4_pairs=p["mk4_pairs"],
        eos_lengths=p["eos_lengths"],
        eos_pairs=p["eos_pairs"],
        d128_rows=range(positive_int(p["d128_rows"], "d128_rows")),
        quick=bool(p["quick"]),
    )
    return rows_of(result.table)


def estimate_seconds(case: Case) -> float:
    """About 0.05 s per replica and case of a set (exact moments by enumeration of the masks)."""
    p = case.params
    n_cases = p["d128_rows"] + p["mk4_lengths"] * p["mk4_pairs"] + p["eos_lengths"] * p["eos_pairs"]
    return 0.05 * len(REPLICAS) * n_cases


def summarize(table: dict) -> str:
    """The largest mean exact bias on D128 and on the MK4 pairs, and the rows of infinite variance."""
    d128 = table["case_set"] == "dna128"
    mk4 = (table["case_set"] == "mk4") & (table["cases"] > 0)
    i = int(np.argmax(np.abs(np.where(d128, table["bias_mean"], 0.0))))
    j = int(np.argmax(np.abs(np.where(mk4, table["bias_mean"], 0.0))))
    inf = sorted(set(table["replica"][table["infinite_variance"] > 0]))
    return (
        f"{NAME}: {len(set(table['replica']))} replicas; largest |D128 bias| {table['bias_mean'][i]:+.4g} nats "
        f"({table['replica'][i]}); largest |MK4 mean bias| {table['bias_mean'][j]:+.4g} nats "
        f"({table['replica'][j]}, n = {int(table['n'][j])}); infinite variance: {', '.join(inf) or 'none'}"
    )
