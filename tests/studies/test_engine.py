"""The study engine: seeds per case key, the same table from 1 and 2 workers, resume, failures, budget,
records that cannot lie (every corruption is rerun or refused), the scheduler probe and the worker cap."""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ctmc_lab
from ctmc_lab.studies import engine
from ctmc_lab.studies.engine import Case, Column


def test_case_seed_depends_on_key_and_study_seed_only():
    a = np.random.default_rng(engine.case_seed(3, "x/L=4")).random(4)
    b = np.random.default_rng(engine.case_seed(3, "x/L=4")).random(4)
    c = np.random.default_rng(engine.case_seed(3, "x/L=5")).random(4)
    d = np.random.default_rng(engine.case_seed(4, "x/L=4")).random(4)
    assert np.array_equal(a, b) and not np.allclose(a, c) and not np.allclose(a, d)


def test_format_cell_round_trips_floats():
    for v in (0.1, 1 / 3, 1e-300, float("inf")):
        assert float(engine.format_cell(v)) == v
    assert engine.format_cell(np.float64(0.1)) == "0.1"
    assert engine.format_cell(True) == "True" and engine.format_cell(np.int64(3)) == "3"


def _toy_study(*, fail_key="toy/k=2", value=None, summarize=None):
    """A study whose case ``fail_key`` raises: the failure must be recorded and the others complete.

    ``value(case, rng)`` replaces the seeded uniform of column ``u`` (to plant a bad cell);
    ``summarize`` replaces the summary.
    """
    mod = types.ModuleType("toy_study")
    mod.NAME = "toy"
    mod.COLUMNS = (Column("k", "int", "index"), Column("u", "float", "a seeded uniform", finite=True))
    mod.cases = lambda grid: [Case(f"toy/k={k}", {"k": k}) for k in range(4)]

    def run_case(case, *, rng):
        if case.key == fail_key:
            raise ArithmeticError("planted failure")
        return [{"k": case["k"], "u": float(rng.random()) if value is None else value(case, rng)}]

    mod.run_case = run_case
    mod.estimate_seconds = lambda case: 1.0
    mod.summarize = summarize or (lambda table: f"toy: {len(table['k'])} rows")
    return mod


def test_failing_case_is_recorded_and_the_others_complete(tmp_path):
    res = engine.run_study(_toy_study(), out_dir=tmp_path, progress=None)
    assert (res.n_cases, res.n_failed) == (4, 1)
    table = engine.read_table(res.table_path, _toy_study())
    assert table["k"].tolist() == [0, 1, 3]
    expected = [np.random.default_rng(engine.case_seed(0, f"toy/k={k}")).random() for k in (0, 1, 3)]
    assert table["u"].tolist() == expected
    failures = (tmp_path / "toy" / "toy.failures.csv").read_text().splitlines()
    assert failures[1].startswith("toy/k=2,ArithmeticError: planted failure")
    assert "1 case(s) failed" in res.summary
    # --resume runs the failed case again and keeps the finished ones.
    again = engine.run_study(_toy_study(), out_dir=tmp_path, resume=True, progress=None)
    assert (again.n_run, again.n_failed) == (1, 1)


def test_existing_records_are_refused_without_resume_and_budget_is_enforced(tmp_path):
    engine.run_study(_toy_study(), out_dir=tmp_path, progress=None)
    with pytest.raises(ValueError, match="already holds 4 case record"):
        engine.run_study(_toy_study(), out_dir=tmp_path, progress=None)
    with pytest.raises(ValueError, match="over the budget of 2 s"):
        engine.run_study(_toy_study(), out_dir=tmp_path / "b", budget=2.0, progress=None)
    with pytest.raises(ValueError, match="unknown study"):
        engine.run_study("nope", out_dir=tmp_path)


def test_one_and_two_workers_give_the_same_table_bit_for_bit(tmp_path):
    one = engine.run_study("sampler-atlas", out_dir=tmp_path / "w1", only="dirichlet/N=2", workers=1, progress=None)
    two = engine.run_study(
        "sampler-atlas",
        out_dir=tmp_path / "w2",
        only="dirichlet/N=2",
        workers=2,
        force_workers=True,  # two processes even on a one-core runner
        progress=None,
    )
    assert one.n_cases == two.n_cases == 4 and one.n_failed == two.n_failed == 0
    with open(one.table_path, "rb") as a, open(two.table_path, "rb") as b:
        assert a.read() == b.read()


def test_resume_after_a_killed_run_gives_the_uninterrupted_table(tmp_path):
    killed = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "ctmc_lab.cli",
        "study",
        "sampler-atlas",
        "--out",
        str(killed),
        "--quiet",
        "--no-figure",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cases_dir = killed / "sampler-atlas" / "cases"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (cases_dir.is_dir() and any(cases_dir.glob("*.json"))):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(cases_dir.glob("*.json")))
    assert 1 <= n_before < 14, "the run was not killed mid-way"
    assert not (killed / "sampler-atlas" / "sampler-atlas.csv").exists()
    resumed = engine.run_study("sampler-atlas", out_dir=killed, resume=True, progress=None)
    assert resumed.n_run == 14 - n_before
    whole = engine.run_study("sampler-atlas", out_dir=tmp_path / "whole", progress=None)
    with open(resumed.table_path, "rb") as a, open(whole.table_path, "rb") as b:
        assert a.read() == b.read()


def test_table_is_sorted_by_case_key_and_typed(tmp_path):
    res = engine.run_study("coupling", out_dir=tmp_path, only="mk4", progress=None)
    table = engine.read_table(res.table_path, "coupling")
    assert list(table["case"]) == sorted(table["case"])
    assert table["L"].dtype.kind == "i" and table["gain"].dtype.kind == "f"


# ============================================================================ records that cannot lie
#: The real run the corruptions are planted into: two sampler-atlas cases, whose table has str,
#: int, float (with nan) and bool columns.
STUDY, ONLY = "sampler-atlas", "dirichlet/N=2/L=03"


def canonical_checksum(record: dict) -> str:
    """The checksum as docs/user_guide/studies.md states it, written independently of the engine."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _sealed(record: dict) -> dict:
    """``record`` with its checksum recomputed: what a careful forger (or another run) writes."""
    return {**record, "checksum": canonical_checksum(record)}


def _column(record: dict, kind: str) -> int:
    """The first column of ``kind`` whose first-row cell is a finite number (any one for str/bool)."""
    for j, (_, k) in enumerate(record["columns"]):
        if j and k == kind and (kind not in ("int", "float") or np.isfinite(float(record["rows"][0][j]))):
            return j
    raise AssertionError(f"no {kind} column")


def _set_cell(record, kind, value):
    j = _column(record, kind)
    record["rows"][0][j] = value
    return record


def _edit_number(record):
    j = _column(record, "float")
    old = record["rows"][0][j]
    record["rows"][0][j] = repr(float(old) * (1 + 2**-40))
    assert record["rows"][0][j] != old
    return record


def _text(record) -> bytes:
    return json.dumps(record, indent=2).encode()


def _replace_seed_text(record, literal: str) -> bytes:
    return _text(record).replace(b'"seed": 0', b'"seed": ' + literal.encode(), 1)


def _nan_literal_in_cell(record) -> bytes:
    j = _column(record, "float")
    record["rows"][0][j] = float("nan")
    return json.dumps(record, indent=2, allow_nan=True).encode()


def _drop(record, name):
    del record[name]
    return record


def _with(record, **fields):
    record.update(fields)
    return record


def _main_format(record):
    """A record as main (before checksums) wrote it."""
    return {k: record[k] for k in ("key", "status", "rows", "error", "seconds")}


def _rekey(record, key):
    record["key"] = key
    for row in record["rows"]:
        row[0] = key
    return _sealed(record)


#: name -> (what to write over the first record, given (record, other record, raw bytes), outcome).
#: A callable's result is bytes (written as is), or a JSON value (dumped). "rerun": same table as
#: the uninterrupted run, with a note naming the record; "version": same table, with the version
#: note; "refuse": a one-line error naming both values, nothing written.
CORRUPTIONS = {
    "one number edited": (lambda r, o, raw: _edit_number(r), "rerun"),
    "nan in a float cell": (lambda r, o, raw: _set_cell(r, "float", "nan"), "rerun"),
    "inf in a float cell": (lambda r, o, raw: _set_cell(r, "float", "inf"), "rerun"),
    "JSON NaN literal in a cell": (lambda r, o, raw: _nan_literal_in_cell(r), "rerun"),
    "huge number in a cell": (lambda r, o, raw: _set_cell(r, "float", "1e999"), "rerun"),
    "non-numeric float cell": (lambda r, o, raw: _set_cell(r, "float", "abc"), "rerun"),
    "non-numeric int cell": (lambda r, o, raw: _set_cell(r, "int", "three"), "rerun"),
    "bool cell spelled true": (lambda r, o, raw: _set_cell(r, "bool", "true"), "rerun"),
    "a number instead of a cell string": (lambda r, o, raw: _set_cell(r, "float", 0.5), "rerun"),
    "null cell": (lambda r, o, raw: _set_cell(r, "str", None), "rerun"),
    "ok with no rows": (lambda r, o, raw: _with(r, rows=[]), "rerun"),
    "ok with no rows, resealed": (lambda r, o, raw: _sealed(_with(r, rows=[])), "rerun"),
    "a row dropped": (lambda r, o, raw: _with(r, rows=r["rows"][1:]), "rerun"),
    "short row": (lambda r, o, raw: _with(r, rows=[r["rows"][0][:-1], *r["rows"][1:]]), "rerun"),
    "short row, resealed": (lambda r, o, raw: _sealed(_with(r, rows=[r["rows"][0][:-1], *r["rows"][1:]])), "rerun"),
    "long row": (lambda r, o, raw: _with(r, rows=[[*r["rows"][0], "1"], *r["rows"][1:]]), "rerun"),
    "a row that is a number": (lambda r, o, raw: _with(r, rows=[7, *r["rows"][1:]]), "rerun"),
    "rows an object": (lambda r, o, raw: _with(r, rows={"a": 1}), "rerun"),
    "non-canonical int cell, resealed": (lambda r, o, raw: _sealed(_set_cell(r, "int", "03")), "rerun"),
    "non-canonical float cell, resealed": (lambda r, o, raw: _sealed(_set_cell(r, "float", "1e999")), "rerun"),
    "row of another case, resealed": (
        lambda r, o, raw: _sealed(_with(r, rows=[[o["key"], *r["rows"][0][1:]], *r["rows"][1:]])),
        "rerun",
    ),
    "empty object": (lambda r, o, raw: {}, "rerun"),
    "a list": (lambda r, o, raw: [], "rerun"),
    "null": (lambda r, o, raw: None, "rerun"),
    "a string": (lambda r, o, raw: "ok", "rerun"),
    "a number": (lambda r, o, raw: 1e308, "rerun"),
    "seed a string": (lambda r, o, raw: _with(r, seed="0"), "rerun"),
    "seed a boolean": (lambda r, o, raw: _with(r, seed=False), "rerun"),
    "seed a float": (lambda r, o, raw: _replace_seed_text(r, "0.0"), "rerun"),
    "seed negative": (lambda r, o, raw: _sealed(_with(r, seed=-1)), "rerun"),
    "seed huge integer": (lambda r, o, raw: _replace_seed_text(r, "9" * 5000), "rerun"),
    "seed 1e999": (lambda r, o, raw: _replace_seed_text(r, "1e999"), "rerun"),
    "seconds infinite": (lambda r, o, raw: re.sub(rb'"seconds": [^,\n]+', b'"seconds": 1e999', raw), "rerun"),
    "seconds a string": (lambda r, o, raw: _with(r, seconds="fast"), "rerun"),
    "status unknown": (lambda r, o, raw: _sealed(_with(r, status="done")), "rerun"),
    "failed without error": (lambda r, o, raw: _sealed(_with(r, status="failed", rows=[])), "rerun"),
    "error on a finished case": (lambda r, o, raw: _sealed(_with(r, error="boom")), "rerun"),
    "no checksum": (lambda r, o, raw: _drop(r, "checksum"), "rerun"),
    "wrong checksum": (lambda r, o, raw: _with(r, checksum="0" * 64), "rerun"),
    "checksum a number": (lambda r, o, raw: _with(r, checksum=0), "rerun"),
    "unknown field": (lambda r, o, raw: _sealed(_with(r, extra=1)), "rerun"),
    "field missing": (lambda r, o, raw: _sealed(_drop(r, "grid_sha256")), "rerun"),
    "format 2": (lambda r, o, raw: _sealed(_with(r, format=2)), "rerun"),
    "columns renamed": (
        lambda r, o, raw: _sealed(_with(r, columns=[["case", "str"], ["x", "str"], *r["columns"][2:]])),
        "rerun",
    ),
    "column kind unknown": (
        lambda r, o, raw: _sealed(_with(r, columns=[*r["columns"][:-1], ["x", "complex"]])),
        "rerun",
    ),
    "first column not the case": (lambda r, o, raw: _sealed(_with(r, columns=r["columns"][::-1])), "rerun"),
    "another study": (lambda r, o, raw: _sealed(_with(r, study="coupling")), "rerun"),
    "another case list": (lambda r, o, raw: _sealed(_with(r, grid_sha256="0" * 64)), "rerun"),
    "key of another case": (lambda r, o, raw: _rekey(r, o["key"]), "rerun"),
    "key of no case": (lambda r, o, raw: _rekey(r, "dirichlet/N=9"), "rerun"),
    "another case's record": (lambda r, o, raw: o, "rerun"),
    "main's record format": (lambda r, o, raw: _main_format(r), "rerun"),
    "recorded as failed": (lambda r, o, raw: _sealed(_with(r, status="failed", rows=[], error="X: y")), "rerun"),
    "duplicate key": (lambda r, o, raw: raw.replace(b'"seed": 0,', b'"seed": 0, "seed": 0,', 1), "rerun"),
    "truncated file": (lambda r, o, raw: raw[: len(raw) // 2], "rerun"),
    "one byte": (lambda r, o, raw: raw[:1], "rerun"),
    "empty file": (lambda r, o, raw: b"", "rerun"),
    "whitespace only": (lambda r, o, raw: b" \n\t\n", "rerun"),
    "binary junk": (lambda r, o, raw: bytes(range(256)) * 8, "rerun"),
    "invalid UTF-8 inside a string": (lambda r, o, raw: raw.replace(b'"ok"', b'"o\xffk"', 1), "rerun"),
    "NUL bytes": (lambda r, o, raw: raw.replace(b'"ok"', b'"ok\x00"', 1), "rerun"),
    "deep nesting": (lambda r, o, raw: b"[" * 200_000, "rerun"),
    "another package version": (lambda r, o, raw: _sealed(_with(r, version="0.0.1")), "version"),
    "a study name with a newline": (lambda r, o, raw: _sealed(_with(r, study="x\ny")), "rerun"),
    "an unknown field with a newline": (lambda r, o, raw: _sealed(_with(r, **{"a\nb": 1})), "rerun"),
    "a version with a newline": (lambda r, o, raw: _sealed(_with(r, version="0.0.1\nsee")), "version"),
    "another seed": (lambda r, o, raw: _sealed(_with(r, seed=1)), "refuse"),
    "another grid": (lambda r, o, raw: _sealed(_with(r, grid="full")), "refuse"),
    "another grid, named with a newline": (lambda r, o, raw: _sealed(_with(r, grid="full\nsmall")), "refuse"),
}


def plant(path, name: str, other_path) -> str:
    """Overwrite the record at ``path`` with corruption ``name``; return its expected outcome."""
    raw = path.read_bytes()
    make, outcome = CORRUPTIONS[name]
    new = make(json.loads(raw), json.loads(other_path.read_bytes()), raw)
    path.write_bytes(new if isinstance(new, bytes) else json.dumps(new, indent=2).encode())
    return outcome


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real finished run of ``STUDY`` (cases ``ONLY``), made once per module."""
    out = tmp_path_factory.mktemp("finished")
    res = engine.run_study(STUDY, out_dir=out, only=ONLY, progress=None, notes=None)
    assert res.n_failed == 0 and res.n_cases == 2
    return out


@pytest.fixture
def finished(tmp_path, finished_run):
    """A copy of the finished run: (out dir, record files in name order, table path, table bytes)."""
    out = tmp_path / "out"
    shutil.copytree(finished_run, out)
    records = sorted((out / STUDY / "cases").glob("*.json"))
    table = out / STUDY / f"{STUDY}.csv"
    return out, records, table, table.read_bytes()


def test_a_record_names_its_run_and_checksums_its_content(finished):
    out, records, _, _ = finished
    rec = json.loads(records[0].read_text())
    mod = engine.study_module(STUDY)
    keys = sorted(c.key for c in mod.cases("small"))
    assert {k: rec[k] for k in ("format", "study", "grid", "seed", "version", "status", "error")} == {
        "format": 1,
        "study": STUDY,
        "grid": "small",
        "seed": 0,
        "version": ctmc_lab.__version__,
        "status": "ok",
        "error": None,
    }
    assert rec["grid_sha256"] == hashlib.sha256("\n".join(keys).encode()).hexdigest()
    assert rec["columns"] == [["case", "str"], *([c.name, c.kind] for c in mod.COLUMNS)]
    assert records[0].name == hashlib.sha1(rec["key"].encode()).hexdigest()[:20] + ".json"
    assert rec["checksum"] == canonical_checksum(rec)
    assert all(len(row) == len(rec["columns"]) and row[0] == rec["key"] for row in rec["rows"])
    assert engine.validate_record(rec) is None


def test_every_record_field_is_documented(finished):
    schemas = (Path(__file__).resolve().parents[2] / "docs" / "json_schemas.md").read_text(encoding="utf-8")
    section = schemas[schemas.index("(json-study-record)=") :].split("\n## ", 2)[1]
    fields = json.loads(finished[1][0].read_text())
    assert sorted(f for f in fields if f'"{f}"' not in section) == []


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_resume_after_a_corrupted_record_reruns_it_or_refuses(finished, name):
    out, records, table, whole = finished
    outcome = plant(records[0], name, records[1])
    table.write_bytes(b"the previous table\n")
    notes = io.StringIO()
    if outcome == "refuse":
        with pytest.raises(ValueError) as err:
            engine.run_study(STUDY, out_dir=out, only=ONLY, resume=True, progress=None, notes=notes)
        message = str(err.value)
        assert "\n" not in message and ("seed 1, not 0" in message or "grid, not small" in message)
        assert table.read_bytes() == b"the previous table\n" and notes.getvalue() == ""
        return
    res = engine.run_study(STUDY, out_dir=out, only=ONLY, resume=True, progress=None, notes=notes)
    assert table.read_bytes() == whole, "a resumed run wrote another table than the uninterrupted one"
    assert res.n_run == 1 and res.n_failed == 0
    said = notes.getvalue()
    if outcome == "version":
        assert said.startswith(f"{STUDY}: 1 record written by ctmc-lab ") and said.endswith("their cases run again\n")
    elif name != "recorded as failed":  # a failed case runs again without a note: it was never done
        assert f"record {records[0].name} does not validate" in said and "runs again" in said, said
    assert said.count("\n") == len(res.notes) and all("\n" not in n for n in res.notes)
    # The rerun replaced the bad record: a second resume reuses everything, silently.
    again = engine.run_study(STUDY, out_dir=out, only=ONLY, resume=True, progress=None, notes=None)
    assert (again.n_run, again.notes) == (0, ()) and table.read_bytes() == whole


def test_stray_files_are_not_used_and_said_so(finished):
    out, records, table, whole = finished
    cases = records[0].parent
    (cases / "zzz.json").write_text("{}")
    (cases / "dir.json").mkdir()
    (cases / ".partial.json.tmp").write_text("{")  # an interrupted atomic write: not a record
    shutil.copy(records[0], cases / "copy.json")
    notes = io.StringIO()
    res = engine.run_study(STUDY, out_dir=out, only=ONLY, resume=True, progress=None, notes=notes)
    assert res.n_run == 0 and table.read_bytes() == whole
    lines = notes.getvalue().splitlines()
    assert len(lines) == 3 and all("is that of no case of this grid" in line for line in lines)
    assert any("copy.json" in line and "file name is not that of its case key" in line for line in lines)


def test_many_bad_records_are_counted_after_the_first_few(tmp_path):
    engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path, progress=None)
    for path in (tmp_path / "toy" / "cases").glob("*.json"):
        path.write_text("[]")
    for k in range(5):
        (tmp_path / "toy" / "cases" / f"extra{k}.json").write_text("{")
    notes = io.StringIO()
    res = engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path, resume=True, progress=None, notes=notes)
    lines = notes.getvalue().splitlines()
    assert res.n_run == 4 and len(lines) == engine.NOTES_LISTED + 1
    assert lines[-1] == "toy: ... and 4 more record(s) that do not validate"


def test_a_record_of_another_seed_or_grid_is_refused_naming_both_values(tmp_path):
    first = engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path, seed=0, progress=None)
    before = open(first.table_path, "rb").read()
    with pytest.raises(ValueError, match=r"holds 4 case records made with seed 0, not 1; pass `--seed 0`"):
        engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path, seed=1, resume=True, progress=None)
    with pytest.raises(ValueError, match=r"holds 4 case records of the small grid, not full; pass `--grid small`"):
        engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path, grid="full", resume=True, progress=None)
    assert open(first.table_path, "rb").read() == before
    # A fresh `out_dir` is the way to run another seed.
    other = engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path / "s1", seed=1, progress=None)
    assert open(other.table_path, "rb").read() != before


def test_a_new_record_that_does_not_validate_is_a_failed_case(tmp_path):
    """A study writing nan in a column documented finite, or no rows, fails that case; the table is not corrupt."""

    def value(case, rng):
        return float("nan") if case["k"] == 1 else 0.25

    res = engine.run_study(_toy_study(fail_key=None, value=value), out_dir=tmp_path, progress=None)
    assert res.n_failed == 1
    with open(tmp_path / "toy" / "toy.failures.csv", newline="") as fh:
        failures = list(csv.reader(fh))
    assert failures == [
        ["case", "error"],
        ["toy/k=1", "invalid result: row 0, column 'u': nan where the column requires a finite number"],
    ]
    assert engine.read_table(res.table_path, _toy_study())["k"].tolist() == [0, 2, 3]

    empty = _toy_study(fail_key=None)
    empty.run_case = lambda case, *, rng: []
    res = engine.run_study(empty, out_dir=tmp_path / "e", progress=None)
    assert res.n_failed == 4 and "run_case returned no rows" in res.summary


def test_a_failure_after_the_cases_leaves_the_previous_table(tmp_path):
    engine.run_study(_toy_study(), out_dir=tmp_path, progress=None)
    table = tmp_path / "toy" / "toy.csv"
    before = table.read_bytes()

    def broken(table):
        raise RuntimeError("summary failed")

    with pytest.raises(RuntimeError, match="summary failed"):
        engine.run_study(_toy_study(fail_key=None, summarize=broken), out_dir=tmp_path, resume=True, progress=None)
    assert table.read_bytes() == before


def test_read_table_refuses_a_malformed_file_in_one_line(tmp_path):
    path = tmp_path / "t.csv"
    for text, needle in (
        ("", "is empty"),
        ("case,k,u\nx,1\n", "line 2 has 2 cells, the header 3"),
        ("case,k,u\nx,one,0.5\n", "column 'k' holds a value that is not int"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=needle):
            engine.read_table(path, _toy_study())
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="cannot read study table"):
        engine.read_table(path)


# ---------------------------------------------------------------------------- validate_record, properties
@pytest.fixture(scope="module")
def toy_record(tmp_path_factory) -> dict:
    """One record of a finished toy run."""
    out = tmp_path_factory.mktemp("toy")
    engine.run_study(_toy_study(fail_key=None), out_dir=out, progress=None)
    return json.loads(sorted((out / "toy" / "cases").glob("*.json"))[0].read_text())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@given(data=st.data())
def test_any_change_to_a_record_is_caught(toy_record, data):
    """Replace, drop or add one field or one cell: unless nothing changed, the record does not validate."""
    original = toy_record
    assert engine.validate_record(original) is None
    rec = copy.deepcopy(original)
    where = data.draw(st.sampled_from(["field", "drop", "add", "cell", "cell text"]))
    if where == "field":
        rec[data.draw(st.sampled_from(sorted(rec)))] = data.draw(_json)
    elif where == "drop":
        del rec[data.draw(st.sampled_from(sorted(rec)))]
    elif where == "add":
        rec[data.draw(st.text(min_size=1, max_size=8))] = data.draw(_json)
    else:
        j = data.draw(st.integers(0, len(rec["columns"]) - 1))
        rec["rows"][0][j] = data.draw(_json if where == "cell" else st.text(max_size=30))
    why = engine.validate_record(rec)
    assert _same(rec, original) or isinstance(why, str), rec


@given(_json)
def test_validate_record_names_a_reason_for_any_json_value(value):
    why = engine.validate_record(value)
    assert isinstance(why, str) and why and "\n" not in why


# ============================================================================ workers
def test_workers_above_the_cores_are_capped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "available_cores", lambda: 1)
    notes = io.StringIO()
    res = engine.run_study(_toy_study(fail_key=None), out_dir=tmp_path, workers=64, progress=None, notes=notes)
    assert (
        notes.getvalue()
        == "`--workers 64` is more than the 1 core this process may use; using 1 (`--force-workers` keeps 64)\n"
    )
    assert res.notes == (notes.getvalue().strip(),) and res.n_failed == 0


@pytest.mark.parametrize("workers", [0, -1, True, 2.5, "2", None])
def test_absurd_worker_counts_are_refused(tmp_path, workers):
    with pytest.raises(ValueError, match="`workers` must be a positive integer"):
        engine.run_study(_toy_study(), out_dir=tmp_path, workers=workers, progress=None)


def test_available_cores_is_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert engine.available_cores() == expected >= 1


# ============================================================================ the scheduler probe
@contextlib.contextmanager
def http_server(status: int = 400):
    """An HTTP server on 127.0.0.1 answering ``status`` to every request; it stops itself after 60 s."""

    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a client that sends nothing does not hold the server

        def do_HEAD(self):
            self.send_error(status)

        do_GET = do_POST = do_HEAD

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 0.1
    stop = threading.Event()

    def serve():
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            server.handle_request()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        stop.set()
        thread.join(10)
        server.server_close()


@contextlib.contextmanager
def tcp_server(greeting: bytes | None):
    """A loopback server that accepts one connection and sends ``greeting`` (None: listens, never accepts)."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(10)

    def serve():
        with contextlib.suppress(OSError):
            conn, _ = sock.accept()
            with conn:
                conn.sendall(greeting)
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    if greeting is not None:
        thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
        if greeting is not None:
            thread.join(10)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("status", [400, 200])
def test_probe_names_an_http_server(status):
    with http_server(status) as port:
        with pytest.raises(ValueError) as err:
            engine.probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=5)
    message = str(err.value)
    assert f"an HTTP server is listening on 127.0.0.1:{port}" in message and f" {status} " in message
    assert "not a Dask scheduler" in message and "memory" not in message


def test_probe_names_a_closed_port_a_silent_server_and_another_protocol():
    port = closed_port()
    with pytest.raises(ValueError, match=f"nothing is listening on 127.0.0.1:{port} \\(connection refused\\)"):
        engine.probe_scheduler(f"127.0.0.1:{port}")
    with tcp_server(None) as port:
        with pytest.raises(ValueError, match="sent no Dask greeting within 0.5 s; not a Dask scheduler"):
            engine.probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=0.5)
    with tcp_server(b"SSH-2.0-OpenSSH_9.6\r\n") as port:
        with pytest.raises(ValueError, match=r"answered b'SSH-2.0-', which is not the Dask protocol"):
            engine.probe_scheduler(f"tcp://127.0.0.1:{port}")
    for address in ("tcp://127.0.0.1:99999", "tcp://:8786", "tcp://[::1", "tcp://h:", "tcp://a:b:c", "h:x"):
        with pytest.raises(ValueError, match="is not an address like tcp://host:8786"):
            engine.probe_scheduler(address)


def test_probe_accepts_a_dask_greeting():
    """The framing the probe reads: a little-endian uint64 length, then that many bytes."""
    with tcp_server(struct.pack("<Q", 5) + b"hello") as port:
        assert engine.probe_scheduler(f"tcp://127.0.0.1:{port}") is None
    with tcp_server(struct.pack("<Q", 50) + b"hello") as port:
        with pytest.raises(ValueError, match="incomplete greeting"):
            engine.probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=0.5)


def test_a_real_scheduler_runs_the_cases_to_the_same_table(tmp_path):
    from distributed import LocalCluster

    local = engine.run_study("length-scaling", out_dir=tmp_path / "local", only="binary-k2/L=04", progress=None)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", dashboard_address=None
    ) as cluster:
        engine.probe_scheduler(cluster.scheduler_address)
        remote = engine.run_study(
            "length-scaling",
            out_dir=tmp_path / "remote",
            only="binary-k2/L=04",
            scheduler=cluster.scheduler_address,
            progress=None,
        )
    assert remote.n_failed == 0
    with open(local.table_path, "rb") as a, open(remote.table_path, "rb") as b:
        assert a.read() == b.read()


# ============================================================================ several tables, runs in memory
def _two_table_study(*, fail_key=None):
    """A study whose cases fill two tables: ``u`` (one seeded uniform per k) and ``pair`` (k, the study seed)."""
    mod = types.ModuleType("two_table_study")
    mod.NAME = "two"
    mod.COLUMNS = (Column("k", "int", "index"), Column("u", "float", "a seeded uniform", finite=True))
    mod.TABLES = {"pair": (Column("k", "int", "index"), Column("seed", "int", "the study seed, from Case.seed"))}
    mod.cases = lambda grid: (
        [Case(f"a/k={k}", {"k": k}) for k in range(3)] + [Case(f"b/k={k}", {"k": k}, table="pair") for k in range(2)]
    )

    def run_case(case, *, rng):
        if case.key == fail_key:
            raise ArithmeticError("planted failure")
        if case.table == "pair":
            return [{"k": case["k"], "seed": case.seed}, {"k": -case["k"], "seed": case.seed}]
        return [{"k": case["k"], "u": float(rng.random())}]

    mod.run_case = run_case
    mod.estimate_seconds = lambda case: 1.0
    mod.summarize = lambda table, *, pair: f"two: {len(table['k'])} and {len(pair['k'])} rows"
    return mod


def test_a_study_of_two_tables_writes_both_and_resumes(tmp_path):
    res = engine.run_study(_two_table_study(), out_dir=tmp_path, seed=5, progress=None, notes=None)
    assert res.summary == "two: 3 and 4 rows"
    assert {k: os.path.basename(p) for k, p in res.table_paths.items()} == {"table": "two.csv", "pair": "two.pair.csv"}
    tables = engine.read_tables(res, _two_table_study())
    assert tables["table"]["u"].tolist() == [
        np.random.default_rng(engine.case_seed(5, f"a/k={k}")).random() for k in range(3)
    ]
    assert tables["pair"]["k"].tolist() == [0, 0, 1, -1] and set(tables["pair"]["seed"].tolist()) == {5}
    assert (tmp_path / "two" / "two.pair.csv").read_text().splitlines()[0] == "case,k,seed"
    # Each record carries its own table's columns; resuming reuses all of them.
    record = json.loads(next((tmp_path / "two" / "cases").glob("*.json")).read_text())
    assert record["columns"] in (
        [["case", "str"], ["k", "int"], ["u", "float"]],
        [["case", "str"], ["k", "int"], ["seed", "int"]],
    )
    again = engine.run_study(_two_table_study(), out_dir=tmp_path, seed=5, resume=True, progress=None, notes=None)
    assert again.n_run == 0 and again.summary == res.summary


def test_a_record_under_another_tables_columns_runs_again(tmp_path):
    """A well-formed record of a main-table case that claims the other table's columns is not reused."""
    engine.run_study(_two_table_study(), out_dir=tmp_path, progress=None, notes=None)
    path = tmp_path / "two" / "cases" / f"{hashlib.sha1(b'a/k=1').hexdigest()[:20]}.json"
    whole = (tmp_path / "two" / "two.csv").read_bytes()
    record = json.loads(path.read_text())
    record["columns"] = [["case", "str"], ["k", "int"], ["seed", "int"]]  # the pair table's
    record["rows"] = [["a/k=1", "1", "0"]]
    path.write_text(json.dumps(_sealed(record)))
    notes = io.StringIO()
    again = engine.run_study(_two_table_study(), out_dir=tmp_path, resume=True, progress=None, notes=notes)
    assert again.n_run == 1 and "its columns differ from those of two" in notes.getvalue()
    assert (tmp_path / "two" / "two.csv").read_bytes() == whole


def test_a_table_whose_cases_failed_is_named_and_not_summarised(tmp_path):
    res = engine.run_study(_two_table_study(fail_key="b/k=0"), out_dir=tmp_path, progress=None, notes=None)
    assert res.n_failed == 1 and res.summary.startswith("two: 3 and 2 rows")
    res = engine.run_study(
        _two_table_study(fail_key="b/k=0"), out_dir=tmp_path / "x", only="b/k=0", progress=None, notes=None
    )
    assert res.summary.startswith("two: no case succeeded")
    mod = _two_table_study()
    mod.cases = lambda grid: [Case("a", {"k": 0}, table="nope")]
    with pytest.raises(ValueError, match="fills table 'nope', which the study does not declare"):
        engine.run_study(mod, out_dir=tmp_path / "y", progress=None, notes=None)
    mod.TABLES = {"failures": ()}
    with pytest.raises(ValueError, match="must be an identifier other than"):
        engine.study_tables(mod)


def test_run_cases_gives_the_tables_a_run_writes(tmp_path):
    """In memory, with the same case execution and checks: the same typed tables as run_study's files."""
    run = engine.run_study("coupling", out_dir=tmp_path, only="mk4", seed=2, progress=None, notes=None)
    on_disk = engine.read_tables(run, "coupling")
    from ctmc_lab.studies import coupling

    in_memory = engine.run_cases(coupling, [c for c in coupling.cases("small") if "mk4" in c.key], seed=2)
    assert list(in_memory) == ["table"] and list(in_memory["table"]) == list(on_disk["table"])
    for column, values in on_disk["table"].items():
        assert np.array_equal(values, in_memory["table"][column]), column
    with pytest.raises(ValueError, match=r"case a/k=1 failed: ArithmeticError: planted failure"):
        engine.run_cases(_two_table_study(fail_key="a/k=1"), _two_table_study().cases("small"))
