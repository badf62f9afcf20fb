"""The shared validators: what each accepts is exactly its rule, and every refusal names the argument."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab._validation import (
    MAX_ELEMENTS,
    InvalidTypeError,
    ensure_array,
    ensure_bool,
    ensure_callable,
    ensure_choice,
    ensure_int,
    ensure_mask_table,
    ensure_probability,
    ensure_real,
    ensure_rng,
    ensure_size,
    ensure_str,
    ensure_tokens,
    positive_int,
    subset_table_length,
)

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.complex_numbers(max_magnitude=10),
    st.lists(st.integers(-3, 3), max_size=3),
    st.sampled_from([np.int64(3), np.float64(2.0), np.float32(2.5), np.bool_(True), np.array(4), object()]),
)


def _is_whole(value) -> bool:
    """An independent statement of ensure_int's rule (numbers.Integral minus bools, or a whole finite float)."""
    if type(value) in (bool, np.bool_):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and math.isfinite(value) and value == math.floor(value)


@given(ANYTHING, st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.integers(-5, 5)))
def test_ensure_int_accepts_exactly_whole_numbers_in_range(value, minimum, maximum):
    expected_ok = _is_whole(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if expected_ok:
        out = ensure_int(value, "n", minimum=minimum, maximum=maximum)
        assert type(out) is int and out == value
    else:
        with pytest.raises(ValueError, match=r"^`n` must be (a|an) .*\(got "):
            ensure_int(value, "n", minimum=minimum, maximum=maximum)


def test_ensure_int_types_and_messages():
    with pytest.raises(InvalidTypeError, match=r"`n` must be an integer \(got 2.7\)"):
        ensure_int(2.7, "n")
    with pytest.raises(TypeError):  # also a TypeError
        ensure_int(True, "n")
    with pytest.raises(ValueError, match=r"`n` must be an integer in \[1, 3\] \(got 4\)"):
        ensure_int(4, "n", minimum=1, maximum=3)
    with pytest.raises(InvalidTypeError, match="got 2.0"):
        ensure_int(2.0, "n", integral_floats=False)


def test_positive_int_keeps_its_rule_and_messages():
    assert positive_int(np.int64(3), "k") == 3
    for bad in (0, -1, True, 2.0, "3", None):
        with pytest.raises(ValueError, match="`k` must be a positive integer"):
            positive_int(bad, "k")
    with pytest.raises(ValueError, match=r"`seed` must be an integer ≥ 0 \(got -1\)"):
        positive_int(-1, "seed", minimum=0)


@given(ANYTHING, st.booleans(), st.booleans(), st.booleans())
def test_ensure_real_accepts_exactly_reals_in_the_interval(value, lo_open, hi_open, finite):
    lo, hi = -1.0, 2.0
    is_real = type(value) not in (bool, np.bool_) and isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, np.ndarray):
        is_real = True
    x = float(value) if is_real else math.nan
    inside = (lo < x or (not lo_open and lo == x)) and (x < hi or (not hi_open and x == hi))
    if is_real and inside:
        assert ensure_real(value, "t", lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, finite=finite) == x
    else:
        with pytest.raises(ValueError, match=r"^`t` must be a (finite )?real number in"):
            ensure_real(value, "t", lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, finite=finite)


def test_ensure_real_infinities_nan_and_messages():
    assert ensure_real(math.inf, "s", lo=0, finite=False) == math.inf
    assert ensure_real(Fraction(1, 4), "s") == 0.25
    assert ensure_real(10**400, "s", finite=False) == math.inf
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError, match=r"`s` must be a finite real number ≥ 0"):
            ensure_real(bad, "s", lo=0)
    with pytest.raises(ValueError, match=r"`s` must be a real number ≥ 0 \(got nan\)"):
        ensure_real(math.nan, "s", lo=0, finite=False)
    with pytest.raises(ValueError, match=r"`upper` must be a finite real number in \(0, 1\] \(got 0.0\)"):
        ensure_real(0.0, "upper", lo=0, hi=1, lo_open=True)
    with pytest.raises(InvalidTypeError):
        ensure_real(1j, "s")
    assert ensure_probability(np.float32(0.5), "lam") == 0.5
    with pytest.raises(ValueError, match=r"\[0, 1\) \(got 1.0\)"):
        ensure_probability(1.0, "lam", hi_open=True)


def test_ensure_bool_callable_str():
    assert ensure_bool(np.False_, "b") is False
    for bad in (0, 1, "True", None):
        with pytest.raises(InvalidTypeError, match="`b` must be True or False"):
            ensure_bool(bad, "b")
    assert ensure_callable(len, "fn") is len
    with pytest.raises(InvalidTypeError, match="`fn` must be callable"):
        ensure_callable("len", "fn")
    assert ensure_str("", "s", allow_empty=True) == ""
    with pytest.raises(ValueError, match=r"`s` 'a\\ud800' holds a lone surrogate \(U\+D800\)"):
        ensure_str("a\ud800", "s")
    with pytest.raises(InvalidTypeError, match="`s` must be a non-empty string"):
        ensure_str(b"abc", "s")


def test_ensure_array_kinds_shapes_and_values():
    assert ensure_array([1, 2], "a").dtype == np.float64
    assert ensure_array([], "a", dtype=int).dtype == np.int64
    assert ensure_array(np.zeros((2, 3)), "a", shape=(None, 3)).shape == (2, 3)
    cases = [
        ("abc", {}, InvalidTypeError, "must be an array of real numbers"),
        ([[1, 2], [3]], {}, InvalidTypeError, "must be an array of real numbers"),
        ([True, False], {}, InvalidTypeError, "dtype bool"),
        ([1j], {}, InvalidTypeError, "dtype complex128"),
        ([1.5], {"dtype": int}, InvalidTypeError, "must be an array of integers"),
        ([1, 2], {"ndim": 2}, ValueError, r"must have 2 axes \(got shape \(2,\)\)"),
        ([1, 2], {"shape": (3,)}, ValueError, r"must have shape \(3,\) \(got shape \(2,\)\)"),
        (np.zeros((2, 2)), {"shape": (None, 3)}, ValueError, r"shape \(any, 3\)"),
        ([], {"allow_empty": False}, ValueError, "must not be empty"),
        ([0.0, np.nan], {}, ValueError, r"must not contain NaN \(entry \(1,\) is nan\)"),
        ([0.0, np.inf], {"finite": True}, ValueError, r"must be finite \(entry \(1,\) is inf\)"),
        ([0.5, -0.1], {"lo": 0}, ValueError, r"entries must be ≥ 0 \(entry \(1,\) is -0.1\)"),
        ([[0.5], [1.5]], {"hi": 1}, ValueError, r"entries must be ≤ 1 \(entry \(1, 0\) is 1.5\)"),
    ]
    for value, options, error, message in cases:
        with pytest.raises(error, match=message):
            ensure_array(value, "a", **options)
    assert ensure_array([np.inf], "a")[0] == np.inf  # infinities pass unless `finite`


def test_ensure_tokens():
    assert ensure_tokens([[0, 4], [3, 1]], 4, 2, allow_mask=True).dtype == np.int64
    cases = [
        ([0, 4], {}, r"`x` tokens must be clean symbols in 0..3 \(got 4 at position 1; 4 is the mask id\)"),
        ([[0, 5]], {"allow_mask": True}, r"symbols or the mask id in 0..4 \(got 5 at position \(0, 1\)\)"),
        ([-1, 0], {}, r"\(got -1 at position 0\)"),
        ([0, 1, 2], {"length": 2}, r"`x` must have shape \(2,\) or \(B, 2\) \(got shape \(3,\)\)"),
        (np.zeros((0, 2), int), {"length": 2}, r"at least one sequence"),
        ([0.0, 1.0], {}, r"array of integers"),
        ([[[0]]], {}, r"1 or 2 axes"),
    ]
    for value, options, message in cases:
        with pytest.raises(ValueError, match=message):
            ensure_tokens(value, 4, **options)


def test_ensure_choice_is_type_exact():
    assert ensure_choice("a", "m", ("a", "b")) == "a"
    for bad in ("c", None, ["a"], np.array("a", dtype=object), 1):
        with pytest.raises(ValueError, match=r"`m` must be one of \['a', 'b'\]"):
            ensure_choice(bad, "m", ("a", "b"))
    with pytest.raises(ValueError):
        ensure_choice(True, "m", (1, 2))


def test_ensure_mask_table():
    A = ensure_mask_table([[0.0, 1.0, np.inf, 2.0]])
    assert A.shape == (1, 4) and A.dtype == np.float64
    cases = [
        ([0.0, 1.0, 2.0], {}, r"`A` must have 2\*\*n entries on its last axis, n ≥ 0 \(got 3\)"),
        ([0.0, np.nan], {}, r"must not contain NaN"),
        ([0.0, -np.inf], {}, r"must not contain -inf"),
        ([1.0, 2.0], {}, r"`A\[..., 0\]` \(the empty mask\) must be 0"),
        ([[0.0, 1.0]], {"ndim": 1}, r"`A` must be one table \(2\*\*n,\) here \(got shape \(1, 2\)\)"),
        ([[[0.0]]], {}, r"`A` must be \(2\*\*n,\) or \(B, 2\*\*n\) \(got shape \(1, 1, 1\)\)"),
        ([0.0], {"min_length": 1}, r"n ≥ 1 \(got 1\)"),
    ]
    for value, options, message in cases:
        with pytest.raises(ValueError, match=message):
            ensure_mask_table(value, **options)
    assert subset_table_length(1) == 0


def test_ensure_rng_and_size():
    a, b = ensure_rng(7), np.random.default_rng(7)
    assert a.integers(1 << 30) == b.integers(1 << 30)
    g = np.random.default_rng(1)
    assert ensure_rng(g) is g
    for bad in (1.5, "seed", True, -3, object()):
        with pytest.raises(ValueError, match="`rng` must be None, a non-negative integer seed"):
            ensure_rng(bad)
    assert ensure_size(MAX_ELEMENTS, "t") == MAX_ELEMENTS
    with pytest.raises(ValueError, match=r"^t would hold 1.1e\+09 entries, above the limit"):
        ensure_size(MAX_ELEMENTS + 1, "t")
