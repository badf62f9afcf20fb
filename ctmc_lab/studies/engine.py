"""The study engine: grids of independent exact cases, run on Dask, stored as they finish.

A *study* is a module with

* ``NAME`` (the ``ctmc-lab study NAME`` name) and ``COLUMNS``, a tuple of :class:`Column` (the
  documented table);
* ``cases(grid) -> list[Case]`` for ``grid`` in ``{"small", "full"}``;
* ``run_case(case, *, rng) -> list[dict]``, pure: one dict per table row, keys = the columns of
  the case's table;
* ``estimate_seconds(case) -> float``, a cost model used to refuse a grid over budget;
* ``summarize(table, **tables) -> str``, the text printed at the end;

and, optionally, ``TABLES``, ``{name: columns}`` of further tables (a case fills the table its
``Case.table`` names; the paper's figures are studies whose tables are one case each), and
``FIGURE_GRID``, the grid ``ctmc-lab figures`` draws. :data:`STUDIES` (at scale) and
:data:`PAPER_STUDIES` list the registered ones.

The engine gives each case its own generator, seeded from (study seed, case key) through
``numpy.random.SeedSequence`` (SPEC 7), so the table does not depend on which worker runs a case
or in which order. Each finished case is written at once as one atomic JSON record under
``OUT/NAME/cases/`` (``ctmc_lab.studies._records`` and ``_store``). A record
names the run it belongs to (study, grid and a digest of its case list, seed, package version,
columns) and carries a SHA-256 checksum of its content, so ``resume=True`` can tell a record it
may reuse from one that was edited, truncated, copied from another run or written by another
version:

* a record that does not validate is not used; its case runs again and a note says why;
* records of another grid or seed refuse the run (one line naming both values): mixing them would
  give a table of no single run;
* records of another package version are not reused (their cases run again, with one note).

The final table ``OUT/NAME/NAME.csv`` (and ``NAME.TABLE.csv`` for each of ``TABLES``) is sorted by
case key, so it is identical for any number of workers; it is built in memory from validated
records only and then written atomically, so a refused or failed run leaves the previous table
as it was.

Cells are written as text when the case finishes (floats in their shortest round-trip form,
``inf`` kept), so the table is lossless and the same bytes whichever process wrote a record.

This module imports NumPy, ``ctmc_lab.io`` and Dask only inside the functions that use them, so
the command line can list the studies without loading them.

Examples
--------
>>> case_seed(0, "dirichlet/N=2/L=3").entropy == case_seed(0, "dirichlet/N=2/L=3").entropy
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ctmc_lab import __version__
from ctmc_lab.studies import _records, _registry
from ctmc_lab.studies._dask import SCHEDULER_TIMEOUT, _dask_records, probe_scheduler
from ctmc_lab.studies._records import (
    CASE_COLUMN,
    KINDS,
    RECORD_FORMAT,
    Case,
    CaseRecord,
    Column,
    _accept,
    _Identity,
    format_cell,
    table_layout,
    validate_record,
)
from ctmc_lab.studies._registry import figure_grid, study_module, study_tables
from ctmc_lab.studies._store import NOTES_LISTED, _plural, _resumable, _Store
from ctmc_lab.studies._tables import _csv_text, _parse_table, read_table, table_file

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "STUDIES",
    "PAPER_STUDIES",
    "ALL_STUDIES",
    "GRIDS",
    "CASE_COLUMN",
    "MAIN_TABLE",
    "KINDS",
    "NOTES_LISTED",
    "RECORD_FORMAT",
    "SCHEDULER_TIMEOUT",
    "Column",
    "Case",
    "CaseRecord",
    "StudyRun",
    "study_module",
    "study_tables",
    "figure_grid",
    "case_seed",
    "grid_digest",
    "available_cores",
    "execute_case",
    "validate_record",
    "probe_scheduler",
    "run_study",
    "run_cases",
    "read_table",
    "read_tables",
    "format_cell",
]


#: The studies at scale, grids of cases over families of sources: ``ctmc-lab study NAME`` → module.
STUDIES = _registry.STUDIES
#: The paper's figures and tables as studies, each table one case: ``ctmc-lab study NAME`` → module.
PAPER_STUDIES = _registry.PAPER_STUDIES
#: Every study, in the order ``ctmc-lab figures`` draws them: the paper's, then those at scale.
ALL_STUDIES = _registry.ALL_STUDIES
#: The grid sizes every study provides.
GRIDS = _registry.GRIDS
#: The name of a study's main table (its ``COLUMNS``); its other tables are named in its ``TABLES``.
MAIN_TABLE = _records.MAIN_TABLE


@dataclass(frozen=True)
class StudyRun:
    """The outcome of :func:`run_study`.

    Attributes
    ----------
    name : str
    table_path : str
        ``OUT/NAME/NAME.csv``, the main table.
    n_cases, n_run, n_failed : int
        Cases in the grid, cases computed in this run (the rest were resumed), failed cases.
    wall_seconds : float
    case_seconds : (n_cases,) float array
        ``run_case`` time of every recorded case, in key order.
    summary : str
    notes : tuple of str
        What the run printed to ``notes``: records not reused and why, workers capped.
    table_paths : mapping
        ``{table name: path}`` of every table written, the main one (:data:`MAIN_TABLE`) first.
    """

    name: str
    table_path: str
    n_cases: int
    n_run: int
    n_failed: int
    wall_seconds: float
    case_seconds: np.ndarray = field(repr=False)
    summary: str = ""
    notes: tuple = ()
    table_paths: Mapping = field(default_factory=dict)


def case_seed(study_seed: int, key: str):
    """The seed of one case: ``SeedSequence([study_seed, *sha256(key) words])``.

    Depends only on the study seed and the case key, never on the worker or the order of
    completion (SPEC 7).
    """
    import numpy as np

    words = np.frombuffer(hashlib.sha256(key.encode("utf-8")).digest()[:16], dtype="<u4")
    return np.random.SeedSequence([int(study_seed), *(int(w) for w in words)])


def grid_digest(keys) -> str:
    """SHA-256 (hex) of a grid's case list: its keys, sorted, one per line (UTF-8).

    A record stores it, so a record of a grid whose cases changed is not reused.

    Examples
    --------
    >>> grid_digest(["b", "a"]) == grid_digest(["a", "b"]) != grid_digest(["a"])
    True
    """
    return hashlib.sha256("\n".join(sorted(keys)).encode("utf-8")).hexdigest()


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity mask, else ``os.cpu_count()``."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def execute_case(study, case: Case, study_seed: int) -> CaseRecord:
    """Run one case with BLAS pinned to one thread; an exception becomes a failed record.

    This is the function sent to Dask workers: pure given (study, case, seed). The case is run
    with its ``seed`` set to ``study_seed``. A case that returns no rows is a failed case (its
    table would lose the case without a word).
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    mod = study_module(study)
    names = [c.name for c in study_tables(mod)[case.table]]
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            rng = np.random.default_rng(case_seed(study_seed, case.key))
            rows = mod.run_case(dataclasses.replace(case, seed=int(study_seed)), rng=rng)
        cells = []
        for row in rows:
            if list(row) != names:
                raise ValueError(f"row keys {list(row)} differ from the documented columns {names}")
            cells.append([case.key, *(format_cell(row[n]) for n in names)])
        if not cells:
            raise ValueError("run_case returned no rows")
        return CaseRecord(case.key, "ok", cells, None, time.perf_counter() - start)
    except Exception as err:  # a failing case is data: recorded, and the others go on
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" (at {os.path.basename(last.filename)}:{last.lineno})" if last else ""
        return CaseRecord(case.key, "failed", [], f"{type(err).__name__}: {err}{where}", time.perf_counter() - start)


class _Progress:
    """Cases done, running and failed and the time left, on stderr (at most every ``every`` s)."""

    def __init__(self, name, total, workers, stream, every=2.0):
        self.name, self.total, self.workers, self.stream, self.every = name, total, workers, stream, every
        self.done = self.failed = 0
        self.start = time.perf_counter()
        self.last = -math.inf
        self.shown = None

    def update(self, record: CaseRecord | None, *, final=False) -> None:
        if record is not None:
            self.done += 1
            self.failed += record.status == "failed"
        now = time.perf_counter()
        if self.stream is None or (now - self.last < self.every and not final) or self.shown == self.done:
            return
        self.last, self.shown = now, self.done
        left = self.total - self.done
        elapsed = now - self.start
        eta = f"{elapsed / self.done * left:.0f} s" if self.done else "?"
        running = min(self.workers, left)
        print(
            f"{self.name}: {self.done}/{self.total} done, {running} running, {self.failed} failed, "
            f"{elapsed:.0f} s elapsed, about {eta} left",
            file=self.stream,
            flush=True,
        )


def _worker_count(workers, *, force: bool, scheduler, notes) -> int:
    """``workers`` checked, and capped at the available cores unless ``force``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"`workers` must be a positive integer (got {workers!r})")
    if scheduler is not None:
        if workers != 1:
            raise ValueError("`workers` applies to a local cluster; with `scheduler` the cluster has its own")
        return 1
    cores = available_cores()
    if workers > cores and not force:
        notes(
            f"`--workers {workers}` is more than the {_plural(cores, 'core')} this process may use; "
            f"using {cores} (`--force-workers` keeps {workers})"
        )
        return cores
    return workers


def run_study(
    study,
    *,
    out_dir,
    grid: str = "small",
    workers: int = 1,
    force_workers: bool = False,
    scheduler: str | None = None,
    scheduler_timeout: float = SCHEDULER_TIMEOUT,
    resume: bool = False,
    seed: int = 0,
    budget: float | None = None,
    only: str | None = None,
    progress=sys.stderr,
    notes=sys.stderr,
) -> StudyRun:
    """Run every case of a study's grid, writing each record as it finishes, then the table.

    Parameters
    ----------
    study : str or module
        A name of :data:`STUDIES` (or a module with the study interface).
    out_dir : path
        Results go to ``out_dir/NAME/``: ``cases/`` (records), ``NAME.csv`` (the table, sorted by
        case key), ``NAME.failures.csv`` (key, error) and ``summary.txt``.
    grid : {"small", "full"}
    workers : int
        Local Dask workers (processes, one thread each). 1 runs the cases in this process, in
        key order (the same table: each case's seed depends only on its key). More than
        :func:`available_cores` is capped there, with a note, unless ``force_workers``; never
        more than the cases to run are started.
    force_workers : bool
        Start ``workers`` processes even when the machine has fewer cores.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); ``workers`` must then be 1.
        Probed first (:func:`probe_scheduler`).
    scheduler_timeout : float
        Seconds allowed to reach the scheduler and read its greeting.
    resume : bool
        Reuse the records under ``out_dir/NAME/cases`` that validate and belong to this run;
        run the other cases (failed ones included). Without it an existing record is refused,
        so two runs never mix silently. Records of another grid or seed refuse the run.
    seed : int
        The study seed; case seeds are :func:`case_seed` (seed, key).
    budget : float, optional
        Refuse when the estimated time (sum of ``estimate_seconds`` over the cases to run, divided
        by the workers) exceeds this many seconds.
    only : str, optional
        Run only the cases whose key contains this text.
    progress : file or None
        Where progress lines go (None: silent).
    notes : file or None
        Where notes go: records not reused and why, workers capped (None: kept in
        ``StudyRun.notes`` only).

    Returns
    -------
    StudyRun
    """
    mod = study_module(study)
    _check_options(grid, seed, scheduler_timeout)
    said = []

    def note(line: str) -> None:
        said.append(line)
        if notes is not None:
            print(line, file=notes, flush=True)

    workers = _worker_count(workers, force=force_workers, scheduler=scheduler, notes=note)
    ident, grid_keys, cases = _grid(mod, grid, int(seed), only)
    store = _Store(os.path.join(os.fspath(out_dir), mod.NAME))
    present = store.files()
    if present and not resume:
        raise ValueError(
            f"{store.root!r} already holds {len(present)} case record(s) of {mod.NAME}; "
            "pass `--resume` to continue that run, or choose another `--out`"
        )
    recorded, found = _resumable(store, ident, grid_keys, {c.key for c in cases}) if present else ({}, [])
    todo = [c for c in cases if c.key not in recorded or recorded[c.key].status != "ok"]
    workers = min(workers, max(1, len(todo)))
    estimate = sum(float(mod.estimate_seconds(c)) for c in todo) / (1 if scheduler else workers)
    if budget is not None and estimate > budget:
        raise ValueError(
            f"{mod.NAME} ({grid} grid): {len(todo)} cases, estimated {estimate:.0f} s on {workers} worker(s), "
            f"over the budget of {budget:.0f} s; raise `--budget` or add workers"
        )
    if scheduler is not None and todo:
        probe_scheduler(scheduler, timeout=scheduler_timeout)  # before anything is written
    for line in found:
        note(line)
    store.prepare()
    bar = _Progress(mod.NAME, len(cases), workers if scheduler is None else len(todo), progress)
    bar.done = len(cases) - len(todo)
    start = time.perf_counter()
    if scheduler is None and workers == 1:
        stream = (execute_case(mod, c, seed) for c in todo)
    else:
        stream = _dask_records(
            mod,
            todo,
            seed,
            execute_case,
            workers=workers,
            scheduler=scheduler,
            timeout=float(scheduler_timeout),
            notes=note,
        )
    wanted = {c.key for c in todo}
    for record in stream:
        if record.key not in wanted:  # a foreign task result on a shared scheduler
            continue
        record = _accept(ident, record)
        store.write(ident, record)
        recorded[record.key] = record
        bar.update(record)
    bar.update(None, final=True)
    wall = time.perf_counter() - start
    return _finish(mod, store, cases, recorded, n_run=len(todo), wall=wall, notes=tuple(said))


def _check_options(grid, seed, scheduler_timeout) -> None:
    """Refuse an unknown grid, a seed that is not a non-negative integer, a timeout that is not positive."""
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {list(GRIDS)}")
    _check_seed(seed)
    if not (isinstance(scheduler_timeout, (int, float)) and 0 < scheduler_timeout < math.inf):
        raise ValueError(f"`scheduler_timeout` must be a positive number of seconds (got {scheduler_timeout!r})")


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer (got {seed!r})")


def _grid(mod, grid: str, seed: int, only) -> tuple[_Identity, set, list]:
    """The run's identity, the grid's case keys and the cases selected by ``only`` (in key order)."""
    grid_cases = sorted(mod.cases(grid), key=lambda c: c.key)
    ident = _identity(mod, grid, seed, grid_cases)
    cases = grid_cases if only is None else [c for c in grid_cases if only in c.key]
    if only is not None and not cases:
        raise ValueError(f"`only` {only!r} matches no case key of {mod.NAME} ({grid} grid)")
    return ident, set(ident.table_of), cases


def _identity(mod, grid: str, seed: int, cases: list) -> _Identity:
    """What every record of a run of ``cases`` shares; refuses repeated keys and undeclared tables."""
    keys = [c.key for c in cases]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{mod.NAME}: case keys are not unique")
    layouts = {name: table_layout(columns) for name, columns in study_tables(mod).items()}
    for c in cases:
        if c.table not in layouts:
            raise ValueError(f"{mod.NAME}: case {c.key} fills table {c.table!r}, which the study does not declare")
    table_of = {c.key: c.table for c in cases}
    return _Identity(mod.NAME, grid, grid_digest(keys), seed, __version__, layouts, table_of)


def _assemble(mod, cases, records) -> tuple[dict, dict]:
    """``({table: CSV text}, {table: parsed table})`` from the records of ``cases`` (in key order)."""
    texts, tables = {}, {}
    for name, columns in study_tables(mod).items():
        rows = [row for c, rec in zip(cases, records) if c.table == name and rec.status == "ok" for row in rec.rows]
        texts[name] = _csv_text([CASE_COLUMN, *(c.name for c in columns)], rows)
        tables[name] = _parse_table(io.StringIO(texts[name], newline=""), columns, "the study table")
    return texts, tables


def run_cases(study, cases, *, seed: int = 0) -> dict:
    """Run ``cases`` of a study in this process, writing nothing: its tables, as :func:`read_tables` gives them.

    The cases may carry settings of their own (a paper study's ``cases(grid, **settings)``); each
    runs as :func:`run_study` runs it (:func:`execute_case`, the same checks of its rows), so the
    tables are those a run of the same cases writes.

    Raises
    ------
    ValueError
        When a case fails (its error is quoted).
    """
    mod = study_module(study)
    _check_seed(seed)
    cases = sorted(cases, key=lambda c: c.key)
    ident = _identity(mod, "custom", seed, cases)
    records = [_accept(ident, execute_case(mod, c, seed)) for c in cases]
    for rec in records:
        if rec.status != "ok":
            raise ValueError(f"{mod.NAME}: case {rec.key} failed: {rec.error}")
    return _assemble(mod, cases, records)[1]


def _finish(mod, store, cases, recorded, *, n_run, wall, notes) -> StudyRun:
    """Build the tables, failures and summary in memory from the records, then write them."""
    import numpy as np

    from ctmc_lab.io import write_text

    missing = [c.key for c in cases if c.key not in recorded]
    if missing:
        raise ValueError(f"{mod.NAME}: {len(missing)} case(s) have no record after the run, e.g. {missing[0]}")
    chosen = [recorded[c.key] for c in cases]
    failed = [rec for rec in chosen if rec.status != "ok"]
    texts, tables = _assemble(mod, cases, chosen)
    empty = [name for name, table in tables.items() if not len(table[CASE_COLUMN])]
    if len(empty) == len(tables):
        summary = f"{mod.NAME}: no case succeeded"
    elif empty:
        summary = f"{mod.NAME}: no case of table(s) {', '.join(empty)} succeeded"
    else:
        summary = mod.summarize(**tables)
    if failed:
        summary += (
            f"\n{len(failed)} case(s) failed (see {mod.NAME}.failures.csv), e.g. {failed[0].key}: {failed[0].error}"
        )
    write_text(
        os.path.join(store.root, f"{mod.NAME}.failures.csv"),
        _csv_text([CASE_COLUMN, "error"], [[r.key, r.error] for r in failed]),
        what="failure table",
    )
    write_text(os.path.join(store.root, "summary.txt"), summary + "\n", what="summary")
    paths = {name: os.path.join(store.root, table_file(mod.NAME, name)) for name in tables}
    for name, text in texts.items():
        write_text(paths[name], text, what="study table")
    seconds = np.array([rec.seconds for rec in chosen])
    return StudyRun(mod.NAME, paths[MAIN_TABLE], len(cases), n_run, len(failed), wall, seconds, summary, notes, paths)


def read_tables(run: StudyRun, study=None) -> dict:
    """Every table a run wrote, ``{table name: {column: 1-D array}}`` (:func:`read_table` of each)."""
    return {name: read_table(path, study, name) for name, path in run.table_paths.items()}
