"""The closed-form absorbing marginal against dense expm of the Kronecker-sum generator (§1.2, §1.4)."""

import numpy as np
import pytest
import scipy.linalg

from ctmc_lab.forward import generators
from ctmc_lab.forward.marginals import absorbing_marginal
from ctmc_lab.sequences import all_sequences


@pytest.mark.parametrize("n, length", [(1, 3), (2, 2), (3, 3), (2, 5)])
@pytest.mark.parametrize("s", [1e-9, 0.3, 5.0, 700.0])
def test_absorbing_marginal_equals_dense_expm(n, length, s):
    """Twin: p_s = exp(s Q^(L)) p0 with Q^(L) the dense Kronecker sum (scipy expm)."""
    rng = np.random.default_rng(n * 10 + length)
    p0 = rng.random((n,) * length)
    p0 /= p0.sum()
    got = absorbing_marginal(p0, s, block=16)
    g = generators.absorbing(n)
    dense = np.zeros((n + 1,) * length)
    dense[(slice(0, n),) * length] = p0
    want = scipy.linalg.expm(s * generators.kronecker_sum(g, length).toarray()) @ dense.reshape(-1)
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-12, atol=1e-300)


def test_absorbing_marginal_entries_are_the_masking_law():
    """p_s(x) = e^{-s|U|} (1 - e^{-s})^{L-|U|} P0(x^U), U the unmasked positions, summed by hand."""
    n, length, s = 2, 3, 0.8
    p0 = np.arange(1.0, 1.0 + n**length).reshape((n,) * length)
    p0 /= p0.sum()
    got = absorbing_marginal(p0, s)
    for x in all_sequences(n + 1, length):
        visible = x < n
        total = sum(p0[tuple(z)] for z in all_sequences(n, length) if np.array_equal(z[visible], x[visible]))
        k = int(visible.sum())
        assert got[tuple(x)] == pytest.approx(np.exp(-s * k) * (-np.expm1(-s)) ** (length - k) * total, rel=1e-13)
