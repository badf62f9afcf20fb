"""The command line: JSON fields as documented, values, and clear errors for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ctmc_lab.cli import main


def run_cli(*args):
    """Run ``ctmc-lab`` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "ctmc_lab.cli", *args], capture_output=True, text=True)


@pytest.fixture
def user_dist(tmp_path):
    rng = np.random.default_rng(7)
    seqs = ["".join(rng.choice(list("xyz"), size=3)) for _ in range(40)]
    seqs = sorted(set(seqs))
    probs = rng.random(len(seqs))
    path = tmp_path / "dist.json"
    path.write_text(json.dumps(dict(zip(seqs, (probs / probs.sum()).tolist()))))
    return path, dict(zip(seqs, probs / probs.sum()))


def test_nll_json_on_a_user_distribution(tmp_path, user_dist):
    path, mapping = user_dist
    out = tmp_path / "nll.json"
    first = next(iter(mapping))
    assert main(["nll", "--dist", str(path), "--sequence", first, "zzz", "--json", str(out)]) in (0,)
    data = json.loads(out.read_text())
    assert set(data["distribution"]) == {"name", "alphabet", "n_tokens", "length", "support_size"}
    assert data["distribution"]["alphabet"] == "xyz"
    rec = data["sequences"][0]
    assert rec["sequence"] == first and rec["in_support"]
    assert rec["nll"] == pytest.approx(-np.log(mapping[first]), abs=1e-12)
    assert set(rec["decompositions"]) == {
        "absorbing_mdse_integral",
        "uniform_mdse_integral",
        "mdce_integral",
        "time_free",
    }
    for value in rec["decompositions"].values():
        assert value == pytest.approx(rec["nll"], abs=1e-9)
    names = {
        "time_free",
        "k_dce",
        "rb_lambda_dce",
        "lambda_dce",
        "omit_full_mask",
        "omit_full_mask_token_mean",
        "llada_stratified",
        "llada_stratified_fixed",
    }
    assert set(rec["estimators"]) == names
    for name in ["time_free", "k_dce", "rb_lambda_dce", "lambda_dce"]:
        assert rec["estimators"][name]["mean"] == pytest.approx(rec["nll"], abs=1e-9)
        assert abs(rec["estimators"][name]["bias"]) <= 1e-9
    if "zzz" not in mapping:
        off = data["sequences"][1]
        assert off["nll"] is None and off["in_support"] is False and off["probability"] == 0.0


def test_curve_json_fields_and_theorem_3_1(tmp_path, user_dist):
    path, mapping = user_dist
    out = tmp_path / "curve.json"
    seq = next(iter(mapping))
    for process in ["absorbing", "uniform"]:
        assert (
            main(
                [
                    "curve",
                    "--dist",
                    str(path),
                    "--sequence",
                    seq,
                    "--process",
                    process,
                    "--schedule",
                    "cosine",
                    "--times",
                    "0.1,0.5,0.9",
                    "--json",
                    str(out),
                ]
            )
            == 0
        )
        data = json.loads(out.read_text())
        assert (data["sequence"], data["process"], data["schedule"]) == (seq, process, "cosine")
        for pt in data["points"]:
            assert set(pt) >= {
                "t",
                "sigma_bar",
                "mask_level",
                "kl",
                "kl_rate",
                "mdse",
                "mutual_information",
                "mdse_marginal",
            }
            assert pt["kl_rate"] == pytest.approx(-pt["mdse"], rel=1e-9, abs=1e-12)
            assert (pt["mask_level"] is None) == (process == "uniform")


def test_curve_linear_schedule_has_t_equal_sigma_bar(tmp_path):
    out = tmp_path / "c.json"
    assert (
        main(["curve", "--sequence", "GGATTTTT", "--schedule", "linear", "--times", "0.3,2", "--json", str(out)]) == 0
    )
    pts = json.loads(out.read_text())["points"]
    assert [p["sigma_bar"] for p in pts] == [0.3, 2.0]


@pytest.mark.parametrize(
    "content, extra, message",
    [
        ({"AT": 0.5, "TAT": 0.5}, [], "one length"),
        ({"AT": 0.5, "TX": 0.5}, ["--alphabet", "AT"], "not in the alphabet"),
        ({"AT": -0.5, "TA": 1.5}, [], "non-negative"),
        ({"AT": 0.5, "TA": 0.4}, [], "sum to 1"),
        ({}, [], "non-empty"),
    ],
)
def test_bad_distribution_files_exit_cleanly(tmp_path, content, extra, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    res = run_cli("nll", "--dist", str(path), *extra)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr


def test_nan_and_infinite_probabilities_exit_cleanly(tmp_path):
    path = tmp_path / "bad.json"
    for token in ["NaN", "Infinity"]:
        path.write_text(f'{{"AT": {token}, "TA": 0.5}}')
        res = run_cli("nll", "--dist", str(path))
        assert res.returncode == 2 and "finite" in res.stderr and "Traceback" not in res.stderr


def test_normalize_flag_accepts_unnormalised(tmp_path):
    path = tmp_path / "u.json"
    path.write_text(json.dumps({"AT": 2.0, "TA": 6.0}))
    out = tmp_path / "o.json"
    assert main(["nll", "--dist", str(path), "--normalize", "--json", str(out)]) == 0
    recs = {r["sequence"]: r for r in json.loads(out.read_text())["sequences"]}
    assert recs["TA"]["probability"] == pytest.approx(0.75)


def test_other_bad_inputs_exit_cleanly():
    for args, message in [
        (["nll", "--dist", "nope"], "not known"),
        (["nll", "--dist", "/no/such/file.json"], "cannot read"),
        (["curve", "--sequence", "GGAT", "--times", "0.5"], "length 8"),
        (["curve", "--sequence", "GGATTTTX", "--times", "0.5"], "not in the alphabet"),
        (["curve", "--sequence", "GGATTTTT", "--times", "0,0.5"], "must be finite and > 0"),
        (["curve", "--sequence", "GGATTTTT", "--times", "a,b"], "numbers"),
        (
            ["curve", "--sequence", "GGATTTTT", "--times", "0.5", "--schedule", "geometric-unshifted"],
            "sigma_bar(0) = 0",
        ),
    ]:
        res = run_cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert message in res.stderr and "Traceback" not in res.stderr


def test_out_of_support_query_says_inf_plainly():
    res = run_cli("nll", "--sequence", "AAAAAAAA")
    assert res.returncode == 0
    assert "NLL = inf" in res.stdout and "nan" not in res.stdout.lower()


def test_user_generator_file(tmp_path):
    bad = tmp_path / "q_bad.json"
    bad.write_text(json.dumps([[-1, 1, 0, 0], [1, -1, 0, 0], [0, 0, -1, 1], [0, 0, 1, -0.5]]))
    res = run_cli("curve", "--sequence", "GGATTTTT", "--times", "0.5", "--process", str(bad))
    assert res.returncode == 2 and "columns must sum to 0" in res.stderr and "Traceback" not in res.stderr
    good = tmp_path / "q.json"
    Q = np.full((4, 4), 0.2)
    np.fill_diagonal(Q, -0.6)
    good.write_text(json.dumps(Q.tolist()))
    out = tmp_path / "c.json"
    assert (
        main(
            [
                "curve",
                "--sequence",
                "GGATTTTT",
                "--times",
                "0.2,0.6",
                "--process",
                str(good),
                "--schedule",
                "linear",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    for pt in json.loads(out.read_text())["points"]:
        assert pt["kl_rate"] == pytest.approx(-pt["mdse"], rel=1e-9) and pt["mask_level"] is None


def test_nll_markov_protocol_json(tmp_path):
    out = tmp_path / "mk.json"
    assert (
        main(["nll", "--dist", "markov4", "--pairs", "3", "--mc-samples", "2048", "--seed", "5", "--json", str(out)])
        == 0
    )
    data = json.loads(out.read_text())
    assert len(data["pairs"]) == 3
    for pair in data["pairs"]:
        assert set(pair) >= {
            "prompt",
            "response",
            "true_nll",
            "time_free_exact",
            "mc_estimate",
            "mc_stderr",
            "mc_samples",
            "estimators",
        }
        assert len(pair["prompt"]) == 16 and len(pair["response"]) == 16
        assert pair["time_free_exact"] == pytest.approx(pair["true_nll"], abs=1e-9)
        assert abs(pair["mc_estimate"] - pair["true_nll"]) <= 5 * pair["mc_stderr"]
        assert pair["estimators"]["lambda_dce"]["variance_is_infinite"] is True
