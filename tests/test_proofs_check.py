"""Tests of the verification suite ``proofs_check`` (``ctmc-lab verify``).

The suite runs once in quick mode (module fixture) and every check must pass while every
negative control fails; the JSON document, the selection options and a user ``--dist``
file are exercised through the command-line entry point.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given

from ctmc_lab.testing.strategies import budget, distributions

from ctmc_lab import datasets
from proofs_check import cli, runner
from proofs_check.framework import METHODS, REGISTRY, THEOREM_ORDER, Context, Result, check
from proofs_check.report import format_table, json_payload, summary_line

#: Every result of the paper the issue lists; each needs a passing check.
THEOREMS = ("Thm 3.1", "Thm 3.2", "Lemma 3.3", "Thm 3.4", "Thm 3.5", "Cor 3.6", "Cor 3.7",
            "Thm 4.1", "Thm 4.2", "Cor 4.3", "Eq. 18")

#: (theorem, method) pairs that must pass: float64 everywhere, plus the twins of the issue.
REQUIRED = {(t, "float64") for t in THEOREMS} | {
    ("Thm 3.1", "mpmath"), ("Thm 3.2", "mpmath"), ("Thm 4.1", "mpmath"),
    ("Thm 4.1", "sympy"), ("Lemma 3.3", "sympy"), ("Cor 3.6", "sympy"), ("Thm 3.1", "sympy"),
    ("Kernels (§1.2)", "sympy"), ("λ-DCE moments (§6.3)", "sympy"),
}

#: The six negative controls of the issue, by check id.
CONTROLS = {
    "lemma33.control.sigma_bar",
    "thm41.control.drop_fully_masked",
    "cor43.control.whole_length_harmonic",
    "thm32.control.drop_kl_term",
    "thm32.control.unshifted_geometric",
    "thm31.control.dse_orientation",
}


@pytest.fixture(scope="module")
def quick_result():
    checks = runner.load_checks()
    return runner.run_checks(runner.default_context(quick=True), checks, progress=False)


def test_quick_suite_every_check_passes_every_control_fails(quick_result):
    bad = [(r.id, r.case, r.error, r.tolerance) for r in quick_result.records if not r.ok]
    assert bad == []
    assert quick_result.ok
    assert quick_result.skipped == ()  # the default distributions fit every check


def test_every_theorem_and_precision_is_covered(quick_result):
    passing = {(r.theorem, r.method) for r in quick_result.records if r.passed and not r.expected_to_fail}
    assert REQUIRED <= passing, sorted(REQUIRED - passing)


def test_every_negative_control_fails_as_expected(quick_result):
    failed_controls = {r.id for r in quick_result.records if r.expected_to_fail and not r.passed}
    assert CONTROLS <= failed_controls
    # A control must fail by a wide margin, not by rounding.
    for r in quick_result.records:
        if r.expected_to_fail:
            assert r.error > 100 * max(r.tolerance, 1e-12), (r.id, r.error)


def test_residuals_meet_the_spec_targets(quick_result):
    for r in quick_result.records:
        if r.expected_to_fail:
            continue
        if r.method == "mpmath":
            assert r.error <= 1e-25, r.id
        if r.method == "sympy":
            assert r.error == 0.0, r.id


def test_nll_rows_report_true_nll(quick_result):
    """The lhs of the Thm 4.1 rows is -log p0(x0) of the named sequence (compared with D128)."""
    dist = datasets.dna128()
    rows = [r for r in quick_result.records if r.id == "thm41.time_free" and "all" not in r.case]
    assert rows
    for r in rows:
        seq = r.case.split("x0=")[1]
        assert r.lhs == pytest.approx(dist.nll(seq), abs=1e-15)


def test_a_broken_identity_is_reported_as_failure():
    """The runner turns a wrong identity into a failed row and a crash into a failed row."""
    ctx = runner.default_context(quick=True)
    before = len(REGISTRY)

    @check("test.broken", theorem="Thm 4.1", statement="1 = 2", method="float64", tolerance=1e-12)
    def broken(ctx):
        yield Result("one", 1.0, 2.0)

    @check("test.crash", theorem="Thm 4.1", statement="crash", method="float64", tolerance=1e-12)
    def crash(ctx):
        raise ValueError("boom")
        yield  # pragma: no cover

    try:
        res = runner.run_checks(ctx, REGISTRY[before:], progress=False)
    finally:
        del REGISTRY[before:]
    assert not res.ok and res.n_failed == 2
    assert "CRASHED: ValueError: boom" in res.records[1].case
    assert "FAIL" in format_table(res) and "FAILED" in summary_line(res)


def test_json_schema(tmp_path):
    out = tmp_path / "v.json"
    code = cli.main(["--quick", "--only", "Thm 4.1,Eq. 18", "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert set(doc) >= {"distribution", "checks", "summary"}
    assert set(doc["distribution"]) >= {"name", "alphabet", "n_tokens", "length", "support_size"}
    assert set(doc["summary"]) >= {"passed", "failed", "expected_failures"}
    fields = {"id", "theorem", "statement", "case", "method", "lhs", "rhs", "error", "tolerance", "passed",
              "expected_to_fail"}
    assert doc["checks"]
    for row in doc["checks"]:
        assert set(row) == fields
        assert row["method"] in METHODS and row["theorem"] in THEOREM_ORDER
        assert isinstance(row["passed"], bool) and isinstance(row["expected_to_fail"], bool)
    s = doc["summary"]
    assert s["passed"] + s["failed"] + s["expected_failures"] == len(doc["checks"])
    assert s["failed"] == 0 and s["expected_failures"] == 1  # the fully-masked control


def test_only_and_precision_filter(capsys):
    checks = runner.load_checks()
    mp_only = runner.select_checks(checks, precisions=("mpmath",))
    assert mp_only and all(c.method == "mpmath" for c in mp_only)
    glob = runner.select_checks(checks, only="thm41.*")
    assert glob and all(c.id.startswith("thm41.") for c in glob)
    sub = runner.select_checks(checks, only="cor 4.3", precisions=("float64",))
    assert {c.theorem for c in sub} == {"Cor 4.3"}
    assert cli.main(["--only", "no-such-check"]) == 2
    assert "selects no check" in capsys.readouterr().err
    assert cli.main(["--precision", "float32"]) == 2
    assert "float64,mpmath,sympy" in capsys.readouterr().err


def test_user_dist_file(tmp_path, capsys):
    """A user's sparse distribution: every distribution-dependent check runs on it (or is
    skipped with its reason), and the reported NLLs are the file's."""
    rng = np.random.default_rng(5)
    dist = datasets.dirichlet(3, 4, alpha=0.7, support_size=30, rng=rng, alphabet="xyz")
    path = tmp_path / "user.json"
    path.write_text(json.dumps(dist.as_dict()))
    out = tmp_path / "out.json"
    code = cli.main(["--quick", "--dist", str(path), "--precision", "float64,mpmath", "--json", str(out)])
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert code == 0, text
    assert doc["distribution"]["support_size"] == 30 and doc["distribution"]["length"] == 4
    assert doc["summary"]["failed"] == 0 and doc["summary"]["expected_failures"] >= 5
    user = datasets.load(str(path))
    nll_rows = [c for c in doc["checks"] if c["id"] in ("thm41.time_free", "thm32.infinite_horizon")
                and "all " not in c["case"]]
    assert nll_rows
    for c in nll_rows:
        seq = c["case"].split("x0=")[1].split(";")[0]
        assert c["lhs"] == pytest.approx(user.nll(seq), abs=1e-14)
    for s in doc["skipped"]:
        assert s["reason"]
        assert f"SKIP {s['id']}" in text


def test_user_dist_too_large_is_skipped_with_reason_or_reduced():
    """Long sequences: mask enumerations beyond L = 16 are skipped with the reason (never
    silently); dense checks run on the longest prefix marginal that fits, and say so."""
    dist = datasets.dna128_like(3, n_sequences=20, length=17)
    ctx = Context(small=dist, large=dist, quick=True, user=True)
    checks = runner.select_checks(runner.load_checks(), only="thm41.time_free,cor43.*,thm32.infinite_horizon")
    res = runner.run_checks(ctx, checks, progress=False)
    assert {s.id for s in res.skipped} >= {"thm41.time_free", "cor43.time_free_conditional"}
    assert all("limit" in s.reason for s in res.skipped)
    dense = [r for r in res.records if r.id == "thm32.infinite_horizon"]
    assert dense and all("[positions 0.." in r.case and r.passed for r in dense)


def test_bad_dist_file_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"AB": 0.5, "ABC": 0.5}))
    assert cli.main(["--dist", str(path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_json_payload_distribution_is_user_dist():
    dist = datasets.dirichlet(2, 3, rng=1)
    ctx = Context(small=dist, large=dist, quick=True, user=True)
    res = runner.run_checks(ctx, runner.select_checks(runner.load_checks(), only="thm41.time_free"), progress=False)
    doc = json_payload(res, ctx.distributions)
    assert doc["distribution"] == dist.describe()
    assert len(doc["distributions"]) == 1


def test_add_parser_registers_verify_subcommand(capsys):
    """The ``ctmc-lab`` wiring: ``add_parser`` registers ``verify`` with ``func=run``."""
    import argparse

    parser = argparse.ArgumentParser(prog="ctmc-lab")
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    args = parser.parse_args(["verify", "--only", "thm41.weights", "--precision", "float64"])
    assert args.func is cli.run
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Thm 4.1" in out and "verify OK" in out
    args = parser.parse_args(["verify", "--list", "--only", "control"])
    assert args.func(args) == 0
    listed = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in listed} >= CONTROLS


#: Fast distribution-dependent checks (enumeration and closed forms) for property testing.
_FAST = ("thm41.*,cor43.*,thm42.*,eq18.*,cor36.closed_form,cor37.beta_closed_form,lemma33.*,"
         "thm31.unit_rate_exact,thm31.pointwise_dse_sum,thm31.control.*")


@budget(15, deadline=None)
@given(dist=distributions(max_length=4, max_states=81))
def test_property_random_distributions(dist):
    """On random small distributions (sparse or full, N ≤ 4, L ≤ 4) every fast check passes
    and every fast control fails or is skipped because both its sides vanish."""
    ctx = Context(small=dist, large=dist, quick=True, user=True, seed=7)
    res = runner.run_checks(ctx, runner.select_checks(runner.load_checks(), only=_FAST), progress=False)
    bad = [(r.id, r.case, r.error) for r in res.records if not r.ok]
    assert bad == []
    for s in res.skipped:
        assert s.reason
