import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.forward import generators, schedules
from ctmc_lab.forward.process import ForwardProcess, apply_all_axes, apply_along_axes, token_kernel, transition_tensor
from ctmc_lab.testing.strategies import generators_for, noise_levels, schedules_


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
@pytest.mark.parametrize("s", [1e-12, 1e-3, 0.7, 5.0, 40.0])
def test_three_kernel_methods_agree(kind, s):
    g = getattr(generators, kind)(4)
    closed = token_kernel(g, s, method="closed")
    for method in ["expm", "uniformization"]:
        assert np.abs(token_kernel(g, s, method=method) - closed).max() <= 1e-13
    np.testing.assert_allclose(closed.sum(axis=0), 1.0, atol=1e-15)


@given(st.integers(2, 4).flatmap(generators_for), noise_levels(1e-8, 30.0))
def test_uniformization_matches_expm_for_any_generator(g, s):
    assert np.abs(token_kernel(g, s, method="uniformization") - token_kernel(g, s, method="expm")).max() <= 1e-13


def test_closed_form_refuses_custom_and_unknown_method():
    g = generators.custom(np.array([[-1.0, 2.0], [1.0, -2.0]]))
    with pytest.raises(ValueError, match="no closed-form"):
        token_kernel(g, 1.0)
    with pytest.raises(ValueError, match="choose one of"):
        token_kernel(g, 1.0, method="pade")


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
@pytest.mark.parametrize("L", [1, 2, 3, 4])
def test_axis_kernels_equal_dense_kronecker_sum_expm(kind, L):
    g = getattr(generators, kind)(3)
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


@pytest.mark.parametrize(
    "Q, message",
    [
        ([[-1, 1], [1, -0.5]], "columns must sum to 0"),
        ([[-1, -1], [1, 1]], "off-diagonal"),
        ([[0, 0], [0, 0]], "no positive rate"),
        ([[np.nan, 0], [0, 0]], "finite"),
        ([[1, 2, 3]], "square"),
    ],
)
def test_bad_generators_are_rejected(Q, message):
    with pytest.raises(ValueError, match=message):
        generators.custom(Q)


def test_row_convention_hint():
    R = np.array([[-1.0, 1.0, 0.0], [0.0, -2.0, 2.0], [0.5, 0.5, -1.0]])  # rows sum to 0
    with pytest.raises(ValueError, match="R.T"):
        generators.custom(R)
    generators.custom(R.T)


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


def test_forward_process_kernel_uses_sigma_bar():
    proc = ForwardProcess(generators.absorbing(4), schedules.Loglinear())
    assert proc.kernel(0.5)[4, 0] == pytest.approx(schedules.Loglinear().mask_level(0.5), rel=1e-14)


def test_cosine_schedule_is_accurate_at_tiny_times():
    sch = schedules.Cosine(eps=0.0)
    t = 1e-10
    expected = (np.pi * t / 2) ** 2 / 2  # 1 - cos x ≈ x^2 / 2
    assert sch.mask_level(t) == pytest.approx(expected, rel=1e-12)
    assert sch.sigma_bar(t) > 0
