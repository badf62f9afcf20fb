"""``ctmc-lab study``: a run writes the table, summary and figure; bad options, corrupt or foreign records,
bad schedulers and absurd worker counts end in a note and the uninterrupted table, or a one-line error."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ctmc_lab.studies import engine
from tests.cli_helpers import assert_refused, run_cli, run_main
from tests.studies.test_engine import CORRUPTIONS, ONLY, STUDY, closed_port, http_server, plant


def test_study_writes_table_summary_and_figure(tmp_path):
    status, out, err = run_main("study", "length-scaling", "--out", tmp_path, "--only", "binary-k2")
    assert status == 0, err
    base = tmp_path / "length-scaling"
    assert "fitted growth" in out and (base / "length-scaling.csv").exists()
    assert (base / "length-scaling.png").exists() and (base / "summary.txt").exists()
    assert "3/3 done, 0 running, 0 failed" in err
    # A second run into the same directory must say --resume.
    status, _, err = run_main("study", "length-scaling", "--out", tmp_path, "--only", "binary-k2")
    assert_refused(status, err, "study", "--resume")
    status, out, err = run_main(
        "study", "length-scaling", "--out", tmp_path, "--only", "binary-k2", "--resume", "--quiet"
    )
    assert status == 0 and "0 run now" in out and err == ""


def test_bad_options_are_refused(tmp_path):
    for argv, needle in (
        (("study", "nope"), "unknown study"),
        (("study", "coupling", "--grid", "huge"), "unknown grid"),
        (("study", "coupling", "--workers", "0"), "`--workers` must be a positive integer (got 0)"),
        (("study", "coupling", "--workers", "-3"), "`--workers` must be a positive integer (got -3)"),
        (("study", "coupling", "--workers", "two"), "`--workers` must be an integer (got 'two')"),
        (("study", "coupling", "--workers", "1.5"), "`--workers` must be an integer (got '1.5')"),
        (("study", "coupling", "--workers", "2", "--scheduler", "tcp://h:1"), "with `--scheduler` the cluster"),
        (("study", "coupling", "--scheduler", "x:1", "--scheduler-timeout", "0"), "`--scheduler-timeout` must be"),
        (("study", "coupling", "--scheduler", "x:1", "--scheduler-timeout", "nan"), "`--scheduler-timeout` must be"),
        (("study", "coupling", "--scheduler", "x:1", "--scheduler-timeout", "soon"), "must be a number"),
        (("study", "coupling", "--scheduler", "tcp://h:99999"), "is not an address like tcp://host:8786"),
        (("study", "coupling", "--budget", "1e-9", "--grid", "full"), "over the budget"),
        (("study", "coupling", "--only", "zzz"), "matches no case"),
    ):
        status, _, err = run_main(*argv, "--out", tmp_path / "o")
        assert_refused(status, err, "study", needle)
    assert not (tmp_path / "o").exists()


# ============================================================================ corrupt and foreign records
@pytest.fixture(scope="module")
def finished_cli_run(tmp_path_factory):
    """``ctmc-lab study STUDY --only ONLY``, run once: (out dir, table bytes)."""
    out = tmp_path_factory.mktemp("cli-finished")
    status, _, err = run_main("study", STUDY, "--out", out, "--only", ONLY, "--no-figure", "--quiet")
    assert status == 0, err
    return out, (out / STUDY / f"{STUDY}.csv").read_bytes()


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_resume_after_a_corrupted_record(tmp_path, finished_cli_run, name):
    """Exit 0 with the uninterrupted table and a note, or exit 2 with one line: never another table."""
    source, whole = finished_cli_run
    out = tmp_path / "out"
    shutil.copytree(source, out)
    records = sorted((out / STUDY / "cases").glob("*.json"))
    outcome = plant(records[0], name, records[1])
    table = out / STUDY / f"{STUDY}.csv"
    status, stdout, err = run_main("study", STUDY, "--out", out, "--only", ONLY, "--resume", "--no-figure", "--quiet")
    assert "Traceback" not in err
    if outcome == "refuse":
        line = assert_refused(status, err, "study", "pass `--", "or choose a fresh `--out`")
        assert "made with seed 1, not 0" in line or "grid, not small" in line
        assert table.read_bytes() == whole and stdout == ""
        return
    assert status == 0, err
    assert table.read_bytes() == whole, "exit 0 with another table than the uninterrupted run's"
    assert "1 run now, 0 failed" in stdout
    if outcome == "version":
        assert err.startswith(f"{STUDY}: 1 record written by ctmc-lab ") and err.count("\n") == 1, err
        assert err.endswith(f" (this is {engine.__version__}); their cases run again\n")
    elif name != "recorded as failed":
        assert err.startswith(f"{STUDY}: record {records[0].name} does not validate (") and err.count("\n") == 1, err
        assert "; case dirichlet/N=2/L=03/" in err and err.endswith(" runs again\n")


def test_resume_with_another_seed_or_grid_is_refused_until_a_fresh_out(tmp_path, finished_cli_run):
    source, whole = finished_cli_run
    out = tmp_path / "out"
    shutil.copytree(source, out)
    table = out / STUDY / f"{STUDY}.csv"
    args = ("study", STUDY, "--only", ONLY, "--resume", "--no-figure", "--quiet")
    status, _, err = run_main(*args, "--out", out, "--seed", "1")
    assert_refused(status, err, "study", "holds 2 case records made with seed 0, not 1", "pass `--seed 0`")
    status, _, err = run_main(*args, "--out", out, "--grid", "full")
    assert_refused(status, err, "study", "holds 2 case records of the small grid, not full", "pass `--grid small`")
    assert table.read_bytes() == whole
    status, _, err = run_main(*args, "--out", tmp_path / "fresh", "--seed", "1")
    assert status == 0, err
    assert (tmp_path / "fresh" / STUDY / f"{STUDY}.csv").read_bytes() != whole


# ============================================================================ schedulers and workers
def test_scheduler_that_is_an_http_server_is_named_in_one_line(tmp_path):
    """As a user meets it (a subprocess): an HTTP server answering 400 is not "out of memory", nor a hang."""
    with http_server(400) as port:
        done = run_cli("study", "coupling", "--scheduler", f"tcp://127.0.0.1:{port}", "--out", tmp_path, timeout=120)
    line = assert_refused(done.returncode, done.stderr, "study", f"an HTTP server is listening on 127.0.0.1:{port}")
    assert "HTTP/1.0 400 Bad Request" in line and "not a Dask scheduler" in line and "memory" not in line
    assert list(tmp_path.iterdir()) == [], "a refused run wrote something"


def test_scheduler_on_a_closed_port_is_named_in_one_line(tmp_path):
    port = closed_port()
    status, _, err = run_main("study", "coupling", "--scheduler", f"127.0.0.1:{port}", "--out", tmp_path)
    assert_refused(status, err, "study", f"nothing is listening on 127.0.0.1:{port} (connection refused)")


def test_workers_above_the_cores_are_capped_with_a_note_unless_forced(tmp_path):
    cores = engine.available_cores()
    many = str(cores + 62)
    one_case = ("study", "length-scaling", "--only", "binary-k2/L=04", "--no-figure", "--quiet")
    status, out, err = run_main(*one_case, "--workers", many, "--out", tmp_path / "a")
    assert status == 0, err
    assert err == (
        f"`--workers {many}` is more than the {cores} core{'s' if cores > 1 else ''} this process may use; "
        f"using {cores} (`--force-workers` keeps {many})\n"
    )
    # Forced: no note (and no more workers than the one case to run are started).
    status, _, err = run_main(*one_case, "--workers", many, "--force-workers", "--out", tmp_path / "b")
    assert status == 0 and err == ""
    a, b = (tmp_path / d / "length-scaling" / "length-scaling.csv" for d in "ab")
    assert a.read_bytes() == b.read_bytes()


def test_the_study_command_module_imports_no_numpy_until_run():
    """``ctmc-lab --help`` builds every parser: this one must not load NumPy, Dask or a study."""
    code = (
        "import argparse, importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('study_cli', 'ctmc_lab/cli/study.py')\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "mod.add_parser(argparse.ArgumentParser().add_subparsers())\n"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'distributed', 'ctmc_lab.io') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    root = engine.__file__.rsplit("/ctmc_lab/", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
