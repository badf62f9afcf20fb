"""k-th order Markov sources and their exact conditionals by forward–backward (``docs/theory.md`` §1.1, §5.4).

A :class:`MarkovChain` of order k over ``V = {0..N-1}`` is a transition table ``P`` of shape
``(N**k, N)``: row ``c`` is the distribution of the next symbol after the context ``c``, a
base-N number with the **oldest** symbol most significant (``"AAGC"`` → ``0·64+0·16+2·4+3``
for DNA = ``ATGC``). Emitting ``v`` from context ``c`` moves the lifted chain to
``c' = (c N + v) mod N**k``.

Everything exact about the chain runs on the lifted chain of ``C = N**k`` contexts:

* the stationary distribution π (left eigenvector of the lifted matrix for eigenvalue 1);
* window probabilities, from the stationary start or from a given initial context;
* the optimal denoiser c* of a window, by a scaled forward–backward pass vectorised over a
  batch of masked inputs and over positions (:func:`forward_backward`);
* for one sequence and a set of *target* positions, the log-evidence of every subset of the
  targets and the conditional of every target under every mask, computed on prefix/suffix
  tries so that all ``2**n`` masks cost about as much as two forward passes
  (:meth:`MarkovChain.subset_log_evidence`, :meth:`MarkovChain.target_conditionals`).

**Stationary start.** A stationary window of length L is the output of L emissions started
from a *pre-context* drawn from π: since π is stationary for the lifted chain, the first k
emitted symbols are again distributed as π. The forward pass therefore starts at
``α_0 = π`` and treats every window position alike, which also covers ``L < k``.

**Start from a prompt.** ``start=prompt`` puts ``α_0 = δ(c_0)`` with ``c_0`` the prompt's last
k symbols (``docs/theory.md`` §5.4, "Conditioned on a prompt").

Numerics: α is renormalised at every step and the log scale factors are summed, and β is
renormalised per row, so table entries as small as 1e-8 (the released MK4 table has
1.6e-8) neither underflow nor produce NaN. An observation of probability 0 gives
log-evidence ``-inf`` and conditionals ``-inf``, never NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from os import PathLike

import numpy as np

from ctmc_lab.io import read_json
from ctmc_lab.sequences import DNA, Alphabet, all_sequences, flat_index
from ctmc_lab.sources.joint import JointDistribution

__all__ = [
    "MarkovChain",
    "MarkovDenoiser",
    "ForwardBackward",
    "forward_backward",
    "markov4",
    "load_markov",
    "ROW_SUM_TOLERANCE",
]

#: Largest |row sum - 1| accepted without ``normalize`` (as for JointDistribution).
ROW_SUM_TOLERANCE = 1e-9
# Elements of one (batch, length, contexts) block of the batched forward-backward.
_BLOCK = 1 << 22
# Largest number of trie nodes times contexts held at once (2**26 floats = 512 MB).
_TRIE_LIMIT = 1 << 26
# Largest lifted chain whose stationary vector is found by a dense eigen-decomposition.
_DENSE_EIG_LIMIT = 4096


def _gth(T: np.ndarray) -> np.ndarray:
    """Stationary vector of an irreducible row-stochastic ``T`` by GTH elimination.

    Grassmann, Taksar & Heyman (1985): state reduction in which every quantity is a sum of
    non-negative terms, so each entry of π is found to high relative accuracy.
    """
    A = np.array(T, dtype=float)
    n = A.shape[0]
    for k in range(n - 1, 0, -1):
        s = A[k, :k].sum()  # = 1 - A[k, k] without the cancellation
        A[:k, k] /= s
        A[:k, :k] += np.outer(A[:k, k], A[k, :k])
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        pi[k] = pi[:k] @ A[:k, k]
    return pi / pi.sum()


@dataclass(frozen=True)
class ForwardBackward:
    """Result of :func:`forward_backward`.

    Attributes
    ----------
    log_probs : (B, L, N) float array
        ``log p(x^i = v | x^{U(x)})``: the optimal denoiser c*. A visible position carries the
        point mass on its token; an input of probability 0 gives ``-inf`` everywhere.
    log_evidence : (B,) float array
        ``log P(x^{U(x)})``, the probability of the visible tokens (``-inf`` if impossible).
    """

    log_probs: np.ndarray
    log_evidence: np.ndarray


# ---------------------------------------------------------------------------------- kernels
# The lifted step, written on the split context c = (h, r): h the oldest symbol, r the k-1
# newer ones. Emitting v from (h, r) lands in c' = (r, v), so with P3[h, r, v] = P(v | c)
#   forward:  W[r, v, b] = sum_h P3[h, r, v] alpha[h, r, b]       (alpha' = W * e, reshaped)
#   backward: beta[h, r, b] = sum_v P3[h, r, v] e(v) beta'[r, v, b]
# Both cost O(C N B) and never build the C x C lifted matrix. Arrays are laid out
# contexts-first, (C, B), so that the batch (masks, samples) is the contiguous inner axis.


def _emit(alpha: np.ndarray, P3: np.ndarray) -> np.ndarray:
    """``(C, B) -> (C/N, N, B)``: mass of each new context (r, v) before the emission constraint."""
    n, cr, _ = P3.shape
    return np.einsum("hrv,hrb->rvb", P3, alpha.reshape(n, cr, -1))


def _absorb(g: np.ndarray, P3: np.ndarray) -> np.ndarray:
    """``(C/N, N, B) -> (C, B)``: backward step, ``sum_v P3[h, r, v] g[r, v, b]``."""
    return np.einsum("hrv,rvb->hrb", P3, g).reshape(-1, g.shape[-1])


def _safe(s: np.ndarray) -> np.ndarray:
    return np.where(s > 0, s, 1.0)


def _live_rows(a: np.ndarray, n: int, order: int):
    """Column blocks of a trie level and, per block, the rows r of the split context (h, r) in use.

    The top bits of a prefix index say which of the latest targets were observed; an observed
    slot pins a context digit, so the prefixes of one block share a support that is often a
    small fraction of the C contexts. Returns (block size, list of row index arrays).
    """
    n_ctx, cols = a.shape
    bits = min(cols.bit_length() - 1, order)
    size = cols >> bits
    used = np.any(a.reshape(n, n_ctx // n, 1 << bits, size) != 0, axis=(0, 3))  # (C/N, blocks)
    return size, [np.flatnonzero(used[:, blk]) for blk in range(1 << bits)]


def _trie_forward(a: np.ndarray, P3: np.ndarray, order: int, v: int, mode: str):
    """One forward step of a prefix trie of α, ``(C, A)`` columns (``docs/theory.md`` §5.4).

    mode ``"mask"``: emit freely (a marginalised position); ``"observe"``: keep symbol ``v`` and
    renormalise (a context position); ``"branch"``: a target position, masked half first and
    observed half second (the new bit of the prefix index); ``"emit"``: return only ``emit(α)``.

    Returns ``(α', w, s)``: the new ``(C, A')`` α, the view ``w = emit(α)`` of shape
    ``(C/N, N, A)`` (None for ``"observe"``) and the scale of the observed part (None if none).
    Only rows in use (see :func:`_live_rows`) are computed; the output is written in place.
    """
    n, cr, _ = P3.shape
    cols = a.shape[1]
    a3 = a.reshape(n, cr, cols)
    size, rows = _live_rows(a, n, order)
    if mode == "observe":
        col = np.zeros((cr, cols))
        for blk, r in enumerate(rows):
            sl = slice(blk * size, (blk + 1) * size)
            col[r, sl] = np.einsum("hr,hrb->rb", P3[:, r, v], a3[:, r, sl])
        s = col.sum(axis=0)
        out = np.zeros((cr, n, cols))
        out[:, v, :] = col / _safe(s)
        return out.reshape(cr * n, cols), None, s
    out = np.zeros((cr, n, 2 * cols if mode == "branch" else cols))
    for blk, r in enumerate(rows):
        sl = slice(blk * size, (blk + 1) * size)
        out[r, :, sl] = np.einsum("hrv,hrb->rvb", P3[:, r], a3[:, r, sl])
    w = out[:, :, :cols]
    s = None
    if mode == "branch":
        # Rows of P sum to 1, so the masked half keeps each column's mass (scale 1).
        s = w[:, v, :].sum(axis=0)
        out[:, v, cols:] = w[:, v, :] / _safe(s)
    return out.reshape(cr * n, -1), w, s


def _backward_observe(g: np.ndarray, v: int, P3: np.ndarray) -> np.ndarray:
    """Backward step at a visible symbol ``v``, renormalised: ``P3[h, r, v] g[r, v, b]``, ``(C, B)``."""
    out = (P3[:, :, v][:, :, None] * g[:, v, :][None]).reshape(-1, g.shape[-1])
    return out / _safe(out.sum(axis=0))


def _normalise(a: np.ndarray):
    """Columns of ``(C, B)`` divided by their sums; returns (normalised, sums). Zero columns stay zero."""
    s = a.sum(axis=0)
    safe = np.where(s > 0, s, 1.0)
    return a / safe, s


def _log(s):
    with np.errstate(divide="ignore"):
        return np.log(s)


def forward_backward(table: np.ndarray, x: np.ndarray, initial: np.ndarray) -> ForwardBackward:
    """Exact conditionals of a k-th order Markov window by scaled forward–backward (§5.4).

    Parameters
    ----------
    table : (N**k, N) float array
        Transition probabilities, context index base-N with the oldest symbol most significant.
    x : (B, L) int array
        Windows with the mask id N at masked positions.
    initial : (N**k,) float array
        Distribution of the pre-context: π for a stationary window, a point mass for a
        window that continues a prompt.

    Returns
    -------
    ForwardBackward

    Notes
    -----
    With emission indicators ``e_j(v) = 1[v = x_j]`` at visible positions and 1 elsewhere,

    * ``α_{j+1}(c') = Σ_{(c,v): c'=(cN+v) mod C} α_j(c) P(v|c) e_j(v)`` (normalised; the log
      scale factors sum to ``log P(x^U)``);
    * ``β_j(c) = Σ_v P(v|c) e_j(v) β_{j+1}((cN+v) mod C)`` (renormalised per sequence: any
      positive factor cancels below);
    * ``p(x^i = v | x^U) ∝ Σ_c α_i(c) P(v|c) β_{i+1}((cN+v) mod C)`` for masked ``i``.

    Vectorised over the batch and, for the final combination, over positions; the only
    loop runs over positions, which are sequential by nature.

    Examples
    --------
    >>> chain = MarkovChain.from_dirichlet(2, 2, rng=0)
    >>> fb = forward_backward(chain.table, np.array([[0, 2, 1]]), chain.stationary)
    >>> bool(np.allclose(np.exp(fb.log_probs).sum(-1), 1))
    True
    """
    table = np.asarray(table, dtype=float)
    if table.ndim != 2 or table.shape[1] < 1 or table.shape[0] % table.shape[1]:
        raise ValueError(f"`table` must have shape (N**k, N) (got {table.shape})")
    n_ctx, n = table.shape
    P3 = table.reshape(n, n_ctx // n, n)
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"`x` must be a (B, L) int array (got shape {x.shape}, dtype {x.dtype})")
    if x.size and (x.min() < 0 or x.max() > n):
        raise ValueError(f"`x` tokens must lie in 0..{n} (mask id {n})")
    x = x.astype(np.int64)
    initial = np.asarray(initial, dtype=float)
    if initial.shape != (n_ctx,) or not np.all(np.isfinite(initial)) or np.any(initial < 0) or initial.sum() <= 0:
        raise ValueError(f"`initial` must be a non-negative ({n_ctx},) distribution over contexts")
    batch, length = x.shape
    out = np.empty((batch, length, n))
    log_ev = np.empty(batch)
    step = max(1, _BLOCK // max(1, length * n_ctx))
    for lo in range(0, batch, step):
        out[lo : lo + step], log_ev[lo : lo + step] = _fb_block(P3, x[lo : lo + step], initial)
    return ForwardBackward(out, log_ev)


def _fb_block(P3, x, initial):
    n, cr, _ = P3.shape
    n_ctx = n * cr
    batch, length = x.shape
    visible = x < n
    # e[j, v, b]: emission indicator of position j (ones where masked).
    e = np.where(visible.T[:, None, :], (np.arange(n)[:, None] == x.T[:, None, :]), True).astype(float)
    alphas = np.empty((length, n_ctx, batch))
    betas = np.empty((length, n_ctx, batch))
    a = np.repeat(np.asarray(initial, dtype=float)[:, None], batch, axis=1)
    log_ev = np.zeros(batch)
    for j in range(length):
        alphas[j] = a
        a, s = _normalise((_emit(a, P3) * e[j][None]).reshape(n_ctx, batch))
        log_ev += _log(s)
    b = np.ones((n_ctx, batch))
    for j in range(length - 1, -1, -1):
        betas[j] = b
        b, _ = _normalise(_absorb(b.reshape(cr, n, batch) * e[j][None], P3))
    # All positions at once: fold the position axis into the batch axis.
    w = _emit(alphas.transpose(1, 0, 2).reshape(n_ctx, -1), P3).reshape(cr, n, length, batch)
    num = np.einsum("rvjb,rvjb->bjv", w, betas.transpose(1, 0, 2).reshape(cr, n, length, batch))
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = _log(num) - _log(num.sum(axis=-1, keepdims=True))
    point = np.where(np.arange(n) == np.where(visible, x, 0)[..., None], 0.0, -np.inf)
    logp = np.where(visible[..., None], point, logp)
    logp = np.where(np.isfinite(log_ev)[:, None, None], logp, -np.inf)
    return logp, log_ev


# --------------------------------------------------------------------------------- the chain
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

    def __init__(self, table, *, order=None, alphabet=None, normalize=False, name=None):
        table = np.array(table, dtype=float)
        if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
            raise ValueError(f"`table` must be a non-empty (N**k, N) array (got shape {table.shape})")
        n_ctx, n = table.shape
        if order is None:
            if n < 2:
                raise ValueError("`order` must be given when the alphabet has one symbol")
            order = round(math.log(n_ctx, n)) if n_ctx > 1 else 0
        order = int(order)
        if order < 1:
            raise ValueError(f"`order` must be at least 1 (got {order}); an order-0 chain is an i.i.d. product")
        if n**order != n_ctx:
            raise ValueError(f"`table` must have N**k rows: N={n}, k={order} needs {n**order} rows (got {n_ctx})")
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
        elif np.max(np.abs(sums - 1)) > ROW_SUM_TOLERANCE:
            row = int(np.argmax(np.abs(sums - 1)))
            raise ValueError(
                f"`table` rows must sum to 1 within {ROW_SUM_TOLERANCE:g} (row {row} sums to {float(sums[row]):.12g}); "
                "rescale them with `--normalize` (the `normalize` option in Python)"
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
        n_contexts = n**order
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
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(f"P({s!r} | {ctx!r}) must be a number (got {v!r})")
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
        if temperature <= 0:
            raise ValueError(f"`temperature` must be positive (got {temperature})")
        rng = np.random.default_rng(rng)
        logits = rng.random((int(n_tokens) ** int(order), int(n_tokens))) / temperature
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
        if alpha <= 0:
            raise ValueError(f"`alpha` must be positive (got {alpha})")
        rng = np.random.default_rng(rng)
        rows = rng.dirichlet(np.full(int(n_tokens), float(alpha)), size=int(n_tokens) ** int(order))
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
    def _P3(self) -> np.ndarray:
        return self.table.reshape(self.n_tokens, -1, self.n_tokens)

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
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            if self.alphabet is None:
                raise ValueError("this chain has no alphabet: pass integer token arrays")
            x = self.alphabet.encode(x, allow_mask=allow_mask)
        x = np.asarray(x)
        if x.size and (not np.issubdtype(x.dtype, np.integer)):
            raise ValueError(f"sequence tokens must be integers (got dtype {x.dtype})")
        top = self.n_tokens if allow_mask else self.n_tokens - 1
        if x.size and (x.min() < 0 or x.max() > top):
            raise ValueError(f"sequence tokens must lie in 0..{top} (got {x.min()}..{x.max()})")
        return x.astype(np.int64)

    def decode(self, x):
        if self.alphabet is None:
            x = np.asarray(x)
            return ",".join(map(str, x)) if x.ndim == 1 else [",".join(map(str, r)) for r in x]
        return self.alphabet.decode(x)

    def context_index(self, symbols) -> np.ndarray | int:
        """Index of k-symbol contexts (``(..., k)`` ints or strings), oldest symbol most significant."""
        s = self.encode(symbols)
        if s.shape[-1] != self.order:
            raise ValueError(f"a context must have k={self.order} symbols (got {s.shape[-1]})")
        out = flat_index(s, self.n_tokens)
        return int(out) if np.ndim(out) == 0 else out

    def _initial(self, start) -> np.ndarray:
        """α_0: π for ``start=None``, else the point mass on the last k symbols of ``start``."""
        if start is None:
            return self.stationary
        s = self.encode(start)
        if s.ndim != 1 or s.shape[0] < self.order:
            raise ValueError(f"`start` must be one sequence of at least k={self.order} symbols (got shape {s.shape})")
        out = np.zeros(self.n_contexts)
        out[flat_index(s[-self.order :], self.n_tokens)] = 1.0
        return out

    # ------------------------------------------------------------- lifted chain
    def lifted_matrix(self) -> np.ndarray:
        """Dense ``(C, C)`` lifted transition matrix ``T[c, (cN+v) mod C] = P(v | c)``."""
        c = np.arange(self.n_contexts)
        nxt = (c[:, None] * self.n_tokens + np.arange(self.n_tokens)) % self.n_contexts
        T = np.zeros((self.n_contexts, self.n_contexts))
        np.add.at(T, (np.broadcast_to(c[:, None], nxt.shape), nxt), self.table)
        return T

    def is_irreducible(self) -> bool:
        """Whether the lifted chain is one strongly connected class (so π is unique)."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        n_comp, _ = connected_components(csr_matrix(self.lifted_matrix() > 0), directed=True, connection="strong")
        return n_comp == 1

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
        """π with ``π T = π``, ``Σ π = 1``, by one of two methods.

        Parameters
        ----------
        method : {"auto", "gth", "eig"}
            ``"eig"``: the left eigenvector of ``T`` for the eigenvalue closest to 1 (dense
            LAPACK up to C = 4096 contexts, ARPACK beyond). Accurate to ~1e-16 *absolutely*, so
            a context of stationary mass 1e-8 can carry a relative error of 1e-9.
            ``"gth"``: the same eigenvector by Grassmann–Taksar–Heyman elimination, which uses
            no subtraction and is accurate entrywise to a few ulps *relatively*; O(C³).
            ``"auto"``: ``"gth"`` up to C = 1024, else ``"eig"``. Window log-probabilities of
            a stationary start depend on π relatively, hence the default.

        Raises
        ------
        ValueError
            If the lifted chain is not irreducible, or for an unknown ``method``.
        """
        methods = ("auto", "gth", "eig")
        if method not in methods:
            raise ValueError(f"`method` must be one of {methods} (got {method!r})")
        if not self.is_irreducible():
            raise ValueError(
                f"the lifted chain of {self.name!r} is not irreducible: its stationary distribution is not "
                "unique, so a stationary start is undefined (pass `start=` a context instead)"
            )
        T = self.lifted_matrix()
        if method == "gth" or (method == "auto" and self.n_contexts <= 1024):
            return _gth(T)
        if self.n_contexts <= _DENSE_EIG_LIMIT:
            import scipy.linalg

            w, vl = scipy.linalg.eig(T, left=True, right=False)
            v = vl[:, np.argmin(np.abs(w - 1))]
        else:
            from scipy.sparse import csr_matrix
            from scipy.sparse.linalg import eigs

            _, vecs = eigs(csr_matrix(T).T, k=1, which="LR")
            v = vecs[:, 0]
        v = np.real(v)
        v = v / v.sum()
        # Irreducible: π > 0 everywhere; rounding may leave -1e-17 entries.
        pi = np.clip(v, 0.0, None)
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """Σ_c π(c) H(P(·|c)) in nats per symbol (stationary)."""
        from scipy.special import entr

        return float(self.stationary @ entr(self.table).sum(axis=1))

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
        rng = np.random.default_rng(rng)
        length = int(length)
        if length < 0:
            raise ValueError(f"`length` must be non-negative (got {length})")
        starts = None if start is None else self.encode(start)
        if starts is not None and starts.ndim == 2:
            if starts.shape[1] < self.order:
                raise ValueError(f"`start` rows must have at least k={self.order} symbols (got {starts.shape[1]})")
            if n is not None and int(n) != starts.shape[0]:
                raise ValueError(f"`n`={n} does not match the {starts.shape[0]} rows of `start`")
            count = starts.shape[0]
            ctx = flat_index(starts[:, -self.order :], self.n_tokens)
        else:
            count = 1 if n is None else int(n)
            if count < 0:
                raise ValueError(f"`n` must be non-negative (got {n})")
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
        x = self.encode(x)
        single = x.ndim == 1
        x = np.atleast_2d(x)
        k, n = self.order, self.n_tokens
        if start is not None:
            s = self.encode(start)
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
        length = int(length)
        if length < 1 or self.n_tokens**length > 1 << 22:
            raise ValueError(f"`length` must satisfy 1 ≤ L and N**L ≤ 2**22 (got L={length}, N={self.n_tokens})")
        seqs = all_sequences(self.n_tokens, length)
        probs = np.exp(self.log_prob(seqs, start=start))
        tag = "stationary" if start is None else f"start={self.decode(self.encode(start)[-self.order :])}"
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
        x = self.encode(x, allow_mask=True)
        if x.ndim != 2:
            raise ValueError(f"`x` must have shape (B, L) (got {x.shape})")
        return x

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
        x = self.encode(x, allow_mask=True)
        if x.ndim != 1:
            raise ValueError(f"`x` must be one sequence (got shape {x.shape})")
        target = np.asarray(sorted(set(int(t) for t in target)), dtype=np.int64)
        if target.size == 0:
            raise ValueError("`target` must name at least one position")
        if target.min() < 0 or target.max() >= x.shape[0]:
            raise ValueError(f"`target` positions must lie in 0..{x.shape[0] - 1} (got {target.tolist()})")
        if np.any(x[target] == self.n_tokens):
            raise ValueError("`target` positions must hold clean tokens in `x`, not the mask")
        if x.shape[0] and (1 << target.size) * self.n_contexts > _TRIE_LIMIT:
            raise ValueError(
                f"`target` has {target.size} positions: 2**{target.size} masks x {self.n_contexts} contexts "
                f"exceeds the exact-enumeration limit {_TRIE_LIMIT}; use Monte Carlo"
            )
        is_target = np.zeros(x.shape[0], dtype=bool)
        is_target[target] = True
        return x, target, is_target

    def subset_log_evidence(self, x, target, *, start=None) -> np.ndarray:
        """``log P(x^{J ∪ C})`` for every subset J of the target positions (prefix trie).

        Parameters
        ----------
        x : (L,) int array or string
            Clean tokens at target and context positions, the mask id (``?``) at marginalised
            positions. Non-target clean positions form the context C.
        target : sequence of int
            The target positions I1 (n of them).
        start : optional
            As in :meth:`log_prob`.

        Returns
        -------
        (2**n,) float array
            Entry ``u`` has target ``t`` (t-th smallest target position) observed iff bit ``t``
            of ``u`` is set. ``-inf`` where the evidence has probability 0.

        Notes
        -----
        The forward pass up to a position depends only on which earlier targets are observed,
        so the ``2**n`` passes share prefixes: at target ``t`` the batch of α doubles (masked,
        observed) and the work totals about ``2**(n+1) C N`` instead of ``2**n L C N``.
        """
        x, _, is_target = self._roles(x, target)
        P3, n = self._P3, self.n_tokens
        a = self._initial(start)[:, None].copy()
        log_ev = np.zeros(1)
        for j in range(x.shape[0]):
            if is_target[j]:
                a, _, s = _trie_forward(a, P3, self.order, x[j], "branch")  # observed half: bit t set
                log_ev = np.concatenate([log_ev, log_ev + _log(s)])
            elif x[j] < n:
                a, _, s = _trie_forward(a, P3, self.order, x[j], "observe")
                log_ev = log_ev + _log(s)
            else:
                a, _, _ = _trie_forward(a, P3, self.order, 0, "mask")
        return log_ev

    def target_conditionals(self, x, target, *, start=None) -> np.ndarray:
        """``-log p(x^t | x^{J ∪ C})`` for every target t and every J ⊆ targets not holding t.

        Parameters
        ----------
        x, target, start
            As in :meth:`subset_log_evidence`.

        Returns
        -------
        (n, 2**n) float array
            ``out[t, u]`` for an observed-target bitmask ``u`` (bit t clear); entries with bit t
            set are 0. ``+inf`` where the conditional is 0 or undefined.

        Notes
        -----
        Forward–backward on tries (§5.4): a prefix trie of α over the targets before t and a
        suffix trie of β over the targets after t. For prefix pattern ``a`` and suffix pattern
        ``b`` the conditional of target t is ``Σ_r W_a(r, y) β_b(r, y) / Σ_{r,v} W_a(r, v) β_b(r, v)``
        with ``W = emit(α)``: two matrix products with ``2**(n-1)`` outputs per target.
        All ``2**n`` masks cost about two forward passes of a ``2**n`` batch, instead of
        ``2**n`` forward–backward passes of length L.
        """
        x, targets, is_target = self._roles(x, target)
        P3, n, n_ctx = self._P3, self.n_tokens, self.n_contexts
        cr = n_ctx // n
        n_t = targets.size
        first, last = int(targets[0]), int(targets[-1])
        # Suffix trie: betas[t] is β just after target t, indexed by the observed pattern of the
        # targets after t (bit 0 = target t+1); about 2**n C floats in all. Positions before the
        # first target are not needed.
        betas = [None] * n_t
        b = np.ones((n_ctx, 1))
        t = n_t - 1
        # Only observed steps are renormalised: a masked step averages β over the next symbol
        # (and keeps α's mass), so it can neither underflow nor overflow; scale cancels below.
        for j in range(x.shape[0] - 1, first - 1, -1):
            g = b.reshape(cr, n, -1)
            if is_target[j]:
                betas[t] = g
                if t == 0:  # the first target: nothing before it is needed (and this level is 2**n wide)
                    break
                t -= 1
                # New lowest bit = this target: column 2*old + observed.
                b = np.empty((n_ctx, g.shape[-1], 2))
                b[:, :, 0] = _absorb(g, P3)
                b[:, :, 1] = _backward_observe(g, x[j], P3)
                b = b.reshape(n_ctx, -1)
            elif x[j] < n:
                b = _backward_observe(g, x[j], P3)
            else:
                b = _absorb(g, P3)
        out = np.zeros((n_t, 1 << n_t))
        a = self._initial(start)[:, None].copy()
        t = 0
        for j in range(last + 1):
            if is_target[j]:
                mode = "emit" if t == n_t - 1 else "branch"  # the last level (2**n wide) is never used
                a, w, _ = _trie_forward(a, P3, self.order, x[j], mode)  # w: (C/N, N, 2**t)
                total, hit = _pair_products(w, betas[t], x[j], self.order)
                with np.errstate(divide="ignore", invalid="ignore"):
                    val = -_log(hit / total)
                val[total <= 0] = np.inf  # an impossible context: the conditional is undefined
                # Bitmask u = a | (b << (t+1)) with bit t clear: view row t as (b, bit t, a).
                out[t].reshape(-1, 2, 1 << t)[:, 0, :] = val.T
                t += 1
            elif x[j] < n:
                a, _, _ = _trie_forward(a, P3, self.order, x[j], "observe")
            else:
                a, _, _ = _trie_forward(a, P3, self.order, 0, "mask")
        return out

    def mask_dce_table(self, x, target, *, start=None) -> np.ndarray:
        """A(M) = Σ_{t∈M} -log p(x^t | x^{(targets∖M) ∪ C}) for every mask M ⊆ targets.

        Indexed by the mask bitmask over the target order (``A[0] = 0``), from
        :meth:`target_conditionals`: the input of Cor. 4.3 and of every exact moment (§6).
        """
        cond = self.target_conditionals(x, target, start=start)
        return _sum_over_masks(cond)


def _pair_products(w: np.ndarray, bt: np.ndarray, y: int, order: int):
    """``total[a, b] = Σ_{r,v} w[r,v,a] bt[r,v,b]`` and ``hit[a, b] = Σ_r w[r,y,a] bt[r,y,b]``.

    ``w`` is ``(C/N, N, A)`` (prefix patterns), ``bt`` is ``(C/N, N, B)`` (suffix patterns).
    The prefix index's top bits say which of the last targets were observed, and an observed
    slot pins a context digit, so each block of prefixes sharing those bits is supported on a
    fraction of the contexts (about (5/8)^(k-1) of them for N = 4 on average). The products run
    block by block over the rows that are nonzero in the block: the same sums, fewer terms.
    einsum's own loop, not BLAS: with these skinny shapes it is as fast single-threaded, and it
    does not degrade when the cores are shared.
    """
    cr, n, n_a = w.shape
    n_ctx = cr * n
    W = w.reshape(n_ctx, n_a)
    B = bt.reshape(n_ctx, -1)
    bits = min(n_a.bit_length() - 1, max(order - 1, 0))
    size = n_a >> bits
    nonzero = np.any(W.reshape(n_ctx, 1 << bits, size) != 0, axis=2)  # (C, blocks)
    is_y = np.arange(n_ctx) % n == y  # context index c' = r N + v
    total = np.empty((n_a, B.shape[1]))
    hit = np.empty((n_a, B.shape[1]))
    for blk in range(1 << bits):  # at most 2**(k-1) blocks
        cols = slice(blk * size, (blk + 1) * size)
        rows = np.flatnonzero(nonzero[:, blk])
        total[cols] = np.einsum("ca,cb->ab", W[rows, cols], B[rows])
        rows = rows[is_y[rows]]
        hit[cols] = np.einsum("ca,cb->ab", W[rows, cols], B[rows])
    return total, hit


def _sum_over_masks(cond: np.ndarray) -> np.ndarray:
    """``A[M] = Σ_{t∈M} cond[t, full ∖ M]`` from an ``(n, 2**n)`` conditional table."""
    n_t = cond.shape[0]
    full = (1 << n_t) - 1
    masks = np.arange(1 << n_t)
    A = np.zeros(1 << n_t)
    for t in range(n_t):  # n passes over the 2**n masks, each an array operation
        has = ((masks >> t) & 1).astype(bool)
        A[has] += cond[t, full ^ masks[has]]
    return A


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
        self.chain = chain
        self.length = int(length)
        self.n_tokens = chain.n_tokens
        self.start = None if start is None else chain.encode(start)
        self._initial = chain._initial(self.start)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = self.chain._masked_input(x)
        if x.shape[1] != self.length:
            raise ValueError(f"`x` must have shape (B, {self.length}) (got {x.shape})")
        return forward_backward(self.chain.table, x, self._initial).log_probs

    def __repr__(self) -> str:
        return f"MarkovDenoiser({self.chain!r}, length={self.length}, start={'stationary' if self.start is None else self.chain.decode(self.start)})"


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


def load_markov(spec: str, *, alphabet=None, normalize: bool = False) -> MarkovChain:
    """Resolve ``markov4`` or ``markov:PATH`` (a JSON table in the format of ``markov4.json``)."""
    if spec == "markov4":
        return markov4()
    if isinstance(spec, str) and spec.startswith("markov:"):
        path = spec.split(":", 1)[1]
        if not path:
            raise ValueError("`--dist` 'markov:' needs a path to a JSON Markov table, e.g. markov:table.json")
        return MarkovChain.from_json(path, alphabet=alphabet, normalize=normalize)
    raise ValueError(f"`--dist` {spec!r} is not a Markov source: use markov4 or markov:PATH")
