"""Where a study run keeps its case records (``OUT/NAME/cases/*.json``), and which of them ``--resume`` may reuse.

One atomic JSON file per finished case, named by the first 20 hex digits of the SHA-1 of its key.
:func:`_resumable` reads every record present and decides, record by record, whether it belongs to
this run (``docs/user_guide/studies.md``, "Case records and ``--resume``").
"""

from __future__ import annotations

import hashlib
import os

from ctmc_lab.studies._records import (
    CaseRecord,
    _Identity,
    _read_record,
    _record_body,
    _rows_problem,
    _shown,
    validate_record,
)

__all__: list[str] = []

#: Records that do not validate, listed one per line before the rest are counted.
NOTES_LISTED = 5


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def _record_file(key: str) -> str:
    return f"{_digest(key)}.json"


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
            elif obj["columns"] != ident.columns(obj["key"]):
                why = f"its columns differ from those of {ident.study}"
            elif obj["key"] not in grid_keys or name != _record_file(obj["key"]):
                why = "its file name is not that of its case key"
            elif obj["status"] == "ok" and (
                problem := _rows_problem(obj["key"], "ok", obj["rows"], None, *ident.layout(obj["key"]))
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
