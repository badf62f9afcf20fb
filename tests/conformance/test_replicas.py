"""Every registered replica against a twin written here, from the public code's description.

A twin restates the evaluator's law in the code's own variables (σ̄, dσ, expm1, α(t), the
half-to-even rounding of ``torch.round``, the strata of each row) and computes the mean and
variance of one run's output by summing over all 2^n masks at each time and integrating with
``scipy.integrate.quad`` (or summing over the grid points of a discrete time). It shares no code
with :mod:`ctmc_lab.estimation.timelaws` (level sums, Gauss–Legendre nodes) or
:mod:`ctmc_lab.estimation.llada` (float32 count tables). The table :data:`TWINS` is keyed by
replica name: a registered replica without a twin fails :func:`test_every_replica_has_a_twin`.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate

from ctmc_lab.conformance import cases
from ctmc_lab.estimation.conditional import conditional_mask_dce
from ctmc_lab.estimation.replica_registry import REPLICAS, get_replica
from ctmc_lab.sources.datasets import dirichlet
from ctmc_lab.sources.denoisers import TemperedDenoiser

QUAD = dict(epsabs=0.0, epsrel=1e-12, limit=800)
EPS = 1e-3


# ================================================================================ building blocks
def _sizes(n):
    return np.array([bin(M).count("1") for M in range(1 << n)])


def _n(A):
    return int(np.log2(len(A)))


def _given(A, lam, w, ell=0.0):
    """(E[g | u], E[g² | u]) with M ~ Bern(λ)^n over every one of the 2^n masks, g = w (A + |M| ℓ)."""
    n, m = _n(A), _sizes(_n(A))
    p = lam**m * (1.0 - lam) ** (n - m)
    g = np.where(m > 0, w * (A + m * ell), 0.0)
    return float(p @ g), float(p @ g**2)


def _quad(f, lo, hi, points=None):
    return integrate.quad(f, lo, hi, points=points, **QUAD)[0]


def _time_twin(A, row, sampler, b, R, *, variance=True):
    """Mean and variance of the mean of R batches of b rows; ``row(u) -> (λ, w, ℓ)``
    (``variance=False``: the mean only, the variance reported infinite)."""

    def mu(u):
        return _given(A, *row(u))[0]

    def nu(u):
        return _given(A, *row(u))[1]

    if not variance:
        return _quad(mu, 0, 1), math.inf
    if sampler == "iid":
        e1 = _quad(mu, 0, 1)
        return e1, (_quad(nu, 0, 1) - e1**2) / (b * R)
    if sampler == "antithetic":
        e1s = [b * _quad(mu, j / b, (j + 1) / b) for j in range(b)]
        e2s = [b * _quad(nu, j / b, (j + 1) / b) for j in range(b)]
        var = sum(e2 - e1**2 for e1, e2 in zip(e1s, e2s)) / b**2
        return float(np.mean(e1s)), var / R
    # lattice: u_j = u0 + j/b, u0 ~ U[0, 1/b)
    e1 = _quad(mu, 0, 1)
    within = (_quad(nu, 0, 1) - _quad(lambda u: mu(u) ** 2, 0, 1)) / b
    h2 = b * _quad(lambda u0: np.mean([mu(u0 + j / b) for j in range(b)]) ** 2, 0, 1 / b)
    return e1, (within + h2 - e1**2) / R


def _singles_positive(A):
    return bool(np.any(A[1 << np.arange(_n(A))] > 0))


def _loglinear(u, eps=EPS, eps_s=EPS):
    """σ̄, dσ of ``LogLinearNoise(eps)`` at t = (1 - sampling_eps) u + sampling_eps."""
    t = (1 - eps_s) * u + eps_s
    return -math.log1p(-(1 - eps) * t), (1 - eps) / (1 - (1 - eps) * t)


def _subs_row(u):
    """MDLM / SEDD absorbing / RADD t-DSE: move chance 1 - e^{-σ̄}, weight dσ / expm1(σ̄)."""
    sb, ds = _loglinear(u)
    return -math.expm1(-sb), ds / math.expm1(sb), 0.0


# ========================================================================================= twins
def _count_rule(b, mc):
    def twin(case):
        A = case.mask_dce_table()
        n, m = case.n, _sizes(case.n)
        mean_m = [A[m == k].mean() if k else 0.0 for k in range(n + 1)]
        var_m = [A[m == k].var() if k else 0.0 for k in range(n + 1)]
        batch_means, batch_vars = [], []
        for k in range(1, n + 1):
            # torch.round(torch.linspace(k, k + (b-1) n/b, b)): entry j = k + j n/b, ties to even
            x = [((round(Fraction(k) + Fraction(j * n, b)) - 1) % n) + 1 for j in range(b)]
            e = [n / xj * mean_m[xj] for xj in x]
            v = [(n / xj) ** 2 * var_m[xj] for xj in x]
            batch_means.append(np.mean(e))
            batch_vars.append(sum(v) / b**2)
        var_bar = np.mean(batch_vars) + np.var(batch_means)
        return float(np.mean(batch_means)), float(var_bar) / max(mc // b, 1)

    return twin


def _dream(case):
    A = case.mask_dce_table(given="rest")
    return _time_twin(A, lambda u: ((1 - EPS) * u + EPS, 1 / ((1 - EPS) * u + EPS), 0.0), "lattice", 32, 4)


def _smdm(case):
    A = case.mask_dce_table()
    # λ-DCE's E g² has Σ_i a_i² ∫ dλ/λ near 0: infinite as soon as one singleton loss is positive.
    return _time_twin(A, lambda u: (u, 1 / u, 0.0), "lattice", 16, 64, variance=not _singles_positive(A))


def _mdlm(case):
    return _time_twin(case.mask_dce_table(), _subs_row, "antithetic", 8, 1)


def _mdlm_t1000(case):
    """Grid t_k = (k + 1)/T for k = floor(T t_c), t_c = (1 - ε_s)u + ε_s; stratum j of 8 holds the u's
    of k with the overlap of [j/8, (j+1)/8) and {u: floor(T t_c) = k}; weight T (dt/t), t clamped."""
    A, T, b = case.mask_dce_table(), 1000, 8
    e1s, e2s = [], []
    for j in range(b):
        e1 = e2 = 0.0
        for k in range(1, T):
            lo = max(j / b, (k / T - EPS) / (1 - EPS))
            hi = min((j + 1) / b, ((k + 1) / T - EPS) / (1 - EPS))
            if hi <= lo:
                continue
            t = (k + 1) / T
            m1, m2 = _given(A, (1 - EPS) * t, T * (1 / T) / min(t, 1 - 1e-4))
            e1 += b * (hi - lo) * m1
            e2 += b * (hi - lo) * m2
        e1s.append(e1)
        e2s.append(e2)
    return float(np.mean(e1s)), sum(e2 - e1**2 for e1, e2 in zip(e1s, e2s)) / b**2


def _mdlm_importance(case):
    sigma_min, sigma_max = EPS, -math.log1p(-(1 - EPS))
    f0, fT = math.log1p(-math.exp(-sigma_min)), math.log1p(-math.exp(-sigma_max))

    def row(u):
        t = (1 - EPS) * u + EPS
        sigma_t = -math.log1p(-math.exp(t * fT + (1 - t) * f0))
        return -math.expm1(-sigma_t), -f0, 0.0

    return _time_twin(case.mask_dce_table(), row, "antithetic", 8, 1)


def _sedd_absorb(case):
    return _time_twin(case.mask_dce_table(), _subs_row, "iid", 8, 1)


def _sedd_geometric(case):
    def row(u):
        t = (1 - EPS) * u + EPS
        sb = 1e-4 ** (1 - t) * 20.0**t
        ds = sb * (math.log(20.0) - math.log(1e-4))
        return -math.expm1(-sb), ds / math.expm1(sb), 0.0

    return _time_twin(case.mask_dce_table(), row, "iid", 8, 1)


def _radd_lambda(case):
    A = case.mask_dce_table()
    return _time_twin(A, lambda u: (u, 1 / u, 0.0), "antithetic", 16, 1024, variance=not _singles_positive(A))


def _radd_t_dce(case):
    def row(u):  # the log of the score: -log c + log(e^σ̄ - 1), divided by e^σ̄ - 1, times dσ
        sb, ds = _loglinear(u)
        return -math.expm1(-sb), ds / math.expm1(sb), math.log(math.expm1(sb))

    return _time_twin(case.mask_dce_table(), row, "lattice", 16, 1024)


def _radd_t_dse(case):
    def row(u):
        # per masked position: (1/e)(-log c + log e) + Σ_v c_v / e + (1/e)(log(1/e) - 1) with Σ_v c_v = 1
        sb, ds = _loglinear(u)
        e = math.expm1(sb)
        constant = math.log(e) / e + 1 / e + (math.log(1 / e) - 1) / e
        return -math.expm1(-sb), ds / e, constant * e  # w ℓ = dσ × constant

    return _time_twin(case.mask_dce_table(), row, "lattice", 16, 1024)


def _radd_k_dce(case):
    A, n = case.mask_dce_table(), case.n
    m = _sizes(n)
    e1 = sum((n / k) * A[m == k].mean() for k in range(1, n + 1)) / n
    e2 = sum((n / k) ** 2 * (A[m == k] ** 2).mean() for k in range(1, n + 1)) / n
    return e1, (e2 - e1**2) / (16 * 1024)


def _bd3lm(K, comb):
    def twin(case):
        B = 8
        order = ([-1] if comb else []) + list(case.prompt) + list(case.answer)
        nb = -(-len(order) // K)
        mean = var = 0.0
        seen = list(case.prompt)
        for k in range(nb):
            target = [i for i in order[k * K : (k + 1) * K] if i in case.answer]
            if not target:
                continue
            A = conditional_mask_dce(case.source, case.x, target=target, context=seen or None)
            seen = seen + target

            def row(u):  # t = u (eps_max - eps_min) + eps_min; move chance t; loss scale 1/t
                t = u * (1 - EPS) + EPS
                return t, 1 / t, 0.0

            if comb:
                S = B * nb
                for i in range(B):
                    s = i * nb + k
                    e1 = S * _quad(lambda u: _given(A, *row(u))[0], s / S, (s + 1) / S)
                    e2 = S * _quad(lambda u: _given(A, *row(u))[1], s / S, (s + 1) / S)
                    mean += e1 / B
                    var += (e2 - e1**2) / B**2
            else:
                m1, v1 = _time_twin(A, row, "iid", B, 1)
                mean += m1
                var += v1
        return mean, var

    return twin


def _md4(case):
    e = 1e-4

    def row(u):  # α(t) = (1 - 2e)(1 - t) + e; weight dα / (1 - α) on the negative cross-entropy
        alpha = (1 - 2 * e) * (1 - u) + e
        return 1 - alpha, (1 - 2 * e) / (1 - alpha), 0.0

    mean, var = _time_twin(case.mask_dce_table(), row, "lattice", 8, 1)
    return mean + case.n * e * math.log(case.n_tokens), var


def _log_p_given(case, target, visible):
    """log p(x_target | x_visible) from the source's marginals."""
    N = case.n_tokens
    both = np.full(case.length, N)
    both[list(visible) + [target]] = case.x[list(visible) + [target]]
    only = np.full(case.length, N)
    only[list(visible)] = case.x[list(visible)]
    return float(case.source.log_marginal(np.stack([both, only])) @ np.array([1.0, -1.0]))


def _mean_field(case, visible_prompt):
    return -sum(_log_p_given(case, i, visible_prompt) for i in case.answer)


def _d1(p):
    def twin(case):
        P = len(case.prompt)
        if p == 0 or P == 0:
            return _mean_field(case, case.prompt), 0.0
        values, probs = [], []
        for M in range(1 << P):
            visible = [case.prompt[i] for i in range(P) if not M >> i & 1]
            k = P - len(visible)
            values.append(_mean_field(case, visible))
            probs.append(p**k * (1 - p) ** (P - k))
        values, probs = np.array(values), np.array(probs)
        mean = float(probs @ values)
        return mean, float(probs @ (values - mean) ** 2)

    return twin


def _diffucoder(case):
    A, n = case.mask_dce_table(), case.n
    full = (1 << n) - 1
    m = _sizes(n)

    def moments(t):
        p = t**m * (1 - t) ** (n - m)
        g = A / t + A[full ^ np.arange(1 << n)] / (1 - t)
        return p @ g, p @ g**2

    e1 = _quad(lambda t: moments(t)[0], 0.2, 0.8) / 0.6
    e2 = _quad(lambda t: moments(t)[1], 0.2, 0.8) / 0.6
    return 0.5 * _mean_field(case, case.prompt) + 0.5 * e1, 0.25 * (e2 - e1**2)


def _ref_table(case, temperature=1.5):
    """A_ref(M) = Σ_{i∈M} -log ref(x_i | prompt, unmasked answer) from the tempered denoiser's rows."""
    ref = TemperedDenoiser(case.denoiser(), temperature=temperature)
    n, N = case.n, case.n_tokens
    rows = np.full((1 << n, case.length), N)
    rows[:, list(case.prompt)] = case.x[list(case.prompt)]
    for M in range(1 << n):
        for j, pos in enumerate(case.answer):
            if not M >> j & 1:
                rows[M, pos] = case.x[pos]
    logp = ref(rows)
    A = np.zeros(1 << n)
    for M in range(1 << n):
        A[M] = -sum(logp[M, pos, case.x[pos]] for j, pos in enumerate(case.answer) if M >> j & 1)
    return A


def _vrpo(coupled):
    def twin(case):
        A, A_ref = case.mask_dce_table(), _ref_table(case)

        def row(u):
            lam = (1 - EPS) * u + EPS
            return lam, 1 / lam, 0.0

        if coupled:
            return _time_twin(A - A_ref, row, "iid", 8, 1)
        (m1, v1), (m2, v2) = _time_twin(A, row, "iid", 8, 1), _time_twin(A_ref, row, "iid", 8, 1)
        return m1 - m2, v1 + v2

    return twin


def _sedd_uniform(case):
    """σ(t) Σ_i (1/N) Σ_{v≠y_i} [s - r log s + r log r - r] summed over every noisy row y with its
    probability, integrated over t by Gauss–Legendre in t (96 nodes on each of 8 sub-intervals)."""
    N, L = case.n_tokens, case.length
    support = np.asarray(case.source.support)
    probs = np.exp(case.source.log_prob(support))
    ys = np.array(np.meshgrid(*[np.arange(N)] * L, indexing="ij")).reshape(L, -1).T

    def dse_stats(t):
        sb, ds = _loglinear(t, eps_s=0.0)
        K = math.exp(-sb) * np.eye(N) + -math.expm1(-sb) / N
        pt = np.array([probs @ np.prod(K[y[None, :], support], axis=1) for y in ys])
        index = {tuple(y): k for k, y in enumerate(ys)}
        cond = np.prod(K[ys, case.x[None, :]], axis=1)
        d = np.zeros(len(ys))
        for k, y in enumerate(ys):
            for i in range(L):
                for v in range(N):
                    if v == y[i]:
                        continue
                    z = y.copy()
                    z[i] = v
                    s = pt[index[tuple(z)]] / pt[k]
                    r = K[v, case.x[i]] / K[y[i], case.x[i]]
                    d[k] += (s - r * math.log(s) + r * math.log(r) - r) / N
        return ds * (cond @ d), ds**2 * (cond @ d**2)

    x, w = np.polynomial.legendre.leggauss(96)
    e1 = e2 = 0.0
    edges = [EPS, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99, 1.0]
    for a, b in zip(edges[:-1], edges[1:]):
        for xi, wi in zip(x, w):
            m1, m2 = dse_stats((a + b) / 2 + (b - a) / 2 * xi)
            e1 += (b - a) / 2 * wi * m1
            e2 += (b - a) / 2 * wi * m2
    e1, e2 = e1 / (1 - EPS), e2 / (1 - EPS)
    return e1, (e2 - e1**2) / 8


# ======================================================================================== cases
def _small_joint_case():
    dist = dirichlet(3, 3, alpha=0.7, rng=4)
    return cases.from_source(dist, np.asarray(dist.support)[2], name="joint3")


CASES = {
    "d128": lambda: cases.dna128(5),
    "d128_infinite": lambda: cases.dna128(58),
    "mk4": lambda: cases.markov_pair(3, index=2),
    "eos": lambda: cases.eos_pair(3, index=1),
    "joint3": _small_joint_case,
}

#: Replica name -> (twin, the cases it is checked on).
TWINS = {
    "llada_get_log_likelihood": (_count_rule(16, 128), ("mk4", "d128")),
    "llada_harness_b1": (_count_rule(1, 128), ("mk4",)),
    "llada_harness_b8": (_count_rule(8, 128), ("mk4", "d128")),
    "llada_harness_b16": (_count_rule(16, 128), ("mk4",)),
    "llada_harness_b32": (_count_rule(32, 128), ("mk4", "d128")),
    "dllm_llada": (_count_rule(32, 32), ("mk4",)),
    "dream": (_dream, ("eos", "d128")),
    "dllm_dream": (_dream, ("eos",)),
    "smdm": (_smdm, ("d128", "d128_infinite")),
    "mdlm": (_mdlm, ("d128",)),
    "mdlm_t1000": (_mdlm_t1000, ("d128",)),
    "mdlm_importance": (_mdlm_importance, ("d128",)),
    "sedd_absorb": (_sedd_absorb, ("d128",)),
    "sedd_absorb_geometric": (_sedd_geometric, ("d128",)),
    "sedd_uniform": (_sedd_uniform, ("joint3",)),
    "radd_lambda_dce": (_radd_lambda, ("d128", "d128_infinite")),
    "radd_t_dce": (_radd_t_dce, ("d128",)),
    "radd_t_dse": (_radd_t_dse, ("d128",)),
    "radd_k_dce": (_radd_k_dce, ("d128",)),
    "bd3lm_block8": (_bd3lm(8, True), ("d128",)),
    "bd3lm_block8_uniform": (_bd3lm(8, False), ("d128",)),
    "bd3lm_block4": (_bd3lm(4, True), ("d128", "mk4")),
    "bd3lm_block4_uniform": (_bd3lm(4, False), ("d128",)),
    "bd3lm_block2": (_bd3lm(2, True), ("d128",)),
    "bd3lm_block2_uniform": (_bd3lm(2, False), ("d128",)),
    "md4": (_md4, ("d128",)),
    "d1": (_d1(0.3), ("eos", "d128")),
    "d1_prompt_visible": (_d1(0.0), ("mk4",)),
    "diffucoder": (_diffucoder, ("mk4", "d128")),
    "vrpo_coupled": (_vrpo(True), ("mk4",)),
    "vrpo_decoupled": (_vrpo(False), ("mk4",)),
}

_BUILT = {}


def _case(key):
    if key not in _BUILT:
        _BUILT[key] = CASES[key]()
    return _BUILT[key]


def test_every_replica_has_a_twin():
    missing = sorted(set(REPLICAS) - set(TWINS))
    assert not missing, f"replicas without a twin in tests/conformance/test_replicas.py: {missing}"


@pytest.mark.parametrize("name,key", [(name, key) for name, (_, keys) in TWINS.items() for key in keys])
def test_replica_matches_its_twin(name, key):
    case = _case(key)
    twin, _ = TWINS[name]
    want_mean, want_var = twin(case)
    got = get_replica(name).moments(case)
    assert got.mean == pytest.approx(want_mean, rel=1e-10, abs=1e-11)
    if math.isinf(want_var):
        assert math.isinf(got.variance)
    else:
        assert got.variance == pytest.approx(want_var, rel=1e-8, abs=1e-12)
