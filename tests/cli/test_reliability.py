"""Reliability at the edges, through the command line: a correct value or a one-line refusal.

Each regression test replays a failure mode (a silent wrong value, a corrupt file, a
traceback, an unbounded allocation, an ignored option) and asserts exit status 2 with one
``ctmc-lab <command>: error: ...`` line naming the argument and the rule, no traceback and no
output file, or else a value checked against an independent reference.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.exact import information, scores
from ctmc_lab.exact.quadrature import tanh_sinh
from ctmc_lab.forward import generators, process
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.sources import datasets
from ctmc_lab.testing.strategies import budget, distributions, generators_for, noise_levels
from tests import bruteforce
from tests.cli_helpers import assert_refused, run_cli, run_main


def _write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.fixture
def two(tmp_path):
    return _write(tmp_path / "two.json", {"AT": 0.5, "TA": 0.5})


def _two_state(rate):
    return [[-rate, rate], [rate, -rate]]


# ----------------------------------------------------------------------- silent wrong values
@pytest.mark.parametrize("rate", [1e20, 1e15, 1e50])
def test_stiff_rate_matrix_is_refused_not_misreported(tmp_path, two, rate):
    q = _write(tmp_path / "q.json", _two_state(rate))
    out = tmp_path / "c.json"
    status, _, err = run_main(
        "curve", "--dist", two, "--sequence", "AT", "--process", q, "--times", "0.001", "--json", out
    )
    assert_refused(status, err, "curve", "`--times` 0.001", "max rate x noise level", "exceeds 1e+08", output=out)


def _kl_two_state(rate, s):
    """KL(p_{s|0}(.|AT) || p_s) for p0 = {AT: 1/2, TA: 1/2} and the symmetric 2-state rate, by explicit sums."""
    a = 0.5 * (1 + math.exp(-2 * rate * s))
    K = np.array([[a, 1 - a], [1 - a, a]])
    total = 0.0
    for x in itertools.product(range(2), repeat=2):
        q = K[x[0], 0] * K[x[1], 1]
        p = 0.5 * q + 0.5 * K[x[0], 1] * K[x[1], 0]
        total += q * math.log(q / p)
    return total


@pytest.mark.parametrize("rate", [1e3, 1e6])
def test_moderately_stiff_rate_matrix_is_computed_accurately(tmp_path, two, rate):
    q = _write(tmp_path / "q.json", _two_state(rate))
    out = tmp_path / "c.json"
    t = 0.5 / rate  # linear schedule: s = t, so rate * s = 0.5 (a non-trivial kernel)
    status, _, err = run_main(
        "curve",
        "--dist",
        two,
        "--sequence",
        "AT",
        "--process",
        q,
        "--schedule",
        "linear",
        "--times",
        f"{t!r},0.5",
        "--json",
        out,
    )
    assert status == 0, err
    first, mixed = json.loads(out.read_text())["points"]
    assert first["kl"] == pytest.approx(_kl_two_state(rate, t), rel=1e-9, abs=1e-12)
    assert first["kl_rate"] == pytest.approx(-first["mdse"], rel=1e-8)
    # rate * s = 0.5 rate: fully mixed, the KL and I are 0, never negative
    assert 0.0 <= mixed["kl"] <= 1e-12 and 0.0 <= mixed["mutual_information"] <= 1e-12
    assert mixed["mdse"] >= 0.0 and mixed["mdse_marginal"] >= 0.0


def test_planted_non_stochastic_kernel_is_caught(tmp_path, two, monkeypatch):
    """Plant a kernel whose columns sum to 0.95: the validation must refuse it (not print a KL)."""
    planted = process.KERNEL_METHODS["uniformization"]
    monkeypatch.setitem(process.KERNEL_METHODS, "uniformization", lambda g, s: 0.95 * planted(g, s))
    q = _write(tmp_path / "q.json", _two_state(1.0))
    status, _, err = run_main("curve", "--dist", two, "--sequence", "AT", "--process", q, "--times", "0.5")
    assert_refused(status, err, "curve", "not a stochastic matrix", "column sum")


def test_planted_disagreement_between_the_two_kernel_routes_is_caught(tmp_path, two, monkeypatch):
    """A stochastic but wrong expm (at 1.1 s): each kernel alone passes validation, the twin check must not."""
    monkeypatch.setitem(process.KERNEL_METHODS, "expm", lambda g, s: scipy.linalg.expm(1.1 * s * g.Q))
    q = _write(tmp_path / "q.json", _two_state(1.0))
    status, _, err = run_main("curve", "--dist", two, "--sequence", "AT", "--process", q, "--times", "0.5")
    assert_refused(status, err, "curve", "uniformization and expm differ by")


def test_kernel_underflow_is_refused():
    g = generators.absorbing(2)
    with pytest.raises(process.NumericalRangeError, match="underflows"):
        process.token_kernel(g, 800.0, method="expm")


def test_tiny_probability_is_integrated_in_log_space_or_null_with_reason(tmp_path):
    """{"AT": 1e-300, "TA": 1}: the uniform ∫ mdse ds reaches 1e-300 through its log-space piece; the
    absorbing one underflows at s = 40 and is null with the reason, never a wrong number."""
    dist = _write(tmp_path / "tiny.json", {"AT": 1e-300, "TA": 1})
    out = tmp_path / "n.json"
    status, stdout, err = run_main("nll", "--dist", dist, "--normalize", "--json", out)
    assert status == 0, err
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    rec = {r["sequence"]: r for r in json.loads(text)["sequences"]}["AT"]
    assert rec["nll"] == pytest.approx(300 * math.log(10), rel=1e-15)
    d, why = rec["decompositions"], rec["decomposition_reasons"]
    assert d["mdce_integral"] == pytest.approx(rec["nll"], abs=1e-9)
    assert d["time_free"] == pytest.approx(rec["nll"], abs=1e-9)
    assert d["uniform_mdse_integral"] == pytest.approx(rec["nll"], abs=1e-9)
    assert d["absorbing_mdse_integral"] is None and "underflows" in why["absorbing_mdse_integral"]
    assert set(why) == {"absorbing_mdse_integral"}


@pytest.mark.parametrize("p", [1e-60, 1e-120])
def test_log_space_piece_at_hamming_distance_one(tmp_path, p):
    """The competing mass one flip away: the crossing sits at s ~ p0(x0), deep below the λ nodes."""
    dist = _write(tmp_path / "d.json", {"AT": p, "TT": 1.0})
    out = tmp_path / "n.json"
    status, _, err = run_main("nll", "--dist", dist, "--normalize", "--sequence", "AT", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())["sequences"][0]
    assert rec["decompositions"]["uniform_mdse_integral"] == pytest.approx(-math.log(p), abs=1e-9)


def test_below_the_stated_limit_the_column_is_null_with_the_reason(tmp_path):
    """One flip away and p0(x0) = 1e-200: p_s of the states between underflows; refused, not guessed."""
    dist = _write(tmp_path / "d.json", {"AT": 1e-200, "TT": 1.0})
    out = tmp_path / "n.json"
    status, _, err = run_main("nll", "--dist", dist, "--normalize", "--sequence", "AT", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())["sequences"][0]
    assert rec["decompositions"]["uniform_mdse_integral"] is None
    assert "underflows" in rec["decomposition_reasons"]["uniform_mdse_integral"]
    assert rec["decompositions"]["time_free"] == pytest.approx(200 * math.log(10), abs=1e-9)


@pytest.mark.parametrize("p", [1e-20, 1e-8])
def test_small_but_representable_probability_is_integrated_exactly(tmp_path, p):
    dist = _write(tmp_path / "small.json", {"AT": p, "TA": 1 - p})
    out = tmp_path / "n.json"
    status, _, err = run_main("nll", "--dist", dist, "--sequence", "AT", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())["sequences"][0]
    assert rec["decomposition_reasons"] == {}
    for value in rec["decompositions"].values():
        assert value == pytest.approx(-math.log(p), abs=1e-9)


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--times", "1e-300"], ["`--times` 1e-300", "underflows"]),
        (["--schedule", "linear", "--times", "0.5,93,100"], ["`--times` 93, 100", "underflows"]),
    ],
)
def test_times_float64_cannot_serve_are_refused(tmp_path, args, needles):
    out = tmp_path / "c.json"
    status, _, err = run_main("curve", "--sequence", "AAAACGTC", *args, "--json", out)
    assert_refused(status, err, "curve", *needles, output=out)


def test_kl_and_mutual_information_are_never_negative(tmp_path):
    out = tmp_path / "c.json"
    status, _, err = run_main(
        "curve",
        "--sequence",
        "GGATTTTT",
        "--process",
        "uniform",
        "--schedule",
        "linear",
        "--times",
        "20,30,100,300",
        "--json",
        out,
    )
    assert status == 0, err
    for pt in json.loads(out.read_text())["points"]:
        for key in ("kl", "mdse", "mutual_information", "mdse_marginal"):
            assert pt[key] is not None and pt[key] >= 0.0, (pt["t"], key, pt[key])
        assert pt["kl"] < 1e-12


# ------------------------------------------------------------------------------ output files
def test_a_failing_run_leaves_the_old_file(tmp_path):
    out = _write(tmp_path / "c.json", '{"old": true}\n')
    status, _, err = run_main("curve", "--sequence", "AAAACGTC", "--times", "0.5,1e-320", "--json", out)
    assert status == 2
    assert out.read_text() == '{"old": true}\n'
    assert sorted(os.listdir(tmp_path)) == ["c.json"]


def test_unwritable_json_path_is_refused_before_the_run(tmp_path):
    for target, needle in [(tmp_path / "missing" / "x.json", "does not exist"), (tmp_path, "is a directory")]:
        status, stdout, err = run_main("nll", "--sequence", "GGATTTTT", "--json", target)
        assert_refused(status, err, "nll", "`--json`", needle)
        assert stdout == ""  # refused before any work was printed


def test_verify_checks_its_json_path_first(tmp_path):
    status, stdout, err = run_main("verify", "--json", tmp_path / "no" / "v.json")
    assert_refused(status, err, "verify", "`--json`", "does not exist")
    assert stdout == ""


def test_full_stdout_is_a_clean_error():
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [sys.executable, "-m", "ctmc_lab.cli", "curve", "--sequence", "GGATTTTT", "--times", "0.5"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert_refused(res.returncode, res.stderr, "curve", "standard output")


def test_figures_out_that_cannot_be_created(tmp_path):
    blocker = _write(tmp_path / "file", "x")
    status, _, err = run_main("figures", "--out", blocker / "sub", "--only", "heavy_tail")
    assert_refused(status, err, "figures", "`--out`", "cannot create the directory")


# ------------------------------------------------------------------------------ bad input files
@pytest.mark.parametrize(
    "content, needles",
    [
        ('{"AT": 1' + "0" * 400 + ', "TA": 0.5}', ["distribution file", "integer too large for a float"]),
        ("[" * 100_000, ["distribution file", "nests arrays or objects too deeply"]),
        ('{"AT": 0.5, "AT": 0.5}', ["distribution file", "gives the key 'AT' twice"]),
        ('{"AA BB": 0.5, "CC DD": 0.5}', ["'AA BB' contains whitespace", "one token"]),
        ("\xff\xfe", ["distribution file", "not valid JSON"]),
        ('{"AT": 1e-320, "TA": 1}', ["`probs` must be 0 or at least 2.23e-308"]),
    ],
)
def test_bad_distribution_files(tmp_path, content, needles):
    path = _write(tmp_path / "d.json", content)
    status, _, err = run_main("nll", "--dist", path, "--normalize")
    assert_refused(status, err, "nll", *needles)


def test_subnormal_markov_transition_is_refused(tmp_path):
    path = _write(tmp_path / "mk.json", {"A": {"A": 0.5, "T": 0.5}, "T": {"A": 1e-320, "T": 1}})
    status, _, err = run_main("nll", "--dist", f"markov:{path}", "--normalize")
    assert_refused(status, err, "nll", "`table` entries must be 0 or at least 2.23e-308", "row 1, column 0")


def test_a_device_is_not_read():
    res = run_cli("nll", "--dist", "/dev/zero", timeout=60)
    assert_refused(res.returncode, res.stderr, "nll", "'/dev/zero' is not a regular file")


def test_an_oversized_file_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr("ctmc_lab.io.MAX_FILE_BYTES", 1000)
    path = _write(tmp_path / "d.json", json.dumps({"A" * 8: 0.5, "T" * 8: 0.5}) + " " * 2000)
    status, _, err = run_main("nll", "--dist", path)
    assert_refused(status, err, "nll", "at most 0 MiB are read")


@pytest.mark.parametrize(
    "content, needle",
    [
        ({"a": 1}, "list of rows of numbers (got dict)"),
        ([[-1, 1], [1, "x"]], "list of rows of numbers"),
        ([[-1, 1], [1]], "same length"),
        ("[[-1, 1" + "0" * 400 + "], [1, -1]]", "integer too large"),
        ([[-1, 1], [1, -1]], "expected an S x S matrix with S >= 4"),
    ],
)
def test_bad_rate_matrix_files(tmp_path, content, needle):
    q = _write(tmp_path / "q.json", content)
    status, _, err = run_main("curve", "--sequence", "GGATTTTT", "--times", "0.5", "--process", q)
    assert_refused(status, err, "curve", "`--process` file", needle)


# ----------------------------------------------------------------------------- resource model
def test_markov_table_with_a_long_context_is_refused_before_allocating(tmp_path):
    path = _write(tmp_path / "mk.json", {c * 40: {"A": 0.5, "T": 0.5} for c in "AT"})
    status, _, err = run_main("nll", "--dist", f"markov:{path}")
    assert_refused(status, err, "nll", "misses 1099511627774 of the 1099511627776 contexts of length 40")


@pytest.mark.parametrize(
    "argv, needles",
    [
        (
            ["estimate", "--estimator", "time_free", "--samples", "1000000000000"],
            ["`estimate` with 1000000000000 draws", "TiB of memory", "lower `--samples`"],
        ),
        (
            ["estimate", "--estimator", "lambda_dce", "--samples", "100000000"],
            ["array operations", "lower `--samples`"],
        ),
        (
            ["nll", "--dist", "markov4", "--mc-samples", "1000000000000"],
            ["1000000000000 draws per pair", "of memory", "`--mc-samples`"],
        ),
        (
            ["nll", "--dist", "markov4", "--response-length", "40", "--pairs", "2"],
            ["response length 40", "`--response-length`"],
        ),
    ],
)
def test_oversized_sampling_is_refused_with_numbers(argv, needles):
    status, _, err = run_main(*argv)
    assert_refused(status, err, argv[0], *needles)


def test_curve_estimates_its_work_from_the_number_of_times():
    times = ",".join(f"{0.001 * i:g}" for i in range(1, 1000))
    status, stdout, err = run_main("curve", "--sequence", "GGATTTTT", "--times", times)
    assert_refused(status, err, "curve", "at 999 times over 5^8 noisy states", "array operations", "fewer `--times`")
    assert stdout == ""


@pytest.mark.parametrize("symbols, length", [("AT", 28), ("ATGC", 31)])
def test_long_sequences_are_refused_before_the_subset_tables(tmp_path, symbols, length):
    path = _write(tmp_path / "d.json", {c * length: 1 / len(symbols) for c in symbols})
    status, _, err = run_main("nll", "--dist", path)
    assert_refused(status, err, "nll", f"sequences of length {length}", "GiB of memory", "`--sequence SEQ ...`")


def test_a_full_4_to_the_10_table_is_refused_even_for_one_sequence(tmp_path):
    seqs = ("".join(p) for p in itertools.product("ATGC", repeat=10))
    path = _write(tmp_path / "full.json", json.dumps({s: 1 / 4**10 for s in seqs}))
    status, _, err = run_main("nll", "--dist", path, "--sequence", "A" * 10)
    assert_refused(status, err, "nll", "on 1 sequences of length 10 (support 1048576)", "array operations")


def test_dense_noise_columns_over_the_budget_are_skipped_with_the_reason(tmp_path):
    """N = 4, L = 11 on a support of 2: the subset tables are cheap, the dense ∫ mdse are not."""
    path = _write(tmp_path / "d.json", {"A" * 11: 0.5, "T" * 11: 0.5})
    out = tmp_path / "n.json"
    status, _, err = run_main("nll", "--dist", path, "--alphabet", "ATGC", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())["sequences"][0]
    assert rec["decompositions"]["time_free"] == pytest.approx(math.log(2), abs=1e-12)
    for name in ("absorbing_mdse_integral", "uniform_mdse_integral"):
        assert rec["decompositions"][name] is None and "skipped" in rec["decomposition_reasons"][name]


# ---------------------------------------------------------------------------- quiet surprises
@pytest.mark.parametrize(
    "argv, needles",
    [
        (["curve", "--sequence", "GGATTTTT", "--times", "0.5", "--alphabet", "QQQ"], ["`--alphabet` applies only"]),
        (["nll", "--normalize"], ["`--normalize` applies only"]),
        (["nll", "--dist", "markov4", "--alphabet", "ATGC"], ["`--alphabet` applies only"]),
        (["nll", "--pairs", "3"], ["`--pairs` only apply to a Markov `--dist`"]),
        (["nll", "--seed", "1", "--mc-samples", "8"], ["`--seed`, `--mc-samples` only apply"]),
        (["nll", "--dist", "markov4", "--sequence", "AAAA"], ["`--sequence` does not apply to a Markov"]),
        (["estimate", "--estimator", "time_free", "--seed", "-1"], ["`--seed` must be a non-negative integer"]),
    ],
)
def test_options_that_do_not_apply_are_refused(argv, needles):
    status, _, err = run_main(*argv)
    line = assert_refused(status, err, argv[0], *needles)
    assert "np.float64" not in line


def test_messages_show_plain_numbers(tmp_path):
    path = _write(tmp_path / "d.json", {"AT": 0.5, "TA": 0.4})
    status, _, err = run_main("nll", "--dist", path)
    line = assert_refused(status, err, "nll", "sum = 0.9)", "--normalize")
    assert "np.float64" not in line


@pytest.mark.parametrize("estimator", ["time_free", "lambda_dce", "k_dce", "rb_lambda_dce", "omit_full_mask"])
def test_batch_size_is_only_a_memory_knob(tmp_path, estimator):
    estimates = []
    for batch in (1, 7, 64, 1024):
        out = tmp_path / f"e{batch}.json"
        status, _, err = run_main(
            "estimate",
            "--estimator",
            estimator,
            "--samples",
            "600",
            "--seed",
            "3",
            "--batch-size",
            batch,
            "--sequence",
            "GGATTTTT",
            "CCCGCAGC",
            "--json",
            out,
        )
        assert status == 0, err
        estimates.append([(r["estimate"], r["stderr"]) for r in json.loads(out.read_text())["sequences"]])
    assert all(e == estimates[0] for e in estimates[1:])


# ---------------------------------------------------------------------- the command line fits
def test_curve_help_names_the_default_schedule_and_ranges():
    res = run_cli("curve", "--help", env={**os.environ, "COLUMNS": "100"})
    text = " ".join(res.stdout.split())
    assert "(default: loglinear)" in text and "loglinear (0 < t <= 1)" in text and "linear (t > 0)" in text


def test_curve_lists_every_out_of_range_time():
    status, _, err = run_main("curve", "--sequence", "GGATTTTT", "--times", "0.5,2,-1,3,0")
    assert_refused(status, err, "curve", "got -1, 0")
    status, _, err = run_main("curve", "--sequence", "GGATTTTT", "--times", "0.5,2,3")
    assert_refused(status, err, "curve", "must be <= 1", "got 2, 3")


def test_nll_ends_with_a_summary_and_fits_100_columns(tmp_path):
    out = tmp_path / "n.json"
    status, stdout, err = run_main("nll", "--sequence", "GGATTTTT", "CCCGCAGC", "AAAAAAAA", "--json", out)
    assert status == 0, err
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("3 sequences (2 in support); max |decomposition - NLL| = ")
    assert max(len(line) for line in stdout.splitlines()) <= 100
    summary = json.loads(out.read_text())["summary"]
    assert summary["sequences"] == 3 and summary["in_support"] == 2 and summary["max_abs_deviation"] < 1e-12
    assert last.endswith(f"; infinite variance: {summary['infinite_variance']}")


@pytest.mark.parametrize(
    "argv",
    [
        ["curve", "--sequence", "GGATTTTT", "--times", "0.001,0.5,1", "--process", "uniform"],
        ["estimate", "--estimator", "time_free", "--samples", "64", "--sequence", "GGATTTTT"],
    ],
)
def test_tables_fit_100_columns(argv):
    status, stdout, err = run_main(*argv)
    assert status == 0, err
    assert max(len(line) for line in stdout.splitlines()) <= 100


# ------------------------------------------------------------------- quadrature convergence
def test_quadrature_flags_an_integrand_it_cannot_see():
    """∫_0^1 1/(x + 1e-200) dx = 460.5...: the nodes stop at 1e-37, so the end piece must be flagged."""
    res = tanh_sinh(lambda x, da, db: np.array([1.0 / (da + 1e-200)]), 0.0, 1.0, atol=1e-11)
    assert not res.converged and res.tail[0] > 1e-11
    ok = tanh_sinh(lambda x, da, db: np.array([np.log(da)]), 0.0, 1.0, atol=1e-11)
    assert ok.converged and ok.value[0] == pytest.approx(-1.0, abs=1e-11)


def test_mdse_is_clamped_only_at_rounding_level():
    with pytest.raises(process.NumericalRangeError, match="negative beyond rounding"):
        information.clamp_nonnegative(np.array([-1e-3]), what="KL")
    assert information.clamp_nonnegative(np.array([-1e-15, 2.0]), what="KL").tolist() == [0.0, 2.0]
    p = datasets.dna128()
    noised = NoisedDistribution.at_noise_level(p, generators.uniform(4), 20.0)
    assert np.all(information.kl(noised, p.support[:4]) >= 0)


# ------------------------------------------------------------------------ property tests
@budget(25, deadline=None)
@given(distributions(max_length=2, max_states=16), st.data(), noise_levels(1e-8, 5.0))
def test_stiff_generators_give_stochastic_kernels_and_theorem_3_1(p, data, s):
    """Rates over six decades: the kernel is stochastic within KERNEL_TOLERANCE or refused, and where
    computed, dKL/ds = -mdse (relative to the size of mdse, which grows with the rates)."""
    gen = data.draw(generators_for(p.n_tokens, kinds=("stiff",)))
    try:
        noised = NoisedDistribution.at_noise_level(p, gen, s)
    except process.NumericalRangeError as err:
        assert "stiff" in str(err) or "underflows" in str(err)
        return
    K = noised.K
    assert np.all(K >= 0) and np.abs(K.sum(axis=0) - 1).max() <= 1e-15 * K.shape[0] * 4
    rate = information.kl_rate(noised, p.support)
    m = scores.mdse(noised, p.support, method="contract")
    scale = np.maximum(1.0, np.abs(m))
    assert np.all(m >= 0) and np.all(np.abs(rate + m) <= 1e-8 * scale)


@budget(25, deadline=None)
@given(distributions(max_length=2, max_states=9, min_probability=1e-6), st.data(), noise_levels(1e-8, 5.0))
def test_sparse_generators_with_extra_states_match_the_dense_twin(p, data, s):
    """Unreachable and extra (non-clean) states: KL against the dense Kronecker-sum expm twin.

    Probabilities stop at 1e-6 here: the twin's dense expm is accurate in norm only, so with
    marginals near 1e-12 its own relative error (not the code's) would exceed the tolerance.
    """
    gen = data.draw(generators_for(p.n_tokens, kinds=("sparse",)))
    noised = NoisedDistribution.at_noise_level(p, gen, s)
    kl = information.kl(noised, p.support)
    for b, x in enumerate(p.support):
        ref = bruteforce.kl(p, gen, s, x)
        assert kl[b] >= 0 and abs(kl[b] - ref) <= 1e-10 * max(1.0, abs(ref)), (kl[b], ref)


def test_nll_progress_counts_sequences():
    class Terminal(__import__("io").StringIO):
        def isatty(self):
            return True

    from ctmc_lab.cli import nll
    from ctmc_lab.io import Progress

    stream = Terminal()
    p = datasets.dirichlet(2, 3, rng=0, support_size=5, alphabet="AT")
    outside = next(s for s in ("AAA", "AAT", "ATA", "ATT", "TAA", "TAT", "TTA", "TTT") if p.prob(s) == 0)
    seqs = [p.decode(x) for x in p.support[:3]] + [outside]
    with Progress(len(seqs), "nll sequences", stream=stream) as bar:
        nll.compute(p, seqs, progress=bar)
    shown = stream.getvalue()
    assert "0/4" in shown and "4/4" in shown and "∫ mdse ds" in shown and "mdce, time-free" in shown


def test_figure_and_csv_files_are_written_atomically(tmp_path, monkeypatch):
    """A figure whose rendering fails leaves no file (nor a temporary one); a CSV that
    cannot be moved into place leaves the old file as it was."""
    from matplotlib.figure import Figure

    from ctmc_lab import plotting

    fig, ax = plotting.new_figure()
    ax.plot([0, 1], [0, 1])

    def broken_savefig(self, fname, **kw):
        fname.write(b"%PDF-partial")
        raise RuntimeError("renderer died")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError):
        plotting.save_figure(fig, tmp_path, "f", formats=("pdf",))
    assert list(tmp_path.iterdir()) == []

    path = tmp_path / "t.csv"
    plotting.write_csv(str(path), {"a": [1.0, 2.0]})
    old = path.read_bytes()
    assert old == b"a\r\n1.0\r\n2.0\r\n"

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ValueError, match="cannot write CSV file"):
        plotting.write_csv(str(path), {"a": [3.0]})
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
