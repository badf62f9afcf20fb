"""Double-exponential (tanh-sinh) quadrature for vector-valued integrands on [a, b].

The integrals of the paper (∫ mdse ds, ∫ mdce/λ dλ) are analytic inside the interval but
can carry an integrable logarithmic singularity at the end where the noise vanishes
(``docs/theory.md`` §2.5: uniform noise, mdse_s ~ (n1/N) log(1/s)). Tanh-sinh nodes cluster
double-exponentially at both ends, so such endpoint singularities cost no more than a
smooth integrand, and one node set serves every component of a vector integrand (all x0
at once). Levels halve the step and reuse the previous nodes; the difference of two
levels is the error estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ctmc_lab._validation import ensure_callable, ensure_int, ensure_real

__all__ = ["tanh_sinh", "QuadratureResult"]

# Nodes with |t| <= 4 reach within about exp(-π sinh 4) ≈ 1e-37 of the ends (relative to
# the interval); the neglected end pieces are below that times the integrand's log growth.
_T_MAX = 4.0


@dataclass(frozen=True)
class QuadratureResult:
    """Integral estimate with its error estimates.

    Attributes
    ----------
    value : float array
    error : float array
        |difference of the last two levels|, per component.
    n_evaluations : int
    converged : bool
        Every component has ``error <= atol`` and ``tail <= atol``.
    tail : float array
        Size of the pieces beyond the outermost nodes (within about 1e-37 of each end,
        relative to the interval), estimated per component as |f| times the distance to
        the end at the outermost node on each side: negligible for an integrable log
        singularity, of order the integral itself when f still grows like 1/distance there
        (the pieces the quadrature cannot see, e.g. ∫ mdse ds for p0(x0) below about 1e-60).
    """

    value: np.ndarray
    error: np.ndarray
    n_evaluations: int
    converged: bool
    tail: np.ndarray = None

    def component_ok(self, atol: float) -> np.ndarray:
        """Per component: level difference and end pieces both within ``atol``."""
        atol = ensure_real(atol, "atol", lo=0.0)
        tail = np.zeros_like(self.error) if self.tail is None else self.tail
        return (self.error <= atol) & (tail <= atol)


def _nodes(a: float, b: float, h: float, odd_only: bool):
    """Abscissae and weights at t = k h, |t| <= T_MAX (only odd k on a refined level)."""
    n = int(np.floor(_T_MAX / h))
    k = np.arange(-n, n + 1)
    t = h * (k[k % 2 != 0] if odd_only else k)
    u = 0.5 * np.pi * np.sinh(t)
    half = 0.5 * (b - a)
    # Distance to each end, computed without cancellation: (1 ± tanh u)/2 = e^{±u}/(2 cosh u).
    from_a = half * np.exp(-u) / np.cosh(u)
    from_b = half * np.exp(u) / np.cosh(u)
    x = np.where(t < 0, a + from_a, b - from_b)
    w = half * 0.5 * np.pi * np.cosh(t) / np.cosh(u) ** 2
    return x, w, from_a, from_b


def tanh_sinh(
    f: Callable[[float], np.ndarray],
    a: float,
    b: float,
    *,
    atol: float = 1e-13,
    max_level: int = 8,
) -> QuadratureResult:
    """Integrate a vector-valued ``f`` over [a, b] by nested tanh-sinh levels.

    Parameters
    ----------
    f : callable
        ``f(x, from_a, from_b)`` returns an array (the same shape at every node). The two
        extra arguments are the distances ``x - a`` and ``b - x`` computed without
        cancellation, so a singular end can be evaluated accurately.
    a, b : float
        Finite limits.
    atol : float
        Stop when the largest |level difference| is below ``atol``.
    max_level : int
        Step h = 2^-level, level in 1..16; the last level has about 2^(level+3) nodes.

    Returns
    -------
    QuadratureResult
    """
    f = ensure_callable(f, "f")
    a, b = ensure_real(a, "a"), ensure_real(b, "b")
    if not b > a:
        raise ValueError(f"`b` must be above `a` (got a = {a:g}, b = {b:g})")
    atol = ensure_real(atol, "atol", lo=0.0, lo_open=True)
    max_level = ensure_int(max_level, "max_level", minimum=1, maximum=16)
    h = 1.0
    x, w, da, db = _nodes(a, b, h, False)
    values = [np.asarray(f(xi, dai, dbi), dtype=float) for xi, dai, dbi in zip(x, da, db)]
    total = sum(wi * vi for wi, vi in zip(w, values))
    # Level 0 holds the outermost nodes (t = ±T_MAX); later levels only fill in between.
    tail = np.abs(values[0]) * min(da[0], db[0]) + np.abs(values[-1]) * min(da[-1], db[-1])
    n_eval = len(x)
    value = h * total
    error = np.full(np.shape(value), np.inf)
    for level in range(1, max_level + 1):
        h /= 2
        x, w, da, db = _nodes(a, b, h, True)
        total = total + sum(wi * np.asarray(f(xi, dai, dbi), dtype=float) for xi, wi, dai, dbi in zip(x, w, da, db))
        n_eval += len(x)
        new = h * total
        error = np.abs(new - value)
        value = new
        if level >= 3 and np.all(error <= atol):
            break
    ok = bool(np.all(error <= atol) and np.all(tail <= atol))
    return QuadratureResult(value, error, n_eval, ok, tail)
