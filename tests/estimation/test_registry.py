"""The estimator registry: a user-registered mask-size scheme runs everywhere the built-in ones do.

A scheme registered from outside the package (its own q_m, f_m) gets Monte Carlo by name, exact
moments, a ``ctmc-lab estimate --estimator`` choice and ``verify``'s rows with no other edit
(``docs/theory.md`` §6.1–6.2, Thm 4.1).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ctmc_lab.estimation import estimators, families, moments, registry
from ctmc_lab.exact.mask_dce import MaskDCE, optimal_mask_dce
from ctmc_lab.sources.datasets import dna128
from ctmc_lab.sources.denoisers import OptimalDenoiser
from tests.cli_helpers import run_main

NAME = "sqrt_mask_size"


def sqrt_law(n):
    """q_m ∝ m^{-1/2} on 1..n with f_m = 1/(m q_m): unbiased since q_m f_m = 1/m (Thm 4.1)."""
    m = np.arange(1, n + 1, dtype=float)
    q = np.zeros(n + 1)
    q[1:] = m**-0.5 / np.sum(m**-0.5)
    f = np.zeros(n + 1)
    f[1:] = 1.0 / (m * q[1:])
    return q, f


@pytest.fixture
def sqrt_scheme():
    spec = registry.register_estimator(registry.EstimatorSpec(NAME, "√m law", "mask", law=sqrt_law))
    yield spec
    registry.unregister_estimator(NAME)


def brute_moments(A, n):
    """Mean and variance of g = f_m A(M) by enumerating the law mask by mask (the twin of
    :func:`ctmc_lab.estimation.moments.estimator_moments` for a registered scheme)."""
    w = [k**-0.5 for k in range(1, n + 1)]
    z = math.fsum(w)
    probs, vals = [], []
    for local in range(1 << n):
        m = bin(local).count("1")
        if m == 0:
            probs.append(0.0)
            vals.append(0.0)
            continue
        q_m = w[m - 1] / z
        probs.append(q_m / math.comb(n, m))
        vals.append(A[local] / (m * q_m))
    mean = math.fsum(p * v for p, v in zip(probs, vals))
    return mean, math.fsum(p * (v - mean) ** 2 for p, v in zip(probs, vals))


def test_registered_scheme_exact_moments_and_monte_carlo(sqrt_scheme):
    p = dna128()
    x0 = p.support[3]
    A = optimal_mask_dce(p, x0)
    exact = moments.estimator_moments(A, NAME)
    assert abs(exact.mean - p.nll(x0)) <= 1e-12  # unbiased: E g = -log p0 (Thm 4.1)
    mean, var = brute_moments(A, p.length)
    assert abs(exact.mean - mean) <= 1e-12
    assert abs(exact.variance - var) <= 1e-12 * max(1.0, var)
    est = estimators.estimate(NAME, MaskDCE(OptimalDenoiser(p), x0), n_samples=40_000, rng=7)
    assert est.estimator == NAME
    assert abs(est.mean - p.nll(x0)) <= 5 * est.stderr
    # The reported stderr is that of i.i.d. draws with the exact variance (a 10% band at 4e4 draws).
    assert abs(est.stderr - math.sqrt(exact.variance / est.n_samples)) <= 0.1 * est.stderr
    assert NAME in estimators.ESTIMATORS
    assert NAME in moments.exact_estimators()
    assert NAME in moments.unbiased_samplers()
    assert estimators.mask_size_scheme(NAME, p.length).unbiased


def test_registered_scheme_is_a_cli_choice(sqrt_scheme, tmp_path):
    out = tmp_path / "est.json"
    seq = dna128().decode(dna128().support[0])
    status, _, _ = run_main(
        "estimate", "--estimator", NAME, "--samples", 2048, "--seed", 1, "--sequence", seq, "--json", out
    )
    assert status == 0
    rec = json.loads(out.read_text())
    assert rec["estimator"] == NAME and rec["batch_size"] == 4096
    (row,) = rec["sequences"]
    assert abs(row["estimate"] - row["nll"]) <= 5 * row["stderr"]


def test_duplicate_name_refused_and_builtin_kept():
    with pytest.raises(ValueError, match=r"^an estimator named 'time_free' is already registered$"):
        registry.register_estimator(registry.EstimatorSpec("time_free", "again", "mask", law=sqrt_law))
    with pytest.raises(ValueError, match="built-in"):
        registry.unregister_estimator("time_free")
    with pytest.raises(ValueError, match="unknown estimator 'nope'; choose one of"):
        registry.get_estimator("nope")


def test_unregistered_scheme_leaves_no_trace(sqrt_scheme):
    registry.unregister_estimator(NAME)
    try:
        assert NAME not in estimators.ESTIMATORS
        with pytest.raises(ValueError, match="unknown estimator"):
            moments.estimator_moments(np.array([0.0, 1.0]), NAME)
    finally:
        registry.register_estimator(sqrt_scheme)  # the fixture unregisters it


def test_spec_is_refused_when_inconsistent():
    with pytest.raises(ValueError, match="`law` is required"):
        registry.EstimatorSpec("no_law", "x", "mask")
    with pytest.raises(ValueError, match="unknown `family` 'other'"):
        registry.EstimatorSpec("odd", "x", "other")
    with pytest.raises(ValueError, match="`family` must be a Family object"):
        registry.EstimatorSpec("odd", "x", 3)
    with pytest.raises(ValueError, match="`law` is given with family 'mask' only"):
        registry.EstimatorSpec("odd", "x", families.LambdaDCE(), law=sqrt_law)
    with pytest.raises(ValueError, match="unknown colour role `color` 'blue'"):
        registry.EstimatorSpec("odd", "x", "mask", law=sqrt_law, color="blue")
    with pytest.raises(ValueError, match="unknown `marker`"):
        registry.EstimatorSpec("odd", "x", "mask", law=sqrt_law, marker="?")
    with pytest.raises(ValueError, match="`nll_records` must be a subset"):
        registry.EstimatorSpec("odd", "x", "mask", law=sqrt_law, nll_records=("table",))
    with pytest.raises(ValueError, match="`biased` must be True or False"):
        registry.EstimatorSpec("odd", "x", "mask", law=sqrt_law, biased=1)
    with pytest.raises(ValueError, match="unknown estimator attribute 'nll_record'"):
        registry.estimator_names(nll_record=True)
    bad = registry.EstimatorSpec("bad_law", "x", "mask", law=lambda n: (np.ones(n + 1), np.ones(n + 1)))
    registry.register_estimator(bad)
    try:
        with pytest.raises(ValueError, match="summing to 1"):
            estimators.mask_size_scheme("bad_law", 3)
    finally:
        registry.unregister_estimator("bad_law")


def test_a_family_object_is_the_behaviour_and_a_string_is_short_for_a_mask_law():
    """``"mask"`` with a law builds a MaskSize family; the flags callers read come from the family."""
    spec = registry.EstimatorSpec(NAME, "√m law", "mask", law=sqrt_law)
    assert isinstance(spec.family, families.MaskSize) and spec.family.law is sqrt_law
    assert not spec.stratified and spec.by_name and spec.exact_moments
    strat = registry.EstimatorSpec("s", "s", families.MaskSize(sqrt_law, stratified=True))
    assert strat.stratified and not strat.exact_moments
    assert strat.default_batch_size(100) == 50 and strat.default_batch_size(1 << 15) == 4096
    assert spec.default_batch_size(100) == 4096
    assert registry.get_estimator("llada_stratified").default_batch_size(128) == 16


@pytest.mark.parametrize("length", [2.7, "x", -1, True])
def test_estimator_names_refuses_a_length_that_is_not_a_count(length):
    with pytest.raises((ValueError, TypeError), match="`length`"):
        registry.estimator_names(length=length)
