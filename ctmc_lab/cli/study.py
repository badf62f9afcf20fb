"""``ctmc-lab study NAME``: run a grid of exact cases on Dask, store each case as it finishes, draw the figure.

``--workers N`` starts a local Dask cluster (N processes, one thread each) in this process, at
most one per available core unless ``--force-workers``; ``--scheduler ADDRESS`` sends the same
cases to an existing cluster instead (e.g. one started by dask-jobqueue on SLURM), after a probe
of at most ``--scheduler-timeout`` seconds. The table does not depend on either: each case is
seeded by its key. ``--resume`` reuses only the records that validate (``ctmc_lab.studies.engine``).

Only the standard library is imported here; NumPy, Dask and the studies load inside ``run``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["DEFAULT_BUDGET", "add_parser", "run"]

#: Refuse a run whose estimated wall time exceeds this (seconds), unless ``--budget`` says more.
DEFAULT_BUDGET = 1800.0


def add_parser(sub) -> None:
    from ctmc_lab.studies.engine import ALL_STUDIES, GRIDS, SCHEDULER_TIMEOUT

    p = sub.add_parser(
        "study",
        help="run an exact study over a family of sources (on Dask) and write its table and figure",
        description="Run every case of a study's grid (source family x parameters x seed) on a local "
        "Dask cluster or an existing one; each finished case is written at once, so --resume continues "
        "an interrupted run. Writes OUT/NAME/NAME.csv (sorted by case key), NAME.failures.csv, "
        "summary.txt and the figure NAME.pdf/.png (and NAME.TABLE.csv for a study of several tables). "
        "Studies: " + ", ".join(ALL_STUDIES) + ".",
    )
    p.add_argument("name", metavar="NAME", help="the study: " + ", ".join(ALL_STUDIES))
    p.add_argument("--grid", default="small", help=f"grid size: {' or '.join(GRIDS)} (default: small)")
    p.add_argument(
        "--workers",
        metavar="N",
        help="local Dask worker processes, at most one per available core (default: 1, in process)",
    )
    p.add_argument(
        "--force-workers",
        action="store_true",
        help="start N workers even when this machine has fewer cores (otherwise N is capped, with a note)",
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of an existing Dask scheduler (tcp://host:8786)")
    p.add_argument(
        "--scheduler-timeout",
        default=str(SCHEDULER_TIMEOUT),
        metavar="SECONDS",
        help=f"seconds allowed to reach the scheduler and read its greeting (default: {SCHEDULER_TIMEOUT:g})",
    )
    p.add_argument("--out", default="studies", metavar="DIR", help="output directory (default: ./studies)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a run in OUT: reuse the case records that validate, run the others (failed, "
        "corrupt, of another version) again; records of another --grid or --seed are refused",
    )
    p.add_argument(
        "--seed", default="0", metavar="INT", help="study seed; each case's seed derives from it and its key"
    )
    p.add_argument(
        "--budget",
        default=str(DEFAULT_BUDGET),
        metavar="SECONDS",
        help=f"refuse a run estimated to take longer (default: {DEFAULT_BUDGET:g})",
    )
    p.add_argument("--only", metavar="TEXT", help="run only the cases whose key contains TEXT")
    p.add_argument("--no-figure", action="store_true", help="write the table and summary only")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _number(text: str, name: str, kind):
    try:
        return kind(text)
    except ValueError:
        rule = "an integer" if kind is int else "a number"
        raise ValueError(f"`{name}` must be {rule} (got {text!r})") from None


def draw_study_figure(name: str, run, out_dir: str) -> list[str]:
    """Draw a study's figure from the tables of its run and write ``out_dir/NAME.pdf`` and ``.png``.

    No figure is drawn when a table has no rows (its cases failed; the summary says which).
    """
    from ctmc_lab.plotting.figures import draw
    from ctmc_lab.plotting.style import save_figure
    from ctmc_lab.studies.engine import CASE_COLUMN, read_tables

    tables = read_tables(run, name)
    if any(not len(table[CASE_COLUMN]) for table in tables.values()):
        return []
    fig = draw(name, **tables)
    try:
        return save_figure(fig, out_dir, name)
    finally:
        fig.clear()


def run(args) -> int:
    from ctmc_lab._validation import positive_int
    from ctmc_lab.io import eprint
    from ctmc_lab.studies.engine import run_study, study_module

    study_module(args.name)  # an unknown name is refused before anything else
    if args.workers is not None and args.scheduler is not None:
        raise ValueError("`--workers` starts a local cluster; with `--scheduler` the cluster has its own workers")
    workers = positive_int(_number(args.workers or "1", "--workers", int), "--workers")
    timeout = _number(args.scheduler_timeout, "--scheduler-timeout", float)
    if not 0 < timeout < float("inf"):
        raise ValueError(f"`--scheduler-timeout` must be a positive number of seconds (got {args.scheduler_timeout})")
    seed = _number(args.seed, "--seed", int)
    if seed < 0:
        raise ValueError(f"`--seed` must be non-negative (got {seed})")
    budget = _number(args.budget, "--budget", float)
    if not budget > 0:
        raise ValueError(f"`--budget` must be positive (got {args.budget})")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"`--out` {args.out!r} exists and is not a directory")
    res = run_study(
        args.name,
        out_dir=args.out,
        grid=args.grid,
        workers=workers,
        force_workers=args.force_workers,
        scheduler=args.scheduler,
        scheduler_timeout=timeout,
        resume=args.resume,
        seed=seed,
        budget=budget,
        only=args.only,
        progress=None if args.quiet else sys.stderr,
        notes=sys.stderr,
    )
    print(res.summary)
    print(f"table: {res.table_path} ({res.n_cases} cases, {res.n_run} run now, {res.n_failed} failed)")
    for table, path in list(res.table_paths.items())[1:]:
        print(f"table {table}: {path}")
    if not args.no_figure and res.n_failed < res.n_cases:
        for path in draw_study_figure(args.name, res, os.path.dirname(res.table_path)):
            print(f"figure: {path}")
    if res.n_failed:
        eprint(f"{res.n_failed} case(s) failed; their errors are in {args.name}.failures.csv")
        return 1
    return 0
