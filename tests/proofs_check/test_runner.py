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

from ctmc_lab.cli import main, specs
from ctmc_lab.exact.mask_dce import MaskDCE
from ctmc_lab.sources import datasets
from ctmc_lab.testing.strategies import budget, distributions
from proofs_check import runner
from proofs_check.framework import METHODS, REGISTRY, THEOREM_ORDER, Context, Result, check
from proofs_check.report import format_table, json_payload, summary_line

#: Every result of the paper the issue lists; each needs a passing check.
THEOREMS = (
    "Thm 3.1",
    "Thm 3.2",
    "Lemma 3.3",
    "Thm 3.4",
    "Thm 3.5",
    "Cor 3.6",
    "Cor 3.7",
    "Thm 4.1",
    "Thm 4.2",
    "Cor 4.3",
    "Eq. 18",
)

#: (theorem, method) pairs that must pass: float64 and mpmath for every theorem, sympy for
#: the ones the paper's identities allow (the others carry an explicit n/a reason).
REQUIRED = (
    {(t, "float64") for t in THEOREMS}
    | {(t, "mpmath") for t in THEOREMS}
    | {
        ("Thm 3.1", "sympy"),
        ("Thm 3.2", "sympy"),
        ("Lemma 3.3", "sympy"),
        ("Thm 3.4", "sympy"),
        ("Cor 3.6", "sympy"),
        ("Thm 4.1", "sympy"),
        ("Cor 4.3", "sympy"),
        ("Kernels (§1.2)", "sympy"),
        ("λ-DCE moments (§6.3)", "sympy"),
        ("Estimators (§6)", "float64"),
        ("Markov source (§7)", "float64"),
    }
)

#: The six negative controls of the issue, by check id.
CONTROLS = {
    "lemma33.control.sigma_bar",
    "thm41.control.drop_fully_masked",
    "cor43.control.whole_length_harmonic",
    "thm32.control.drop_kl_term",
    "thm32.control.unshifted_geometric",
    "thm31.control.dse_orientation",
    "thm31.control.wrong_noise_level",
    "controls.random_h",
    "estimators.control.biased_variants",
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
    assert quick_result.n_errors == 0


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
    """The runner turns a wrong identity into a failed row and a crash into an error row."""
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
    assert not res.ok and res.n_failed == 2 and res.n_errors == 1
    assert "ERROR: ValueError: boom" in res.records[1].case
    assert res.records[1].crashed.startswith("ValueError: boom")
    table = format_table(res)
    assert "FAIL" in table and "ERROR ✗" in table and "FAILED" in summary_line(res)


def _run_registered(*funcs_and_meta):
    """Register throw-away checks, run them on the default context, unregister them."""
    before = len(REGISTRY)
    try:
        for id_, kw, fn in funcs_and_meta:
            check(id_, **kw)(fn)
        return runner.run_checks(runner.default_context(quick=True), REGISTRY[before:], progress=False)
    finally:
        del REGISTRY[before:]


def test_a_crashing_control_is_an_error_not_an_expected_failure():
    def crash(ctx):
        raise RuntimeError("control broke")
        yield  # pragma: no cover

    res = _run_registered(
        (
            "test.control.crash",
            dict(theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12, expected_to_fail=True),
            crash,
        )
    )
    assert not res.ok and res.n_expected_failures == 0 and res.n_errors == 1
    assert not res.records[0].ok


def test_a_control_counts_only_with_a_finite_error_above_tolerance():
    def infinite(ctx):
        yield Result("inf side", 1.0, float("inf"))

    def nan(ctx):
        yield Result("nan side", 1.0, float("nan"))

    def real(ctx):
        yield Result("differs", 1.0, 2.0)

    meta = dict(theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12, expected_to_fail=True)
    res = _run_registered(
        ("test.control.inf", meta, infinite), ("test.control.nan", meta, nan), ("test.control.real", meta, real)
    )
    by_case = {r.case: r for r in res.records}
    assert not by_case["inf side"].ok and not by_case["nan side"].ok and by_case["differs"].ok
    assert not res.ok


def test_a_control_that_cannot_fail_is_skipped_with_the_reason():
    def cannot(ctx):
        yield Result("dropped term is 0", 1.0, 1.0, gap=0.0)

    res = _run_registered(
        (
            "test.control.cannot",
            dict(theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12, expected_to_fail=True),
            cannot,
        )
    )
    assert res.records == () and len(res.skipped) == 1 and "cannot fail" in res.skipped[0].reason


def test_a_crashing_check_makes_the_cli_exit_non_zero(monkeypatch, capsys):
    """Through the command line: a check that raises gives exit 1 and an ERROR row, no traceback."""
    from proofs_check import thm41_43_eq18

    def boom(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(thm41_43_eq18, "masked_dce", boom)
    assert main(["verify", "--quick", "--only", "thm41.time_free"]) == 1
    out = capsys.readouterr()
    assert "ERROR" in out.out and "planted" in out.out and "Traceback" not in out.out + out.err


@pytest.mark.parametrize(
    "table",
    [
        {"AAAAAAAA": 0.5, "CCCCCCCC": 0.5},
        {"A" * 12: 0.5, "C" * 12: 0.5},
        {"0" * 24: 0.5, "1" * 24: 0.5},
    ],
)
def test_degenerate_user_tables_pass_with_unfailable_controls_skipped(tmp_path, capsys, table):
    """Two sequences that share no symbol: every conditional is 0 or 1, so the terms the
    unshifted-geometric control drops vanish; it is skipped with the reason, never an XPASS."""
    path = tmp_path / "two.json"
    path.write_text(json.dumps(table))
    code = main(["verify", "--quick", "--dist", str(path), "--only", "Thm 3.2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "XPASS" not in out
    assert "thm32.control.unshifted_geometric" in out and "cannot fail" in out


def test_table_fits_100_columns(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    assert main(["verify", "--quick", "--only", "Thm 4.1,Cor 4.3,control"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert main(["verify", "--quick", "--only", "Thm 4.1", "--wide"]) == 0
    wide = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in wide) > 100  # --wide: one unclipped line per row


def test_markov_source_rows(capsys):
    assert main(["verify", "--quick", "--dist", "markov4", "--only", "markov"]) == 0
    out = capsys.readouterr().out
    assert "markov4" in out and "forward–backward" in out and "verify OK" in out


def test_json_coverage_matrix(quick_result):
    from proofs_check.report import coverage

    cells = {(c["theorem"], c["method"]): c for c in json_payload(quick_result, [datasets.dna128()])["coverage"]}
    assert set(next(iter(cells.values()))) == {
        "theorem",
        "method",
        "rows",
        "worst_error",
        "tolerance",
        "not_applicable",
    }
    for theorem in THEOREMS:
        for method in METHODS:
            cell = cells[theorem, method]
            assert cell["rows"] > 0 or cell["not_applicable"], (theorem, method)
            if cell["rows"]:
                assert cell["worst_error"] is not None and cell["worst_error"] <= cell["tolerance"]
    assert len(coverage(quick_result)) == len(THEOREMS) * len(METHODS)


def test_json_schema(tmp_path):
    out = tmp_path / "v.json"
    code = main(["verify", "--quick", "--only", "Thm 4.1,Eq. 18", "--json", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    assert set(doc) >= {"distribution", "checks", "summary"}
    assert set(doc["distribution"]) >= {"name", "alphabet", "n_tokens", "length", "support_size"}
    assert set(doc["summary"]) >= {"passed", "failed", "expected_failures"}
    fields = {
        "id",
        "theorem",
        "statement",
        "case",
        "method",
        "lhs",
        "rhs",
        "error",
        "tolerance",
        "passed",
        "expected_to_fail",
        "error_message",
    }
    assert doc["checks"]
    for row in doc["checks"]:
        assert set(row) == fields
        assert row["method"] in METHODS and row["theorem"] in THEOREM_ORDER
        assert isinstance(row["passed"], bool) and isinstance(row["expected_to_fail"], bool)
    s = doc["summary"]
    assert s["passed"] + s["failed"] + s["expected_failures"] == len(doc["checks"])
    assert s["failed"] == 0 and s["expected_failures"] == 1  # the fully-masked control
    assert doc["coverage"] and {c["theorem"] for c in doc["coverage"]} >= set(THEOREMS)


def test_only_and_precision_filter(capsys):
    checks = runner.load_checks()
    mp_only = runner.select_checks(checks, precisions=("mpmath",))
    assert mp_only and all(c.method == "mpmath" for c in mp_only)
    glob = runner.select_checks(checks, only="thm41.*")
    assert glob and all(c.id.startswith("thm41.") for c in glob)
    sub = runner.select_checks(checks, only="cor 4.3", precisions=("float64",))
    assert {c.theorem for c in sub} == {"Cor 4.3"}
    assert main(["verify", "--only", "no-such-check"]) == 2
    assert "selects no check" in capsys.readouterr().err
    assert main(["verify", "--precision", "float32"]) == 2
    assert "float64,mpmath,sympy" in capsys.readouterr().err


def test_user_dist_file(tmp_path, capsys):
    """A user's sparse distribution: every distribution-dependent check runs on it (or is
    skipped with its reason), and the reported NLLs are the file's."""
    rng = np.random.default_rng(5)
    dist = datasets.dirichlet(3, 4, alpha=0.7, support_size=30, rng=rng, alphabet="xyz")
    path = tmp_path / "user.json"
    path.write_text(json.dumps(dist.as_dict()))
    out = tmp_path / "out.json"
    code = main(["verify", "--quick", "--dist", str(path), "--precision", "float64,mpmath", "--json", str(out)])
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert code == 0, text
    assert doc["distribution"]["support_size"] == 30 and doc["distribution"]["length"] == 4
    assert doc["summary"]["failed"] == 0 and doc["summary"]["expected_failures"] >= 5
    user = specs.load_joint(str(path))
    nll_rows = [
        c for c in doc["checks"] if c["id"] in ("thm41.time_free", "thm32.infinite_horizon") and "all " not in c["case"]
    ]
    assert nll_rows
    for c in nll_rows:
        seq = c["case"].split("x0=")[1].split(";")[0]
        # The 3^4 table fits every check, so no row runs on a prefix marginal.
        assert len(seq) == user.length and "[positions 0.." not in c["case"]
        assert c["lhs"] == pytest.approx(user.nll(seq), abs=1e-14)
    for s in doc["skipped"]:
        assert s["reason"]
        assert f"SKIP {s['id']}" in text


def test_user_dist_too_large_runs_on_a_prefix_marginal():
    """Long sequences: the mask enumerations beyond L = 16 and the dense checks run on the
    longest prefix marginal that fits, and say so in the case (never silently)."""
    dist = datasets.dna128_like(3, n_sequences=20, length=17)
    ctx = Context(small=dist, large=dist, quick=True, user=True)
    checks = runner.select_checks(runner.load_checks(), only="thm41.time_free,cor43.*,thm32.infinite_horizon")
    res = runner.run_checks(ctx, checks, progress=False)
    assert res.ok
    for cid in ("thm41.time_free", "cor43.time_free_conditional", "thm32.infinite_horizon"):
        rows = [r for r in res.records if r.id == cid]
        assert rows and all("[positions 0.." in r.case and r.passed for r in rows), cid
    # The reported NLL is that of the prefix marginal, computed independently here.
    row = next(r for r in res.records if r.id == "thm41.time_free" and "all " not in r.case)
    seq = row.case.split("x0=")[1].split(";")[0]
    L = len(seq)
    mass = sum(p for s, p in dist.as_dict().items() if s[:L] == seq)
    assert row.lhs == pytest.approx(-np.log(mass), abs=1e-12)


def test_bad_dist_file_is_a_usage_error(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"AB": 0.5, "ABC": 0.5}))
    assert main(["verify", "--dist", str(path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_json_payload_distribution_is_user_dist():
    dist = datasets.dirichlet(2, 3, rng=1)
    ctx = Context(small=dist, large=dist, quick=True, user=True)
    res = runner.run_checks(ctx, runner.select_checks(runner.load_checks(), only="thm41.time_free"), progress=False)
    doc = json_payload(res, ctx.distributions)
    assert doc["distribution"] == dist.describe()
    assert len(doc["distributions"]) == 1


#: Fast distribution-dependent checks (enumeration and closed forms) for property testing.
_FAST = (
    "thm41.*,cor43.*,thm42.*,eq18.*,algebra.cor36_closed_form,algebra.cor37_beta,lemma33.*,"
    "thm31.kl_rate_library,thm31.pointwise_dse_sum,thm31.control.*,cor36.process,controls.random_h"
)


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


def test_a_check_over_the_budget_is_skipped_with_its_prediction():
    """The budget is compared with the predicted work before anything runs: a check predicted
    over it is skipped with the prediction as the reason (on any distribution); one within
    it runs. The same on every machine: no clock is read."""
    ran = []

    def record(ctx):
        ran.append(ctx.budget)
        yield Result("ran", 1.0, 1.0)

    before = len(REGISTRY)
    meta = dict(theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12)
    check("test.costly", work=lambda ctx: 5e9, **meta)(record)
    check("test.cheap", work=1e6, **meta)(record)
    try:
        user = runner.user_context(datasets.dirichlet(2, 3, rng=1), budget=1e9)
        for ctx in (runner.default_context(quick=True, budget=1e9), user):
            # In this process (jobs=0), so that ``ran`` sees what ran.
            res = runner.run_checks(ctx, REGISTRY[before:], progress=False, jobs=0)
            assert res.ok and [r.id for r in res.records] == ["test.cheap"]
            [skip] = res.skipped
            assert (
                skip.id == "test.costly" and "predicted work 5e+09 units" in skip.reason and "--budget" in skip.reason
            )
    finally:
        del REGISTRY[before:]
    assert ran == [1e9, 1e9]  # the costly check never ran


def test_a_hang_is_an_error_row_and_the_other_checks_still_run():
    """A check that outlives the hang guard is stopped from the runner (its worker process is
    killed; no signal is raised inside the check) and becomes an error row, never a skip; a
    fresh worker runs the remaining checks."""
    import time

    def hang(ctx):
        yield Result("fast part", 1.0, 1.0)
        while True:
            time.sleep(0.05)
        yield  # pragma: no cover

    def fine(ctx):
        yield Result("after", 2.0, 2.0)

    before = len(REGISTRY)
    meta = dict(theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12)
    check("test.hang", work=1e6, **meta)(hang)
    check("test.fine", work=1e6, **meta)(fine)
    try:
        for ctx in (runner.user_context(datasets.dirichlet(2, 3, rng=1)), runner.default_context(quick=True)):
            res = runner.run_checks(ctx, REGISTRY[before:], progress=False, jobs=1, guard=1.0)
            assert not res.ok and res.n_errors == 1 and res.skipped == ()
            hung = next(r for r in res.records if r.id == "test.hang")
            assert "hang guard" in hung.crashed and hung.case.startswith("ERROR")
            assert any(r.id == "test.fine" and r.passed for r in res.records)
    finally:
        del REGISTRY[before:]


def test_a_row_that_cannot_leave_its_worker_is_an_error_row():
    """A row holding a value that cannot be pickled is reported as an error by its worker
    (never lost, never a dead worker taking the next check with it)."""

    def unpicklable(ctx):
        yield Result("a lambda as lhs", lambda: 1.0, 1.0)

    def fine(ctx):
        yield Result("after", 2.0, 2.0)

    before = len(REGISTRY)
    meta = dict(theorem="Thm 4.1", statement="x", method="float64", tolerance=1e-12, work=1e6)
    check("test.unpicklable", **meta)(unpicklable)
    check("test.after", **meta)(fine)
    try:
        res = runner.run_checks(runner.default_context(quick=True), REGISTRY[before:], progress=False, jobs=1)
    finally:
        del REGISTRY[before:]
    bad = next(r for r in res.records if r.id == "test.unpicklable")
    assert res.n_errors == 1 and "could not be sent from the worker" in bad.crashed
    assert any(r.id == "test.after" and r.passed for r in res.records)


def test_full_support_table_runs_every_check_or_skips_with_the_reason(tmp_path, capsys):
    """A full-support 4^6 table (every one of 4096 sequences) through the CLI, quick mode:
    every check passes or is skipped with its reason (a prefix marginal is named in the case)."""
    dist = datasets.dirichlet(4, 6, alpha=1.0, rng=11, alphabet="ACGT")
    assert dist.support_size == 4**6
    path = tmp_path / "full.json"
    path.write_text(json.dumps(dist.as_dict()))
    out_json = tmp_path / "out.json"
    code = main(["verify", "--quick", "--dist", str(path), "--precision", "float64", "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    doc = json.loads(out_json.read_text())
    assert all(s["reason"] for s in doc["skipped"])


# ------------------------------------------------------- batch-stratified count rules (LLaDA)
def test_count_rules_rational_twin_by_hand():
    """The rational count rules against counts worked out by hand, and their laws."""
    from fractions import Fraction

    from proofs_check import count_rules as cr

    # n = 2, b = 4, k = 1: points 1, 1.5, 2, 2.5 round (half to even) to 1, 2, 2, 2.
    assert cr.counts("llada_stratified", 2, 4) == ((1, 2, 2, 2), (2, 2, 1, 2))
    # n = 3, b = 6, k = 1: 1, 1.5, 2, 2.5, 3, 3.5 -> 1, 2, 2, 2, 3, 4 -> 4 wraps to 1.
    assert cr.counts("llada_stratified", 3, 6)[0] == (1, 2, 2, 2, 3, 1)
    assert cr.counts("llada_stratified_fixed", 3, 6)[0] == (1, 1, 2, 2, 3, 3)
    # D128's n = 8 at LLaDA's b = 16: odd counts have probability 1/16, even ones 3/16.
    assert cr.batch_law("llada_stratified", 8, 16) == [Fraction(1 + 2 * (m % 2), 16) for m in range(8)]
    for n in range(1, 13):
        for b in range(1, 21):
            assert all(w == [Fraction(1, n)] * n for w in cr.count_law("llada_stratified_fixed", n, b))
    assert cr.float32_is_exact(8, 16) and cr.float32_is_exact(64, 64) and not cr.float32_is_exact(8, 12)


def test_llada_exact_bias_on_d128_matches_the_audit():
    """Exact bias of LLaDA's rule at b = 16 over every D128 sequence, by the two routes of
    the verifier (per-k sums and the batch-law formula): +0.28 to +0.45 nats, as an
    independent run of LLaDA's own evaluator with the exact denoiser found; the fix is unbiased."""
    from ctmc_lab.sources.denoisers import OptimalDenoiser
    from proofs_check import estimators_check as ec

    dist = datasets.dna128()
    den = OptimalDenoiser(dist)
    bias = []
    for x0 in dist.support:
        A = MaskDCE(den, x0).table()
        nll = float(dist.nll(x0))
        mean, _ = ec._batch_moments("llada_stratified", A, 16)
        assert mean - nll == pytest.approx(ec._batch_bias("llada_stratified", A, 16), abs=1e-12)
        assert ec._batch_moments("llada_stratified_fixed", A, 16)[0] == pytest.approx(nll, abs=1e-12)
        bias.append(mean - nll)
    assert 0.27 < min(bias) < 0.29 and 0.44 < max(bias) < 0.46 and 0.35 < np.mean(bias) < 0.37


def test_count_rule_rows_fail_when_the_library_rounds_half_up(monkeypatch):
    """Plant round-half-up in ctmc_lab.estimation.llada's count rule: the sampler-law and library rows
    of llada_stratified must fail (and those of the integer fix must not)."""
    from ctmc_lab.estimation import llada

    real = llada.llada_counts

    def half_up(n, b, *, rule="llada", k=None):
        if rule != "llada":
            return real(n, b, rule=rule, k=k)
        kk = np.arange(1, n + 1) if k is None else np.atleast_1d(np.asarray(k, dtype=np.int64))
        x = np.floor(llada._linspace32(n, b, kk) + 0.5).astype(np.int64)
        return (x - 1) % n + 1

    monkeypatch.setattr(llada, "llada_counts", half_up)
    checks = runner.select_checks(runner.load_checks(), only="estimators.sampler_law,estimators.count_rule_library")
    res = runner.run_checks(runner.default_context(quick=True), checks, progress=False)
    failed = [r.case for r in res.records if not r.ok]
    assert not res.ok and failed
    assert all(
        case.startswith(("llada_stratified;", "llada_moments(llada_stratified)", "llada_stratified:"))
        for case in failed
    ), failed


def test_derivative_tolerance_is_relative_to_the_derivative_and_the_function():
    """1e-9 · max(1, |dF|, |F|): absolute on O(1) values, relative beyond."""
    from proofs_check.framework import TOL_DERIV, deriv_tolerance

    assert deriv_tolerance(0.3) == TOL_DERIV
    assert deriv_tolerance(-64.0) == pytest.approx(64 * TOL_DERIV)
    assert deriv_tolerance(0.1, 690.0) == pytest.approx(690 * TOL_DERIV)


def test_a_table_with_a_probability_of_1e_300_passes(tmp_path):
    """{AT: 1e-300, TA: 1}: the difference rows meet their relative tolerance (their errors
    of ~2e-9 on derivatives of size 3–64 failed an absolute 1e-9), the rows whose p_s
    underflows float64 are skipped with the library's refusal as the reason (never an error,
    never a pass), and the wrong-noise-level control still fails on every generator."""
    dist = specs.load_joint(str(_write(tmp_path, {"AT": 1e-300, "TA": 1})))
    ctx = runner.user_context(dist, quick=True)
    checks = runner.select_checks(runner.load_checks(), only="Thm 3.1,Thm 3.2,Thm 3.5", precisions=("float64",))
    res = runner.run_checks(ctx, checks, progress=False)
    assert res.ok and res.n_errors == 0, [r for r in res.records if not r.ok]
    range_skips = [s for s in res.skipped if "float64 cannot represent" in s.reason]
    assert {s.id for s in range_skips} >= {"thm32.infinite_horizon", "thm32.tanh_sinh", "thm32.control.drop_kl_term"}
    assert all("underflows" in s.reason for s in range_skips)
    fd = [r for r in res.records if r.id == "thm31.unit_rate_fd"]
    assert len(fd) == 3 and all(r.passed for r in fd)
    assert any(r.tolerance > 1e-9 for r in fd)  # derivatives above 1: the relative tolerance applies
    wrong = [r for r in res.records if r.id == "thm31.control.wrong_noise_level"]
    assert len(wrong) == 3 and all(r.ok and r.error > 1e3 * r.tolerance for r in wrong)


def _write(tmp_path, table):
    path = tmp_path / "table.json"
    path.write_text(json.dumps(table))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("table", "mode"),
    [
        ({"0" * 28: 0.5, "1" * 28: 0.5}, ["--quick"]),
        ({"0" * 40: 0.5, "1" * 40: 0.5}, ["--quick"]),
        ({"CAGATTTTCATATTAT": 0.3, "GCAGAAAATCTACTTC": 0.7}, []),
    ],
    ids=["binary-28-quick", "binary-40-quick", "dna-16-full"],
)
def test_long_two_sequence_tables_pass(tmp_path, capsys, table, mode):
    """Long binary and length-16 DNA two-sequence tables: exit 0. The DNA one runs in full
    (default) mode, whose six kl_rate sequences need the residual relative to its cancelling
    terms; the binary ones run every check in ``--quick`` mode (full mode costs them about 3
    CPU-minutes each, spent on the same checks with more grid points)."""
    code = main(["verify", *mode, "--dist", str(_write(tmp_path, table))])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
