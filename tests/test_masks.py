"""The bitmask helpers of :mod:`ctmc_lab.masks` against explicit loops (``docs/theory.md`` §3.5, §4.2)."""

from __future__ import annotations

import numpy as np
import pytest

from ctmc_lab.masks import as_mask_table, bitmask, local_to_global


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
