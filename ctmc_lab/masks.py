"""Exact closed forms of absorbing (masked) diffusion from the subset table (§3.5).

Fix x0 and let h(U) = -log P0(x0^U) for every subset U of positions (bitmask, bit i =
position i). Then, with M = [L] minus U the masked set and m = |M|:

* A(M) = sum_{i in M} [h(U ∪ {i}) - h(U)], the optimal DCE of x0 masked on M;
* KL(p_{λ|0} || p_λ) = sum_U (1-λ)^|U| λ^(L-|U|) h(U)                          (F2);
* mdce(x0, λ) = sum_{M≠∅} λ^m (1-λ)^(L-m) A(M);
* ∫_0^Λ mdce/λ dλ = sum_{M≠∅} A(M) B(Λ; m, L-m+1)                              (Cor. 3.7);
* at Λ = 1 this is sum_M A(M) B(m, L-m+1) = -log p0(x0)                       (Thm. 4.1).

All functions are vectorised over a batch of sequences (leading axis) and take tables
indexed by the mask bitmask M (``A``) or the visible bitmask U (``h``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaln, digamma

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    ensure_array,
    ensure_int,
    ensure_mask_table,
    ensure_real,
    subset_table_length,
)
from ctmc_lab.sequences import popcount

__all__ = [
    "subset_entropy",
    "mask_dce",
    "mask_kl",
    "mask_kl_rate",
    "mask_mdce",
    "imdce_sum",
    "as_mask_table",
    "mask_weights",
    "harmonic",
    "bitmask",
    "local_to_global",
]


#: Largest n whose H_n is summed term by term; beyond, ψ(n + 1) + γ (relative error below 1e-15).
_HARMONIC_SUM_LIMIT = 1 << 20
#: Largest number of positions of a bitmask (an int64 with its sign bit clear).
MAX_BITS = 62


def harmonic(n: int) -> float:
    """H_n = sum_{j=1}^n 1/j, for an integer n ≥ 0 (H_0 = 0).

    Examples
    --------
    >>> harmonic(3) == 1 + 1 / 2 + 1 / 3
    True
    """
    n = ensure_int(n, "n", minimum=0, maximum=1 << 62)
    if n > _HARMONIC_SUM_LIMIT:
        return float(digamma(n + 1.0) + np.euler_gamma)
    return float(np.sum(1.0 / np.arange(1, int(n) + 1)))


def _positions(positions, name: str) -> np.ndarray:
    """Distinct bit positions in 0..MAX_BITS as an int64 array."""
    positions = ensure_array(positions, name, ndim=(0, 1), dtype=int).reshape(-1)
    if positions.size and (positions.min() < 0 or positions.max() > MAX_BITS):
        raise ValueError(f"`{name}` must lie in 0..{MAX_BITS} (got {positions.min()}..{positions.max()})")
    if np.unique(positions).size != positions.size:
        raise ValueError(f"`{name}` must not repeat a position (got {positions.tolist()})")
    return positions


def bitmask(positions) -> int:
    """The int bitmask of a set of distinct positions in 0..62: sum_i 2^i (bit i = position i).

    Examples
    --------
    >>> bitmask([0, 2])
    5
    """
    positions = _positions(positions, "positions")
    return int(np.sum(np.left_shift(1, positions))) if positions.size else 0


def local_to_global(local, positions) -> np.ndarray:
    """Deposit the bits of local masks onto their positions: bit j of ``local`` goes to bit
    ``positions[j]``.

    A mask over a target set T (bit j = j-th target position, as the estimators draw it) becomes
    a mask over [L], the indexing of subset tables (``docs/theory.md`` §3.5, §4.2).

    Parameters
    ----------
    local : int array
        Bitmasks over ``len(positions)`` bits, in ``0..2**n - 1``.
    positions : (n,) int array
        The position in [L] of each local bit: distinct, in 0..62.

    Returns
    -------
    int64 array of ``local``'s shape

    Examples
    --------
    >>> local_to_global([0b01, 0b11], [1, 3]).tolist()
    [2, 10]
    """
    positions = _positions(positions, "positions")
    local = ensure_array(local, "local", dtype=int)
    if local.size and (local.min() < 0 or local.max() >= 1 << positions.size):
        bad = local.min() if local.min() < 0 else local.max()
        raise ValueError(f"`local` masks must lie in 0..2**{positions.size} - 1 (got {bad})")
    out = np.zeros_like(local)
    for j, pos in enumerate(positions):
        out |= ((local >> j) & 1) << int(pos)
    return out


def subset_entropy(table: np.ndarray) -> np.ndarray:
    """h(U) = -log P0(x0^U) from a subset table of probabilities (``inf`` where 0).

    Parameters
    ----------
    table : (..., 2**L) float array
        P0(x0^U) by visible bitmask U, in [0, 1] (up to ``SUM_TOLERANCE`` of rounding above 1).
    """
    table = ensure_array(table, "table", ndim=range(1, 33), lo=0.0, hi=1.0 + SUM_TOLERANCE)
    _length(table.shape[-1])
    with np.errstate(divide="ignore"):
        return -np.log(table)


def _length(n_subsets: int, name: str = "table") -> int:
    """L of a table over the 2**L subsets of [L] (h indexed by U, or A indexed by M)."""
    return subset_table_length(n_subsets, name)


def _entropy_table(h, name: str = "h") -> np.ndarray:
    """``h`` as a float (..., 2**L) table of -log probabilities: ``+inf`` allowed, NaN and ``-inf`` not."""
    h = ensure_array(h, name, ndim=range(1, 33))
    _length(h.shape[-1], name)
    if h.size and (h == -np.inf).any():
        raise ValueError(f"`{name}` must not contain -inf (it holds -log probabilities)")
    return h


def _mask_levels(mask_level) -> np.ndarray:
    """λ as a (K,) float array in [0, 1] (a scalar gives K = 1)."""
    return np.atleast_1d(ensure_array(mask_level, "mask_level", ndim=(0, 1), lo=0.0, hi=1.0))


def mask_dce(h: np.ndarray) -> np.ndarray:
    """A(M) for every mask bitmask M, from h indexed by the visible bitmask U.

    Parameters
    ----------
    h : (..., 2**L) float array

    Returns
    -------
    (..., 2**L) float array
        ``A[..., M]``; ``A[..., 0] = 0``. Infinite where a conditional is 0.
    """
    h = _entropy_table(h)
    length = _length(h.shape[-1])
    full = (1 << length) - 1
    masks = np.arange(1 << length)
    visible = full ^ masks
    out = np.zeros_like(h)
    with np.errstate(invalid="ignore"):
        for i in range(length):
            bit = 1 << i
            has = (masks & bit) != 0
            term = h[..., visible | bit] - h[..., visible]
            # inf - inf arises only for contexts of zero probability: that conditional is undefined,
            # and the sequence itself is outside the support (its A is +inf).
            term = np.where(np.isnan(term), np.inf, term)
            out += np.where(has, term, 0.0)
    return out


def _level_powers(lam: np.ndarray, length: int, counts: np.ndarray):
    """λ^count (1-λ)^(L-count) with the convention 0^0 = 1, shape (len(λ), 2**L)."""
    with np.errstate(divide="ignore"):
        return lam[:, None] ** counts * (1 - lam[:, None]) ** (length - counts)


def mask_kl(h: np.ndarray, mask_level) -> np.ndarray:
    """KL(p_{λ|0}(·|x0) || p_λ) = sum_U (1-λ)^|U| λ^(L-|U|) h(U)  (F2, Cor. 3.6).

    Returns shape ``(len(λ),)`` or ``(..., len(λ))`` for a batch of tables; λ in [0, 1].
    """
    h = _entropy_table(h)
    lam = _mask_levels(mask_level)
    length = _length(h.shape[-1])
    masked_count = length - popcount(np.arange(1 << length))
    w = _level_powers(lam, length, masked_count)
    # 0 * inf = 0: a subset of weight 0 contributes nothing.
    return np.einsum("...u,ku->...k", np.where(np.isinf(h), 0, h), w) + _inf_part(h, w)


def _inf_part(h, w):
    """+inf wherever an infinite h carries positive weight, else 0."""
    bad = np.isinf(h).astype(float)
    return np.where(np.einsum("...u,ku->...k", bad, w) > 0, np.inf, 0.0)


def mask_kl_rate(h: np.ndarray, mask_level) -> np.ndarray:
    """Exact d/dλ of :func:`mask_kl`: a polynomial derivative, no finite differences."""
    h = _entropy_table(h)
    lam = _mask_levels(mask_level)[:, None]
    length = _length(h.shape[-1])
    m = length - popcount(np.arange(1 << length))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (
            np.where(m > 0, m * lam ** np.maximum(m - 1, 0), 0.0) * (1 - lam) ** (length - m)
            - np.where(length - m > 0, (length - m) * (1 - lam) ** np.maximum(length - m - 1, 0), 0.0) * lam**m
        )
    return np.einsum("...u,ku->...k", np.where(np.isinf(h), 0, h), d) + _inf_part(h, np.abs(d))


def mask_mdce(A: np.ndarray, mask_level) -> np.ndarray:
    """mdce(x0, λ) = sum_{M≠∅} λ^|M| (1-λ)^(L-|M|) A(M)  (§3.4), for λ in [0, 1]."""
    A = ensure_mask_table(A)
    lam = _mask_levels(mask_level)
    length = _length(A.shape[-1], "A")
    w = _level_powers(lam, length, popcount(np.arange(1 << length)))
    return np.einsum("...u,ku->...k", np.where(np.isinf(A), 0, A), w) + _inf_part(A, w)


def mask_weights(length: int, upper: float = 1.0) -> np.ndarray:
    """B(Λ; m, L-m+1) for every mask bitmask (0 for the empty mask).

    At Λ = 1 these are the time-free weights p(I) H_L of Theorem 4.1.

    Parameters
    ----------
    length : int
        L, in 0..30 (the result has 2**L entries).
    upper : float
        Λ in [0, 1].
    """
    length = ensure_int(length, "length", minimum=0, maximum=30)
    upper = ensure_real(upper, "upper", lo=0.0, hi=1.0)
    m = popcount(np.arange(1 << length))
    out = np.zeros(1 << length)
    nz = m > 0
    full_beta = np.exp(betaln(m[nz], length - m[nz] + 1))
    out[nz] = full_beta if upper >= 1.0 else betainc(m[nz], length - m[nz] + 1, upper) * full_beta
    return out


def as_mask_table(A) -> np.ndarray:
    """``A`` as a float table of A(M) by mask bitmask, one ``(2**n,)`` or a batch ``(B, 2**n)``.

    Refuses NaN, ``-inf``, a last axis that is not 2**n long and a non-zero A(∅): the empty mask
    predicts nothing, so A(∅) = 0 (§3.5). See ``ctmc_lab._validation.ensure_mask_table``.
    """
    return ensure_mask_table(A)


def imdce_sum(A, upper: float = 1.0) -> np.ndarray:
    """∫_0^Λ mdce(x0, λ)/λ dλ = Σ_{M≠∅} B(Λ; m, n-m+1) A(M), exactly (Cor. 3.7, no quadrature).

    At Λ = 1 this is the time-free sum of Theorem 4.1 (and of Cor. 4.3 for a conditional
    table): the exact -log p(x0), or -log p(x0^T | x0^C), that every unbiased estimator's mean
    equals (``docs/theory.md`` §3.5, §4.1–4.2).

    Parameters
    ----------
    A : (2**n,) or (B, 2**n) float array
        A(M) per mask bitmask; ``A[..., 0]`` (the empty mask) must be 0; ``inf`` allowed.
    upper : float, default 1.0
        Λ in [0, 1].

    Returns
    -------
    float array of shape ``A.shape[:-1]`` (a 0-d array for one table); ``inf`` where an infinite
    A(M) carries positive weight.
    """
    A = as_mask_table(A)
    w = mask_weights(_length(A.shape[-1], "A"), upper)
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(A), 0, A) @ w
    return np.where(np.any(np.isinf(A) & (w > 0), axis=-1), np.inf, out)[()]
