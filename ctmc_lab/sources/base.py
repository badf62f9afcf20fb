"""The ``Source`` protocol: what the exact conditional likelihood, the exact moments and the studies
ask of a distribution p0 (``docs/theory.md`` §1.4, §4.2, §5.4).

A source answers, for sequences over ``V = {0..N-1}`` with the mask id N:

* exact marginals of visible positions, ``log P(x^U)`` (:meth:`Source.log_marginal`), from which
  the true conditional ``-log p0(x^{I1} | x^{I2}) = log P(x^{I2}) - log P(x^{I1 ∪ I2})`` follows;
* its optimal denoiser c* for a length (:meth:`Source.denoiser`, Prop. 3.1), which every Monte
  Carlo estimator and the generic A-table route run on;
* the table A(M) over every mask of a target set (:meth:`Source.mask_dce_table`), the input of
  Cor. 4.3 and of every exact moment (§6), by the source's own exact routes;
* samples x ~ p0 (:meth:`Source.sample`), which the Monte Carlo protocols and the studies draw.

:class:`~ctmc_lab.sources.joint.JointDistribution`, :class:`~ctmc_lab.sources.markov.chain.MarkovChain`
and :class:`~ctmc_lab.sources.markov.chain.ContinuedChain` implement it; so can a class defined anywhere
else, without subclassing anything. Code that consumes a source calls these members and never
branches on its type.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ctmc_lab._validation import InvalidTypeError, ensure_str

__all__ = ["Source", "NormalisationError", "check_source", "QUERY_MEMBERS"]

#: The members an exact conditional query calls (marginals, the A-table routes, the denoiser).
QUERY_MEMBERS = ("n_tokens", "encode", "log_marginal", "denoiser", "mask_dce_table", "mask_dce_methods")


@runtime_checkable
class Source(Protocol):
    """A distribution p0 over ``V^L`` that answers exact queries.

    Attributes
    ----------
    n_tokens : int
        N; the mask id is N.
    length : int or None
        L for a source over one sequence length; None for a source over windows of any length
        (a Markov chain), where each query's sequence sets L.
    alphabet : Alphabet or None
        Symbols for reading and printing sequences.
    mask_dce_methods : tuple of str
        The routes :meth:`mask_dce_table` accepts as ``method``, the first its default; empty when
        the A-table comes only from the optimal denoiser.
    """

    n_tokens: int
    length: int | None
    alphabet: object
    mask_dce_methods: tuple[str, ...]

    def encode(self, x) -> np.ndarray:
        """Strings or int arrays -> a validated int array of clean tokens (last axis = positions)."""
        ...

    def decode(self, x):
        """Int tokens -> strings (or comma-separated integers without an alphabet)."""
        ...

    def log_prob(self, x):
        """``log p0(x)`` of clean sequences: a float for one, a ``(B,)`` array for a batch; ``-inf``, never NaN."""
        ...

    def nll(self, x):
        """``-log p0(x)`` in nats (``inf`` outside the support)."""
        ...

    def log_marginal(self, x) -> np.ndarray:
        """``log P(x^U)`` of each row of a ``(B, L)`` int array, U the positions not holding the mask id N (§1.4)."""
        ...

    def sample(self, length=None, *, n: int | None = None, rng=None) -> np.ndarray:
        """Draw clean sequences x ~ p0: ``(n, L)``, or one ``(L,)`` sequence when ``n`` is None.

        ``length`` is L for a source over windows of any length (a chain draws stationary
        windows); a source over one length accepts only its own L or None. ``rng`` follows SPEC 7.
        """
        ...

    def denoiser(self, length: int):
        """The optimal :class:`~ctmc_lab.sources.denoisers.Denoiser` c* of length-L inputs (Prop. 3.1)."""
        ...

    def mask_dce_table(self, x, target, context=None, *, method=None) -> np.ndarray:
        """A(M) = Σ_{i∈M} -log p0(x^i | x^{(I1∖M) ∪ I2}) for every mask M ⊆ I1 (Cor. 4.3, §4.2).

        ``x`` is one clean sequence, ``target`` the positions I1, ``context`` the always-visible
        positions I2 (default: every non-target position); the rest are marginalised. Returns the
        ``(2**n,)`` table by local bitmask (bit t = t-th smallest target), ``A[0] = 0``.
        """
        ...


def check_source(source, name: str = "source", *, members=QUERY_MEMBERS):
    """``source`` if it has the :class:`Source` ``members`` a caller needs, else a one-line TypeError.

    Examples
    --------
    >>> check_source(3, members=("n_tokens", "log_prob"))
    Traceback (most recent call last):
    ...
    ctmc_lab._validation.InvalidTypeError: `source` must be a Source with `n_tokens` and `log_prob` (got int, which has no `n_tokens` or `log_prob`)
    """
    name = ensure_str(name, "name")
    missing = [m for m in members if not hasattr(source, m)]
    if missing:
        listed = ", ".join(f"`{m}`" for m in members[:-1]) + f" and `{members[-1]}`"
        raise InvalidTypeError(
            f"`{name}` must be a Source with {listed} (got {type(source).__name__}, "
            f"which has no {' or '.join(f'`{m}`' for m in missing)})"
        )
    return source


class NormalisationError(ValueError):
    """A sum that must be 1 is off by more than ``ctmc_lab._validation.SUM_TOLERANCE``.

    ``str(err)`` names the Python remedy (``normalize=True``); ``err.fact`` is the bare rule, for a
    front end that names its own option instead.
    """

    def __init__(self, fact: str):
        self.fact = fact
        super().__init__(f"{fact}; pass `normalize=True` to rescale them")
