"""``ctmc-lab verify``: the command line parses and loads, :func:`proofs_check.verifier.verify` runs.

The suite itself is tested in ``tests/proofs_check/``; here, the wiring: the subcommand's
options reach the function, ``python -m proofs_check`` is the same command, and the
function runs without argv on a distribution given as a Python object.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import proofs_check
from ctmc_lab.cli import main, verify
from ctmc_lab.sources import datasets
from proofs_check.runner import default_chain

CONTROLS = {"thm41.control.drop_fully_masked", "cor43.control.whole_length_harmonic"}


def test_add_parser_registers_verify_subcommand(capsys):
    """The ``ctmc-lab`` wiring: ``add_parser`` registers ``verify`` with ``func=run``."""
    import argparse

    parser = argparse.ArgumentParser(prog="ctmc-lab")
    sub = parser.add_subparsers(dest="command")
    verify.add_parser(sub)
    args = parser.parse_args(["verify", "--only", "thm41.weights", "--precision", "float64"])
    assert args.func is verify.run
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Thm 4.1" in out and "verify OK" in out
    args = parser.parse_args(["verify", "--list", "--only", "control"])
    assert args.func(args) == 0
    listed = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in listed} >= CONTROLS


def test_python_m_proofs_check_is_ctmc_lab_verify(capsys):
    argv = ["--list", "--only", "Thm 4.1", "--precision", "float64"]
    assert main(["verify", *argv]) == 0
    expected = capsys.readouterr().out
    proc = subprocess.run([sys.executable, "-m", "proofs_check", *argv], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == expected and expected
    bad = subprocess.run(
        [sys.executable, "-m", "proofs_check", "--precision", "float32"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.startswith("ctmc-lab verify: error: `--precision`")


def test_verify_runs_on_a_distribution_object(capsys):
    dist = datasets.dirichlet(2, 3, rng=4, alphabet="AT")
    assert proofs_check.verify(dist, only="thm41.time_free", quick=True) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ctmc-lab verify on {dist.name} (N=2, L=3, |support|=8) [quick]")
    assert "verify OK" in out


def test_verify_refuses_a_distribution_and_a_chain_together():
    with pytest.raises(ValueError, match="not both"):
        proofs_check.verify(datasets.dirichlet(2, 2, rng=0), chain=default_chain())


def test_budget_counts_work_units_and_refuses_seconds(capsys):
    """``--budget`` is a number of work units; a value that can only mean seconds (the
    option's unit before) is refused in one line naming the unit and the default."""
    assert main(["verify", "--budget", "10", "--only", "thm41.weights"]) == 2
    err = capsys.readouterr().err
    assert "work units per check, not seconds" in err and "3e+10" in err and "Traceback" not in err
    assert main(["verify", "--budget", "nan", "--only", "thm41.weights"]) == 2
    assert "finite number of work units" in capsys.readouterr().err
    # A budget below a check's prediction skips it with the prediction as the reason (and a
    # run that verified nothing is not a success).
    assert main(["verify", "--budget", "2e6", "--only", "thm41.time_free", "--quick", "--wide"]) == 1
    out = capsys.readouterr().out
    assert "predicted work" in out and "exceeds the budget of 2e+06 units" in out


def test_jobs_changes_nothing_but_the_time(capsys):
    argv = ["verify", "--quick", "--only", "Thm 4.1,Cor 4.3,eq18", "--wide"]
    outputs = []
    for jobs in ("0", "1", "2"):
        assert main([*argv, "--jobs", jobs]) == 0
        text = capsys.readouterr().out
        outputs.append([line for line in text.splitlines() if not line.startswith("verify OK")])  # no elapsed time
    assert outputs[0] == outputs[1] == outputs[2] and outputs[0]
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "--jobs", "-1"])
    assert exit_.value.code == 2 and "--jobs" in capsys.readouterr().err
