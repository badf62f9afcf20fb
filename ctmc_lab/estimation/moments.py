"""Exact mean, variance and bias of one draw of every likelihood estimator (``docs/theory.md`` §6).

Everything here is a function of the table A(M) over all 2^n masks M of the target set
(``docs/theory.md`` §3.5; n ≤ 16 in practice, 2^16 = 65536 masks), which
:func:`ctmc_lab.exact.mask_dce.mask_dce_table` builds from any ``Denoiser`` in batches, and
:func:`ctmc_lab.exact.mask_dce.optimal_mask_dce` builds from the subset table of a
``JointDistribution`` in one vectorized pass. Which estimator has which law is read from
:mod:`ctmc_lab.estimation.registry`, so a registered mask-size scheme has exact moments here
with no other edit. With
S1_m = sum_{|M|=m} A(M), S2_m = sum_{|M|=m} A(M)² and B(a, b) the Beta function:

* the (conditional) NLL of the model is sum_M B(m, n-m+1) A(M)  (Thm 4.1, Cor. 4.3);
* a mask-size scheme (m ~ q, M uniform of size m, g = f_m A(M)) has
  E g = sum_m q_m f_m S1_m / C(n,m) and Var g = sum_M q_m/C(n,m) (f_m A(M) - E g)²  (§6.1–6.2);
* λ-DCE has E g² = sum_{m≥2} S2_m B(m-1, n-m+1) + S2_1 · ∞: its variance is infinite exactly
  when some singleton term a_i = A({i}) is positive (§6.3).

Every function accepts one table ``(2**n,)`` or a batch ``(B, 2**n)`` and is vectorized over
both masks and sequences. Infinite variances are reported as such, with their cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import betaln, comb

from ctmc_lab._validation import positive_int, subset_table_length
from ctmc_lab.estimation import families
from ctmc_lab.estimation.laws import MaskSizeScheme, UniformMasks, level_sums
from ctmc_lab.estimation.records import Moments, moments_records
from ctmc_lab.estimation.registry import estimator_names, get_estimator, mask_size_law, ratio_schemes
from ctmc_lab.exact.mask_dce import MaskDCE, mask_dce_table, optimal_mask_dce
from ctmc_lab.masks import as_mask_table, harmonic, imdce_sum, mask_weights

__all__ = [
    "Moments",
    "RatioMoments",
    "LambdaTruncation",
    "SamplerComparison",
    "FIELD_ESTIMATORS",
    "exact_estimators",
    "unbiased_samplers",
    "estimator_moments",
    "exact_mean",
    "all_moments",
    "estimator_fields",
    "exact_records",
    "stratified_k_dce_moments",
    "stratified_lambda_dce_moments",
    "t_estimator_moments",
    "lambda_dce_truncation",
    "ratio_moments",
    "compare_samplers",
    "zero_variance_distribution",
    "best_mask_size_weights",
    "fit_mask_size_weights",
]

#: The estimators of the ``estimators`` record of each sequence of ``ctmc-lab nll --json``, in
#: output order (a fixed output schema: the registry's specs with ``"sequences"`` in ``nll_records``).
FIELD_ESTIMATORS = estimator_names(record="sequences")


def exact_estimators() -> tuple[str, ...]:
    """Names whose :func:`estimator_moments` needs nothing but the table: every spec with ``exact_moments``."""
    return estimator_names(exact_moments=True)


def unbiased_samplers() -> tuple[str, ...]:
    """The samplers :func:`compare_samplers` ranks (§6.5): registered, unbiased, i.i.d. draws whose exact
    moments need only the table, runnable by name (built in: time_free, k_dce, rb_lambda_dce, lambda_dce)."""
    return estimator_names(biased=False, stratified=False, by_name=True, exact_moments=True)


# ===================================================================================== records
@dataclass(frozen=True)
class RatioMoments:
    """Exact moments of the log-ratio estimator log p(x_num) - log p(x_den) (§4.3, §6.4).

    Attributes
    ----------
    mean : float
        A-based exact log-ratio NLL(x_den) - NLL(x_num) (both estimators are unbiased).
    variance_coupled : float
        Var_c = Var_M(f_m [A_den(M) - A_num(M)]), shared masks.
    variance_decoupled : float
        Var_d = Var(f A_num) + Var(f A_den), independent masks.
    covariance_term : float
        Var_d - Var_c = 2 Cov(f A_num, f A_den). Negative means coupling hurts.
    """

    scheme: str
    mean: float
    variance_coupled: float
    variance_decoupled: float
    covariance_term: float

    @property
    def coupling_helps(self) -> bool:
        return self.covariance_term > 0


@dataclass(frozen=True)
class LambdaTruncation:
    """The truncated second moment of λ-DCE and its growth law (§6.3, S8).

    E[g²; λ ≥ δ] = (sum_i a_i²)(log 1/δ - H_{n-1}) + C + o(1) as δ → 0, with
    C = sum_{|M|≥2} A(M)² B(m-1, n-m+1).

    Attributes
    ----------
    delta : float
    second_moment : float
        E[g²; λ ≥ δ], exact (closed form, no quadrature).
    slope : float
        sum_i a_i², the coefficient of log(1/δ).
    constant : float
        C.
    asymptote : float
        slope · (log(1/δ) - H_{n-1}) + C, the law without its o(1) term.
    """

    delta: float
    second_moment: float
    slope: float
    constant: float
    asymptote: float


@dataclass(frozen=True, eq=False)
class SamplerComparison:
    """Which unbiased sampler has the lowest exact variance at one sequence (§6.5).

    Attributes
    ----------
    variances : dict
        Exact single-draw variance of each of :func:`unbiased_samplers` (time_free, k_dce,
        rb_lambda_dce, lambda_dce and any such scheme a user registered).
    winner : str
        The sampler with the lowest variance.
    factor_vs_runner_up : float
        Variance of the second best over the winner's (≥ 1; ``inf`` if the winner's is 0).
    factor_vs_time_free : float
        Variance of the paper's time-free sampler over the winner's.
    best_mask_size_weights : (n,) float array
        q*_m ∝ sqrt(E[A² | m])/m, the variance-optimal importance law over m = 1..n.
    best_mask_size_variance : float
        The variance of :func:`~ctmc_lab.estimation.estimators.mask_size_importance` with q*.
    zero_variance : (2**n,) float array
        P*(M) ∝ B(m, n-m+1) A(M), the importance law with zero variance.
    """

    variances: dict
    winner: str
    factor_vs_runner_up: float
    factor_vs_time_free: float
    best_mask_size_weights: np.ndarray = field(repr=False)
    best_mask_size_variance: float = 0.0
    zero_variance: np.ndarray = field(default=None, repr=False)


# ==================================================================================== moments
def _n_of(A: np.ndarray) -> int:
    return subset_table_length(A.shape[-1], "A", minimum=1)


def _prepared(A, estimator, reference, positions):
    spec = get_estimator(estimator)
    A = as_mask_table(A)
    n = _n_of(A)
    A2 = np.atleast_2d(A)
    positions = np.arange(n) if positions is None else np.asarray(positions)
    if positions.shape != (n,):
        raise ValueError(f"`positions` must have shape ({n},) (got {positions.shape})")
    if reference is None:
        return spec, A, A2, positions, imdce_sum(A2)
    ref = np.asarray(reference, dtype=float)
    if ref.shape not in ((), (1,), A2.shape[:1]):
        raise ValueError(
            f"`reference` must be one number or {A2.shape[0]} numbers, one per table (got shape {ref.shape})"
        )
    return spec, A, A2, positions, np.broadcast_to(ref, A2.shape[:1])


def _options(weights, batch_size, options):
    if weights is not None:
        options["weights"] = weights
    if batch_size is not None:
        options["batch_size"] = positive_int(batch_size, "batch_size")
    return options


def estimator_moments(A, estimator: str, *, reference=None, positions=None, weights=None, batch_size=None, **options):
    """Exact mean, bias and variance of one draw of an estimator, from the table A.

    Parameters
    ----------
    A : (2**n,) or (B, 2**n) float array
        A(M) by local mask bitmask (see ``mask_dce_table``).
    estimator : str
        A registered estimator (built in or a user's): its family gives the moments. Those of
        :func:`exact_estimators` need nothing more; a batch-stratified design needs its
        ``batch_size`` (LLaDA's default to 16), the t-estimators take their schedule options.
    reference : float or (B,) array, optional
        The NLL against which the bias is measured (default: :func:`ctmc_lab.masks.imdce_sum` of A).
    positions : (n,) int array, optional
        Sequence positions of the target bits, used in ``infinite_because`` (default 0..n-1).
    weights : (n,) array
        The mask-size weights of ``mask_size_importance``.
    batch_size : int, optional
        The batch B of a stratified design; its ``variance`` is then per draw, B · Var(batch mean).
    **options
        The family's own: ``schedule``, ``eps_s``, ``score_log`` (t-DCE) or ``defect`` (t-DSE).

    Returns
    -------
    Moments, or a list of Moments for a batch

    Notes
    -----
    Mask-size schemes (the spec's law q, f): E g = sum_M P(M) f_m A(M), P(M) = q_m / C(n, m),
    Var g = sum_M P(M)(f_m A(M) - E g)² over all 2^n masks (``docs/theory.md`` §6.1, §6.2; the
    audited variants of §8 are schemes with P(m) ∝ 1/m on 1..n-1). λ-DCE: E g = NLL and
    E g² = sum_{m≥2} A(M)² B(m-1, n-m+1), infinite iff some a_i > 0 (§6.3). Stratified designs:
    per stratum, then B · Var(batch mean) (§6.2, §6.3). ``llada_stratified`` and
    ``llada_stratified_fixed``: LLaDA's evaluator and its fix
    (:func:`ctmc_lab.estimation.llada.llada_moments`); the mean is that of every batch mean.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([0.0, 1.0, 1.0, 2.0])            # n = 2, additive: A(M) = |M|
    >>> estimator_moments(A, "k_dce").variance      # (n/m) A = n for every mask
    0.0
    >>> estimator_moments(A, "lambda_dce").infinite_because
    (0, 1)
    """
    spec, A, A2, positions, ref = _prepared(A, estimator, reference, positions)
    opts = _options(weights, batch_size, dict(options))
    mean, var, infinite = spec.family.moments(A2, name=estimator, **opts)
    out = moments_records(estimator, A2, mean, var, infinite, reference=ref, positions=positions)
    return out if A.ndim == 2 else out[0]


def exact_mean(A, estimator: str, *, weights=None, batch_size=None, **options) -> np.ndarray:
    """The exact mean of one draw of ``estimator`` for each table of ``A`` ``(B, 2**n)`` (or one).

    The family's fastest exact route: for the t-estimators, linearity in the level sums (one
    quadrature per level, however many tables); otherwise the mean of :func:`estimator_moments`.
    """
    spec, A, A2, _, _ = _prepared(A, estimator, None, None)
    mean = spec.family.mean(A2, name=estimator, **_options(weights, batch_size, dict(options)))
    return mean if A.ndim == 2 else mean[0]


def all_moments(A, *, names=None, reference=None, positions=None):
    """``{name: Moments}`` for every estimator in ``names`` (a list of dicts for a batch).

    By default the per-draw records of ``ctmc-lab nll --json``, ``estimator_names(record="pairs")``
    (built in: time_free, k_dce, rb_lambda_dce, lambda_dce and the two omit-full-mask samplers),
    less those undefined at this target length.
    """
    if names is None:
        names = estimator_names(record="pairs", length=_n_of(np.asarray(A)))
    per = {name: estimator_moments(A, name, reference=reference, positions=positions) for name in names}
    if np.asarray(A).ndim == 1:
        return per
    return [{name: per[name][b] for name in names} for b in range(np.asarray(A).shape[0])]


_UNDEFINED = {"mean": None, "bias": None, "variance": None, "variance_is_infinite": False, "infinite_because": None}


def estimator_fields(dist, x0_batch, *, denoiser=None) -> list[dict]:
    """Per sequence, the exact ``"estimators"`` record of ``ctmc-lab nll --json``.

    Parameters
    ----------
    dist : JointDistribution
    x0_batch : (B, L) int array or list of strings
    denoiser : Denoiser, optional
        Score this model instead of c*. By default A(M) comes from the subset tables of
        ``dist`` (fast path, equal to ``OptimalDenoiser(dist)`` to ~1e-15, tested).

    Returns
    -------
    list of dict
        ``{NAME: record}`` for each registered estimator with ``"sequences"`` in its
        ``nll_records`` (built in: :data:`FIELD_ESTIMATORS`), each record its family's
        (``Family.exact_record``): ``{"mean", "bias", "variance", "variance_is_infinite",
        "infinite_because"}``, the bias against -log p0(x0), ``variance`` None when infinite and
        ``infinite_because`` the positions i with a_i = A({i}) > 0 (``docs/theory.md`` §6.3);
        LLaDA's evaluators (batch_size 16, mc_num 128) add ``batch_size``, ``mc_num`` and
        ``variance_of_mean``, their ``variance`` per draw (16 · Var of one batch mean). Every
        value is None for an estimator undefined at this length (its spec's ``min_length``).

    Notes
    -----
    Every mean and variance is an exact finite sum over the 2^L masks (Thm 4.1, §6.1–6.3).
    """
    x0 = np.atleast_2d(dist.encode(x0_batch))
    nll = np.atleast_1d(dist.nll(x0))
    # Chunks of sequences keep the (chunk, 2^L) tables near 32 MiB even at L = 16.
    step = max(1, (1 << 22) >> dist.length)
    out = []
    for lo in range(0, len(x0), step):
        rows = x0[lo : lo + step]
        if denoiser is None:
            A = optimal_mask_dce(dist, rows)
        else:
            A = np.stack([mask_dce_table(denoiser, row) for row in rows])
        out.extend(exact_records(A, reference=nll[lo : lo + step]))
    return out


def exact_records(A, *, reference, positions=None) -> list[dict]:
    """Per row of ``A``, the ``"estimators"`` record of ``ctmc-lab nll --json`` (see :func:`estimator_fields`).

    Parameters
    ----------
    A : (B, 2**n) float array
        A(M) tables of B sequences (the target is all n positions).
    reference : (B,) float array
        The NLL each bias is measured against (``inf`` for a sequence outside the support).
    positions : (n,) int array, optional
        Sequence positions of the target bits, for ``infinite_because`` (default 0..n-1).
    """
    A = np.atleast_2d(as_mask_table(A))
    n = _n_of(A)
    positions = np.arange(n) if positions is None else np.asarray(positions)
    reference = np.broadcast_to(np.asarray(reference, dtype=float), A.shape[:1])
    specs = [get_estimator(name) for name in estimator_names(record="sequences")]
    per = {
        s.name: s.family.exact_record(s.name, A, reference=reference, positions=positions)
        for s in specs
        if s.min_length <= n
    }
    return [{s.name: per[s.name][i] if s.name in per else dict(_UNDEFINED) for s in specs} for i in range(A.shape[0])]


# ========================================================================= stratified samplers
def stratified_k_dce_moments(A, batch_size: int) -> tuple[float, float]:
    """Mean and per-draw variance B·Var(batch mean) of stratified k-DCE (evenly spaced m).

    Draw j of a batch of B has v_j = (j + u_j)/B and m_j = 1 + floor(n v_j), so
    P(m | j) = B |[j/B, (j+1)/B) ∩ [(m-1)/n, m/n)| and Var(batch mean) = (1/B²) sum_j Var(g_j)
    (:func:`ctmc_lab.estimation.families.stratified_scheme_moments`, §6.2).
    """
    A = as_mask_table(A)
    _n_of(A)
    return families.stratified_k_dce_moments(A, positive_int(batch_size, "batch_size"))


def stratified_lambda_dce_moments(A, batch_size: int):
    """Mean and per-draw variance B·Var(batch mean) of stratified λ-DCE (λ_j = (j + u_j)/B).

    Infinite iff some a_i > 0: the first stratum still reaches λ → 0 (``docs/theory.md`` §6.3).
    """
    A = as_mask_table(A)
    _n_of(A)
    return families.stratified_lambda_dce_moments(A, positive_int(batch_size, "batch_size"))


# ============================================================================ schedule-based
_T_KINDS = ("t_dce", "t_dse")


def t_estimator_moments(
    A, *, schedule, eps_s: float = 1e-3, kind: str = "t_dce", score_log: bool = True, defect=None, reference=None
) -> Moments:
    """Exact mean, bias and variance of one draw of the code's t-DCE / t-DSE (§6.3, §8).

    With t = (1-ε_s)u + ε_s, λ = λ(t), w(t) = σ(t)/(e^σ̄(t) - 1) and M ~ Bern(λ)^n:

    * ``t_dce``, ``score_log=True`` (the code): g = w [A(M) + m log(e^σ̄ - 1)];
    * ``t_dce``, ``score_log=False``: g = w A(M);
    * ``t_dse``: g = w [A(M) + D(M)] with the row-sum defect D (Lemma 3.3).

    E g^p = (1/(1-ε_s)) ∫_{ε_s}^1 w^p sum_m λ^m (1-λ)^{n-m} E_m[V^p] dt, computed with
    ``scipy.integrate.quad_vec`` (tolerance 1e-13 relative) for all levels at once
    (:func:`ctmc_lab.estimation.families.t_moments`). The mean is that of every draw of the
    ``vdm`` sampler too (each t_j is marginally uniform); the variance is that of i.i.d. draws.

    Parameters
    ----------
    A : (2**n,) float array
    schedule : Schedule
    eps_s : float
    kind : {"t_dce", "t_dse"}
    score_log : bool
    defect : (2**n,) float array, optional
        D(M) for ``t_dse`` (default 0: a normalised denoiser).
    reference : float, optional
        NLL for the bias (default: :func:`ctmc_lab.masks.imdce_sum`).
    """
    A = as_mask_table(A)
    if A.ndim != 1:
        raise ValueError("`A` must be one table (2**n,) here")
    _n_of(A)
    if kind not in _T_KINDS:
        raise ValueError(f"unknown `kind` {kind!r}; choose 't_dce' or 't_dse'")
    if not isinstance(score_log, (bool, np.bool_)):
        raise ValueError(f"`score_log` must be True or False (got {score_log!r})")
    extra = {"score_log": score_log} if kind == "t_dce" else {"defect": defect}
    mean, var, _ = get_estimator(kind).family.moments(A[None], name=kind, schedule=schedule, eps_s=eps_s, **extra)
    ref = float(imdce_sum(A)) if reference is None else float(reference)
    name = kind if kind == "t_dse" or score_log else "t_dce_true"
    return Moments(name, float(mean[0]), float(mean[0] - ref), float(var[0]), False, None)


# ============================================================================= λ-DCE truncation
def lambda_dce_truncation(A, delta) -> LambdaTruncation:
    """E[g²; λ ≥ δ] of λ-DCE exactly, and its log(1/δ) growth law (``docs/theory.md`` §6.3, S8).

    E[g²; λ ≥ δ] = sum_i a_i² ∫_δ^1 λ^{-1}(1-λ)^{n-1} dλ + sum_{|M|≥2} A(M)² ∫_δ^1 λ^{m-2}(1-λ)^{n-m} dλ
                 = (sum_i a_i²)(log 1/δ - H_{n-1}) + C + o(1).

    Parameters
    ----------
    A : (2**n,) float array
    delta : float in (0, 1)
    """
    A = as_mask_table(A)
    if A.ndim != 1:
        raise ValueError("`A` must be one table (2**n,) here")
    delta = float(delta)
    if not 0.0 < delta < 1.0:
        raise ValueError(f"`delta` must lie in (0, 1) (got {delta!r})")
    n = _n_of(A)
    S2 = level_sums(A, n, 2)
    m = np.arange(2, n + 1)
    full = np.exp(betaln(m - 1, n - m + 1))
    constant = float(S2[2:] @ full)
    tail = float(S2[2:] @ (families.beta_between(m - 1, n - m + 1, delta, 1.0)))
    slope = float(S2[1])
    second = slope * float(families.m1_tail(delta, n)) + tail
    asymptote = slope * (-np.log(delta) - harmonic(n - 1)) + constant
    return LambdaTruncation(delta, second, slope, constant, float(asymptote))


# ====================================================================================== ratios
def ratio_moments(A_num, A_den, *, scheme: str = "time_free") -> RatioMoments:
    """Exact Var coupled, Var decoupled and the covariance term of the log-ratio (§6.4).

    Var_c = Var_M(f_m (A_den - A_num)), Var_d = Var(f A_num) + Var(f A_den),
    Var_d - Var_c = 2 Cov(f A_num, f A_den). For time_free, f = H_n, so these are
    H_n² Var_I(A_y - A_x), H_n²(Var A_x + Var A_y) and 2 H_n² Cov (``docs/theory.md`` §6.4).

    Parameters
    ----------
    A_num, A_den : (2**n,) float arrays
        Tables of the two sequences over the same target set.
    scheme : str, default "time_free"
        One of :func:`ctmc_lab.estimation.registry.ratio_schemes` (built in: time_free, k_dce,
        rb_lambda_dce).
    """
    A_num, A_den = as_mask_table(A_num), as_mask_table(A_den)
    if A_num.shape != A_den.shape or A_num.ndim != 1:
        raise ValueError(f"`A_num` and `A_den` must be single tables of one shape (got {A_num.shape}, {A_den.shape})")
    schemes = ratio_schemes()
    if scheme not in schemes:
        raise ValueError(f"unknown `scheme` {scheme!r}; choose one of {sorted(schemes)}")
    if np.isinf(A_num).any() or np.isinf(A_den).any():
        raise ValueError("a table has infinite entries: the log-ratio is not finite")
    n = _n_of(A_num)
    sch = MaskSizeScheme(scheme, n, *mask_size_law(scheme, n))
    P = sch.mask_probabilities
    f = sch.mask_weights
    gx, gy = f * A_num, f * A_den
    mx, my = P @ gx, P @ gy
    var_x, var_y = P @ (gx - mx) ** 2, P @ (gy - my) ** 2
    var_c = P @ ((gy - gx) - (my - mx)) ** 2
    var_d = var_x + var_y
    cov2 = 2.0 * (P @ ((gx - mx) * (gy - my)))
    return RatioMoments(scheme, float(my - mx), float(var_c), float(var_d), float(cov2))


# ============================================================================ which sampler wins
def zero_variance_distribution(A) -> np.ndarray:
    """P*(M) = B(m, n-m+1) A(M) / NLL: importance sampling from it with g = NLL has zero variance.

    Needs A ≥ 0 (a normalised denoiser) and a positive finite NLL (``docs/theory.md`` §6.5).
    """
    A = as_mask_table(A)
    n = _n_of(A)
    if np.any(A < 0) or np.isinf(A).any():
        raise ValueError("`A` must be finite and non-negative for a zero-variance law")
    w = mask_weights(n) * A
    total = w.sum(axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("the NLL is 0: every estimator is exact, no law is needed")
    return w / total


def best_mask_size_weights(A) -> tuple[np.ndarray, float]:
    """q*_m ∝ sqrt(E[A(M)² | m]) / m over m = 1..n, and the variance it attains.

    Among samplers that draw m ~ q then M uniform with g = A(M)/(m q_m), the variance
    sum_m E[A²|m]/(m² q_m) - NLL² is smallest at q* (Cauchy–Schwarz), with value
    (sum_m sqrt(E[A²|m])/m)² - NLL².
    """
    A = as_mask_table(A)
    if A.ndim != 1:
        raise ValueError("`A` must be one table (2**n,) here")
    n = _n_of(A)
    C = comb(n, np.arange(n + 1))
    rms = np.sqrt(level_sums(A, n, 2)[1:] / C[1:])
    score = rms / np.arange(1, n + 1)
    if score.sum() <= 0:
        return np.full(n, 1.0 / n), 0.0
    q = score / score.sum()
    nll = float(imdce_sum(A))
    return q, float(score.sum() ** 2 - nll**2)


def fit_mask_size_weights(
    denoiser, x0=None, *, pilot_per_size: int = 4, defensive: float = 0.1, rng=None, target=None, context=None
) -> np.ndarray:
    """A practical importance law over m, fitted from a few pilot draws (no knowledge of A).

    For each m = 1..n draw ``pilot_per_size`` uniform masks of size m, estimate
    r_m = sqrt(mean A(M)²), and take q_m ∝ (1-α) r_m/m / sum + α/n (α = ``defensive``; the
    uniform part keeps every q_m > 0, so the estimator stays unbiased even where the pilot
    saw only zeros). Costs n · ``pilot_per_size`` denoiser rows. Use the weights with
    :func:`ctmc_lab.estimation.estimators.mask_size_importance`; their exact variance is
    ``estimator_moments(A, "mask_size_importance", weights=q)``.

    Returns
    -------
    (n,) float array, summing to 1
    """
    if not 0.0 < float(defensive) <= 1.0:
        raise ValueError(f"`defensive` must lie in (0, 1] (got {defensive!r})")
    k = positive_int(pilot_per_size, "pilot_per_size")
    rng = np.random.default_rng(rng)
    oracle = MaskDCE.of(denoiser, x0, target=target, context=context)
    n = oracle.n
    m = np.repeat(np.arange(1, n + 1), k)
    A = oracle(UniformMasks(n).draw(m, rng)).reshape(n, k)
    score = np.sqrt(np.mean(A**2, axis=1)) / np.arange(1, n + 1)
    fitted = score / score.sum() if np.isfinite(score.sum()) and score.sum() > 0 else np.full(n, 1.0 / n)
    q = (1 - defensive) * fitted + defensive / n
    return q / q.sum()


def compare_samplers(A, *, positions=None) -> SamplerComparison:
    """Exact variances of the unbiased samplers at one sequence, the winner, and the optimal laws.

    Parameters
    ----------
    A : (2**n,) float array
    positions : (n,) int array, optional

    Returns
    -------
    SamplerComparison
    """
    A = as_mask_table(A)
    if A.ndim != 1:
        raise ValueError("`A` must be one table (2**n,) here")
    variances = {name: estimator_moments(A, name, positions=positions).variance for name in unbiased_samplers()}
    order = sorted(variances, key=lambda k: variances[k])
    best, second = variances[order[0]], variances[order[1]]
    ratio = lambda v: np.inf if best == 0 else v / best
    q, v_q = best_mask_size_weights(A)
    try:
        p_star = zero_variance_distribution(A)
    except ValueError:
        p_star = None
    return SamplerComparison(
        variances, order[0], float(ratio(second)), float(ratio(variances["time_free"])), q, v_q, p_star
    )
