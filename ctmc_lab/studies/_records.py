"""The case records of a study run: the table's columns, the cases, what each case produced, and
how a record written to disk is checked before it is trusted (``docs/user_guide/studies.md``).

A record is one JSON object per finished case (:data:`RECORD_FORMAT`); it names the run it belongs
to (an :class:`_Identity`) and carries a SHA-256 checksum of its content. :func:`validate_record`
checks a parsed record on its own; whether it belongs to a given run is decided by the store
(:mod:`ctmc_lab.studies._store`). Only the standard library is imported here (NumPy inside
:func:`format_cell`), so the command line can list the studies without loading NumPy.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field

from ctmc_lab import __version__

__all__ = [
    "CASE_COLUMN",
    "KINDS",
    "MAIN_TABLE",
    "RECORD_FORMAT",
    "Case",
    "CaseRecord",
    "Column",
    "format_cell",
    "validate_record",
]

#: The key column every table starts with.
CASE_COLUMN = "case"
#: The name of a study's main table (its ``COLUMNS``); other tables are named in its ``TABLES``.
MAIN_TABLE = "table"
#: The layout of a case record (its ``format`` field); a record of another layout is rerun.
RECORD_FORMAT = 1
#: The cell kinds a :class:`Column` may declare.
KINDS = ("str", "int", "float", "bool")
#: A record file larger than this is not read (the largest full-grid record is below 100 kB).
MAX_RECORD_BYTES = 16 << 20


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
    """One independent unit of work: a stable key, the parameters of its source, the table it fills.

    Attributes
    ----------
    key : str
        A stable string naming the case, e.g. ``dirichlet/N=3/L=6/alpha=0.5/support=full/seed=4``;
        the case's seed is derived from it, and the table is sorted by it.
    params : mapping
        The parameters ``run_case`` reads.
    table : str
        The table its rows belong to: ``"table"`` (the study's ``COLUMNS``) or a name of
        the study's ``TABLES``.
    seed : int or None
        The study seed, set by the engine when the case runs (the case's own generator, passed as
        ``rng``, already derives from it and the key). A study reads it only to keep random
        streams that predate the engine: the paper figures spawn theirs from ``SeedSequence(seed)``.
    """

    key: str
    params: Mapping = field(hash=False)
    table: str = MAIN_TABLE
    seed: int | None = None

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
class _Identity:
    """What every record of one run shares; ``--resume`` compares it field by field.

    ``layouts`` maps each table of the study to its ``((name, kind), ...)`` columns (the case
    column first) and the positions whose cells must be finite numbers; ``table_of`` maps a case
    key of the grid to its table (a key of no case reads as the main table's).
    """

    study: str
    grid: str
    grid_sha256: str
    seed: int
    version: str
    layouts: Mapping = field(hash=False)
    table_of: Mapping = field(hash=False)

    def layout(self, key: str) -> tuple[tuple, frozenset]:
        """The (columns, finite positions) of the table of case ``key``."""
        return self.layouts[self.table_of.get(key, MAIN_TABLE)]

    def columns(self, key: str) -> list[list[str]]:
        """The columns of case ``key``'s table as a record stores them."""
        return [list(c) for c in self.layout(key)[0]]


def table_layout(columns) -> tuple[tuple, frozenset]:
    """((name, kind), ...) with the case column first, and the positions of the finite float columns."""
    names = ((CASE_COLUMN, "str"), *((c.name, c.kind) for c in columns))
    finite = frozenset(j + 1 for j, c in enumerate(columns) if c.kind == "float" and c.finite)
    return names, finite


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
        "columns": ident.columns(rec.key),
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
        why = _rows_problem(rec.key, rec.status, rec.rows, rec.error, *ident.layout(rec.key))
    else:
        return rec
    if why is None:
        return rec
    return CaseRecord(rec.key, "failed", [], f"invalid result: {why}", rec.seconds, ident.version)


def _shown(value) -> str:
    """A value read from a record, made safe for a one-line message (no newline, bounded length)."""
    text = str(value)
    return text if text.isprintable() and len(text) <= 40 else repr(text[:40]) + ("..." if len(text) > 40 else "")
