"""The NLL decompositions (Thm 3.2, Cor 3.7, Thm 4.1) against -log p0."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.exact import decompositions
from ctmc_lab.forward.process import NumericalRangeError
from ctmc_lab.sources import datasets
from ctmc_lab.testing.strategies import budget, distributions
from tests.strategies import any_generator, process_names


@budget(15)
@given(distributions(max_states=81, min_probability=1e-6), st.data())
def test_nll_equals_integrated_mdse(p, data):
    """Theorem 3.2: -log p0(x0) = ∫ mdse ds (+ the KL end term), to 1e-9.

    Probabilities from 1e-6 up: below, the integrand near the crossing s ~ p0(x0) is a
    difference of terms of size 1/s and carries rounding noise above 1e-11, so the quadrature
    (rightly) stops short of its tolerance; the next test covers that range.
    """
    gen = data.draw(any_generator(p.n_tokens))
    x0 = p.support[:4]
    result = decompositions.mdse_integral(p, gen, x0, atol=1e-11)
    assert result.quadrature.converged
    np.testing.assert_allclose(result.value, p.nll(x0), rtol=0, atol=1e-9)


@budget(15)
@given(distributions(max_states=27, max_length=3), st.data())
def test_integrated_mdse_never_claims_a_convergence_it_lacks(p, data):
    """Probabilities down to 1e-12: per component, converged (level difference and end pieces
    within atol) implies Theorem 3.2 to 1e-9; otherwise the caller writes null."""
    gen = data.draw(any_generator(p.n_tokens))
    x0 = p.support[:4]
    try:
        result = decompositions.mdse_integral(p, gen, x0, atol=1e-11)
    except NumericalRangeError:
        return
    ok = result.quadrature.component_ok(1e-11)
    assert np.all(np.abs(result.value - p.nll(x0))[ok] <= 1e-9)


def test_all_four_decompositions_on_dna128():
    p = datasets.dna128()
    x0 = p.support[::16]
    nll = p.nll(x0)
    np.testing.assert_allclose(decompositions.mdce_integral(p, x0), nll, atol=1e-12)
    np.testing.assert_allclose(decompositions.time_free_exact(p, x0), nll, atol=1e-12)
    for kind in process_names():
        np.testing.assert_allclose(decompositions.mdse_integral(p, kind, x0).value, nll, atol=1e-10)
