"""The public evaluators' replicas as references of the oracle (``check(..., reference=...)``).

The replicas themselves (their laws, settings, citations and exact moments) are in
:mod:`ctmc_lab.estimation.replicas` and registered in :mod:`ctmc_lab.estimation.replica_registry`,
below the studies, so the table of ``ctmc-lab conform --published`` and its figure read the same
objects. This module gives each the oracle's reference protocol
(:mod:`ctmc_lab.conformance.references`): ``name``, ``moments(case)`` (exact mean and variance of
one run's output) and, where the evaluator's masks follow a law the call log can test,
``mask_law(case)``:

* LLaDA's count rule: :func:`~ctmc_lab.conformance.masklaw.llada_law` at its b;
* RADD ``k_DCE``: the k-DCE law (m uniform on 1..n, independent rows);
* the time laws (Dream, SMDM, MDLM, SEDD, RADD, MD4): P(|M_j| = m) of each row from its u
  interval (:meth:`~ctmc_lab.estimation.timelaws.TimeLaw.row_size_laws`), rows dependent
  ("stratified") for every batch sampler but ``iid``.

Examples
--------
>>> from ctmc_lab.conformance import cases
>>> case = cases.markov_pair(4, index=8)                 # MK4 prompt(16) + answer(4), pair 8
>>> ref = reference("llada_harness_b8")                  # LLaDA's harness at --batch_size 8
>>> round(ref.moments(case).mean - case.cond_nll, 4)     # exact bias (nats)
0.4971
>>> ref.mask_law(case).name
'llada(b=8)'
"""

from __future__ import annotations

from dataclasses import dataclass

from ctmc_lab.conformance.masklaw import MaskLaw, estimator_law, llada_law
from ctmc_lab.estimation.families import LambdaDCE, MaskSize
from ctmc_lab.estimation.laws import k_dce_law
from ctmc_lab.estimation.replica_registry import REPLICAS, get_replica, replica_names
from ctmc_lab.estimation.replicas import CountRuleReplica, ExactMoments, Replica, TableReplica, linear_map
from ctmc_lab.estimation.timelaws import TimeLaw

__all__ = ["ReplicaReference", "reference", "REPLICAS", "replica_names"]


def _time_law_mask_law(name: str, law: TimeLaw, b: int) -> MaskLaw:
    def rows(n, calls_b=b):
        return law.row_size_laws(n, calls_b)

    return MaskLaw(
        name,
        sizes=lambda n: rows(n).mean(axis=0),
        rows=rows if law.sampler in ("antithetic", "strata") else None,
        dependence="independent" if law.sampler == "iid" else "stratified",
    )


@dataclass(frozen=True, eq=False)
class ReplicaReference:
    """A registered replica behind the reference protocol.

    Attributes
    ----------
    name : str
        ``"<replica name>: <config>"``, the label of the report's "matches" contract.
    replica : Replica
    """

    name: str
    replica: Replica

    def moments(self, case) -> ExactMoments:
        why = self.replica.applies(case)
        if why:
            raise ValueError(f"replica {self.replica.name!r} on {case.name}: {why}")
        return self.replica.moments(case)

    def mask_law(self, case) -> MaskLaw | None:
        r = self.replica
        if isinstance(r, CountRuleReplica):
            return llada_law(r.batch_size, rule=r.rule)
        if not isinstance(r, TableReplica):
            return None
        if isinstance(r.family, MaskSize) and r.family.law is k_dce_law and not r.family.stratified:
            return estimator_law("k_dce")
        if isinstance(r.family, TimeLaw):
            return _time_law_mask_law(r.name, r.family, r.batch_size)
        if isinstance(r.family, LambdaDCE) and r.family.stratified:
            # RADD's 'decoupled' λ: row j's λ uniform on [j/b, (j+1)/b), M ~ Bern(λ)^n.
            return _time_law_mask_law(r.name, TimeLaw(linear_map(0.0), "antithetic"), r.batch_size)
        return None


def reference(name: str) -> ReplicaReference:
    """The registered replica ``name`` as a reference (an unknown name lists the registered ones)."""
    r = get_replica(name)
    return ReplicaReference(f"{r.name} ({r.config})", r)
