"""KL, its exact rate, mdse and the closed forms, each against a brute-force twin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab import masks
from ctmc_lab.exact import decompositions, information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution, NumericalRangeError
from ctmc_lab.sources import datasets
from ctmc_lab.testing.strategies import budget, distributions, generators_for, noise_levels
from proofs_check._util import fd_step, five_point
from proofs_check.framework import deriv_tolerance

from . import bruteforce

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
    gen = data.draw(generators_for(p.n_tokens))
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
    gen = data.draw(generators_for(p.n_tokens))
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


@budget(15)
@given(distributions(max_states=81, min_probability=1e-6), st.data())
def test_nll_equals_integrated_mdse(p, data):
    """Theorem 3.2: -log p0(x0) = ∫ mdse ds (+ the KL end term), to 1e-9.

    Probabilities from 1e-6 up: below, the integrand near the crossing s ~ p0(x0) is a
    difference of terms of size 1/s and carries rounding noise above 1e-11, so the quadrature
    (rightly) stops short of its tolerance; the next test covers that range.
    """
    gen = data.draw(generators_for(p.n_tokens))
    x0 = p.support[:4]
    result = decompositions.mdse_integral(p, gen, x0, atol=1e-11)
    assert result.quadrature.converged
    np.testing.assert_allclose(result.value, p.nll(x0), rtol=0, atol=1e-9)


@budget(15)
@given(distributions(max_states=27, max_length=3), st.data())
def test_integrated_mdse_never_claims_a_convergence_it_lacks(p, data):
    """Probabilities down to 1e-12: per component, converged (level difference and end pieces
    within atol) implies Theorem 3.2 to 1e-9; otherwise the caller writes null."""
    gen = data.draw(generators_for(p.n_tokens))
    x0 = p.support[:4]
    try:
        result = decompositions.mdse_integral(p, gen, x0, atol=1e-11)
    except NumericalRangeError:
        return
    ok = result.quadrature.component_ok(1e-11)
    assert np.all(np.abs(result.value - p.nll(x0))[ok] <= 1e-9)


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


@given(distributions(max_length=3), st.floats(0.02, 0.98))
def test_absorbing_closed_forms_match_sums_over_noisy_states(p, lam):
    """F2: KL_λ from the subset table; mdce from the table vs looping over masks; F3."""
    gen = generators.absorbing(p.n_tokens)
    s = -np.log1p(-lam)
    x0 = p.support[0]
    h = masks.subset_entropy(p.subset_table(x0))
    assert masks.mask_kl(h, lam)[0] == pytest.approx(bruteforce.kl(p, gen, s, x0), abs=1e-12)
    mdce = scores.mdce(p, x0, lam)[0]
    assert mdce == pytest.approx(bruteforce.absorbing_mdce(p, x0, lam), abs=1e-12)
    # F3: mdse_s = (1-λ)/λ mdce at unit rate
    noised = NoisedDistribution.at_noise_level(p, gen, s)
    assert scores.mdse(noised, x0, method="contract") == pytest.approx((1 - lam) / lam * mdce, abs=1e-11)
    # Cor 3.6: dKL/dλ = -mdce/λ, exactly (polynomial derivative)
    assert masks.mask_kl_rate(h, lam)[0] == pytest.approx(-mdce / lam, abs=1e-11)


def test_uniform_log_singularity_coefficient():
    """§2.5: mdse_s + (n1/N) log s tends to a constant as s -> 0 (n1 Hamming-1 neighbours)."""
    p = datasets.dirichlet(3, 2, rng=5)  # full support: n1 = L (N-1) = 4
    gen = generators.uniform(3)
    x0 = p.support[0]
    vals = [scores.mdse(NoisedDistribution.at_noise_level(p, gen, s), x0) + (4 / 3) * np.log(s) for s in (1e-7, 1e-9)]
    assert vals[0] == pytest.approx(vals[1], abs=1e-5)


def test_all_four_decompositions_on_dna128():
    p = datasets.dna128()
    x0 = p.support[::16]
    nll = p.nll(x0)
    np.testing.assert_allclose(decompositions.mdce_integral(p, x0), nll, atol=1e-12)
    np.testing.assert_allclose(decompositions.time_free_exact(p, x0), nll, atol=1e-12)
    for kind in ["absorbing", "uniform"]:
        np.testing.assert_allclose(decompositions.mdse_integral(p, kind, x0).value, nll, atol=1e-10)


def test_dse_pointwise_matches_generic_definition(small):
    gen = generators.uniform(3)
    noised = NoisedDistribution.at_noise_level(small, gen, 0.4)
    rng = np.random.default_rng(0)
    x0 = small.support[:3]
    x = rng.integers(0, 3, size=x0.shape)
    score = scores.concrete_score(noised, x)
    val = scores.dse(gen, noised.K, x0, x, score)
    # E_x over the kernel of the pointwise loss at s* is mdse: spot-check one state by hand
    K = noised.K
    for b in range(3):
        total = 0.0
        for i in range(3):
            for v in range(3):
                if v == x[b, i]:
                    continue
                a = K[v, x0[b, i]] / K[x[b, i], x0[b, i]]
                total += gen.Q[x[b, i], v] * (score[b, i, v] - a * np.log(score[b, i, v]) + a * np.log(a) - a)
        assert val[b] == pytest.approx(total, abs=1e-13)
