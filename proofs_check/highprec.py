"""mpmath twins at 50 digits: Theorem 3.1, Theorem 3.2 and Theorem 4.1 (``docs/theory.md`` §9 MP1–MP3).

These are small, independent re-implementations in ``mpmath`` arithmetic, sharing no code
with the float64 path of :mod:`ctmc_lab` (only the input probabilities, converted exactly
from their binary floats and renormalised at 50 digits):

* a dense forward process on ``S^L`` (closed-form token kernels, applied axis by axis);
* F(x0, s) = KL(p_{s|0}‖p_s) differentiated as a function (``mpmath.diff`` and a central
  difference with h = 1e-20); mdse_s summed neighbour by neighbour (§2.1);
* Theorem 3.2 by ``mp.quad`` (tanh-sinh) over λ = 1 - e^{-s} ∈ [0, 1], where ds = dλ/(1-λ);
* Theorem 4.1 from an mpmath subset table and ``mp.beta`` weights.

Target residual: ≤ 1e-25 (§10).
"""

from __future__ import annotations

import itertools

import mpmath

from ctmc_lab.forward.generators import NOISE_PROCESSES

from . import cost
from ._util import label, pick_sequences, prefix_marginal
from .framework import TOL_MP, Result, Skip, check
from .twins import no_twin_reason

__all__ = ["MpProcess", "mp_probs", "mp_time_free"]

DPS = 50
#: Largest noisy state space S^L of the dense twins (Thm 3.1) and of the quadrature twin (Thm 3.2).
MP_DENSE_LIMIT = 1024
MP_QUAD_LIMIT = 128


def mp_probs(dist):
    """p0 over its support as mpf, renormalised at the working precision."""
    probs = [mpmath.mpf(float(p)) for p in dist.probs]
    total = mpmath.fsum(probs)
    return [p / total for p in probs]


def _absorbing_rates(N, S):
    one = mpmath.mpf(1)
    Q = [[mpmath.mpf(0)] * S for _ in range(S)]
    for b in range(N):
        Q[N][b], Q[b][b] = one, -one
    return Q


def _absorbing_kernel(N, S, s):
    decay, jump = mpmath.exp(-s), -mpmath.expm1(-s)
    K = [[mpmath.mpf(0)] * S for _ in range(S)]
    for b in range(N):
        K[b][b], K[N][b] = decay, jump
    K[N][N] = mpmath.mpf(1)
    return K


def _uniform_rates(N, S):
    one = mpmath.mpf(1)
    return [[one / N - (one if a == b else 0) for b in range(S)] for a in range(S)]


def _uniform_kernel(N, S, s):
    decay, jump = mpmath.exp(-s), -mpmath.expm1(-s)
    return [[(decay if a == b else 0) + jump / N for b in range(S)] for a in range(S)]


#: The 50-digit twins by noise-process name: (rates(N, S), kernel(N, S, s)), §1.2. A process
#: registered in ctmc_lab without an entry here has no mpmath twin: its rows are n/a skips.
_MP_TWINS = {
    "absorbing": (_absorbing_rates, _absorbing_kernel),
    "uniform": (_uniform_rates, _uniform_kernel),
}


class MpProcess:
    """The forward process of a noise process with an mpmath twin (absorbing, uniform) on ``S^L``.

    States are row-major flat indices (position 0 most significant), as in ``ctmc_lab``.
    """

    def __init__(self, dist, kind: str):
        self.kind = kind
        self.N = dist.n_tokens
        # Only the state count is read from the registry; the rates and kernels below are
        # this module's own 50-digit closed forms (the twin shares no arithmetic with float64).
        self.S = NOISE_PROCESSES[kind].n_states(self.N)
        self.L = dist.length
        self.Q = self._generator()
        self.strides = [self.S ** (self.L - 1 - i) for i in range(self.L)]
        self.states = list(itertools.product(range(self.S), repeat=self.L))
        p0 = mp_probs(dist)
        # p0 as a dense vector over S^L (clean states only carry mass).
        self.p0 = [mpmath.mpf(0)] * (self.S**self.L)
        for z, p in zip(dist.support, p0):
            self.p0[self.index(z)] = p

    def _generator(self):
        return _MP_TWINS[self.kind][0](self.N, self.S)

    def index(self, x) -> int:
        return sum(int(v) * st for v, st in zip(x, self.strides))

    def kernel(self, s):
        """exp(sQ) in closed form (§1.2), with expm1 for 1 - e^{-s}."""
        return _MP_TWINS[self.kind][1](self.N, self.S, s)

    def apply_axes(self, vec, M):
        """(⊗_i M) vec: M applied along every axis of the flat tensor.

        Each entry is mpmath.fsum of the products M[x^i][b] vec(x^{i←b}), rounded to the
        working precision, as ``mpmath.fsum(m * v ...)`` forms them; the arithmetic runs on
        the raw mpf tuples (``_raw_ops``). A zero term adds nothing to the exact sum
        fsum forms (it skips zeros), so only the nonzero entries of M and vec are visited.
        """
        mul, _, _, _, total, zero = _raw_ops()
        rows = [[(b, m._mpf_) for b, m in enumerate(M[a]) if m] for a in range(self.S)]
        raw = [v._mpf_ for v in vec]
        for i, st in enumerate(self.strides):
            out = []
            for idx, x in enumerate(self.states):
                base = idx - x[i] * st
                terms = []
                for b, m in rows[x[i]]:
                    v = raw[base + b * st]
                    if v != zero:
                        terms.append(mul(m, v))
                out.append(total(terms))
            raw = out
        return [mpmath.mp.make_mpf(v) for v in raw]

    def generator_apply(self, vec):
        """(Q^(L) vec)(x) = Σ_i Σ_b Q[x^i, b] vec(x^{i←b}) (Kronecker sum, §1.4)."""
        out = []
        for idx, x in enumerate(self.states):
            acc = []
            for i, st in enumerate(self.strides):
                base = idx - x[i] * st
                acc += [self.Q[x[i]][b] * vec[base + b * st] for b in range(self.S) if self.Q[x[i]][b]]
            out.append(mpmath.fsum(acc))
        return out

    def at(self, s, x0):
        """(q, p_s): q = p_{s|0}(·|x0) and the marginal p_s, as flat lists."""
        K = self.kernel(s)
        self.kernel_cache = K
        p = self.apply_axes(self.p0, K)
        cols = [[K[a][int(c)] for a in range(self.S)] for c in x0]
        zero = mpmath.mpf(0)
        # A product with a zero factor is exactly 0 (mpmath has no signed zero): fprod only
        # where every factor is nonzero.
        q = [mpmath.fprod(f) if all(f) else zero for f in ([col[a] for col, a in zip(cols, x)] for x in self.states)]
        return q, p

    def kl(self, q, p):
        return mpmath.fsum(qx * mpmath.log(qx / px) for qx, px in zip(q, p) if qx)

    def kl_rate(self, q, p):
        """Exact dF/ds = Σ (Q^(L) q) log(q/p) - Σ q (Q^(L) p)/p (uses dK/ds = QK)."""
        dq, dp = self.generator_apply(q), self.generator_apply(p)
        return mpmath.fsum(dq[k] * mpmath.log(q[k] / p[k]) - q[k] * dp[k] / p[k] for k in range(len(q)) if q[k])

    def mdse(self, q, p, x0):
        """mdse_s = Σ_x q(x) Σ_{y~x} Q(x,y)[s* - a log s* + a(log a - 1)], s* = p(y)/p(x),
        a = q(y)/q(x), y = x^{i←b}; Q(x, y) = Q[x^i, b] is the rate b -> x^i (§2.1).

        Since q is a product over positions, a = K[b, x0^i]/K[x^i, x0^i] depends only on
        (i, x^i, b): its log and a(log a - 1) are tabulated once per call.
        """
        K = self.kernel_cache
        # log p(y) is read only where q(y) > 0 (a log term needs α > 0), so only there.
        log_p = [mpmath.log(v)._mpf_ if v and qv else None for v, qv in zip(p, q)]
        # tables[i][a] lists (b, w, -w α, w α (log α - 1)) for the rates b -> a, b ascending
        # (-w α is None where α = 0, which drops the log term).
        tables = []
        for i in range(self.L):
            col = [K[a][int(x0[i])] for a in range(self.S)]
            tab = {}
            for a_, b in itertools.product(range(self.S), repeat=2):
                w = self.Q[a_][b] if b != a_ else 0
                if not w or not col[a_]:
                    continue
                if col[b]:
                    alpha = col[b] / col[a_]
                    row = (b, w._mpf_, (-w * alpha)._mpf_, (w * alpha * (mpmath.log(alpha) - 1))._mpf_)
                else:
                    row = (b, w._mpf_, None, _FZERO)
                tab.setdefault(a_, []).append(row)
            tables.append(tab)
        # The sum of the definition, term for term and in its order, as mpmath's operators
        # would round them (w p(y)/p(x) + k, then -w α (log p(y) - log p(x))), on raw tuples.
        mul, div, add, sub, total, zero = _raw_ops()
        raw_p = [v._mpf_ for v in p]
        out = []
        for idx, x in enumerate(self.states):
            if not q[idx]:
                continue
            p_x, log_x = raw_p[idx], log_p[idx]
            inner = []
            for i, st in enumerate(self.strides):
                base = idx - x[i] * st
                for b, w, nwa, k_term in tables[i].get(x[i], ()):
                    y = base + b * st
                    inner.append(add(div(mul(w, raw_p[y]), p_x), k_term))
                    if nwa is not None:
                        inner.append(mul(nwa, sub(log_p[y], log_x)))
            out.append(mul(q[idx]._mpf_, total(inner)))
        return mpmath.mp.make_mpf(total(out))


#: The raw zero of mpmath (``mpmath.mpf(0)._mpf_``).
_FZERO = mpmath.mpf(0)._mpf_


def _raw_ops():
    """(mul, div, add, sub, fsum, zero) on raw mpf tuples at the working precision and rounding:
    the functions mpmath's operators and ``mpmath.fsum`` call, without building an mpf per
    intermediate value, so every result is the one the operators give."""
    from mpmath.libmp import mpf_add, mpf_div, mpf_mul, mpf_sub, mpf_sum

    prec, rnd = mpmath.mp._prec_rounding
    return (
        lambda a, b: mpf_mul(a, b, prec, rnd),
        lambda a, b: mpf_div(a, b, prec, rnd),
        lambda a, b: mpf_add(a, b, prec, rnd),
        lambda a, b: mpf_sub(a, b, prec, rnd),
        lambda xs: mpf_sum(xs, prec, rnd),
        _FZERO,
    )


def _where(dist, ctx) -> str:
    """Names the distribution in the case when the twin runs on a prefix marginal."""
    return f"{dist.name}; " if dist is not ctx.small else ""


def _mp_result(case, lhs, rhs) -> Result:
    return Result(case, float(lhs), float(rhs), float(abs(lhs - rhs)))


def _kinds(ctx, limit, count=None):
    """(kind, distribution, skip) for every registered noise process, in registry order.

    A process with an mpmath twin (the first ``count`` of them, all by default) runs on the
    distribution under test, or, when its S^L exceeds ``limit``, on the marginal of its longest
    prefix that fits (the identities hold for every distribution, and the twin stays on the
    user's data); one without a twin is an n/a skip; one not defined on N symbols is left out.
    """
    dist = ctx.small
    twinned = 0
    for kind, process in NOISE_PROCESSES.items():
        if dist.n_tokens < process.min_tokens:
            continue
        if kind not in _MP_TWINS:
            yield kind, None, Skip(kind, no_twin_reason("50-digit rates and closed-form kernel"))
            continue
        twinned += 1
        if count is not None and twinned > count:
            continue
        S = process.n_states(dist.n_tokens)
        length = dist.length
        while length > 0 and S**length > limit:
            length -= 1
        if length == 0:
            yield (
                kind,
                None,
                Skip(f"{kind}; {S} states per token", f"the mpmath twin enumerates at most {limit} states"),
            )
        else:
            yield kind, prefix_marginal(dist, length), None


def _mp_process_work(ctx, limit: int, per_kind, kinds: int | None = None) -> float:
    """Σ over the kinds with an mpmath twin (the first ``kinds``) of ``per_kind(states, length, S)``,
    on the prefix marginal each runs on (S^L ≤ ``limit``), plus building the twin (its state
    list and p0)."""
    total = 0.0
    for kind, dist, skip in _kinds(ctx, limit, kinds):
        if skip is None:
            S = NOISE_PROCESSES[kind].n_states(dist.n_tokens)
            states = float(S) ** dist.length
            total += cost.MP_OP * states * (dist.length + 1) + per_kind(states, dist.length, S)
    return total


@check(
    "mp.thm31",
    theorem="Thm 3.1",
    method="mpmath",
    tolerance=TOL_MP,
    statement="dF/ds = −mdse_s (50 digits)",
    # Per (x0, s): F at 5 points (mpmath.diff takes 2, the central difference 2, and q, p once)
    # and one mdse.
    work=lambda ctx: _mp_process_work(
        ctx,
        MP_DENSE_LIMIT,
        lambda states, L, S: (1 if ctx.quick else 2) * (2 if ctx.quick else 3) * 6 * cost.mp_dense(states, L, S),
    ),
)
def mp_thm31(ctx):
    """Theorem 3.1 at 50 digits (MP1): dF/ds of F(s) = KL(p_{s|0}‖p_s) as a function, by
    ``mpmath.diff`` (never the proof's formula, which equals -mdse for any p) and by a
    central difference with h = 1e-20
    (truncation ~h² F''' ≈ 1e-28 at s = 1e-6) against -mdse_s, absorbing and uniform noise."""
    levels = ("1e-6", "0.5", "3") if not ctx.quick else ("1e-3", "1")
    with mpmath.workdps(DPS):
        for kind, dist, skip in _kinds(ctx, MP_DENSE_LIMIT):
            if skip:
                yield skip
                continue
            seqs = pick_sequences(dist, 1 if ctx.quick else 2)
            proc = MpProcess(dist, kind)
            exact_rows, fd_rows = [], []
            for x0 in seqs:
                for s_text in levels:
                    s = mpmath.mpf(s_text)
                    q, p = proc.at(s, x0)
                    rhs = -proc.mdse(q, p, x0)
                    F = lambda u: proc.kl(*proc.at(u, x0))  # F(s) = KL(p_{s|0}‖p_s) as a function
                    exact_rows.append((mpmath.diff(F, s), rhs, x0, s_text))
                    # h = 1e-20 min(1, sqrt(s)): the truncation h^2 F(3) (F(3) ~ F'/s^2 near s = 0
                    # under uniform noise) and the rounding 1e-50 |F|/h both stay below ~1e-27.
                    h = mpmath.mpf("1e-20") * mpmath.sqrt(min(s, 1))
                    fd = (F(s + h) - F(s - h)) / (2 * h)
                    fd_rows.append((fd, rhs, x0, s_text))
            for what, rows in (("mpmath.diff of F", exact_rows), ("central FD h=1e-20·√s", fd_rows)):
                # Relative residual: |dF/ds| grows without bound as s -> 0 under uniform noise (§10).
                a, r, x0, s_text = max(rows, key=lambda row: abs(row[0] - row[1]) / max(1, abs(row[1])))
                yield Result(
                    f"{_where(dist, ctx)}{kind}; {what}; {len(rows)} (x0, s) "
                    f"(worst x0={label(dist, x0)}, s={s_text}); rel.",
                    float(a),
                    float(r),
                    float(abs(a - r) / max(1, abs(r))),
                )


#: Integrand evaluations of the tanh-sinh quadrature of mp.thm32 (measured 125 at 30 digits;
#: the 50-digit run takes more levels), each one p_s, q and mdse over the dense states.
_MP_QUAD_NODES = {True: 130, False: 400}


def _mp_thm32_work(ctx) -> float:
    return _mp_process_work(
        ctx,
        MP_QUAD_LIMIT,
        lambda states, L, S: _MP_QUAD_NODES[ctx.quick] * 2 * cost.mp_dense(states, L, S),
        kinds=1 if ctx.quick else 2,
    )


@check(
    "mp.thm32",
    theorem="Thm 3.2",
    method="mpmath",
    tolerance=TOL_MP,
    statement="−log p0 = ∫_0^∞ mdse_s ds (mp.quad, 50 digits)",
    work=_mp_thm32_work,
)
def mp_thm32(ctx):
    """Theorem 3.2 at 50 digits (MP2): tanh-sinh quadrature of mdse_s(s(λ))/(1-λ) over
    λ ∈ [0, 1] (s = -log(1-λ)); the uniform log(1/s) singularity sits at the endpoint λ = 0,
    which tanh-sinh handles."""
    # Quick mode (CI): 30 digits, which still resolves the 1e-25 target, and absorbing only.
    dps = 30 if ctx.quick else DPS
    kinds = list(_kinds(ctx, MP_QUAD_LIMIT, 1 if ctx.quick else 2))
    with mpmath.workdps(dps):
        for kind, dist, skip in kinds:
            if skip:
                yield skip
                continue
            x0 = pick_sequences(dist, 1)[0]
            proc = MpProcess(dist, kind)

            def integrand(lam):
                if lam <= 0 or lam >= 1:
                    return mpmath.mpf(0)
                s = -mpmath.log1p(-lam)
                q, p = proc.at(s, x0)
                return proc.mdse(q, p, x0) / (1 - lam)

            rhs = mpmath.quad(integrand, [0, 1])
            lhs = -mpmath.log(proc.p0[proc.index(x0)])
            yield _mp_result(
                f"{_where(dist, ctx)}{kind}; x0={label(dist, x0)}; T=∞; tanh-sinh over λ; {dps} digits", lhs, rhs
            )


def mp_time_free(dist, x0):
    """(-log p0(x0), H_L Σ_I p(I) Σ_{i∉I} -log p0(x0^i|x0^I)) in mpmath (Theorem 4.1)."""
    L = dist.length
    probs = mp_probs(dist)
    bits = [1 << i for i in range(L)]
    agree = [sum(b for b, zi, xi in zip(bits, z, x0) if zi == xi) for z in dist.support]
    full = (1 << L) - 1
    P = [mpmath.fsum(p for a, p in zip(agree, probs) if a & U == U) for U in range(full + 1)]
    h = [-mpmath.log(v) if v else mpmath.inf for v in P]
    HL = mpmath.fsum(mpmath.mpf(1) / j for j in range(1, L + 1))
    total = []
    for U in range(full):  # I = U ⊊ [L], including the fully masked I = ∅
        k = bin(U).count("1")
        pI = mpmath.beta(L - k, k + 1) / HL
        A = mpmath.fsum(h[U | b] - h[U] for b in bits if not U & b)
        total.append(pI * A)
    return h[full], HL * mpmath.fsum(total)


def _mp_thm41_work(ctx) -> float:
    """Per sequence: the mpmath subset table (2^L sums over the support), 2^L logs and the
    2^L·L conditional differences with their Beta weights."""
    dist = ctx.large
    if dist.length > 12 or (1 << dist.length) * dist.support_size > 5e6:
        return 0.0
    one = cost.mp_table(dist.support_size, dist.length) + cost.MP_OP * (1 << dist.length) * (dist.length + 10)
    return min(dist.support_size, 2 if ctx.quick else 3) * one


@check(
    "mp.thm41",
    theorem="Thm 4.1",
    method="mpmath",
    tolerance=TOL_MP,
    statement="−log p0 = H_L E_{p(I)} Σ_{i∉I} −log p0(x^i|x^I) (50 digits)",
    work=_mp_thm41_work,
)
def mp_thm41(ctx):
    """Theorem 4.1 at 50 digits (MP3) from an mpmath subset table P0(x0^U) and mp.beta weights."""
    dist = ctx.large
    if dist.length > 12 or (1 << dist.length) * dist.support_size > 5e6:
        yield Skip(f"L={dist.length}, |support|={dist.support_size}", "the mpmath subset table is too large")
        return
    with mpmath.workdps(DPS):
        for x0 in pick_sequences(dist, 2 if ctx.quick else 3):
            lhs, rhs = mp_time_free(dist, x0)
            yield _mp_result(f"{dist.name}; x0={label(dist, x0)}", lhs, rhs)
