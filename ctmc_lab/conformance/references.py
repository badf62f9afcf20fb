"""References: the exact twin of an evaluator, as a small protocol.

A reference says, for a case, the exact mean and variance of **one run's output** of the
evaluator it describes (:class:`ExactMoments`), and optionally the mask law it declares
(:class:`~ctmc_lab.conformance.masklaw.MaskLaw`). Anything with these members is a reference:

.. code-block:: python

    class Reference(Protocol):
        name: str
        def moments(self, case) -> ExactMoments: ...
        def mask_law(self, case) -> MaskLaw | None: ...   # optional

Built in: :func:`estimator` (any registered estimator, through its family object, averaged over
``n_samples`` draws), the replicas of the public evaluators as configured
(:func:`ctmc_lab.conformance.replicas.reference`), :func:`llada_rule` (LLaDA's count rule at any batch size, or its fix),
:func:`truncated_lambda` (λ-DCE with λ ∈ [ε, 1], the time truncation of the code) and
:func:`scaled` (the same evaluator reporting a multiple of its value: a per-token mean, a
log-likelihood instead of an NLL). All read the case's A-table (Cor. 4.3, ``docs/theory.md`` §6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ctmc_lab.conformance.masklaw import MaskLaw, estimator_law, lambda_law, llada_law
from ctmc_lab.estimation.conditional import theorem42_integral
from ctmc_lab.estimation.llada import llada_moments
from ctmc_lab.estimation.registry import get_estimator
from ctmc_lab.estimation.replicas import ExactMoments
from ctmc_lab.masks import imdce_sum

__all__ = [
    "ExactMoments",
    "Reference",
    "as_reference",
    "estimator",
    "llada_rule",
    "truncated_lambda",
    "scaled",
]


@runtime_checkable
class Reference(Protocol):
    """The exact twin of an evaluator: ``name`` and ``moments(case)`` (``mask_law(case)`` optional)."""

    name: str

    def moments(self, case) -> ExactMoments: ...


def _given(case, given: str):
    return case.mask_dce_table(given=given)


@dataclass(frozen=True)
class _Estimator:
    name: str
    estimator_name: str
    n_samples: int
    batch_size: int | None
    given: str

    def moments(self, case) -> ExactMoments:
        A = _given(case, self.given)[None, :]
        family = get_estimator(self.estimator_name).family
        b = self.batch_size if family.stratified else None
        mean, per_draw, infinite = family.moments(A, name=self.estimator_name, batch_size=b)
        var = math.inf if infinite[0] else float(per_draw[0]) / self.n_samples
        return ExactMoments(float(mean[0]), var)

    def mask_law(self, case) -> MaskLaw | None:
        family = get_estimator(self.estimator_name).family
        if family.kind == "llada":
            return llada_law(self.batch_size, rule=family.rule)
        try:
            return estimator_law(self.estimator_name)
        except ValueError:
            return None


def estimator(name: str, *, n_samples: int, batch_size: int | None = None, given: str = "prompt"):
    """A registered estimator averaged over ``n_samples`` draws (its family's exact moments per draw).

    Parameters
    ----------
    name : str
        Any registered estimator: its family object gives the exact mean and per-draw variance
        (``k_dce``, ``time_free``, ``lambda_dce``; the t-estimators with their default schedule; a
        batch-stratified design, LLaDA's count rules included, with its ``batch_size``).
    n_samples : int
        Draws per run; the run's variance is the per-draw variance / ``n_samples`` (for a
        stratified design the per-draw variance is b · Var(batch mean), so this is Var / batches).
    batch_size : int, optional
        Required by a stratified design.
    given : {"prompt", "rest"}
        The table the evaluator's masks are scored on (``Case.mask_dce_table``).
    """
    spec = get_estimator(name)
    if spec.stratified and batch_size is None:
        raise ValueError(f"`batch_size` is required for the stratified estimator {name!r}")
    if spec.needs_weights:
        raise ValueError(f"estimator {name!r} needs its `weights`: it has no exact moments by name")
    n = int(n_samples)
    if n < 1:
        raise ValueError(f"`n_samples` must be a positive integer (got {n_samples!r})")
    return _Estimator(f"{name}(n_samples={n})", name, n, None if batch_size is None else int(batch_size), given)


@dataclass(frozen=True)
class _LLaDA:
    name: str
    batch_size: int
    mc_num: int
    rule: str

    def moments(self, case) -> ExactMoments:
        m = llada_moments(case.level_stats(), batch_size=self.batch_size, mc_num=self.mc_num, rule=self.rule)
        return ExactMoments(m.mean, m.variance_of_mean)

    def mask_law(self, case) -> MaskLaw:
        return llada_law(self.batch_size, rule=self.rule)


def llada_rule(batch_size: int = 16, mc_num: int = 128, *, rule: str = "llada"):
    """LLaDA's ``get_log_likelihood`` (its NLL, ``-output``) at a batch size: the count rule
    ``round(linspace)`` (``rule="llada"``) or its integer fix (``"fixed"``); exact mean and variance
    of the output (:func:`ctmc_lab.estimation.llada.llada_moments`), means only past 16 answer tokens."""
    label = "LLaDA's rule" if rule == "llada" else "the fixed count rule"
    return _LLaDA(f"{label} at b = {int(batch_size)}", int(batch_size), int(mc_num), rule)


@dataclass(frozen=True)
class _Truncated:
    name: str
    eps: float
    correct: bool
    n_samples: int

    def moments(self, case) -> ExactMoments:
        A = _given(case, "prompt")
        # ∫_ε^1 g(λ)/λ dλ = NLL - ∫_0^ε g(λ)/λ dλ (Thm 4.2); λ ~ U(ε, 1) has density 1/(1-ε).
        tail = float(imdce_sum(A)) - theorem42_integral(A, upper=self.eps) if self.eps > 0 else float(imdce_sum(A))
        mean = tail if self.correct else tail / (1.0 - self.eps)
        return ExactMoments(mean, None)

    def mask_law(self, case) -> MaskLaw:
        return lambda_law(self.eps)


def truncated_lambda(eps: float, *, correct: bool = False, n_samples: int = 1):
    """λ-DCE with λ ~ U(ε, 1) and weight 1/λ: mean (1/(1-ε)) ∫_ε^1 g(λ)/λ dλ, or ∫_ε^1 g/λ dλ with
    ``correct=True`` (a 1 - ε factor applied); the time truncation of ``sampling_eps`` (§6.3, §8)."""
    eps = float(eps)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"`eps` must lie in [0, 1) (got {eps!r})")
    tag = ", (1-ε) corrected" if correct else ""
    return _Truncated(f"λ-DCE truncated at ε = {eps:g}{tag}", eps, bool(correct), int(n_samples))


@dataclass(frozen=True)
class _Scaled:
    name: str
    base: object
    factor: float

    def moments(self, case) -> ExactMoments:
        m = self.base.moments(case)
        var = None if m.variance is None else m.variance * self.factor**2
        return ExactMoments(m.mean * self.factor, var)

    def mask_law(self, case):
        get = getattr(self.base, "mask_law", None)
        return None if get is None else get(case)


def scaled(reference, factor: float, *, name: str | None = None):
    """``reference`` reporting ``factor`` times its value (``-1``: a log-likelihood; ``1/n``: per token)."""
    reference = as_reference(reference)
    return _Scaled(name or f"{factor:g} × {reference.name}", reference, float(factor))


def as_reference(obj):
    """A :class:`Reference` from itself or from an estimator's name (with its defaults)."""
    if isinstance(obj, Reference):
        return obj
    if isinstance(obj, str):
        return estimator(obj, n_samples=1)
    raise ValueError(f"`reference` must have `name` and `moments(case)` (got {type(obj).__name__})")
