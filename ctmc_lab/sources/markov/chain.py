"""The k-th order Markov chain as a source: validation, constructors, encoding, sampling (``docs/theory.md`` §1.1, §5.4).

A :class:`MarkovChain` of order k over ``V = {0..N-1}`` is a transition table ``P`` of shape
``(N**k, N)``: row ``c`` is the distribution of the next symbol after the context ``c``, a
base-N number with the **oldest** symbol most significant (``"AAGC"`` → ``0·64+0·16+2·4+3``
for DNA = ``ATGC``). Emitting ``v`` from context ``c`` moves the lifted chain to
``c' = (c N + v) mod N**k``.

The exact inference lives beside the chain as pure functions of its table:
:mod:`ctmc_lab.sources.markov.inference` (lifted chain, π, forward–backward) and
:mod:`ctmc_lab.sources.markov.trie` (all masks of a target set at once); the methods here are
thin calls that supply the chain's table and initial context. A chain implements the
:class:`~ctmc_lab.sources.base.Source` protocol for stationary windows of any length;
:meth:`MarkovChain.continuing` gives the source of windows that continue a prompt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cached_property
from os import PathLike

import numpy as np

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    InvalidTypeError,
    ensure_array,
    ensure_bool,
    ensure_choice,
    ensure_int,
    ensure_real,
    ensure_rng,
    ensure_size,
    ensure_str,
    ensure_tokens,
    lone_surrogate,
    power,
)
from ctmc_lab.io import read_json
from ctmc_lab.masks import mask_dce
from ctmc_lab.sequences import DNA, Alphabet, all_sequences, as_positions, flat_index
from ctmc_lab.sources.base import NormalisationError
from ctmc_lab.sources.joint import JointDistribution
from ctmc_lab.sources.markov import inference, trie
from ctmc_lab.sources.markov.inference import ForwardBackward, _log, forward_backward

__all__ = ["MarkovChain", "ContinuedChain", "MarkovDenoiser", "markov4", "MASK_DCE_METHODS"]

#: A-table routes of :meth:`MarkovChain.mask_dce_table`, the first the default.
MASK_DCE_METHODS = ("forward_backward", "subset")


class MarkovChain:
    """A k-th order Markov chain over ``V = {0..N-1}`` (``docs/theory.md`` §1.1, §5.4).

    Parameters
    ----------
    table : (N**k, N) float array
        ``table[c, v] = P(v | c)``, the context ``c`` read base-N with the oldest symbol most
        significant. Rows must be finite, non-negative and sum to 1 within 1e-9.
    order : int, optional
        k. Inferred from the number of rows when omitted (needs N ≥ 2).
    alphabet : str or Alphabet, optional
        Symbols for strings; ``len(alphabet)`` must be N.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of rejecting a row sum off 1.
    name : str, optional

    Examples
    --------
    >>> mk = markov4()
    >>> mk.order, mk.n_tokens, mk.n_contexts
    (4, 4, 256)
    >>> round(float(mk.table[mk.context_index("AAAA"), 3]), 6)     # P(C | AAAA)
    0.779254
    >>> float(abs(mk.stationary @ mk.lifted_matrix() - mk.stationary).max()) < 1e-14
    True
    """

    #: Stationary windows of any length: the sequence length is set by each query.
    length = None
    mask_dce_methods = MASK_DCE_METHODS

    def __init__(self, table, *, order=None, alphabet=None, normalize=False, name=None):
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
        if alphabet is not None and not isinstance(alphabet, Alphabet):
            alphabet = Alphabet(alphabet)
        if alphabet is not None and alphabet.n_tokens != n:
            raise ValueError(f"`alphabet` {str(alphabet)!r} has {alphabet.n_tokens} symbols, expected N={n}")
        table.setflags(write=False)
        self.table = table
        self.order = order
        self.n_tokens = n
        self.alphabet = alphabet
        self.name = name or "markov"

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dict(cls, mapping: Mapping, *, alphabet=None, normalize=False, name=None):
        """Build from ``{context string (oldest first): {symbol: probability}}``.

        This is the format of the paper's ``markov_data_table.json``. Without ``alphabet`` the
        token order is the key order of the first row (``A, T, G, C`` for the paper's file).

        Raises
        ------
        ValueError
            For missing or extra contexts, contexts of unequal length, unknown or missing
            symbols, and non-numeric, negative, non-finite or badly normalised rows.
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
        if alphabet is None:
            alphabet = Alphabet(list(first))
        elif not isinstance(alphabet, Alphabet):
            alphabet = Alphabet(alphabet)
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
            raise ValueError(
                f"contexts of length {order} over {n} symbols need {n}**{order} rows: too many for a table"
            )
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
                raise ValueError(
                    f"the row of context {ctx!r} has symbols {extra} not in the alphabet {str(alphabet)!r}"
                )
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
        return cls(table, order=order, alphabet=alphabet, normalize=normalize, name=name)

    @classmethod
    def from_json(cls, path: str | PathLike, *, alphabet=None, normalize=False, name=None):
        """Read a JSON Markov table in the format of :meth:`from_dict`."""
        mapping = read_json(path, what="Markov table file")
        return cls.from_dict(mapping, alphabet=alphabet, normalize=normalize, name=name or str(path))

    @classmethod
    def from_softmax(cls, n_tokens: int, order: int, *, temperature: float = 0.5, rng=None, alphabet=None):
        """The paper's stated recipe (App. D.2): each row softmax(U / temperature), U ~ U[0, 1)^N.

        Within a row max/min ≤ e^(1/temperature) (e² at 0.5). The released MK4 table was not
        made this way (``docs/theory.md`` §1.1, *Discrepancy*).
        """
        n_tokens, order = _table_size(n_tokens, order)
        temperature = ensure_real(temperature, "temperature", lo=0.0, lo_open=True)
        rng = ensure_rng(rng)
        logits = rng.random((n_tokens**order, n_tokens)) / temperature
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        return cls(
            w / w.sum(axis=1, keepdims=True),
            order=order,
            alphabet=alphabet,
            name=f"softmax(N={n_tokens}, k={order}, T={temperature})",
        )

    @classmethod
    def from_dirichlet(cls, n_tokens: int, order: int, *, alpha: float = 1.0, rng=None, alphabet=None):
        """Rows drawn i.i.d. from Dirichlet(alpha); small alpha gives MK4-like skewed rows."""
        n_tokens, order = _table_size(n_tokens, order)
        alpha = ensure_real(alpha, "alpha", lo=0.0, lo_open=True)
        rng = ensure_rng(rng)
        rows = rng.dirichlet(np.full(n_tokens, alpha), size=n_tokens**order)
        # A tiny alpha can round entries to 0; keep the chain strictly positive (irreducible).
        rows = np.maximum(rows, np.finfo(float).tiny)
        return cls(
            rows / rows.sum(axis=1, keepdims=True),
            order=order,
            alphabet=alphabet,
            name=f"dirichlet(N={n_tokens}, k={order}, alpha={alpha})",
        )

    # ------------------------------------------------------------------- properties
    @property
    def n_contexts(self) -> int:
        """C = N**k, the number of states of the lifted chain."""
        return self.table.shape[0]

    @property
    def mask_id(self) -> int:
        return self.n_tokens

    @cached_property
    def log_table(self) -> np.ndarray:
        """log P(v | c), ``-inf`` for zero entries."""
        return _log(self.table)

    def __repr__(self) -> str:
        return f"MarkovChain(name={self.name!r}, n_tokens={self.n_tokens}, order={self.order})"

    def describe(self) -> dict:
        """The ``distribution`` record of the CLI's JSON output."""
        positive = self.table[self.table > 0]
        return {
            "name": self.name,
            "kind": "markov",
            "alphabet": str(self.alphabet) if self.alphabet is not None else None,
            "n_tokens": self.n_tokens,
            "order": self.order,
            "n_contexts": self.n_contexts,
            "min_transition_probability": float(positive.min()),
            "stationary_entropy_rate": self.entropy_rate(),
        }

    # ------------------------------------------------------------------ encoding
    def encode(self, x, *, allow_mask=False) -> np.ndarray:
        """Strings or int arrays -> validated int array (mask id N allowed with ``allow_mask``)."""
        return self._tokens(x, "x", allow_mask=ensure_bool(allow_mask, "allow_mask"))

    def _tokens(self, x, name: str, *, allow_mask: bool = False, ndim=range(1, 33)) -> np.ndarray:
        """``x`` (strings or ints) as an int64 token array (sequences on the last axis); messages name ``name``."""
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            if self.alphabet is None:
                raise ValueError(f"`{name}`: this chain has no alphabet: pass integer token arrays")
            x = self.alphabet.encode(x, allow_mask=allow_mask, name=name)
        return ensure_tokens(x, self.n_tokens, allow_mask=allow_mask, name=name, ndim=ndim)

    def decode(self, x):
        """Tokens in 0..N as strings; comma-separated integers without an alphabet."""
        if self.alphabet is None:
            x = ensure_tokens(x, self.n_tokens, allow_mask=True)
            return ",".join(map(str, x)) if x.ndim == 1 else [",".join(map(str, r)) for r in x]
        return self.alphabet.decode(x)

    def context_index(self, symbols) -> np.ndarray | int:
        """Index of k-symbol contexts (``(..., k)`` ints or strings), oldest symbol most significant."""
        s = self._tokens(symbols, "symbols")
        if s.shape[-1] != self.order:
            raise ValueError(f"`symbols` must hold contexts of k={self.order} symbols (got {s.shape[-1]})")
        out = flat_index(s, self.n_tokens)
        return int(out) if np.ndim(out) == 0 else out

    def _initial(self, start) -> np.ndarray:
        """α_0: π for ``start=None``, else the point mass on the last k symbols of ``start``."""
        if start is None:
            return self.stationary
        s = self._tokens(start, "start")
        if s.ndim != 1 or s.shape[0] < self.order:
            raise ValueError(f"`start` must be one sequence of at least k={self.order} symbols (got shape {s.shape})")
        out = np.zeros(self.n_contexts)
        out[flat_index(s[-self.order :], self.n_tokens)] = 1.0
        return out

    # ------------------------------------------------------------- lifted chain
    def lifted_matrix(self) -> np.ndarray:
        """Dense ``(C, C)`` lifted transition matrix (:func:`~ctmc_lab.sources.markov.inference.lifted_matrix`)."""
        return inference.lifted_matrix(self.table)

    def is_irreducible(self) -> bool:
        """Whether the lifted chain is one strongly connected class (so π is unique)."""
        return inference.is_irreducible(self.table)

    @cached_property
    def stationary(self) -> np.ndarray:
        """π over contexts: the left eigenvector of the lifted matrix for eigenvalue 1 (§5.4).

        Computed by :meth:`stationary_distribution` with its default method.

        Raises
        ------
        ValueError
            If the lifted chain is not irreducible (π would not be unique).
        """
        pi = self.stationary_distribution()
        pi.setflags(write=False)
        return pi

    def stationary_distribution(self, *, method: str = "auto") -> np.ndarray:
        """π with ``π T = π`` (:func:`~ctmc_lab.sources.markov.inference.stationary_distribution`)."""
        symbols = str(self.alphabet) if self.alphabet is not None else None
        return inference.stationary_distribution(self.table, method=method, name=self.name, symbols=symbols)

    def entropy_rate(self) -> float:
        """Σ_c π(c) H(P(·|c)) in nats per symbol (stationary)."""
        return inference.entropy_rate(self.table, self.stationary)

    def tempered(self, temperature: float) -> MarkovChain:
        """Rows P(·|c)^(1/T), renormalised: T > 1 flattens the chain (a shifted source, Fig. 2).

        Examples
        --------
        >>> mk = markov4()
        >>> bool(np.allclose(mk.tempered(1.0).table, mk.table))
        True
        """
        temperature = ensure_real(temperature, "temperature", lo=0.0, lo_open=True)
        w = self.table ** (1.0 / temperature)
        return MarkovChain(
            w / w.sum(axis=1, keepdims=True),
            order=self.order,
            alphabet=self.alphabet,
            name=f"{self.name}, tempered T={temperature}",
        )

    # ------------------------------------------------------------------- sampling
    def sample(self, length: int, *, n: int | None = None, start=None, rng=None) -> np.ndarray:
        """Seeded sample windows.

        Parameters
        ----------
        length : int
            L.
        n : int, optional
            Number of windows; the result is ``(n, L)``, or ``(L,)`` when ``n`` is None.
        start : sequence or (n, P) array, optional
            None: stationary windows (pre-context drawn from π). Otherwise the windows continue
            this prompt (its last k symbols are the initial context); a 2-D array gives one
            prompt per window (then ``n`` defaults to its number of rows).
        rng : seed or numpy.random.Generator
            Normalised by ``np.random.default_rng`` (SPEC 7).
        """
        rng = ensure_rng(rng)
        length = ensure_int(length, "length", minimum=0)
        starts = None if start is None else self._tokens(start, "start", ndim=(1, 2))
        if starts is not None and starts.ndim == 2:
            if starts.shape[1] < self.order:
                raise ValueError(f"`start` rows must have at least k={self.order} symbols (got {starts.shape[1]})")
            if n is not None and ensure_int(n, "n") != starts.shape[0]:
                raise ValueError(f"`n`={n} does not match the {starts.shape[0]} rows of `start`")
            count = starts.shape[0]
            ctx = flat_index(starts[:, -self.order :], self.n_tokens)
        else:
            count = 1 if n is None else ensure_int(n, "n", minimum=0)
            ensure_size(count * length, f"`n` = {count} windows of `length` {length}")
            ctx = rng.choice(self.n_contexts, size=count, p=self._initial(starts))
        cdf = np.cumsum(self.table, axis=1)
        # The last symbol of positive probability closes the cdf at exactly 1, so a draw
        # u < 1 never selects a zero-probability symbol because of rounding.
        last = self.n_tokens - 1 - np.argmax(self.table[:, ::-1] > 0, axis=1)
        cdf[np.arange(self.n_tokens) >= last[:, None]] = 1.0
        out = np.empty((count, length), dtype=np.int64)
        u = rng.random((count, length))
        for j in range(length):  # sequential by nature; vectorised over the n windows
            v = (u[:, j, None] >= cdf[ctx]).sum(axis=1)
            out[:, j] = v
            ctx = (ctx * self.n_tokens + v) % self.n_contexts
        return out[0] if n is None and (starts is None or starts.ndim == 1) else out

    # ------------------------------------------------------------ probabilities
    def log_prob(self, x, *, start=None):
        """Exact log-probability of clean windows.

        ``start=None``: ``log π(x_{0:k}) + Σ_{j≥k} log P(x_j | x_{j-k:j})`` (a marginal of π when
        ``L < k``). ``start=prompt``: ``Σ_j log P(x_j | context_j)``, the chain rule from the
        prompt's last k symbols; this is the true conditional NLL of Fig. 1b (§1.1).

        Returns a float for one window, a ``(B,)`` array for a batch; ``-inf`` (never NaN) for
        a window of probability 0.
        """
        x = self._tokens(x, "x", ndim=(1, 2))
        single = x.ndim == 1
        x = np.atleast_2d(x)
        k, n = self.order, self.n_tokens
        if start is not None:
            s = self._tokens(start, "start")
            if s.ndim != 1 or s.shape[0] < k:
                raise ValueError(f"`start` must be one sequence of at least k={k} symbols (got shape {s.shape})")
            full = np.concatenate([np.broadcast_to(s[-k:], (x.shape[0], k)), x], axis=1)
            ctx = flat_index(np.lib.stride_tricks.sliding_window_view(full[:, :-1], k, axis=1), n)
            out = self.log_table[ctx, x].sum(axis=1)
        elif x.shape[1] >= k:
            out = _log(self.stationary)[flat_index(x[:, :k], n)]
            if x.shape[1] > k:
                ctx = flat_index(np.lib.stride_tricks.sliding_window_view(x[:, :-1], k, axis=1), n)
                out = out + self.log_table[ctx, x[:, k:]].sum(axis=1)
        else:
            marg = self.stationary.reshape(n ** x.shape[1], -1).sum(axis=1)
            out = _log(marg)[flat_index(x, n)]
        return float(out[0]) if single else out

    def nll(self, x, *, start=None):
        """-log p(x) (nats); ``inf`` for a window of probability 0."""
        out = -np.asarray(self.log_prob(x, start=start))
        return float(out) if out.ndim == 0 else out

    def joint(self, length: int, *, start=None) -> JointDistribution:
        """The exact joint over ``V^L`` as a :class:`~ctmc_lab.sources.joint.JointDistribution`.

        Stationary windows by default; with ``start`` the continuation of a prompt. Builds all
        ``N**L`` windows, so it is limited to ``N**L ≤ 2**22``.
        """
        length = ensure_int(length, "length")
        if length < 1 or power(self.n_tokens, length) > 1 << 22:
            raise ValueError(f"`length` must satisfy 1 ≤ L and N**L ≤ 2**22 (got L={length}, N={self.n_tokens})")
        seqs = all_sequences(self.n_tokens, length)
        probs = np.exp(self.log_prob(seqs, start=start))
        tag = "stationary" if start is None else f"start={self.decode(self._tokens(start, 'start')[-self.order :])}"
        return JointDistribution(
            seqs,
            probs,
            n_tokens=self.n_tokens,
            alphabet=self.alphabet,
            normalize=True,
            name=f"{self.name}[L={length}, {tag}]",
        )

    # ------------------------------------------------------------ conditionals
    def _masked_input(self, x) -> np.ndarray:
        return self._tokens(x, "x", allow_mask=True, ndim=2)

    def forward_backward(self, x, *, start=None) -> ForwardBackward:
        """:func:`forward_backward` on ``(B, L)`` masked windows (mask id N)."""
        return forward_backward(self.table, self._masked_input(x), self._initial(start))

    def conditional_log_probs(self, x, *, start=None) -> np.ndarray:
        """The optimal denoiser c*: ``(B, L)`` masked windows -> ``(B, L, N)`` log-probabilities."""
        return self.forward_backward(x, start=start).log_probs

    def log_marginal(self, x, *, start=None) -> np.ndarray:
        """``log P(x^U)`` of the visible tokens of each ``(B, L)`` masked window (forward pass)."""
        return self.forward_backward(x, start=start).log_evidence

    def denoiser(self, length: int, *, start=None) -> MarkovDenoiser:
        """The optimal :class:`~ctmc_lab.sources.denoisers.Denoiser` of length-L windows."""
        return MarkovDenoiser(self, length, start=start)

    # ------------------------------------------------------------ mask tries
    def _roles(self, x, target):
        x = self._tokens(x, "x", allow_mask=True, ndim=1)
        _, is_target = trie.target_roles(x, target, self.n_tokens, self.n_contexts)
        return x, is_target

    def subset_log_evidence(self, x, target, *, start=None) -> np.ndarray:
        """``log P(x^{J ∪ C})`` for every subset J of the target positions.

        :func:`~ctmc_lab.sources.markov.trie.subset_log_evidence` on the chain: ``x`` holds clean
        tokens at target and context positions and the mask id (``?``) at marginalised ones;
        ``start`` as in :meth:`log_prob`. Returns ``(2**n,)`` by observed-target bitmask.
        """
        x, is_target = self._roles(x, target)
        return trie.subset_log_evidence(self.table, x, is_target, self._initial(start))

    def target_conditionals(self, x, target, *, start=None) -> np.ndarray:
        """``-log p(x^t | x^{J ∪ C})`` for every target t and J ⊆ targets without t, ``(n, 2**n)``.

        :func:`~ctmc_lab.sources.markov.trie.target_conditionals` on the chain (arguments as in
        :meth:`subset_log_evidence`).
        """
        x, is_target = self._roles(x, target)
        return trie.target_conditionals(self.table, x, is_target, self._initial(start))

    def mask_dce_table(self, x, target, context=None, *, start=None, method: str | None = None) -> np.ndarray:
        """A(M) = Σ_{t∈M} -log p(x^t | x^{(targets∖M) ∪ C}) for every mask M ⊆ targets (Cor. 4.3).

        Parameters
        ----------
        x : (L,) int array or string
            Clean tokens (the mask id is allowed at marginalised positions).
        target : sequence of int
            The target positions I1.
        context : sequence of int, optional
            The positions always visible; the others (neither target nor context) are
            marginalised. Default: every non-target position holding a clean token.
        start : optional
            As in :meth:`log_prob`.
        method : {"forward_backward", "subset"}, optional
            ``"forward_backward"`` (default): conditionals on prefix/suffix tries
            (:func:`~ctmc_lab.sources.markov.trie.trie_mask_dce`); ``"subset"``: differences
            ``h(V ∪ {t}) - h(V)`` of the subset log-evidence table, ``h = -log P``
            (:func:`ctmc_lab.masks.mask_dce`). Independent routes to one table (tested to 1e-12).

        Returns
        -------
        (2**n,) float array
            Indexed by the mask bitmask over the target order (``A[0] = 0``); the input of Cor. 4.3
            and of every exact moment (§6).
        """
        method = MASK_DCE_METHODS[0] if method is None else ensure_choice(method, "method", MASK_DCE_METHODS)
        x = self._tokens(x, "x", allow_mask=True, ndim=1)
        if context is not None:
            tgt = as_positions(target, x.shape[-1], "target")
            ctx = as_positions(context, x.shape[-1], "context")
            hidden = np.setdiff1d(np.arange(x.shape[-1]), np.union1d(tgt, ctx))
            x = x.copy()
            x[..., hidden] = self.n_tokens
        x, is_target = self._roles(x, target)
        if method == "subset":
            return mask_dce(-trie.subset_log_evidence(self.table, x, is_target, self._initial(start)))
        return trie.trie_mask_dce(self.table, x, is_target, self._initial(start))

    def continuing(self, start) -> ContinuedChain:
        """The source of windows that continue the prompt ``start`` (its last k symbols, §5.4)."""
        return ContinuedChain(self, start)


class ContinuedChain:
    """Windows of a :class:`MarkovChain` that continue a fixed prompt: a :class:`~ctmc_lab.sources.base.Source`.

    Every query is the chain's own with ``start=prompt`` (initial context = the prompt's last k
    symbols, ``docs/theory.md`` §5.4): ``ContinuedChain(chain, p).nll(y) == chain.nll(y, start=p)``.

    Examples
    --------
    >>> mk = markov4()
    >>> src = mk.continuing("ACGTACGT")
    >>> src.nll("TTGA") == mk.nll("TTGA", start="ACGTACGT")
    True
    """

    length = None
    mask_dce_methods = MASK_DCE_METHODS

    def __init__(self, chain: MarkovChain, start):
        if not isinstance(chain, MarkovChain):
            raise InvalidTypeError(f"`chain` must be a MarkovChain (got {type(chain).__name__})")
        self.chain = chain
        self.start = chain._tokens(start, "start")
        chain._initial(self.start)  # validates the prompt (one sequence of at least k symbols)
        self.n_tokens = chain.n_tokens
        self.alphabet = chain.alphabet
        self.name = f"{chain.name}[start={chain.decode(self.start[-chain.order :])}]"

    def encode(self, x) -> np.ndarray:
        """Clean tokens, as :meth:`MarkovChain.encode`."""
        return self.chain.encode(x)

    def decode(self, x):
        return self.chain.decode(x)

    def log_prob(self, x):
        """``Σ_j log P(x_j | context_j)`` from the prompt's context (:meth:`MarkovChain.log_prob`)."""
        return self.chain.log_prob(x, start=self.start)

    def nll(self, x):
        """``-log p0(x | prompt)`` in nats (:meth:`MarkovChain.nll`)."""
        return self.chain.nll(x, start=self.start)

    def log_marginal(self, x) -> np.ndarray:
        """``log P(x^U)`` of each ``(B, L)`` masked window, continuing the prompt."""
        return self.chain.log_marginal(x, start=self.start)

    def sample(self, length: int, *, n: int | None = None, rng=None) -> np.ndarray:
        """:meth:`MarkovChain.sample` of windows that continue the prompt."""
        return self.chain.sample(length, n=n, start=self.start, rng=rng)

    def denoiser(self, length: int) -> MarkovDenoiser:
        """:meth:`MarkovChain.denoiser` of windows that continue the prompt."""
        return self.chain.denoiser(length, start=self.start)

    def mask_dce_table(self, x, target, context=None, *, method: str | None = None) -> np.ndarray:
        """:meth:`MarkovChain.mask_dce_table` with ``start`` = the prompt."""
        return self.chain.mask_dce_table(x, target, context, start=self.start, method=method)

    def __repr__(self) -> str:
        return f"ContinuedChain({self.chain!r}, start={self.chain.decode(self.start)!r})"


class MarkovDenoiser:
    """The optimal denoiser c* of length-L windows of a :class:`MarkovChain` (a ``Denoiser``).

    ``start=None`` scores stationary windows: for a window holding prompt + response with the
    prompt visible (length ≥ k), the response conditionals are those given the prompt's last
    k symbols, and masked prompt positions are marginalised. ``start=prompt`` scores windows
    that continue a fixed prompt (deterministic initial context, §5.4).

    Examples
    --------
    >>> chain = MarkovChain.from_dirichlet(4, 2, rng=1)
    >>> c = chain.denoiser(5)
    >>> c(np.full((1, 5), 4)).shape
    (1, 5, 4)
    """

    def __init__(self, chain: MarkovChain, length: int, *, start=None):
        if not isinstance(chain, MarkovChain):
            raise InvalidTypeError(f"`chain` must be a MarkovChain (got {type(chain).__name__})")
        self.chain = chain
        self.length = ensure_int(length, "length", minimum=1)
        self.n_tokens = chain.n_tokens
        self.start = None if start is None else chain._tokens(start, "start")
        self._initial = chain._initial(self.start)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = self.chain._masked_input(x)
        if x.shape[1] != self.length:
            raise ValueError(f"`x` must have shape (B, {self.length}) (got {x.shape})")
        return forward_backward(self.chain.table, x, self._initial).log_probs

    def __repr__(self) -> str:
        return f"MarkovDenoiser({self.chain!r}, length={self.length}, start={'stationary' if self.start is None else self.chain.decode(self.start)})"


def _table_size(n_tokens, order) -> tuple[int, int]:
    """N ≥ 1 and k ≥ 1 as ints, refusing an ``(N**k, N)`` table above ``MAX_ELEMENTS``."""
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
    order = ensure_int(order, "order", minimum=1)
    ensure_size(
        power(n_tokens, order + 1), f"a transition table of `order` {order} over `n_tokens` = {n_tokens} symbols"
    )
    return n_tokens, order


# ------------------------------------------------------------------------------- loaders
def markov4() -> MarkovChain:
    """The paper's released order-4 DNA chain (infodis ``data/markov_data_table.json``).

    Loaded from the released JSON shipped as ``ctmc_lab/sources/data/markov4.json`` (not regenerated
    from the recipe): its entries go down to 1.6e-8, so it was not made by the softmax recipe
    the paper states (``docs/theory.md`` §1.1, *Discrepancy*).
    """
    from ctmc_lab.sources.datasets import data_path

    mapping = json.loads(data_path("markov4.json").read_text())
    return MarkovChain.from_dict(mapping, alphabet=DNA, name="markov4")
