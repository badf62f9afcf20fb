"""Exact distributions p0 over V^L with an explicit support (``docs/theory.md`` §1.1, §3.5, §5.2).

A :class:`JointDistribution` stores the support sequences and their probabilities. All
queries (probabilities, pattern marginals P0(x^U), the subset table of a sequence, the
optimal denoiser c*) are vectorised over batches and never build V^L unless asked to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike

import numpy as np

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    InvalidTypeError,
    ensure_array,
    ensure_bool,
    ensure_callable,
    ensure_choice,
    ensure_int,
    ensure_rng,
    ensure_size,
    ensure_str,
    ensure_tokens,
    lone_surrogate,
    positive_int,
    power,
)
from ctmc_lab.io import read_json
from ctmc_lab.masks import mask_dce, subset_entropy
from ctmc_lab.sequences import Alphabet, all_sequences, as_positions, flat_index, subset_members
from ctmc_lab.sources.base import NormalisationError
from ctmc_lab.sources.denoisers import OptimalDenoiser

__all__ = ["JointDistribution"]

# Bound on the elements of one (batch, support, length) comparison block.
_BLOCK = 1 << 22
#: Largest (N+1)^L table of pattern marginals built for the fast optimal denoiser (32 MiB).
PATTERN_LIMIT = 1 << 22
#: Largest N**L a source is enumerated over by ``JointDistribution.from_source``.
ENUMERATION_LIMIT = 1 << 22


class JointDistribution:
    """An exact distribution p0 over ``V^L``, ``V = {0..N-1}``, stored on its support.

    Parameters
    ----------
    support : (S, L) int array
        Distinct sequences with positive probability.
    probs : (S,) float array
        Their probabilities, summing to 1 within 1e-9 (or rescaled with ``normalize``).
    n_tokens : int
        N, the alphabet size; the mask id is N.
    alphabet : str or Alphabet, optional
        Symbols for reading and printing sequences; ``len(alphabet)`` must be N.
    normalize : bool, default False
        Rescale ``probs`` to sum to 1 instead of rejecting a sum off 1.
    name : str, optional
        A label used in reports.

    Notes
    -----
    Zero-probability entries are dropped from the support; a query outside the support has
    probability 0 and NLL ``inf``.

    Examples
    --------
    >>> p = JointDistribution.from_dict({"AT": 0.25, "TA": 0.75}, alphabet="AT")
    >>> round(p.nll("TA"), 6), p.nll("AA")
    (0.287682, inf)
    """

    mask_dce_methods = ("subset",)

    def __init__(self, support, probs, *, n_tokens: int, alphabet=None, normalize=False, name=None):
        support = ensure_array(support, "support", dtype=int)
        if support.ndim != 2 or support.shape[0] == 0 or support.shape[1] == 0:
            raise ValueError(f"`support` must be a non-empty (S, L) array of sequences (got shape {support.shape})")
        probs = ensure_array(probs, "probs", shape=(support.shape[0],), finite=True)
        n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
        normalize = ensure_bool(normalize, "normalize")
        if name is not None:
            name = ensure_str(name, "name")
        if support.min() < 0 or support.max() >= n_tokens:
            raise ValueError(
                f"`support` tokens must lie in 0..{n_tokens - 1} (got range {support.min()}..{support.max()})"
            )
        length = support.shape[1]
        if length * math.log2(n_tokens) > 62:
            raise ValueError(
                f"`support`: sequences of length {length} over {n_tokens} symbols are too long to index "
                "exactly (N**L must be below 2**62)"
            )
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
        keys = flat_index(support, n_tokens, check=False)  # tokens checked above
        # Already strictly increasing (e.g. an enumeration of V^L): no sort, no copies of a
        # support that can hold 4^12 rows.
        order = slice(None) if np.all(keys[1:] > keys[:-1]) else np.argsort(keys, kind="stable")
        keys = keys[order]
        duplicate = np.flatnonzero(keys[1:] == keys[:-1])
        if duplicate.size:
            raise ValueError(f"`support` has a repeated sequence at row {order[duplicate[0] + 1]}")
        keep = probs[order] > 0
        if keep.all():
            keep = slice(None)
        if alphabet is not None and not isinstance(alphabet, Alphabet):
            alphabet = Alphabet(alphabet)
        if alphabet is not None and alphabet.n_tokens != n_tokens:
            raise ValueError(
                f"`alphabet` {str(alphabet)!r} has {alphabet.n_tokens} symbols, expected n_tokens={n_tokens}"
            )
        self.support = support[order][keep].astype(np.int64)
        self.probs = probs[order][keep].copy()
        self.support.setflags(write=False)
        self.probs.setflags(write=False)
        self._keys = keys[keep]
        self.n_tokens = n_tokens
        self.alphabet = alphabet
        self.name = name or "custom"
        self._patterns = None  # lazily built (N+1)^L table, see pattern_marginals

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, mapping: Mapping[str, float], *, alphabet=None, normalize=False, name=None):
        """Build from ``{sequence string: probability}``.

        The alphabet is inferred (sorted symbols) when not given.
        """
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
        if alphabet is None:
            alphabet = Alphabet(sorted(set("".join(seqs))))
        elif not isinstance(alphabet, Alphabet):
            alphabet = Alphabet(alphabet)
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
        return cls(
            alphabet.encode(seqs),
            np.array(values),
            n_tokens=alphabet.n_tokens,
            alphabet=alphabet,
            normalize=normalize,
            name=name,
        )

    @classmethod
    def from_json(cls, path: str | PathLike, *, alphabet=None, normalize=False, name=None):
        """Read a JSON object mapping sequence strings to probabilities."""
        mapping = read_json(path, what="distribution file")
        if not isinstance(mapping, dict) or not mapping:
            raise ValueError(
                f"distribution file {str(path)!r} must hold a non-empty JSON object {{sequence: probability}}"
            )
        return cls.from_dict(mapping, alphabet=alphabet, normalize=normalize, name=name or str(path))

    @classmethod
    def from_dense(cls, table, *, alphabet=None, normalize=False, name=None):
        """Build from a dense table of shape ``(N,) * L`` (or flat ``(N**L,)`` with ``alphabet``)."""
        table = ensure_array(table, "table", ndim=range(1, 63), allow_empty=False)
        if table.ndim == 1 and alphabet is not None:
            alphabet = alphabet if isinstance(alphabet, Alphabet) else Alphabet(alphabet)
            n = alphabet.n_tokens
            length = round(math.log(table.size, n)) if n > 1 else 1
            if n**length != table.size:
                raise ValueError(f"`table` of size {table.size} is not N**L for N={n}")
            table = table.reshape((n,) * length)
        n = table.shape[0]
        if any(d != n for d in table.shape):
            raise ValueError(f"`table` must have shape (N,)*L (got {table.shape})")
        return cls(
            all_sequences(n, table.ndim),
            table.ravel(),
            n_tokens=n,
            alphabet=alphabet,
            normalize=normalize,
            name=name,
        )

    @classmethod
    def from_source(cls, source, length=None, *, name=None):
        """The full-length joint of any :class:`~ctmc_lab.sources.base.Source`, by enumerating ``V^L``.

        ``p0(x) = exp(source.log_prob(x))`` for all ``N**L`` sequences; the probabilities must sum
        to 1 within 1e-9 (a source that does not is refused, never rescaled).

        Parameters
        ----------
        source : Source
        length : int, optional
            L; default ``source.length`` (required for a source over windows of any length).
        name : str, optional

        Raises
        ------
        ValueError
            Without a length, or when ``N**L`` exceeds ``ENUMERATION_LIMIT``.

        Examples
        --------
        >>> p = JointDistribution.from_dict({"AT": 0.25, "TA": 0.75}, alphabet="AT")
        >>> JointDistribution.from_source(p).as_dict() == p.as_dict()
        True
        """
        missing = [m for m in ("n_tokens", "log_prob") if not hasattr(source, m)]
        if missing:
            raise InvalidTypeError(
                f"`source` must be a Source with `n_tokens` and `log_prob` (got {type(source).__name__}, "
                f"which has no {' or '.join(f'`{m}`' for m in missing)})"
            )
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
        if power(n, length) > ENUMERATION_LIMIT:
            raise ValueError(
                f"`length` {length}: the source has N**L = {n}**{length} sequences, above the enumeration limit "
                f"{ENUMERATION_LIMIT} (2**22): too large to materialise as a joint table"
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
        return cls(seqs, np.exp(log_p), n_tokens=n, alphabet=getattr(source, "alphabet", None), name=name)

    # ------------------------------------------------------------------ properties
    @property
    def length(self) -> int:
        """L, the sequence length."""
        return self.support.shape[1]

    @property
    def support_size(self) -> int:
        return self.support.shape[0]

    @property
    def mask_id(self) -> int:
        return self.n_tokens

    def __repr__(self) -> str:
        return (
            f"JointDistribution(name={self.name!r}, n_tokens={self.n_tokens}, "
            f"length={self.length}, support_size={self.support_size})"
        )

    def describe(self) -> dict:
        """The ``distribution`` record of the CLI's JSON output."""
        return {
            "name": self.name,
            "alphabet": str(self.alphabet) if self.alphabet is not None else None,
            "n_tokens": self.n_tokens,
            "length": self.length,
            "support_size": self.support_size,
        }

    # --------------------------------------------------------------------- queries
    def encode(self, x, *, name: str = "x") -> np.ndarray:
        """Turn strings, or int arrays, into a validated ``(..., L)`` int array of clean tokens.

        ``name`` is the argument named in an error message (the caller's own, e.g. ``"x0"``).
        """
        return self._tokens(x, ensure_str(name, "name"))

    def _tokens(self, x, name: str, *, allow_mask: bool = False, ndim=range(1, 33)) -> np.ndarray:
        """``x`` (strings or ints) as an int64 array of length-L sequences; the message names ``name``."""
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            if self.alphabet is None:
                raise ValueError(f"`{name}`: this distribution has no alphabet: pass integer token arrays")
            x = self.alphabet.encode(x, allow_mask=allow_mask, name=name)
            if x.shape[-1] != self.length:  # strings (the command line's --sequence): their length, not an axis
                raise ValueError(f"sequences must have length {self.length} (got shape {x.shape})")
        return ensure_tokens(x, self.n_tokens, self.length, allow_mask=allow_mask, name=name, ndim=ndim)

    def decode(self, x) -> str | list[str]:
        """Tokens in 0..N (``(L,)`` or ``(B, L)``) as strings; comma-separated integers without an alphabet."""
        if self.alphabet is None:
            x = ensure_tokens(x, self.n_tokens, allow_mask=True)
            if x.ndim == 1:
                return ",".join(map(str, x))
            return [",".join(map(str, row)) for row in x]
        return self.alphabet.decode(x)

    def index(self, x) -> np.ndarray:
        """Row of each sequence in ``support``, or -1 where it is outside the support."""
        keys = flat_index(self.encode(x), self.n_tokens, check=False)
        pos = np.searchsorted(self._keys, keys)
        pos = np.minimum(pos, self._keys.size - 1)
        return np.where(self._keys[pos] == keys, pos, -1)

    def prob(self, x):
        """p0(x) for one sequence (a float) or a batch (an array); 0 outside the support."""
        row = self.index(x)
        out = np.where(row >= 0, self.probs[row], 0.0)
        return float(out) if out.ndim == 0 else out

    def log_prob(self, x):
        """log p0(x); ``-inf`` outside the support, never NaN."""
        with np.errstate(divide="ignore"):
            out = np.log(self.prob(x))
        return float(out) if np.ndim(out) == 0 else out

    def nll(self, x):
        """-log p0(x) in nats; ``inf`` outside the support."""
        out = -np.asarray(self.log_prob(x))
        return float(out) if out.ndim == 0 else out

    def entropy(self) -> float:
        """H(p0) = -sum p log p in nats."""
        return float(-np.sum(self.probs * np.log(self.probs)))

    def dense(self) -> np.ndarray:
        """p0 as a dense ``(N,) * L`` table (use only for small N**L)."""
        ensure_size(self.n_tokens**self.length, f"the dense table of {self!r}")
        out = np.zeros(self.n_tokens**self.length)
        out[self._keys] = self.probs
        return out.reshape((self.n_tokens,) * self.length)

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.decode(self.support), self.probs.tolist()))

    def _compatible_mass(self, x: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """``(B, S)``: p0(z) where z agrees with x on the visible positions, else 0."""
        out = np.empty((x.shape[0], self.support_size))
        step = max(1, _BLOCK // (self.support_size * self.length))
        for lo in range(0, x.shape[0], step):
            xb, vb = x[lo : lo + step, None, :], visible[lo : lo + step, None, :]
            agree = np.all((self.support[None] == xb) | ~vb, axis=-1)
            out[lo : lo + step] = agree * self.probs
        return out

    def marginal(self, x, visible) -> np.ndarray:
        """Pattern marginals P0(x^U) = sum over z with z^U = x^U of p0(z) (``docs/theory.md`` §1.4).

        Parameters
        ----------
        x : (L,) or (B, L) int array
            Values at the visible positions (others are ignored; mask ids allowed).
        visible : (L,) or (B, L) bool array
            U, the visible positions.

        Returns
        -------
        float or (B,) float array
        """
        x = self._tokens(x, "x", allow_mask=True, ndim=(1, 2))
        single = x.ndim == 1
        x2 = np.atleast_2d(x)
        visible = ensure_array(visible, "visible", dtype=bool, ndim=(1, 2))
        if visible.shape not in ((self.length,), x2.shape):
            raise ValueError(f"`visible` must have shape ({self.length},) or {x2.shape} like `x` (got {visible.shape})")
        visible = np.broadcast_to(visible, x2.shape)
        out = self._compatible_mass(x2, visible).sum(axis=1)
        return float(out[0]) if single else out

    def log_marginal(self, x) -> np.ndarray:
        """``log P0(x^U)`` with U the positions of ``x`` not holding the mask id (§1.4); ``-inf``, never NaN.

        Parameters
        ----------
        x : (L,) or (B, L) int array
            Tokens in 0..N, the mask id N at hidden positions.
        """
        x = self._tokens(x, "x", allow_mask=True, ndim=(1, 2))
        with np.errstate(divide="ignore"):
            return np.log(self.marginal(x, x != self.mask_id))

    def sample(self, length=None, *, n: int | None = None, rng=None) -> np.ndarray:
        """Draw sequences x ~ p0 (the Source protocol's sampler).

        Parameters
        ----------
        length : int, optional
            Must be the distribution's length L if given.
        n : int, optional
            Number of draws; one ``(L,)`` sequence when omitted.
        rng : int or numpy.random.Generator, optional

        Returns
        -------
        (n, L) or (L,) int array
        """
        if length is not None and ensure_int(length, "length") != self.length:
            raise ValueError(f"`length` must be the distribution's length {self.length} (got {length})")
        rng = ensure_rng(rng)
        count = 1 if n is None else positive_int(n, "n")
        ensure_size(count * self.length, f"`n` = {count} sequences of length {self.length}")
        rows = rng.choice(self.support_size, size=count, p=self.probs)
        x = np.asarray(self.support)[rows]
        return x[0] if n is None else x

    def denoiser(self, length=None) -> OptimalDenoiser:
        """The optimal denoiser c* of this distribution (``docs/theory.md`` §3.1)."""
        if length is not None and ensure_int(length, "length") != self.length:
            raise ValueError(f"`length` must be the distribution's length {self.length} (got {length})")
        return OptimalDenoiser(self)

    def mask_dce_table(self, x, target, context=None, *, method=None) -> np.ndarray:
        """A(M) of the optimal denoiser c* for every mask M ⊆ I1, from subset tables (Cor. 4.3, §3.5).

        ``A(M) = Σ_{t∈M} [h(V ∪ {t}) - h(V)]``, ``V = (I1 ∖ M) ∪ I2`` visible and
        ``h(U) = -log P0(x^U)`` (:func:`ctmc_lab.masks.mask_dce` on the target's subsets).

        Parameters
        ----------
        x : (L,) or (B, L) int array or strings
        target : positions
            I1 (list or ``(L,)`` bool mask).
        context : positions, optional
            I2, always visible; default every non-target position. The rest is marginalised.
        method : {"subset"}, optional

        Returns
        -------
        (2**n,) or (B, 2**n) float array
            By local bitmask (bit t = t-th smallest target); ``+inf`` where a conditional is 0.
        """
        if method is not None:
            ensure_choice(method, "method", self.mask_dce_methods)
        x = self._tokens(x, "x", ndim=(1, 2))
        tgt = as_positions(target, self.length, "target")
        ctx = (
            np.setdiff1d(np.arange(self.length), tgt)
            if context is None
            else as_positions(context, self.length, "context")
        )
        if tgt.size == 0 or np.intersect1d(tgt, ctx).size:
            raise ValueError("`target` must be non-empty and disjoint from `context`")
        h = subset_entropy(self.subset_table(x))  # by visible bitmask over all L positions
        # Visible bitmask over [L] of each visible bitmask over the targets, plus the context.
        ctx_bits = int(np.sum(np.left_shift(1, ctx))) if ctx.size else 0
        visible = subset_members(tgt.size) @ np.left_shift(np.int64(1), tgt) | ctx_bits
        # Row-major, as the moments' matrix products expect: a column-major table gives other roundings.
        return mask_dce(np.ascontiguousarray(h[..., visible]))

    def subset_table(self, x0) -> np.ndarray:
        """P0(x0^U) for every subset U of positions (``docs/theory.md`` §3.5, §5.2).

        Parameters
        ----------
        x0 : (L,) or (B, L) int array or strings

        Returns
        -------
        (2**L,) or (B, 2**L) float array
            Entry ``u`` is the mass of sequences agreeing with ``x0`` on the bitmask ``u``.

        Notes
        -----
        Each support sequence z adds p0(z) at its agreement bitmask a(z) with x0; a
        superset sum (zeta transform, L passes of bit tricks) then gives
        ``P0(x0^U) = sum_{T ⊇ U} g(T)``: O(S L + 2^L L) per sequence instead of O(2^L S L).
        """
        x0 = self._tokens(x0, "x0", ndim=(1, 2))
        single = x0.ndim == 1
        x0 = np.atleast_2d(x0)
        n_batch, length = x0.shape
        ensure_size(n_batch << length, f"the subset tables of {n_batch} sequences of length {length}")
        n_sub = 1 << length
        bit = 1 << np.arange(length, dtype=np.int64)
        g = np.zeros(n_batch * n_sub)
        step = max(1, _BLOCK // (self.support_size * length))
        for lo in range(0, n_batch, step):
            agree = (self.support[None] == x0[lo : lo + step, None, :]) @ bit  # (b, S) bitmasks
            rows = np.arange(lo, lo + agree.shape[0])[:, None] * n_sub
            g += np.bincount(
                (rows + agree).ravel(),
                weights=np.broadcast_to(self.probs, agree.shape).ravel(),
                minlength=n_batch * n_sub,
            )
        g = g.reshape(n_batch, n_sub)
        for i in range(length):
            view = g.reshape(n_batch, n_sub >> (i + 1), 2, 1 << i)
            view[:, :, 0, :] += view[:, :, 1, :]
        return g[0] if single else g

    def conditional_log_probs(self, x) -> np.ndarray:
        """log p0(x^i = v | x^{U(x)}) for a batch of partially masked sequences.

        This is the optimal denoiser c* (``docs/theory.md`` §3.1).

        Parameters
        ----------
        x : (B, L) int array
            Tokens in 0..N, with the mask id N at masked positions.

        Returns
        -------
        (B, L, N) float array
            Log-probabilities. A visible position carries the point mass on its token; a
            context of zero probability gives ``-inf`` everywhere (its NLL is infinite).
        """
        x = ensure_tokens(x, self.n_tokens, self.length, allow_mask=True, ndim=2)
        if (self.n_tokens + 1) ** self.length <= PATTERN_LIMIT:
            return self._conditionals_from_patterns(x)
        return self._conditionals_from_support(x)

    def pattern_marginals(self) -> np.ndarray:
        """P0(x̃^U) for every partially masked x̃ in (V ∪ {mask})^L, as an ``(N+1,) * L`` tensor.

        Slot N of each axis (the mask id) holds the sum over that axis, so the entry at x̃ is
        the mass of the sequences that agree with x̃ on its unmasked positions (§1.4). Built
        once by one appended sum per axis, L (N+1)^L work, and cached; only for
        (N+1)^L <= 2^22.
        """
        if self._patterns is None:
            size = (self.n_tokens + 1) ** self.length
            if size > PATTERN_LIMIT:
                raise ValueError(
                    f"pattern marginals over {self.n_tokens + 1}^{self.length} = {size:.3g} states "
                    f"exceed the limit {PATTERN_LIMIT}"
                )
            table = self.dense()
            for ax in range(self.length):
                table = np.concatenate([table, table.sum(axis=ax, keepdims=True)], axis=ax)
            table.setflags(write=False)
            self._patterns = table
        return self._patterns

    def _conditionals_from_patterns(self, x: np.ndarray) -> np.ndarray:
        """c*(x)_{i,v} = P0(x^{i<-v} pattern) / P0(x pattern), two lookups in :meth:`pattern_marginals`.

        Independent of the support scan of :meth:`_conditionals_from_support` (its twin in
        the tests) and of the subset tables.
        """
        table = self.pattern_marginals().reshape(-1)
        n, length = self.n_tokens, self.length
        place = (n + 1) ** np.arange(length - 1, -1, -1, dtype=np.int64)  # (L,)
        index = flat_index(x, n + 1, check=False)  # (B,); tokens checked by the caller
        den = table[index][:, None, None]
        # x with position i set to v: replace digit x^i by v in the base-(N+1) index.
        moved = index[:, None, None] + (np.arange(n)[None, None, :] - x[:, :, None]) * place[None, :, None]
        num = table[moved]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(num) - np.log(den)
        # A visible position is known: the point mass on its token.
        visible = (x != self.mask_id)[:, :, None]
        point = np.where(np.arange(n)[None, None, :] == x[:, :, None], 0.0, -np.inf)
        out = np.where(visible, point, out)
        return np.where(den > 0, out, -np.inf)

    def _conditionals_from_support(self, x: np.ndarray) -> np.ndarray:
        """c* by scanning the support for sequences compatible with each input."""
        w = self._compatible_mass(x, x != self.mask_id)
        onehot = np.zeros((self.support_size, self.length, self.n_tokens))
        np.put_along_axis(onehot, self.support[:, :, None], 1.0, axis=2)
        num = (w @ onehot.reshape(self.support_size, -1)).reshape(x.shape + (self.n_tokens,))
        den = w.sum(axis=1)[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(num) - np.log(den)
        return np.where(den > 0, out, -np.inf)
