"""KL, its exact rate and I(x0; x_s), each against a brute-force twin (Thm 3.1, §2.4)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.exact import information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.sources import datasets
from ctmc_lab.testing.strategies import budget, distributions, noise_levels
from proofs_check._util import fd_step, five_point
from proofs_check.framework import deriv_tolerance
from tests import bruteforce
from tests.strategies import any_generator

CUSTOM = generators.custom(np.array([[-1.0, 0.5, 0.2], [0.7, -0.9, 0.3], [0.3, 0.4, -0.5]]))


@pytest.fixture(scope="module")
def small():
    return datasets.dirichlet(3, 3, rng=1, support_size=12)


@pytest.mark.parametrize("gen", [generators.absorbing(3), generators.uniform(3), CUSTOM], ids=str)
def test_kl_and_mdse_match_dense_brute_force(small, gen):
    s = 0.37
    noised = NoisedDistribution.at_noise_level(small, gen, s)
    x0 = small.support[:5]
    kl = information.kl(noised, x0)
    for b, x in enumerate(x0):
        assert kl[b] == pytest.approx(bruteforce.kl(small, gen, s, x), abs=1e-13)
        expected = bruteforce.mdse(small, gen, s, x)
        for method in ["contract", "enumerate", "factored"]:
            assert scores.mdse(noised, x, method=method) == pytest.approx(expected, abs=1e-13)


@budget(40)
@given(distributions(), st.data(), noise_levels(1e-8, 6.0))
def test_kl_rate_formula_equals_minus_mdse(p, data, s):
    """The algebra of :func:`information.kl_rate`, not evidence of Theorem 3.1: its formula
    Σ (Qq) log(q/p_s) - Σ q (Q p_s)/p_s equals -mdse_s for *any* positive p, so this checks
    the two codes against each other (to 1e-9, relative once mdse grows like 1/s). The
    derivative of F as a function is the next test."""
    gen = data.draw(any_generator(p.n_tokens))
    noised = NoisedDistribution.at_noise_level(p, gen, s)
    x0 = p.support
    rate = information.kl_rate(noised, x0)
    m = scores.mdse(noised, x0, method="contract")
    assert np.all(np.isfinite(m))
    # 1e-9 absolute for O(1) values; relative to |mdse| once it grows like 1/s near s -> 0.
    assert np.all(np.abs(rate + m) <= 1e-9 * np.maximum(1.0, np.abs(m)))
    # marginal form: dI/ds = -E_p0 mdse_s
    marginal = scores.marginal_mdse(noised)
    assert abs(p.probs @ rate + marginal) <= 1e-9 * max(1.0, abs(marginal))


@budget(40, deadline=None)  # eight KL evaluations per example on up to 256 states
@given(distributions(), st.data(), noise_levels(1e-3, 6.0))
def test_theorem_3_1_derivative_of_the_kl_is_minus_mdse(p, data, s):
    """Theorem 3.1 (pointwise and marginal) as evidence: a 5-point difference of
    F(s) = KL(p_{s|0} ‖ p_s) *as a function* of s (h = min(1e-3, s/500)) against -mdse_s, within
    1e-9 · max(1, |mdse|, |F|) (``proofs_check.framework.deriv_tolerance``, as the verify rows).

    s from 1e-3: the difference's rounding is about 1.5 eps |F| / h, which at h = s/500 stays
    below the tolerance only while s ≳ 1e-4; smaller s is covered by the formula test above.
    """
    gen = data.draw(any_generator(p.n_tokens))
    x0 = p.support
    h = fd_step(s)
    F = lambda u: information.kl(NoisedDistribution.at_noise_level(p, gen, u), x0)
    d, scale = five_point(F, s, h, with_scale=True)
    noised = NoisedDistribution.at_noise_level(p, gen, s)
    m = scores.mdse(noised, x0, method="contract")
    tol = np.array([deriv_tolerance(mb, fb) for mb, fb in zip(m, scale)])
    assert np.all(np.abs(d + m) <= tol), float(np.max(np.abs(d + m) / tol))
    # marginal form: dI/ds = -E_p0 mdse_s, with I(s) = E_p0 F(x0, s)
    I = lambda u: information.mutual_information(NoisedDistribution.at_noise_level(p, gen, u))
    dI, scale_I = five_point(I, s, h, with_scale=True)
    marginal = scores.marginal_mdse(noised)
    assert abs(dI + marginal) <= deriv_tolerance(marginal, scale_I)


def test_kl_rate_matches_finite_differences(small):
    s, h = 0.8, 1e-4
    for gen in [generators.absorbing(3), generators.uniform(3), CUSTOM]:
        f = [
            information.kl(NoisedDistribution.at_noise_level(small, gen, s + k * h), small.support)
            for k in (-2, -1, 1, 2)
        ]
        fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
        exact = information.kl_rate(NoisedDistribution.at_noise_level(small, gen, s), small.support)
        np.testing.assert_allclose(exact, fd, atol=1e-9)


def test_endpoints_of_the_kl():
    p = datasets.dna128()
    x0 = p.support[:8]
    for gen in [generators.absorbing(4), generators.uniform(4)]:
        start = NoisedDistribution.at_noise_level(p, gen, 0.0)
        np.testing.assert_allclose(information.kl(start, x0), p.nll(x0), atol=1e-13)
        assert information.mutual_information(start) == pytest.approx(p.entropy(), abs=1e-13)
        end = NoisedDistribution.at_noise_level(p, gen, 40.0)
        assert np.abs(information.kl(end, x0)).max() < 1e-14


def test_out_of_support_kl_is_infinite_and_rate_consistent():
    p = datasets.dna128()
    x = p.encode("AAAAAAAA")
    assert p.prob(x) == 0
    noised = NoisedDistribution.at_noise_level(p, generators.absorbing(4), 0.5)
    assert information.kl(noised, x) == np.inf
    assert scores.mdse(noised, x) == np.inf and information.kl_rate(noised, x) == -np.inf
    # under uniform noise p_s > 0 everywhere, so the KL is finite even off the support
    uni = NoisedDistribution.at_noise_level(p, generators.uniform(4), 0.5)
    assert np.isfinite(information.kl(uni, x))
