"""Marginals, subset tables, mask-DCE tables and conditionals of a distribution stored on its support.

Pure functions of the support ``(S, L)`` and its probabilities ``(S,)`` (``docs/theory.md``
§1.4, §3.5, §5.2): every query is a scan of the support, in blocks of at most :data:`BLOCK`
compared tokens so that memory stays bounded whatever the batch. The arguments are already
validated by the :class:`~ctmc_lab.sources.joint.JointDistribution` that calls them.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import ensure_size
from ctmc_lab.masks import mask_dce, subset_entropy
from ctmc_lab.sequences import as_positions, subset_members

#: Bound on the elements of one (batch, support, length) comparison block.
BLOCK = 1 << 22


def _step(support: np.ndarray) -> int:
    """Rows of a batch compared with the whole support in one block."""
    return max(1, BLOCK // (support.shape[0] * support.shape[1]))


def compatible_mass(support: np.ndarray, probs: np.ndarray, x: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """``(B, S)``: p0(z) where z agrees with x on the visible positions, else 0."""
    out = np.empty((x.shape[0], support.shape[0]))
    step = _step(support)
    for lo in range(0, x.shape[0], step):
        xb, vb = x[lo : lo + step, None, :], visible[lo : lo + step, None, :]
        agree = np.all((support[None] == xb) | ~vb, axis=-1)
        out[lo : lo + step] = agree * probs
    return out


def subset_tables(support: np.ndarray, probs: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """``(B, 2**L)``: P0(x0^U) for every bitmask U, by agreement bitmasks and a superset sum.

    Each support sequence z adds p0(z) at its agreement bitmask a(z) with x0; the zeta transform
    (L passes of bit tricks) then gives ``P0(x0^U) = sum_{T ⊇ U} g(T)``: O(S L + 2^L L) per
    sequence instead of O(2^L S L).
    """
    n_batch, length = x0.shape
    ensure_size(n_batch << length, f"the subset tables of {n_batch} sequences of length {length}")
    n_sub = 1 << length
    bit = 1 << np.arange(length, dtype=np.int64)
    g = np.zeros(n_batch * n_sub)
    step = _step(support)
    for lo in range(0, n_batch, step):
        agree = (support[None] == x0[lo : lo + step, None, :]) @ bit  # (b, S) bitmasks
        rows = np.arange(lo, lo + agree.shape[0])[:, None] * n_sub
        g += np.bincount(
            (rows + agree).ravel(),
            weights=np.broadcast_to(probs, agree.shape).ravel(),
            minlength=n_batch * n_sub,
        )
    g = g.reshape(n_batch, n_sub)
    for i in range(length):
        view = g.reshape(n_batch, n_sub >> (i + 1), 2, 1 << i)
        view[:, :, 0, :] += view[:, :, 1, :]
    return g


def mask_dce_table(support: np.ndarray, probs: np.ndarray, x: np.ndarray, target, context) -> np.ndarray:
    """A(M) of c* for every mask M ⊆ I1 of each ``(L,)`` or ``(B, L)`` sequence ``x`` (Cor. 4.3).

    ``A(M) = Σ_{t∈M} [h(V ∪ {t}) - h(V)]``, ``V = (I1 ∖ M) ∪ I2`` visible and
    ``h(U) = -log P0(x^U)`` read from :func:`subset_tables`; ``context`` None means every
    non-target position.
    """
    length = support.shape[1]
    tgt = as_positions(target, length, "target")
    ctx = np.setdiff1d(np.arange(length), tgt) if context is None else as_positions(context, length, "context")
    if tgt.size == 0 or np.intersect1d(tgt, ctx).size:
        raise ValueError("`target` must be non-empty and disjoint from `context`")
    table = subset_tables(support, probs, np.atleast_2d(x))
    h = subset_entropy(table[0] if x.ndim == 1 else table)  # by visible bitmask over all L positions
    # Visible bitmask over [L] of each visible bitmask over the targets, plus the context.
    ctx_bits = int(np.sum(np.left_shift(1, ctx))) if ctx.size else 0
    visible = subset_members(tgt.size) @ np.left_shift(np.int64(1), tgt) | ctx_bits
    # Row-major, as the moments' matrix products expect: a column-major table gives other roundings.
    return mask_dce(np.ascontiguousarray(h[..., visible]))


def pattern_table(dense: np.ndarray) -> np.ndarray:
    """The ``(N+1,) * L`` pattern marginals of a dense ``(N,) * L`` table, read-only.

    Slot N of each axis (the mask id) holds the sum over that axis, appended once per axis:
    L (N+1)^L work.
    """
    table = dense
    for ax in range(dense.ndim):
        table = np.concatenate([table, table.sum(axis=ax, keepdims=True)], axis=ax)
    table.setflags(write=False)
    return table


def conditionals_from_support(support: np.ndarray, probs: np.ndarray, n_tokens: int, x: np.ndarray) -> np.ndarray:
    """c*(x) ``(B, L, N)`` by scanning the support for sequences compatible with each masked input."""
    n_support, length = support.shape
    w = compatible_mass(support, probs, x, x != n_tokens)
    onehot = np.zeros((n_support, length, n_tokens))
    np.put_along_axis(onehot, support[:, :, None], 1.0, axis=2)
    num = (w @ onehot.reshape(n_support, -1)).reshape(x.shape + (n_tokens,))
    den = w.sum(axis=1)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(num) - np.log(den)
    return np.where(den > 0, out, -np.inf)
