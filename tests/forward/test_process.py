"""Token kernels exp(sQ) by three methods, axis-wise application and ForwardProcess, against scipy expm of the Kronecker sum."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import example, given
from hypothesis import strategies as st

from ctmc_lab.forward import generators, schedules
from ctmc_lab.forward.process import (
    ForwardProcess,
    NumericalRangeError,
    apply_all_axes,
    apply_along_axes,
    token_kernel,
    transition_tensor,
)
from ctmc_lab.testing.strategies import noise_levels
from tests.strategies import any_generator, process_generator, process_names

#: A sparse generator (drawn by ``any_generator``) whose kernel entry K[3, 3] = e^{-1.9375 s}
#: is 9e-22 at s = 25, below expm's absolute accuracy: expm returns 0 there.
_EXPM_UNDERFLOW = np.array(
    [[-1.0, 0.42859455, 0.0, 0.0], [0.0, -0.42859455, 0.0, 1.9375], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -1.9375]]
)


@pytest.mark.parametrize("kind", process_names(closed_form=True))
@pytest.mark.parametrize("s", [1e-12, 1e-3, 0.7, 5.0, 40.0])
def test_three_kernel_methods_agree(kind, s):
    g = process_generator(kind, 4)
    closed = token_kernel(g, s, method="closed")
    for method in ["expm", "uniformization"]:
        assert np.abs(token_kernel(g, s, method=method) - closed).max() <= 1e-13
    np.testing.assert_allclose(closed.sum(axis=0), 1.0, atol=1e-15)


@given(st.integers(2, 4).flatmap(any_generator), noise_levels(1e-8, 30.0))
@example(generators.custom(_EXPM_UNDERFLOW, n_tokens=2), 25.0)
def test_uniformization_matches_expm_for_any_generator(g, s):
    """Uniformization equals expm in norm, and the validated expm route refuses only expm's own underflow.

    ``scipy.linalg.expm`` is accurate to about 1e-16 of the largest entry, not entrywise: a
    reachable entry whose true value is below that can come out 0 (1.9e-17 at s = 14, 9e-22 at
    s = 25 for the example), and ``token_kernel(method="expm")`` then rightly refuses the kernel.
    So the two routes are compared where both are representable, the raw matrices in norm, and
    a refusal of the expm route must be explained by such an entry: zero or subnormal in expm,
    positive and below expm's accuracy in uniformization (accurate entrywise, all terms >= 0).
    """
    K = token_kernel(g, s, method="uniformization")
    raw = scipy.linalg.expm(s * g.Q)
    assert np.abs(K - raw).max() <= 1e-13
    try:
        checked = token_kernel(g, s, method="expm")
    except NumericalRangeError:
        lost = (K > 0) & (raw < np.finfo(float).tiny)
        assert lost.any() and K[lost].max() < 1e-13
    else:
        assert np.abs(checked - K).max() <= 1e-13


def test_closed_form_refuses_custom_and_unknown_method():
    g = generators.custom(np.array([[-1.0, 2.0], [1.0, -2.0]]))
    with pytest.raises(ValueError, match="no closed-form"):
        token_kernel(g, 1.0)
    with pytest.raises(ValueError, match=r"`method` must be one of \['closed', 'expm', 'uniformization'\]"):
        token_kernel(g, 1.0, method="pade")


@pytest.mark.parametrize("kind", process_names())
@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_axis_kernels_equal_dense_kronecker_sum_expm(kind, L):
    g = process_generator(kind, 3)
    s = 0.37
    dense = scipy.linalg.expm(s * generators.kronecker_sum(g, L).toarray())
    rng = np.random.default_rng(L)
    p = rng.random((g.n_states,) * L)
    K = token_kernel(g, s)
    via_axes = apply_along_axes(p, K).reshape(-1)
    assert np.abs(via_axes - dense @ p.reshape(-1)).max() <= 1e-14
    assert np.abs(apply_all_axes(p, K).reshape(-1) - via_axes).max() <= 1e-15
    x0 = rng.integers(0, g.n_tokens, size=L)
    from ctmc_lab.sequences import flat_index

    col = dense[:, flat_index(x0, g.n_states)]
    assert np.abs(transition_tensor(K, x0).reshape(-1) - col).max() <= 1e-14


def test_forward_process_kernel_uses_sigma_bar():
    proc = ForwardProcess(generators.absorbing(4), schedules.Loglinear())
    assert proc.kernel(0.5)[4, 0] == pytest.approx(schedules.Loglinear().mask_level(0.5), rel=1e-14)


def test_kron_with_identity_is_numpys_kron_bit_for_bit():
    """The axis step's K ⊗ I_post (a broadcast product) against np.kron: same entries and
    layout, including -0.0 from negative rates and NaN from inf·0."""
    from ctmc_lab.forward.process import _kron_eye

    rng = np.random.default_rng(0)
    for shape, post in [((5, 5), 2), ((4, 5), 3), ((5, 4), 4), ((1, 1), 4)]:
        K = rng.standard_normal(shape)
        K[0, 0] = -1.0
        K[-1, -1] = np.inf if K.size > 1 else K[-1, -1]
        with np.errstate(invalid="ignore"):
            want, got = np.kron(K, np.eye(post)), _kron_eye(K, post)
        assert got.shape == want.shape and got.tobytes() == want.tobytes()
