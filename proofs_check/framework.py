"""The check registry, the records a check produces, and the context it runs in.

A *check* is a function registered with :func:`check`. It receives a :class:`Context`
(the distributions under test and the run mode) and yields :class:`Result` objects, one
per case, or :class:`Skip` objects naming a case it cannot run and why. The runner turns
each result into a :class:`CheckRecord`, the row of the report and of the JSON output.

A *negative control* is a check registered with ``expected_to_fail=True``: it states a
deliberately wrong variant of an identity (``docs/theory.md`` §8, §10) and must exceed its
tolerance. It shows that the verifier can fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ctmc_lab.sources.joint import JointDistribution

from .defaults import DEFAULT_BUDGET, DEFAULT_SEED

__all__ = [
    "METHODS",
    "THEOREM_ORDER",
    "TOL_ENUM",
    "TOL_QUAD",
    "TOL_DERIV",
    "deriv_tolerance",
    "TERMS_FREE",
    "scaled_tolerance",
    "difference",
    "relative_error",
    "CANCELLATION",
    "TOL_MP",
    "TOL_EXACT",
    "Result",
    "Skip",
    "CheckRecord",
    "SkipRecord",
    "Check",
    "Context",
    "REGISTRY",
    "check",
]

#: Precisions a check can run in (``--precision``).
METHODS = ("float64", "mpmath", "sympy")

#: The results of the paper whose coverage matrix (theorem × precision) the report ends with.
COVERAGE_THEOREMS = (
    "Thm 3.1",
    "Thm 3.2",
    "Lemma 3.3",
    "Thm 3.4",
    "Thm 3.5",
    "Cor 3.6",
    "Cor 3.7",
    "Thm 4.1",
    "Thm 4.2",
    "Cor 4.3",
    "Eq. 18",
)

#: Report order of the theorem groups: the library's building blocks, the paper's results,
#: then the estimators, the Markov source and the rows that are algebra only.
THEOREM_ORDER = (
    "Kernels (§1.2)",
    "Schedules (§1.3)",
    "Denoiser c* (§3.4)",
    *COVERAGE_THEOREMS,
    "λ-DCE moments (§6.3)",
    "Estimators (§6)",
    "Markov source (§7)",
    "Algebra",
)

#: (theorem, precision) cells where a precision does not apply, with the reason.
NOT_APPLICABLE = {
    ("Thm 3.5", "sympy"): "an inequality over a pseudo-random perturbed denoiser; its exact Gibbs-gap "
    "form is checked in float64 and mpmath",
    ("Cor 3.7", "sympy"): "the integrand mdce/λ is the polynomial of Cor 3.6, whose sympy row covers it; "
    "the integral of a symbolic table is the Beta sum (algebra)",
    ("Thm 4.2", "sympy"): "the λ-integral of a symbolic table is the Beta sum, which the Cor 4.3 sympy row "
    "checks against the chain rule",
    ("Eq. 18", "sympy"): "a difference of two Thm 4.1 sums under one shared mask; the Thm 4.1 sympy row covers each",
}

# Tolerances of docs/theory.md §10. TOL_ENUM, TOL_QUAD, TOL_DERIV and TOL_MP are the
# tolerances of values of size at most 1 summed from at most TERMS_FREE terms: a row whose
# error the runner computes as |lhs - rhs| is compared with scaled_tolerance(tol, lhs, rhs,
# scale, terms=terms), which grows with the size of the two sides and of the terms they are
# summed from (``Result.scale``) and with the square root of the number of terms beyond
# TERMS_FREE (``Result.terms``); the same infinity on both sides is equal (difference).
TOL_ENUM = 1e-12  #: enumeration identities (Thm 4.1, Cor 4.3, Eq. 18, closed forms, Lemma 3.3)
TOL_QUAD = 1e-10  #: quadrature identities (Thm 3.2, Thm 3.4, Cor 3.7, Thm 4.2)
TOL_DERIV = 1e-9  #: derivative identities by 5-point differences (Thm 3.1, Cor 3.6)
TOL_MP = 1e-25  #: mpmath at 50 digits
TOL_EXACT = 0.0  #: sympy: the difference simplifies to exactly 0

#: Sums of at most this many terms keep the base tolerance: TOL_ENUM is 4500 eps, and the
#: rounding of a sum of n terms of size ≤ 1 grows like sqrt(n) eps (a random walk of
#: roundings), so 4096 terms use about 1.5% of it.
TERMS_FREE = 4096


def scaled_tolerance(base: float, *magnitudes, terms: int = 1) -> float:
    """base · max(1, |m| for the finite magnitudes) · sqrt(max(1, terms / TERMS_FREE)).

    A float64 value of size |v| carries a rounding error proportional to |v| (eps |v| per
    operation), and a sum of n terms of size up to M one of about sqrt(n) eps M: so the base
    tolerance, written for values of size ≤ 1 summed from at most :data:`TERMS_FREE` terms,
    is absolute below 1, relative to the largest of the sides and of the summed terms
    (``magnitudes``) above it, and grows like the square root of the number of terms beyond
    TERMS_FREE. Infinite or NaN magnitudes are ignored (they are the error's business). A
    base of 0 (sympy) stays 0.

    Examples: 1e-12 for an NLL of 0.7; 3e-11 for one of 30 nats; 4e-12 for a sum of 2^16
    terms of size ≤ 1.
    """
    size = 1.0
    for m in magnitudes:
        try:
            m = abs(float(m))
        except (TypeError, ValueError):
            continue
        if math.isfinite(m):
            size = max(size, m)
    return base * size * math.sqrt(max(1.0, terms / TERMS_FREE))


def difference(lhs, rhs) -> float:
    """|lhs − rhs| for scalars or arrays (the largest entry), where two equal infinities
    agree (error 0), one infinite side against a finite one differs by inf, and a NaN on
    either side is an error of inf (never a pass)."""
    a = np.asarray(lhs, dtype=float)
    b = np.asarray(rhs, dtype=float)
    same = a == b  # true for equal infinities, false for NaN
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.where(same, 0.0, np.abs(a - b))
    d = np.where(np.isnan(d), np.inf, d)
    return float(np.max(d)) if d.size else 0.0


#: Rounding of a value computed as a difference of terms of size M (a variance as a second
#: moment minus a squared mean): a few ulps of M (one subtraction rounds by eps M; 8 eps
#: leaves a margin). Below CANCELLATION · M / tol, a relative error of tol is under it.
CANCELLATION = 8 * float(np.finfo(float).eps)


def relative_error(got, want, *, scale: float = 0.0, tol: float = TOL_ENUM) -> float:
    """|got − want| / max(|want|, CANCELLATION · scale / tol) (:func:`difference` on top).

    A relative residual is meaningless where the true value is 0 or is itself below the
    rounding of what it is computed from (a variance of 0, a deterministic source: one row
    compared 4.9e-32 with 0 and called it a relative error of 1). ``scale`` is the size of
    the terms it is computed from (for a variance, the second moment E g²); below
    CANCELLATION · scale / tol the residual is measured against that floor instead, so the
    row's tolerance ``tol`` becomes an absolute CANCELLATION · scale there. Equal infinities
    agree; a NaN is an error of inf.
    """
    d = difference(got, want)
    if d == 0.0:
        return 0.0
    want = abs(float(want))
    den = max(want if math.isfinite(want) else 0.0, CANCELLATION * abs(float(scale)) / tol if tol > 0 else 0.0)
    return d / den if den > 0 else math.inf


def deriv_tolerance(value, scale=0.0) -> float:
    """TOL_DERIV · max(1, |value|, |scale|): the tolerance of a 5-point difference against a
    derivative of size |value| of a function of size |scale| (max |F| over the nodes).

    The difference's truncation error (h^4 f^(5) / 30) grows with the size of the derivatives
    and its rounding error (about 1.5 eps |F| / h, 2e-11 |F| at the smallest step 1.6e-5) with
    the size of F, so a fixed absolute 1e-9 fails correct derivatives of size 64 (measured
    2.1e-9, relative 3e-11) or of a KL near 690 nats, while p_s at a wrong noise level is off
    by a relative 1e-2 or more (the controls)."""
    return scaled_tolerance(TOL_DERIV, value, scale)


@dataclass(frozen=True)
class Result:
    """One evaluated case of a check: ``lhs`` should equal ``rhs``.

    Attributes
    ----------
    case : str
        What was evaluated, as ``key=value`` items separated by ``; `` (``x0=ATG; t=0.3``).
    lhs, rhs : float or str
        The two sides. Floats for float64 and mpmath (mpmath values rounded to float for the
        report; the residual is computed at full precision); strings for sympy.
    error : float, optional
        |lhs - rhs| (or the size of a violated inequality); computed from lhs/rhs if omitted.
    tolerance : float, optional
        Overrides the check's tolerance for this case (a documented, stricter or
        singularity-specific bound). Without it the check's tolerance applies, scaled by
        :func:`scaled_tolerance` with ``scale`` and ``terms`` (and, when ``error`` is left to
        the runner, with the sizes of ``lhs`` and ``rhs``).
    scale : float, optional
        The size of the terms the sides are summed from (e.g. Σ|terms| or max |term| of a
        cancelling sum), when it exceeds the sides themselves.
    terms : int, optional
        How many terms the sides are summed from (default 1: no growth).
    gap : float, optional
        For a negative control: the size of what the wrong variant drops or changes, computed
        by a separate route. When it is not above the tolerance the control cannot fail on
        this distribution, and the runner skips it with that reason instead of an XPASS.
    """

    case: str
    lhs: float | str
    rhs: float | str
    error: float | None = None
    tolerance: float | None = None
    gap: float | None = None
    scale: float = 0.0
    terms: int = 1


@dataclass(frozen=True)
class Skip:
    """A case a check cannot run on this distribution, with the reason (never silent)."""

    case: str
    reason: str


@dataclass(frozen=True)
class CheckRecord:
    """One row of the report (the JSON ``checks`` entries).

    ``passed`` means |error| <= tolerance. For a negative control (``expected_to_fail``)
    the verifier is working when ``passed`` is False and the error is finite. ``crashed``
    holds the exception of a check that raised: such a row is an error, never a pass and
    never an expected failure.
    """

    id: str
    theorem: str
    statement: str
    case: str
    method: str
    lhs: float | str | None
    rhs: float | str | None
    error: float
    tolerance: float
    passed: bool
    expected_to_fail: bool
    crashed: str | None = None

    @property
    def ok(self) -> bool:
        """True when the row is as it should be: a check passes, a control fails by a finite
        error above its tolerance; a crash is never ok."""
        if self.crashed is not None:
            return False
        if self.expected_to_fail:
            return not self.passed and math.isfinite(self.error)
        return self.passed

    def as_json(self) -> dict:
        def num(x):
            if isinstance(x, str) or x is None:
                return x
            x = float(x)
            return x if math.isfinite(x) else None

        return {
            "id": self.id,
            "theorem": self.theorem,
            "statement": self.statement,
            "case": self.case,
            "method": self.method,
            "lhs": num(self.lhs),
            "rhs": num(self.rhs),
            "error": num(self.error),
            "tolerance": self.tolerance,
            "passed": self.passed,
            "expected_to_fail": self.expected_to_fail,
            "error_message": self.crashed,
        }


@dataclass(frozen=True)
class SkipRecord:
    """A skipped case (JSON ``skipped`` entries)."""

    id: str
    theorem: str
    method: str
    case: str
    reason: str

    def as_json(self) -> dict:
        return {"id": self.id, "theorem": self.theorem, "method": self.method, "case": self.case, "reason": self.reason}


@dataclass(frozen=True)
class Check:
    """A registered check: metadata plus the function that evaluates it."""

    id: str
    theorem: str
    statement: str
    method: str
    tolerance: float
    func: Callable[[Context], Iterable[Result | Skip]] = field(repr=False)
    expected_to_fail: bool = False
    #: Predicted work in units of :mod:`proofs_check.cost`: a number, or a function of the
    #: Context computed from the input sizes before the check runs (never from a clock).
    work: float | Callable[[Context], float] = 1e8
    #: Checks of one group run in one worker process, one after the other, so that a cache
    #: they share is built once (None: a group of its own).
    group: str | None = None

    def predicted_work(self, ctx: Context) -> float:
        """The check's predicted work on ``ctx``, in work units (:mod:`proofs_check.cost`)."""
        return float(self.work(ctx) if callable(self.work) else self.work)


#: Every registered check, in registration order.
REGISTRY: list[Check] = []


def check(
    id: str,
    *,
    theorem: str,
    statement: str,
    method: str,
    tolerance: float,
    expected_to_fail: bool = False,
    work: float | Callable[[Context], float] = 1e8,
    group: str | None = None,
):
    """Register a check function under ``id`` (decorator); ``work`` is its predicted work
    (work units of :mod:`proofs_check.cost`, or a function of the Context returning them);
    checks of one ``group`` share a worker process (and its caches)."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS} (got {method!r})")
    if theorem not in THEOREM_ORDER:
        raise ValueError(f"`theorem` {theorem!r} is not a report group; add it to THEOREM_ORDER")

    def register(func):
        if any(c.id == id for c in REGISTRY):
            raise ValueError(f"check id {id!r} is registered twice")
        REGISTRY.append(Check(id, theorem, statement, method, tolerance, func, expected_to_fail, work, group))
        return func

    return register


@dataclass(frozen=True)
class Context:
    """What the checks run on.

    Attributes
    ----------
    small : JointDistribution
        The distribution of the dense checks (every state of ``S^L`` enumerated: Thm 3.1,
        3.2, 3.4, Lemma 3.3). Default: Dirichlet(1), N=4, L=3, full support (§9).
    large : JointDistribution
        The distribution of the subset-table checks (absorbing closed forms, Thm 4.1–Cor 4.3,
        Eq. 18). Default: the paper's D128 table. With ``--dist`` both are the user's.
    quick : bool
        Fewer cases per check (CI).
    user : bool
        True when the distributions came from ``--dist``.
    seed : int
        Seed of every random choice the checks make (random Q, random c, pairs).
    budget : float
        Work units one check may spend (``--budget``; :mod:`proofs_check.cost`): a check
        whose predicted work exceeds it runs on a smaller prefix marginal where it can, or is
        skipped with the prediction as the reason. Predicted from the input sizes only, so
        the same input gives the same rows on any machine and under any load.
    chain : MarkovChain, optional
        The Markov source of the Markov rows (default: a small seeded order-2 chain; with
        ``--dist markov4|markov:PATH`` the user's chain).
    """

    small: JointDistribution
    large: JointDistribution
    quick: bool = False
    user: bool = False
    seed: int = DEFAULT_SEED
    budget: float = DEFAULT_BUDGET
    chain: object = None

    def rng(self, salt: int) -> np.random.Generator:
        """A generator private to one check, so selecting checks never changes their cases."""
        return np.random.default_rng([self.seed, salt])

    @property
    def distributions(self) -> list[JointDistribution]:
        return [self.small] if self.small is self.large else [self.small, self.large]
