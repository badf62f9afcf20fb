"""The study engine: grids of independent exact cases, run on Dask, stored as they finish.

A *study* is a module with

* ``NAME`` (the ``ctmc-lab study NAME`` name) and ``COLUMNS``, a tuple of :class:`Column` (the
  documented table);
* ``cases(grid) -> list[Case]`` for ``grid`` in ``{"small", "full"}``;
* ``run_case(case, *, rng) -> list[dict]``, pure: one dict per table row, keys = ``COLUMNS``;
* ``estimate_seconds(case) -> float``, a cost model used to refuse a grid over budget;
* ``summarize(table) -> str``, the text printed at the end.

The engine gives each case its own generator, seeded from (study seed, case key) through
``numpy.random.SeedSequence`` (SPEC 7), so the table does not depend on which worker runs a case
or in which order. Each finished case is written at once as one atomic JSON record under
``OUT/NAME/cases/`` (:func:`ctmc_lab.io.write_json`); ``resume=True`` skips the cases already
recorded as done and runs the failed ones again. A case that raises is recorded with its error
and the others go on. The final table
``OUT/NAME/NAME.csv`` is sorted by case key, so it is identical for any number of workers.

Cells are written as text when the case finishes (floats in their shortest round-trip form,
``inf`` kept), so the table is lossless and the same bytes whichever process wrote a record.

Examples
--------
>>> case_seed(0, "dirichlet/N=2/L=3").entropy == case_seed(0, "dirichlet/N=2/L=3").entropy
True
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ctmc_lab.io import read_json, write_json, write_text

__all__ = [
    "STUDIES",
    "GRIDS",
    "Column",
    "Case",
    "CaseRecord",
    "StudyRun",
    "study_module",
    "case_seed",
    "execute_case",
    "run_study",
    "read_table",
    "format_cell",
]

#: ``ctmc-lab study NAME`` → the module implementing it.
STUDIES = {
    "sampler-atlas": "ctmc_lab.studies.sampler_atlas",
    "conditional-balance": "ctmc_lab.studies.conditional_balance",
    "length-scaling": "ctmc_lab.studies.length_scaling",
    "coupling": "ctmc_lab.studies.coupling",
}
#: The grid sizes every study provides.
GRIDS = ("small", "full")
#: The key column every table starts with.
CASE_COLUMN = "case"


@dataclass(frozen=True)
class Column:
    """One documented column of a study table.

    Attributes
    ----------
    name : str
    kind : {"str", "int", "float", "bool"}
        How :func:`read_table` parses the column.
    doc : str
        What the value is (with the paper's symbol).
    """

    name: str
    kind: str
    doc: str


@dataclass(frozen=True)
class Case:
    """One independent unit of work: a stable key and the parameters of its source.

    Attributes
    ----------
    key : str
        A stable string naming the case, e.g. ``dirichlet/N=3/L=6/alpha=0.5/support=full/seed=4``;
        the case's seed is derived from it, and the table is sorted by it.
    params : mapping
        The parameters ``run_case`` reads.
    """

    key: str
    params: Mapping = field(hash=False)

    def __getitem__(self, name):
        return self.params[name]


@dataclass(frozen=True)
class CaseRecord:
    """What one case produced (written as ``OUT/NAME/cases/<digest>.json``).

    Attributes
    ----------
    key : str
    status : {"ok", "failed"}
    rows : list of list of str
        The table rows, cells already formatted by :func:`format_cell`; empty when failed.
    error : str or None
        ``Type: message`` of the exception of a failed case.
    seconds : float
        Wall time of ``run_case`` (not of the engine around it).
    """

    key: str
    status: str
    rows: list
    error: str | None
    seconds: float

    def as_json(self) -> dict:
        return {"key": self.key, "status": self.status, "rows": self.rows, "error": self.error, "seconds": self.seconds}


@dataclass(frozen=True)
class StudyRun:
    """The outcome of :func:`run_study`.

    Attributes
    ----------
    name : str
    table_path : str
        ``OUT/NAME/NAME.csv``.
    n_cases, n_run, n_failed : int
        Cases in the grid, cases computed in this run (the rest were resumed), failed cases.
    wall_seconds : float
    case_seconds : (n_cases,) float array
        ``run_case`` time of every recorded case, in key order.
    summary : str
    """

    name: str
    table_path: str
    n_cases: int
    n_run: int
    n_failed: int
    wall_seconds: float
    case_seconds: np.ndarray = field(repr=False)
    summary: str = ""


# ===================================================================================== studies
def study_module(study):
    """The study module for a name of :data:`STUDIES` or a module path (a module object is returned as is)."""
    if not isinstance(study, str):
        return study
    if study in STUDIES.values():
        return importlib.import_module(study)
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; choose one of {list(STUDIES)}")
    return importlib.import_module(STUDIES[study])


def case_seed(study_seed: int, key: str) -> np.random.SeedSequence:
    """The seed of one case: ``SeedSequence([study_seed, *sha256(key) words])``.

    Depends only on the study seed and the case key, never on the worker or the order of
    completion (SPEC 7).
    """
    words = np.frombuffer(hashlib.sha256(key.encode("utf-8")).digest()[:16], dtype="<u4")
    return np.random.SeedSequence([int(study_seed), *(int(w) for w in words)])


def format_cell(value) -> str:
    """A CSV cell: floats in shortest round-trip form (``inf``, ``nan`` spelled so), bools ``True``/``False``."""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return value
    raise TypeError(f"a table cell must be a str, int, float or bool (got {type(value).__name__})")


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def execute_case(study, case: Case, study_seed: int) -> CaseRecord:
    """Run one case with BLAS pinned to one thread; an exception becomes a failed record.

    This is the function sent to Dask workers: pure given (study, case, seed).
    """
    from threadpoolctl import threadpool_limits

    mod = study_module(study)
    names = [c.name for c in mod.COLUMNS]
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            rows = mod.run_case(case, rng=np.random.default_rng(case_seed(study_seed, case.key)))
        cells = []
        for row in rows:
            if list(row) != names:
                raise ValueError(f"row keys {list(row)} differ from the documented columns {names}")
            cells.append([case.key, *(format_cell(row[n]) for n in names)])
        return CaseRecord(case.key, "ok", cells, None, time.perf_counter() - start)
    except Exception as err:  # a failing case is data: recorded, and the others go on
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" (at {os.path.basename(last.filename)}:{last.lineno})" if last else ""
        return CaseRecord(case.key, "failed", [], f"{type(err).__name__}: {err}{where}", time.perf_counter() - start)


# ======================================================================================= store
class _Store:
    """``OUT/NAME/cases/*.json``: one atomic record per finished case."""

    def __init__(self, root: str):
        self.root = root
        self.cases = os.path.join(root, "cases")

    def prepare(self) -> None:
        try:
            os.makedirs(self.cases, exist_ok=True)
        except OSError as err:
            raise ValueError(f"cannot create `--out` directory {self.root!r}: {err.strerror or err}") from None

    def load(self) -> dict:
        if not os.path.isdir(self.cases):
            return {}
        out = {}
        for name in sorted(os.listdir(self.cases)):
            if name.endswith(".json") and not name.startswith("."):
                rec = read_json(os.path.join(self.cases, name), what="case record")
                out[rec["key"]] = CaseRecord(rec["key"], rec["status"], rec["rows"], rec["error"], rec["seconds"])
        return out

    def write(self, record: CaseRecord) -> None:
        write_json(os.path.join(self.cases, f"{_digest(record.key)}.json"), record.as_json(), what="case record")


# ===================================================================================== running
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


def _dask_records(mod, todo, seed, *, workers, scheduler):
    """Yield each case's record as it finishes, from a local cluster or the one at ``scheduler``."""
    import logging

    from distributed import Client, LocalCluster, as_completed

    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    else:
        cluster = None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise ValueError(f"cannot reach the Dask scheduler `--scheduler` {scheduler!r}: {err}") from None
    try:
        # Longest cases first (Dask runs higher priorities first): a long case started last would
        # leave the other workers idle at the end. The order changes no result, only the wall time.
        futures = [
            client.submit(
                execute_case,
                mod.__name__,
                c,
                seed,
                key=f"{mod.NAME}-{_digest(c.key)}",
                priority=int(1e6 * float(mod.estimate_seconds(c))),
            )
            for c in todo
        ]
        by_key = {f.key: c for f, c in zip(futures, todo)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as err:  # the worker died (KilledWorker) or the task could not run
                yield CaseRecord(by_key[fut.key].key, "failed", [], f"{type(err).__name__}: {err}", 0.0)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_study(
    study,
    *,
    out_dir,
    grid: str = "small",
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    seed: int = 0,
    budget: float | None = None,
    only: str | None = None,
    progress=sys.stderr,
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
        key order (the same table: each case's seed depends only on its key).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); ``workers`` is then unused.
    resume : bool
        Skip cases already recorded under ``out_dir/NAME/cases``. Without it an existing record
        is refused, so two runs never mix silently. Failed cases are run again.
    seed : int
        The study seed; case seeds are :func:`case_seed` (seed, key).
    budget : float, optional
        Refuse when the estimated time (sum of ``estimate_seconds`` over the cases to run, divided
        by the workers) exceeds this many seconds.
    only : str, optional
        Run only the cases whose key contains this text.
    progress : file or None
        Where progress lines go (None: silent).

    Returns
    -------
    StudyRun
    """
    mod = study_module(study)
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {list(GRIDS)}")
    workers = int(workers)
    if workers < 1:
        raise ValueError(f"`workers` must be a positive integer (got {workers})")
    cases = sorted(mod.cases(grid), key=lambda c: c.key)
    if only is not None:
        cases = [c for c in cases if only in c.key]
        if not cases:
            raise ValueError(f"`only` {only!r} matches no case key of {mod.NAME} ({grid} grid)")
    keys = [c.key for c in cases]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{mod.NAME}: case keys are not unique")
    store = _Store(os.path.join(os.fspath(out_dir), mod.NAME))
    recorded = store.load()
    if recorded and not resume:
        raise ValueError(
            f"{store.root!r} already holds {len(recorded)} case record(s) of {mod.NAME}; "
            "pass `--resume` to continue that run, or choose another `--out`"
        )
    todo = [c for c in cases if c.key not in recorded or recorded[c.key].status != "ok"]
    estimate = sum(float(mod.estimate_seconds(c)) for c in todo) / (1 if scheduler else workers)
    if budget is not None and estimate > budget:
        raise ValueError(
            f"{mod.NAME} ({grid} grid): {len(todo)} cases, estimated {estimate:.0f} s on {workers} worker(s), "
            f"over the budget of {budget:.0f} s; raise `--budget` or add workers"
        )
    store.prepare()
    bar = _Progress(mod.NAME, len(cases), workers if scheduler is None else len(todo), progress)
    bar.done = len(cases) - len(todo)
    start = time.perf_counter()
    if scheduler is None and workers == 1:
        stream = (execute_case(mod, c, seed) for c in todo)
    else:
        stream = _dask_records(mod, todo, seed, workers=workers, scheduler=scheduler)
    for record in stream:
        store.write(record)
        recorded[record.key] = record
        bar.update(record)
    bar.update(None, final=True)
    wall = time.perf_counter() - start
    return _finish(mod, store, cases, recorded, n_run=len(todo), wall=wall)


def _csv_text(header, rows) -> str:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def _finish(mod, store, cases, recorded, *, n_run, wall) -> StudyRun:
    header = [CASE_COLUMN, *(c.name for c in mod.COLUMNS)]
    chosen = [recorded[c.key] for c in cases]
    rows = [row for rec in chosen if rec.status == "ok" for row in rec.rows]
    failed = [rec for rec in chosen if rec.status != "ok"]
    table_path = os.path.join(store.root, f"{mod.NAME}.csv")
    write_text(table_path, _csv_text(header, rows), what="study table")
    write_text(
        os.path.join(store.root, f"{mod.NAME}.failures.csv"),
        _csv_text([CASE_COLUMN, "error"], [[r.key, r.error] for r in failed]),
        what="failure table",
    )
    table = read_table(table_path, mod)
    summary = mod.summarize(table) if rows else f"{mod.NAME}: no case succeeded"
    if failed:
        summary += (
            f"\n{len(failed)} case(s) failed (see {mod.NAME}.failures.csv), e.g. {failed[0].key}: {failed[0].error}"
        )
    write_text(os.path.join(store.root, "summary.txt"), summary + "\n", what="summary")
    seconds = np.array([rec.seconds for rec in chosen])
    return StudyRun(mod.NAME, table_path, len(cases), n_run, len(failed), wall, seconds, summary)


def read_table(path, study=None) -> dict:
    """A study table as ``{column: 1-D array}``, typed by the study's ``COLUMNS`` (str otherwise).

    ``pandas.read_csv(path)`` reads the same file; this loader needs only NumPy.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = list(reader)
    kinds = {} if study is None else {c.name: c.kind for c in study_module(study).COLUMNS}
    cast = {"float": float, "int": int, "bool": lambda s: s == "True", "str": str}
    out = {}
    for j, name in enumerate(header):
        f = cast[kinds.get(name, "str")]
        values = [f(r[j]) for r in body]
        out[name] = np.array(values, dtype=object if f is str else None) if values else np.array([])
    return out
