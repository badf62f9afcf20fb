"""The study engine: seeds per case key, the same table from 1 and 2 workers, resume, failures, budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

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


def _toy_study():
    """A study whose case ``k=2`` raises: the failure must be recorded and the others complete."""
    mod = types.ModuleType("toy_study")
    mod.NAME = "toy"
    mod.COLUMNS = (Column("k", "int", "index"), Column("u", "float", "a seeded uniform"))
    mod.cases = lambda grid: [Case(f"toy/k={k}", {"k": k}) for k in range(4)]

    def run_case(case, *, rng):
        if case["k"] == 2:
            raise ArithmeticError("planted failure")
        return [{"k": case["k"], "u": float(rng.random())}]

    mod.run_case = run_case
    mod.estimate_seconds = lambda case: 1.0
    mod.summarize = lambda table: f"toy: {len(table['k'])} rows"
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
    two = engine.run_study("sampler-atlas", out_dir=tmp_path / "w2", only="dirichlet/N=2", workers=2, progress=None)
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
