"""Alphabets, encoding, enumeration of V^L, and subsets as bitmasks.

Conventions (``docs/theory.md`` §0):

* symbols are ``0..N-1``; the mask token is ``N`` (the last index);
* a state of ``S^L`` is indexed row-major, position 0 most significant;
* a subset ``U`` of positions ``[L] = {0..L-1}`` is an integer bitmask whose bit ``i``
  (value ``1 << i``) says that position ``i`` belongs to ``U``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ctmc_lab._validation import (
    InvalidTypeError,
    ensure_array,
    ensure_bool,
    ensure_int,
    ensure_size,
    ensure_str,
    ensure_tokens,
    lone_surrogate,
    power,
)

__all__ = [
    "DNA",
    "Alphabet",
    "all_sequences",
    "flat_index",
    "subset_members",
    "popcount",
    "as_positions",
]

#: The infodis ``DNATokenizer`` order, A=0, T=1, G=2, C=3 (``docs/theory.md`` §0).
DNA = "ATGC"


class Alphabet:
    """An ordered alphabet of single-character symbols; the mask id is ``len(alphabet)``.

    Parameters
    ----------
    symbols : str or sequence of str
        The symbols in token order. Each must be one character and distinct.

    Examples
    --------
    >>> a = Alphabet("ATGC")
    >>> a.encode(["GATT"]).tolist()
    [[2, 0, 1, 1]]
    >>> a.decode([2, 0, 1, 4])
    'GAT?'
    """

    MASK_CHAR = "?"

    def __init__(self, symbols: str | Sequence[str]):
        if isinstance(symbols, Alphabet):
            symbols = symbols.symbols
        if not isinstance(symbols, (str, list, tuple, np.ndarray)):
            raise InvalidTypeError(
                f"`alphabet` must be a string or a sequence of single characters (got {type(symbols).__name__})"
            )
        symbols = tuple(symbols)
        if not symbols:
            raise ValueError("`alphabet` must have at least one symbol (got none)")
        bad = [s for s in symbols if not isinstance(s, str) or len(s) != 1 or lone_surrogate(s) is not None]
        if bad:
            raise ValueError(f"`alphabet` symbols must be single characters (got {bad[:3]!r})")
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"`alphabet` symbols must be distinct (got {''.join(symbols)!r})")
        if self.MASK_CHAR in symbols:
            raise ValueError(f"`alphabet` cannot contain {self.MASK_CHAR!r}, the mask character")
        self.symbols = symbols
        self._index = {s: i for i, s in enumerate(symbols)}

    @property
    def n_tokens(self) -> int:
        """N, the number of clean symbols; the mask id is N."""
        return len(self.symbols)

    def __str__(self) -> str:
        return "".join(self.symbols)

    def __repr__(self) -> str:
        return f"Alphabet({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Alphabet) and self.symbols == other.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def encode(
        self, sequences: str | Iterable[str], *, allow_mask: bool = False, name: str = "sequences"
    ) -> np.ndarray:
        """Encode strings of equal length into a ``(B, L)`` int array.

        A single string gives shape ``(L,)``. ``?`` encodes the mask when ``allow_mask``. ``name`` is the
        argument named in an error message (a caller's own, e.g. ``"x0"``).
        """
        allow_mask = ensure_bool(allow_mask, "allow_mask")
        name = ensure_str(name, "name")
        single = isinstance(sequences, str)
        if not single and not isinstance(sequences, Iterable):
            raise InvalidTypeError(f"`{name}` must be a string or an iterable of strings (got {sequences!r})")
        seqs = [sequences] if single else list(sequences)
        if not seqs:
            raise ValueError(f"`{name}` must not be empty")
        for s in seqs:
            ensure_str(s, name)
        lengths = {len(s) for s in seqs}
        if len(lengths) != 1:
            raise ValueError(f"`{name}` must all have one length (got lengths {sorted(lengths)})")
        index = dict(self._index)
        if allow_mask:
            index[self.MASK_CHAR] = self.n_tokens
        out = np.empty((len(seqs), lengths.pop()), dtype=np.int64)
        for b, s in enumerate(seqs):
            try:
                out[b] = [index[ch] for ch in s]
            except KeyError as err:
                raise ValueError(
                    f"`{name}`: symbol {err.args[0]!r} in {s!r} is not in the alphabet {str(self)!r}"
                ) from None
        return out[0] if single else out

    def decode(self, x: np.ndarray | Sequence[int]) -> str | list[str]:
        """Decode a ``(L,)`` or ``(B, L)`` int array of tokens in 0..N; the mask id N decodes to ``?``."""
        x = ensure_tokens(x, self.n_tokens, allow_mask=True)
        table = np.array(list(self.symbols) + [self.MASK_CHAR])
        if x.ndim == 1:
            return "".join(table[x])
        return ["".join(row) for row in table[x]]


def all_sequences(n_states: int, length: int) -> np.ndarray:
    """Every sequence of ``S^L`` in row-major order, as a ``(S**L, L)`` int array.

    Raises
    ------
    ValueError
        For S or L below 1, or ``S**L * L`` above ``ctmc_lab._validation.MAX_ELEMENTS`` (8 GiB of float64).
    """
    n_states = ensure_int(n_states, "n_states", minimum=1)
    length = ensure_int(length, "length", minimum=1)
    ensure_size(power(n_states, length) * length, f"`n_states` = {n_states} and `length` = {length}: all_sequences")
    grid = np.indices((n_states,) * length, dtype=np.int64)
    return grid.reshape(length, -1).T


def flat_index(x: np.ndarray, n_states: int, *, check: bool = True) -> np.ndarray:
    """Row-major index of ``(..., L)`` sequences in ``S^L`` (position 0 most significant).

    Parameters
    ----------
    x : (..., L) int array
        Tokens in ``0..S-1``.
    n_states : int
        S.
    check : bool, default True
        Check that every token lies in ``0..S-1`` (one pass over ``x``). Pass False only for an
        array built from tokens already checked (the library's inner loops).

    Raises
    ------
    ValueError
        For a token outside ``0..S-1`` or ``S**L`` beyond int64 (the index would overflow).
    """
    n_states = ensure_int(n_states, "n_states", minimum=1)
    x = ensure_array(x, "x", dtype=int)
    if x.ndim == 0:
        raise ValueError(f"`x` must hold sequences on its last axis (got a scalar {x[()]})")
    if x.shape[-1] * math.log2(max(n_states, 2)) >= 63:
        raise ValueError(f"`x`: {n_states}**{x.shape[-1]} sequences overflow an int64 index (S**L must be below 2**63)")
    if check and x.size:
        lo, hi = x.min(), x.max()
        if lo < 0 or hi >= n_states:
            raise ValueError(f"`x` tokens must lie in 0..{n_states - 1} (got {lo if lo < 0 else hi})")
    weights = n_states ** np.arange(x.shape[-1] - 1, -1, -1, dtype=np.int64)
    return x @ weights


def subset_members(length: int) -> np.ndarray:
    """Membership table of every subset of ``[L]``: ``out[u, i]`` is bit ``i`` of ``u``.

    Returns
    -------
    (2**L, L) bool array
    """
    length = ensure_int(length, "length", minimum=0, maximum=62)
    ensure_size((1 << length) * max(length, 1), f"`length` = {length}: subset_members")
    u = np.arange(1 << length, dtype=np.int64)
    return ((u[:, None] >> np.arange(length)) & 1).astype(bool)


def popcount(u: np.ndarray | int) -> np.ndarray:
    """Number of set bits of each entry of a non-negative int array (subset sizes)."""
    if isinstance(u, (int, np.integer)) and not isinstance(u, bool) and u >= 1 << 64:
        raise ValueError(f"`u` must be below 2**64 (got {u})")
    u = ensure_array(u, "u", dtype=int)
    if u.size and u.min() < 0:
        raise ValueError(f"`u` must be non-negative bitmasks (got {u.min()})")
    return np.bitwise_count(u.astype(np.uint64)).astype(np.int64)


def as_positions(arg, length: int, name: str) -> np.ndarray:
    """Validate a set of positions of ``[L]``: an iterable of ints, a ``range`` or an ``(L,)`` bool mask.

    Returns
    -------
    (k,) int array
        Sorted, distinct positions.

    Raises
    ------
    ValueError
        Naming ``name``, for out-of-range, repeated or non-integer positions.
    """
    length = ensure_int(length, "length", minimum=0)
    name = ensure_str(name, "name")
    if isinstance(arg, (range, set, frozenset)):
        arg = sorted(arg) if not isinstance(arg, range) else list(arg)
    if isinstance(arg, (str, bytes)) or arg is None:
        raise InvalidTypeError(f"`{name}` must be integer positions or an ({length},) boolean mask (got {arg!r})")
    try:
        arr = np.asarray(arg)
    except (ValueError, TypeError):
        raise InvalidTypeError(
            f"`{name}` must be integer positions or an ({length},) boolean mask (got {arg!r})"
        ) from None
    if arr.dtype == bool:
        if arr.shape != (length,):
            raise ValueError(f"`{name}` as a boolean mask must have shape ({length},) (got {arr.shape})")
        return np.flatnonzero(arr)
    arr = np.atleast_1d(arr)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must be integer positions or an (L,) boolean mask (got {arg!r})")
    if arr.min() < 0 or arr.max() >= length:
        raise ValueError(f"`{name}` positions must lie in 0..{length - 1} (got {arr.min()}..{arr.max()})")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"`{name}` has repeated positions ({arr.tolist()})")
    return np.sort(arr).astype(np.int64)
