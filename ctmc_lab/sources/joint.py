"""Exact distributions p0 over V^L with an explicit support (``docs/theory.md`` §1.1, §3.5, §5.2).

A :class:`JointDistribution` stores the support sequences and their probabilities. All
queries (probabilities, pattern marginals P0(x^U), the subset table of a sequence, the
optimal denoiser c*) are vectorised over batches and never build V^L unless asked to.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import numpy as np

from ctmc_lab._validation import (
    ensure_array,
    ensure_choice,
    ensure_int,
    ensure_rng,
    ensure_size,
    ensure_str,
    ensure_tokens,
    positive_int,
)
from ctmc_lab.sequences import flat_index
from ctmc_lab.sources import _joint_build as build
from ctmc_lab.sources import _support_tables as tables
from ctmc_lab.sources._tokens import read_tokens, show_tokens
from ctmc_lab.sources.denoisers import OptimalDenoiser

__all__ = ["JointDistribution"]

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
        self.support, self.probs, self._keys, self.n_tokens, self.alphabet, self.name = build.canonical_table(
            support, probs, n_tokens, alphabet, normalize, name
        )
        self._patterns = None  # lazily built (N+1)^L table, see pattern_marginals

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, mapping: Mapping[str, float], *, alphabet=None, normalize=False, name=None):
        """Build from ``{sequence string: probability}``.

        The alphabet is inferred (sorted symbols) when not given.
        """
        support, probs, alphabet = build.mapping_table(mapping, alphabet)
        return cls(support, probs, n_tokens=alphabet.n_tokens, alphabet=alphabet, normalize=normalize, name=name)

    @classmethod
    def from_json(cls, path: str | PathLike, *, alphabet=None, normalize=False, name=None):
        """Read a JSON object mapping sequence strings to probabilities."""
        return cls.from_dict(build.read_mapping(path), alphabet=alphabet, normalize=normalize, name=name or str(path))

    @classmethod
    def from_dense(cls, table, *, alphabet=None, normalize=False, name=None):
        """Build from a dense table of shape ``(N,) * L`` (or flat ``(N**L,)`` with ``alphabet``)."""
        support, probs, n, alphabet = build.dense_table(table, alphabet)
        return cls(support, probs, n_tokens=n, alphabet=alphabet, normalize=normalize, name=name)

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
        support, probs, n, alphabet = build.source_table(source, length, ENUMERATION_LIMIT)
        return cls(support, probs, n_tokens=n, alphabet=alphabet, name=name)

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
        return read_tokens(x, self.alphabet, self.n_tokens, name, length=self.length, allow_mask=allow_mask, ndim=ndim)

    def decode(self, x) -> str | list[str]:
        """Tokens in 0..N (``(L,)`` or ``(B, L)``) as strings; comma-separated integers without an alphabet."""
        return show_tokens(x, self.alphabet, self.n_tokens)

    def index(self, x) -> np.ndarray:
        """Row of each sequence in ``support``, or -1 where it is outside the support."""
        keys = flat_index(self.encode(x), self.n_tokens, check=False)
        pos = np.minimum(np.searchsorted(self._keys, keys), self._keys.size - 1)
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
        out = tables.compatible_mass(self.support, self.probs, x2, visible).sum(axis=1)
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
        self._own_length(length)
        rng = ensure_rng(rng)
        count = 1 if n is None else positive_int(n, "n")
        ensure_size(count * self.length, f"`n` = {count} sequences of length {self.length}")
        rows = rng.choice(self.support_size, size=count, p=self.probs)
        x = np.asarray(self.support)[rows]
        return x[0] if n is None else x

    def denoiser(self, length=None) -> OptimalDenoiser:
        """The optimal denoiser c* of this distribution (``docs/theory.md`` §3.1)."""
        self._own_length(length)
        return OptimalDenoiser(self)

    def _own_length(self, length) -> None:
        """Refuse a ``length`` argument (of the Source protocol) other than None or L."""
        if length is not None and ensure_int(length, "length") != self.length:
            raise ValueError(f"`length` must be the distribution's length {self.length} (got {length})")

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
        return tables.mask_dce_table(self.support, self.probs, x, target, context)

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
        g = tables.subset_tables(self.support, self.probs, np.atleast_2d(x0))
        return g[0] if x0.ndim == 1 else g

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
            self._patterns = tables.pattern_table(self.dense())
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
        return tables.conditionals_from_support(self.support, self.probs, self.n_tokens, x)
