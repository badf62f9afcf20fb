"""A verification result is a function of its inputs (issue 19, item 4).

The rows of ``verify --dist FILE`` must not depend on the machine's load, on the number of
worker processes, or on which worker ran which check: decisions read predicted work, never a
clock, and the runner merges the workers' rows in registry order. A warning raised inside a
check (in a worker process) is raised again in the calling process, as in a serial run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import warnings

import pytest

from ctmc_lab.cli import main
from ctmc_lab.sources import datasets
from proofs_check import report, runner
from proofs_check.framework import REGISTRY, Result, check

#: Distribution-dependent checks whose sizing used to read the clock (the Thm 3.2 prefix fit
#: and every check under the old per-check alarm), plus cheap ones of every kind.
_SUBSET = "thm32.*,thm41.*,cor43.*,eq18.*,Lemma 3.3,cor36.*,thm31.unit_rate_fd,mp.thm41,mp.eq18,markov.*"


def _burn(stop) -> None:  # pragma: no cover - runs in a child process
    while not stop.is_set():
        pass


def _rows(doc: dict) -> dict:
    """The parts of the JSON document that must be reproducible: rows and skips (no timings)."""
    return {
        "checks": doc["checks"],
        "skipped": doc["skipped"],
        "summary": {k: doc["summary"][k] for k in ("passed", "failed", "expected_failures")},
    }


def _verify_json(tmp_path, name, argv) -> dict:
    out = tmp_path / name
    code = main([*argv, "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def _under_burners(fn):
    """Run ``fn`` while busy-loop processes occupy every core twice over."""
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    burners = [ctx.Process(target=_burn, args=(stop,), daemon=True) for _ in range(2 * cores)]
    for p in burners:
        p.start()
    try:
        return fn()
    finally:
        stop.set()
        for p in burners:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()


def _twenty_sequences(tmp_path):
    """A 20-sequence table of length 6 (the issue's example of rows that changed with the load)."""
    path = tmp_path / "twenty.json"
    path.write_text(json.dumps(datasets.dna128_like(5, n_sequences=20, length=6).as_dict()))
    return path


def test_same_rows_idle_and_under_a_cpu_burner(tmp_path, capsys):
    argv = ["verify", "--quick", "--dist", str(_twenty_sequences(tmp_path)), "--only", _SUBSET]
    idle = _verify_json(tmp_path, "idle.json", argv)
    loaded = _under_burners(lambda: _verify_json(tmp_path, "loaded.json", argv))
    capsys.readouterr()
    assert idle["checks"] and _rows(idle) == _rows(loaded)


@pytest.mark.slow
def test_same_rows_idle_and_under_a_cpu_burner_every_check(tmp_path, capsys):
    argv = ["verify", "--quick", "--dist", str(_twenty_sequences(tmp_path))]
    idle = _verify_json(tmp_path, "idle.json", argv)
    loaded = _under_burners(lambda: _verify_json(tmp_path, "loaded.json", [*argv, "--jobs", "1"]))
    capsys.readouterr()
    assert _rows(idle) == _rows(loaded)


def test_rows_are_byte_identical_for_any_number_of_workers():
    """jobs = 0 (in this process), 1 and 3 workers: the same JSON rows, byte for byte, in the
    same order (the longest-predicted-first dispatch changes which worker runs what, never
    the rows)."""
    ctx = runner.default_context(quick=True)
    checks = runner.select_checks(runner.load_checks(), only=_SUBSET + ",sympy.kernels,estimators.exact_mean")
    docs = []
    for jobs in (0, 1, 3):
        res = runner.run_checks(ctx, checks, progress=False, jobs=jobs)
        doc = report.json_payload(res, ctx.distributions)
        docs.append(json.dumps(_rows(doc), sort_keys=True))
    assert docs[0] == docs[1] == docs[2]


def test_a_warning_inside_a_check_is_raised_in_the_caller():
    def warns(ctx):
        warnings.warn("planted inside a check", RuntimeWarning, stacklevel=1)
        yield Result("one", 1.0, 1.0)

    before = len(REGISTRY)
    check("test.warns", theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12, work=1e6)(warns)
    try:
        with pytest.warns(RuntimeWarning, match="planted inside a check"):
            res = runner.run_checks(runner.default_context(quick=True), REGISTRY[before:], progress=False, jobs=1)
    finally:
        del REGISTRY[before:]
    assert res.ok
