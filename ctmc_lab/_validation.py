"""Validators and tolerances shared by every layer.

Each validator returns the checked value in canonical form (an ``int``, a ``float``, an array of
the right dtype) or raises one line naming the argument in backticks, the rule it breaks and the
value it got, which the command line prints as its ``error:`` message (exit status 2)::

    `mask_level` must be a real number in [0, 1] (got 1.5)

A value of the wrong kind (a string where a number is meant) raises :class:`InvalidTypeError`,
which is both a ``TypeError`` (what Python raises for a wrong type) and a ``ValueError`` (what
every front end catches as bad input); a value of the right kind outside its range raises
``ValueError``. Public functions validate once, at their boundary, and then trust their arrays.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "SUM_TOLERANCE",
    "MAX_ELEMENTS",
    "InvalidTypeError",
    "positive_int",
    "subset_table_length",
    "ensure_bool",
    "ensure_int",
    "ensure_real",
    "ensure_probability",
    "ensure_array",
    "ensure_tokens",
    "ensure_choice",
    "ensure_mask_table",
    "ensure_callable",
    "ensure_str",
    "ensure_rng",
    "ensure_size",
    "lone_surrogate",
    "power",
]

#: Tolerance on a sum that must be 1 (a distribution's probabilities, a transition row, a
#: denoiser's masked-position row): DESIGN.md's "a sum off 1 by more than 1e-9 is refused".
#: Also the slack under which a negative KL or variance is float rounding, clamped to 0.
SUM_TOLERANCE = 1e-9

#: Largest number of elements an array built from a user's size argument may have (8 GiB of
#: float64): larger requests are refused by :func:`ensure_size` before anything is allocated.
MAX_ELEMENTS = 1 << 30


class InvalidTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError`` that is also a ``ValueError``.

    Callers that catch ``ValueError`` for bad input (the command line) catch it too.
    """


def _got(value) -> str:
    """A short description of ``value`` for a message: its repr, or an array's shape and dtype."""
    if isinstance(value, np.ndarray) and value.size > 6:
        return f"an array of shape {value.shape}, dtype {value.dtype}"
    text = " ".join(repr(value).split())  # one line
    if len(text) > 60:
        text = f"{text[:57]}..."
    return text


def _is_integer(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_rule(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum == 1:
        return "a positive integer"
    if minimum is not None:
        return f"an integer ≥ {minimum}"
    if maximum is not None:
        return f"an integer ≤ {maximum}"
    return "an integer"


def ensure_int(
    value, name: str, *, minimum: int | None = None, maximum: int | None = None, integral_floats=True
) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (either bound optional).

    Accepts Python and NumPy integers and, with ``integral_floats`` (default), floats that are
    whole numbers (``2.0``, as a JSON reader gives them). Refuses bools, non-integral floats
    such as 2.7, NaN, infinities, strings and everything else.

    Examples
    --------
    >>> ensure_int(3.0, "n", minimum=1)
    3
    >>> ensure_int(2.7, "n")
    Traceback (most recent call last):
    ...
    ctmc_lab._validation.InvalidTypeError: `n` must be an integer (got 2.7)
    >>> ensure_int(True, "n")
    Traceback (most recent call last):
    ...
    ctmc_lab._validation.InvalidTypeError: `n` must be an integer (got True)
    """
    rule = _int_rule(minimum, maximum)
    if _is_integer(value):
        out = int(value)
    elif (
        integral_floats
        and isinstance(value, (float, np.floating))
        and math.isfinite(value)
        and float(value).is_integer()
    ):
        out = int(value)
    else:
        raise InvalidTypeError(f"`{name}` must be {rule} (got {_got(value)})")
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise ValueError(f"`{name}` must be {rule} (got {_got(value)})")
    return out


def positive_int(value, name: str, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` ≥ ``minimum``; bools, floats and strings are refused.

    :func:`ensure_int` without integral floats: a count that a program passes, not a file.

    Examples
    --------
    >>> positive_int(3, "n_samples")
    3
    >>> positive_int(0, "n_samples")
    Traceback (most recent call last):
    ...
    ValueError: `n_samples` must be a positive integer (got 0)
    """
    return ensure_int(value, name, minimum=minimum, integral_floats=False)


def ensure_bool(value, name: str) -> bool:
    """``value`` as a ``bool``; only ``True``/``False`` (and NumPy's) are accepted, never 0, 1 or a string.

    Examples
    --------
    >>> ensure_bool(np.True_, "normalize")
    True
    >>> ensure_bool("no", "normalize")
    Traceback (most recent call last):
    ...
    ctmc_lab._validation.InvalidTypeError: `normalize` must be True or False (got 'no')
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise InvalidTypeError(f"`{name}` must be True or False (got {_got(value)})")


def _interval(lo, hi, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '≥'} {lo:g}"
    if hi is not None:
        return f" {'<' if hi_open else '≤'} {hi:g}"
    return ""


def ensure_real(
    value,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = True,
) -> float:
    """``value`` as a ``float`` in the interval given by ``lo``, ``hi`` (closed unless ``*_open``).

    Accepts Python and NumPy reals and 0-d real arrays; refuses bools, complex numbers,
    strings and NaN always, and infinities when ``finite``.

    Examples
    --------
    >>> ensure_real(1, "upper", lo=0, hi=1, lo_open=True)
    1.0
    >>> ensure_real(float("nan"), "s", lo=0)
    Traceback (most recent call last):
    ...
    ValueError: `s` must be a finite real number ≥ 0 (got nan)
    """
    rule = f"{'a finite' if finite else 'a'} real number{_interval(lo, hi, lo_open, hi_open)}"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"`{name}` must be {rule} (got {_got(value)})")
    try:
        out = float(value)
    except OverflowError:  # an int beyond float64
        out = math.inf if value > 0 else -math.inf
    bad = (
        math.isnan(out)
        or (finite and math.isinf(out))
        or (lo is not None and (out < lo or (lo_open and out == lo)))
        or (hi is not None and (out > hi or (hi_open and out == hi)))
    )
    if bad:
        raise ValueError(f"`{name}` must be {rule} (got {_got(value)})")
    return out


def ensure_probability(value, name: str, *, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a ``float`` in [0, 1] (ends excluded with ``lo_open``/``hi_open``); see :func:`ensure_real`.

    Examples
    --------
    >>> ensure_probability(-0.1, "mask_level")
    Traceback (most recent call last):
    ...
    ValueError: `mask_level` must be a finite real number in [0, 1] (got -0.1)
    """
    return ensure_real(value, name, lo=0.0, hi=1.0, lo_open=lo_open, hi_open=hi_open)


_KINDS = {float: "fiu", int: "iu", bool: "b"}
_KIND_WORDS = {float: "real numbers", int: "integers", bool: "booleans"}


def ensure_array(
    value,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: type = float,
    finite: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    allow_empty: bool = True,
) -> np.ndarray:
    """``value`` as an array of ``dtype`` (``float``, ``int`` or ``bool``), checked for shape and values.

    Parameters
    ----------
    value : array-like
    name : str
        The argument's name, for the message.
    ndim : int or sequence of int, optional
        The allowed numbers of axes.
    shape : sequence of int or None, optional
        The required shape; ``None`` in a slot accepts any length there.
    dtype : {float, int, bool}
        ``float`` accepts real and integer input (not bools, complex numbers or strings), ``int``
        integer input only, ``bool`` booleans only. The result has dtype float64, int64 or bool.
    finite : bool
        Refuse ``±inf`` as well; NaN is refused in every float array.
    lo, hi : float, optional
        Closed bounds on every entry.
    allow_empty : bool
        Whether an array with no entries is accepted.

    Examples
    --------
    >>> ensure_array([[0.5, 0.5]], "probs", ndim=2).shape
    (1, 2)
    >>> ensure_array([0.5, float("nan")], "probs")
    Traceback (most recent call last):
    ...
    ValueError: `probs` must not contain NaN (entry (1,) is nan)
    """
    kind = f"an array of {_KIND_WORDS[dtype]}"
    if isinstance(value, (str, bytes)):
        raise InvalidTypeError(f"`{name}` must be {kind} (got {_got(value)})")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged nested lists, objects NumPy cannot hold
        raise InvalidTypeError(f"`{name}` must be {kind} (got {_got(value)})") from None
    # np.asarray([]) is float64: an empty list is an empty array of any kind.
    if arr.dtype.kind not in _KINDS[dtype] and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise InvalidTypeError(f"`{name}` must be {kind} (got {_got(value)}, dtype {arr.dtype})")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(map(str, allowed)) if len(allowed) <= 3 else f"{min(allowed)} to {max(allowed)}"
            raise ValueError(f"`{name}` must have {want} axes (got shape {arr.shape})")
    if shape is not None:
        shape = tuple(shape)
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = ", ".join("any" if s is None else str(s) for s in shape)
            want = f"({want},)" if len(shape) == 1 else f"({want})"
            raise ValueError(f"`{name}` must have shape {want} (got shape {arr.shape})")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"`{name}` must not be empty (got shape {arr.shape})")
    arr = arr.astype({float: np.float64, int: np.int64, bool: np.bool_}[dtype], copy=False)
    if dtype is float and arr.size:
        bad = np.isnan(arr)
        if bad.any():
            raise ValueError(f"`{name}` must not contain NaN (entry {_where(bad)} is nan)")
        bad = np.isinf(arr) if finite else bad
        if bad.any():
            raise ValueError(f"`{name}` must be finite (entry {_where(bad)} is {arr[_where(bad)]})")
    if arr.size and lo is not None and arr.min() < lo:
        at = _where(arr == arr.min())
        raise ValueError(f"`{name}` entries must be ≥ {lo:g} (entry {at} is {arr[at]})")
    if arr.size and hi is not None and arr.max() > hi:
        at = _where(arr == arr.max())
        raise ValueError(f"`{name}` entries must be ≤ {hi:g} (entry {at} is {arr[at]})")
    return arr


def _where(flags: np.ndarray) -> tuple:
    """Index of the first True entry of ``flags`` (``()`` for a 0-d array)."""
    return tuple(int(i) for i in np.argwhere(flags)[0]) if flags.ndim else ()


def ensure_tokens(
    x,
    n_tokens: int,
    length: int | None = None,
    *,
    allow_mask: bool = False,
    name: str = "x",
    ndim=(1, 2),
    allow_empty: bool = False,
) -> np.ndarray:
    """``x`` as an int64 array of tokens: sequences on the last axis, symbols in ``0..N-1``.

    Parameters
    ----------
    x : array-like of int
    n_tokens : int
        N; the mask id is N.
    length : int, optional
        L, the required length of the last axis.
    allow_mask : bool
        Accept the mask id N as well (a partially masked input).
    name : str
        The argument's name, for the message.
    ndim : int or sequence of int
        The allowed numbers of axes (default one sequence or a batch).
    allow_empty : bool
        Accept a batch of no sequences (``(0, L)``).

    Raises
    ------
    ValueError
        Naming ``name``: non-integer tokens, a wrong shape, no sequence at all, or a token outside
        the alphabet (the mask id where clean tokens are required).

    Examples
    --------
    >>> ensure_tokens([[0, 4]], 4, 2, allow_mask=True).tolist()
    [[0, 4]]
    >>> ensure_tokens([0, 4], 4)
    Traceback (most recent call last):
    ...
    ValueError: `x` tokens must be clean symbols in 0..3 (got 4 at position 1; 4 is the mask id)
    """
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
    if length is not None:
        length = ensure_int(length, "length", minimum=1)
    arr = ensure_array(x, name, ndim=ndim, dtype=int)
    if length is not None and (arr.ndim == 0 or arr.shape[-1] != length):
        shapes = {1: f"({length},)", 2: f"(B, {length})"}
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        want = " or ".join(shapes[d] for d in allowed) if set(allowed) <= {1, 2} else f"(..., {length})"
        raise ValueError(f"`{name}` must have shape {want} (got shape {arr.shape})")
    if arr.size == 0:
        if allow_empty and arr.ndim > 1 and arr.shape[-1] > 0:
            return arr
        raise ValueError(f"`{name}` must hold at least one sequence of at least one token (got shape {arr.shape})")
    top = n_tokens if allow_mask else n_tokens - 1
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > top:
        bad = int(lo) if lo < 0 else int(hi)
        at = _where(arr == bad)
        at = at[0] if len(at) == 1 else at
        what = "symbols or the mask id" if allow_mask else "clean symbols"
        note = f"; {n_tokens} is the mask id" if bad == n_tokens and not allow_mask else ""
        raise ValueError(f"`{name}` tokens must be {what} in 0..{top} (got {bad} at position {at}{note})")
    return arr


def ensure_choice(value, name: str, choices: Iterable):
    """``value`` if it is one of ``choices`` (of the same type: the string ``"1"`` is not the choice 1).

    Examples
    --------
    >>> ensure_choice("gth", "method", ("auto", "gth", "eig"))
    'gth'
    >>> ensure_choice("lu", "method", ("auto", "gth", "eig"))
    Traceback (most recent call last):
    ...
    ValueError: `method` must be one of ['auto', 'gth', 'eig'] (got 'lu')
    """
    options = list(choices)
    if any(
        isinstance(value, type(option)) and isinstance(value, bool) == isinstance(option, bool) and value == option
        for option in options
    ):
        return value
    raise ValueError(f"`{name}` must be one of {options} (got {_got(value)})")


def subset_table_length(n_entries: int, name: str = "A", *, minimum: int = 0) -> int:
    """L for a table indexed by the 2**L subsets (bitmasks) of ``[L]``.

    Examples
    --------
    >>> subset_table_length(8)
    3
    >>> subset_table_length(6)
    Traceback (most recent call last):
    ...
    ValueError: `A` must have 2**n entries on its last axis, n ≥ 0 (got 6)
    """
    n_entries = ensure_int(n_entries, "n_entries")
    length = n_entries.bit_length() - 1
    if n_entries < 1 or 1 << length != n_entries or length < minimum:
        raise ValueError(f"`{name}` must have 2**n entries on its last axis, n ≥ {minimum} (got {n_entries})")
    return length


def ensure_mask_table(A, name: str = "A", *, ndim: int | Sequence[int] = (1, 2), min_length: int = 0) -> np.ndarray:
    """``A`` as a float table of A(M) by mask bitmask: ``(2**n,)`` for one sequence, ``(B, 2**n)`` for a batch.

    A(M) is the optimal (or a model's) DCE of the mask M (``docs/theory.md`` §3.5); ``+inf``
    (a conditional of probability 0) is allowed. Refused: NaN, ``-inf``, a last axis that is not
    2**n long with n ≥ ``min_length``, and a non-zero A(∅) (the empty mask predicts nothing).

    Examples
    --------
    >>> ensure_mask_table([0.0, 1.0, 2.0, 2.5]).shape
    (4,)
    >>> ensure_mask_table([[0.0, 1.0]], ndim=1)
    Traceback (most recent call last):
    ...
    ValueError: `A` must be one table (2**n,) here (got shape (1, 2))
    """
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    A = ensure_array(A, name)
    if A.ndim not in allowed:
        want = {(1,): "one table (2**n,) here", (2,): "a batch of tables (B, 2**n) here"}.get(
            allowed, "(2**n,) or (B, 2**n)"
        )
        raise ValueError(f"`{name}` must be {want} (got shape {A.shape})")
    subset_table_length(A.shape[-1], name, minimum=min_length)
    if A.size and (A == -np.inf).any():
        raise ValueError(f"`{name}` must not contain -inf (A(M) is a sum of -log probabilities)")
    if np.any(A[..., 0] != 0):
        raise ValueError(f"`{name}[..., 0]` (the empty mask) must be 0 (got {_got(A[..., 0])})")
    return A


def ensure_callable(value, name: str) -> Callable:
    """``value`` if it is callable.

    Examples
    --------
    >>> ensure_callable(3, "fn")
    Traceback (most recent call last):
    ...
    ctmc_lab._validation.InvalidTypeError: `fn` must be callable (got 3)
    """
    if not callable(value):
        raise InvalidTypeError(f"`{name}` must be callable (got {_got(value)})")
    return value


def ensure_str(value, name: str, *, allow_empty: bool = False) -> str:
    """``value`` if it is a string (non-empty unless ``allow_empty``) of encodable characters.

    A lone surrogate (``"\\ud800"``, which a JSON file can spell) is no character: it cannot be
    printed or written as UTF-8, so it is refused here rather than after half a table is out.

    Examples
    --------
    >>> ensure_str("dna128", "name")
    'dna128'
    >>> ensure_str("", "name")
    Traceback (most recent call last):
    ...
    ValueError: `name` must be a non-empty string (got '')
    """
    rule = "a string" if allow_empty else "a non-empty string"
    if not isinstance(value, str):
        raise InvalidTypeError(f"`{name}` must be {rule} (got {_got(value)})")
    if not value and not allow_empty:
        raise ValueError(f"`{name}` must be {rule} (got '')")
    surrogate = lone_surrogate(value)
    if surrogate is not None:
        raise ValueError(
            f"`{name}` {value!r} holds a lone surrogate (U+{ord(surrogate):04X}), which is not a character"
        )
    return value


def lone_surrogate(text: str) -> str | None:
    """The first lone surrogate code point in ``text`` (not encodable as UTF-8), or None."""
    if not isinstance(text, str):
        raise InvalidTypeError(f"`text` must be a string (got {_got(text)})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return text[err.start]
    return None


def ensure_rng(rng, name: str = "rng") -> np.random.Generator:
    """``np.random.default_rng(rng)`` (SPEC 7: None, a seed, a SeedSequence, a BitGenerator or a Generator).

    Examples
    --------
    >>> bool(ensure_rng(0).integers(10) == np.random.default_rng(0).integers(10))
    True
    >>> ensure_rng(-1)
    Traceback (most recent call last):
    ...
    ValueError: `rng` must be None, a non-negative integer seed, a SeedSequence, a BitGenerator or a Generator (got -1)
    """
    rule = f"`{name}` must be None, a non-negative integer seed, a SeedSequence, a BitGenerator or a Generator"
    if isinstance(rng, (bool, np.bool_, float, np.floating, complex, str, bytes)):
        raise InvalidTypeError(f"{rule} (got {_got(rng)})")
    try:
        return np.random.default_rng(rng)
    except TypeError:
        raise InvalidTypeError(f"{rule} (got {_got(rng)})") from None
    except ValueError:
        raise ValueError(f"{rule} (got {_got(rng)})") from None


def power(base: int, exponent: int) -> int | float:
    """``base ** exponent`` as an int, or ``inf`` when it exceeds 2**64 (the power is then not computed).

    A size argument of 10**30 must be refused at once: ``2 ** 10**30`` would never finish.

    Examples
    --------
    >>> power(4, 8), power(2, 10**30)
    (65536, inf)
    """
    base, exponent = ensure_int(base, "base", minimum=0), ensure_int(exponent, "exponent", minimum=0)
    if exponent * math.log2(max(base, 2)) > 64:
        return math.inf
    return base**exponent


def ensure_size(n_elements, what: str, *, limit: int = MAX_ELEMENTS) -> int:
    """Refuse, before allocating, a table of ``n_elements`` entries above ``limit``.

    ``n_elements`` is an int of any size, or ``inf`` (from :func:`power`).

    Examples
    --------
    >>> ensure_size(4**40, "`n_states` = 4 and `length` = 40: all_sequences")
    Traceback (most recent call last):
    ...
    ValueError: `n_states` = 4 and `length` = 40: all_sequences would hold 1.2e+24 entries, above the limit 1073741824 (8 GiB of float64)
    """
    if not (isinstance(n_elements, float) and n_elements == math.inf):
        n_elements = ensure_int(n_elements, "n_elements", minimum=0)
    if n_elements > limit:
        if n_elements == math.inf:
            size = "more than 2**64"
        elif n_elements < 10**300:
            size = f"{float(n_elements):.2g}"
        else:
            size = f"about 2**{n_elements.bit_length() - 1}"
        raise ValueError(
            f"{what} would hold {size} entries, above the limit {limit} ({limit * 8 / 2**30:g} GiB of float64)"
        )
    return int(n_elements)
