"""Select and run registered checks; collect their records (the suite's engine).

A check that raises is reported as an error row (its exception in ``crashed`` and in the
case), never swallowed: a crash is neither a pass nor an expected failure, it makes the
suite fail, and it does not hide the other checks.
"""

from __future__ import annotations

import fnmatch
import math
import time
import traceback
from dataclasses import dataclass

from ctmc_lab.io import Progress
from ctmc_lab.sources import datasets

from . import framework
from .framework import DEFAULT_SEED, METHODS, REGISTRY, Check, CheckRecord, Context, Result, Skip, SkipRecord

__all__ = ["SuiteResult", "load_checks", "select_checks", "parse_precisions", "default_context", "run_checks"]

#: Modules holding checks, imported on demand so ``import proofs_check`` stays light.
CHECK_MODULES = (
    "symbolic",
    "highprec",
    "mp_twins",
    "thm31_imdse",
    "thm32_nll",
    "lemma33_thm34",
    "thm35_cor36_37",
    "thm41_43_eq18",
    "controls",
    "process_ties",
    "estimators_check",
    "markov_check",
    "library_rows",
)


@dataclass(frozen=True)
class SuiteResult:
    """Everything one run produced.

    Attributes
    ----------
    records : tuple of CheckRecord
    skipped : tuple of SkipRecord
    elapsed : float
        Wall time in seconds.
    """

    records: tuple[CheckRecord, ...]
    skipped: tuple[SkipRecord, ...]
    elapsed: float
    #: (check id, seconds) in run order.
    timings: tuple[tuple[str, float], ...] = ()

    @property
    def n_passed(self) -> int:
        """Checks (not controls) within tolerance."""
        return sum(r.passed and not r.expected_to_fail for r in self.records)

    @property
    def n_expected_failures(self) -> int:
        """Negative controls that failed, as they must (by a finite error; a crash is not one)."""
        return sum(r.expected_to_fail and r.ok for r in self.records)

    @property
    def n_failed(self) -> int:
        """Rows that are wrong: a check out of tolerance, a control that passed, or a crash."""
        return sum(not r.ok for r in self.records)

    @property
    def n_errors(self) -> int:
        """Rows of checks or controls that raised."""
        return sum(r.crashed is not None for r in self.records)

    @property
    def ok(self) -> bool:
        """Exit-status criterion: every check passes and every control fails."""
        return self.n_failed == 0 and len(self.records) > 0


class LoadError(RuntimeError):
    """A check module (or the library code it imports) failed to import."""


def load_checks() -> list[Check]:
    """Import every check module (registration happens at import) and return the registry.

    Raises
    ------
    LoadError
        Naming the module and the exception, when an import fails (a broken library module
        is a failed verification, reported in one line, not a traceback).
    """
    import importlib

    for name in CHECK_MODULES:
        try:
            importlib.import_module(f"{__package__}.{name}")
        except Exception as err:
            where = traceback.extract_tb(err.__traceback__)[-1]
            raise LoadError(
                f"check module {name!r} failed to import: {type(err).__name__}: {err} "
                f"({where.filename.split('/')[-1]}:{where.lineno})"
            ) from None
    return list(REGISTRY)


def parse_precisions(text: str | None) -> tuple[str, ...]:
    """``"float64,mpmath"`` -> ``("float64", "mpmath")``; an unknown name lists the valid ones."""
    if text is None:
        return METHODS
    names = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    bad = [p for p in names if p not in METHODS]
    if bad or not names:
        raise ValueError(f"`--precision` {text!r}: choose a comma-separated subset of {','.join(METHODS)}")
    return names


def _matches(chk: Check, pattern: str) -> bool:
    """Glob (``*``, ``?``, ``[``) or case-insensitive substring match on id or theorem."""
    fields = (chk.id.lower(), chk.theorem.lower())
    pattern = pattern.lower()
    if any(ch in pattern for ch in "*?["):
        return any(fnmatch.fnmatchcase(f, pattern) for f in fields)
    return any(pattern in f for f in fields)


def select_checks(checks, *, only: str | None = None, precisions=METHODS) -> list[Check]:
    """Checks whose method is in ``precisions`` and that match one of the comma-separated
    ``only`` patterns (all checks when ``only`` is None)."""
    patterns = [p.strip() for p in only.split(",") if p.strip()] if only else []
    out = [c for c in checks if c.method in precisions]
    if patterns:
        out = [c for c in out if any(_matches(c, p) for p in patterns)]
    return out


#: Default per-check budget in seconds on a user distribution (``--budget``).
DEFAULT_BUDGET = 10.0
#: Default per-check wall-clock guard on the built-in distributions, which are sized to fit:
#: it only stops a hang (running over it there is a failure, not a skip).
BUILTIN_BUDGET = 120.0


def default_chain(seed: int = DEFAULT_SEED):
    """The Markov source of the default run: a seeded order-2 Dirichlet chain on 3 symbols."""
    from ctmc_lab.sources.markov import MarkovChain

    return MarkovChain.from_dirichlet(3, 2, alpha=0.7, rng=seed, alphabet="abc")


#: Largest number of windows N^L of the stationary window a Markov source is verified on.
MARKOV_WINDOWS = 4096


def markov_window(chain):
    """The chain's stationary window of the longest length L with N^L ≤ :data:`MARKOV_WINDOWS`
    (at least 2), as a JointDistribution: the distribution the non-Markov rows run on."""
    L = 2
    while chain.n_tokens ** (L + 1) <= MARKOV_WINDOWS:
        L += 1
    return chain.joint(L)


def default_context(*, quick: bool = False, seed: int = DEFAULT_SEED, budget: float | None = None) -> Context:
    """The default distributions (``docs/theory.md`` §9).

    * small: Dirichlet(1) on {A,T,G,C}^3, full support, seeded (the dense checks);
    * large: the paper's D128 table (absorbing closed forms and time-free checks);
    * chain: a seeded order-2 Markov chain on 3 symbols (the Markov rows).
    """
    small = datasets.dirichlet(4, 3, alpha=1.0, rng=seed, alphabet="ATGC")
    return Context(
        small=small,
        large=datasets.dna128(),
        quick=quick,
        user=False,
        seed=seed,
        budget=BUILTIN_BUDGET if budget is None else budget,
        chain=default_chain(seed),
    )


def user_context(
    dist, *, quick: bool = False, seed: int = DEFAULT_SEED, budget: float | None = None, chain=None
) -> Context:
    """Every distribution-dependent check on the user's distribution (and chain, if given)."""
    return Context(
        small=dist,
        large=dist,
        quick=quick,
        user=True,
        seed=seed,
        budget=DEFAULT_BUDGET if budget is None else budget,
        chain=chain if chain is not None else default_chain(seed),
    )


def _vanishes(res: Result, tolerance: float) -> bool:
    try:
        return max(abs(float(res.lhs)), abs(float(res.rhs))) <= max(tolerance, 1e-15)
    except (TypeError, ValueError):
        return False


def _record(chk: Check, res: Result) -> CheckRecord:
    tol = chk.tolerance if res.tolerance is None else res.tolerance
    if res.error is not None:
        error = float(res.error)
    else:
        try:
            error = abs(float(res.lhs) - float(res.rhs))
        except (TypeError, ValueError):
            error = math.inf
    if math.isnan(error):
        error = math.inf  # NaN is never a pass
    return CheckRecord(
        id=chk.id,
        theorem=chk.theorem,
        statement=chk.statement,
        case=res.case,
        method=chk.method,
        lhs=res.lhs,
        rhs=res.rhs,
        error=error,
        tolerance=tol,
        passed=bool(error <= tol),
        expected_to_fail=chk.expected_to_fail,
    )


class BudgetExceeded(BaseException):
    """Raised inside a check that outlives its budget (a BaseException, so that no
    ``except Exception`` in the library swallows it)."""


#: Wall-time cap of a whole run on a user distribution (``--dist``), in seconds.
USER_RUN_LIMIT = 110.0


class _Alarm:
    """A per-check wall-clock limit by SIGALRM (a no-op where signals are unavailable)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = False

    def __enter__(self):
        import signal
        import threading

        if self.seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():

            def fire(signum, frame):
                raise BudgetExceeded()

            self.previous = signal.signal(signal.SIGALRM, fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal

            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _collect(chk: Check, ctx: Context, records: list, skipped: list) -> None:
    """Run one check, turning its results into records and skips (controls that cannot fail
    on this distribution become skips with the reason)."""
    for res in chk.func(ctx):
        tol = chk.tolerance if not isinstance(res, Result) or res.tolerance is None else res.tolerance
        if isinstance(res, Skip):
            skipped.append(SkipRecord(chk.id, chk.theorem, chk.method, res.case, res.reason))
        elif chk.expected_to_fail and res.gap is not None and not abs(res.gap) > 10 * tol:
            # What the wrong variant changes is itself within rounding here, so no
            # outcome of this control could be evidence: skip it, never XPASS.
            skipped.append(
                SkipRecord(
                    chk.id,
                    chk.theorem,
                    chk.method,
                    res.case,
                    f"the term this control changes is {abs(res.gap):.1e} "
                    f"≤ 10×tolerance on this distribution, so it cannot fail",
                )
            )
        elif chk.expected_to_fail and _vanishes(res, chk.tolerance):
            # On a degenerate distribution (e.g. one sequence of probability 1) both
            # sides are 0 and the wrong variant coincides with the right one.
            skipped.append(
                SkipRecord(
                    chk.id,
                    chk.theorem,
                    chk.method,
                    res.case,
                    "both sides vanish on this distribution, so the negative control cannot fail here",
                )
            )
        else:
            records.append(_record(chk, res))


def run_checks(ctx: Context, checks, *, progress: bool = True, stream=None) -> SuiteResult:
    """Run ``checks`` on ``ctx`` and collect records and skips, in registry order.

    Each check runs under a wall-clock limit of ``ctx.budget`` seconds (and, on a user
    distribution, within ``USER_RUN_LIMIT`` for the whole run). The checks estimate their
    own cost first and shrink to a prefix marginal where they can; one that still outlives
    the limit keeps the rows it produced and is skipped for the rest, with the reason.
    """
    records: list[CheckRecord] = []
    skipped: list[SkipRecord] = []
    timings: list[tuple[str, float]] = []
    start = time.perf_counter()
    total = sum(c.cost for c in checks)
    bar = Progress(max(1, round(total * 10)), "verify", stream=stream)
    if not progress:
        bar.enabled = False
    with bar:
        for chk in checks:
            t0 = time.perf_counter()
            limit = ctx.budget
            if ctx.user:
                # A fair share of what is left of the run's cap (at least 2 s, three shares),
                # so that a few expensive checks cannot starve all the others.
                left = USER_RUN_LIMIT - (t0 - start)
                remaining = len(checks) - len(timings)
                limit = min(limit, left, max(2.0, 3.0 * left / max(1, remaining)))
                if left <= 0.5:
                    skipped.append(
                        SkipRecord(
                            chk.id,
                            chk.theorem,
                            chk.method,
                            "whole check",
                            f"the run on a user distribution is capped at {USER_RUN_LIMIT:g} s "
                            f"and that time is spent; run it alone with --only",
                        )
                    )
                    timings.append((chk.id, 0.0))
                    continue
            try:
                with _Alarm(limit):
                    _collect(chk, ctx, records, skipped)
            except BudgetExceeded:
                reason = f"over its budget of {limit:.0f} s (raise it with --budget)"
                if ctx.user:
                    skipped.append(SkipRecord(chk.id, chk.theorem, chk.method, "remaining cases", reason))
                else:  # the built-in distributions are sized to fit: running over is a failure
                    records.append(
                        CheckRecord(
                            chk.id,
                            chk.theorem,
                            chk.statement,
                            f"ERROR: {reason}",
                            chk.method,
                            None,
                            None,
                            math.inf,
                            chk.tolerance,
                            False,
                            chk.expected_to_fail,
                            crashed=reason,
                        )
                    )
            except Exception as err:  # a crash is an error row with its exception, never a pass
                where = traceback.extract_tb(err.__traceback__)[-1]
                message = f"{type(err).__name__}: {err} ({where.filename.split('/')[-1]}:{where.lineno})"
                records.append(
                    CheckRecord(
                        chk.id,
                        chk.theorem,
                        chk.statement,
                        f"ERROR: {message}",
                        chk.method,
                        None,
                        None,
                        math.inf,
                        chk.tolerance,
                        False,
                        chk.expected_to_fail,
                        crashed=message,
                    )
                )
            timings.append((chk.id, time.perf_counter() - t0))
            bar.update(max(1, round(chk.cost * 10)))
    order = {name: i for i, name in enumerate(framework.THEOREM_ORDER)}
    methods = {name: i for i, name in enumerate(METHODS)}
    # Within a theorem: float64, mpmath, sympy, then its negative controls (stable otherwise).
    records.sort(key=lambda r: (order[r.theorem], r.expected_to_fail, methods[r.method]))
    return SuiteResult(tuple(records), tuple(skipped), time.perf_counter() - start, tuple(timings))
