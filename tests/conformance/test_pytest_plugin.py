"""The pytest plugin from another project's point of view: fixtures, options and marker in a
scratch project (numpy evaluators, so it runs without torch), its failure message, and the entry
point's gate (the plugin is listed only when torch can be imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TEST_FILE = textwrap.dedent(
    """
    import numpy as np
    import pytest

    def kdce(model, view, seed, offset=0.0, mc=16):
        rng = np.random.default_rng(seed)
        row, pos = np.asarray(view.input_ids), np.asarray(view.answer_positions)
        m = rng.integers(1, pos.size + 1, size=mc)
        batch = np.repeat(row[None], mc, 0)
        for j in range(mc):
            batch[j, pos[rng.permutation(pos.size)[: m[j]]]] = view.mask_id
        logp = model(batch).logits
        tok = np.take_along_axis(logp, np.repeat(row[None, :, None], mc, 0), 2)[..., 0]
        return float(np.mean(np.where(batch == view.mask_id, -tok, 0.0)[:, pos].sum(1) * pos.size / m)) + offset

    def test_default_cases(exact_case, exact_model, conformance):
        model = exact_model(exact_case, "hf", backend="numpy")
        view = model.view()
        report = conformance.check(lambda s: kdce(model, view, s), exact_case, ["unbiased:cond_nll", "mask_law:k_dce"], model=model)
        assert report.n_runs == 60

    @pytest.mark.conformance_cases("mk4:2")
    def test_planted(exact_case, exact_model, conformance):
        model = exact_model(exact_case, "hf", backend="numpy")
        view = model.view()
        conformance.check(lambda s: kdce(model, view, s, offset=1.0), exact_case, "unbiased:cond_nll")

    def test_plain():
        assert True
    """
)


def _pytest(tmp_path, *args, autoload=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not autoload:  # the installed entry point stays out; the test plays its part by hand
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "ctmc_lab.conformance.pytest_plugin", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )


def test_fixtures_options_marker_and_reports(tmp_path):
    (tmp_path / "test_other_project.py").write_text(TEST_FILE)
    out = _pytest(
        tmp_path, "-q", "-rA", "--conformance-runs", "60", "--conformance-report", "reports", "-p", "no:cacheprovider"
    )
    assert out.returncode == 1, out.stdout
    for case in ("dna128:0", "mk4:1", "mk4:4", "mk4:8"):
        assert f"PASSED test_other_project.py::test_default_cases[{case}]" in out.stdout
    summary = out.stdout.strip().splitlines()[-1]
    assert "1 failed" in summary and "5 passed" in summary  # four default cases, the planted one, the plain test
    assert "FAIL  unbiased for cond_nll" in out.stdout and "Traceback" not in out.stdout
    reports = sorted((tmp_path / "reports").glob("*.json"))
    assert len(reports) == 5
    record = json.loads(reports[0].read_text())
    assert record["n_runs"] == 60 and record["seed"] == 0
    deselected = _pytest(tmp_path, "-q", "-m", "not conformance", "-p", "no:cacheprovider")
    assert deselected.returncode == 0 and "1 passed, 5 deselected" in deselected.stdout


def test_the_entry_point_lists_the_plugin_only_with_torch(monkeypatch):
    import importlib.util

    import ctmc_lab.conformance.pytest_entry as entry

    real = importlib.util.find_spec
    try:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
        assert importlib.reload(entry).pytest_plugins == []
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: object() if name == "torch" else real(name, *a)
        )
        assert importlib.reload(entry).pytest_plugins == ["ctmc_lab.conformance.pytest_plugin"]
    finally:
        monkeypatch.undo()
        importlib.reload(entry)
    text = (ROOT / "pyproject.toml").read_text()
    assert 'ctmc_lab_conformance = "ctmc_lab.conformance.pytest_entry"' in text
    assert 'conformance = ["torch>=2.1"]' in text


def test_the_entry_point_and_p_together_register_the_plugin_once(tmp_path):
    """What an installed entry point does, by hand: the gate module and `-p` in one session."""
    (tmp_path / "test_x.py").write_text("def test_x(exact_model):\n    assert callable(exact_model)\n")
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['ctmc_lab.conformance.pytest_entry']\n")
    out = _pytest(tmp_path, "-q", "-p", "no:cacheprovider", autoload=False)
    assert out.returncode == 0, out.stdout + out.stderr
