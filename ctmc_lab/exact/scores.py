"""Concrete scores, DSE and DCE losses, mdse and mdce (``docs/theory.md`` §2, §3).

Orientation (§8 item 1): in ``ℓ_DSE(x0, x, t, s) = sum_{y≠x} Q_t(x, y)[s_y - a_y log s_y + K(a_y)]``
the weight Q_t(x, y) is the forward rate *from y into x*. For a neighbour ``y = x^{i←v}``
that is ``Q[x^i, v]`` in the column convention.

Functions work at the unit-rate noise level s of a :class:`~ctmc_lab.forward.process.NoisedDistribution`
(``mdse(x0, t) = sigma(t) mdse_s(x0, sigma_bar(t))``, §2.3).
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

from ctmc_lab import masks
from ctmc_lab._validation import InvalidTypeError, ensure_array, ensure_choice, ensure_int, ensure_real, ensure_tokens
from ctmc_lab.exact.information import clamp_nonnegative
from ctmc_lab.forward.generators import Generator
from ctmc_lab.forward.process import (
    NoisedDistribution,
    apply_all_axes,
    apply_along_axes,
    ensure_noised,
    leave_one_out,
)
from ctmc_lab.sequences import flat_index
from ctmc_lab.sources.joint import JointDistribution

__all__ = ["entropy_term", "concrete_score", "dse", "dce", "mdse", "marginal_mdse", "mdce"]


def entropy_term(a) -> np.ndarray:
    """K(a) = a (log a - 1), with K(0) = 0, for a ≥ 0 (``+inf`` allowed)."""
    a = ensure_array(a, "a", lo=0.0)
    return xlogy(a, a) - a


def _neighbours(x: np.ndarray, n_states: int) -> np.ndarray:
    """(B, L, S, L) array: row [b, i, v] is x_b with position i set to v."""
    B, L = x.shape
    y = np.broadcast_to(x[:, None, None, :], (B, L, n_states, L)).copy()
    idx = np.arange(L)
    y[:, idx, :, idx] = np.arange(n_states)
    return y


def _states(x, n_states: int, length: int | None, name: str) -> np.ndarray:
    """``x`` as an int array of states in ``0..S-1`` (clean symbols and, for absorbing noise, the mask)."""
    x = ensure_array(x, name, dtype=int, ndim=(1, 2))
    if x.size == 0 or (length is not None and x.shape[-1] != length):
        raise ValueError(f"`{name}` must have shape ({length},) or (B, {length}) with B ≥ 1 (got shape {x.shape})")
    if x.min() < 0 or x.max() >= n_states:
        raise ValueError(f"`{name}` must hold states in 0..{n_states - 1} (got {x.min()}..{x.max()})")
    return x


def concrete_score(noised: NoisedDistribution, x) -> np.ndarray:
    """The optimal score s*(x)_y = p_s(y) / p_s(x) for every neighbour y = x^{i←v} (§2.2).

    Parameters
    ----------
    x : (B, L) int array
        Noisy states (tokens in 0..S-1) with p_s(x) > 0.

    Returns
    -------
    (B, L, S) float array
        ``out[b, i, v] = p_s(x^{i←v}) / p_s(x)``; 1 at v = x^i.
    """
    noised = ensure_noised(noised)
    S = noised.generator.n_states
    x = np.atleast_2d(_states(x, S, noised.dist.length, "x"))
    flat = noised.p.reshape(-1)
    px = flat[flat_index(x, S, check=False)]
    if np.any(px <= 0):
        raise ValueError("`x` must have p_s(x) > 0 for the concrete score (a state has zero mass)")
    return flat[flat_index(_neighbours(x, S), S, check=False)] / px[:, None, None]


def dse(generator, K, x0, x, score, *, rate: float = 1.0) -> np.ndarray:
    """Pointwise DSE loss ℓ_DSE(x0, x, t, s) (paper Eq. 3, §2.1).

    Parameters
    ----------
    generator : Generator or (S, S) array
        The rate matrix Q (column convention); only its rates are read, so a deliberately
        wrong matrix (a negative control) may be passed as an array.
    K : (S, S) float array
        The token kernel exp(sQ) at the noise level: the loss needs p_{s|0}, never p_s.
    x0 : (B, L) int array
        Clean sequences.
    x : (B, L) int array
        Noisy states with p_{s|0}(x | x0) > 0.
    score : (B, L, S) float array
        ``score[b, i, v]`` is the score for the neighbour x^{i←v} (the diagonal is ignored).
    rate : float
        sigma(t); 1 gives the unit-rate loss.

    Notes
    -----
    a_y = p_{s|0}(y|x0) / p_{s|0}(x|x0) = K[v, x0^i] / K[x^i, x0^i] for y = x^{i←v}.
    Each bracket is a·φ(s/a) ≥ 0 with φ(r) = r - 1 - log r.
    """
    Q = generator.Q if isinstance(generator, Generator) else ensure_array(generator, "generator", ndim=2, finite=True)
    K = ensure_array(K, "K", ndim=2, finite=True, lo=0.0)
    if Q.shape != K.shape or Q.shape[0] != Q.shape[1] or Q.shape[0] < 1:
        raise ValueError(f"`generator` and `K` must be square matrices of one shape (got {Q.shape} and {K.shape})")
    S = Q.shape[0]
    x0 = np.atleast_2d(_states(x0, S, None, "x0"))
    x = np.atleast_2d(_states(x, S, None, "x"))
    if x.shape != x0.shape:
        raise ValueError(f"`x` must have the shape of `x0` {x0.shape} (got {x.shape})")
    score = ensure_array(score, "score", shape=x.shape + (S,), lo=0.0)
    rate = ensure_real(rate, "rate", lo=0.0)
    kx = K[x, x0]  # (B, L): K[x^i, x0^i]
    if np.any(kx <= 0):
        raise ValueError("`x` must be reachable from `x0`: p_{s|0}(x | x0) = 0")
    ky = K[:, x0].transpose(1, 2, 0)  # (B, L, S): K[v, x0^i]
    a = ky / kx[:, :, None]
    w = Q[x]  # (B, L, S): Q[x^i, v], the rate v -> x^i
    off = np.arange(S)[None, None, :] != x[:, :, None]
    w = np.where(off, w, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bracket = score - xlogy(a, score) + entropy_term(a)
    bracket = np.where(w > 0, bracket, 0.0)
    return rate * np.sum(w * bracket, axis=(1, 2))


def dce(x0, x, log_c, *, mask_id: int) -> np.ndarray:
    """Pointwise DCE loss ℓ_DCE(x0, x, c) = sum_{i in M(x)} -log c(x)_{i, x0^i} (§3.1).

    Parameters
    ----------
    x0 : (B, L) int array
    x : (B, L) int array, mask id at masked positions
    log_c : (B, L, N) float array
        Denoiser log-probabilities at x (``-inf`` allowed, NaN and ``+inf`` not).
    mask_id : int
        N, the mask id.
    """
    n = ensure_int(mask_id, "mask_id", minimum=1)
    x0 = np.atleast_2d(ensure_tokens(x0, n, name="x0"))
    x = np.atleast_2d(ensure_tokens(x, n, x0.shape[-1], allow_mask=True, name="x"))
    if x.shape != x0.shape:
        raise ValueError(f"`x` must have the shape of `x0` {x0.shape} (got {x.shape})")
    log_c = ensure_array(log_c, "log_c", shape=x.shape + (n,))
    if (log_c == np.inf).any():
        raise ValueError("`log_c` must not contain +inf (log-probabilities are at most 0)")
    picked = np.take_along_axis(log_c, x0[:, :, None], axis=2)[:, :, 0]
    return np.sum(np.where(x == mask_id, -picked, 0.0), axis=1)


def mdse(noised: NoisedDistribution, x0, *, method: str = "auto") -> np.ndarray:
    """Unit-rate minimum DSE, mdse_s(x0, s) = E_{x ~ p_{s|0}(·|x0)} ℓ_DSE(x0, x, s*) (§2.3).

    Parameters
    ----------
    noised : NoisedDistribution
        At noise level s > 0.
    x0 : (L,) or (B, L) int array or strings
    method : {"auto", "contract", "enumerate", "factored"}
        ``contract`` sums over all of S^L by contracting with the kernel for every x0 at
        once; ``enumerate`` visits, for each x0, only the states reachable from it (2^L for
        absorbing noise); ``factored`` regroups the same sum into about (3 + log2 L) L axis
        steps (the fast path of the integrals). All are exact and are twins in the tests;
        ``auto`` picks ``enumerate`` or ``factored``, whichever has the smaller measured
        operation count.

    Returns
    -------
    float or (B,) float array
        ``inf`` where p_{s|0}(·|x0) charges a state of zero p_s mass.

    Notes
    -----
    For position i and a rate Q[a, b] > 0 (jump b -> a), the states x with x^i = a and their
    neighbours y = x^{i←b} contribute
    ``Q[a,b] (K[a,x0^i] E[s*] - K[b,x0^i] E[log s*] + K[a,x0^i] K(α))`` with
    α = K[b,x0^i]/K[a,x0^i], where E contracts the other axes with the kernel for all x0
    at once (one contraction for the whole batch instead of one expectation per x0).
    Theorem 3.1: d/ds KL = -mdse_s.
    """
    noised = ensure_noised(noised)
    method = ensure_choice(method, "method", ["auto", *sorted(_MDSE_METHODS)])
    if noised.s <= 0:
        raise ValueError("`noised` must be at a noise level s > 0 for mdse (at s = 0 it is a one-sided limit)")
    x0 = noised.dist.encode(x0, name="x0")
    if x0.ndim > 2:
        raise ValueError(f"`x0` must have shape (L,) or (B, L) (got shape {x0.shape})")
    single = x0.ndim == 1
    x0 = np.atleast_2d(x0)
    fn = _MDSE_METHODS[method] if method != "auto" else _cheaper_mdse_method(noised, x0.shape[0])
    # mdse is an expectation of Bregman divergences, >= 0 (§2.3); rounding can dip below.
    infinite = noised.unreachable_mass(x0) > 0
    finite = clamp_nonnegative(np.where(infinite, 0.0, fn(noised, x0)), what="mdse")
    total = np.where(infinite, np.inf, finite)
    return float(total[0]) if single else total


def _reachable(noised: NoisedDistribution) -> tuple[np.ndarray, np.ndarray]:
    """Per clean symbol b, the states a with K[a, b] > 0, padded: (N, r) ids and validity."""
    reach = noised.clean_kernel.T > 0
    r = int(reach.sum(axis=1).max())
    order = np.argsort(~reach, axis=1, kind="stable")[:, :r]
    return order, np.take_along_axis(reach, order, axis=1)


def _cheaper_mdse_method(noised: NoisedDistribution, n_batch: int):
    """Operation counts: enumerate visits B r^L states with L S neighbours each; factored
    makes about (3 + log2 L) L axis steps over the S^L tensor. The weights are measured
    (profiled on D128): one enumerated neighbour costs about 50 element-steps."""
    S, L = noised.generator.n_states, noised.dist.length
    r = int((noised.clean_kernel > 0).sum(axis=0).max())  # the width of _reachable's table
    enumerate_cost = 50.0 * n_batch * r**L * L * S
    factored_cost = (3.0 + np.log2(max(L, 1))) * L * float(S) ** L
    return _mdse_enumerate if enumerate_cost < factored_cost else _mdse_factored


def _mdse_enumerate(noised: NoisedDistribution, x0: np.ndarray) -> np.ndarray:
    """mdse_s by visiting, for each x0, the states x with p_{s|0}(x|x0) > 0 (§5.1 step 3)."""
    Q, K = noised.generator.Q, noised.K
    S, L = Q.shape[0], x0.shape[1]
    ids, valid = _reachable(noised)
    r = ids.shape[1]
    combos = np.indices((r,) * L).reshape(L, -1).T  # (r^L, L) choices of reachable symbols
    flat_p, flat_lp = noised.p.reshape(-1), noised.log_p.reshape(-1)
    off = np.arange(S) != np.arange(S)[:, None]
    total = np.empty(x0.shape[0])
    step = max(1, (1 << 21) // (combos.shape[0] * L * S * L))
    for lo in range(0, x0.shape[0], step):
        xb = x0[lo : lo + step]
        x = ids[xb[:, None, :], combos[None, :, :]]  # (b, n, L) states
        keep = np.all(valid[xb[:, None, :], combos[None, :, :]], axis=2)  # padding repeats a state
        kx = K[x, xb[:, None, :]]  # K[x^i, x0^i]
        q = np.where(keep, np.prod(kx, axis=2), 0.0)
        y = _neighbours(x.reshape(-1, L), S).reshape(x.shape[:2] + (L, S, L))  # y = x^{i<-v}
        ix, iy = flat_index(x, S, check=False), flat_index(y, S, check=False)  # states built above
        px, py = flat_p[ix][..., None, None], flat_p[iy]
        ratio = np.divide(py, px, out=np.zeros_like(py), where=px > 0)
        log_ratio = np.where((px > 0) & (py > 0), flat_lp[iy] - flat_lp[ix][..., None, None], 0.0)
        kv = np.moveaxis(K[:, xb], 0, -1)[:, None, :, :]  # (b, 1, L, S): K[v, x0^i]
        a = np.divide(kv, kx[..., None], out=np.zeros(kv.shape[:1] + kx.shape[1:] + (S,)), where=kx[..., None] > 0)
        w = Q[x] * off[x]  # rate v -> x^i, diagonal removed
        bracket = np.where(w > 0, ratio - a * log_ratio + entropy_term(a), 0.0)
        total[lo : lo + step] = np.einsum("bn,bnlv->b", q, w * bracket)
    return total


def _mdse_contract(noised: NoisedDistribution, x0: np.ndarray) -> np.ndarray:
    """mdse_s for all x0 at once by contracting with the kernel (see :func:`mdse`)."""
    Q, Kc = noised.generator.Q, noised.clean_kernel
    length = noised.dist.length
    a_idx, b_idx = np.nonzero((Q > 0) & ~np.eye(Q.shape[0], dtype=bool))
    rates = Q[a_idx, b_idx][:, None]
    total = np.zeros(x0.shape[0])
    for i in range(length):
        # States x with x^i = a and their neighbours y = x^{i<-b}, for every rate pair (a, b).
        p_x, p_y = np.moveaxis(noised.p, i, 0)[a_idx], np.moveaxis(noised.p, i, 0)[b_idx]
        lp = np.moveaxis(noised.log_p, i, 0)
        ok = p_x > 0
        ratio = np.divide(p_y, p_x, out=np.zeros_like(p_y), where=ok)
        # s* = 0 forces a = 0 (y unreachable from x0), so its log term is dropped (§5.1 step 3).
        log_ratio = np.where(ok & (p_y > 0), lp[b_idx] - lp[a_idx], 0.0)
        e_ratio = apply_all_axes(ratio, Kc.T, batch_axes=1).reshape(len(a_idx), -1)
        e_log = apply_all_axes(log_ratio, Kc.T, batch_axes=1).reshape(len(a_idx), -1)
        rest = np.delete(x0, i, axis=1)
        idx = flat_index(rest, noised.dist.n_tokens, check=False)
        ka, kb = Kc[a_idx][:, x0[:, i]], Kc[b_idx][:, x0[:, i]]  # (P, B)
        reach = ka > 0
        k_alpha = np.where(reach, xlogy(kb, np.where(reach, kb / np.where(reach, ka, 1.0), 1.0)) - kb, 0.0)
        terms = ka * e_ratio[:, idx] - np.where(reach, kb, 0.0) * e_log[:, idx] + k_alpha
        total += np.sum(rates * terms, axis=0)
    return total


def _mdse_factored(noised: NoisedDistribution, x0: np.ndarray) -> np.ndarray:
    """mdse_s rearranged into one full and L partial contractions (fast path for integrals).

    Since q(x) a_y = q(y), summing the DSE brackets over neighbours gives

    * ``E_q[(Q^(L) p_s)(x) / p_s(x)] - E_q[sum_i Q[x^i, x^i]]`` for the s* terms,
    * ``sum_i sum_{a≠b} Q[a,b] 1[K[a,x0^i] > 0] K[b,x0^i] (G_i[b] - G_i[a])`` for the log terms,
      where G_i[c] = E over the other positions of log p_s(x^{i←c}),
    * a closed form per position for the K(a) terms.

    This is algebra on the same sum, close to the exact KL derivative, so the checks of
    Theorem 3.1 use the ``contract`` and ``enumerate`` methods; this one is their twin.

    Every coefficient depends on x0 only through the symbol b = x0^i, so it is tabulated
    over b (an (S, N) table); the log terms then become one more axis step on each G_i and
    are summed as tensors over V^L before a single gather at x0. The L tensors G_i share
    their contractions (:func:`~ctmc_lab.forward.process.leave_one_out`): about L log2 L axis steps
    in all, O(log L) tensors alive at once and no (S, S, B) temporaries, which lets the
    full support of 4^12 sequences through in memory.
    """
    Q, Kc = noised.generator.Q, noised.clean_kernel
    length, n = noised.dist.length, noised.dist.n_tokens
    W = Q - np.diag(np.diag(Q))
    drift = apply_along_axes(noised.p, Q, axes=[0])
    for i in range(1, length):
        drift += apply_along_axes(noised.p, Q, axes=[i])
    ratio = np.divide(drift, noised.p, out=np.zeros_like(drift), where=noised.p > 0)
    del drift
    flat = flat_index(x0, n, check=False)
    total = noised.expect_over_start(ratio).reshape(-1)[flat]
    del ratio
    # Per clean symbol b (columns): the tables that multiply G_i and the constant terms.
    reach = Kc > 0  # (S, N)
    log_coef = Kc * (W.T @ reach) - reach * (W @ Kc)  # coefficient of G_i[c] for x0^i = b
    safe = np.where(reach, Kc, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # K(α) term of the rate Q[a, c] (jump c -> a): α = K[c,b] / K[a,b], used where K[a,b] > 0, as
        # alpha[a, c, b] = K[a,b] K(α) = xlogy(K[c,b], α) - K[c,b].
        alpha = (
            xlogy(Kc[None, :, :], np.where(reach[:, None, :], Kc[None, :, :] / safe[:, None, :], 1.0)) - Kc[None, :, :]
        )
    const = np.sum(W[:, :, None] * reach[:, None, :] * alpha, axis=(0, 1)) - np.diag(Q) @ Kc  # (N,)
    # sum_c log_coef[c, x0^i] G_i[.., c, ..] is one more axis step on G_i (with log_coef^T),
    # so the L terms are summed as tensors over V^L and gathered once.
    log_terms = None
    for i, G in leave_one_out(noised.log_p, Kc.T):
        term = apply_along_axes(G, log_coef.T, axes=[i])
        log_terms = term if log_terms is None else np.add(log_terms, term, out=log_terms)
    total -= log_terms.reshape(-1)[flat]
    return total + const[x0].sum(axis=1)


_MDSE_METHODS = {"contract": _mdse_contract, "enumerate": _mdse_enumerate, "factored": _mdse_factored}


def marginal_mdse(noised: NoisedDistribution) -> float:
    """mdse_s(s) = E_{p0} mdse_s(x0, s); Theorem 3.1 (marginal): dI/ds = -mdse_s."""
    dist = ensure_noised(noised).dist
    return float(dist.probs @ mdse(noised, dist.support))


def mdce(dist: JointDistribution, x0, mask_level) -> np.ndarray:
    """mdce(x0, λ) = E_{x ~ p_{λ|0}} ℓ_DCE(x0, x, c*) from the subset table (Thm 3.5, §3.4, §3.5).

    The distribution-level entry point: it builds A(M) from ``dist``'s subset table and
    evaluates :func:`ctmc_lab.masks.mask_mdce`, the same quantity from a given A(M) table.
    Its integral ∫_0^Λ mdce/λ dλ is :func:`ctmc_lab.exact.decompositions.mdce_integral`.

    Parameters
    ----------
    dist : JointDistribution
    x0 : (L,) or (B, L) int array or strings
    mask_level : float or (K,) float array
        λ in [0, 1].

    Returns
    -------
    (K,) or (B, K) float array
        For one sequence or a batch.
    """
    if not callable(getattr(dist, "subset_table", None)):
        raise InvalidTypeError(f"`dist` must have a subset table (a JointDistribution; got {type(dist).__name__})")
    ensure_array(mask_level, "mask_level", ndim=(0, 1), lo=0.0, hi=1.0)  # before the subset tables are built
    A = masks.mask_dce(masks.subset_entropy(dist.subset_table(x0)))
    return masks.mask_mdce(A, mask_level)
