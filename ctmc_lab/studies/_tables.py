"""A study's tables as files: CSV text from recorded rows, and :func:`read_table`, typed by the study's columns.

Cells are the text of the records (``_records.format_cell``), so a table is lossless: floats in
their shortest round-trip form, ``inf`` and ``nan`` spelled so, booleans ``True``/``False``.
"""

from __future__ import annotations

import csv
import io
import os

from ctmc_lab.studies._records import MAIN_TABLE
from ctmc_lab.studies._registry import study_tables

__all__ = ["read_table", "table_file"]


def table_file(name: str, table: str = MAIN_TABLE) -> str:
    """The file name of a study table: ``NAME.csv`` for the main one, ``NAME.TABLE.csv`` for the others."""
    return f"{name}.csv" if table == MAIN_TABLE else f"{name}.{table}.csv"


def _csv_text(header, rows) -> str:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def _parse_table(fh, columns, name: str) -> dict:
    """``{column: 1-D array}`` of a CSV table; ``columns`` (or None) give the kinds, str otherwise."""
    import numpy as np

    try:
        reader = csv.reader(fh)
        header = next(reader, None)
        body = list(reader)
    except csv.Error as err:
        raise ValueError(f"{name} is not a CSV table ({err})") from None
    if not header:
        raise ValueError(f"{name} is empty (no header line)")
    kinds = {} if columns is None else {c.name: c.kind for c in columns}
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


def read_table(path, study=None, table: str = MAIN_TABLE) -> dict:
    """A study table as ``{column: 1-D array}``, typed by the columns of the study's ``table`` (str otherwise).

    ``pandas.read_csv(path)`` reads the same file; this loader needs only NumPy. A malformed
    file is a ``ValueError`` naming it.
    """
    columns = None
    if study is not None:
        tables = study_tables(study)
        if table not in tables:
            raise ValueError(f"`table` {table!r} is not a table of the study; choose one of {list(tables)}")
        columns = tables[table]
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return _parse_table(fh, columns, f"study table {os.fspath(path)!r}")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read study table {os.fspath(path)!r}: {err}") from None
