"""Select and run registered checks; collect their records (the suite's engine).

A check that raises is reported as an error row (its exception in ``crashed`` and in the
case), never swallowed: a crash is neither a pass nor an expected failure, it makes the
suite fail, and it does not hide the other checks.

What runs is a function of the inputs: each check predicts its work from the input sizes
(:mod:`proofs_check.cost`) and is skipped, with the prediction as the reason, when that
exceeds the per-check budget (``--budget``, in work units). Checks run in forked worker
processes, side by side on the available cores; the runner waits on them with a hang guard
far above each check's predicted time, and a check stopped by it is an error row. Nothing is
interrupted inside a check's own process, so no signal can land in a finalizer.
"""

from __future__ import annotations

import fnmatch
import math
import time
import traceback
from dataclasses import dataclass

from ctmc_lab.io import Progress
from ctmc_lab.sources import datasets

from . import cost, framework
from .defaults import DEFAULT_BUDGET, DEFAULT_SEED, default_jobs
from .framework import (
    METHODS,
    REGISTRY,
    Check,
    CheckRecord,
    Context,
    Result,
    Skip,
    SkipRecord,
    difference,
    scaled_tolerance,
)

__all__ = [
    "SuiteResult",
    "load_checks",
    "select_checks",
    "parse_precisions",
    "default_context",
    "user_context",
    "SourceContext",
    "run_checks",
    "default_jobs",
    "hang_guard",
    "HANG_FACTOR",
    "HANG_FLOOR",
    "renormalised",
]

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
    "sources_check",
    "ratios_check",
    "denoisers_check",
    "schedules_check",
    "recipes_check",
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
    #: (check id, seconds of wall time) in registry order.
    timings: tuple[tuple[str, float], ...] = ()
    #: (check id, seconds of CPU time of the process that ran it) in registry order: the
    #: measure of a check's cost that a loaded machine does not inflate (for profiling only;
    #: no decision reads either).
    cpu_timings: tuple[tuple[str, float], ...] = ()

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


#: Hang guard of one check, in seconds of wall time: HANG_FACTOR times its nominal time
#: (:func:`proofs_check.cost.seconds` of its prediction), and at least HANG_FLOOR. It only
#: stops a hang, far above any expected time; a check stopped by it is an error row, never a skip.
HANG_FLOOR = 600.0
#: Multiple of a check's nominal time (from its predicted work) after which it counts as hung.
HANG_FACTOR = 50.0


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


def renormalised(dist):
    """(distribution, defect): ``dist`` itself when its probabilities sum to 1 up to the
    rounding of the sum (|Σp − 1| ≤ |support| eps), else the same table divided by its sum,
    with defect = Σp − 1.

    Every identity is stated for a normalised p0, but a table may be accepted with a sum
    off by up to 1e-9 (e.g. 200 probabilities written with 12 digits summed to 1 + 1.3e-12):
    -log p0(x) from the raw entry then differs from the conditionals' ratios, which
    normalise by themselves, by log Σp, a disagreement of the input with itself that no
    tolerance should absorb. The verifier checks the table the ratios define, and says so.
    """
    import numpy as np

    from ctmc_lab.sources.joint import JointDistribution

    defect = float(np.sum(dist.probs)) - 1.0
    if abs(defect) <= dist.support_size * float(np.finfo(float).eps):
        return dist, 0.0
    fixed = JointDistribution(
        dist.support, dist.probs, n_tokens=dist.n_tokens, alphabet=dist.alphabet, normalize=True, name=dist.name
    )
    return fixed, defect


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
        budget=DEFAULT_BUDGET if budget is None else budget,
        chain=default_chain(seed),
    )


@dataclass(frozen=True)
class SourceContext(Context):
    """A :class:`~proofs_check.framework.Context` that also carries the user's non-joint source.

    Attributes
    ----------
    source : Source, optional
        The source ``dist`` was enumerated from (``--dist python:MODULE:ATTR``): the source
        rows (:mod:`proofs_check.sources_check`) check its own methods against that enumeration.
    """

    source: object = None


def user_context(
    dist, *, quick: bool = False, seed: int = DEFAULT_SEED, budget: float | None = None, chain=None, source=None
) -> Context:
    """Every distribution-dependent check on the user's distribution (and chain, if given);
    ``source``, when given, is the non-joint source ``dist`` was enumerated from."""
    return SourceContext(
        small=dist,
        large=dist,
        quick=quick,
        user=True,
        seed=seed,
        budget=DEFAULT_BUDGET if budget is None else budget,
        chain=chain if chain is not None else default_chain(seed),
        source=source,
    )


def _vanishes(res: Result, tolerance: float) -> bool:
    try:
        return max(abs(float(res.lhs)), abs(float(res.rhs))) <= max(tolerance, 1e-15)
    except (TypeError, ValueError):
        return False


def _record(chk: Check, res: Result) -> CheckRecord:
    """The row of one result: |lhs − rhs| (:func:`~proofs_check.framework.difference`, so the
    same infinity on both sides agrees) against the check's tolerance scaled to the sizes of
    the sides and of the summed terms (:func:`~proofs_check.framework.scaled_tolerance`),
    unless the result states its own error or tolerance."""
    if res.error is not None:
        error = float(res.error)
        magnitudes = (res.scale,)
    else:
        try:
            error = difference(float(res.lhs), float(res.rhs))
        except (TypeError, ValueError):
            error = math.inf
        magnitudes = (res.lhs, res.rhs, res.scale)
    if math.isnan(error):
        error = math.inf  # NaN is never a pass
    if res.tolerance is not None:
        tol = float(res.tolerance)
    else:
        tol = scaled_tolerance(chk.tolerance, *magnitudes, terms=res.terms)
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


def _error_record(chk: Check, message: str) -> CheckRecord:
    """The row of a check that raised, hung or lost its worker: an error, never a pass or a skip."""
    return CheckRecord(
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


def _collect(chk: Check, ctx: Context, records: list, skipped: list) -> None:
    """Run one check, turning its results into records and skips (controls that cannot fail
    on this distribution become skips with the reason)."""
    for res in chk.func(ctx):
        if isinstance(res, Skip):
            skipped.append(SkipRecord(chk.id, chk.theorem, chk.method, res.case, res.reason))
            continue
        tol = _record(chk, res).tolerance
        if chk.expected_to_fail and res.gap is not None and not abs(res.gap) > 10 * tol:
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
        elif chk.expected_to_fail and _vanishes(res, tol):
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


@dataclass(frozen=True)
class _Outcome:
    """What one check produced (sent from a worker process to the runner)."""

    records: tuple
    skipped: tuple
    seconds: float
    warnings: tuple = ()  # (message, category, filename, lineno) of warnings raised inside
    cpu_seconds: float = 0.0


def _run_one(chk: Check, ctx: Context) -> _Outcome:
    """Run one check and keep its rows, its wall time and the warnings it raised; an
    exception becomes an error row with the exception and where it was raised."""
    import warnings

    records: list[CheckRecord] = []
    skipped: list[SkipRecord] = []
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        try:
            _collect(chk, ctx, records, skipped)
        except Exception as err:  # a crash is an error row with its exception, never a pass
            where = traceback.extract_tb(err.__traceback__)[-1]
            message = f"{type(err).__name__}: {err} ({where.filename.split('/')[-1]}:{where.lineno})"
            records.append(_error_record(chk, message))
    seen = tuple((str(w.message), w.category, w.filename, w.lineno) for w in caught)
    return _Outcome(
        tuple(records), tuple(skipped), time.perf_counter() - t0, seen, cpu_seconds=time.process_time() - c0
    )


def _replay(outcome: _Outcome) -> None:
    """Raise the warnings a check raised (in a worker) again here, so they are seen as in a serial run."""
    import warnings

    for message, category, filename, lineno in outcome.warnings:
        warnings.warn_explicit(message, category, filename, lineno)


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def hang_guard(predicted_work: float) -> float:
    """Seconds of wall time after which a check counts as hung: :data:`HANG_FACTOR` × its
    nominal time, at least :data:`HANG_FLOOR`."""
    return max(HANG_FLOOR, HANG_FACTOR * cost.seconds(predicted_work))


def _one_blas_thread():
    """A context running BLAS on one thread: the workers share the cores among themselves, and
    a check's arithmetic must not depend on the caller's thread setting (a threaded BLAS
    reduction may sum in another order; a second spinning thread made a 6×6 expm 80× slower)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _worker(conn, ctx: Context, checks) -> None:  # pragma: no cover - runs in a child process
    """A worker process: run the checks whose indices arrive on ``conn``, send their outcomes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops its workers on Ctrl-C
    _one_blas_thread()  # for the worker's lifetime
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        outcome = _run_one(checks[index], ctx)
        try:
            conn.send(outcome)  # pickled before anything is written, so a failure sends nothing
        except Exception as err:  # a row holding a value that cannot be pickled
            message = f"its rows could not be sent from the worker: {type(err).__name__}: {err}"
            conn.send(_Outcome((_error_record(checks[index], message),), (), outcome.seconds))


class _Pool:
    """Forked worker processes running checks, with a per-check hang guard enforced here.

    A worker runs one check at a time in its own process: a check that outlives its guard
    is stopped by killing its worker (never by a signal inside the check, which could land
    in a finalizer), and becomes an error row; a fresh worker takes the next check.
    """

    def __init__(self, ctx: Context, checks, jobs: int):
        import multiprocessing

        self.mp = multiprocessing.get_context("fork")
        self.ctx, self.checks = ctx, checks
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self):
        parent, child = self.mp.Pipe()
        proc = self.mp.Process(target=_worker, args=(child, self.ctx, self.checks), daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "index": None, "start": 0.0, "queue": []}

    def _stop(self, w) -> None:
        if w["proc"].is_alive():
            w["proc"].kill()
        w["proc"].join()
        w["conn"].close()

    def run(self, units, guards, done) -> None:
        """Run the checks of ``units`` (lists of indices; one unit's checks run in one worker,
        in order, so that they share its caches), calling ``done(index, outcome)`` as each
        check finishes."""
        from multiprocessing.connection import wait

        pending = [list(unit) for unit in units]
        try:
            while pending or any(w["index"] is not None or w["queue"] for w in self.workers):
                for w in self.workers:
                    if w["index"] is None and not w["queue"] and pending:
                        w["queue"] = pending.pop(0)
                    if w["index"] is None and w["queue"]:
                        w["index"], w["start"] = w["queue"].pop(0), time.monotonic()
                        w["conn"].send(w["index"])
                busy = [w for w in self.workers if w["index"] is not None]
                now = time.monotonic()
                timeout = max(0.0, min(w["start"] + guards[w["index"]] - now for w in busy))
                ready = wait([w["conn"] for w in busy], timeout=min(timeout, 1.0))
                for k, w in enumerate(self.workers):
                    if w["index"] is None:
                        continue
                    index = w["index"]
                    if w["conn"] in ready:
                        try:
                            outcome = w["conn"].recv()
                        except (EOFError, OSError):
                            code = w["proc"].exitcode
                            outcome = self._lost(index, f"its worker process died (exit code {code}) while it ran")
                            self._stop(w)
                            self.workers[k] = fresh = self._start()
                            fresh["queue"], w = w["queue"], fresh
                        w["index"] = None
                        done(index, outcome)
                    elif time.monotonic() - w["start"] > guards[index]:
                        self._stop(w)
                        self.workers[k] = fresh = self._start()
                        fresh["queue"] = w["queue"]  # the rest of its unit goes on in a new worker
                        outcome = self._lost(
                            index,
                            f"did not finish within its hang guard of {guards[index]:.0f} s "
                            f"(≥ {HANG_FACTOR:g}× its predicted time)",
                        )
                        done(index, outcome)
        finally:
            for w in self.workers:
                if w["proc"].is_alive() and w["index"] is None:
                    try:
                        w["conn"].send(None)
                    except OSError:
                        pass
                self._stop(w)

    def _lost(self, index: int, message: str) -> _Outcome:
        return _Outcome((_error_record(self.checks[index], message),), (), 0.0)


def run_checks(
    ctx: Context,
    checks,
    *,
    progress: bool = True,
    stream=None,
    jobs: int | None = None,
    guard: float | None = None,
) -> SuiteResult:
    """Run ``checks`` on ``ctx`` and collect records and skips, in registry order.

    Which checks run, and on what, is decided from the inputs only: each check's predicted
    work (:meth:`~proofs_check.framework.Check.predicted_work`, :mod:`proofs_check.cost`)
    is compared with ``ctx.budget``, and a check over it is skipped with the prediction as
    the reason. The rows are therefore the same on an idle and on a loaded machine.

    Parameters
    ----------
    ctx : Context
    checks : sequence of Check
    progress : bool
        Draw a progress bar on a terminal.
    stream : file-like, optional
        Where the progress bar goes (default stderr).
    jobs : int, optional
        Worker processes (default :func:`default_jobs`, the usable cores). Independent
        checks run side by side, the longest predicted first; the rows are identical to a
        serial run whatever the number. ``0`` runs every check in this process, without a
        hang guard (for a debugger; also where ``fork`` is unavailable). Either way BLAS runs
        on one thread per process.
    guard : float, optional
        Hang guard in seconds for every check (default :func:`hang_guard` of each
        prediction). A check still running then is stopped and becomes an error row.

    Returns
    -------
    SuiteResult
        Rows sorted by theorem, then checks before controls, then precision; within that,
        in registry order.
    """
    checks = list(checks)
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 0:
        raise ValueError(f"`jobs` must be a non-negative number of worker processes (got {jobs})")
    outcomes: list[_Outcome | None] = [None] * len(checks)
    predicted: list[float] = [0.0] * len(checks)
    runnable: list[int] = []
    for i, chk in enumerate(checks):
        try:
            predicted[i] = chk.predicted_work(ctx)
        except Exception as err:  # a broken cost model is an error of that check, never a skip
            outcomes[i] = _Outcome(
                (_error_record(chk, f"its work prediction raised {type(err).__name__}: {err}"),), (), 0.0
            )
            continue
        if predicted[i] > ctx.budget:
            reason = (
                f"predicted work {cost.describe(predicted[i])} exceeds the budget of "
                f"{ctx.budget:.2g} units per check (raise it with --budget)"
            )
            outcomes[i] = _Outcome((), (SkipRecord(chk.id, chk.theorem, chk.method, "whole check", reason),), 0.0)
            continue
        runnable.append(i)
    start = time.perf_counter()
    bar = Progress(len(checks), "verify", stream=stream)
    if not progress:
        bar.enabled = False

    def done(index: int, outcome: _Outcome) -> None:
        outcomes[index] = outcome
        _replay(outcome)
        bar.update(1)

    with bar:
        bar.update(len(checks) - len(runnable))
        if jobs == 0 or not _can_fork() or not runnable:
            with _one_blas_thread():
                for i in runnable:
                    done(i, _run_one(checks[i], ctx))
        else:
            # Checks of one group share a worker (and its caches), in registry order; the units
            # go longest predicted first, so that the last one to start is a short one.
            units: dict = {}
            for i in runnable:
                units.setdefault(checks[i].group or checks[i].id, []).append(i)
            order = sorted(units.values(), key=lambda unit: -sum(predicted[i] for i in unit))
            guards = {i: (hang_guard(predicted[i]) if guard is None else float(guard)) for i in runnable}
            _Pool(ctx, checks, min(jobs, len(order))).run(order, guards, done)
    records: list[CheckRecord] = []
    skipped: list[SkipRecord] = []
    timings: list[tuple[str, float]] = []
    cpu_timings: list[tuple[str, float]] = []
    for chk, outcome in zip(checks, outcomes):
        records += outcome.records
        skipped += outcome.skipped
        timings.append((chk.id, outcome.seconds))
        cpu_timings.append((chk.id, outcome.cpu_seconds))
    order = {name: i for i, name in enumerate(framework.THEOREM_ORDER)}
    methods = {name: i for i, name in enumerate(METHODS)}
    # Within a theorem: float64, mpmath, sympy, then its negative controls (stable otherwise).
    records.sort(key=lambda r: (order[r.theorem], r.expected_to_fail, methods[r.method]))
    return SuiteResult(tuple(records), tuple(skipped), time.perf_counter() - start, tuple(timings), tuple(cpu_timings))
