"""How a joint table p0 over V^L is read and checked before it becomes a ``JointDistribution``.

:func:`canonical_table` is the one gate every table passes: tokens in range, probabilities
finite, non-negative, normal floats and summing to 1 (or rescaled), support sorted by its
base-N index with no repeat and no zero row. The readers turn the other spellings of a table
(a ``{sequence: probability}`` mapping, its JSON file, a dense ``(N,) * L`` array, the
enumeration of any source's ``log_prob``) into arrays for that gate, refusing bad input in one
line naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike

import numpy as np

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    ensure_array,
    ensure_bool,
    ensure_callable,
    ensure_int,
    ensure_str,
    lone_surrogate,
    power,
)
from ctmc_lab.io import read_json
from ctmc_lab.sequences import Alphabet, all_sequences, flat_index
from ctmc_lab.sources.base import NormalisationError, check_source


def as_alphabet(alphabet) -> Alphabet | None:
    """``alphabet`` (None, a string of symbols or an :class:`Alphabet`) as an Alphabet or None."""
    return alphabet if alphabet is None or isinstance(alphabet, Alphabet) else Alphabet(alphabet)


def canonical_table(support, probs, n_tokens, alphabet, normalize, name):
    """Validated ``(support, probs, keys, n_tokens, alphabet, name)`` of a joint table.

    The support is sorted by its base-N index ``keys`` (already sorted input is kept as is: an
    enumeration of V^L with 4^12 rows is not copied) and zero-probability rows are dropped; both
    arrays are read-only.
    """
    support = ensure_array(support, "support", dtype=int)
    if support.ndim != 2 or support.shape[0] == 0 or support.shape[1] == 0:
        raise ValueError(f"`support` must be a non-empty (S, L) array of sequences (got shape {support.shape})")
    probs = ensure_array(probs, "probs", shape=(support.shape[0],), finite=True)
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
    normalize = ensure_bool(normalize, "normalize")
    if name is not None:
        name = ensure_str(name, "name")
    if support.min() < 0 or support.max() >= n_tokens:
        raise ValueError(f"`support` tokens must lie in 0..{n_tokens - 1} (got range {support.min()}..{support.max()})")
    length = support.shape[1]
    if length * math.log2(n_tokens) > 62:
        raise ValueError(
            f"`support`: sequences of length {length} over {n_tokens} symbols are too long to index "
            "exactly (N**L must be below 2**62)"
        )
    probs = _normalised(probs, normalize)
    keys = flat_index(support, n_tokens, check=False)  # tokens checked above
    order = slice(None) if np.all(keys[1:] > keys[:-1]) else np.argsort(keys, kind="stable")
    keys = keys[order]
    duplicate = np.flatnonzero(keys[1:] == keys[:-1])
    if duplicate.size:
        raise ValueError(f"`support` has a repeated sequence at row {order[duplicate[0] + 1]}")
    keep = probs[order] > 0
    if keep.all():
        keep = slice(None)
    alphabet = as_alphabet(alphabet)
    if alphabet is not None and alphabet.n_tokens != n_tokens:
        raise ValueError(f"`alphabet` {str(alphabet)!r} has {alphabet.n_tokens} symbols, expected n_tokens={n_tokens}")
    support = support[order][keep].astype(np.int64)
    probs = probs[order][keep].copy()
    support.setflags(write=False)
    probs.setflags(write=False)
    return support, probs, keys[keep], n_tokens, alphabet, name or "custom"


def _normalised(probs: np.ndarray, normalize: bool) -> np.ndarray:
    """``probs`` checked non-negative and normal, summing to 1 (rescaled to it with ``normalize``)."""
    if np.any(probs < 0):
        raise ValueError(f"`probs` must be non-negative (min {probs.min():.3g})")
    total = probs.sum()
    if total <= 0:
        raise ValueError("the support is empty: every probability is 0")
    if normalize:
        probs = probs / total
    elif abs(total - 1.0) > SUM_TOLERANCE:
        raise NormalisationError(f"`probs` must sum to 1 within {SUM_TOLERANCE:g} (sum = {float(total):.12g})")
    subnormal = (probs > 0) & (probs < np.finfo(float).tiny)
    if np.any(subnormal):
        # Subnormal floats carry fewer digits: -log p would be off in its fifth digit at 1e-320.
        raise ValueError(
            f"`probs` must be 0 or at least {np.finfo(float).tiny:.3g}, the smallest normal float "
            f"(row {int(np.argmax(subnormal))} is {probs[subnormal][0]:.3g})"
        )
    return probs


def mapping_table(mapping: Mapping[str, float], alphabet):
    """``(support, probs, alphabet)`` of ``{sequence string: probability}``; the alphabet sorted when None."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(
            "the distribution `mapping` must be a non-empty mapping from sequences to probabilities "
            f"(got {'an empty mapping' if isinstance(mapping, Mapping) else type(mapping).__name__})"
        )
    seqs = list(mapping)
    for s in seqs:
        if not isinstance(s, str) or not s:
            raise ValueError(f"every key of `mapping` must be a non-empty sequence string (got {s!r})")
        if lone_surrogate(s) is not None:
            raise ValueError(
                f"sequence key {s!r} holds a lone surrogate (U+{ord(lone_surrogate(s)):04X}), which is not a "
                "character: every character of a key is one token"
            )
    spaced = next((s for s in seqs if any(ch.isspace() for ch in s)), None)
    if spaced is not None:
        raise ValueError(
            f"sequence {spaced!r} contains whitespace: every character of a key is one token, so "
            "multi-character tokens such as 'AA BB' are not supported (write one symbol per token)"
        )
    alphabet = Alphabet(sorted(set("".join(seqs)))) if alphabet is None else as_alphabet(alphabet)
    values = []
    for s in seqs:
        v = mapping[s]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"the probability of {s!r} must be a number (got {v!r})")
        if not math.isfinite(v):
            raise ValueError(f"the probability of {s!r} must be finite (got {v!r})")
        if v < 0:
            raise ValueError(f"the probability of {s!r} must be non-negative (got {v!r})")
        values.append(float(v))
    return alphabet.encode(seqs), np.array(values), alphabet


def read_mapping(path: str | PathLike) -> dict:
    """The ``{sequence: probability}`` object of a JSON distribution file."""
    mapping = read_json(path, what="distribution file")
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(f"distribution file {str(path)!r} must hold a non-empty JSON object {{sequence: probability}}")
    return mapping


def dense_table(table, alphabet):
    """``(support, probs, n_tokens, alphabet)`` of a dense ``(N,) * L`` table (flat ``(N**L,)`` with ``alphabet``)."""
    table = ensure_array(table, "table", ndim=range(1, 63), allow_empty=False)
    if table.ndim == 1 and alphabet is not None:
        alphabet = as_alphabet(alphabet)
        n = alphabet.n_tokens
        length = round(math.log(table.size, n)) if n > 1 else 1
        if n**length != table.size:
            raise ValueError(f"`table` of size {table.size} is not N**L for N={n}")
        table = table.reshape((n,) * length)
    n = table.shape[0]
    if any(d != n for d in table.shape):
        raise ValueError(f"`table` must have shape (N,)*L (got {table.shape})")
    return all_sequences(n, table.ndim), table.ravel(), n, alphabet


def source_table(source, length, limit: int):
    """``(support, probs, n_tokens, alphabet)`` of ``source`` enumerated over all ``N**L`` sequences.

    ``probs = exp(source.log_prob(V^L))``, refused (never repaired) when ``log_prob`` returns the
    wrong shape, NaN or ``+inf``; ``N**L`` above ``limit`` is refused before anything is built.
    """
    check_source(source, members=("n_tokens", "log_prob"))
    ensure_callable(source.log_prob, "source.log_prob")
    if length is None:
        length = getattr(source, "length", None)
        if length is None:
            raise ValueError(
                f"`length` is required: the source {type(source).__name__} "
                f"{'has no `length` attribute' if not hasattr(source, 'length') else 'covers windows of any length'}"
                " (pass `length=`)"
            )
        length = ensure_int(length, "source.length", minimum=1)
    length = ensure_int(length, "length", minimum=1)
    fixed = getattr(source, "length", None)
    if fixed is not None and fixed != length:
        raise ValueError(f"`length` must be the source's own length {fixed} (got {length})")
    n = ensure_int(source.n_tokens, "source.n_tokens", minimum=1)
    if power(n, length) > limit:
        raise ValueError(
            f"`length` {length}: the source has N**L = {n}**{length} sequences, above the enumeration limit "
            f"{limit} (2**{limit.bit_length() - 1}): too large to materialise as a joint table"
        )
    seqs = all_sequences(n, length)
    log_p = np.asarray(source.log_prob(seqs))
    if log_p.shape != (seqs.shape[0],) or log_p.dtype.kind not in "fiu":
        raise ValueError(
            f"`source.log_prob` must return ({seqs.shape[0]},) real log-probabilities for a ({seqs.shape[0]}, "
            f"{length}) batch (got shape {log_p.shape}, dtype {log_p.dtype})"
        )
    if np.isnan(log_p).any() or (log_p == np.inf).any():
        row = int(np.argmax(np.isnan(log_p) | (log_p == np.inf)))
        raise ValueError(
            f"`source.log_prob` must be -inf or finite (got {log_p[row]} for sequence {seqs[row].tolist()})"
        )
    return seqs, np.exp(log_p), n, getattr(source, "alphabet", None)
