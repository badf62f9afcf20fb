"""The verifier's own twins of the registered estimators and noise processes, keyed by registry name.

``verify`` reads the same registries as every other caller
(:mod:`ctmc_lab.estimation.registry`, :data:`ctmc_lab.forward.generators.NOISE_PROCESSES`), but
judges each entry against a reference written here, from the paper and the code each entry
mirrors, never read from the entry itself:

* an **estimator twin** gives the law of the mask size m and the value weight f_m of one draw
  (q_m = P(|M| = m), m = 0..n; ``docs/theory.md`` §4.1, §6.1–6.3, §8), and how its exact mean
  is computed;
* a **noise-process twin** gives the rate matrix Q and its closed-form exp(sQ) (§1.2, A1/A2).
  Every process, twin or not, also has its kernel recomputed by ``scipy.linalg.expm`` and by
  :func:`uniformized_kernel` (a Poisson series written here) from its registered rates.

An entry registered without a twin here gets no row that would compare it with its own
declared law: the check yields a :class:`~proofs_check.framework.Skip` whose reason starts
with :data:`NO_TWIN`, and the report's registry coverage shows the cell as ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy import integrate
from scipy.special import comb

__all__ = [
    "NO_TWIN",
    "EstimatorTwin",
    "ESTIMATOR_TWINS",
    "estimator_twin",
    "ProcessTwin",
    "PROCESS_TWINS",
    "process_twin",
    "no_twin_reason",
    "expm_kernel",
    "uniformized_kernel",
]

#: The start of every skip reason of a registry entry without an independent twin here.
NO_TWIN = "n/a: no independent twin"


def no_twin_reason(what: str) -> str:
    """The skip reason of an entry without a twin: :data:`NO_TWIN` and what is not checked."""
    return f"{NO_TWIN} in proofs_check/twins.py ({what})"


# ============================================================================== estimators
def _harmonic(n: int) -> float:
    return math.fsum(1.0 / j for j in range(1, n + 1))


def _inverse_sizes(n: int) -> np.ndarray:
    inv = np.zeros(n + 1)
    inv[1:] = 1.0 / np.arange(1, n + 1)
    return inv


def _time_free(n, weights=None):
    """Thm 4.1, Eq. 15: P(m) = 1/(m H_n) on 1..n; every draw weighs H_n."""
    H = _harmonic(n)
    return _inverse_sizes(n) / H, np.full(n + 1, H)


def _k_dce(n, weights=None):
    """RADD's k-DCE: m uniform on 1..n, weight n/m."""
    q = np.r_[0.0, np.full(n, 1.0 / n)]
    return q, n * _inverse_sizes(n)


def _rb_lambda(n, weights=None):
    """λ-DCE Rao–Blackwellised over λ (S9): m uniform on 0..n, weight (n+1)/m."""
    return np.full(n + 1, 1.0 / (n + 1)), (n + 1) * _inverse_sizes(n)


def _lambda(n, weights=None):
    """λ ~ U(0,1), M ~ Bern(λ)^n: m | λ ~ Bin(n, λ), so m is uniform on 0..n; the weight 1/λ is random."""
    return np.full(n + 1, 1.0 / (n + 1)), None


def _omit_full(n, weights=None):
    """eval_llada.py (§8): m ~ 1/(m H_{n-1}) on 1..n-1 (the full mask never drawn), weight H_n."""
    if n < 2:
        return None
    q = np.zeros(n + 1)
    q[1:n] = _inverse_sizes(n)[1:n] / _harmonic(n - 1)
    return q, np.full(n + 1, _harmonic(n))


def _omit_full_token_mean(n, weights=None):
    """eval_text8.py (§8): the omit-full-mask law, weight H_n/m (a per-token mean)."""
    law = _omit_full(n)
    return None if law is None else (law[0], _harmonic(n) * _inverse_sizes(n))


def _importance(n, weights=None):
    """Importance over m (§6.5): P(m) ∝ w_m on 1..n, weight 1/(m P(m))."""
    w = np.asarray(_importance_weights(n) if weights is None else weights, dtype=float)[-n:]
    q = np.r_[0.0, w / w.sum()]
    f = np.zeros(n + 1)
    f[1:] = [1.0 / (m * q[m]) if q[m] > 0 else 0.0 for m in range(1, n + 1)]
    return q, f


def _importance_weights(n: int) -> np.ndarray:
    """The weights verify runs the importance sampler with: w_m = sqrt(m), not proportional to 1/m."""
    return np.sqrt(np.arange(1, n + 1, dtype=float))


#: ε_s of the code's t-estimators (§8): t is drawn on [ε_s, 1], under the loglinear schedule of that ε_s.
_T_EPS = 1e-3


def _time_sampled(n, weights=None):
    """The code's t-DCE / t-DSE (§8): t = (1-ε)u + ε, m | t ~ Bin(n, λ(t)) under loglinear(ε)."""
    from ctmc_lab.forward.schedules import Loglinear

    sch = Loglinear(_T_EPS)
    q = np.zeros(n + 1)
    for k in range(n + 1):

        def dens(t, k=k):
            lam = float(sch.mask_level(t))
            return comb(n, k) * lam**k * (1 - lam) ** (n - k)

        q[k] = integrate.quad(dens, _T_EPS, 1.0, epsabs=1e-14, epsrel=1e-12, limit=200)[0] / (1 - _T_EPS)
    return q, None


@dataclass(frozen=True)
class EstimatorTwin:
    """The verifier's reference for one registered estimator.

    Attributes
    ----------
    law : callable
        ``law(n, weights=None) -> (q, f) or None``: q_m = P(|M| = m), m = 0..n, and the value
        weight f_m of a draw of size m (None where the weight is random, as 1/λ); None where
        the estimator is not defined on length n.
    mean : str
        How the exact mean of one draw is computed: ``"law"`` (Σ_M P(M) f_m A(M) over the
        twin law), ``"beta"`` (Σ_M B(m, n-m+1) A(M): λ ~ U(0,1), g = A(M)/λ), ``"quadrature"``
        (the library's t-quadrature; the t-estimators are biased controls) or ``"count_rule"``
        (the rational count rule of :mod:`proofs_check.count_rules`).
    weights : callable or None
        ``weights(n)`` for an estimator that runs only with weights (the run and the law use them).
    source : str
        Where the law is written from.
    """

    law: Callable
    mean: str
    source: str
    weights: Callable[[int], np.ndarray] | None = None

    @property
    def weight_is_random(self) -> bool:
        """Whether a draw's weight is not a function of its mask size (1/λ: heavy tails, §6.3)."""
        return self.mean == "beta"

    def infinite_variance(self, A: np.ndarray) -> bool:
        """Var g = ∞ for λ-DCE when some singleton term a_i = A({i}) > 0 (S6); finite otherwise."""
        if not self.weight_is_random:
            return False
        n = A.size.bit_length() - 1
        return bool(np.any(A[1 << np.arange(n)] > 0))


_MASK = "law"
#: Twins by registered estimator name (the names of :mod:`ctmc_lab.estimation.registry`).
ESTIMATOR_TWINS: dict[str, EstimatorTwin] = {
    "time_free": EstimatorTwin(_time_free, _MASK, "Thm 4.1, Eq. 15"),
    "k_dce": EstimatorTwin(_k_dce, _MASK, "RADD k-DCE (§6.1)"),
    "k_dce_stratified": EstimatorTwin(_k_dce, _MASK, "RADD k-DCE, strata of the batch (§6.2)"),
    "rb_lambda_dce": EstimatorTwin(_rb_lambda, _MASK, "S9"),
    "lambda_dce": EstimatorTwin(_lambda, "beta", "Eq. 16, §6.3"),
    "lambda_dce_stratified": EstimatorTwin(_lambda, "beta", "Eq. 16, strata of λ (§6.3)"),
    "omit_full_mask": EstimatorTwin(_omit_full, _MASK, "eval_llada.py (§8)"),
    "omit_full_mask_token_mean": EstimatorTwin(_omit_full_token_mean, _MASK, "eval_text8.py (§8)"),
    "mask_size_importance": EstimatorTwin(_importance, _MASK, "§6.5", weights=_importance_weights),
    "t_dce": EstimatorTwin(_time_sampled, "quadrature", "the code's t-DCE (§8)"),
    "t_dse": EstimatorTwin(_time_sampled, "quadrature", "the code's t-DSE (§8)"),
    "llada_stratified": EstimatorTwin(lambda n, weights=None: None, "count_rule", "LLaDA's count rule (§8)"),
    "llada_stratified_fixed": EstimatorTwin(lambda n, weights=None: None, "count_rule", "the fixed count rule"),
}


def estimator_twin(name: str) -> EstimatorTwin | None:
    """The twin of the registered estimator ``name``, or None when this module has none."""
    return ESTIMATOR_TWINS.get(name)


# ========================================================================= noise processes
def _absorbing_rates(N: int) -> np.ndarray:
    """A1: every clean symbol jumps to the mask N at rate 1; the mask stays."""
    Q = np.zeros((N + 1, N + 1))
    for b in range(N):
        Q[N, b], Q[b, b] = 1.0, -1.0
    return Q


def _absorbing_kernel(N: int, s: float) -> np.ndarray:
    """A1: K_s[b, b] = e^{-s}, K_s[N, b] = 1 - e^{-s} for b < N, K_s[N, N] = 1."""
    K = np.zeros((N + 1, N + 1))
    for b in range(N):
        K[b, b], K[N, b] = math.exp(-s), -math.expm1(-s)
    K[N, N] = 1.0
    return K


def _uniform_rates(N: int) -> np.ndarray:
    """A2 (SEDD): every symbol jumps to each of the N symbols at rate 1/N."""
    return np.array([[1.0 / N - (a == b) for b in range(N)] for a in range(N)])


def _uniform_kernel(N: int, s: float) -> np.ndarray:
    """A2: K_s = e^{-s} I + (1 - e^{-s}) 11ᵀ/N."""
    return np.array([[math.exp(-s) * (a == b) - math.expm1(-s) / N for b in range(N)] for a in range(N)])


@dataclass(frozen=True)
class ProcessTwin:
    """The verifier's reference for one registered noise process (§1.2): Q and exp(sQ) on N symbols."""

    rates: Callable[[int], np.ndarray]
    kernel: Callable[[int, float], np.ndarray]
    source: str


#: Twins by registered noise-process name (``NOISE_PROCESSES``).
PROCESS_TWINS: dict[str, ProcessTwin] = {
    "absorbing": ProcessTwin(_absorbing_rates, _absorbing_kernel, "A1"),
    "uniform": ProcessTwin(_uniform_rates, _uniform_kernel, "A2"),
}


def process_twin(name: str) -> ProcessTwin | None:
    """The twin of the registered noise process ``name``, or None when this module has none."""
    return PROCESS_TWINS.get(name)


def expm_kernel(Q: np.ndarray, s: float) -> np.ndarray:
    """exp(sQ) by ``scipy.linalg.expm`` (Padé with scaling and squaring)."""
    return scipy.linalg.expm(s * np.asarray(Q, dtype=float))


def uniformized_kernel(Q: np.ndarray, s: float, *, tail: float = 1e-16) -> np.ndarray:
    """exp(sQ) = Σ_k Poisson(k; Λs) P^k with P = I + Q/Λ, Λ = max_b |Q[b, b]| (uniformization).

    Every term is non-negative, so entries are accurate relative to themselves; the series
    stops once the remaining Poisson mass is below ``tail``. The Poisson weights are taken in
    log space, so a large Λs does not underflow e^{-Λs} before the sum starts.
    """
    Q = np.asarray(Q, dtype=float)
    rate = float(np.max(-np.diag(Q)))
    if rate == 0.0 or s == 0.0:
        return np.eye(Q.shape[0])
    P = np.eye(Q.shape[0]) + Q / rate
    mu = rate * s
    out = np.zeros_like(Q)
    term = np.eye(Q.shape[0])
    mass, k = 0.0, 0
    top = int(mu + 12 * math.sqrt(mu) + 60)
    while k <= top:
        w = math.exp(k * math.log(mu) - mu - math.lgamma(k + 1))
        out += w * term
        mass += w
        if k > mu and 1.0 - mass <= tail:
            break
        term = P @ term
        k += 1
    return out
