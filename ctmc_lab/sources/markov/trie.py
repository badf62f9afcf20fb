"""The mask-trie engine: every mask of a target set of one Markov window at once (``docs/theory.md`` §5.4).

For one sequence and a set of *target* positions, the log-evidence of every subset of the
targets (:func:`subset_log_evidence`) and the conditional of every target under every mask
(:func:`target_conditionals`) are computed on prefix/suffix tries, so that all ``2**n`` masks
cost about as much as two forward passes; :func:`trie_mask_dce` sums the conditionals into the
A-table of Cor. 4.3. Pure functions of the transition table, like
:mod:`ctmc_lab.sources.markov.inference`.
"""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab._validation import ensure_array, ensure_int, ensure_tokens
from ctmc_lab.sequences import as_positions
from ctmc_lab.sources.markov.inference import _absorb, _log, _safe, context_distribution, transition_table

__all__ = ["TRIE_LIMIT", "target_roles", "subset_log_evidence", "target_conditionals", "trie_mask_dce"]

#: Largest number of trie nodes times contexts held at once (2**26 floats = 512 MB).
TRIE_LIMIT = 1 << 26


def _live_rows(a: np.ndarray, n: int, order: int):
    """Column blocks of a trie level and, per block, the rows r of the split context (h, r) in use.

    The top bits of a prefix index say which of the latest targets were observed; an observed
    slot pins a context digit, so the prefixes of one block share a support that is often a
    small fraction of the C contexts. Returns (block size, list of row index arrays).
    """
    n_ctx, cols = a.shape
    bits = min(cols.bit_length() - 1, order)
    size = cols >> bits
    used = np.any(a.reshape(n, n_ctx // n, 1 << bits, size) != 0, axis=(0, 3))  # (C/N, blocks)
    return size, [np.flatnonzero(used[:, blk]) for blk in range(1 << bits)]


def _trie_forward(a: np.ndarray, P3: np.ndarray, order: int, v: int, mode: str):
    """One forward step of a prefix trie of α, ``(C, A)`` columns (``docs/theory.md`` §5.4).

    mode ``"mask"``: emit freely (a marginalised position); ``"observe"``: keep symbol ``v`` and
    renormalise (a context position); ``"branch"``: a target position, masked half first and
    observed half second (the new bit of the prefix index); ``"emit"``: return only ``emit(α)``.

    Returns ``(α', w, s)``: the new ``(C, A')`` α, the view ``w = emit(α)`` of shape
    ``(C/N, N, A)`` (None for ``"observe"``) and the scale of the observed part (None if none).
    Only rows in use (see :func:`_live_rows`) are computed; the output is written in place.
    """
    n, cr, _ = P3.shape
    cols = a.shape[1]
    a3 = a.reshape(n, cr, cols)
    size, rows = _live_rows(a, n, order)
    if mode == "observe":
        col = np.zeros((cr, cols))
        for blk, r in enumerate(rows):
            sl = slice(blk * size, (blk + 1) * size)
            col[r, sl] = np.einsum("hr,hrb->rb", P3[:, r, v], a3[:, r, sl])
        s = col.sum(axis=0)
        out = np.zeros((cr, n, cols))
        out[:, v, :] = col / _safe(s)
        return out.reshape(cr * n, cols), None, s
    out = np.zeros((cr, n, 2 * cols if mode == "branch" else cols))
    for blk, r in enumerate(rows):
        sl = slice(blk * size, (blk + 1) * size)
        out[r, :, sl] = np.einsum("hrv,hrb->rvb", P3[:, r], a3[:, r, sl])
    w = out[:, :, :cols]
    s = None
    if mode == "branch":
        # Rows of P sum to 1, so the masked half keeps each column's mass (scale 1).
        s = w[:, v, :].sum(axis=0)
        out[:, v, cols:] = w[:, v, :] / _safe(s)
    return out.reshape(cr * n, -1), w, s


def _backward_observe(g: np.ndarray, v: int, P3: np.ndarray) -> np.ndarray:
    """Backward step at a visible symbol ``v``, renormalised: ``P3[h, r, v] g[r, v, b]``, ``(C, B)``."""
    out = (P3[:, :, v][:, :, None] * g[:, v, :][None]).reshape(-1, g.shape[-1])
    return out / _safe(out.sum(axis=0))


def target_roles(x: np.ndarray, target, n_tokens: int, n_contexts: int):
    """Validate an encoded ``(L,)`` window and its targets; return (sorted targets, is_target mask).

    Raises
    ------
    ValueError
        For an empty target, positions out of range, a masked target, or ``2**n C`` above
        :data:`TRIE_LIMIT`.
    """
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
    n_contexts = ensure_int(n_contexts, "n_contexts", minimum=1)
    x = ensure_tokens(x, n_tokens, allow_mask=True, ndim=1)
    target = as_positions(target, x.shape[0], "target")
    if target.size == 0:
        raise ValueError("`target` must name at least one position")
    if np.any(x[target] == n_tokens):
        raise ValueError("`target` positions must hold clean tokens in `x`, not the mask")
    if x.shape[0] and (1 << target.size) * n_contexts > TRIE_LIMIT:
        raise ValueError(
            f"`target` has {target.size} positions: 2**{target.size} masks x {n_contexts} contexts "
            f"exceeds the exact-enumeration limit {TRIE_LIMIT}; use Monte Carlo"
        )
    is_target = np.zeros(x.shape[0], dtype=bool)
    is_target[target] = True
    return target, is_target


def _checked(table, x, is_target, initial):
    """The validated arguments of the trie functions: (table, x, is_target, initial)."""
    table = transition_table(table)
    n_ctx, n = table.shape
    x = ensure_tokens(x, n, allow_mask=True, ndim=1)
    is_target = ensure_array(is_target, "is_target", shape=x.shape, dtype=bool)
    target_roles(x, np.flatnonzero(is_target), n, n_ctx)
    return table, x, is_target, context_distribution(initial, n_ctx, "initial")


def _split(table: np.ndarray):
    n_ctx, n = table.shape
    # The order only sets the block size of the sparse trie products; N = 1 has one context.
    order = round(math.log(n_ctx, n)) if n > 1 else 1
    return table.reshape(n, n_ctx // n, n), n, n_ctx, int(order)


def subset_log_evidence(table: np.ndarray, x: np.ndarray, is_target: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """``log P(x^{J ∪ C})`` for every subset J of the target positions (prefix trie, §5.4).

    Parameters
    ----------
    table : (N**k, N) float array
    x : (L,) int array
        Clean tokens at target and context positions, the mask id N at marginalised
        positions. Non-target clean positions form the context C.
    is_target : (L,) bool array
        The target positions I1 (n of them), from ``target_roles``.
    initial : (N**k,) float array
        α_0: π for a stationary window, a point mass for a window continuing a prompt.

    Returns
    -------
    (2**n,) float array
        Entry ``u`` has target ``t`` (t-th smallest target position) observed iff bit ``t``
        of ``u`` is set. ``-inf`` where the evidence has probability 0.

    Notes
    -----
    The forward pass up to a position depends only on which earlier targets are observed,
    so the ``2**n`` passes share prefixes: at target ``t`` the batch of α doubles (masked,
    observed) and the work totals about ``2**(n+1) C N`` instead of ``2**n L C N``.
    """
    table, x, is_target, initial = _checked(table, x, is_target, initial)
    P3, n, _, order = _split(table)
    a = np.asarray(initial, dtype=float)[:, None].copy()
    log_ev = np.zeros(1)
    for j in range(x.shape[0]):
        if is_target[j]:
            a, _, s = _trie_forward(a, P3, order, x[j], "branch")  # observed half: bit t set
            log_ev = np.concatenate([log_ev, log_ev + _log(s)])
        elif x[j] < n:
            a, _, s = _trie_forward(a, P3, order, x[j], "observe")
            log_ev = log_ev + _log(s)
        else:
            a, _, _ = _trie_forward(a, P3, order, 0, "mask")
    return log_ev


def target_conditionals(table: np.ndarray, x: np.ndarray, is_target: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """``-log p(x^t | x^{J ∪ C})`` for every target t and every J ⊆ targets not holding t (§5.4).

    Parameters
    ----------
    table, x, is_target, initial
        As in :func:`subset_log_evidence`.

    Returns
    -------
    (n, 2**n) float array
        ``out[t, u]`` for an observed-target bitmask ``u`` (bit t clear); entries with bit t
        set are 0. ``+inf`` where the conditional is 0 or undefined.

    Notes
    -----
    Forward–backward on tries: a prefix trie of α over the targets before t and a
    suffix trie of β over the targets after t. For prefix pattern ``a`` and suffix pattern
    ``b`` the conditional of target t is ``Σ_r W_a(r, y) β_b(r, y) / Σ_{r,v} W_a(r, v) β_b(r, v)``
    with ``W = emit(α)``: two matrix products with ``2**(n-1)`` outputs per target.
    All ``2**n`` masks cost about two forward passes of a ``2**n`` batch, instead of
    ``2**n`` forward–backward passes of length L.
    """
    table, x, is_target, initial = _checked(table, x, is_target, initial)
    P3, n, n_ctx, order = _split(table)
    cr = n_ctx // n
    targets = np.flatnonzero(is_target)
    n_t = targets.size
    first, last = int(targets[0]), int(targets[-1])
    # Suffix trie: betas[t] is β just after target t, indexed by the observed pattern of the
    # targets after t (bit 0 = target t+1); about 2**n C floats in all. Positions before the
    # first target are not needed.
    betas = [None] * n_t
    b = np.ones((n_ctx, 1))
    t = n_t - 1
    # Only observed steps are renormalised: a masked step averages β over the next symbol
    # (and keeps α's mass), so it can neither underflow nor overflow; scale cancels below.
    for j in range(x.shape[0] - 1, first - 1, -1):
        g = b.reshape(cr, n, -1)
        if is_target[j]:
            betas[t] = g
            if t == 0:  # the first target: nothing before it is needed (and this level is 2**n wide)
                break
            t -= 1
            # New lowest bit = this target: column 2*old + observed.
            b = np.empty((n_ctx, g.shape[-1], 2))
            b[:, :, 0] = _absorb(g, P3)
            b[:, :, 1] = _backward_observe(g, x[j], P3)
            b = b.reshape(n_ctx, -1)
        elif x[j] < n:
            b = _backward_observe(g, x[j], P3)
        else:
            b = _absorb(g, P3)
    out = np.zeros((n_t, 1 << n_t))
    a = np.asarray(initial, dtype=float)[:, None].copy()
    t = 0
    for j in range(last + 1):
        if is_target[j]:
            mode = "emit" if t == n_t - 1 else "branch"  # the last level (2**n wide) is never used
            a, w, _ = _trie_forward(a, P3, order, x[j], mode)  # w: (C/N, N, 2**t)
            total, hit = _pair_products(w, betas[t], x[j], order)
            with np.errstate(divide="ignore", invalid="ignore"):
                val = -_log(hit / total)
            val[total <= 0] = np.inf  # an impossible context: the conditional is undefined
            # Bitmask u = a | (b << (t+1)) with bit t clear: view row t as (b, bit t, a).
            out[t].reshape(-1, 2, 1 << t)[:, 0, :] = val.T
            t += 1
        elif x[j] < n:
            a, _, _ = _trie_forward(a, P3, order, x[j], "observe")
        else:
            a, _, _ = _trie_forward(a, P3, order, 0, "mask")
    return out


def trie_mask_dce(table: np.ndarray, x: np.ndarray, is_target: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """A(M) = Σ_{t∈M} -log p(x^t | x^{(targets∖M) ∪ C}) for every mask M ⊆ targets (Cor. 4.3, §5.4).

    Indexed by the mask bitmask over the target order (``A[0] = 0``), from
    :func:`target_conditionals`: the input of Cor. 4.3 and of every exact moment (§6).
    Arguments as in :func:`subset_log_evidence`.
    """
    return _sum_over_masks(target_conditionals(table, x, is_target, initial))


def _pair_products(w: np.ndarray, bt: np.ndarray, y: int, order: int):
    """``total[a, b] = Σ_{r,v} w[r,v,a] bt[r,v,b]`` and ``hit[a, b] = Σ_r w[r,y,a] bt[r,y,b]``.

    ``w`` is ``(C/N, N, A)`` (prefix patterns), ``bt`` is ``(C/N, N, B)`` (suffix patterns).
    The prefix index's top bits say which of the last targets were observed, and an observed
    slot pins a context digit, so each block of prefixes sharing those bits is supported on a
    fraction of the contexts (about (5/8)^(k-1) of them for N = 4 on average). The products run
    block by block over the rows that are nonzero in the block: the same sums, fewer terms.
    einsum's own loop, not BLAS: with these skinny shapes it is as fast single-threaded, and it
    does not degrade when the cores are shared.
    """
    cr, n, n_a = w.shape
    n_ctx = cr * n
    W = w.reshape(n_ctx, n_a)
    B = bt.reshape(n_ctx, -1)
    bits = min(n_a.bit_length() - 1, max(order - 1, 0))
    size = n_a >> bits
    nonzero = np.any(W.reshape(n_ctx, 1 << bits, size) != 0, axis=2)  # (C, blocks)
    is_y = np.arange(n_ctx) % n == y  # context index c' = r N + v
    total = np.empty((n_a, B.shape[1]))
    hit = np.empty((n_a, B.shape[1]))
    for blk in range(1 << bits):  # at most 2**(k-1) blocks
        cols = slice(blk * size, (blk + 1) * size)
        rows = np.flatnonzero(nonzero[:, blk])
        total[cols] = np.einsum("ca,cb->ab", W[rows, cols], B[rows])
        rows = rows[is_y[rows]]
        hit[cols] = np.einsum("ca,cb->ab", W[rows, cols], B[rows])
    return total, hit


def _sum_over_masks(cond: np.ndarray) -> np.ndarray:
    """``A[M] = Σ_{t∈M} cond[t, full ∖ M]`` from an ``(n, 2**n)`` conditional table."""
    n_t = cond.shape[0]
    full = (1 << n_t) - 1
    masks = np.arange(1 << n_t)
    A = np.zeros(1 << n_t)
    for t in range(n_t):  # n passes over the 2**n masks, each an array operation
        has = ((masks >> t) & 1).astype(bool)
        A[has] += cond[t, full ^ masks[has]]
    return A
