"""``verify`` reads the registries and judges every entry against its independent twin (issue 20, item 3).

An estimator or noise process registered at run time gets rows when ``proofs_check.twins``
has its twin, and an ``n/a: no independent twin`` line and cell when it has none (never a
pass against its own declared law, never a silent skip); a bug planted in a registered
entry's law or rates, with the twin left correct, makes ``verify`` fail. Each case registers
into the live registries and removes its entry afterwards (the forked check workers inherit
the registration).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from ctmc_lab.cli import main
from ctmc_lab.estimation import registry
from ctmc_lab.estimation.families import MaskSize
from ctmc_lab.forward import generators
from proofs_check import twins
from proofs_check.twins import NO_TWIN

#: A small table (L = 3): the estimator rows enumerate its 2^3 masks.
TABLE = {"AAB": 0.3, "ABA": 0.2, "BBA": 0.25, "BAB": 0.25}
ESTIMATOR_ROWS = "estimators.sampler_law,estimators.exact_mean,estimators.monte_carlo"
KERNEL_ROWS = "kernels.twin,kernels.closed_vs_expm,kernels.kronecker,mp.thm31,sympy.kernels,sympy.thm31_single_token"


def _linear_law(n):
    """P(m) ∝ m on 1..n with weight 1/(m P(m)): unbiased (q_m f_m = 1/m)."""
    m = np.arange(n + 1, dtype=float)
    q = m / m.sum()
    f = np.zeros(n + 1)
    f[1:] = 1.0 / (m[1:] * q[1:])
    return q, f


def _linear_twin(n, weights=None):
    """The same law written again, by hand, as a twin would be."""
    total = n * (n + 1) / 2
    q = np.array([m / total for m in range(n + 1)])
    return q, np.array([0.0] + [total / m**2 for m in range(1, n + 1)])


def _verify(tmp_path, only):
    """(exit status, JSON document, text) of ``verify --quick --dist TABLE --only ONLY``."""
    table, out = tmp_path / "table.json", tmp_path / "out.json"
    table.write_text(json.dumps(TABLE))
    from contextlib import redirect_stdout
    from io import StringIO

    buf = StringIO()
    with redirect_stdout(buf):
        code = main(["verify", "--quick", "--wide", "--dist", str(table), "--only", only, "--json", str(out)])
    return code, json.loads(out.read_text()), buf.getvalue()


def _cells(doc, name):
    return {c["method"]: c for c in doc["registry_coverage"] if c["name"] == name}


def _rows(doc, name, check_id=None):
    return [
        r
        for r in doc["checks"]
        if name in {p.strip() for p in r["case"].split(";")} and (check_id is None or r["id"] == check_id)
    ]


@pytest.fixture
def linear_estimator():
    spec = registry.register_estimator(registry.EstimatorSpec("linear_twin_test", "P(m) ∝ m", "mask", law=_linear_law))
    yield spec
    registry.unregister_estimator(spec.name)


def test_a_runtime_estimator_with_a_twin_gets_rows(tmp_path, linear_estimator, monkeypatch):
    monkeypatch.setitem(twins.ESTIMATOR_TWINS, "linear_twin_test", twins.EstimatorTwin(_linear_twin, "law", "test"))
    code, doc, text = _verify(tmp_path, ESTIMATOR_ROWS)
    assert code == 0, text[-3000:]
    ids = {r["id"] for r in _rows(doc, "linear_twin_test")}
    assert ids == {"estimators.sampler_law", "estimators.exact_mean", "estimators.monte_carlo"}
    cell = _cells(doc, "linear_twin_test")["float64"]
    assert cell["rows"] >= 4 and cell["not_applicable"] is None and cell["passed"]


def test_a_runtime_estimator_without_a_twin_is_an_na_line_and_cell(tmp_path, linear_estimator):
    code, doc, text = _verify(tmp_path, ESTIMATOR_ROWS)
    assert code == 0, text[-3000:]
    # No row compares it with its own law: the law and exact-mean checks give it none ...
    assert not _rows(doc, "linear_twin_test", "estimators.sampler_law")
    assert not _rows(doc, "linear_twin_test", "estimators.exact_mean")
    # ... but say so, in the skipped list and the coverage cell and its note.
    reasons = {s["id"]: s["reason"] for s in doc["skipped"] if s["case"] == "linear_twin_test"}
    assert set(reasons) == {"estimators.sampler_law", "estimators.exact_mean"}
    assert all(r.startswith(NO_TWIN) for r in reasons.values())
    assert _cells(doc, "linear_twin_test")["float64"]["not_applicable"].startswith(NO_TWIN)
    line = next(ln for ln in text.splitlines() if ln.startswith("estimator linear_twin_test"))
    assert "n/a*" in line
    assert f"* estimator linear_twin_test / float64: {NO_TWIN}" in text
    # Its Monte Carlo mean is still held to -log p0 (unbiased by declaration).
    assert _rows(doc, "linear_twin_test", "estimators.monte_carlo")


def test_a_wrong_weight_in_a_registered_law_fails_verify(tmp_path, monkeypatch):
    """time_free's law with f_m scaled by 1.01: the sampler-law weight row against the twin fails,
    and so does the library's exact mean against -log p0 (a check reading the declared law, as
    the sampler rows once did, would compare the law with itself and pass)."""
    spec = registry.get_estimator("time_free")

    def bad_law(n):
        q, f = spec.family.law(n)
        return q, f * 1.01

    monkeypatch.setitem(registry._REGISTRY, "time_free", dataclasses.replace(spec, family=MaskSize(bad_law)))
    code, doc, _ = _verify(tmp_path, ESTIMATOR_ROWS)
    assert code == 1
    failed = [r for r in _rows(doc, "time_free") if not r["passed"]]
    assert any(r["id"] == "estimators.sampler_law" and "value weight" in r["case"] for r in failed)
    moments_rows = [r for r in doc["checks"] if r["case"].startswith("moments.estimator_moments(time_free)")]
    assert moments_rows and not any(r["passed"] for r in moments_rows)
    assert not _cells(doc, "time_free")["float64"]["passed"]


def _two_rate_rates(n):
    """Absorbing noise at rate 2: every clean symbol jumps to the mask N at rate 2."""
    Q = np.zeros((n + 1, n + 1))
    Q[n, :n] = 2.0
    Q[np.arange(n), np.arange(n)] = -2.0
    return Q


def _two_rate_kernel(n, s):
    K = np.zeros((n + 1, n + 1))
    K[np.arange(n), np.arange(n)] = np.exp(-2 * s)
    K[n, :n] = -np.expm1(-2 * s)
    K[n, n] = 1.0
    return K


@pytest.fixture
def fast_absorbing():
    process = generators.NoiseProcess("fast_absorbing", _two_rate_rates, _two_rate_kernel, has_mask=True)
    generators.register_noise_process(process)
    yield process
    del generators.NOISE_PROCESSES["fast_absorbing"]


def _twin_rates(n):
    return np.array(
        [[(2.0 if a == n and b < n else -2.0 if a == b < n else 0.0) for b in range(n + 1)] for a in range(n + 1)]
    )


def test_a_runtime_noise_process_gets_kernel_rows_and_na_where_it_has_no_twin(tmp_path, fast_absorbing):
    code, doc, text = _verify(tmp_path, KERNEL_ROWS)
    assert code == 0, text[-3000:]
    ids = {r["id"] for r in _rows(doc, "fast_absorbing")}
    assert {"kernels.closed_vs_expm", "kernels.kronecker"} <= ids
    cells = _cells(doc, "fast_absorbing")
    for method in ("float64", "mpmath", "sympy"):
        assert cells[method]["not_applicable"].startswith(NO_TWIN), method
    assert cells["float64"]["rows"] >= 3 and cells["mpmath"]["rows"] == 0 and cells["sympy"]["rows"] == 0
    line = next(ln for ln in text.splitlines() if ln.startswith("noise process fast_absorbing"))
    assert line.count("n/a*") == 3


def test_a_runtime_noise_process_with_a_twin_gets_twin_rows(tmp_path, fast_absorbing, monkeypatch):
    monkeypatch.setitem(twins.PROCESS_TWINS, "fast_absorbing", twins.ProcessTwin(_twin_rates, _two_rate_kernel, "x"))
    code, doc, text = _verify(tmp_path, "kernels.twin")
    assert code == 0, text[-3000:]
    (row,) = _rows(doc, "fast_absorbing", "kernels.twin")
    assert row["passed"] and _cells(doc, "fast_absorbing")["float64"]["not_applicable"] is None


def test_a_wrong_rate_in_a_registered_process_fails_verify(tmp_path, monkeypatch):
    """Uniform noise registered with its rates scaled by 1.01: its closed form no longer matches
    expm of its rates, and the rates no longer match the twin's."""
    bad = dataclasses.replace(generators.NOISE_PROCESSES["uniform"], rates=lambda n: 1.01 * generators.uniform_rates(n))
    monkeypatch.setitem(generators.NOISE_PROCESSES, "uniform", bad)
    code, doc, _ = _verify(tmp_path, "kernels.twin,kernels.closed_vs_expm")
    assert code == 1
    failed = {r["id"] for r in _rows(doc, "uniform") if not r["passed"]}
    assert failed == {"kernels.twin", "kernels.closed_vs_expm"}
