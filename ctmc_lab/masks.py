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
from scipy.special import betainc, betaln

from ctmc_lab._validation import ensure_mask_table, subset_table_length
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


def harmonic(n: int) -> float:
    """H_n = sum_{j=1}^n 1/j."""
    return float(np.sum(1.0 / np.arange(1, int(n) + 1)))


def bitmask(positions) -> int:
    """The int bitmask of a set of positions: sum_i 2^i (bit i = position i).

    Examples
    --------
    >>> bitmask([0, 2])
    5
    """
    positions = np.asarray(positions, dtype=np.int64)
    return int(np.sum(np.left_shift(1, positions))) if positions.size else 0


def local_to_global(local, positions) -> np.ndarray:
    """Deposit the bits of local masks onto their positions: bit j of ``local`` goes to bit
    ``positions[j]``.

    A mask over a target set T (bit j = j-th target position, as the estimators draw it) becomes
    a mask over [L], the indexing of subset tables (``docs/theory.md`` §3.5, §4.2).

    Parameters
    ----------
    local : int array
        Bitmasks over ``len(positions)`` bits.
    positions : (n,) int array
        The position in [L] of each local bit.

    Returns
    -------
    int64 array of ``local``'s shape

    Examples
    --------
    >>> local_to_global([0b01, 0b11], [1, 3]).tolist()
    [2, 10]
    """
    local = np.asarray(local, dtype=np.int64)
    out = np.zeros_like(local)
    for j, pos in enumerate(positions):
        out |= ((local >> j) & 1) << int(pos)
    return out


def subset_entropy(table: np.ndarray) -> np.ndarray:
    """h(U) = -log P0(x0^U) from a subset table of probabilities (``inf`` where 0)."""
    with np.errstate(divide="ignore"):
        return -np.log(table)


def _length(n_subsets: int) -> int:
    """L of a table over the 2**L subsets of [L] (h indexed by U, or A indexed by M)."""
    return subset_table_length(n_subsets, "table")


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
    h = np.asarray(h, dtype=float)
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


def _level_powers(lam, length: int, counts: np.ndarray):
    """λ^count (1-λ)^(L-count) with the convention 0^0 = 1, shape (len(λ), 2**L)."""
    lam = np.atleast_1d(np.asarray(lam, dtype=float))
    with np.errstate(divide="ignore"):
        return lam[:, None] ** counts * (1 - lam[:, None]) ** (length - counts)


def mask_kl(h: np.ndarray, mask_level) -> np.ndarray:
    """KL(p_{λ|0}(·|x0) || p_λ) = sum_U (1-λ)^|U| λ^(L-|U|) h(U)  (F2, Cor. 3.6).

    Returns shape ``(len(λ),)`` or ``(..., len(λ))`` for a batch of tables.
    """
    h = np.asarray(h, dtype=float)
    length = _length(h.shape[-1])
    masked_count = length - popcount(np.arange(1 << length))
    w = _level_powers(mask_level, length, masked_count)
    # 0 * inf = 0: a subset of weight 0 contributes nothing.
    return np.einsum("...u,ku->...k", np.where(np.isinf(h), 0, h), w) + _inf_part(h, w)


def _inf_part(h, w):
    """+inf wherever an infinite h carries positive weight, else 0."""
    bad = np.isinf(h).astype(float)
    return np.where(np.einsum("...u,ku->...k", bad, w) > 0, np.inf, 0.0)


def mask_kl_rate(h: np.ndarray, mask_level) -> np.ndarray:
    """Exact d/dλ of :func:`mask_kl`: a polynomial derivative, no finite differences."""
    h = np.asarray(h, dtype=float)
    length = _length(h.shape[-1])
    m = length - popcount(np.arange(1 << length))
    lam = np.atleast_1d(np.asarray(mask_level, dtype=float))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (
            np.where(m > 0, m * lam ** np.maximum(m - 1, 0), 0.0) * (1 - lam) ** (length - m)
            - np.where(length - m > 0, (length - m) * (1 - lam) ** np.maximum(length - m - 1, 0), 0.0) * lam**m
        )
    return np.einsum("...u,ku->...k", np.where(np.isinf(h), 0, h), d) + _inf_part(h, np.abs(d))


def mask_mdce(A: np.ndarray, mask_level) -> np.ndarray:
    """mdce(x0, λ) = sum_{M≠∅} λ^|M| (1-λ)^(L-|M|) A(M)  (§3.4)."""
    A = np.asarray(A, dtype=float)
    length = _length(A.shape[-1])
    w = _level_powers(mask_level, length, popcount(np.arange(1 << length)))
    return np.einsum("...u,ku->...k", np.where(np.isinf(A), 0, A), w) + _inf_part(A, w)


def mask_weights(length: int, upper: float = 1.0) -> np.ndarray:
    """B(Λ; m, L-m+1) for every mask bitmask (0 for the empty mask).

    At Λ = 1 these are the time-free weights p(I) H_L of Theorem 4.1.
    """
    m = popcount(np.arange(1 << length))
    out = np.zeros(1 << length)
    nz = m > 0
    full_beta = np.exp(betaln(m[nz], length - m[nz] + 1))
    out[nz] = full_beta if upper >= 1.0 else betainc(m[nz], length - m[nz] + 1, upper) * full_beta
    return out


def as_mask_table(A) -> np.ndarray:
    """``A`` as a float table of A(M) by mask bitmask, one ``(2**n,)`` or a batch ``(B, 2**n)``.

    Refuses NaN, ``-inf``, a last axis that is not 2**n long and a non-zero A(∅): the empty mask
    predicts nothing, so A(∅) = 0 (§3.5). See :func:`ctmc_lab._validation.ensure_mask_table`.
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
        Λ in (0, 1].

    Returns
    -------
    float array of shape ``A.shape[:-1]`` (a 0-d array for one table); ``inf`` where an infinite
    A(M) carries positive weight.
    """
    A = as_mask_table(A)
    w = mask_weights(_length(A.shape[-1]), upper)
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(A), 0, A) @ w
    return np.where(np.any(np.isinf(A) & (w > 0), axis=-1), np.inf, out)[()]
