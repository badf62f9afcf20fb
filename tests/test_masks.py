"""The bitmask helpers of :mod:`ctmc_lab.masks` against explicit loops (``docs/theory.md`` §3.5, §4.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctmc_lab.masks import as_mask_table, bitmask, harmonic, imdce_sum, local_to_global, mask_weights


def test_local_to_global_deposits_each_bit_on_its_position():
    """Twin: build each global mask bit by bit from the list of chosen positions."""
    positions = np.array([4, 0, 6])
    local = np.arange(8)
    expected = [sum(1 << int(positions[j]) for j in range(3) if u >> j & 1) for u in range(8)]
    assert local_to_global(local, positions).tolist() == expected
    assert bitmask(positions) == (1 << 4) | 1 | (1 << 6)
    assert bitmask([]) == 0


def test_as_mask_table_refuses_what_no_table_can_be():
    assert as_mask_table([0.0, 1.0]).dtype == float
    with pytest.raises(ValueError, match="empty mask"):
        as_mask_table([1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        as_mask_table([0.0, np.nan])
    with pytest.raises(ValueError, match="must be"):
        as_mask_table(np.zeros((1, 1, 2)))


@pytest.mark.parametrize("n", [0, 1, 7, 1 << 20, (1 << 20) + 1, 10**7, 10**15])
def test_harmonic_against_mpmath(n):
    """H_n summed (n <= 2**20) or as ψ(n + 1) + γ beyond, against mpmath's exact harmonic number."""
    import mpmath

    mpmath.mp.dps = 40
    expected = float(mpmath.harmonic(n))
    assert harmonic(n) == pytest.approx(expected, rel=2e-15, abs=0.0)


def test_bitmask_refuses_what_is_not_a_set_of_positions():
    with pytest.raises(ValueError, match=r"`positions` must not repeat a position \(got \[0, 0\]\)"):
        bitmask([0, 0])  # once summed to 2, the bitmask of position 1
    with pytest.raises(ValueError, match=r"`positions` must lie in 0..62"):
        bitmask([63])
    with pytest.raises(ValueError, match=r"`local` masks must lie in 0..2\*\*2 - 1 \(got 4\)"):
        local_to_global([4], [0, 1])


def test_weights_at_zero_upper_level_and_the_integral_up_to_it():
    """B(0; m, L-m+1) = 0: the integral of Cor 3.7 up to Λ = 0 is 0, even with an infinite A(M)."""
    assert not mask_weights(3, 0.0).any()
    assert imdce_sum([0.0, 1.0, np.inf, 2.0], 0.0) == 0.0
    # and at Λ = 1 the weights are B(m, L-m+1) = (m-1)! (L-m)! / L!
    L = 3
    w = mask_weights(L)
    for u in range(1, 1 << L):
        m = bin(u).count("1")
        assert w[u] == pytest.approx(math.factorial(m - 1) * math.factorial(L - m) / math.factorial(L), rel=1e-14)
