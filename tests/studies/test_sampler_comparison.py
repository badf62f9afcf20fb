"""Sampler variances and audited biases against textbook sums over all masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctmc_lab.estimation import registry
from ctmc_lab.plotting.figures import draw
from ctmc_lab.plotting.style import estimator_color
from ctmc_lab.studies import engine, sampler_comparison
from tests.figure_oracles import brute_A, brute_variances, d128_probabilities


def _run(tmp_path) -> dict:
    """The study's small grid run by the engine: its typed table."""
    run = engine.run_study(sampler_comparison, out_dir=tmp_path, progress=None, notes=None)
    return engine.read_tables(run, sampler_comparison)["table"]


def _rows(table: dict) -> list[dict]:
    return [dict(zip(table, values)) for values in zip(*table.values())]


def test_sampler_comparison(tmp_path):
    probs = d128_probabilities()
    table = _run(tmp_path)
    assert list(table)[1:] == [c.name for c in sampler_comparison.COLUMNS]
    rows = _rows(table)
    d = [r for r in rows if r["source"] == "d128"]
    assert len(d) == 128
    for r in d[::25]:
        v = brute_variances(brute_A(probs, r["sequence"]), 8)
        assert abs(r["true_nll"] + math.log(probs[r["sequence"]])) < 1e-13
        for name in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce"):
            if math.isinf(v[name]):
                assert r[f"var_{name}"] == math.inf
            else:
                assert abs(r[f"var_{name}"] - v[name]) < 1e-9
        assert abs(r["bias_omit_full_mask"] - v["bias_omit_full_mask"]) < 1e-10
        finite = {k: v[k] for k in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce")}
        assert r["winner"] == min(finite, key=finite.get)
        assert r["var_importance"] <= min(finite.values()) + 1e-9
        # The code's t-DCE is nearly unbiased: truncation at 1e-3 and the missing 1/(1-ε_s).
        assert -0.05 < r["bias_t_dce"] < 0
    assert any(r["source"] == "mk4" for r in rows)


def linear_law(n):
    """P(m) ∝ m on 1..n with f_m = 1/(m q_m): unbiased (Thm 4.1)."""
    q = np.r_[0.0, np.arange(1.0, n + 1)]
    q /= q.sum()
    return q, np.r_[0.0, 1.0 / (np.arange(1, n + 1) * q[1:])]


@pytest.fixture
def linear_scheme():
    """Registered from outside the package, after the study and plotting modules are imported."""
    spec = registry.register_estimator(
        registry.EstimatorSpec("linear_mask_size", "P(m) ∝ m", "mask", law=linear_law, marker="P")
    )
    yield spec
    registry.unregister_estimator("linear_mask_size")


def test_a_registered_estimator_joins_the_table_and_the_figure(linear_scheme, tmp_path):
    """One registration, no other edit: a column of exact variances (against a textbook sum),
    a share of the winners, a legend entry with the spec's label, marker and colour."""
    probs = d128_probabilities()
    table = _run(tmp_path)
    assert "var_linear_mask_size" in table
    assert "linear_mask_size" in sampler_comparison.table_estimators(table)[0]
    d = [r for r in _rows(table) if r["source"] == "d128"]
    L = 8
    z = L * (L + 1) / 2
    for r in d[::40]:
        A = brute_A(probs, r["sequence"])
        v = brute_variances(A, L)
        # g = A(M)/(m q_m) with q_m = m/z, P(M) = q_m / C(L, m): E g² - NLL².
        e2 = sum((z / len(M) ** 2) ** 2 * a**2 * (len(M) / z) / math.comb(L, len(M)) for M, a in A.items() if M)
        assert abs(r["var_linear_mask_size"] - (e2 - v["nll"] ** 2)) < 1e-9
        finite = {k: v[k] for k in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce")}
        finite["linear_mask_size"] = e2 - v["nll"] ** 2
        assert r["winner"] == min(finite, key=finite.get)
    unbiased = sampler_comparison.table_estimators(table)[0]
    d128 = table["source"] == "d128"
    wins = {u: int(np.sum(table["winner"][d128] == u)) for u in unbiased}
    assert sum(wins.values()) == 128
    fig = draw("sampler-comparison", table)
    legend = fig.axes[0].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "P(m) ∝ m" in texts
    handle = legend.legend_handles[texts.index("P(m) ∝ m")]
    assert handle.get_marker() == "P" and handle.get_color() == estimator_color("linear_mask_size")
    title = legend.get_title().get_text()
    if wins["linear_mask_size"]:
        assert f"P(m) ∝ m on {wins['linear_mask_size']} of 128" in title
    assert all(f"{registry.get_estimator(u).label} on {c} of 128" in title for u, c in wins.items() if c)
