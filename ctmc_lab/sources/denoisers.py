"""The ``Denoiser`` protocol and the optimal denoiser c* (``docs/theory.md`` §3.1).

A denoiser maps a ``(B, L)`` int batch of partially masked sequences (mask id = N) to
``(B, L, N)`` log-probabilities. Rows at masked positions are distributions over V. The
optimal denoiser of an exact distribution is c*(x)_{i,v} = p0(x^i = v | x^{U(x)}).
Every estimator and exact-moment routine takes a ``Denoiser``, so a user's model is
scored by the same code that checks the theory.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    InvalidTypeError,
    ensure_bool,
    ensure_callable,
    ensure_int,
    ensure_real,
    ensure_tokens,
    positive_int,
)

__all__ = ["Denoiser", "OptimalDenoiser", "CallableDenoiser", "MixedDenoiser", "TemperedDenoiser", "check_denoiser"]


@runtime_checkable
class Denoiser(Protocol):
    """Any callable ``(B, L) int -> (B, L, N) float`` of log-probabilities.

    Attributes
    ----------
    n_tokens : int
        N; the mask id is N.
    length : int
        L, the sequence length it accepts.
    """

    n_tokens: int
    length: int

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


class OptimalDenoiser:
    """c* of a :class:`~ctmc_lab.sources.joint.JointDistribution` (or any object with
    ``conditional_log_probs``, ``n_tokens`` and ``length``).

    Examples
    --------
    >>> from ctmc_lab.sources.datasets import dna128
    >>> c = OptimalDenoiser(dna128())
    >>> x = np.full((1, 8), 4)          # fully masked
    >>> np.exp(c(x)).sum(axis=-1).round(12).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """

    def __init__(self, source):
        if not callable(getattr(source, "conditional_log_probs", None)):
            raise InvalidTypeError(
                f"`source` must have a `conditional_log_probs` method (got {type(source).__name__}); "
                "a source's own `denoiser(length)` gives its optimal denoiser"
            )
        self.source = source
        self.n_tokens = ensure_int(getattr(source, "n_tokens", None), "source.n_tokens", minimum=1)
        length = getattr(source, "length", None)
        if length is None:
            raise ValueError(
                f"`source` {type(source).__name__} has no fixed `length`: use its `denoiser(length)` instead"
            )
        self.length = ensure_int(length, "source.length", minimum=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.source.conditional_log_probs(x)

    def __repr__(self) -> str:
        return f"OptimalDenoiser({self.source!r})"


# ---------------------------------------------------------------------------------- validation
def _check_input(x, n_tokens: int, length: int) -> np.ndarray:
    """A validated ``(B, L)`` int batch with tokens in 0..N (N = mask id); B may be 0."""
    return ensure_tokens(x, n_tokens, length, allow_mask=True, ndim=2, allow_empty=True)


def check_denoiser(denoiser, name: str = "denoiser"):
    """``denoiser`` if it is a :class:`Denoiser`: callable, with integer ``n_tokens`` ≥ 1 and ``length`` ≥ 1.

    Raises
    ------
    TypeError, ValueError
        Naming ``name``: not callable, or without valid ``n_tokens`` and ``length`` (a source
        gives its optimal denoiser with ``source.denoiser(length)``).
    """
    if not callable(denoiser) or not hasattr(denoiser, "n_tokens") or not hasattr(denoiser, "length"):
        raise InvalidTypeError(
            f"`{name}` must be a Denoiser, a callable with `n_tokens` and `length` (got {type(denoiser).__name__}); "
            "a source's optimal denoiser is `source.denoiser(length)`"
        )
    ensure_int(denoiser.n_tokens, f"{name}.n_tokens", minimum=1)
    if denoiser.length is None:
        raise ValueError(f"`{name}.length` must be an integer ≥ 1 (got None)")
    ensure_int(denoiser.length, f"{name}.length", minimum=1)
    return denoiser


class CallableDenoiser:
    """Wrap any callable ``fn((B, L) int) -> (B, L, N)`` log-probabilities as a checked Denoiser.

    Parameters
    ----------
    fn : callable
        The user's model. It receives a ``(B, L)`` int64 array with mask id N.
    n_tokens : int
        N, the number of clean symbols.
    length : int
        L, the sequence length.
    atol : float, default 1e-9
        Tolerance (``ctmc_lab._validation.SUM_TOLERANCE``) on the row sums ``sum_v exp(out[b, i, v])`` at masked positions.
    check_normalisation : bool, default True
        Set False to score an unnormalised model on purpose (then the DSE of Lemma 3.3 carries
        its correction term, ``docs/theory.md`` §3.2).

    Notes
    -----
    Every call validates the output: shape ``(B, L, N)``, no NaN and no ``+inf`` (``-inf``, a
    zero probability, is allowed), and rows at masked positions summing to 1 within ``atol``.
    A violation raises ``ValueError`` naming the offending batch row and position.

    Examples
    --------
    >>> import numpy as np
    >>> uniform = CallableDenoiser(lambda x: np.full(x.shape + (4,), -np.log(4.0)), 4, 3)
    >>> uniform(np.array([[4, 0, 4]])).shape
    (1, 3, 4)
    """

    def __init__(
        self, fn, n_tokens: int, length: int, *, atol: float = SUM_TOLERANCE, check_normalisation: bool = True
    ):
        self.fn = ensure_callable(fn, "fn")
        self.n_tokens = positive_int(n_tokens, "n_tokens")
        self.length = positive_int(length, "length")
        self.atol = ensure_real(atol, "atol", lo=0.0, lo_open=True)
        self.check_normalisation = ensure_bool(check_normalisation, "check_normalisation")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_input(x, self.n_tokens, self.length)
        out = np.asarray(self.fn(x), dtype=float)
        expected = x.shape + (self.n_tokens,)
        if out.shape != expected:
            raise ValueError(f"the denoiser returned shape {out.shape}, expected (B, L, N) = {expected}")
        bad = np.isnan(out) | (out == np.inf)
        if bad.any():
            b, i, _ = np.argwhere(bad)[0]
            raise ValueError(
                f"the denoiser returned NaN or +inf log-probabilities (first at batch row {b}, position {i})"
            )
        if self.check_normalisation:
            masked = x == self.n_tokens
            total = np.exp(out).sum(axis=-1)
            err = np.where(masked, np.abs(total - 1.0), 0.0)
            if err.size and err.max() > self.atol:
                b, i = np.unravel_index(np.argmax(err), err.shape)
                raise ValueError(
                    f"the denoiser's rows at masked positions must sum to 1 within {self.atol:g} "
                    f"(batch row {b}, position {i} sums to {total[b, i]!r})"
                )
        return out

    def __repr__(self) -> str:
        return f"CallableDenoiser({self.fn!r}, n_tokens={self.n_tokens}, length={self.length})"


class MixedDenoiser:
    """A non-optimal denoiser: c = (1 - w) c_base + w r at masked positions.

    Parameters
    ----------
    base : Denoiser
        Typically :class:`OptimalDenoiser`.
    mix_with : {"uniform", "marginals"} or Denoiser, default "uniform"
        r: the uniform distribution 1/N; ``"marginals"`` the base's own single-site marginals
        (its output on the fully masked sequence, i.e. p0(x^i = v) for c*); or any denoiser,
        evaluated on the same input.
    weight : float in [0, 1]
        w. ``weight=0`` returns the base unchanged.

    Notes
    -----
    Rows stay normalised, so by Thm 3.5 / Cor 3.7 (``docs/theory.md`` §3.4) the integrated DCE
    of the mixture, sum_M B(m, L-m+1) A_θ(M), is a strict upper bound on E_{p0}[-log p0]
    whenever ``w > 0`` and r differs from c*; and every a_i = A_θ({i}) becomes positive, so
    λ-DCE has infinite variance (§6.3). Visible positions keep the base's rows.

    Examples
    --------
    >>> from ctmc_lab.sources.datasets import dna128
    >>> c = MixedDenoiser(OptimalDenoiser(dna128()), "uniform", weight=0.1)
    >>> float(np.exp(c(np.full((1, 8), 4))).sum(-1).max().round(12))
    1.0
    """

    _NAMED = ("uniform", "marginals")

    def __init__(self, base, mix_with="uniform", *, weight: float):
        base = check_denoiser(base, "base")
        weight = ensure_real(weight, "weight", lo=0.0, hi=1.0)
        if isinstance(mix_with, str):
            if mix_with not in self._NAMED:
                raise ValueError(f"unknown `mix_with` {mix_with!r}; choose one of {list(self._NAMED)} or a Denoiser")
        elif isinstance(mix_with, Denoiser):
            check_denoiser(mix_with, "mix_with")
            if (mix_with.n_tokens, mix_with.length) != (base.n_tokens, base.length):
                raise ValueError(
                    f"`mix_with` has (n_tokens, length) = {(mix_with.n_tokens, mix_with.length)}, "
                    f"expected {(base.n_tokens, base.length)} like `base`"
                )
        else:
            raise ValueError(f"`mix_with` must be 'uniform', 'marginals' or a Denoiser (got {mix_with!r})")
        self.base = base
        self.mix_with = mix_with
        self.weight = weight
        self.n_tokens = base.n_tokens
        self.length = base.length
        self._marginals = None

    def _reference_log(self, x: np.ndarray) -> np.ndarray:
        if isinstance(self.mix_with, str) and self.mix_with == "uniform":
            return np.full(x.shape + (self.n_tokens,), -np.log(self.n_tokens))
        if isinstance(self.mix_with, str):  # marginals: computed once, they do not depend on x
            if self._marginals is None:
                self._marginals = np.asarray(self.base(np.full((1, self.length), self.n_tokens)))[0]
            return np.broadcast_to(self._marginals, x.shape + (self.n_tokens,))
        return np.asarray(self.mix_with(x), dtype=float)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_input(x, self.n_tokens, self.length)
        log_c = np.asarray(self.base(x), dtype=float)
        if self.weight == 0.0:
            return log_c
        log_r = self._reference_log(x)
        # log((1-w) c + w r) by logaddexp: exact where c = 0 (log c = -inf), no log(0) warnings.
        with np.errstate(divide="ignore"):
            mixed = np.logaddexp(np.log1p(-self.weight) + log_c, np.log(self.weight) + log_r)
        return np.where((x == self.n_tokens)[..., None], mixed, log_c)

    def __repr__(self) -> str:
        return f"MixedDenoiser({self.base!r}, {self.mix_with!r}, weight={self.weight})"


class TemperedDenoiser:
    """c_T ∝ c^(1/T) at masked positions (T > 1 flattens, T < 1 sharpens); rows renormalised.

    Parameters
    ----------
    base : Denoiser
    temperature : float > 0

    Notes
    -----
    Zero-probability entries stay zero, so with c* the support of each row is unchanged and
    the singleton terms a_i that were 0 (one-hot rows) stay 0; compare :class:`MixedDenoiser`,
    which makes every a_i positive.
    """

    def __init__(self, base, *, temperature: float):
        base = check_denoiser(base, "base")
        temperature = ensure_real(temperature, "temperature", lo=0.0, lo_open=True)
        self.base = base
        self.temperature = temperature
        self.n_tokens = base.n_tokens
        self.length = base.length

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_input(x, self.n_tokens, self.length)
        log_c = np.asarray(self.base(x), dtype=float)
        scaled = log_c / self.temperature
        with np.errstate(invalid="ignore"):
            norm = np.logaddexp.reduce(scaled, axis=-1, keepdims=True)
            out = scaled - norm
        # A row that is -inf everywhere (a zero-probability context) stays -inf, never NaN.
        out = np.where(np.isfinite(norm), out, -np.inf)
        return np.where((x == self.n_tokens)[..., None], out, log_c)

    def __repr__(self) -> str:
        return f"TemperedDenoiser({self.base!r}, temperature={self.temperature})"
