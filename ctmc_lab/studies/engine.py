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
``OUT/NAME/cases/`` (:func:`ctmc_lab.io.write_json`). A record names the run it belongs to (study,
grid and a digest of its case list, seed, package version, columns) and carries a SHA-256
checksum of its content, so ``resume=True`` can tell a record it may reuse from one that was
edited, truncated, copied from another run or written by another version:

* a record that does not validate is not used; its case runs again and a note says why;
* records of another grid or seed refuse the run (one line naming both values): mixing them would
  give a table of no single run;
* records of another package version are not reused (their cases run again, with one note).

The final table ``OUT/NAME/NAME.csv`` is sorted by case key, so it is identical for any number
of workers; it is built in memory from validated records only and then written atomically, so a
refused or failed run leaves the previous table as it was.

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

import csv
import hashlib
import importlib
import io
import json
import math
import os
import stat
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ctmc_lab import __version__

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "STUDIES",
    "GRIDS",
    "RECORD_FORMAT",
    "SCHEDULER_TIMEOUT",
    "Column",
    "Case",
    "CaseRecord",
    "StudyRun",
    "study_module",
    "case_seed",
    "grid_digest",
    "available_cores",
    "execute_case",
    "validate_record",
    "probe_scheduler",
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
#: The layout of a case record (its ``format`` field); a record of another layout is rerun.
RECORD_FORMAT = 1
#: Seconds allowed to reach a ``scheduler`` and read its greeting (``--scheduler-timeout``).
SCHEDULER_TIMEOUT = 5.0
#: The cell kinds a :class:`Column` may declare.
KINDS = ("str", "int", "float", "bool")
#: A record file larger than this is not read (the largest full-grid record is below 100 kB).
MAX_RECORD_BYTES = 16 << 20
#: Records that do not validate, listed one per line before the rest are counted.
NOTES_LISTED = 5


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
    finite : bool
        For a ``float`` column: every value must be finite (a record holding ``nan`` or ``inf``
        there does not validate). False where ``nan``/``inf`` are documented values.
    """

    name: str
    kind: str
    doc: str
    finite: bool = False


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
    """What one case produced (written as ``OUT/NAME/cases/<digest>.json`` with its run's identity).

    Attributes
    ----------
    key : str
    status : {"ok", "failed"}
    rows : list of list of str
        The table rows (case key first), cells already formatted by :func:`format_cell`; empty
        when failed.
    error : str or None
        ``Type: message`` of the exception of a failed case.
    seconds : float
        Wall time of ``run_case`` (not of the engine around it).
    version : str
        ``ctmc_lab.__version__`` of the process that ran the case.
    """

    key: str
    status: str
    rows: list
    error: str | None
    seconds: float
    version: str = __version__


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
    notes : tuple of str
        What the run printed to ``notes``: records not reused and why, workers capped.
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


@dataclass(frozen=True)
class _Identity:
    """What every record of one run shares; ``--resume`` compares it field by field."""

    study: str
    grid: str
    grid_sha256: str
    seed: int
    version: str
    columns: tuple  # ((name, kind), ...), the case column first
    finite: tuple  # column positions whose cells must be finite numbers


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


def format_cell(value) -> str:
    """A CSV cell: floats in shortest round-trip form (``inf``, ``nan`` spelled so), bools ``True``/``False``."""
    import numpy as np

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


def _record_file(key: str) -> str:
    return f"{_digest(key)}.json"


def execute_case(study, case: Case, study_seed: int) -> CaseRecord:
    """Run one case with BLAS pinned to one thread; an exception becomes a failed record.

    This is the function sent to Dask workers: pure given (study, case, seed). A case that
    returns no rows is a failed case (its table would lose the case without a word).
    """
    import numpy as np
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
        if not cells:
            raise ValueError("run_case returned no rows")
        return CaseRecord(case.key, "ok", cells, None, time.perf_counter() - start)
    except Exception as err:  # a failing case is data: recorded, and the others go on
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" (at {os.path.basename(last.filename)}:{last.lineno})" if last else ""
        return CaseRecord(case.key, "failed", [], f"{type(err).__name__}: {err}{where}", time.perf_counter() - start)


# ===================================================================================== records
#: Every field of a record: the Python types its JSON value may parse to, and what that is in words.
_FIELDS = {
    "format": ((int,), "an integer"),
    "study": ((str,), "a string"),
    "grid": ((str,), "a string"),
    "grid_sha256": ((str,), "a string"),
    "key": ((str,), "a string"),
    "seed": ((int,), "an integer"),
    "version": ((str,), "a string"),
    "columns": ((list,), "an array"),
    "status": ((str,), "a string"),
    "rows": ((list,), "an array"),
    "error": ((str, type(None)), "a string or null"),
    "seconds": ((int, float), "a number"),
    "checksum": ((str,), "a string"),
}
_JSON_TYPE = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a float"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _checksum(body: Mapping) -> str:
    """SHA-256 (hex) of the canonical JSON of a record without its ``checksum`` field.

    Canonical: keys sorted, no spaces, ASCII escapes, integers as digits and floats in
    Python's shortest round-trip form, so a parsed record reproduces the bytes it was made from.
    """
    text = json.dumps(
        {k: v for k, v in body.items() if k != "checksum"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _cell_problem(cell: str, kind: str, finite: bool) -> str | None:
    """Why ``cell`` is not what :func:`format_cell` writes for a ``kind`` column (None: it is)."""
    if kind == "str":
        return None
    if kind == "bool":
        return None if cell in ("True", "False") else f"{cell[:40]!r} is not True or False"
    if kind == "int":
        digits = cell[1:] if cell.startswith("-") else cell
        ok = 0 < len(digits) <= 400 and digits.isascii() and digits.isdigit()
        return None if ok and str(int(cell)) == cell else f"{cell[:40]!r} is not an integer in canonical form"
    try:
        value = float(cell) if len(cell) <= 40 else None
    except ValueError:
        value = None
    if value is None or repr(value) != cell:
        return f"{cell[:40]!r} is not a float in shortest round-trip form"
    if finite and not math.isfinite(value):
        return f"{cell} where the column requires a finite number"
    return None


def _rows_problem(key, status, rows, error, columns, finite) -> str | None:
    """Why a record's status, rows and error do not fit its columns (None: they do)."""
    if status not in ("ok", "failed"):
        return f"`status` is {status!r}, not 'ok' or 'failed'"
    if status == "failed":
        if rows:
            return "a failed case holds rows"
        return None if isinstance(error, str) and error else "a failed case has no error message"
    if error is not None:
        return "a finished case carries an error"
    if not rows:
        return "`status` is 'ok' but there are no rows"
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            return f"row {i} is {_json_type(row)}, not an array"
        if len(row) != len(columns):
            return f"row {i} has {len(row)} cells; the columns are {len(columns)}"
        for j, cell in enumerate(row):
            if not isinstance(cell, str):
                return f"row {i}, column {columns[j][0]!r}: {_json_type(cell)}, not a string"
        if row[0] != key:
            return f"row {i} names case {row[0][:60]!r}, not the record's key"
        for j in range(1, len(row)):
            why = _cell_problem(row[j], columns[j][1], j in finite)
            if why:
                return f"row {i}, column {columns[j][0]!r}: {why}"
    return None


def validate_record(obj) -> str | None:
    """Why a parsed record cannot be trusted (None: its layout, types, cells and checksum hold).

    This checks the record on its own; whether it belongs to a given run (study, grid, seed,
    version, columns, key) is decided by :func:`run_study`.

    Examples
    --------
    >>> validate_record([])
    'the record is an array, not an object'
    >>> validate_record({})
    'no field `format`'
    """
    if not isinstance(obj, dict):
        return f"the record is {_json_type(obj)}, not an object"
    for name, (types, expected) in _FIELDS.items():
        if name not in obj:
            return f"no field `{name}`"
        value = obj[name]
        if isinstance(value, bool) or not isinstance(value, types):
            return f"field `{name}` is {_json_type(value)}, not {expected}"
    extra = sorted(set(obj) - set(_FIELDS))
    if extra:
        return f"unknown field {_shown(extra[0])}"
    if obj["format"] != RECORD_FORMAT:
        return f"record format {obj['format']}, this version reads format {RECORD_FORMAT}"
    if obj["seed"] < 0:
        return f"`seed` is negative ({obj['seed']})"
    if not (math.isfinite(obj["seconds"]) and obj["seconds"] >= 0):
        return f"`seconds` is {obj['seconds']!r}, not a finite non-negative number"
    columns = obj["columns"]
    for j, col in enumerate(columns):
        ok = isinstance(col, list) and len(col) == 2 and all(isinstance(c, str) for c in col)
        if not ok or col[1] not in KINDS:
            return f"column {j} is not a [name, kind] pair with a kind of {list(KINDS)}"
    if not columns or columns[0] != [CASE_COLUMN, "str"]:
        return f"the first column is not [{CASE_COLUMN!r}, 'str']"
    why = _rows_problem(obj["key"], obj["status"], obj["rows"], obj["error"], columns, frozenset())
    if why is None and obj["checksum"] != _checksum(obj):
        why = "the checksum does not match the record's content"
    return why


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_pairs(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key[:40]!r} appears twice")
        out[key] = value
    return out


def _read_record(path) -> tuple:
    """(parsed JSON, None) or (None, why it cannot be parsed); never raises for the file's content."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        if info.st_size > MAX_RECORD_BYTES:
            return None, f"{info.st_size} bytes, more than a record may hold ({MAX_RECORD_BYTES})"
        with open(path, "rb") as fh:
            data = fh.read(MAX_RECORD_BYTES + 1)
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"
    if not data.strip():
        return None, "the file is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_pairs), None
    except (ValueError, RecursionError) as err:  # JSONDecodeError, a duplicate key, a huge integer
        return None, f"not valid JSON ({str(err).splitlines()[0][:80] if str(err) else type(err).__name__})"


def _record_body(ident: _Identity, rec: CaseRecord) -> dict:
    body = {
        "format": RECORD_FORMAT,
        "study": ident.study,
        "grid": ident.grid,
        "grid_sha256": ident.grid_sha256,
        "key": rec.key,
        "seed": ident.seed,
        "version": rec.version,
        "columns": [list(c) for c in ident.columns],
        "status": rec.status,
        "rows": [list(r) for r in rec.rows],
        "error": rec.error,
        "seconds": float(rec.seconds),
    }
    body["checksum"] = _checksum(body)
    return body


def _accept(ident: _Identity, rec: CaseRecord) -> CaseRecord:
    """A record just computed, or a failed one saying why it cannot be stored as finished."""
    if rec.version != ident.version:
        why = f"the worker runs ctmc-lab {rec.version}, this run {ident.version}"
    elif rec.status == "ok":
        why = _rows_problem(rec.key, rec.status, rec.rows, rec.error, ident.columns, ident.finite)
    else:
        return rec
    if why is None:
        return rec
    return CaseRecord(rec.key, "failed", [], f"invalid result: {why}", rec.seconds, ident.version)


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

    def files(self) -> list[str]:
        """The record files present (a name ending in ``.json``, not hidden), sorted."""
        if os.path.lexists(self.cases) and not os.path.isdir(self.cases):
            raise ValueError(f"{self.cases!r} exists and is not a directory; choose another `--out`")
        if not os.path.isdir(self.cases):
            return []
        try:
            names = os.listdir(self.cases)
        except OSError as err:
            raise ValueError(f"cannot list the case records in {self.cases!r}: {err.strerror or err}") from None
        return sorted(n for n in names if n.endswith(".json") and not n.startswith("."))

    def write(self, ident: _Identity, record: CaseRecord) -> None:
        from ctmc_lab.io import write_json

        write_json(os.path.join(self.cases, _record_file(record.key)), _record_body(ident, record), what="case record")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _shown(value) -> str:
    """A value read from a record, made safe for a one-line message (no newline, bounded length)."""
    text = str(value)
    return text if text.isprintable() and len(text) <= 40 else repr(text[:40]) + ("..." if len(text) > 40 else "")


def _values(values) -> str:
    return ", ".join(_shown(v) for v in sorted(values, key=str))


def _resumable(store: _Store, ident: _Identity, grid_keys: set, selected: set) -> tuple[dict, list[str]]:
    """The records of ``store`` that belong to this run, and one note per record that does not.

    Raises
    ------
    ValueError
        When validated records were made with another grid or seed than this run's.
    """
    name_to_key = {_record_file(k): k for k in grid_keys}
    good, bad, versions, grids, seeds = {}, [], {}, {}, {}
    for name in store.files():
        obj, why = _read_record(os.path.join(store.cases, name))
        if why is None:
            why = validate_record(obj)
        if why is None:
            if obj["study"] != ident.study:
                why = f"a record of study {_shown(obj['study'])}"
            elif obj["grid"] != ident.grid:
                grids[obj["grid"]] = grids.get(obj["grid"], 0) + 1
                continue
            elif obj["seed"] != ident.seed:
                seeds[obj["seed"]] = seeds.get(obj["seed"], 0) + 1
                continue
            elif obj["version"] != ident.version:
                versions[obj["version"]] = versions.get(obj["version"], 0) + 1
                continue
            elif obj["grid_sha256"] != ident.grid_sha256:
                why = f"written for another case list of the {ident.grid} grid"
            elif obj["columns"] != [list(c) for c in ident.columns]:
                why = f"its columns differ from those of {ident.study}"
            elif obj["key"] not in grid_keys or name != _record_file(obj["key"]):
                why = "its file name is not that of its case key"
            elif obj["status"] == "ok" and (
                problem := _rows_problem(obj["key"], "ok", obj["rows"], None, ident.columns, ident.finite)
            ):
                why = problem
            else:
                good[obj["key"]] = CaseRecord(
                    obj["key"], obj["status"], obj["rows"], obj["error"], float(obj["seconds"]), obj["version"]
                )
                continue
        key = name_to_key.get(name)
        if key is None:
            then = "not used (its file name is that of no case of this grid)"
        elif key in selected:
            then = f"case {key} runs again"
        else:
            then = f"not used (case {key} is not selected by `only`)"
        bad.append(f"{ident.study}: record {name} does not validate ({why}); {then}")
    where = f"{store.cases!r}"
    if grids:
        n, grid = sum(grids.values()), _values(grids)
        raise ValueError(
            f"{where} holds {_plural(n, 'case record')} of the {grid} grid, not {ident.grid}; "
            f"pass `--grid {grid}` to resume that run, or choose a fresh `--out`"
        )
    if seeds:
        n, seed = sum(seeds.values()), _values(seeds)
        raise ValueError(
            f"{where} holds {_plural(n, 'case record')} made with seed {seed}, not {ident.seed}; "
            f"pass `--seed {seed}` to resume that run, or choose a fresh `--out`"
        )
    notes = bad[:NOTES_LISTED]
    if len(bad) > NOTES_LISTED:
        notes.append(f"{ident.study}: ... and {len(bad) - NOTES_LISTED} more record(s) that do not validate")
    for version, n in sorted(versions.items()):
        notes.append(
            f"{ident.study}: {_plural(n, 'record')} written by ctmc-lab {_shown(version)} (this is {ident.version}); "
            "their cases run again"
        )
    return good, notes


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


def _host_port(address: str) -> tuple[str, int]:
    """``host`` and ``port`` of ``host:port`` or ``[v6]:port`` (Dask's default port 8786 if none)."""
    loc = address.split("/", 1)[0]
    ok = True
    if loc.startswith("["):
        host, bracket, rest = loc[1:].partition("]")
        ok = bool(bracket) and (not rest or rest.startswith(":"))
        port = rest[1:] if rest else None
    elif loc.count(":") > 1:  # an IPv6 address needs its brackets
        host, port, ok = loc, None, False
    else:
        host, colon, port = loc.partition(":")
        port = port if colon else None
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        ok = False
    if not (ok and host):
        raise ValueError(f"`--scheduler` {address!r} is not an address like tcp://host:8786")
    return host, 8786 if port is None else int(port)


def _receive(sock, n: int, deadline: float) -> bytes:
    """Up to ``n`` bytes from ``sock``, stopping at the deadline or when the peer closes."""

    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except OSError:  # a timeout, or the peer reset the connection
            break
        if not chunk:
            break
        data += chunk
    return data


def _first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].split(b"\n", 1)[0][:80].decode("ascii", "replace")


def probe_scheduler(address: str, *, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Refuse, in one line, an address where no Dask scheduler greets within ``timeout`` seconds.

    A Dask scheduler speaks first: on a new TCP connection it sends its handshake, a message
    framed by its length as a little-endian uint64. The probe connects (``tcp://`` or a bare
    ``host:port``; ``tls://`` is only connected to, its greeting being encrypted), reads those
    8 bytes and the message, and names what it found instead: nothing listening, no answer,
    an HTTP server (it is sent one ``HEAD`` request when it stays silent, and its status line
    is quoted), or another protocol. Other schemes (``inproc://``, ``ucx://``) are left to Dask.

    Raises
    ------
    ValueError
        One line naming the address and what was found.
    """
    import socket

    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in ("tcp", "tls"):
        return
    host, port = _host_port(rest)
    where = f"`--scheduler` {address!r}"
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise ValueError(f"{where}: no answer from {host}:{port} within {timeout:g} s (connection timed out)") from None
    except ConnectionRefusedError:
        raise ValueError(f"{where}: nothing is listening on {host}:{port} (connection refused)") from None
    except socket.gaierror as err:
        raise ValueError(f"{where}: cannot resolve the host {host!r} ({err.strerror or err})") from None
    except OSError as err:
        raise ValueError(f"{where}: cannot connect to {host}:{port} ({err.strerror or err})") from None
    with sock:
        if scheme == "tls":
            return
        # A scheduler greets at once; a silent peer is sent one HEAD request, which an HTTP server
        # answers (a late Dask greeting still arrives first, before any reply to the request).
        head = _receive(sock, 8, min(deadline, time.monotonic() + 1.0))
        if not head:
            try:
                sock.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            except OSError:
                pass
            head = _receive(sock, 8, deadline)
        if not head:
            raise ValueError(
                f"{where}: something is listening on {host}:{port} but sent no Dask greeting within {timeout:g} s; "
                "not a Dask scheduler"
            )
        if head.startswith(b"HTTP/"):
            head += _receive(sock, 72, time.monotonic() + 0.5)
            raise ValueError(
                f"{where}: an HTTP server is listening on {host}:{port} (it answered {_first_line(head)!r}), "
                "not a Dask scheduler"
            )
        size = int.from_bytes(head, "little") if len(head) == 8 else 0
        if not 0 < size <= 1 << 20:
            raise ValueError(
                f"{where}: the server on {host}:{port} answered {head!r}, which is not the Dask protocol; "
                "not a Dask scheduler"
            )
        if len(_receive(sock, size, deadline)) < size:
            raise ValueError(f"{where}: the server on {host}:{port} sent an incomplete greeting within {timeout:g} s")


def _connect(scheduler: str, timeout: float):
    """A ``distributed.Client`` on the scheduler at ``scheduler`` (already probed)."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=f"{timeout}s")
    except Exception as err:  # anything the handshake raises is about the address
        raise ValueError(f"cannot connect to the Dask scheduler `--scheduler` {scheduler!r}: {err}") from None


def _dask_records(mod, todo, seed, *, workers, scheduler, timeout, notes):
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
        client = _connect(scheduler, timeout)
        if not client.scheduler_info().get("workers"):
            notes(f"{mod.NAME}: the scheduler at {scheduler} has no workers yet; the cases wait for one")
    try:
        # Longest cases first (Dask runs higher priorities first): a long case started last would
        # leave the other workers idle at the end. The order changes no result, only the wall time.
        # The task key names the seed and version, so a shared scheduler never hands one run's
        # result to another.
        futures = [
            client.submit(
                execute_case,
                mod.__name__,
                c,
                seed,
                key=f"{mod.NAME}-{_digest(f'{seed}/{__version__}/{c.key}')}",
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
    if grid not in GRIDS:
        raise ValueError(f"unknown grid {grid!r}; choose one of {list(GRIDS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer (got {seed!r})")
    if not (isinstance(scheduler_timeout, (int, float)) and 0 < scheduler_timeout < math.inf):
        raise ValueError(f"`scheduler_timeout` must be a positive number of seconds (got {scheduler_timeout!r})")
    said = []

    def note(line: str) -> None:
        said.append(line)
        if notes is not None:
            print(line, file=notes, flush=True)

    workers = _worker_count(workers, force=force_workers, scheduler=scheduler, notes=note)
    grid_cases = sorted(mod.cases(grid), key=lambda c: c.key)
    keys = [c.key for c in grid_cases]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{mod.NAME}: case keys are not unique")
    cases = grid_cases if only is None else [c for c in grid_cases if only in c.key]
    if only is not None and not cases:
        raise ValueError(f"`only` {only!r} matches no case key of {mod.NAME} ({grid} grid)")
    columns = ((CASE_COLUMN, "str"), *((c.name, c.kind) for c in mod.COLUMNS))
    finite = frozenset(j + 1 for j, c in enumerate(mod.COLUMNS) if c.kind == "float" and c.finite)
    ident = _Identity(mod.NAME, grid, grid_digest(keys), int(seed), __version__, columns, finite)
    store = _Store(os.path.join(os.fspath(out_dir), mod.NAME))
    present = store.files()
    if present and not resume:
        raise ValueError(
            f"{store.root!r} already holds {len(present)} case record(s) of {mod.NAME}; "
            "pass `--resume` to continue that run, or choose another `--out`"
        )
    recorded, found = _resumable(store, ident, set(keys), {c.key for c in cases}) if present else ({}, [])
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
            mod, todo, seed, workers=workers, scheduler=scheduler, timeout=float(scheduler_timeout), notes=note
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


def _csv_text(header, rows) -> str:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def _finish(mod, store, cases, recorded, *, n_run, wall, notes) -> StudyRun:
    """Build the table, failures and summary in memory from the records, then write them."""
    import numpy as np

    from ctmc_lab.io import write_text

    missing = [c.key for c in cases if c.key not in recorded]
    if missing:
        raise ValueError(f"{mod.NAME}: {len(missing)} case(s) have no record after the run, e.g. {missing[0]}")
    header = [CASE_COLUMN, *(c.name for c in mod.COLUMNS)]
    chosen = [recorded[c.key] for c in cases]
    rows = [row for rec in chosen if rec.status == "ok" for row in rec.rows]
    failed = [rec for rec in chosen if rec.status != "ok"]
    table_text = _csv_text(header, rows)
    table = _parse_table(io.StringIO(table_text, newline=""), mod, "the study table")
    summary = mod.summarize(table) if rows else f"{mod.NAME}: no case succeeded"
    if failed:
        summary += (
            f"\n{len(failed)} case(s) failed (see {mod.NAME}.failures.csv), e.g. {failed[0].key}: {failed[0].error}"
        )
    table_path = os.path.join(store.root, f"{mod.NAME}.csv")
    write_text(
        os.path.join(store.root, f"{mod.NAME}.failures.csv"),
        _csv_text([CASE_COLUMN, "error"], [[r.key, r.error] for r in failed]),
        what="failure table",
    )
    write_text(os.path.join(store.root, "summary.txt"), summary + "\n", what="summary")
    write_text(table_path, table_text, what="study table")
    seconds = np.array([rec.seconds for rec in chosen])
    return StudyRun(mod.NAME, table_path, len(cases), n_run, len(failed), wall, seconds, summary, notes)


def _parse_table(fh, study, name: str) -> dict:
    import numpy as np

    try:
        reader = csv.reader(fh)
        header = next(reader, None)
        body = list(reader)
    except csv.Error as err:
        raise ValueError(f"{name} is not a CSV table ({err})") from None
    if not header:
        raise ValueError(f"{name} is empty (no header line)")
    kinds = {} if study is None else {c.name: c.kind for c in study_module(study).COLUMNS}
    cast = {"float": float, "int": int, "bool": lambda s: s == "True", "str": str}
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{name}: line {i + 2} has {len(row)} cells, the header {len(header)}")
    out = {}
    for j, column in enumerate(header):
        f = cast[kinds.get(column, "str")]
        try:
            values = [f(r[j]) for r in body]
        except ValueError:
            raise ValueError(f"{name}: column {column!r} holds a value that is not {kinds[column]}") from None
        out[column] = np.array(values, dtype=object if f is str else None) if values else np.array([])
    return out


def read_table(path, study=None) -> dict:
    """A study table as ``{column: 1-D array}``, typed by the study's ``COLUMNS`` (str otherwise).

    ``pandas.read_csv(path)`` reads the same file; this loader needs only NumPy. A malformed
    file is a ``ValueError`` naming it.
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return _parse_table(fh, study, f"study table {os.fspath(path)!r}")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read study table {os.fspath(path)!r}: {err}") from None
