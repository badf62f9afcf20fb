"""How a k-th order Markov chain's transition table is read, checked and drawn (``docs/theory.md`` §1.1, App. D.2).

:func:`canonical_table` is the one gate every table passes before it becomes a
:class:`~ctmc_lab.sources.markov.chain.MarkovChain`: an ``(N**k, N)`` array of finite,
non-negative, normal floats whose rows sum to 1 (or are rescaled). :func:`mapping_table` reads
the paper's ``{context: {symbol: probability}}`` format; :func:`softmax_rows`,
:func:`dirichlet_rows` and :func:`tempered_rows` are the random and tempered tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    ensure_array,
    ensure_bool,
    ensure_int,
    ensure_real,
    ensure_rng,
    ensure_size,
    ensure_str,
    lone_surrogate,
    power,
)
from ctmc_lab.sequences import Alphabet, all_sequences, flat_index
from ctmc_lab.sources._joint_build import as_alphabet
from ctmc_lab.sources.base import NormalisationError


def canonical_table(table, order, alphabet, normalize, name):
    """Validated ``(table, order, n_tokens, alphabet, name)``: a read-only copy of the ``(N**k, N)`` table."""
    table = np.array(ensure_array(table, "table"), dtype=float)  # a copy: the chain owns its table
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise ValueError(f"`table` must be a non-empty (N**k, N) array (got shape {table.shape})")
    normalize = ensure_bool(normalize, "normalize")
    if name is not None:
        name = ensure_str(name, "name")
    n_ctx, n = table.shape
    if order is None:
        if n < 2:
            raise ValueError("`order` must be given when the alphabet has one symbol")
        order = round(math.log(n_ctx, n)) if n_ctx > 1 else 0
    order = ensure_int(order, "order")
    if order < 1:
        raise ValueError(f"`order` must be at least 1 (got {order}); an order-0 chain is an i.i.d. product")
    rows = f"{n}**{order}" if order * math.log2(max(n, 2)) > 62 else n**order  # N**k not built past int64
    if rows != n_ctx:
        raise ValueError(f"`table` must have N**k rows: N={n}, k={order} needs {rows} rows (got {n_ctx})")
    if not np.all(np.isfinite(table)):
        bad = np.argwhere(~np.isfinite(table))[0]
        raise ValueError(f"`table` entries must be finite (row {bad[0]}, column {bad[1]} is {table[tuple(bad)]})")
    if np.any(table < 0):
        bad = np.argwhere(table < 0)[0]
        raise ValueError(
            f"`table` entries must be non-negative (row {bad[0]}, column {bad[1]} is {table[tuple(bad)]:.3g})"
        )
    subnormal = (table > 0) & (table < np.finfo(float).tiny)
    if np.any(subnormal):
        bad = np.argwhere(subnormal)[0]
        raise ValueError(
            f"`table` entries must be 0 or at least {np.finfo(float).tiny:.3g}, the smallest normal float "
            f"(row {bad[0]}, column {bad[1]} is {table[tuple(bad)]:.3g})"
        )
    sums = table.sum(axis=1)
    if np.any(sums <= 0):
        raise ValueError(f"`table` row {int(np.argmin(sums))} is all zeros")
    if normalize:
        table = table / sums[:, None]
    elif np.max(np.abs(sums - 1)) > SUM_TOLERANCE:
        row = int(np.argmax(np.abs(sums - 1)))
        raise NormalisationError(
            f"`table` rows must sum to 1 within {SUM_TOLERANCE:g} (row {row} sums to {float(sums[row]):.12g})"
        )
    alphabet = as_alphabet(alphabet)
    if alphabet is not None and alphabet.n_tokens != n:
        raise ValueError(f"`alphabet` {str(alphabet)!r} has {alphabet.n_tokens} symbols, expected N={n}")
    table.setflags(write=False)
    return table, order, n, alphabet, name or "markov"


def mapping_table(mapping: Mapping, alphabet):
    """``(table, order, alphabet)`` of ``{context string (oldest first): {symbol: probability}}``.

    Without ``alphabet`` the token order is the key order of the first row.
    """
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError("the Markov table must be a non-empty mapping {context: {symbol: probability}}")
    for key in mapping:
        if isinstance(key, str) and lone_surrogate(key) is not None:
            raise ValueError(
                f"context key {key!r} holds a lone surrogate (U+{ord(lone_surrogate(key)):04X}), which is not a "
                "character"
            )
        row = mapping[key]
        for symbol in row if isinstance(row, Mapping) else ():
            if isinstance(symbol, str) and lone_surrogate(symbol) is not None:
                raise ValueError(
                    f"symbol key {symbol!r} in the row of context {key!r} holds a lone surrogate "
                    f"(U+{ord(lone_surrogate(symbol)):04X}), which is not a character"
                )
    first = next(iter(mapping.values()))
    if not isinstance(first, Mapping) or not first:
        raise ValueError("each Markov table row must be a non-empty mapping {symbol: probability}")
    alphabet = Alphabet(list(first)) if alphabet is None else as_alphabet(alphabet)
    n = alphabet.n_tokens
    symbols = set(alphabet.symbols)
    lengths = {len(c) for c in mapping if isinstance(c, str)}
    if len(lengths) != 1 or not all(isinstance(c, str) for c in mapping):
        raise ValueError(f"every context must be a string of one length k (got lengths {sorted(lengths)})")
    order = lengths.pop()
    if order < 1:
        raise ValueError("contexts must have at least one symbol")
    # Count before allocating: a long context length asks for N**k rows (16 TiB at
    # N = 4, k = 40), and a table that misses contexts is refused anyway.
    n_contexts = power(n, order)
    if n_contexts == math.inf:
        raise ValueError(f"contexts of length {order} over {n} symbols need {n}**{order} rows: too many for a table")
    if len(mapping) < n_contexts:
        raise ValueError(
            f"the Markov table misses {n_contexts - len(mapping)} of the {n_contexts} contexts of "
            f"length {order} (it has {len(mapping)}); an order-{order} table over {n} symbols needs all"
        )
    table = np.zeros((n**order, n))
    seen = np.zeros(n**order, dtype=bool)
    for ctx, row in mapping.items():
        unknown = sorted(set(ctx) - symbols)
        if unknown:
            raise ValueError(f"context {ctx!r} has symbols {unknown} not in the alphabet {str(alphabet)!r}")
        if not isinstance(row, Mapping):
            raise ValueError(f"the row of context {ctx!r} must be a mapping {{symbol: probability}}")
        extra = sorted(set(row) - symbols)
        if extra:
            raise ValueError(f"the row of context {ctx!r} has symbols {extra} not in the alphabet {str(alphabet)!r}")
        missing = [s for s in alphabet.symbols if s not in row]
        if missing:
            raise ValueError(f"the row of context {ctx!r} misses symbols {missing}")
        for s, v in row.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"P({s!r} | {ctx!r}) must be a number (got {v!r})")
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"P({s!r} | {ctx!r}) must be a finite non-negative number (got {v!r})")
        c = int(flat_index(alphabet.encode(ctx), n))
        table[c] = [float(row[s]) for s in alphabet.symbols]
        seen[c] = True
    absent = np.flatnonzero(~seen)
    if absent.size:
        names = ["".join(alphabet.decode(r)) for r in all_sequences(n, order)[absent[:5]]]
        raise ValueError(
            f"the Markov table misses {absent.size} of the {n**order} contexts of length {order} (e.g. {names})"
        )
    return table, order, alphabet


def table_size(n_tokens, order) -> tuple[int, int]:
    """N ≥ 1 and k ≥ 1 as ints, refusing an ``(N**k, N)`` table above ``MAX_ELEMENTS``."""
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
    order = ensure_int(order, "order", minimum=1)
    ensure_size(
        power(n_tokens, order + 1), f"a transition table of `order` {order} over `n_tokens` = {n_tokens} symbols"
    )
    return n_tokens, order


def softmax_rows(n_tokens, order, temperature, rng) -> tuple[np.ndarray, int, str]:
    """``(table, k, name)`` with rows softmax(U / temperature), U ~ U[0, 1)^N (the paper's recipe, App. D.2)."""
    n_tokens, order = table_size(n_tokens, order)
    temperature = ensure_real(temperature, "temperature", lo=0.0, lo_open=True)
    rng = ensure_rng(rng)
    logits = rng.random((n_tokens**order, n_tokens)) / temperature
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True), order, f"softmax(N={n_tokens}, k={order}, T={temperature})"


def dirichlet_rows(n_tokens, order, alpha, rng) -> tuple[np.ndarray, int, str]:
    """``(table, k, name)`` with rows drawn i.i.d. from Dirichlet(alpha), kept strictly positive."""
    n_tokens, order = table_size(n_tokens, order)
    alpha = ensure_real(alpha, "alpha", lo=0.0, lo_open=True)
    rng = ensure_rng(rng)
    rows = rng.dirichlet(np.full(n_tokens, alpha), size=n_tokens**order)
    # A tiny alpha can round entries to 0; keep the chain strictly positive (irreducible).
    rows = np.maximum(rows, np.finfo(float).tiny)
    return rows / rows.sum(axis=1, keepdims=True), order, f"dirichlet(N={n_tokens}, k={order}, alpha={alpha})"


def tempered_rows(table: np.ndarray, temperature) -> tuple[np.ndarray, float]:
    """Rows P(·|c)^(1/T), renormalised, and T."""
    temperature = ensure_real(temperature, "temperature", lo=0.0, lo_open=True)
    w = table ** (1.0 / temperature)
    return w / w.sum(axis=1, keepdims=True), temperature
