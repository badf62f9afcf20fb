"""Contracts: what an evaluator claims, as a target quantity and a relation to it.

Targets (:class:`Target`) are exact numbers of a case:

* ``nll``, ``joint_nll``, ``cond_nll``, ``cond_nll_rest`` (:data:`ctmc_lab.estimation.cases.TARGETS`);
* ``per_token(t, per="answer"|"row")``: ``t`` divided by the answer length n or by |prompt| + n;
* ``elbo(model)``: the NELBO of a non-optimal model, Σ_M B(m, n-m+1) A_θ(M) over its own A-table
  (Thm 4.1 / Cor. 4.3: an upper bound on ``cond_nll``, equal to it for c*);
* ``log_ratio(a, b)``: log p_a(y | x) - log p_b(y | x) through the two models' NELBOs, NELBO_b - NELBO_a;
* ``expression(fn, name)``: any number ``fn(case)`` a user declares.

Relations: :class:`Unbiased` (E = target, within ``tol``), :class:`UpperBound` (E ≥ target),
:class:`Exact` (every output equals the target: zero variance), :class:`Biased` (E = target + a
documented bias, within ``tol``), :class:`FiniteVariance`, :class:`DeclaredLaw` (the masks follow a
:class:`~ctmc_lab.conformance.masklaw.MaskLaw`). :func:`parse_contract` reads the strings of
``ctmc-lab conform --contract`` (``unbiased:cond_nll``, ``upper_bound:nll``, ``biased:cond_nll:0.2``,
``exact:cond_nll``, ``finite_variance``, ``mask_law:k_dce``, ``mask_law:llada:8``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ctmc_lab.conformance.cases import TARGETS

__all__ = [
    "Target",
    "Relation",
    "target",
    "per_token",
    "elbo",
    "log_ratio",
    "expression",
    "Unbiased",
    "UpperBound",
    "Exact",
    "Biased",
    "FiniteVariance",
    "DeclaredLaw",
    "parse_contract",
    "CONTRACT_SPECS",
]

#: The ``--contract`` grammar, one line per form.
CONTRACT_SPECS = (
    "unbiased:TARGET[:TOL]",
    "upper_bound:TARGET",
    "exact:TARGET[:TOL]",
    "biased:TARGET:BIAS[:TOL]",
    "finite_variance",
    "mask_law:ESTIMATOR | mask_law:llada:B | mask_law:lambda[:EPS]",
    f"TARGET: one of {', '.join(TARGETS)}, or per_token_TARGET (÷ answer length)",
)


@dataclass(frozen=True, eq=False)
class Target:
    """An exact quantity of a case: ``value(case)`` (float64 nats)."""

    name: str
    value: Callable
    scale_of: Callable | None = None
    base: str | None = None

    def __call__(self, case) -> float:
        return float(self.value(case))

    def scale(self, case) -> float:
        """The factor from an NLL of the answer to this target (1, or 1/n for a per-token target)."""
        return 1.0 if self.scale_of is None else float(self.scale_of(case))


def target(name) -> Target:
    """A named target (:data:`ctmc_lab.estimation.cases.TARGETS`, or ``per_token_<name>``), or a Target itself."""
    if isinstance(name, Target):
        return name
    if isinstance(name, str) and name.startswith("per_token_"):
        return per_token(name.removeprefix("per_token_"))
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {list(TARGETS)} or per_token_<target>")
    return Target(name, lambda case: case.target(name), base=name)


def per_token(base="cond_nll", *, per: str = "answer") -> Target:
    """``base`` divided by the answer length (``per="answer"``) or by the prompt plus the answer (``"row"``)."""
    inner = target(base)
    if per not in ("answer", "row"):
        raise ValueError(f"`per` must be 'answer' or 'row' (got {per!r})")
    count = (lambda c: c.n) if per == "answer" else (lambda c: c.n + len(c.prompt))
    label = f"per_token_{inner.name}" if per == "answer" else f"per_row_token_{inner.name}"
    return Target(label, lambda c: inner(c) / count(c), scale_of=lambda c: inner.scale(c) / count(c), base=inner.base)


def _nelbo(model, case) -> float:
    from ctmc_lab.estimation.conditional import model_likelihood

    denoiser = getattr(getattr(model, "exact", model), "denoiser", model)
    context = list(case.prompt) or None
    return model_likelihood(denoiser, case.x, target=list(case.answer), context=context).time_free_exact


def elbo(model) -> Target:
    """The NELBO of ``model`` (a Denoiser, an ExactModel or an adapter) on the case's answer given
    its prompt, the rest marginalised: Σ_M B(m, n-m+1) A_θ(M) (Thm 4.1 / Cor. 4.3)."""
    return Target("elbo", lambda case: _nelbo(model, case))


def log_ratio(model_a, model_b) -> Target:
    """log p_a(y | x) - log p_b(y | x) through the NELBOs: NELBO_b - NELBO_a (§4.3)."""
    return Target("log_ratio", lambda case: _nelbo(model_b, case) - _nelbo(model_a, case))


def expression(fn: Callable, name: str = "expression") -> Target:
    """Any exact number ``fn(case)`` a user declares."""
    if not callable(fn):
        raise ValueError("`fn` must be callable: case -> float")
    return Target(str(name), fn)


# ================================================================================= relations
@dataclass(frozen=True, eq=False)
class Relation:
    """A relation to a target; its ``label`` names the contract in a report."""

    target: Target

    def __post_init__(self):
        object.__setattr__(self, "target", target(self.target))

    @property
    def label(self) -> str:
        return f"{self.kind} for {self.target.name}"


@dataclass(frozen=True, eq=False)
class Unbiased(Relation):
    """E[output] = target, within ``tol`` (an equivalence margin, e.g. for bfloat16 logits)."""

    tol: float = 0.0
    kind = "unbiased"


@dataclass(frozen=True, eq=False)
class UpperBound(Relation):
    """E[output] ≥ target (an ELBO)."""

    kind = "upper bound"


@dataclass(frozen=True, eq=False)
class Exact(Relation):
    """Every output equals the target within ``tol`` (default: 1e-9 relative in float64, 1e-4 in
    float32, 2e-2 in bfloat16, by the model's precision)."""

    tol: float | None = None
    kind = "exact"


@dataclass(frozen=True, eq=False)
class Biased(Relation):
    """E[output] = target + ``bias`` within ``tol``: a documented bias."""

    bias: float = 0.0
    tol: float = 0.0
    kind = "biased"

    @property
    def label(self) -> str:
        return f"bias {self.bias:+.4g} on {self.target.name}"


@dataclass(frozen=True, eq=False)
class FiniteVariance:
    """Var[output] < ∞: exact with a reference; otherwise a Hill tail-index test of α ≥ 2."""

    kind = "finite variance"
    label = "finite variance"
    target = None


@dataclass(frozen=True, eq=False)
class DeclaredLaw:
    """The masks the evaluator drew follow ``law`` (χ² tests on the call log); with a weight, its
    outputs also equal ``scale`` times the declared weighting of its own masks (``scale = -1``
    for an evaluator that returns a log-likelihood, 1/n for a per-token value)."""

    law: object
    scale: float = 1.0
    kind = "mask law"
    target = None

    @property
    def label(self) -> str:
        return f"masks follow {self.law.name}"


def parse_contract(spec):
    """A contract from itself or its ``--contract`` string (:data:`CONTRACT_SPECS`).

    Examples
    --------
    >>> parse_contract("unbiased:cond_nll").label
    'unbiased for cond_nll'
    >>> parse_contract("biased:cond_nll:0.2").bias
    0.2
    """
    if not isinstance(spec, str):
        if isinstance(spec, (Relation, FiniteVariance, DeclaredLaw)):
            return spec
        raise ValueError(f"`contract` must be a contract or a string (got {type(spec).__name__})")
    parts = spec.split(":")
    head, args = parts[0], parts[1:]

    def num(text, what):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"`--contract` {spec!r}: {what} {text!r} is not a number") from None

    def need(low, high):
        if not low <= len(args) <= high:
            raise ValueError(f"`--contract` {spec!r} needs {low}..{high} fields after {head!r}")

    if head == "unbiased":
        need(1, 2)
        return Unbiased(target(args[0]), tol=num(args[1], "tolerance") if len(args) > 1 else 0.0)
    if head == "upper_bound":
        need(1, 1)
        return UpperBound(target(args[0]))
    if head == "exact":
        need(1, 2)
        return Exact(target(args[0]), tol=num(args[1], "tolerance") if len(args) > 1 else None)
    if head == "biased":
        need(2, 3)
        tol = num(args[2], "tolerance") if len(args) > 2 else 0.0
        return Biased(target(args[0]), bias=num(args[1], "bias"), tol=tol)
    if head == "finite_variance":
        need(0, 0)
        return FiniteVariance()
    if head == "mask_law":
        from ctmc_lab.conformance import masklaw

        need(1, 2)
        if args[0] == "llada":
            need(2, 2)
            return DeclaredLaw(masklaw.llada_law(int(num(args[1], "batch size"))))
        if args[0] == "lambda":
            return DeclaredLaw(masklaw.lambda_law(num(args[1], "eps") if len(args) > 1 else 0.0))
        need(1, 1)
        return DeclaredLaw(masklaw.estimator_law(args[0]))
    raise ValueError(f"unknown `--contract` {spec!r}; choose one of: " + "; ".join(CONTRACT_SPECS))
