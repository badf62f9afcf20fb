"""One run of the suite as a plain function: select the checks, build the context, run, report.

:func:`verify` takes Python values, never argv: ``ctmc-lab verify`` (:mod:`ctmc_lab.cli.verify`)
parses the command line, loads the ``--dist`` source and calls it; a notebook or a script
calls it the same way.

Exit status: 0 when every check passes and every negative control fails; 1 otherwise (or
when a check module fails to import). A usage or input error (an unknown precision, a
pattern that selects nothing, a budget that is not a number of work units) raises ``ValueError``, which the command line
turns into exit status 2.
"""

from __future__ import annotations

import shutil
import sys
import textwrap

from ctmc_lab.io import check_writable, eprint, write_json

from . import cost, report, runner
from .defaults import DEFAULT_BUDGET, DEFAULT_SEED

__all__ = ["verify"]


def verify(
    dist=None,
    *,
    chain=None,
    only: str | None = None,
    precision: str | None = None,
    quick: bool = False,
    seed: int = DEFAULT_SEED,
    budget: float | None = None,
    jobs: int | None = None,
    list_checks: bool = False,
    wide: bool = False,
    json: str | None = None,
    stdout=None,
) -> int:
    """Run the checks of the paper's results and print the report; return the exit status.

    The rows are the identities of Thm 3.1–Eq. 18 (``docs/theory.md`` §9 lists the default
    cases), the estimator and Markov rows and the negative controls.

    Parameters
    ----------
    dist : JointDistribution, optional
        Run the distribution-dependent checks on it (a check predicted to need more work
        than ``budget`` runs on a prefix marginal or is skipped with the prediction as the
        reason). Default: a seeded Dirichlet(1) on ATGC^3 for the dense checks and D128 for
        the subset-table checks. A table whose probabilities sum to 1 only within the
        library's acceptance (not to rounding) is divided by its sum first, and the header
        says so (:func:`proofs_check.runner.renormalised`).
    chain : MarkovChain, optional
        A Markov source: its Markov rows, and every other row on its stationary window
        (``proofs_check.runner.markov_window``). Exclusive with ``dist``.
    only : str, optional
        Comma-separated substrings or globs of check ids or theorems (``"Thm 4.1,mp.*"``).
    precision : str, optional
        Comma-separated subset of ``float64,mpmath,sympy`` (default: all).
    quick : bool
        Fewer cases per check (for CI).
    seed : int
        Seed of the default distributions and of the checks' random Q, c and pairs.
    budget : float, optional
        Work units one check may spend, predicted from the input sizes before it runs
        (:mod:`proofs_check.cost`; one unit is one element operation, about 1e9 per second
        of one core of the reference machine). Default
        :data:`proofs_check.defaults.DEFAULT_BUDGET` (3e10). The rows depend on it and on
        the inputs only, never on the machine's speed or load.
    jobs : int, optional
        Worker processes (default: the usable cores, at most 8); ``0`` runs every check in
        this process without the hang guard. The rows are the same for every value.
    list_checks : bool
        Print the selected checks instead of running them.
    wide : bool
        One unclipped line per row (default: fit the terminal).
    json : str, optional
        Also write the report as JSON there (atomically; the path is checked before the run).
    stdout : file-like, optional
        Where the report goes (default ``sys.stdout``); progress goes to stderr.

    Returns
    -------
    int
        0 if every check holds and every control fails by a finite error, else 1.

    Raises
    ------
    ValueError
        For ``precision``, ``only`` or ``budget`` that select or mean nothing, both ``dist``
        and ``chain``, or an unwritable ``json`` path.
    """
    out = sys.stdout if stdout is None else stdout
    defect = 0.0
    if dist is not None and chain is not None:
        raise ValueError("give a distribution or a Markov chain to verify, not both")
    precisions = runner.parse_precisions(precision)
    try:
        loaded = runner.load_checks()
    except runner.LoadError as err:
        eprint(f"verify FAILED: {err}")
        return 1
    checks = runner.select_checks(loaded, only=only, precisions=precisions)
    if not checks:
        raise ValueError(f"`--only` {only!r} with `--precision` {','.join(precisions)} selects no check")
    if list_checks:
        for c in checks:
            kind = "control" if c.expected_to_fail else "check"
            print(f"{c.id:<44} {c.theorem:<22} {c.method:<8} {kind:<8} {c.statement}", file=out)
        return 0
    _check_budget(budget)
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0):
        raise ValueError(f"`--jobs` must be a non-negative integer (got {jobs!r})")
    if chain is not None:
        ctx = runner.user_context(runner.markov_window(chain), quick=quick, seed=seed, budget=budget, chain=chain)
    elif dist is not None:
        dist, defect = runner.renormalised(dist)
        ctx = runner.user_context(dist, quick=quick, seed=seed, budget=budget)
    else:
        ctx = runner.default_context(quick=quick, seed=seed, budget=budget)
    names = " and ".join(
        f"{d.name} (N={d.n_tokens}, L={d.length}, |support|={d.support_size})" for d in ctx.distributions
    )
    if chain is not None:
        names += f"; Markov rows on {chain.name} (order {chain.order})"
    header = f"ctmc-lab verify on {names}{' [quick]' if quick else ''}"
    if dist is not None and defect:
        header += f"; its probabilities summed to 1 {defect:+.2g}, so they are divided by their sum"
    width = shutil.get_terminal_size((100, 24)).columns
    print(
        header if wide else "\n".join(textwrap.wrap(header, width=max(40, width - 1), subsequent_indent="    ")),
        file=out,
    )
    print(file=out)
    if json:
        check_writable(json)
    result = runner.run_checks(ctx, checks, jobs=jobs)
    print(report.format_table(result, wide=wide), file=out)
    print(file=out)
    print(report.summary_line(result), file=out)
    if json:
        write_json(json, report.json_payload(result, ctx.distributions))
    return 0 if result.ok else 1


#: Smallest ``--budget`` accepted: a value this small is most likely meant as seconds, the
#: option's unit before it counted work (every check needs more than 1e6 units).
MIN_BUDGET = 1e6


def _check_budget(budget) -> None:
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget < float("inf"):
        raise ValueError(f"`--budget` must be a finite number of work units (got {budget!r})")
    if budget < MIN_BUDGET:
        raise ValueError(
            f"`--budget` counts work units per check, not seconds: {budget:g} is below the minimum "
            f"{MIN_BUDGET:.0e} (default {DEFAULT_BUDGET:.0e}, about {cost.seconds(DEFAULT_BUDGET):.0f} s of one "
            f"core nominally; the unit is defined in proofs_check.cost)"
        )
