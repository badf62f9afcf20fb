"""Tanh-sinh quadrature against closed-form integrals, endpoint singularities included."""

import numpy as np
import pytest

from ctmc_lab.exact.quadrature import tanh_sinh


def test_vector_integrand_with_closed_forms():
    """∫_0^1 (x^2, e^x, cos x) dx = (1/3, e - 1, sin 1): one node set serves every component."""
    res = tanh_sinh(lambda x, da, db: np.array([x**2, np.exp(x), np.cos(x)]), 0.0, 1.0, atol=1e-14)
    np.testing.assert_allclose(res.value, [1 / 3, np.e - 1, np.sin(1.0)], rtol=0, atol=1e-14)
    assert res.converged and np.all(res.component_ok(1e-14))


def test_logarithmic_endpoint_singularity_uses_the_exact_distance():
    """∫_0^1 log(1/x) dx = 1 and ∫_0^2 log(1/(2-x)) dx = 2 - 2 log 2, evaluated with from_a / from_b."""
    left = tanh_sinh(lambda x, da, db: -np.log(da), 0.0, 1.0, atol=1e-13)
    right = tanh_sinh(lambda x, da, db: -np.log(db), 0.0, 2.0, atol=1e-13)
    assert left.value == pytest.approx(1.0, abs=1e-13)
    assert right.value == pytest.approx(2.0 - 2.0 * np.log(2.0), abs=1e-13)


def test_a_non_integrable_end_is_reported_not_converged():
    """1/x near 0: the end piece beyond the outermost node is of order one, so ``converged`` is False."""
    res = tanh_sinh(lambda x, da, db: 1.0 / da, 0.0, 1.0, atol=1e-12)
    assert not res.converged


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match=r"`b` must be above `a` \(got a = 1, b = 0\)"):
        tanh_sinh(lambda x, da, db: x, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"`b` must be a finite real number \(got inf\)"):
        tanh_sinh(lambda x, da, db: x, 0.0, np.inf)
