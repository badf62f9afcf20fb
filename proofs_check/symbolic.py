"""Symbolic (sympy) checks: identities that hold exactly, for symbolic parameters.

Each check builds both sides as sympy expressions and passes when their difference
simplifies to exactly 0 (tolerance 0). The ``lhs``/``rhs`` of these records are strings.
Covered (``docs/theory.md`` §9 S1–S9, A1/A2):

* Σ_{k=0}^{L-1} C(L,k) B(L-k,k+1) = H_L for symbolic L (Thm 4.1 normalisation, §4.1);
* Lemma 3.3 with symbolic σ, σ̄ and c (normalised, and unnormalised plus correction);
* Cor 3.6 as a polynomial identity in λ with a symbolic table h(U), L = 3;
* Thm 3.1 for a single token (N = 2, 3; absorbing and uniform) with symbolic p0;
* the closed-form token kernels against sympy's matrix exponential (§1.2);
* the λ-DCE second-moment integrals of §6.3 (m = 1 diverges; m ≥ 2 give B(m-1, L-m+1)),
  the truncation constant -H_{L-1} and E[1/λ | M] = (L+1)/m.

Negative control: Lemma 3.3 with σ̄ in place of σ (its difference does not vanish).

These rows do not depend on the distribution: their work (:mod:`proofs_check.cost`) is a
constant, the CPU time each takes on the reference machine at ~1e9 units per second. They
form one group, so that one worker imports sympy (the slowest import of the suite, done
when a row first runs, not when the checks are registered) and keeps its caches.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from ctmc_lab.forward.generators import NOISE_PROCESSES

from .framework import TOL_EXACT, Result, check

if TYPE_CHECKING:  # sympy itself is imported where a row runs (it is the slowest import of the suite)
    import sympy as sp

__all__: list[str] = []


def _s():
    """The noise level s, a positive sympy symbol (sympy is imported on first use, in the
    worker that runs these rows, not when the checks are registered)."""
    import sympy as sp

    return sp.Symbol("s", positive=True)


def _exact(case: str, lhs, rhs, *, simplify=None, point=None, shown=None) -> Result:
    """Compare two expressions exactly.

    The error is 0 when ``simplify(lhs - rhs)`` is identically 0. Otherwise it is the
    absolute difference at ``point`` (a substitution dict), or ``inf`` when no numeric
    value is available, so a wrong identity is reported with a size, not just a flag.
    """
    import sympy as sp

    raw = sp.sympify(lhs) - sp.sympify(rhs)
    diff = (simplify or sp.simplify)(raw)
    if diff == 0:
        error = 0.0
    else:
        try:
            error = abs(float(sp.N(raw.subs(point or {}), 30)))
        except (TypeError, ValueError):
            error = float("inf")
    return Result(case, shown if shown is not None else _short(lhs), _short(rhs), error)


def _short(expr, limit: int = 60) -> str:
    import sympy as sp

    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _beta(a: int, b: int) -> sp.Rational:
    """B(a, b) = (a-1)!(b-1)!/(a+b-1)! as an exact rational (positive integers a, b)."""
    import sympy as sp

    return sp.factorial(a - 1) * sp.factorial(b - 1) / sp.factorial(a + b - 1)


# ----------------------------------------------------------------------------- Thm 4.1 sums
@check(
    "sympy.harmonic_sum",
    theorem="Thm 4.1",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="Σ_k C(L,k)B(L−k,k+1) = H_L",
    work=1e8,
    group="sympy",
)
def harmonic_sum(ctx):
    """Σ_{k=0}^{L-1} C(L,k) B(L-k, k+1) = H_L for symbolic L (§4.1, S1) and exactly for L ≤ 40 (S2).

    Method: ``gammasimp`` reduces each term to 1/(L-k); the linear re-indexing j = L - k
    turns the sum into Σ_{j=1}^L 1/j, which sympy evaluates to ``harmonic(L)``.
    """
    import sympy as sp

    L, k, j = sp.symbols("L k j", integer=True, positive=True)
    term = sp.gammasimp((sp.binomial(L, k) * sp.beta(L - k, k + 1)).rewrite(sp.gamma))
    yield _exact("term C(L,k)B(L−k,k+1), symbolic L,k", term, 1 / (L - k))
    total = sp.Sum(term, (k, 0, L - 1)).change_index(k, L - k, j).doit()
    yield _exact(
        "Σ_{k=0}^{L−1}, symbolic L (re-indexed j=L−k)",
        total,
        sp.harmonic(L),
        shown="Sum(binomial(L,k)*beta(L-k,k+1),(k,0,L-1))",
    )
    top = 12 if ctx.quick else 40
    worst = max(
        abs(sum(sp.binomial(n, kk) * _beta(n - kk, kk + 1) for kk in range(n)) - sp.harmonic(n))
        for n in range(1, top + 1)
    )
    yield Result(f"exact rationals, L=1..{top}", "max |Σ−H_L|", "0", float(worst))


# ------------------------------------------------------------------------------ Lemma 3.3
def _lemma33_sides(rate_symbol, *, normalised: bool, n_tokens: int = 3):
    """ℓ_DSE and σ(1-λ)/λ ℓ_DCE for absorbing noise, two masked positions, symbolic c.

    The per-position DSE of §2.1: σ Σ_{i∈M} Σ_v [s_{i,v} - a_v log s_{i,v} + K(a_v)] with
    a_v = 1[v = x0^i]/(e^σ̄ - 1) and the corresponding score s = c/(e^σ̄ - 1).
    """
    import sympy as sp

    sigma, sbar = sp.symbols("sigma sigma_bar", positive=True)
    r = sp.exp(sbar) - 1
    lhs = 0
    dce = 0
    correction = 0
    targets = (0, n_tokens - 1)  # x0 at the two masked positions
    for i, x0i in enumerate(targets):
        c = list(sp.symbols(f"c{i}_0:{n_tokens}", positive=True))
        if normalised:
            c[-1] = 1 - sum(c[:-1])
        for v in range(n_tokens):
            s_v = c[v] / r
            if v == x0i:
                a = 1 / r
                lhs += s_v - a * sp.log(s_v) + a * (sp.log(a) - 1)
            else:
                lhs += s_v  # a_v = 0 and K(0) = 0
        dce += -sp.log(c[x0i])
        correction += sum(c) - 1
    rate = sigma if rate_symbol == "sigma" else sbar
    lhs = sigma * lhs
    rhs = rate / r * dce + (0 if normalised else sigma / r * correction)
    return lhs, rhs


def _logsimp(expr):
    import sympy as sp

    return sp.simplify(sp.expand(sp.expand_log(expr, force=True)))


@check(
    "sympy.lemma33",
    theorem="Lemma 3.3",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="ℓ_DSE = σ(1−λ)/λ·ℓ_DCE (corresponding s, c)",
    work=1e8,
    group="sympy",
)
def lemma33(ctx):
    """Lemma 3.3 (§3.2, S3) with symbolic σ, σ̄ and denoiser rows c, N = 3, two masked positions."""
    lhs, rhs = _lemma33_sides("sigma", normalised=True)
    yield _exact("absorbing N=3, M={0,1}, normalised symbolic c", lhs, rhs, simplify=_logsimp)
    lhs, rhs = _lemma33_sides("sigma", normalised=False)
    yield _exact("unnormalised symbolic c + σ(1−λ)/λ·Σ(Σ_v c−1)", lhs, rhs, simplify=_logsimp)


@check(
    "sympy.control.lemma33_sigma_bar",
    theorem="Lemma 3.3",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="CONTROL: σ̄ in place of σ",
    expected_to_fail=True,
    work=2e8,
    group="sympy",
)
def lemma33_sigma_bar(ctx):
    """Negative control: the factor σ̄(1-λ)/λ instead of σ(1-λ)/λ (§8 item 2) is not an identity."""
    import sympy as sp

    lhs, rhs = _lemma33_sides("sigma_bar", normalised=True)
    point = {sp.Symbol("sigma", positive=True): sp.Rational(3, 2), sp.Symbol("sigma_bar", positive=True): 1}
    point.update({sp.Symbol(f"c{i}_{v}", positive=True): sp.Rational(1, 4) for i in range(2) for v in range(3)})
    yield _exact("absorbing N=3, normalised c (error at σ=3/2, σ̄=1, c=1/4)", lhs, rhs, simplify=_logsimp, point=point)


# -------------------------------------------------------------------------------- Cor 3.6
@check(
    "algebra.sympy_cor36_closed_forms",
    theorem="Algebra",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="closed forms on symbolic h: d kl/dλ = −mdce/λ",
    work=1e8,
    group="sympy",
)
def cor36(ctx):
    """Algebra (holds for any h, so it checks the closed forms, not Cor 3.6; the process form
    is ``sympy.cor36_process``), S4: with h(U) symbolic (h(∅)=0), L = 3,

    KL(λ) = Σ_U (1-λ)^|U| λ^(L-|U|) h(U) and mdce(λ) = Σ_{M≠∅} λ^|M| (1-λ)^(L-|M|) A(M),
    A(M) = Σ_{i∈M} h(U∪{i}) - h(U), satisfy d KL/dλ + mdce/λ = 0 identically in λ.
    """
    import sympy as sp

    length = 3
    lam = sp.Symbol("lambda", positive=True)
    full = (1 << length) - 1
    h = [sp.Integer(0)] + [sp.Symbol(f"h{u}") for u in range(1, full + 1)]
    kl = sum((1 - lam) ** bin(u).count("1") * lam ** (length - bin(u).count("1")) * h[u] for u in range(full + 1))
    mdce = 0
    for mask in range(1, full + 1):
        visible = full ^ mask
        A = sum(h[visible | (1 << i)] - h[visible] for i in range(length) if mask >> i & 1)
        m = bin(mask).count("1")
        mdce += lam**m * (1 - lam) ** (length - m) * A
    yield _exact(
        "L=3, symbolic h(U) for the 7 non-empty U",
        sp.diff(kl, lam),
        -mdce / lam,
        simplify=lambda e: sp.expand(sp.cancel(e)),
    )


# -------------------------------------------------------------------------------- Thm 3.1
def _absorbing_token(n_tokens: int, size: int):
    import sympy as sp

    Q, K = sp.zeros(size, size), sp.zeros(size, size)
    for b in range(n_tokens):
        Q[n_tokens, b], Q[b, b] = 1, -1
        K[b, b], K[n_tokens, b] = sp.exp(-_s()), 1 - sp.exp(-_s())
    K[n_tokens, n_tokens] = 1
    return Q, K


def _uniform_token(n_tokens: int, size: int):
    import sympy as sp

    Q = sp.ones(size, size) / n_tokens - sp.eye(size)
    K = sp.exp(-_s()) * sp.eye(size) + (1 - sp.exp(-_s())) / n_tokens * sp.ones(size, size)
    return Q, K


#: Exact Q and closed-form exp(sQ) by noise-process name (§1.2), this module's own twins; the
#: registry supplies only the state count.
_SYMBOLIC_TWINS = {"absorbing": _absorbing_token, "uniform": _uniform_token}


def _single_token(n_tokens: int, kind: str):
    """Q, K = exp(sQ) in closed form and p_s for one token with symbolic p0."""
    import sympy as sp

    p = list(sp.symbols(f"p0:{n_tokens}", positive=True))
    p[-1] = 1 - sum(p[:-1])
    size = NOISE_PROCESSES[kind].n_states(n_tokens)
    Q, K = _SYMBOLIC_TWINS[kind](n_tokens, size)
    ps = K * sp.Matrix(p + [0] * (size - n_tokens))
    return Q, K, ps


def _log_atoms_zero(expr):
    """Exact zero test for an expression with logarithms of positive quantities.

    Every log is built as log of one probability (never of a ratio), so equal logs are
    equal atoms; each is replaced by a fresh symbol, exp(-s) by u, and the remainder is a
    rational function n/d (``together``), identically 0 exactly when its numerator n expands
    to the zero polynomial. Returns that expanded numerator (0 for an identity); no gcd of n
    and d is needed to decide it (``cancel`` took twice as long).
    """
    import sympy as sp

    atoms = sorted(expr.atoms(sp.log), key=sp.default_sort_key)
    fresh = sp.symbols(f"z0:{len(atoms)}")
    u = sp.Symbol("u", positive=True)
    out = expr.xreplace(dict(zip(atoms, fresh))).subs(sp.exp(-_s()), u).subs(sp.exp(_s()), 1 / u)
    return sp.expand(sp.numer(sp.together(out)))


def _thm31_single(n_tokens: int, kind: str, x0: int, *, wrong_orientation: bool = False):
    """dF/ds and -mdse_s for one token (§2.1–2.4); logs kept as log q(x), log p_s(x)."""
    import sympy as sp

    Q, K, ps = _single_token(n_tokens, kind)
    q = K[:, x0]
    size = Q.shape[0]
    log_q = [sp.log(v) if v != 0 else None for v in q]
    log_p = [sp.log(v) for v in ps]
    F = sum(q[x] * (log_q[x] - log_p[x]) for x in range(size) if q[x] != 0)
    mdse = 0
    for x, y in itertools.permutations(range(size), 2):
        # Q(x, y) is the rate of the jump y -> x (column convention, §8 item 1).
        rate = Q[y, x] if wrong_orientation else Q[x, y]
        if q[x] == 0 or rate == 0:
            continue
        ratio, log_ratio = ps[y] / ps[x], log_p[y] - log_p[x]
        if q[y] == 0:  # a = 0 and K(0) = 0
            mdse += q[x] * rate * ratio
            continue
        a, log_a = q[y] / q[x], log_q[y] - log_q[x]
        mdse += q[x] * rate * (ratio - a * log_ratio + a * (log_a - 1))
    return sp.diff(F, _s()), -mdse


def _symbolic_p0_point(n_tokens: int) -> dict:
    import sympy as sp

    point = {sp.Symbol(f"p{v}", positive=True): sp.Rational(1, n_tokens + v + 1) for v in range(n_tokens - 1)}
    point[_s()] = sp.Rational(7, 10)
    return point


@check(
    "sympy.thm31_single_token",
    theorem="Thm 3.1",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="dF/ds = −mdse_s (one token)",
    work=lambda ctx: 7e8 if ctx.quick else 1.5e9,
    group="sympy",
)
def thm31_single_token(ctx):
    """Thm 3.1 (§2.4) for L = 1 with symbolic p0 (N = 2, 3; absorbing and uniform Q).

    F(x0, s) = Σ_x q(x) log(q(x)/p_s(x)) with q = K[:, x0]; mdse_s = Σ_x q(x) Σ_{y≠x}
    Q(x,y)[s* - a log s* + K(a)], a = q(y)/q(x), s* = p_s(y)/p_s(x) (§2.1–2.3). The
    residual dF/ds + mdse_s is a rational function of (p0, e^{-s}, the logs), and is 0.
    """
    for n_tokens, kind in [(2, "absorbing"), (2, "uniform"), (3, "absorbing"), (3, "uniform")]:
        # Quick mode: one start for N = 3 (the symbolic p0 makes the others relabellings,
        # up to which token carries 1 - Σ others).
        for x0 in range(1 if ctx.quick and n_tokens == 3 else n_tokens):
            lhs, rhs = _thm31_single(n_tokens, kind, x0)
            yield _exact(
                f"{kind}; N={n_tokens}; x0={x0}; symbolic p0 and s",
                lhs,
                rhs,
                simplify=_log_atoms_zero,
                point=_symbolic_p0_point(n_tokens),
            )


@check(
    "sympy.control.dse_orientation",
    theorem="Thm 3.1",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="CONTROL: DSE weight Q(y,x) not Q(x,y)",
    expected_to_fail=True,
    work=1e8,
    group="sympy",
)
def dse_orientation(ctx):
    """Negative control (§8 item 1): with the weight Q(y, x), Thm 3.1 fails for absorbing Q.

    (For the symmetric uniform Q the orientation does not matter, so it is not a control.)
    """
    lhs, rhs = _thm31_single(3, "absorbing", 0, wrong_orientation=True)
    yield _exact(
        "absorbing; N=3; x0=0; symbolic p0 (error at p=(1/4,1/5), s=7/10)",
        lhs,
        rhs,
        simplify=_log_atoms_zero,
        point=_symbolic_p0_point(3),
    )


# -------------------------------------------------------------------------------- kernels
@check(
    "sympy.kernels",
    theorem="Kernels (§1.2)",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="closed-form exp(sQ) = sympy Matrix.exp",
    work=1e8,
    group="sympy",
)
def kernels(ctx):
    """exp(sQ) of absorbing and uniform Q (§1.2, A1/A2) equals sympy's exact matrix exponential."""
    import sympy as sp

    for n_tokens in (2, 3, 4):
        for kind in _SYMBOLIC_TWINS:
            Q, K, _ = _single_token(n_tokens, kind)
            E = (_s() * Q).exp()
            diff = sp.simplify(E - K)
            error = 0.0 if diff == sp.zeros(*diff.shape) else float("inf")
            yield Result(f"{kind}, N={n_tokens}, symbolic s", "Matrix.exp(sQ)", "closed form", error)


# ----------------------------------------------------------------------- λ-DCE moments
@check(
    "sympy.lambda_dce_moments",
    theorem="λ-DCE moments (§6.3)",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="∫λ^{m−2}(1−λ)^{L−m}: m=1 ∞, m≥2 B(m−1,L−m+1)",
    work=lambda ctx: 3e8 if ctx.quick else 1e9,
    group="sympy",
)
def lambda_dce_moments(ctx):
    """Second moment of the λ-DCE estimator g = A(M)/λ (§6.3, S6–S9).

    * m = 1: ∫_0^1 λ^{-1} (1-λ)^{L-1} dλ = +∞ (S6);
    * m ≥ 2: ∫_0^1 λ^{m-2} (1-λ)^{L-m} dλ = B(m-1, L-m+1) (S7);
    * truncation: lim_{δ→0} [∫_δ^1 λ^{-1}(1-λ)^{L-1} dλ - log(1/δ)] = -H_{L-1} (S8);
    * E[1/λ | M] = B(m, L-m+1)/B(m+1, L-m+1) = (L+1)/m for symbolic m, L (S9).
    """
    import sympy as sp

    lam, delta = sp.symbols("lambda delta", positive=True)
    top = 4 if ctx.quick else 8
    for L in range(2, top + 1):
        value = sp.integrate(lam**-1 * (1 - lam) ** (L - 1), (lam, 0, 1))
        yield Result(f"m=1, L={L}", _short(value), "oo", 0.0 if value == sp.oo else float("inf"))
    worst = 0
    for L in range(2, top + 1):
        for m in range(2, L + 1):
            value = sp.integrate(lam ** (m - 2) * (1 - lam) ** (L - m), (lam, 0, 1))
            worst = max(worst, abs(value - _beta(m - 1, L - m + 1)))
    yield Result(f"m=2..L, L=2..{top} (exact)", "max |∫ − B(m−1,L−m+1)|", "0", float(worst))
    for L in range(2, top + 1):
        trunc = sp.integrate(sp.expand(lam**-1 * (1 - lam) ** (L - 1)), (lam, delta, 1))
        limit = sp.limit(trunc - sp.log(1 / delta), delta, 0, "+")
        yield _exact(f"truncation constant, L={L}", limit, -sp.harmonic(L - 1))
    m, L = sp.symbols("m L", integer=True, positive=True)
    ratio = (sp.beta(m, L - m + 1) / sp.beta(m + 1, L - m + 1)).rewrite(sp.gamma)
    yield _exact("E[1/λ|M], symbolic m, L", ratio, (L + 1) / m, simplify=sp.gammasimp)


# -------------------------------------------------------------------------------- Thm 3.2
@check(
    "sympy.thm32_single_token",
    theorem="Thm 3.2",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="−log p0 = ∫_0^∞ mdse_s ds (one token, symbolic p0)",
    work=lambda ctx: 2e8 if ctx.quick else 4e8,
    group="sympy",
)
def thm32_single_token(ctx):
    """Thm 3.2 at T = ∞ for one token under absorbing noise (N = 2, 3) with symbolic p0:
    mdse_s is built from its definition (§2.1, the same expression as the Thm 3.1 row),
    simplified, and integrated by sympy over s ∈ (0, ∞); the result must be -log p0(x0).
    (Uniform noise gives logs of sums in e^s that sympy does not integrate in closed form.)"""
    import sympy as sp

    for n_tokens in (2,) if ctx.quick else (2, 3):
        for x0 in range(n_tokens):
            _, minus_mdse = _thm31_single(n_tokens, "absorbing", x0)
            mdse = sp.simplify(sp.expand(sp.expand_log(-minus_mdse, force=True)))
            integral = sp.integrate(mdse, (_s(), 0, sp.oo))
            p = list(sp.symbols(f"p0:{n_tokens}", positive=True))
            p[-1] = 1 - sum(p[:-1])
            yield _exact(
                f"absorbing; N={n_tokens}; x0={x0}; symbolic p0; ∫ by sympy",
                integral,
                -sp.log(p[x0]),
                simplify=lambda e: sp.simplify(sp.expand_log(e, force=True)),
                point={k: v for k, v in _symbolic_p0_point(n_tokens).items() if k != _s()},
            )


# -------------------------------------------------------------------------------- Thm 3.4
@check(
    "sympy.thm34_single_token",
    theorem="Thm 3.4",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="∫_0^T E ℓ_DSE dt = L^Λ_DCE(c), one token, symbolic c, T",
    work=2e8,
    group="sympy",
)
def thm34_single_token(ctx):
    """Thm 3.4 for one token under absorbing noise at unit rate, finite symbolic T, with a
    symbolic denoiser row c (normalised, and unnormalised with Lemma 3.3's correction): the
    left side integrates E_{p_{t|0}} ℓ_DSE(x0, x, s_t) with s_t = c/(e^t - 1) (the DSE from
    its definition, §2.1) over t ∈ (0, T); the right side is B(Λ; 1, 1)·ℓ_DCE = Λ(-log c_{x0})
    with Λ = 1 - e^{-T}."""
    import sympy as sp

    t, T = sp.symbols("t T", positive=True)
    n_tokens = 3
    for normalised in (True, False):
        c = list(sp.symbols(f"c0:{n_tokens}", positive=True))
        if normalised:
            c[-1] = 1 - sum(c[:-1])
        r = sp.exp(t) - 1
        # States: x0 (prob e^{-t}, no masked position: ℓ_DSE = 0) and the mask (prob 1 - e^{-t}).
        inner = 0
        for v in range(n_tokens):
            s_v = c[v] / r
            if v == 0:
                a = 1 / r
                inner += s_v - a * sp.log(s_v) + a * (sp.log(a) - 1)
            else:
                inner += s_v
        integrand = sp.simplify(sp.expand(sp.expand_log((1 - sp.exp(-t)) * inner, force=True)))
        lhs = sp.integrate(integrand, (t, 0, T))
        lam = 1 - sp.exp(-T)
        rhs = lam * (-sp.log(c[0]) + (0 if normalised else sum(c) - 1))
        yield _exact(
            f"absorbing; N={n_tokens}; x0=0; {'normalised' if normalised else 'unnormalised + correction'} "
            f"symbolic c; symbolic T",
            lhs,
            rhs,
            simplify=lambda e: sp.simplify(sp.expand(sp.expand_log(e, force=True))),
        )


# ------------------------------------------------------------------------- Thm 4.1 / Cor 4.3
def _symbolic_joint(length: int):
    """Symbolic probabilities p_z over {0,1}^L (the last one 1 - Σ others) and P(x0^U) sums."""
    import sympy as sp

    seqs = list(itertools.product(range(2), repeat=length))
    p = list(sp.symbols(f"q0:{len(seqs)}", positive=True))
    p[-1] = 1 - sum(p[:-1])
    return seqs, dict(zip(seqs, p))


def _marginal(seqs, probs, x0, visible):
    return sum(probs[z] for z in seqs if all(z[i] == x0[i] for i in visible))


def _neg_log_cond(seqs, probs, x0, i, visible):
    """-log p0(x0^i | x0^visible), as log(P(visible)) - log(P(visible ∪ {i})) (logs of sums)."""
    import sympy as sp

    den = _marginal(seqs, probs, x0, visible)
    num = _marginal(seqs, probs, x0, visible | {i})
    return (sp.log(den) if den != 1 else 0) - sp.log(num)


def _log_sums_zero(expr):
    """Exact zero test: each log of a sum of probabilities is an atom (a fresh symbol); the
    rest is a rational function, identically 0 exactly when the numerator of its ``together``
    form expands to the zero polynomial (returned)."""
    import sympy as sp

    atoms = sorted(expr.atoms(sp.log), key=sp.default_sort_key)
    fresh = sp.symbols(f"z0:{len(atoms)}")
    return sp.expand(sp.numer(sp.together(sp.expand(expr.xreplace(dict(zip(atoms, fresh)))))))


def _time_free_side(seqs, probs, x0, target, context):
    import sympy as sp

    n = len(target)
    H = sp.harmonic(n)
    total = 0
    for k in range(n):
        for J in itertools.combinations(target, k):
            pJ = _beta(n - k, k + 1) / H
            visible = set(J) | set(context)
            total += pJ * sum(_neg_log_cond(seqs, probs, x0, i, visible) for i in target if i not in J)
    return H * total


@check(
    "sympy.thm41_symbolic_joint",
    theorem="Thm 4.1",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="−log p0 = H_L E_{p(I)} Σ −log p0(x^i|x^I), symbolic p0",
    work=1e8,
    group="sympy",
)
def thm41_symbolic_joint(ctx):
    """Thm 4.1 with every probability symbolic: binary sequences of length L = 2, 3, the
    conditionals as ratios of symbolic marginal sums, p(I) = B(L-|I|, |I|+1)/H_L exactly; the
    difference of the two sides, with each log of a sum as an atom, cancels to 0."""
    import sympy as sp

    for length in (2,) if ctx.quick else (2, 3):
        seqs, probs = _symbolic_joint(length)
        x0 = seqs[0]
        rhs = _time_free_side(seqs, probs, x0, list(range(length)), [])
        lhs = -sp.log(probs[x0])
        yield _exact(
            f"N=2, L={length}; {2**length - 1} free probabilities; x0={''.join(map(str, x0))}",
            lhs,
            rhs,
            simplify=_log_sums_zero,
            shown="-log(q0)",
        )


@check(
    "sympy.cor43_symbolic_joint",
    theorem="Cor 4.3",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="−log p0(x^I1|x^I2) = H_n E_J Σ …, symbolic p0",
    work=1e8,
    group="sympy",
)
def cor43_symbolic_joint(ctx):
    """Cor 4.3 with symbolic probabilities: binary L = 3 with I2 = {0}, I1 = {1, 2}, and L = 4
    with I2 = {0}, R = {1} marginalised, I1 = {2, 3}; conditionals as ratios of symbolic sums
    (R never visible), H_n and p(J) of the target length n = |I1|."""
    import sympy as sp

    cases = [(3, [0], [1, 2])] + ([] if ctx.quick else [(4, [0], [2, 3])])
    for length, context, target in cases:
        seqs, probs = _symbolic_joint(length)
        x0 = seqs[0]
        rhs = _time_free_side(seqs, probs, x0, target, context)
        lhs = sp.log(_marginal(seqs, probs, x0, set(context))) - sp.log(
            _marginal(seqs, probs, x0, set(context) | set(target))
        )
        rest = sorted(set(range(length)) - set(context) - set(target))
        yield _exact(
            f"N=2, L={length}; I2={set(context)}, I1={set(target)}, R={set(rest) or '∅'}",
            lhs,
            rhs,
            simplify=_log_sums_zero,
        )


@check(
    "sympy.cor36_process",
    theorem="Cor 3.6",
    method="sympy",
    tolerance=TOL_EXACT,
    statement="d/dλ KL(p_λ|0‖p_λ) = −mdce(c*)/λ, symbolic p0 (process)",
    work=1e8,
    group="sympy",
)
def cor36_process(ctx):
    """Cor 3.6 from the process with symbolic probabilities: binary L = 2, absorbing kernel
    K = [[1-λ, 0, 0], [0, 1-λ, 0], [λ, λ, 1]] (written in λ = 1 - e^{-s}); p_λ = K^{⊗2} p0 and
    q = K^{⊗2} δ_{x0} as kernel sums, KL = Σ q log(q/p_λ) differentiated by sympy; mdce =
    Σ_M P(M|x0) Σ_{i∈M} -log c*(x̃)_{i,x0^i}, P(M|x0) from the kernel entries, c* as ratios of
    symbolic marginal sums."""
    import sympy as sp

    lam = sp.Symbol("lambda", positive=True)
    length, n = 2, 2
    seqs, probs = _symbolic_joint(length)
    K = sp.Matrix([[1 - lam, 0, 0], [0, 1 - lam, 0], [lam, lam, 1]])
    states = list(itertools.product(range(n + 1), repeat=length))
    x0 = seqs[0]

    def kernel_sum(x, weights):
        return sum(w * sp.Mul(*[K[x[i], z[i]] for i in range(length)]) for z, w in weights.items())

    p_lam = {x: sp.factor(kernel_sum(x, probs)) for x in states}
    q = {x: sp.factor(kernel_sum(x, {x0: 1})) for x in states}
    kl = sum(
        q[x] * (sp.expand_log(sp.log(q[x]), force=True) - sp.expand_log(sp.log(p_lam[x]), force=True))
        for x in states
        if q[x] != 0
    )
    mdce = 0
    for M in range(1, 1 << length):
        masked = [i for i in range(length) if M >> i & 1]
        weight = sp.Mul(*[K[n, x0[i]] if i in masked else K[x0[i], x0[i]] for i in range(length)])
        visible = {i for i in range(length) if i not in masked}
        mdce += weight * sum(_neg_log_cond(seqs, probs, x0, i, visible) for i in masked)
    yield _exact(
        "absorbing; N=2, L=2; 3 free probabilities; symbolic λ",
        sp.diff(kl, lam),
        -mdce / lam,
        simplify=_log_sums_zero,
        shown="d/dλ Σ q log(q/p_λ)",
    )
