"""mpmath twins at 50 digits of Lemma 3.3, Thm 3.4, Thm 3.5, Cor 3.6, Cor 3.7, Thm 4.2, Cor 4.3
and Eq. 18 (``docs/theory.md`` §3–§4), sharing no code with :mod:`ctmc_lab`.

Their ingredients, written out here in mpmath arithmetic:

* the absorbing forward process of :class:`proofs_check.highprec.MpProcess` (closed-form
  token kernels applied axis by axis over S^L; the KL of p_{s|0} against p_s);
* the optimal denoiser as ratios of marginal sums over the support,
  c*(x̃)_{i,v} = P0(x^U, x^i = v) / P0(x^U) (:class:`MpMarginals`);
* the law of the mask pattern from the kernel entries, P(M | x0) = Π_{i∈M} K[mask, x0^i]
  Π_{i∉M} K[x0^i, x0^i];
* ``mp.quad`` (tanh-sinh) for the integrals, ``mp.diff`` for derivatives of functions,
  ``mp.betainc`` / ``mp.beta`` for the weights.

Target residual: ≤ 1e-25 (§10).
"""

from __future__ import annotations

import mpmath
import numpy as np

from . import cost
from ._util import label, pick_sequences, prefix_marginal
from .framework import TOL_MP, Result, Skip, check
from .highprec import DPS, MpProcess, mp_probs

__all__ = ["MpMarginals", "mp_mask_law"]

#: Largest support × 2^L the marginal tables enumerate.
_TABLE_LIMIT = 200_000


class MpMarginals:
    """P0(x0^U) for every visible bitmask U (bit i = position i) of given sequences, by direct
    mpmath sums over the support (no zeta transform, no shared code)."""

    def __init__(self, dist):
        self.dist = dist
        self.L = dist.length
        with mpmath.workdps(DPS):  # renormalised at 50 digits whatever the caller's precision
            self.probs = mp_probs(dist)

    def table(self, x0):
        agree = [sum(1 << i for i in range(self.L) if z[i] == x0[i]) for z in self.dist.support]
        out = []
        for U in range(1 << self.L):
            out.append(mpmath.fsum(p for a, p in zip(agree, self.probs) if a & U == U))
        return out

    def cond(self, P, U: int, i: int):
        """-log c*(x̃)_{i, x0^i} for x̃ = x0 visible on U (i ∉ U): -log P(U ∪ {i}) / P(U)."""
        return -mpmath.log(P[U | (1 << i)] / P[U])


def mp_mask_law(K, x0, N: int):
    """P(M | x0) for every mask bitmask M from the kernel K (mp matrix as nested lists)."""
    L = len(x0)
    out = []
    for M in range(1 << L):
        w = mpmath.mpf(1)
        for i in range(L):
            w *= K[N][int(x0[i])] if M >> i & 1 else K[int(x0[i])][int(x0[i])]
        out.append(w)
    return out


def _A_table(marg: MpMarginals, P, L: int, scored=None):
    """A(M) = Σ_{i∈M∩scored} -log c*(x0 visible off M) for every mask bitmask M."""
    full = (1 << L) - 1
    scored = range(L) if scored is None else scored
    A = []
    for M in range(1 << L):
        U = full ^ M
        A.append(mpmath.fsum(marg.cond(P, U, i) for i in scored if M >> i & 1))
    return A


def _small(ctx, limit_states: int):
    """ctx.small, or its longest prefix marginal whose absorbing S^L fits ``limit_states``."""
    dist = ctx.small
    S = dist.n_tokens + 1
    L = dist.length
    while L > 1 and S**L > limit_states:
        L -= 1
    return prefix_marginal(dist, L)


def _where(dist, ctx) -> str:
    return f"{dist.name}; " if dist is not ctx.small and dist is not ctx.large else ""


def _result(case, lhs, rhs, rel: bool = False) -> Result:
    err = abs(lhs - rhs) / (max(1, abs(rhs)) if rel else 1)
    return Result(case, float(lhs), float(rhs), float(err))


# ------------------------------------------------------------------------------ Lemma 3.3
def _loglinear(t, eps="1e-3"):
    """(σ̄(t), σ(t)) of loglinear(ε): σ̄ = -log(1 - (1-ε)t), σ = (1-ε)/(1 - (1-ε)t)."""
    eps = mpmath.mpf(eps)  # parsed here, at the caller's working precision
    u = 1 - (1 - eps) * t
    return -mpmath.log(u), (1 - eps) / u


def _dse_absorbing(x0, masked, c, sbar, sigma, N):
    """ℓ_DSE for absorbing noise at a state with the given masked positions and the score
    s_{i,v} = c_{i,v}/(e^σ̄ - 1) (rows c may be unnormalised), by the pointwise formula (§2.1):
    σ Σ_{i masked} Σ_v [s - a log s + a(log a - 1)], a_v = 1[v = x0^i]/(e^σ̄ - 1)."""
    r = mpmath.expm1(sbar)
    total = []
    for i in masked:
        for v in range(N):
            s_v = c[i][v] / r
            if v == int(x0[i]):
                a = 1 / r
                total.append(s_v - a * mpmath.log(s_v) + a * (mpmath.log(a) - 1))
            else:
                total.append(s_v)
    return sigma * mpmath.fsum(total)


@check(
    "mp.lemma33",
    theorem="Lemma 3.3",
    method="mpmath",
    tolerance=TOL_MP,
    statement="ℓ_DSE = σ(1−λ)/λ·ℓ_DCE (+ correction), 50 digits",
    work=lambda ctx: 2 * (10 if ctx.quick else 40) * cost.MP_OP * (10 + 6 * ctx.small.length * ctx.small.n_tokens),
)
def mp_lemma33(ctx):
    """Lemma 3.3 at 50 digits: random (x0, masked set, t, c), normalised rows and unnormalised
    rows with the correction σ(1-λ)/λ Σ_i (Σ_v c_{i,v} - 1), under loglinear(1e-3)."""
    rng = ctx.rng(133)
    N, L = ctx.small.n_tokens, ctx.small.length
    with mpmath.workdps(DPS):
        for normalised in (True, False):
            worst = (mpmath.mpf(0), 0, 0)
            for _ in range(10 if ctx.quick else 40):
                x0 = rng.integers(0, N, size=L)
                masked = [i for i in range(L) if rng.random() < 0.6] or [0]
                t = mpmath.mpf(float(rng.uniform(0.02, 0.98)))
                raw = [[mpmath.mpf(float(v)) for v in rng.uniform(0.1, 2.0, size=N)] for _ in range(L)]
                c = [[v / mpmath.fsum(row) for v in row] for row in raw] if normalised else raw
                sbar, sigma = _loglinear(t)
                lhs = _dse_absorbing(x0, masked, c, sbar, sigma, N)
                lam = -mpmath.expm1(-sbar)
                factor = sigma * (1 - lam) / lam
                dce = mpmath.fsum(-mpmath.log(c[i][int(x0[i])]) for i in masked)
                corr = mpmath.fsum(mpmath.fsum(c[i]) - 1 for i in masked)
                rhs = factor * (dce + corr)
                err = abs(lhs - rhs) / max(1, abs(rhs))
                if err >= worst[0]:
                    worst = (err, lhs, rhs)
            yield Result(
                f"{'normalised' if normalised else 'unnormalised + correction'} c; N={N}, L={L}; "
                f"{10 if ctx.quick else 40} random (x0, M, t); rel.",
                float(worst[1]),
                float(worst[2]),
                float(worst[0]),
            )


# ------------------------------------------------------------------------------ Thm 3.4
def _pseudo_c(key: int, i: int, N: int):
    """A fixed non-optimal denoiser row: softmax of pseudo-random values of (input key, i)."""
    vals = [mpmath.sin(mpmath.mpf(12.9898) * key + mpmath.mpf(78.233) * i + mpmath.mpf(37.719) * v) for v in range(N)]
    ex = [mpmath.exp(2 * v) for v in vals]
    total = mpmath.fsum(ex)
    return [e / total for e in ex]


#: Integrand evaluations of the tanh-sinh quadratures of the mpmath twins (measured about
#: 125 at 30 digits; the 50-digit runs take more levels).
_QUAD_NODES = {True: 130, False: 400}


def _mp_thm34_work(ctx) -> float:
    """The pseudo-random rows (a sine and N exponentials per mask and position), then per
    node the mask law and the pointwise DSE of every mask (N terms per masked position)."""
    dist = _small(ctx, 125)
    N, L, masks = dist.n_tokens, dist.length, 1 << dist.length
    rows = masks * L * N * 10
    node = masks * (2 * L + L * N * 4)
    return cost.MP_OP * (rows + _QUAD_NODES[ctx.quick] * node + masks * (L + 20))


@check(
    "mp.thm34",
    theorem="Thm 3.4",
    method="mpmath",
    tolerance=TOL_MP,
    statement="∫_0^T E ℓ_DSE dt = Σ_M A_c(M) B(Λ;m,L−m+1), any c (50 digits)",
    work=_mp_thm34_work,
)
def mp_thm34(ctx):
    """Theorem 3.4 at 50 digits under loglinear(1e-3) at T = 0.8: a fixed non-optimal denoiser
    c, its corresponding score; the left side integrates E_{p_{t|0}} ℓ_DSE (the mask law from
    the kernel, the DSE by the pointwise formula) with ``mp.quad``; the right side uses
    ``mp.betainc`` at Λ = λ(T)."""
    dist = _small(ctx, 125)
    N, L = dist.n_tokens, dist.length
    T = mpmath.mpf("0.8")
    with mpmath.workdps(30 if ctx.quick else DPS):
        for x0 in pick_sequences(dist, 1):
            rows = {M: [_pseudo_c(M, i, N) for i in range(L)] for M in range(1 << L)}

            def integrand(t):
                sbar, sigma = _loglinear(t)
                K = MpProcess.__new__(MpProcess)
                K.kind, K.N, K.S = "absorbing", N, N + 1
                law = mp_mask_law(MpProcess.kernel(K, sbar), x0, N)
                return mpmath.fsum(
                    law[M] * _dse_absorbing(x0, [i for i in range(L) if M >> i & 1], rows[M], sbar, sigma, N)
                    for M in range(1, 1 << L)
                )

            lhs = mpmath.quad(integrand, [0, mpmath.mpf("0.05"), T])
            lam_T = -mpmath.expm1(-_loglinear(T)[0])
            rhs = mpmath.fsum(
                mpmath.betainc(bin(M).count("1"), L - bin(M).count("1") + 1, 0, lam_T)
                * mpmath.fsum(-mpmath.log(rows[M][i][int(x0[i])]) for i in range(L) if M >> i & 1)
                for M in range(1, 1 << L)
            )
            yield _result(
                f"{_where(dist, ctx)}loglinear(1e-3), T=0.8, Λ={float(lam_T):.4g}; x0={label(dist, x0)}; non-optimal c",
                lhs,
                rhs,
            )


# ------------------------------------------------------------------------------ Thm 3.5
def _mp_thm35_work(ctx) -> float:
    """Every support sequence's subset table; per λ and (x0, mask, masked position) a
    pseudo-random row and two logs, and per distinct masked state the exact c* by a scan of
    the support (N sums)."""
    dist = _small(ctx, 125)
    if dist.support_size * (1 << dist.length) > _TABLE_LIMIT:
        return 0.0
    S, L, N = dist.support_size, dist.length, dist.n_tokens
    pairs = S * (1 << L) * L
    return S * cost.mp_table(S, L) + 2 * cost.MP_OP * pairs * (N * 12 + 4 + N * S / 4)


@check(
    "mp.thm35",
    theorem="Thm 3.5",
    method="mpmath",
    tolerance=TOL_MP,
    statement="E ℓ(c) − E ℓ(c*) = E_x̃ Σ_i KL(c*‖c) (50 digits)",
    work=_mp_thm35_work,
)
def mp_thm35(ctx):
    """Theorem 3.5's Gibbs gap at 50 digits: over every (x0, mask) pair of the support, the
    excess expected DCE of a fixed non-optimal c equals the p_λ-weighted KL(c*‖c) over the
    distinct masked inputs, c* from marginal sums; λ = 0.3, 0.7."""
    dist = _small(ctx, 125)
    if dist.support_size * (1 << dist.length) > _TABLE_LIMIT:
        yield Skip(dist.name, "the mpmath table of every (x0, mask) pair is too large")
        return
    N, L = dist.n_tokens, dist.length
    marg = MpMarginals(dist)
    full = (1 << L) - 1
    with mpmath.workdps(DPS):
        probs = marg.probs
        tables = [marg.table(z) for z in dist.support]
        for lam_text in ("0.3", "0.7"):
            lam = mpmath.mpf(lam_text)
            excess, kl_side = [], {}
            for z, p, P in zip(dist.support, probs, tables):
                for M in range(1, 1 << L):
                    U = full ^ M
                    w = lam ** bin(M).count("1") * (1 - lam) ** (L - bin(M).count("1"))
                    key = tuple(int(z[i]) if U >> i & 1 else N for i in range(L))
                    ckey = sum((v + 1) * 7**i for i, v in enumerate(key))
                    for i in range(L):
                        if not M >> i & 1:
                            continue
                        c = _pseudo_c(ckey, i, N)
                        star = -mpmath.log(P[U | (1 << i)] / P[U])
                        excess.append(p * w * (-mpmath.log(c[int(z[i])]) - star))
                        if (key, i) not in kl_side:
                            # KL(c*(x̃)_i ‖ c(x̃)_i) weighted by p_λ(x̃) = w P0(x̃^U).
                            cstar = [
                                mpmath.fsum(
                                    pp
                                    for zz, pp in zip(dist.support, probs)
                                    if all(zz[j] == z[j] for j in range(L) if U >> j & 1) and zz[i] == v
                                )
                                / P[U]
                                for v in range(N)
                            ]
                            kl = mpmath.fsum(cs * mpmath.log(cs / c[v]) for v, cs in enumerate(cstar) if cs)
                            kl_side[key, i] = w * P[U] * kl
            lhs, rhs = mpmath.fsum(excess), mpmath.fsum(kl_side.values())
            yield _result(f"{_where(dist, ctx)}λ={lam_text}; {dist.support_size} x0 × {full} masks", lhs, rhs)


# ------------------------------------------------------------------------------ Cor 3.6 / 3.7
def _mp_process_parts(ctx, x0_count):
    dist = _small(ctx, 125)
    with mpmath.workdps(DPS):
        proc = MpProcess(dist, "absorbing")
    marg = MpMarginals(dist)
    return dist, proc, marg, pick_sequences(dist, x0_count)


def _mp_mdce(proc, marg, x0, lam):
    """E_{p_{λ|0}} ℓ_DCE(c*) with the mask law from the mp kernel and c* from marginal sums.

    The kernel is the closed form at e^{-s} = 1 - λ written in λ (the s-parametrisation
    loses digits as λ -> 1, where tanh-sinh places its nodes)."""
    N = proc.N
    K = [[mpmath.mpf(0)] * (N + 1) for _ in range(N + 1)]
    for b in range(N):
        K[b][b], K[N][b] = 1 - lam, lam
    K[N][N] = mpmath.mpf(1)
    law = mp_mask_law(K, x0, N)
    A = _A_table(marg, marg.table(x0), proc.L)
    return mpmath.fsum(w * a for w, a in zip(law, A))


def _mp_mdce_work(dist) -> float:
    """One mdce of :func:`_mp_mdce`: the mask law, the subset table and the A table."""
    masks = 1 << dist.length
    return cost.mp_table(dist.support_size, dist.length) + cost.MP_OP * masks * dist.length * 4


def _mp_dense_work(dist) -> float:
    """One KL of the mpmath dense absorbing process (p_s, q and the sum)."""
    S = dist.n_tokens + 1
    return cost.mp_dense(float(S) ** dist.length, dist.length, S)


@check(
    "mp.cor36",
    theorem="Cor 3.6",
    method="mpmath",
    tolerance=TOL_MP,
    statement="d/dλ KL (mp.diff of the dense process) = −mdce(c*)/λ",
    work=lambda ctx: (
        min(_small(ctx, 125).support_size, 1 if ctx.quick else 2)
        * 2
        * (4 * _mp_dense_work(_small(ctx, 125)) + _mp_mdce_work(_small(ctx, 125)))
    ),
)
def mp_cor36(ctx):
    """Cor. 3.6 at 50 digits: ``mp.diff`` in λ of KL(p_{λ|0}‖p_λ) from the mpmath dense
    absorbing process, against -mdce/λ with mdce = E_{p_{λ|0}} ℓ_DCE(c*) (kernel law, c* from
    marginal sums)."""
    dist, proc, marg, seqs = _mp_process_parts(ctx, 1 if ctx.quick else 2)
    with mpmath.workdps(DPS):
        rows = []
        for x0 in seqs:
            F = lambda lam: proc.kl(*proc.at(-mpmath.log1p(-lam), x0))
            for lam_text in ("0.2", "0.6"):
                lam = mpmath.mpf(lam_text)
                rows.append((mpmath.diff(F, lam), -_mp_mdce(proc, marg, x0, lam) / lam, x0, lam_text))
        a, r, x0, lam_text = max(rows, key=lambda row: abs(row[0] - row[1]))
        yield _result(f"{_where(dist, ctx)}{len(rows)} (x0, λ) (worst x0={label(dist, x0)}, λ={lam_text})", a, r)


@check(
    "mp.cor37",
    theorem="Cor 3.7",
    method="mpmath",
    tolerance=TOL_MP,
    statement="−log p0 = ∫_0^Λ mdce/λ dλ + KL_Λ (mp.quad, process)",
    work=lambda ctx: 2 * _QUAD_NODES[ctx.quick] * _mp_mdce_work(_small(ctx, 125)) + _mp_dense_work(_small(ctx, 125)),
)
def mp_cor37(ctx):
    """Cor. 3.7 at 50 digits: ``mp.quad`` of mdce(c*)/λ over [0, Λ] plus the dense mpmath KL at
    Λ, against -log p0, at Λ = 1 and 0.6."""
    dist, proc, marg, seqs = _mp_process_parts(ctx, 1)
    x0 = seqs[0]
    with mpmath.workdps(30 if ctx.quick else DPS):
        lhs = -mpmath.log(marg.table(x0)[-1])
        for upper_text in ("1", "0.6"):
            upper = mpmath.mpf(upper_text)
            integral = mpmath.quad(lambda lam: _mp_mdce(proc, marg, x0, lam) / lam if lam > 0 else 0, [0, upper])
            end = 0 if upper == 1 else proc.kl(*proc.at(-mpmath.log1p(-upper), x0))
            yield _result(f"{_where(dist, ctx)}Λ={upper_text}; x0={label(dist, x0)}", lhs, integral + end)


# ------------------------------------------------------------------------------ Thm 4.2 / Eq. 18
def _large_ok(ctx):
    """ctx.large, or its longest prefix marginal whose mpmath marginal tables fit (the
    identities hold for every distribution, so the twin stays on the user's data)."""
    dist = ctx.large
    length = dist.length
    # The support of a prefix of length l has at most min(|support|, N^l) sequences.
    while length > 2 and (length > 12 or min(dist.support_size, dist.n_tokens**length) * (1 << length) > _TABLE_LIMIT):
        length -= 1
    dist = prefix_marginal(dist, length)
    if dist.support_size * (1 << dist.length) > _TABLE_LIMIT:
        return dist, Skip(f"L={dist.length}, |support|={dist.support_size}", "the mpmath marginal table is too large")
    return dist, None


def _large_work(ctx, per_sequence, count: int) -> float:
    """``count`` sequences on :func:`_large_ok`'s distribution, each its subset table and
    ``per_sequence(dist)`` more operations (0 where it skips)."""
    dist, skip = _large_ok(ctx)
    if skip is not None or dist.length < 2:
        return 0.0
    return min(count, dist.support_size) * (
        cost.mp_table(dist.support_size, dist.length) + cost.MP_OP * per_sequence(dist)
    )


@check(
    "mp.thm42",
    theorem="Thm 4.2",
    method="mpmath",
    tolerance=TOL_MP,
    statement="−log p0(x^I1|x^I2) = ∫ (1/λ) E_M Σ −log p0(·) dλ (mp.quad)",
    work=lambda ctx: (
        cost.marginals(ctx.large, 32)
        + _large_work(
            ctx,
            lambda d: (1 << (d.length - d.length // 2)) * (d.length * 3 + _QUAD_NODES[ctx.quick] * 4),
            1 if ctx.quick else 2,
        )
    ),
)
def mp_thm42(ctx):
    """Theorem 4.2 at 50 digits: ``mp.quad`` over λ of (1/λ) E_{M ⊆ I1 ~ Bern(λ)} Σ_{i∈M}
    -log p0(x^i | x^{(I1∖M) ∪ I2}), context = first half, against the conditional NLL from
    marginal sums."""
    dist, skip = _large_ok(ctx)
    if skip:
        yield skip
        return
    L = dist.length
    if L < 2:
        yield Skip(f"L={L}", "needs a context and a target")
        return
    ctx_bits = sum(1 << i for i in range(L // 2))
    target = [i for i in range(L // 2, L)]
    n = len(target)
    marg = MpMarginals(dist)
    # Sequences whose conditional NLL is positive (in a sparse table the context often fixes the target).
    pool = pick_sequences(dist, 16)
    vis = np.zeros(L, bool)
    vis[: L // 2] = True
    cond = -(np.log(dist.marginal(pool, np.ones(L, bool))) - np.log(dist.marginal(pool, vis)))
    chosen = pool[np.argsort(-cond, kind="stable")[: 1 if ctx.quick else 2]]
    with mpmath.workdps(30 if ctx.quick else DPS):
        for x0 in chosen:
            P = marg.table(x0)
            full_t = sum(1 << i for i in target)
            lhs = -mpmath.log(P[ctx_bits | full_t] / P[ctx_bits])
            terms = []
            for J in range(1 << n):  # J: masked target positions (local bits)
                M = sum(1 << target[j] for j in range(n) if J >> j & 1)
                U = ctx_bits | (full_t ^ M)
                terms.append((bin(J).count("1"), mpmath.fsum(marg.cond(P, U, i) for i in target if M >> i & 1)))

            def integrand(lam):
                return mpmath.fsum(lam ** (m - 1) * (1 - lam) ** (n - m) * a for m, a in terms if m > 0)

            rhs = mpmath.quad(integrand, [0, 1])
            yield _result(
                f"{dist.name}; I2={{0..{L // 2 - 1}}}, I1={{{L // 2}..{L - 1}}}; x0={label(dist, x0)}", lhs, rhs
            )


@check(
    "mp.eq18",
    theorem="Eq. 18",
    method="mpmath",
    tolerance=TOL_MP,
    statement="log p0(y) − log p0(x) = H_L E_I Σ (coupled), 50 digits",
    work=lambda ctx: _large_work(ctx, lambda d: (1 << d.length) * (d.length * 8 + 10), 2 * (1 if ctx.quick else 2)),
)
def mp_eq18(ctx):
    """Eq. 18 at 50 digits: one shared visible set I for both sequences, p(I) = B(L-|I|, |I|+1)/H_L,
    conditionals from marginal sums, against the log-ratio of the table probabilities."""
    dist, skip = _large_ok(ctx)
    if skip:
        yield skip
        return
    if dist.support_size < 2:
        yield Skip(dist.name, "a ratio needs two support sequences")
        return
    L = dist.length
    marg = MpMarginals(dist)
    seqs = pick_sequences(dist, 4 if ctx.quick else 6)
    full = (1 << L) - 1
    with mpmath.workdps(DPS):
        H = mpmath.fsum(mpmath.mpf(1) / j for j in range(1, L + 1))
        pairs = [(0, len(seqs) - 1)] + ([(1, 2)] if not ctx.quick and len(seqs) > 3 else [])
        for a_idx, b_idx in pairs:
            x, y = seqs[a_idx], seqs[b_idx]
            Px, Py = marg.table(x), marg.table(y)
            total = []
            for I in range(full):
                k = bin(I).count("1")
                pI = mpmath.beta(L - k, k + 1) / H
                total.append(
                    pI * mpmath.fsum(marg.cond(Px, I, i) - marg.cond(Py, I, i) for i in range(L) if not I >> i & 1)
                )
            rhs = H * mpmath.fsum(total)
            lhs = mpmath.log(Py[full]) - mpmath.log(Px[full])
            yield _result(f"{dist.name}; x={label(dist, x)}, y={label(dist, y)}", lhs, rhs)


@check(
    "mp.cor43",
    theorem="Cor 4.3",
    method="mpmath",
    tolerance=TOL_MP,
    statement="−log p0(x^I1|x^I2) = H_n E_J Σ (time-free, 50 digits)",
    work=lambda ctx: (
        cost.marginals(ctx.large, 32)
        + _large_work(ctx, lambda d: (1 << d.length) * (d.length * 4 + 10), 1 if ctx.quick else 2)
    ),
)
def mp_cor43(ctx):
    """Corollary 4.3 at 50 digits on the subset-table distribution: context = first third, one
    marginalised position, the rest the target; p(J) = B(n-|J|, |J|+1)/H_n over J ⊊ I1."""
    dist, skip = _large_ok(ctx)
    if skip:
        yield skip
        return
    L = dist.length
    if L < 3:
        yield Skip(f"L={L}", "needs a context, a marginalised position and a target")
        return
    n_ctx = max(1, L // 3)
    ctx_bits = sum(1 << i for i in range(n_ctx))
    target = list(range(n_ctx + 1, L))
    n = len(target)
    marg = MpMarginals(dist)
    pool = pick_sequences(dist, 16)
    vis_c = np.arange(L) < n_ctx
    vis_t = np.arange(L) > n_ctx
    cond = -(np.log(dist.marginal(pool, vis_c | vis_t)) - np.log(dist.marginal(pool, vis_c)))
    chosen = pool[np.argsort(-cond, kind="stable")[: 1 if ctx.quick else 2]]
    with mpmath.workdps(DPS):
        H = mpmath.fsum(mpmath.mpf(1) / j for j in range(1, n + 1))
        for x0 in chosen:
            P = marg.table(x0)
            full_t = sum(1 << i for i in target)
            lhs = -mpmath.log(P[ctx_bits | full_t] / P[ctx_bits])
            total = []
            for J in range((1 << n) - 1):  # J: visible target positions, J ≠ I1
                V = sum(1 << target[j] for j in range(n) if J >> j & 1)
                k = bin(J).count("1")
                total.append(
                    mpmath.beta(n - k, k + 1)
                    / H
                    * mpmath.fsum(marg.cond(P, ctx_bits | V, i) for i in target if not V >> i & 1)
                )
            rhs = H * mpmath.fsum(total)
            yield _result(
                f"{dist.name}; I2={{0..{n_ctx - 1}}}, R={{{n_ctx}}}, I1={{{n_ctx + 1}..{L - 1}}}; x0={label(dist, x0)}",
                lhs,
                rhs,
            )
