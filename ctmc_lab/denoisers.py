"""The ``Denoiser`` protocol and the optimal denoiser c* (``math_spec.md`` §3.1).

A denoiser maps a ``(B, L)`` int batch of partially masked sequences (mask id = N) to
``(B, L, N)`` log-probabilities. Rows at masked positions are distributions over V. The
optimal denoiser of an exact distribution is c*(x)_{i,v} = p0(x^i = v | x^{U(x)}).
Every estimator and exact-moment routine takes a ``Denoiser``, so a user's model is
scored by the same code that checks the theory.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Denoiser", "OptimalDenoiser"]


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
    """c* of a :class:`~ctmc_lab.distributions.JointDistribution` (or any object with
    ``conditional_log_probs``, ``n_tokens`` and ``length``).

    Examples
    --------
    >>> from ctmc_lab.datasets import dna128
    >>> c = OptimalDenoiser(dna128())
    >>> x = np.full((1, 8), 4)          # fully masked
    >>> np.exp(c(x)).sum(axis=-1).round(12).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]
    """

    def __init__(self, source):
        self.source = source
        self.n_tokens = source.n_tokens
        self.length = source.length

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.source.conditional_log_probs(x)

    def __repr__(self) -> str:
        return f"OptimalDenoiser({self.source!r})"
