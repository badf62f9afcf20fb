"""Exact inference on a k-th order Markov chain, as pure functions of its table (``docs/theory.md`` §5.4).

Everything here takes the transition table ``P`` of shape ``(N**k, N)`` (row ``c`` the next-symbol
distribution after context ``c``, oldest symbol most significant) and runs on the lifted chain of
``C = N**k`` contexts: emitting ``v`` from ``c`` moves it to ``c' = (c N + v) mod C``.

* the lifted-chain algebra: :func:`lifted_matrix`, :func:`is_irreducible`,
  :func:`stationary_distribution` (π, the left eigenvector for eigenvalue 1), :func:`entropy_rate`;
* window probabilities from an initial context distribution, and the optimal denoiser c* of a
  window by a scaled forward–backward pass vectorised over a batch of masked inputs and over
  positions (:func:`forward_backward`).

**Stationary start.** A stationary window of length L is the output of L emissions started
from a *pre-context* drawn from π: since π is stationary for the lifted chain, the first k
emitted symbols are again distributed as π. The forward pass therefore starts at
``α_0 = π`` and treats every window position alike, which also covers ``L < k``.

**Start from a prompt.** ``α_0 = δ(c_0)`` with ``c_0`` the prompt's last k symbols
(``docs/theory.md`` §5.4, "Conditioned on a prompt").

Numerics: α is renormalised at every step and the log scale factors are summed, and β is
renormalised per row, so table entries as small as 1e-8 (the released MK4 table has
1.6e-8) neither underflow nor produce NaN. An observation of probability 0 gives
log-evidence ``-inf`` and conditionals ``-inf``, never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ctmc_lab._validation import SUM_TOLERANCE, ensure_array, ensure_choice, ensure_size, ensure_str, ensure_tokens

__all__ = [
    "ForwardBackward",
    "forward_backward",
    "lifted_matrix",
    "is_irreducible",
    "stationary_distribution",
    "entropy_rate",
    "STATIONARY_METHODS",
    "transition_table",
    "context_distribution",
]

# Elements of one (batch, length, contexts) block of the batched forward-backward.
_BLOCK = 1 << 22
# Largest lifted chain whose stationary vector is found by a dense eigen-decomposition.
_DENSE_EIG_LIMIT = 4096
#: Methods of :func:`stationary_distribution`.
STATIONARY_METHODS = ("auto", "gth", "eig")


def _gth(T: np.ndarray) -> np.ndarray:
    """Stationary vector of an irreducible row-stochastic ``T`` by GTH elimination.

    Grassmann, Taksar & Heyman (1985): state reduction in which every quantity is a sum of
    non-negative terms, so each entry of π is found to high relative accuracy.
    """
    A = np.array(T, dtype=float)
    n = A.shape[0]
    for k in range(n - 1, 0, -1):
        s = A[k, :k].sum()  # = 1 - A[k, k] without the cancellation
        A[:k, k] /= s
        A[:k, :k] += np.outer(A[:k, k], A[k, :k])
    pi = np.zeros(n)
    pi[0] = 1.0
    for k in range(1, n):
        pi[k] = pi[:k] @ A[:k, k]
    return pi / pi.sum()


@dataclass(frozen=True)
class ForwardBackward:
    """Result of :func:`forward_backward`.

    Attributes
    ----------
    log_probs : (B, L, N) float array
        ``log p(x^i = v | x^{U(x)})``: the optimal denoiser c*. A visible position carries the
        point mass on its token; an input of probability 0 gives ``-inf`` everywhere.
    log_evidence : (B,) float array
        ``log P(x^{U(x)})``, the probability of the visible tokens (``-inf`` if impossible).
    """

    log_probs: np.ndarray
    log_evidence: np.ndarray


# ---------------------------------------------------------------------------------- kernels
# The lifted step, written on the split context c = (h, r): h the oldest symbol, r the k-1
# newer ones. Emitting v from (h, r) lands in c' = (r, v), so with P3[h, r, v] = P(v | c)
#   forward:  W[r, v, b] = sum_h P3[h, r, v] alpha[h, r, b]       (alpha' = W * e, reshaped)
#   backward: beta[h, r, b] = sum_v P3[h, r, v] e(v) beta'[r, v, b]
# Both cost O(C N B) and never build the C x C lifted matrix. Arrays are laid out
# contexts-first, (C, B), so that the batch (masks, samples) is the contiguous inner axis.


def _emit(alpha: np.ndarray, P3: np.ndarray) -> np.ndarray:
    """``(C, B) -> (C/N, N, B)``: mass of each new context (r, v) before the emission constraint."""
    n, cr, _ = P3.shape
    return np.einsum("hrv,hrb->rvb", P3, alpha.reshape(n, cr, -1))


def _absorb(g: np.ndarray, P3: np.ndarray) -> np.ndarray:
    """``(C/N, N, B) -> (C, B)``: backward step, ``sum_v P3[h, r, v] g[r, v, b]``."""
    return np.einsum("hrv,rvb->hrb", P3, g).reshape(-1, g.shape[-1])


def _safe(s: np.ndarray) -> np.ndarray:
    return np.where(s > 0, s, 1.0)


def _normalise(a: np.ndarray):
    """Columns of ``(C, B)`` divided by their sums; returns (normalised, sums). Zero columns stay zero."""
    s = a.sum(axis=0)
    safe = np.where(s > 0, s, 1.0)
    return a / safe, s


def _log(s):
    with np.errstate(divide="ignore"):
        return np.log(s)


def forward_backward(table: np.ndarray, x: np.ndarray, initial: np.ndarray) -> ForwardBackward:
    """Exact conditionals of a k-th order Markov window by scaled forward–backward (§5.4).

    Parameters
    ----------
    table : (N**k, N) float array
        Transition probabilities, context index base-N with the oldest symbol most significant.
    x : (B, L) int array
        Windows with the mask id N at masked positions.
    initial : (N**k,) float array
        Distribution of the pre-context: π for a stationary window, a point mass for a
        window that continues a prompt.

    Returns
    -------
    ForwardBackward

    Notes
    -----
    With emission indicators ``e_j(v) = 1[v = x_j]`` at visible positions and 1 elsewhere,

    * ``α_{j+1}(c') = Σ_{(c,v): c'=(cN+v) mod C} α_j(c) P(v|c) e_j(v)`` (normalised; the log
      scale factors sum to ``log P(x^U)``);
    * ``β_j(c) = Σ_v P(v|c) e_j(v) β_{j+1}((cN+v) mod C)`` (renormalised per sequence: any
      positive factor cancels below);
    * ``p(x^i = v | x^U) ∝ Σ_c α_i(c) P(v|c) β_{i+1}((cN+v) mod C)`` for masked ``i``.

    Vectorised over the batch and, for the final combination, over positions; the only
    loop runs over positions, which are sequential by nature.

    Examples
    --------
    >>> from ctmc_lab.sources.markov import MarkovChain
    >>> chain = MarkovChain.from_dirichlet(2, 2, rng=0)
    >>> fb = forward_backward(chain.table, np.array([[0, 2, 1]]), chain.stationary)
    >>> bool(np.allclose(np.exp(fb.log_probs).sum(-1), 1))
    True
    """
    table = transition_table(table)
    n_ctx, n = table.shape
    P3 = table.reshape(n, n_ctx // n, n)
    x = ensure_tokens(x, n, allow_mask=True, ndim=2, allow_empty=True)
    initial = context_distribution(initial, n_ctx, "initial")
    batch, length = x.shape
    out = np.empty((batch, length, n))
    log_ev = np.empty(batch)
    step = max(1, _BLOCK // max(1, length * n_ctx))
    for lo in range(0, batch, step):
        out[lo : lo + step], log_ev[lo : lo + step] = _fb_block(P3, x[lo : lo + step], initial)
    return ForwardBackward(out, log_ev)


def _fb_block(P3, x, initial):
    n, cr, _ = P3.shape
    n_ctx = n * cr
    batch, length = x.shape
    visible = x < n
    # e[j, v, b]: emission indicator of position j (ones where masked).
    e = np.where(visible.T[:, None, :], (np.arange(n)[:, None] == x.T[:, None, :]), True).astype(float)
    alphas = np.empty((length, n_ctx, batch))
    betas = np.empty((length, n_ctx, batch))
    a = np.repeat(np.asarray(initial, dtype=float)[:, None], batch, axis=1)
    log_ev = np.zeros(batch)
    for j in range(length):
        alphas[j] = a
        a, s = _normalise((_emit(a, P3) * e[j][None]).reshape(n_ctx, batch))
        log_ev += _log(s)
    b = np.ones((n_ctx, batch))
    for j in range(length - 1, -1, -1):
        betas[j] = b
        b, _ = _normalise(_absorb(b.reshape(cr, n, batch) * e[j][None], P3))
    # All positions at once: fold the position axis into the batch axis.
    w = _emit(alphas.transpose(1, 0, 2).reshape(n_ctx, -1), P3).reshape(cr, n, length, batch)
    num = np.einsum("rvjb,rvjb->bjv", w, betas.transpose(1, 0, 2).reshape(cr, n, length, batch))
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = _log(num) - _log(num.sum(axis=-1, keepdims=True))
    point = np.where(np.arange(n) == np.where(visible, x, 0)[..., None], 0.0, -np.inf)
    logp = np.where(visible[..., None], point, logp)
    logp = np.where(np.isfinite(log_ev)[:, None, None], logp, -np.inf)
    return logp, log_ev


# ------------------------------------------------------------------------------ validation
def transition_table(table, name: str = "table") -> np.ndarray:
    """``table`` as a float ``(N**k, N)`` array of transition probabilities: rows finite, ≥ 0, summing to 1.

    Raises
    ------
    ValueError
        Naming ``name``: a shape that is not ``(N**k, N)`` for some k ≥ 1, or a row that is not a
        probability vector within ``SUM_TOLERANCE``.
    """
    table = ensure_array(table, name, ndim=2, finite=True, lo=0.0)
    n_ctx, n = table.shape
    order = round(math.log(n_ctx, n)) if n > 1 and n_ctx > 1 else 1
    if n < 1 or n_ctx < 1 or n**order != n_ctx:
        raise ValueError(f"`{name}` must have shape (N**k, N) with k ≥ 1 (got {table.shape})")
    sums = table.sum(axis=1)
    if np.abs(sums - 1).max() > SUM_TOLERANCE:
        row = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"`{name}` rows must sum to 1 within {SUM_TOLERANCE:g} (row {row} sums to {sums[row]:.12g})")
    return table


def context_distribution(p, n_contexts: int, name: str) -> np.ndarray:
    """``p`` as a ``(C,)`` probability vector over the contexts of the lifted chain (π or a point mass)."""
    p = ensure_array(p, name, shape=(n_contexts,), finite=True, lo=0.0)
    if abs(p.sum() - 1) > SUM_TOLERANCE:
        raise ValueError(
            f"`{name}` must be a distribution over the {n_contexts} contexts summing to 1 within "
            f"{SUM_TOLERANCE:g} (sums to {p.sum():.12g})"
        )
    return p


# ------------------------------------------------------------------------- the lifted chain
def lifted_matrix(table: np.ndarray) -> np.ndarray:
    """Dense ``(C, C)`` lifted transition matrix ``T[c, (cN+v) mod C] = P(v | c)`` (§5.4).

    Parameters
    ----------
    table : (N**k, N) float array

    Examples
    --------
    >>> T = lifted_matrix(np.array([[0.25, 0.75], [0.5, 0.5]]))
    >>> T.tolist()
    [[0.25, 0.75], [0.5, 0.5]]
    """
    n_ctx, n = transition_table(table).shape
    ensure_size(n_ctx * n_ctx, f"the dense lifted matrix of {n_ctx} contexts")
    c = np.arange(n_ctx)
    nxt = (c[:, None] * n + np.arange(n)) % n_ctx
    T = np.zeros((n_ctx, n_ctx))
    np.add.at(T, (np.broadcast_to(c[:, None], nxt.shape), nxt), table)
    return T


def _classes(table: np.ndarray):
    """Strongly connected classes of the lifted chain: (number of classes, class label per context)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    return connected_components(csr_matrix(lifted_matrix(table) > 0), directed=True, connection="strong")


def is_irreducible(table: np.ndarray) -> bool:
    """Whether the lifted chain of ``table`` is one strongly connected class (so π is unique, §5.4)."""
    return _classes(table)[0] == 1


def _spell(contexts, n: int, order: int, symbols: str | None) -> str:
    """Up to five contexts, oldest symbol first: ``'AC', 'CA'`` with an alphabet, ``[0, 1], [1, 0]`` without."""
    out = []
    for c in contexts[:5]:
        digits = [(int(c) // n**j) % n for j in range(order - 1, -1, -1)]
        out.append(repr("".join(symbols[d] for d in digits)) if symbols else str(digits))
    return ", ".join(out + (["..."] if len(contexts) > 5 else []))


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}{'' if k == 1 else 's'}"


def _reducible_reason(table: np.ndarray, name: str, symbols: str | None) -> str:
    """Why the lifted chain of ``table`` is not irreducible: its closed classes and transient contexts."""
    n_ctx, n = table.shape
    order = round(math.log(n_ctx, n)) if n > 1 else 1
    _, label = _classes(table)
    T = lifted_matrix(table) > 0
    # A class is closed when no transition leaves it; every context outside the closed classes is transient.
    leaves = T & (label[:, None] != label[None, :])
    open_labels = set(label[np.any(leaves, axis=1)].tolist())
    closed = [np.flatnonzero(label == c) for c in sorted(set(label.tolist()) - open_labels)]
    transient = np.flatnonzero(np.isin(label, sorted(open_labels)))
    classes = "; ".join(f"{{{_spell(c, n, order, symbols)}}} ({_count(c.size, 'context')})" for c in closed)
    if len(closed) > 1:
        return (
            f"the lifted chain of {name!r} has {len(closed)} closed classes of contexts ({classes}), so its "
            "stationary distribution is not unique and a stationary start is undefined: pass `start=` a prompt "
            "(its last k symbols fix the initial context)"
        )
    return (
        f"the lifted chain of {name!r} is not irreducible: {_count(transient.size, 'context')} "
        f"({_spell(transient, n, order, symbols)}) {'is' if transient.size == 1 else 'are'} transient (the chain "
        f"leaves and never re-enters {'it' if transient.size == 1 else 'them'}) and the one closed class is {classes}. A stationary start needs π > 0 "
        "on every context: give the transient contexts a positive probability of being re-entered, drop symbols "
        "that are never emitted from the alphabet, or pass `start=` a prompt (windows that continue it need no π)"
    )


def stationary_distribution(
    table: np.ndarray, *, method: str = "auto", name: str = "the chain", symbols: str | None = None
) -> np.ndarray:
    """π over contexts with ``π T = π``, ``Σ π = 1``, T the lifted matrix (§5.4), by one of two methods.

    Parameters
    ----------
    table : (N**k, N) float array
    method : {"auto", "gth", "eig"}
        ``"eig"``: the left eigenvector of ``T`` for the eigenvalue closest to 1 (dense
        LAPACK up to C = 4096 contexts, ARPACK beyond). Accurate to ~1e-16 *absolutely*, so
        a context of stationary mass 1e-8 can carry a relative error of 1e-9.
        ``"gth"``: the same eigenvector by Grassmann–Taksar–Heyman elimination, which uses
        no subtraction and is accurate entrywise to a few ulps *relatively*; O(C³).
        ``"auto"``: ``"gth"`` up to C = 1024, else ``"eig"``. Window log-probabilities of
        a stationary start depend on π relatively, hence the default.
    name : str
        The chain's name, for the error message.
    symbols : str, optional
        The alphabet's N symbols, to spell contexts in the error message (digits otherwise).

    Raises
    ------
    ValueError
        If the lifted chain is not irreducible (naming its transient contexts and closed
        classes), or for an unknown ``method``.
    """
    ensure_choice(method, "method", STATIONARY_METHODS)
    name = ensure_str(name, "name")
    table = transition_table(table)
    if symbols is not None and (not isinstance(symbols, str) or len(symbols) != table.shape[1]):
        raise ValueError(f"`symbols` must be a string of the {table.shape[1]} symbols (got {symbols!r})")
    if not is_irreducible(table):
        raise ValueError(_reducible_reason(table, name, symbols))
    T = lifted_matrix(table)
    n_ctx = T.shape[0]
    if method == "gth" or (method == "auto" and n_ctx <= 1024):
        return _gth(T)
    if n_ctx <= _DENSE_EIG_LIMIT:
        import scipy.linalg

        w, vl = scipy.linalg.eig(T, left=True, right=False)
        v = vl[:, np.argmin(np.abs(w - 1))]
    else:
        from scipy.sparse import csr_matrix
        from scipy.sparse.linalg import eigs

        _, vecs = eigs(csr_matrix(T).T, k=1, which="LR")
        v = vecs[:, 0]
    v = np.real(v)
    v = v / v.sum()
    # Irreducible: π > 0 everywhere; rounding may leave -1e-17 entries.
    pi = np.clip(v, 0.0, None)
    return pi / pi.sum()


def entropy_rate(table: np.ndarray, stationary: np.ndarray) -> float:
    """Σ_c π(c) H(P(·|c)) in nats per symbol, the stationary entropy rate (§1.1)."""
    from scipy.special import entr

    table = transition_table(table)
    stationary = context_distribution(stationary, table.shape[0], "stationary")
    return float(stationary @ entr(table).sum(axis=1))
