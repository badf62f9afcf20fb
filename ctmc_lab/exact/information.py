"""KL(p_{s|0}(·|x0) ‖ p_s), its exact derivative, and I(x0; x_s) (``docs/theory.md`` §2.4, §5.1).

All quantities are at the unit-rate noise level ``s`` of a :class:`~ctmc_lab.forward.process.NoisedDistribution`;
multiply a derivative by sigma(t) for the time derivative under a schedule.

Every x0 is handled at once: since p_{s|0}(·|x0) = ⊗_i K[:, x0^i] is a product, an
expectation E_{x ~ p_{s|0}(·|x0)} f(x) is the contraction of f with K^T along every axis,
evaluated at x0 (:meth:`~ctmc_lab.forward.process.NoisedDistribution.expect_over_start`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ctmc_lab._validation import SUM_TOLERANCE, InvalidTypeError, ensure_str
from ctmc_lab.forward.process import (
    NoisedDistribution,
    NumericalRangeError,
    apply_along_axes,
    ensure_noised,
    leave_one_out,
)
from ctmc_lab.sequences import flat_index

__all__ = ["kl", "kl_rate", "mutual_information", "clamp_nonnegative"]

# The rounding allowance of a quantity that is non-negative by theory (KL, I(x0; x_s), mdse) is
# SUM_TOLERANCE relative to the terms it is the difference of. One value serves both uses
# because both are float64 sums of O(1)-scaled terms: a sum of up to ~1e6 terms, each off by an
# ulp, drifts by about 1e-10 of its scale, below 1e-9, while a real error (a wrong probability,
# a wrong kernel) moves either quantity by far more than 1e-9 of that scale.


def clamp_nonnegative(value, scale=1.0, *, what: str):
    """Set rounding-level negatives of a non-negative quantity to 0; refuse larger ones.

    Used where theory guarantees ``value >= 0`` but float64 computes it as a difference of
    larger terms: :func:`kl` (Gibbs' inequality), :func:`mutual_information` (through
    :func:`kl`) and :func:`ctmc_lab.exact.scores.mdse` (an expectation of Bregman divergences, §2.3).

    Parameters
    ----------
    value : float array
    scale : float array, broadcastable
        Size of the terms cancelled; the allowance is ``SUM_TOLERANCE * (1 + scale)``
        (``ctmc_lab._validation.SUM_TOLERANCE``).
    what : str
        The quantity's name for the message.

    Raises
    ------
    NumericalRangeError
        If a value is not finite, or negative beyond rounding (a numerical failure upstream,
        never a result).
    """
    what = ensure_str(what, "what")
    value, scale = _real(value, "value"), _real(scale, "scale")
    try:
        shape = np.broadcast_shapes(value.shape, scale.shape)
    except ValueError:
        shape = None
    if shape != value.shape:
        raise ValueError(f"`scale` of shape {scale.shape} does not broadcast to the shape {value.shape} of `value`")
    if not np.all(np.isfinite(value)):
        raise NumericalRangeError(f"{what} is not finite where it must be (float64 overflow at this noise level)")
    allowance = SUM_TOLERANCE * (1.0 + np.abs(scale))
    bad = value < -allowance
    if np.any(bad):
        worst = float(value[bad].min()) if value.ndim else float(value)
        raise NumericalRangeError(
            f"{what} = {worst:.3g} is negative beyond rounding (allowance {float(np.max(allowance)):.3g}); "
            "float64 cannot resolve this case"
        )
    return np.maximum(value, 0.0)


def _real(value, name: str) -> np.ndarray:
    """``value`` as a float array (its NaN and infinities are judged by the caller)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "fiu":
        raise InvalidTypeError(f"`{name}` must be a real number or array (got {value!r})")
    return arr.astype(float)


def _sequences(noised: NoisedDistribution, x0) -> np.ndarray:
    """``x0`` as one ``(L,)`` clean sequence of ``noised.dist`` or a ``(B, L)`` batch."""
    x0 = noised.dist.encode(x0, name="x0")
    if x0.ndim > 2:
        raise ValueError(f"`x0` must have shape (L,) or (B, L) (got shape {x0.shape})")
    return x0


def _gather(tensor: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """tensor[x0] for a batch of index rows, through the flat index."""
    return tensor.reshape(-1)[flat_index(x0, tensor.shape[0], check=False)]


def _self_term(coeff: np.ndarray, K: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """sum_i sum_a coeff[a, x0^i] log K[a, x0^i], skipping K = 0.

    Skipping is exact: for s > 0, K[a, b] = 0 means a is unreachable from b, and then
    (QK)[a, b] = dK[a, b]/ds = 0 too.
    """
    table = xlogy(coeff, np.where(K > 0, K, 1.0))
    return table.sum(axis=0)[x0].sum(axis=-1)


def kl(noised: NoisedDistribution, x0) -> np.ndarray:
    """F(x0, s) = KL(p_{s|0}(·|x0) ‖ p_s) for a batch of clean sequences (Thm. 3.1, §2.4).

    Parameters
    ----------
    noised : NoisedDistribution
        p0 pushed to noise level s.
    x0 : (L,) or (B, L) int array or strings

    Returns
    -------
    float or (B,) float array
        ``inf`` where p_{s|0}(·|x0) charges a state of zero p_s mass (e.g. x0 outside the
        support at s = 0, or under absorbing noise).

    Notes
    -----
    F = sum_i sum_a K[a, x0^i] log K[a, x0^i] - E_{x ~ p_{s|0}} log p_s(x): the entropy of a
    product splits over positions, and the cross term is one contraction for all x0.
    """
    noised = ensure_noised(noised)
    x0 = _sequences(noised, x0)
    single = x0.ndim == 1
    x0 = np.atleast_2d(x0)
    Kc = noised.clean_kernel
    neg_entropy = _self_term(Kc, Kc, x0)
    cross = _gather(noised.expect_over_start(noised.log_p), x0)
    infinite = noised.unreachable_mass(x0) > 0
    value = np.where(infinite, 0.0, neg_entropy - cross)
    scale = np.where(infinite, 0.0, np.abs(neg_entropy) + np.abs(cross))
    out = np.where(infinite, np.inf, clamp_nonnegative(value, scale, what="KL"))
    return float(out[0]) if single else out


def kl_rate(noised: NoisedDistribution, x0) -> np.ndarray:
    """Exact dF/ds of :func:`kl`, with no finite differences (``docs/theory.md`` §5.1 step 4).

    Notes
    -----
    dF/ds = sum_x (Q^(L) q)(x) log(q(x)/p_s(x)) - sum_x q(x) (Q^(L) p_s)(x) / p_s(x),
    with q = p_{s|0}(·|x0). Since Q^(L) q = sum_i (QK)[:, x0^i] ⊗ (K on the other axes) and
    the columns of QK sum to 0, the first term splits per position. Theorem 3.1 says this
    equals -mdse_s(x0, s). Requires s > 0 (at s = 0 the derivative is a one-sided limit).
    Where the KL is infinite the rate is ``-inf``, matching mdse = ``+inf``.
    """
    noised = ensure_noised(noised)
    if noised.s <= 0:
        raise ValueError("`noised` must be at a noise level s > 0 for kl_rate (got s = 0)")
    x0 = _sequences(noised, x0)
    single = x0.ndim == 1
    x0 = np.atleast_2d(x0)
    Q, K = noised.generator.Q, noised.K
    n = noised.dist.n_tokens
    QK = (Q @ K)[:, :n]
    Kc = noised.clean_kernel
    length = noised.dist.length

    # sum_i E[log p_s] with QK on axis i and K elsewhere: the L contractions share their
    # work through leave_one_out (about L log2 L axis steps instead of L^2).
    shared = None
    for i, G in leave_one_out(noised.log_p, Kc.T):
        term = apply_along_axes(G, QK.T, axes=[i])
        shared = term if shared is None else np.add(shared, term, out=shared)
    first = _self_term(QK, Kc, x0) - _gather(shared, x0)
    del shared

    drift = np.zeros_like(noised.p)
    for i in range(length):
        drift += apply_along_axes(noised.p, Q, axes=[i])
    ratio = np.divide(drift, noised.p, out=np.zeros_like(drift), where=noised.p > 0)
    second = _gather(noised.expect_over_start(ratio), x0)
    out = np.where(noised.unreachable_mass(x0) > 0, -np.inf, first - second)
    return float(out[0]) if single else out


def mutual_information(noised: NoisedDistribution) -> float:
    """I(x0; x_s) = E_{p0} KL(p_{s|0}(·|x0) ‖ p_s) (§2.4); H(p0) at s = 0, 0 as s -> ∞.

    Non-negative by construction: each KL is clamped (``clamp_nonnegative``).
    """
    dist = ensure_noised(noised).dist
    return float(dist.probs @ kl(noised, dist.support))
