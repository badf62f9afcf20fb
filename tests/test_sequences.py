"""Alphabets, enumeration, flat indices and subset bitmasks against itertools and numpy twins."""

import itertools

import numpy as np
import pytest

from ctmc_lab.sequences import Alphabet, all_sequences, as_positions, flat_index, popcount, subset_members


@pytest.mark.parametrize("n_states, length", [(1, 3), (2, 4), (5, 2), (3, 1)])
def test_all_sequences_and_flat_index_are_row_major(n_states, length):
    """Twin: itertools.product (position 0 most significant) and numpy.ravel_multi_index."""
    seqs = all_sequences(n_states, length)
    np.testing.assert_array_equal(seqs, list(itertools.product(range(n_states), repeat=length)))
    np.testing.assert_array_equal(flat_index(seqs, n_states), np.arange(n_states**length))
    want = np.ravel_multi_index(tuple(seqs.T), (n_states,) * length)
    np.testing.assert_array_equal(flat_index(seqs, n_states), want)


def test_popcount_and_subset_members_match_bin():
    u = np.arange(1 << 10)
    np.testing.assert_array_equal(popcount(u), [bin(int(k)).count("1") for k in u])
    members = subset_members(4)
    for k in range(16):
        assert members[k].tolist() == [bool(k >> i & 1) for i in range(4)]
    np.testing.assert_array_equal(members.sum(axis=1), popcount(np.arange(16)))


def test_alphabet_round_trip_and_errors():
    a = Alphabet("ATGC")
    x = a.encode(["GATC", "A?TT"], allow_mask=True)
    np.testing.assert_array_equal(x, [[2, 0, 1, 3], [0, 4, 1, 1]])
    assert a.decode(x) == ["GATC", "A?TT"]
    with pytest.raises(ValueError, match="not in the alphabet"):
        a.encode("GAX")
    with pytest.raises(ValueError, match="one length"):
        a.encode(["GA", "GAT"])
    with pytest.raises(ValueError, match="distinct"):
        Alphabet("AA")


def test_as_positions_accepts_ints_ranges_and_masks():
    assert as_positions([3, 0], 4, "keep").tolist() == [0, 3]
    assert as_positions(range(1, 3), 4, "keep").tolist() == [1, 2]
    assert as_positions(np.array([True, False, True]), 3, "keep").tolist() == [0, 2]
    with pytest.raises(ValueError, match="repeated"):
        as_positions([1, 1], 4, "keep")
    with pytest.raises(ValueError, match="must lie in 0..3"):
        as_positions([4], 4, "keep")
