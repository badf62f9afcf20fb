"""Theorem 4.1 (time-free likelihood), Theorem 4.2 / Corollary 4.3 (conditional likelihood)
and the coupled ratio identity (Eq. 18), in float64 (``docs/theory.md`` §4).

The conditionals -log p0(x0^i | x0^I) come from the optimal denoiser c* queried on masked
inputs (:class:`ctmc_lab.sources.denoisers.OptimalDenoiser`), exactly as a model would be scored;
the left-hand sides come from direct marginal sums (:meth:`~ctmc_lab.sources.joint.JointDistribution.marginal`,
:meth:`~ctmc_lab.sources.joint.JointDistribution.nll`). The two routes share no code beyond the support table.

Negative controls: dropping the fully-masked set I = ∅ from Thm 4.1 (§8 item 5); H of the
whole length in place of H of the target length in Cor 4.3 (§8 item 6).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate
from scipy.special import beta

from ctmc_lab.sequences import popcount, subset_members
from ctmc_lab.sources.denoisers import OptimalDenoiser

from . import cost
from ._util import fit_queries, label, pick_sequences, prefix_marginal, worst
from .framework import TOL_ENUM, TOL_QUAD, Result, Skip, check

__all__ = ["masked_dce", "time_free_weights", "partitions"]

#: Work budget (support entries compared) of one batch of denoiser queries.
_QUERY_BUDGET = 4e8
#: Longest sequence whose 2^L masks are enumerated.
_MAX_LENGTH = 16


def harmonic(n: int) -> float:
    return math.fsum(1.0 / j for j in range(1, n + 1))


def time_free_weights(n: int) -> np.ndarray:
    """p(I) = B(n-|I|, |I|+1)/H_n for every visible bitmask I ⊊ [n] (0 for I = [n]) (§4.1)."""
    k = popcount(np.arange(1 << n))
    out = np.zeros(1 << n)
    proper = k < n
    out[proper] = beta(n - k[proper], k[proper] + 1) / harmonic(n)
    return out


def masked_dce(dist, x0: np.ndarray, visible: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Σ_{i ∈ scored, i not visible} -log c*(x̃)_{i, x0^i}, x̃ = x0 masked outside ``visible``.

    Parameters
    ----------
    x0 : (B, L) int array
    visible : (K, L) bool array
        One row per mask pattern (the visible set I or J ∪ I2).
    scored : (L,) bool array
        Positions whose conditionals are summed (all positions for Thm 4.1, the target I1
        for Cor 4.3).

    Returns
    -------
    (B, K) float array
    """
    denoiser = OptimalDenoiser(dist)
    B, K = x0.shape[0], visible.shape[0]
    x_in = np.where(visible[None], x0[:, None, :], dist.mask_id).reshape(B * K, -1)
    logc = denoiser(x_in).reshape(B, K, dist.length, dist.n_tokens)
    picked = np.take_along_axis(logc, x0[:, None, :, None], axis=3)[..., 0]  # (B, K, L)
    use = (~visible & scored)[None]
    return -np.where(use, picked, 0.0).sum(axis=2)


def _fitted(ctx):
    """ctx.large, or its longest prefix marginal on which the 2^L denoiser queries stay cheap
    (at most L = 16; the identities hold for every distribution, so a long or large user
    table is checked on its leading positions instead of skipped)."""
    dist = ctx.large
    return fit_queries(dist if dist.length <= _MAX_LENGTH else prefix_marginal(dist, _MAX_LENGTH))


def _batch_size(dist, n_masks: int) -> int:
    return int(_QUERY_BUDGET // (n_masks * dist.support_size * dist.length))


def _sequences(ctx, dist, n_masks: int, want: int):
    """Sequences to test (all of the support up to a cap), or a Skip when one is too costly."""
    if dist.length > _MAX_LENGTH:
        return Skip(f"L={dist.length}", f"enumerating 2^{dist.length} masks exceeds the limit L ≤ {_MAX_LENGTH}")
    cap = _batch_size(dist, n_masks)
    if cap < 1:
        return Skip(
            f"L={dist.length}, |support|={dist.support_size}",
            f"one sequence needs {n_masks}×{dist.support_size}×{dist.length} comparisons (budget {_QUERY_BUDGET:.0e})",
        )
    return pick_sequences(dist, min(cap, want))


def _count(ctx, dist, n_masks: int, want: int) -> int:
    """How many sequences :func:`_sequences` picks (0 where it skips)."""
    if dist.length > _MAX_LENGTH:
        return 0
    return max(0, min(_batch_size(dist, n_masks), want, dist.support_size))


def _thm41_work(ctx) -> float:
    dist = _fitted(ctx)
    return cost.masked_queries(dist, _count(ctx, dist, 1 << dist.length, 16 if ctx.quick else 128), 1 << dist.length)


def _conditional_work(ctx, quadratures: int = 0) -> float:
    """The per-partition denoiser tables and marginal sums of :func:`_conditional_parts`, and
    ``quadratures`` adaptive λ-integrals (about 200 nodes over 2^n terms) per partition."""
    dist = _fitted(ctx)
    total = 0.0
    for _, target, _, _ in partitions(dist.length):
        n = int(target.sum())
        count = _count(ctx, dist, 1 << n, 8 if ctx.quick else 32)
        total += cost.masked_queries(dist, count, 1 << n) + 2 * cost.marginals(dist, count)
        total += quadratures * 200 * (cost.CALL / 10 + cost.ELEM * (1 << n))
    return total


def _named_rows(dist, seqs, lhs, rhs, prefix: str, n_named: int = 3, named=None):
    """One row per named sequence (``named`` indices, default the first), then one aggregate
    row with the worst case."""
    lhs = np.asarray(lhs, dtype=float) + 0.0  # no "-0" in the report
    err = np.abs(lhs - rhs)
    for b in range(min(n_named, len(seqs))) if named is None else named:
        yield Result(f"{prefix}x0={label(dist, seqs[b])}", float(lhs[b]), float(rhs[b]), float(err[b]))
    if len(seqs) > n_named:
        w = worst(err)
        yield Result(
            f"{prefix}all {len(seqs)} sequences (worst x0={label(dist, seqs[w])})",
            float(lhs[w]),
            float(rhs[w]),
            float(err[w]),
        )


# --------------------------------------------------------------------------- Thm 4.1
def _thm41_parts(ctx, drop_empty: bool = False):
    dist = _fitted(ctx)
    L = dist.length
    seqs = _sequences(ctx, dist, 1 << L, 16 if ctx.quick else 128)
    if isinstance(seqs, Skip):
        return seqs
    visible = subset_members(L)  # row I: visible set
    A = masked_dce(dist, seqs, visible, np.ones(L, bool))  # (B, 2^L), A[:, I]
    p = time_free_weights(L)
    fully_masked = harmonic(L) * p[0] * A[:, 0]  # the term of I = ∅
    if drop_empty:
        p = p.copy()
        p[0] = 0.0
    return dist, seqs, dist.nll(seqs), harmonic(L) * (A @ p), fully_masked


@check(
    "thm41.time_free",
    theorem="Thm 4.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="−log p0 = H_L E_{p(I)} Σ_{i∉I} −log p0(x^i|x^I)",
    work=_thm41_work,
)
def thm41_time_free(ctx):
    """Theorem 4.1 (§4.1): -log p0(x0) = H_L Σ_{I⊊[L]} p(I) Σ_{i∉I} -log c*(x̃^I)_{i,x0^i},
    p(I) = B(L-|I|, |I|+1)/H_L, I = ∅ (fully masked) included; c* queried like a model."""
    parts = _thm41_parts(ctx)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, seqs, lhs, rhs, _ = parts
    yield from _named_rows(dist, seqs, lhs, rhs, f"{dist.name}; denoiser c*; ")


@check(
    "thm41.weights",
    theorem="Thm 4.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="Σ_k C(L,k)B(L−k,k+1) = H_L; two-stage p(I)",
    work=1e7,
)
def thm41_weights(ctx):
    """The normalisation of p(I) (§4.1, G2) for L = 1..64, and the two-stage sampler (X3):
    P(k) = 1/((L-k) H_L), then I uniform of size k, reproduces p(I) = B(L-k, k+1)/H_L."""
    errs = []
    for L in range(1, 65):
        k = np.arange(L)
        total = math.fsum(math.comb(L, int(j)) * beta(L - j, j + 1) for j in k)
        errs.append((abs(total - harmonic(L)), L, total))
    e, L, total = max(errs)
    yield Result(f"L=1..64 (worst L={L})", total, harmonic(L), e)
    L = 8
    k = popcount(np.arange(1 << L))
    proper = k < L
    two_stage = 1.0 / ((L - k[proper]) * harmonic(L)) / np.array([math.comb(L, int(j)) for j in k[proper]])
    p = time_free_weights(L)[proper]
    yield Result(
        f"L={L}: max |P(k)/C(L,k) − p(I)| over {proper.sum()} sets",
        float(two_stage.sum()),
        float(p.sum()),
        float(np.max(np.abs(two_stage - p))),
    )


@check(
    "thm41.control.drop_fully_masked",
    theorem="Thm 4.1",
    method="float64",
    tolerance=TOL_ENUM,
    statement="CONTROL: drop I = ∅ (fully masked)",
    expected_to_fail=True,
    work=_thm41_work,
)
def thm41_drop_empty(ctx):
    """Negative control (§8 item 5): the sampler of eval_llada/eval_text8 omits I = ∅."""
    parts = _thm41_parts(ctx, drop_empty=True)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, seqs, lhs, rhs, fully_masked = parts
    b = 0
    # Where the dropped term is within rounding (x0 of probability ~1) the control cannot fail.
    yield Result(f"{dist.name}; x0={label(dist, seqs[b])}", float(lhs[b]), float(rhs[b]), gap=float(fully_masked[b]))


# -------------------------------------------------------------------- Thm 4.2 / Cor 4.3
def partitions(length: int):
    """(name, target I1, context I2, marginalised R) as bool arrays, for Thm 4.2 / Cor 4.3.

    * "target/context/marginalised": context = the first max(1, L//3) positions, one
      marginalised position after it, the rest is the target (L ≥ 3);
    * "prompt/response": context = the first half, target = the second half (R = ∅).
    """
    out = []
    pos = np.arange(length)
    if length >= 3:
        n_ctx = max(1, length // 3)
        ctx_ = pos < n_ctx
        marg = pos == n_ctx
        out.append(("context/marginalised/target", ~ctx_ & ~marg, ctx_, marg))
    if length >= 2:
        ctx_ = pos < length // 2
        out.append(("prompt/response", ~ctx_, ctx_, np.zeros(length, bool)))
    return out


def _positions(mask) -> str:
    return "{" + ",".join(map(str, np.flatnonzero(mask))) + "}"


def _conditional_parts(ctx):
    """For each partition: seqs, true conditional NLL, and the per-J target DCE table."""
    dist = _fitted(ctx)
    parts = partitions(dist.length)
    if not parts:
        return Skip(f"L={dist.length}", "conditional likelihood needs L ≥ 2 (a target and a context)")
    out = []
    for name, target, context, marg in parts:
        n = int(target.sum())
        # Visible sets J ∪ I2 for every J ⊆ I1 (bitmask over the n target positions).
        sub = subset_members(n)
        visible = np.repeat(context[None], 1 << n, axis=0)
        visible[:, np.flatnonzero(target)] = sub
        seqs = _sequences(ctx, dist, 1 << n, 8 if ctx.quick else 32)
        if isinstance(seqs, Skip):
            return seqs
        A = masked_dce(dist, seqs, visible, target)  # (B, 2^n), A[:, J]
        lhs = -(np.log(dist.marginal(seqs, target | context)) - np.log(dist.marginal(seqs, context)))
        case = f"{dist.name}; {name}: I1={_positions(target)}, I2={_positions(context)}, R={_positions(marg)}; "
        out.append((case, n, seqs, lhs, A))
    return dist, out


@check(
    "cor43.time_free_conditional",
    theorem="Cor 4.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="−log p0(x^I1|x^I2) = H_n E_{p(J)} Σ −log p0(x^i|x^{J∪I2})",
    work=_conditional_work,
)
def cor43(ctx):
    """Corollary 4.3 (§4.2): with n = |I1|, p(J) = B(n-|J|, |J|+1)/H_n over J ⊊ I1,
    -log p0(x0^{I1} | x0^{I2}) = H_n Σ_J p(J) Σ_{i ∈ I1∖J} -log p0(x0^i | x0^{J ∪ I2});
    positions in R stay masked (marginalised), never conditioned on."""
    parts = _conditional_parts(ctx)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, rows = parts
    for case, n, seqs, lhs, A in rows:
        rhs = harmonic(n) * (A @ time_free_weights(n))
        # Name the sequence with the largest conditional NLL: in a sparse table the context
        # often determines the target, and a 0 = 0 row shows little.
        yield from _named_rows(dist, seqs, lhs, rhs, case, named=[int(np.argmax(lhs))])


@check(
    "thm42.integral_conditional",
    theorem="Thm 4.2",
    method="float64",
    tolerance=TOL_QUAD,
    statement="−log p0(x^I1|x^I2) = ∫ (1/λ) E_M Σ_{i∈M} −log p0(·) dλ",
    work=lambda ctx: _conditional_work(ctx, 4 if ctx.quick else 8),
)
def thm42(ctx):
    """Theorem 4.2 (§4.2): -log p0(x0^{I1}|x0^{I2}) = ∫_0^1 (1/λ) E_{M ⊆ I1, Bern(λ)}
    [Σ_{i∈M} -log p0(x0^i | x0^{(I1∖M) ∪ I2})] dλ, by adaptive quadrature over λ."""
    parts = _conditional_parts(ctx)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, rows = parts
    for case, n, seqs, lhs, A in rows:
        m = n - popcount(np.arange(1 << n))  # |M| for visible bitmask J = I1 ∖ M

        def integrand(lam, a):
            # (1/λ) Σ_M λ^m (1-λ)^(n-m) A(M), with λ^m/λ written as λ^(m-1) (m ≥ 1 when A ≠ 0).
            return float(np.sum(np.where(m > 0, lam ** np.maximum(m - 1, 0) * (1 - lam) ** (n - m) * a, 0.0)))

        rhs = np.array(
            [
                integrate.quad(integrand, 0.0, 1.0, args=(a,), epsabs=1e-13, epsrel=1e-13, limit=200)[0]
                for a in A[: 4 if ctx.quick else 8]
            ]
        )
        yield from _named_rows(
            dist, seqs[: len(rhs)], lhs[: len(rhs)], rhs, case, named=[int(np.argmax(lhs[: len(rhs)]))]
        )


@check(
    "cor43.control.whole_length_harmonic",
    theorem="Cor 4.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="CONTROL: H_L (whole length) not H_|I1|",
    expected_to_fail=True,
    work=_conditional_work,
)
def cor43_whole_length(ctx):
    """Negative control (§8 item 6): H of the whole length L instead of the target length n."""
    parts = _conditional_parts(ctx)
    if isinstance(parts, Skip):
        yield parts
        return
    dist, rows = parts
    case, n, seqs, lhs, A = rows[-1]
    if n == dist.length:
        yield Skip(case, "the target is the whole sequence, so H_L = H_n and the control cannot differ")
        return
    b = int(np.argmax(lhs))  # a non-zero conditional NLL, so the wrong factor shows
    rhs = harmonic(dist.length) * (A[b] @ time_free_weights(n))
    yield Result(f"{case}x0={label(dist, seqs[b])}; H_{dist.length} for n={n}", float(lhs[b]), float(rhs))


# ---------------------------------------------------------------------------- Eq. 18
def _eq18_work(ctx) -> float:
    dist = _fitted(ctx)
    n_pairs = 8 if ctx.quick else 40
    count = _count(ctx, dist, 1 << dist.length, 2 * n_pairs)
    pairs = min(n_pairs, count // 2 or 1) if count else 0
    return cost.masked_queries(dist, 2 * pairs, 1 << dist.length)


@check(
    "eq18.coupled_ratio",
    theorem="Eq. 18",
    method="float64",
    tolerance=TOL_ENUM,
    statement="log p0(y) − log p0(x) = H_L E_I Σ (coupled masks)",
    work=_eq18_work,
)
def eq18(ctx):
    """Eq. 18 (§4.3): log p0(y) - log p0(x) = H_L Σ_I p(I) Σ_{i∉I} [log p0(y^i|y^I) -
    log p0(x^i|x^I)] with the same I for both sequences; pairs drawn from the support."""
    dist = _fitted(ctx)
    L = dist.length
    n_pairs = 8 if ctx.quick else 40
    seqs = _sequences(ctx, dist, 1 << L, 2 * n_pairs)
    if isinstance(seqs, Skip):
        yield seqs
        return
    if dist.support_size < 2:
        yield Skip(dist.name, "a ratio needs two support sequences")
        return
    rng = ctx.rng(18)
    pool = dist.support
    idx = np.array([rng.choice(pool.shape[0], size=2, replace=False) for _ in range(min(n_pairs, len(seqs) // 2 or 1))])
    x, y = pool[idx[:, 0]], pool[idx[:, 1]]
    visible = subset_members(L)
    p = time_free_weights(L)
    both = masked_dce(dist, np.concatenate([x, y]), visible, np.ones(L, bool))
    Ax, Ay = both[: len(x)], both[len(x) :]
    # log p(y^i|y^I) - log p(x^i|x^I) = A_x - A_y term by term, under one shared mask I.
    rhs = harmonic(L) * ((Ax - Ay) @ p)
    lhs = dist.log_prob(y) - dist.log_prob(x)
    err = np.abs(lhs - rhs)
    b = 0
    yield Result(f"{dist.name}; x={label(dist, x[b])}, y={label(dist, y[b])}", float(lhs[b]), float(rhs[b]))
    w = worst(err)
    yield Result(
        f"{dist.name}; {len(x)} random pairs (worst x={label(dist, x[w])}, y={label(dist, y[w])})",
        float(lhs[w]),
        float(rhs[w]),
        float(err[w]),
    )
