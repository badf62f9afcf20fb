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

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import cases as C
from ctmc_lab.estimation.replica_registry import REPLICAS, get_replica
from ctmc_lab.studies._common import StudyResult

__all__ = ["COLUMNS", "CASE_SETS", "published", "case_sets", "replica_rows", "verdict"]

#: The case sets of the table, in print order.
CASE_SETS = ("dna128", "mk4", "eos")

#: CSV schema: ``{file stem: {column: meaning (unit)}}``.
COLUMNS = {
    "published": {
        "replica": "registered replica name (ctmc_lab.estimation.replica_registry)",
        "case_set": "dna128, mk4 (prompt 16) or eos (prompt 8, end symbol, padding)",
        "n": "answer length",
        "cases": "cases of the set at this n with exact moments",
        "skipped": "cases without them (the replica does not apply there, or is slow there and quick is set)",
        "target_mean": "mean over the cases of the claimed quantity (nats)",
        "bias_mean": "mean over the cases of exact mean minus target (nats)",
        "bias_min": "its minimum (nats)",
        "bias_max": "its maximum (nats)",
        "relative_bias_mean": "mean of bias / target",
        "variance_mean": "mean over the cases of the exact variance of one run (nats²); inf if one is infinite",
        "infinite_variance": "cases whose exact variance is infinite",
        "variance_known": "cases whose variance was computed (the rest: mean only)",
    }
}

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
    seed: int = 0,
) -> StudyResult:
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
    seed : int
        Unused: every number is exact (kept for the figure registry's signature).

    Returns
    -------
    StudyResult
        Table ``published`` (``COLUMNS``); ``meta``: per replica its label, citation, settings,
        cause, scope and the verdict of each row.
    """
    names = list(REPLICAS) if replicas is None else [get_replica(r).name for r in replicas]
    groups = case_sets(
        mk4_lengths=mk4_lengths, mk4_pairs=mk4_pairs, eos_lengths=eos_lengths, eos_pairs=eos_pairs, d128_rows=d128_rows
    )
    rows, meta = [], {}
    for name in names:
        r = get_replica(name)
        mine = replica_rows(r, groups, quick=bool(quick))
        rows += mine
        meta[name] = {
            "label": r.label,
            "code": {"repo": r.code.repo, "path": r.code.path, "function": r.code.function, "commit": r.code.commit},
            "config": r.config,
            "cause": r.cause,
            "scope": r.scope,
            "verdicts": [verdict(row, r) for row in mine],
        }
    table = {col: np.array([row[col] for row in rows]) for col in COLUMNS["published"]}
    d128 = {row["replica"]: row["bias_mean"] for row in rows if row["case_set"] == "dna128"}
    return StudyResult("published", {"published": table}, summary={"dna128_bias_mean": d128}, meta=meta)
