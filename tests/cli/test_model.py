"""``--model python:MODULE:ATTR`` for ``nll`` and ``estimate``: a model's exact NLL, its estimators' moments, the gap.

The reference is independent of the A-table route: the random-order autoregressive NLL of the
model, averaged over all L! orders by enumeration (what Thm 4.1's sum over masks equals).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import textwrap

import numpy as np
import pytest

from tests.cli_helpers import assert_refused, run_main

P0 = {"ABA": 0.4, "ABB": 0.3, "BBA": 0.2, "AAA": 0.1}

MODELS = textwrap.dedent(
    """
    import numpy as np
    from ctmc_lab.sources.denoisers import OptimalDenoiser
    from ctmc_lab.sources.joint import JointDistribution

    P0 = JointDistribution.from_dict({"ABA": 0.4, "ABB": 0.3, "BBA": 0.2, "AAA": 0.1})
    _c = OptimalDenoiser(P0)

    def blend(x):  # c* blended 9:1 with the uniform law: a model with a gap
        return np.logaddexp(np.log(0.9) + _c(x), np.log(0.1) - np.log(2))

    def make_blend():
        return blend

    cstar = _c

    class Uniform:
        n_tokens, length = 2, 3
        def __call__(self, x):
            return np.full(x.shape + (2,), -np.log(2.0))

    def wrong_shape(x):
        return np.zeros(x.shape)

    def has_nan(x):
        return np.full(x.shape + (2,), np.nan)

    def unnormalised(x):
        return np.full(x.shape + (2,), np.log(0.6))

    def raises(x):
        raise RuntimeError("CUDA out of memory")

    def factory_raises():
        raise KeyError("weights")

    class WrongLength:
        n_tokens, length = 2, 5
        def __call__(self, x):
            return np.full(x.shape + (2,), -np.log(2.0))

    not_callable = 3
    """
)


@pytest.fixture
def setup(tmp_path, monkeypatch):
    (tmp_path / "user_models.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "user_models", raising=False)
    dist = tmp_path / "p0.json"
    dist.write_text(json.dumps(P0))
    return tmp_path, str(dist)


def _blend(x, symbols="AB"):
    """The blended model's conditional of position i, by brute force over the support of P0."""
    p = {s: v for s, v in P0.items()}

    def cond(visible: dict, i: int, v: str) -> float:
        mass = {
            a: sum(q for s, q in p.items() if s[i] == a and all(s[j] == c for j, c in visible.items())) for a in symbols
        }
        total = sum(mass.values())
        return 0.9 * mass[v] / total + 0.1 / len(symbols)

    return cond


def _random_order_nll(seq: str) -> float:
    """E over the L! orders of -Σ_k log c_θ(x_σ(k) | x_σ(<k)): Thm 4.1's value, by enumeration."""
    cond = _blend(seq)
    total = 0.0
    orders = list(itertools.permutations(range(len(seq))))
    for order in orders:
        visible = {}
        for i in order:
            total -= math.log(cond(visible, i, seq[i]))
            visible[i] = seq[i]
    return total / len(orders)


def test_nll_model_reports_its_exact_nll_the_gap_and_the_moments(setup):
    tmp, dist = setup
    out = tmp / "m.json"
    status, stdout, err = run_main("nll", "--dist", dist, "--model", "python:user_models:blend", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())
    assert rec["model"] == "python:user_models:blend"
    by_seq = {r["sequence"]: r for r in rec["sequences"]}
    assert set(by_seq) == set(P0)
    for seq, r in by_seq.items():
        expected = _random_order_nll(seq)
        assert r["model_nll"] == pytest.approx(expected, abs=1e-12)
        assert r["nll"] == pytest.approx(-math.log(P0[seq]), abs=1e-15)
        assert r["gap"] == pytest.approx(expected + math.log(P0[seq]), abs=1e-12)
        for name in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce"):
            m = r["estimators"][name]
            assert m["mean"] == pytest.approx(expected, abs=1e-12)  # unbiased for the model's own NLL
            assert m["bias"] == pytest.approx(r["gap"], abs=1e-12)  # bias against the data NLL
        assert r["estimators"]["time_free"]["variance"] > 0
    assert rec["summary"]["max_gap"] == max(r["gap"] for r in by_seq.values())
    assert "model nll" in stdout and "gap" in stdout


def test_the_optimal_denoiser_as_a_model_has_no_gap(setup):
    tmp, dist = setup
    out = tmp / "m.json"
    status, _, err = run_main("nll", "--dist", dist, "--model", "python:user_models:cstar", "--json", out)
    assert status == 0, err
    for r in json.loads(out.read_text())["sequences"]:
        assert abs(r["gap"]) < 1e-12
        assert abs(r["estimators"]["time_free"]["bias"]) < 1e-12


def test_a_factory_and_a_denoiser_object_are_accepted(setup):
    tmp, dist = setup
    for spec, expected in (
        ("python:user_models:make_blend", _random_order_nll("ABA")),
        ("python:user_models:Uniform", 3 * math.log(2)),
    ):
        out = tmp / "m.json"
        status, _, err = run_main("nll", "--dist", dist, "--model", spec, "--sequence", "ABA", "--json", out)
        assert status == 0, err
        assert json.loads(out.read_text())["sequences"][0]["model_nll"] == pytest.approx(expected, abs=1e-12)


def test_estimate_model_draws_from_the_model_and_reports_both_nlls(setup):
    tmp, dist = setup
    out = tmp / "e.json"
    argv = ["estimate", "--dist", dist, "--estimator", "k_dce", "--samples", "20000", "--seed", "3"]
    status, stdout, err = run_main(*argv, "--model", "python:user_models:blend", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())
    assert rec["model"] == "python:user_models:blend"
    for r in rec["sequences"]:
        expected = _random_order_nll(r["sequence"])
        assert r["model_nll"] == pytest.approx(expected, abs=1e-12)
        assert r["nll"] == pytest.approx(-math.log(P0[r["sequence"]]), abs=1e-15)
        assert abs(r["estimate"] - expected) < 5 * r["stderr"]  # Monte Carlo of the model, not of c*
    assert "model nll" in stdout
    # Without --model nothing changes: no model fields.
    status, _, err = run_main(*argv, "--json", out)
    assert status == 0, err
    assert all("model_nll" not in r for r in json.loads(out.read_text())["sequences"])


@pytest.mark.parametrize(
    "attr, needles",
    [
        ("wrong_shape", ["returned shape (4, 3)", "expected (B, L, N)"]),
        ("has_nan", ["NaN or +inf"]),
        ("unnormalised", ["must sum to 1 within 1e-09"]),
        ("raises", ["raised RuntimeError: CUDA out of memory"]),
        ("factory_raises", ["calling it raised KeyError"]),
        ("WrongLength", ["its `length` is 5", "length = 3"]),
        ("not_callable", ["must be a callable denoiser (got int)"]),
        ("missing", ["has no attribute 'missing'"]),
    ],
)
@pytest.mark.parametrize("command", ["nll", "estimate"])
def test_a_broken_model_is_refused_on_load_with_one_line(setup, attr, needles, command):
    tmp, dist = setup
    extra = ["--estimator", "time_free", "--samples", "10"] if command == "estimate" else []
    out = tmp / "x.json"
    status, stdout, err = run_main(
        command, "--dist", dist, *extra, "--model", f"python:user_models:{attr}", "--json", out
    )
    assert_refused(status, err, command, "`--model` 'python:user_models:", *needles, output=out)
    assert stdout == ""


def test_model_with_a_markov_dist_is_refused(setup):
    status, _, err = run_main("nll", "--dist", "markov4", "--model", "python:user_models:blend")
    assert_refused(status, err, "nll", "`--model` applies to a joint `--dist`")


def test_model_rows_go_through_the_model_not_c_star(setup, monkeypatch):
    """A planted bug that scores c* instead of the model would give gap 0: the gap is the model's."""
    tmp, dist = setup
    out = tmp / "m.json"
    status, _, err = run_main("nll", "--dist", dist, "--model", "python:user_models:Uniform", "--json", out)
    assert status == 0, err
    for r in json.loads(out.read_text())["sequences"]:
        assert r["model_nll"] == pytest.approx(3 * np.log(2), abs=1e-12)
        assert r["gap"] == pytest.approx(3 * np.log(2) + np.log(P0[r["sequence"]]), abs=1e-12)
