"""Schedules: σ̄, σ, λ and their inverses against finite differences and closed forms (§1.3)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.forward import schedules
from ctmc_lab.testing.strategies import schedules_


@given(schedules_(), st.floats(0.01, 0.95))
def test_schedule_derivatives_and_inverses(sch, t):
    h = 1e-6 * max(t, 1e-3)
    fd = (sch.sigma_bar(t + h) - sch.sigma_bar(t - h)) / (2 * h)
    assert sch.sigma(t) == pytest.approx(fd, rel=1e-6)
    fd2 = (sch.sigma(t + h) - sch.sigma(t - h)) / (2 * h)
    assert sch.dsigma_dt(t) == pytest.approx(fd2, rel=1e-5)
    assert sch.sigma_bar0 == 0.0
    lam = sch.mask_level(t)
    assert sch.dlambda_dt(t) == pytest.approx(sch.sigma(t) * (1 - lam), rel=1e-12)
    assert sch.t_of_mask_level(lam) == pytest.approx(t, rel=1e-9)
    assert sch.t_of_sigma_bar(sch.sigma_bar(t)) == pytest.approx(t, rel=1e-9)


def test_loglinear_lambda_is_linear():
    sch = schedules.Loglinear(eps=1e-3)
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(sch.mask_level(t), (1 - 1e-3) * t, rtol=1e-14, atol=1e-16)


def test_unshifted_geometric_is_refused_where_identities_need_zero():
    raw = schedules.Geometric(shifted=False)
    assert raw.sigma_bar0 == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="sigma_bar\\(0\\) = 0"):
        schedules.require_zero_start(raw)
    with pytest.raises(ValueError, match="choose one of"):
        schedules.get_schedule("sigmoid")
    with pytest.raises(ValueError, match="must lie in"):
        schedules.Loglinear().sigma_bar(1.5)


def test_cosine_schedule_is_accurate_at_tiny_times():
    sch = schedules.Cosine(eps=0.0)
    t = 1e-10
    expected = (np.pi * t / 2) ** 2 / 2  # 1 - cos x ≈ x^2 / 2
    assert sch.mask_level(t) == pytest.approx(expected, rel=1e-12)
    assert sch.sigma_bar(t) > 0


@pytest.mark.parametrize("name", sorted(schedules.SCHEDULES))
def test_mask_level_and_its_derivative_follow_sigma_bar(name):
    """λ = 1 - e^{-σ̄}, dλ/dt = σ(1 - λ) (§1.3) against a central difference, and λ's inverse."""
    sch = schedules.get_schedule(name)
    t = np.array([0.1, 0.4, 0.8])
    lam = sch.mask_level(t)
    # Absolute: the reference 1 - exp(-σ̄) itself loses relative digits at small λ.
    np.testing.assert_allclose(lam, 1 - np.exp(-sch.sigma_bar(t)), rtol=0, atol=1e-15)
    h = 1e-6
    fd = (sch.mask_level(t + h) - sch.mask_level(t - h)) / (2 * h)
    np.testing.assert_allclose(sch.dlambda_dt(t), fd, rtol=1e-7)
    np.testing.assert_allclose(sch.t_of_mask_level(lam), t, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(schedules.SCHEDULES))
def test_time_check_refuses_the_same_inputs_whatever_their_type(name):
    """The fast path of the time check (a float, a float64 array) must refuse what the full
    check refuses (NaN, ±inf, outside [0, t_max], empty) and give the values of a list input,
    bit for bit: a slip there would pass a NaN time into a sampler or a quadrature."""
    sch = schedules.get_schedule(name)
    above = sch.t_max + 0.5 if np.isfinite(sch.t_max) else -1.0
    for bad in (float("nan"), float("inf"), float("-inf"), -1e-12, above):
        for value in (bad, np.array([0.5, bad]), [0.5, bad]):
            with pytest.raises(ValueError):
                sch.sigma_bar(value)
    with pytest.raises(ValueError):
        sch.sigma(np.array([]))
    t = [0.0, 1e-9, 0.3, 0.75]
    for f in (sch.sigma_bar, sch.sigma):
        as_list = np.asarray(f(t))
        assert np.asarray(f(np.array(t))).tobytes() == as_list.tobytes()
        assert b"".join(np.asarray(f(v)).tobytes() for v in t) == as_list.tobytes()
