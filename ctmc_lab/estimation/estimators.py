"""Vectorized Monte Carlo likelihood estimators over a ``Denoiser`` (``docs/theory.md`` §4, §6, §8).

Fix x0 and a target set T of n positions (all of [L] by default), a context set C, and let
R = [L] minus (T ∪ C) be the marginalised positions (masked in every model input, never
conditioned on; Cor. 4.3, §4.2). For a mask M ⊆ T with m = |M|,

    A(M) = sum_{i in M} -log c(x0 masked on M ∪ R)_{i, x0^i}          (§3.5, §6)

(:class:`ctmc_lab.exact.mask_dce.MaskDCE`) and the (conditional) NLL is
sum_{M ⊆ T} B(m, n-m+1) A(M) (Thm 4.1 / Cor 4.3). Every estimator draws masks M and returns one
value g per draw. Which estimators exist, how each draws M and what it returns is the
registry's (:mod:`ctmc_lab.estimation.registry`); :func:`estimate` runs any registered one by
name, and the functions below are the built-in ones with their options spelled out.

Masks are int bitmasks over the n target positions (bit j = j-th target position). For
n ≤ 20 every A(M) computed is cached in a table of 2^n entries, so a run of 10^6 draws calls
the denoiser only on the distinct masked inputs it meets (at most 2^n - 1 of them).

Randomness follows SPEC 7: every function takes ``rng`` (anything ``np.random.default_rng``
accepts). The same seed gives the same bits; for every sampler that is not batch-stratified
the draws are also independent of ``batch_size`` (a memory knob), while the batch-stratified
ones (specs with ``stratified=True``: ``k_dce_stratified``, ``lambda_dce_stratified``,
``t_dce``/``t_dse`` with the ``vdm`` sampler, LLaDA's) stratify within each batch, so their
draws depend on it by design.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from scipy.special import comb

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation.registry import EstimatorSpec, estimator_names, get_estimator, mask_size_law
from ctmc_lab.exact.mask_dce import DEFAULT_BATCH, DENSE_CACHE_BITS, MaskDCE
from ctmc_lab.sequences import popcount

__all__ = [
    "DEFAULT_BATCH",
    "DRAW_CHUNK",
    "Estimate",
    "MaskSizeScheme",
    "mask_size_scheme",
    "UniformMasks",
    "time_free",
    "k_dce",
    "rb_lambda_dce",
    "lambda_dce",
    "omit_full_mask",
    "omit_full_mask_token_mean",
    "mask_size_importance",
    "t_dce",
    "t_dse",
    "k_dce_stratified",
    "lambda_dce_stratified",
    "llada_stratified",
    "llada_stratified_fixed",
    "ratio_schemes",
    "log_ratio",
    "prompt_response_log_ratio",
    "ESTIMATORS",
    "estimate",
]

#: Draws taken from the generator per step by the samplers that are not batch-stratified,
#: whatever ``batch_size`` is: their random stream, hence their estimate, does not depend on
#: ``batch_size``, which only sets how many inputs go to the denoiser at once (memory).
#: Equal to DEFAULT_BATCH, so runs at the default batch size draw as they always did.
DRAW_CHUNK = DEFAULT_BATCH


# ===================================================================================== records
@dataclass(frozen=True, eq=False)
class Estimate:
    """A Monte Carlo estimate of an NLL (or log-ratio) in nats.

    Attributes
    ----------
    estimator : str
        The estimator's name (a key of :mod:`ctmc_lab.estimation.registry`).
    mean : float
        The sample mean of the single-draw values g.
    stderr : float
        Its standard error: ``std(g, ddof=1)/sqrt(n)`` for i.i.d. draws; for batch-stratified
        samplers (``EstimatorSpec.stratified``) the standard deviation of the batch means over
        sqrt(number of batches), since draws within a batch are dependent.
    n_samples : int
        Number of draws.
    values : (n_samples,) float array or None
        The per-draw values, when requested with ``return_values=True`` (read-only).
    """

    estimator: str
    mean: float
    stderr: float
    n_samples: int
    values: np.ndarray | None = field(default=None, repr=False)


# ============================================================================ mask-size schemes
@dataclass(frozen=True, eq=False)
class MaskSizeScheme:
    """An estimator that draws m ~ q, then M uniform among the C(n, m) masks of size m, and
    returns g = f_m A(M).

    Attributes
    ----------
    name : str
    n : int
        Target length.
    q : (n+1,) float array
        P(m) for m = 0..n (sums to 1).
    f : (n+1,) float array
        The value weight f_m (f_0 multiplies A(∅) = 0).

    Notes
    -----
    E[g] = sum_m q_m f_m Ā_m with Ā_m the mean of A over masks of size m, so the scheme is
    unbiased for sum_M B(m, n-m+1) A(M) = sum_m Ā_m / m exactly when q_m f_m = 1/m for every
    m ≥ 1 (Thm 4.1; ``docs/theory.md`` §4.1, §6.1–6.2).
    """

    name: str
    n: int
    q: np.ndarray
    f: np.ndarray

    @property
    def mask_probabilities(self) -> np.ndarray:
        """P(M) = q_m / C(n, m) for each local mask bitmask, shape (2^n,)."""
        m = popcount(np.arange(1 << self.n))
        return self.q[m] / comb(self.n, m)

    @property
    def unbiased(self) -> bool:
        """q_m f_m = 1/m for m = 1..n (to 1e-13 relative): E g is the NLL for every A (Thm 4.1)."""
        m = np.arange(1, self.n + 1)
        return bool(np.allclose(self.q[1:] * self.f[1:], 1.0 / m, rtol=1e-13, atol=0))


def mask_size_scheme(name: str, n: int, *, weights=None) -> MaskSizeScheme:
    """The :class:`MaskSizeScheme` of a registered mask-size estimator on a target of length n.

    Parameters
    ----------
    name : str
        An estimator of family ``"mask"`` in :mod:`ctmc_lab.estimation.registry` (built in:
        ``time_free``, ``k_dce``, ``k_dce_stratified``, ``rb_lambda_dce``, ``omit_full_mask``,
        ``omit_full_mask_token_mean``, ``mask_size_importance``), or one a user registered.
    n : int
        Target length (at least the spec's ``min_length``; ``omit_*`` need n ≥ 2).
    weights : (n,) or (n+1,) float array, optional
        For ``mask_size_importance``: unnormalised P(m) over m = 1..n (or 0..n, weight of
        m = 0 ignored). A zero weight at level m keeps the estimator unbiased only if A(M) = 0
        for every mask of size m (as for small m with c* on a sparse support).

    Notes
    -----
    The built-in laws (Thm 4.1, Eq. 15; ``docs/theory.md`` §6.1–6.2, §8):

    ============================  ===========================  ======================
    name                          q_m                          f_m
    ============================  ===========================  ======================
    time_free                     1/(m H_n), m ≥ 1             H_n
    k_dce                         1/n, m ≥ 1                   n/m
    rb_lambda_dce                 1/(n+1), m ≥ 0               (n+1)/m (0 at m = 0)
    omit_full_mask                1/(m H_{n-1}), 1 ≤ m ≤ n-1   H_n
    omit_full_mask_token_mean     1/(m H_{n-1}), 1 ≤ m ≤ n-1   H_n/m
    mask_size_importance          weights_m / sum              1/(m q_m)
    ============================  ===========================  ======================
    """
    q, f = mask_size_law(name, n, weights=weights)
    return MaskSizeScheme(name, int(n), q, f)


# ====================================================================================== samplers
class UniformMasks:
    """Masks of given sizes over n bits, each uniform among the C(n, m) of its size.

    By table lookup for n ≤ 20 (the masks sorted by size), else by ranking n random keys
    per draw and keeping the m smallest.

    Parameters
    ----------
    n : int
        Number of bits (the target length).
    """

    def __init__(self, n: int):
        self.n = n
        self.counts = np.array([comb(n, k, exact=True) for k in range(n + 1)], dtype=np.int64)
        if n <= DENSE_CACHE_BITS:
            masks = np.arange(1 << n, dtype=np.int64)
            order = np.argsort(popcount(masks), kind="stable")
            self.sorted = masks[order]
            self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def draw(self, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniform mask of size ``m[k]`` for each k, as int64 local bitmasks."""
        m = np.asarray(m, dtype=np.int64)
        if self.n <= DENSE_CACHE_BITS:
            return self.sorted[self.offsets[m] + rng.integers(0, self.counts[m])]
        keys = rng.random((m.size, self.n))
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        chosen = ranks < m[:, None]
        return (chosen.astype(np.int64) << np.arange(self.n)).sum(axis=1)


def _batches(n_samples: int, batch_size: int):
    for lo in range(0, n_samples, batch_size):
        yield min(batch_size, n_samples - lo)


def _check_run(n_samples, batch_size, *, stratified: bool):
    n_samples = positive_int(n_samples, "n_samples")
    batch_size = positive_int(batch_size, "batch_size")
    if stratified:
        if n_samples % batch_size or n_samples // batch_size < 2:
            raise ValueError(
                f"a batch-stratified sampler needs `n_samples` to be a multiple of `batch_size` with at "
                f"least 2 batches, for an honest standard error (got n_samples={n_samples}, "
                f"batch_size={batch_size})"
            )
    return n_samples, batch_size


def _record(name: str, values: np.ndarray, *, batch_size: int | None, return_values: bool) -> Estimate:
    values = np.asarray(values, dtype=float)
    n = values.size
    mean = float(values.mean())
    if not np.isfinite(mean):
        stderr = np.inf if mean == np.inf else np.nan
    elif batch_size is None:
        stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf
    else:
        means = values.reshape(-1, batch_size).mean(axis=1)
        stderr = float(means.std(ddof=1) / np.sqrt(means.size))
    if return_values:
        values.setflags(write=False)
    return Estimate(name, mean, float(stderr), n, values if return_values else None)


def _run_scheme(scheme: MaskSizeScheme, oracle: MaskDCE, n_samples, rng, batch_size, *, stratified=False):
    sizes = UniformMasks(oracle.n)
    cdf = np.cumsum(scheme.q)
    cdf /= cdf[-1]
    out = np.empty(n_samples)
    lo = 0
    for k in _batches(n_samples, batch_size if stratified else DRAW_CHUNK):
        if stratified:
            # Evenly spaced mask counts: v_j = (j + u_j)/B covers [0,1) once per batch, so the
            # batch mean is unbiased while each m appears about B q_m times.
            v = (np.arange(k) + rng.random(k)) / k
        else:
            v = rng.random(k)
        m = np.minimum(np.searchsorted(cdf, v, side="right"), oracle.n)
        local = sizes.draw(m, rng)
        out[lo : lo + k] = scheme.f[m] * oracle(local)
        lo += k
    return out


# ========================================================================= runners per family
def _run_mask(
    spec: EstimatorSpec,
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    weights=None,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=spec.stratified)
    oracle = MaskDCE.of(denoiser, x0, target=target, context=context, batch_size=batch_size)
    scheme = mask_size_scheme(spec.name, oracle.n, weights=weights)
    values = _run_scheme(scheme, oracle, n_samples, rng, batch_size, stratified=spec.stratified)
    return _record(spec.name, values, batch_size=batch_size if spec.stratified else None, return_values=return_values)


def _run_lambda(
    spec: EstimatorSpec,
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    stratified = spec.stratified
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=stratified)
    oracle = MaskDCE.of(denoiser, x0, target=target, context=context, batch_size=batch_size)
    sizes = UniformMasks(oracle.n)
    out = np.empty(n_samples)
    lo = 0
    for k in _batches(n_samples, batch_size if stratified else DRAW_CHUNK):
        u = rng.random(k)
        # 1 - U lies in (0, 1]: λ = 0 (a division by zero) cannot occur.
        lam = (np.arange(k) + 1.0 - u) / k if stratified else 1.0 - u
        # M ~ Bern(λ)^n has the law of (m ~ Binomial(n, λ), then M uniform of size m).
        m = rng.binomial(oracle.n, lam)
        out[lo : lo + k] = oracle(sizes.draw(m, rng)) / lam
        lo += k
    return _record(spec.name, out, batch_size=batch_size if stratified else None, return_values=return_values)


_T_SAMPLERS = ("vdm", "plain")


def _run_time(
    spec: EstimatorSpec,
    denoiser,
    x0=None,
    *,
    schedule,
    eps_s: float = 1e-3,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    sampler: str | None = None,
    score_log: bool = True,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    from ctmc_lab.forward.schedules import Schedule

    kind = spec.name
    if not isinstance(schedule, Schedule):
        raise ValueError(f"`schedule` must be a ctmc_lab.forward.schedules.Schedule (got {type(schedule).__name__})")
    eps_s = float(eps_s)
    if not 0.0 <= eps_s < 1.0:
        raise ValueError(f"`eps_s` must lie in [0, 1) (got {eps_s!r})")
    if sampler is None:
        sampler = "vdm" if spec.stratified else "plain"
    if sampler not in _T_SAMPLERS:
        raise ValueError(f"unknown `sampler` {sampler!r}; choose one of {list(_T_SAMPLERS)}")
    stratified = sampler == "vdm"
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=stratified)
    oracle = MaskDCE.of(denoiser, x0, target=target, context=context, batch_size=batch_size)
    sizes = UniformMasks(oracle.n)
    out = np.empty(n_samples)
    lo = 0
    for k in _batches(n_samples, batch_size if stratified else DRAW_CHUNK):
        if stratified:  # infodis Batch_Uniform_Sampler(type="vdm"): one u0 per batch
            u = (rng.random() + np.arange(k) / k) % 1.0
        else:
            u = rng.random(k)
        t = (1.0 - eps_s) * u + eps_s
        sigma_bar = np.asarray(schedule.sigma_bar(t), dtype=float)
        sigma = np.asarray(schedule.sigma(t), dtype=float)
        lam = -np.expm1(-sigma_bar)
        esigm1 = np.expm1(sigma_bar)
        # Lemma 3.3 weight σ(t)/(e^σ̄ - 1) = σ(1-λ)/λ; at t = 0 (eps_s = 0, u = 0) no mask is drawn.
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(lam > 0, sigma / esigm1, 0.0)
        m = rng.binomial(oracle.n, lam)
        local = sizes.draw(m, rng)
        if kind == "t_dce":
            A = oracle(local)
            with np.errstate(divide="ignore"):
                offset = m * np.log(esigm1) if score_log else 0.0
            val = w * (A + np.where(m > 0, offset, 0.0))
        else:
            A, D = oracle(local, with_defect=True)
            val = w * (A + D)
        out[lo : lo + k] = np.where(m > 0, val, 0.0)
        lo += k
    name = kind if (kind == "t_dse" or score_log) else "t_dce_true"
    return _record(name, out, batch_size=batch_size if stratified else None, return_values=return_values)


def _run_llada(spec: EstimatorSpec, denoiser, x0=None, **options) -> Estimate:
    from ctmc_lab.estimation.llada import llada_estimate

    return llada_estimate(denoiser, x0, rule=spec.count_rule, **options)


_RUNNERS = {"mask": _run_mask, "lambda": _run_lambda, "time": _run_time, "llada": _run_llada}


# ========================================================================= the built-in estimators
def time_free(
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """The paper's time-free estimator: P(m) ∝ 1/m on 1..n, M uniform of size m, g = H_n A(M).

    Unbiased for -log p_θ(x0^T | x0^C) = sum_M B(m, n-m+1) A(M) (Thm 4.1, Eq. 15; Cor. 4.3,
    Eq. 17; ``docs/theory.md`` §4.1). The fully masked set (m = n) is included (§8 item 5).

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`, which keeps its
        cache across calls).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g.
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Denoiser inputs per call (a memory knob: the draws do not depend on it).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2): masks over ``target`` only,
        ``context`` always visible, every other position masked; H_n uses n = |target|.
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate

    Examples
    --------
    >>> from ctmc_lab.sources.datasets import dna128
    >>> from ctmc_lab.sources.denoisers import OptimalDenoiser
    >>> p = dna128(); x0 = p.support[0]
    >>> est = time_free(OptimalDenoiser(p), x0, n_samples=20000, rng=0)
    >>> abs(est.mean - p.nll(x0)) < 5 * est.stderr
    True
    """
    return _run_mask(
        get_estimator("time_free"),
        denoiser,
        x0,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


def rb_lambda_dce(
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """Rao–Blackwellised λ-DCE: m ~ U{0..n}, M uniform of size m, g = (n+1)/m A(M) (0 at m = 0).

    It is E[λ-DCE | M], since E[1/λ | M] = (n+1)/m under λ ~ U(0,1) (S9; ``docs/theory.md``
    §4.1 (c), §6.2); unbiased for sum_M B(m, n-m+1) A(M) (Thm 4.1).

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g.
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Denoiser inputs per call (a memory knob: the draws do not depend on it).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
    """
    return _run_mask(
        get_estimator("rb_lambda_dce"),
        denoiser,
        x0,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


def omit_full_mask(
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """The off-by-one sampler of ``eval_llada.py``/``eval_text8.py`` (``docs/theory.md`` §8):
    m from 1..n-1 with P(m) ∝ 1/m (the fully masked set is never drawn), g = H_n A(M).

    Biased: E[g] = (H_n/H_{n-1}) sum_{k≥1} Ā_k/(n-k), Ā_k the mean of A over masks with k
    visible target positions, against Thm 4.1's sum_m Ā_m/m. Needs n ≥ 2.

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g.
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Denoiser inputs per call (a memory knob: the draws do not depend on it).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
    """
    return _run_mask(
        get_estimator("omit_full_mask"),
        denoiser,
        x0,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


def omit_full_mask_token_mean(
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """``eval_text8.py``'s statistic (``docs/theory.md`` §8): the :func:`omit_full_mask` sampler
    with the per-token mean g = H_n A(M)/m. Not an NLL estimate (q_m f_m ≠ 1/m, Thm 4.1).

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g.
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Denoiser inputs per call (a memory knob: the draws do not depend on it).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
    """
    return _run_mask(
        get_estimator("omit_full_mask_token_mean"),
        denoiser,
        x0,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


def k_dce(
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    stratified=False,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """k-DCE (RADD ``k_DCE_loss``): m ~ U{1..n}, M uniform of size m, g = (n/m) A(M).

    Unbiased: q_m f_m = (1/n)(n/m) = 1/m (Thm 4.1). With ``stratified=True`` (the registry's
    ``k_dce_stratified``) each batch of B draws uses evenly spaced mask counts,
    m_j = 1 + floor(n (j + u_j)/B), u_j ~ U(0,1): each batch mean stays unbiased and its
    variance drops; the standard error then comes from the batch means (``docs/theory.md``
    §4.1 (b), §6.2).

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g (a multiple of ``batch_size``, ≥ 2 batches, when stratified).
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Draws per vectorized step, and per stratification batch when stratified.
    stratified : bool, default False
        Evenly spaced mask counts per batch of ``batch_size`` draws.
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
        Named ``k_dce`` or ``k_dce_stratified``.
    """
    return _run_mask(
        get_estimator("k_dce_stratified" if stratified else "k_dce"),
        denoiser,
        x0,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


def mask_size_importance(
    denoiser,
    x0=None,
    *,
    weights,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """Importance sampling over the mask size: m ~ q ∝ ``weights``, M uniform, g = A(M)/(m q_m).

    Unbiased for any positive weights, since q_m f_m = 1/m (Thm 4.1; ``docs/theory.md`` §6.5).
    Within this family the variance is smallest at q_m ∝ sqrt(E[A² | m])/m;
    :func:`ctmc_lab.estimation.moments.fit_mask_size_weights` estimates those weights from a few
    pilot draws.

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    weights : (n,) float array
        Unnormalised P(m) for m = 1..n; positive wherever A can be non-zero.
    n_samples : int
        Number of single-draw values g.
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Denoiser inputs per call (a memory knob: the draws do not depend on it).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
    """
    return _run_mask(
        get_estimator("mask_size_importance"),
        denoiser,
        x0,
        weights=weights,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


_LAMBDA_SAMPLERS = ("plain", "stratified")


def lambda_dce(
    denoiser,
    x0=None,
    *,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    sampler: str = "plain",
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """λ-DCE, the time-integral estimator: λ ~ U(0,1), M ~ Bern(λ)^n, g = A(M)/λ.

    Unbiased (Cor. 3.7 at Λ = 1; Eq. 16; RADD ``lambda_DCE_loss``), but its variance is
    infinite as soon as some singleton term a_i = A({i}) is positive (``docs/theory.md`` §6.3):
    the sample variance then grows like ½ sum_i a_i² ln n.

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g (a multiple of ``batch_size``, ≥ 2 batches, when stratified).
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Draws per vectorized step, and per stratification batch when stratified.
    sampler : {"plain", "stratified"}
        ``"stratified"`` (the registry's ``lambda_dce_stratified``) is infodis' ``decoupled``
        batch sampler λ_j = (j + u_j)/B within each batch of ``batch_size`` draws (its first
        stratum still reaches λ → 0).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
        Named ``lambda_dce`` or ``lambda_dce_stratified``.
    """
    if sampler not in _LAMBDA_SAMPLERS:
        raise ValueError(f"unknown `sampler` {sampler!r}; choose one of {list(_LAMBDA_SAMPLERS)}")
    return _run_lambda(
        get_estimator("lambda_dce_stratified" if sampler == "stratified" else "lambda_dce"),
        denoiser,
        x0,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        target=target,
        context=context,
        return_values=return_values,
    )


def t_dce(
    denoiser,
    x0=None,
    *,
    schedule,
    eps_s: float = 1e-3,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    sampler: str = "vdm",
    score_log: bool = True,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """The time-sampled DCE loss of RADD/infodis ``t_DCE_loss``, as the code computes it.

    g = σ(t)/(e^σ̄(t) - 1) · sum_{i in M} [-log c_{i,x0^i} + log(e^σ̄(t) - 1)], with
    M ~ Bern(λ(t))^n and t = (1-ε_s)u + ε_s (Lemma 3.3; ``docs/theory.md`` §6.3, §8). The code
    scores with the log of the score s = c/(e^σ̄ - 1) (``score_log=True``); ``score_log=False``
    gives the true t-DCE, σ/(e^σ̄-1) A(M). Both are biased by the truncation at ε_s, the missing
    1/(1-ε_s) and, for loglinear(ε), the unreached λ ∈ (1-ε, 1].

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    schedule : ctmc_lab.forward.schedules.Schedule
        The noise schedule (σ̄(t), σ(t)); the code default is ``Loglinear(1e-3)``.
    eps_s : float, default 1e-3
        The sampling floor: t = (1 - eps_s) u + eps_s with u ~ U(0,1), as ``sampling_eps`` in
        SEDD/RADD/infodis. The density of t is not corrected by 1/(1 - eps_s).
    n_samples : int
        Number of single-draw values g (a multiple of ``batch_size``, ≥ 2 batches, for ``vdm``).
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Draws per vectorized step, and per stratification batch of the ``vdm`` sampler.
    sampler : {"vdm", "plain"}, default "vdm"
        ``"vdm"`` is the code's ``Batch_Uniform_Sampler(type="vdm")``: u_j = (u_0 + j/B) mod 1 with
        one u_0 per batch of ``batch_size``; ``"plain"`` draws u i.i.d.
    score_log : bool, default True
        Add the code's log(e^σ̄ - 1) per masked token.
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
        Named ``t_dce``, or ``t_dce_true`` with ``score_log=False``.
    """
    return _run_time(
        get_estimator("t_dce"),
        denoiser,
        x0,
        schedule=schedule,
        eps_s=eps_s,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        sampler=sampler,
        score_log=score_log,
        target=target,
        context=context,
        return_values=return_values,
    )


def t_dse(
    denoiser,
    x0=None,
    *,
    schedule,
    eps_s: float = 1e-3,
    n_samples: int,
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    sampler: str = "vdm",
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """The time-sampled DSE loss of SEDD/RADD/infodis ``t_DSE_loss`` with the score s = c/(e^σ̄-1).

    By Lemma 3.3 with its correction for unnormalised rows (``docs/theory.md`` §3.2, §8 item 2),
    the code's value is g = σ(t)/(e^σ̄(t)-1) · [A(M) + sum_{i in M} (sum_v c_{i,v} - 1)], with
    M ~ Bern(λ(t))^n and t = (1-ε_s)u + ε_s. For a normalised c it equals the true t-DCE.

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    schedule : ctmc_lab.forward.schedules.Schedule
        The noise schedule (σ̄(t), σ(t)); the code default is ``Loglinear(1e-3)``.
    eps_s : float, default 1e-3
        The sampling floor: t = (1 - eps_s) u + eps_s with u ~ U(0,1), as ``sampling_eps`` in
        SEDD/RADD/infodis. The density of t is not corrected by 1/(1 - eps_s).
    n_samples : int
        Number of single-draw values g (a multiple of ``batch_size``, ≥ 2 batches, for ``vdm``).
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Draws per vectorized step, and per stratification batch of the ``vdm`` sampler.
    sampler : {"vdm", "plain"}, default "vdm"
        ``"vdm"`` is the code's ``Batch_Uniform_Sampler(type="vdm")``: u_j = (u_0 + j/B) mod 1 with
        one u_0 per batch of ``batch_size``; ``"plain"`` draws u i.i.d.
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2).
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
    """
    return _run_time(
        get_estimator("t_dse"),
        denoiser,
        x0,
        schedule=schedule,
        eps_s=eps_s,
        n_samples=n_samples,
        rng=rng,
        batch_size=batch_size,
        sampler=sampler,
        score_log=False,
        target=target,
        context=context,
        return_values=return_values,
    )


def k_dce_stratified(denoiser, x0=None, **options) -> Estimate:
    """:func:`k_dce` with ``stratified=True``: evenly spaced mask counts per batch (§6.2); options as there."""
    return k_dce(denoiser, x0, stratified=True, **options)


def lambda_dce_stratified(denoiser, x0=None, **options) -> Estimate:
    """:func:`lambda_dce` with ``sampler="stratified"``: infodis' λ_j = (j + u_j)/B (§6.3); options as there."""
    return lambda_dce(denoiser, x0, sampler="stratified", **options)


def llada_stratified(denoiser, x0=None, **options) -> Estimate:
    """LLaDA's ``get_log_likelihood`` (defaults ``batch_size=16``, ``n_samples=128`` = mc_num):
    :func:`ctmc_lab.estimation.llada.llada_estimate` with its own count rule. Biased unless every
    row's count is uniform (the bias (★) of :mod:`ctmc_lab.estimation.llada`; ``docs/theory.md`` §8)."""
    return _run_llada(get_estimator("llada_stratified"), denoiser, x0, **options)


def llada_stratified_fixed(denoiser, x0=None, **options) -> Estimate:
    """LLaDA's evaluator with the integer count rule k + floor(j n/B) mod n: every row's count is
    uniform on 1..n, so it is unbiased for every (n, B) (Thm 4.1; :mod:`ctmc_lab.estimation.llada`)."""
    return _run_llada(get_estimator("llada_stratified_fixed"), denoiser, x0, **options)


# ================================================================================ by name
class _ByName(Mapping):
    """The estimators that run by name with default options, read live from the registry."""

    def __getitem__(self, name):
        if name not in estimator_names(by_name=True):
            raise KeyError(name)
        return partial(estimate, name)

    def __iter__(self):
        return iter(estimator_names(by_name=True))

    def __len__(self):
        return len(estimator_names(by_name=True))

    def __repr__(self):
        return f"ESTIMATORS({list(self)})"


#: The estimators that run by name, ``ESTIMATORS[name](denoiser, x0, **options)``: every registered
#: spec with ``by_name`` (all but those needing ``weights``), including ones a user registers later.
ESTIMATORS = _ByName()


def estimate(name: str, denoiser, x0=None, **options) -> Estimate:
    """Run the registered estimator called ``name``; an unknown name lists them.

    Parameters
    ----------
    name : str
        A key of :mod:`ctmc_lab.estimation.registry` (built in or registered by the user).
    denoiser : Denoiser or MaskDCE
    x0 : (L,) int array
    **options
        The estimator's options (``n_samples``, ``rng``, ``batch_size``, ``target``,
        ``context``, ``return_values``; ``weights`` for a law that needs them; ``schedule``,
        ``eps_s``, ``sampler``, ``score_log`` for the t-estimators; ``rule``-free options of
        :func:`ctmc_lab.estimation.llada.llada_estimate` for LLaDA's).

    Returns
    -------
    Estimate

    Notes
    -----
    The sampler is the spec's: a mask-size law (m ~ q_m, g = f_m A(M); Thm 4.1, §6.1–6.2), λ-DCE
    (Eq. 16), the code's t-estimators (§8; default schedule ``Loglinear(1e-3)``) or LLaDA's
    count rules.
    """
    spec = get_estimator(name)
    if spec.needs_schedule and "schedule" not in options:
        from ctmc_lab.forward.schedules import Loglinear

        options["schedule"] = Loglinear(1e-3)
    return _RUNNERS[spec.family](spec, denoiser, x0, **options)


# ===================================================================================== ratios
def ratio_schemes() -> tuple[str, ...]:
    """The mask-size schemes a log-ratio may use: registered, unbiased, i.i.d., without weights (Eq. 18)."""
    return estimator_names(family="mask", biased=False, stratified=False, needs_weights=False)


def log_ratio(
    denoiser,
    x_num,
    x_den,
    *,
    n_samples: int,
    coupled: bool = True,
    scheme: str = "time_free",
    rng=None,
    batch_size: int = DEFAULT_BATCH,
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """Estimate log p_θ(x_num) - log p_θ(x_den) with shared (coupled) or independent masks.

    Coupled (Eq. 18; ``docs/theory.md`` §4.3): one mask M per draw, applied to both sequences,
    g = f_m [A_den(M) - A_num(M)]. Decoupled: independent masks M, M',
    g = f_m A_den(M) - f_m' A_num(M'). Both are unbiased; coupling helps only when
    Cov(A_num, A_den) > 0 (§6.4).

    Parameters
    ----------
    denoiser : Denoiser
    x_num, x_den : (L,) int arrays
        The two sequences (same length and index sets, §8 item 7). With ``context``, they must
        agree on the context positions (one prompt, two responses).
    n_samples : int
    coupled : bool, default True
    scheme : str, default "time_free"
        The unbiased mask sampler of each term: one of :func:`ratio_schemes` (built in:
        ``time_free``, ``k_dce``, ``rb_lambda_dce``).
    rng, batch_size, target, context, return_values
        As in :func:`time_free`.

    Returns
    -------
    Estimate
    """
    schemes = ratio_schemes()
    if scheme not in schemes:
        raise ValueError(f"unknown `scheme` {scheme!r}; choose one of {sorted(schemes)}")
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=False)
    num = MaskDCE(denoiser, x_num, target=target, context=context, batch_size=max(batch_size, 256))
    den = MaskDCE(denoiser, x_den, target=target, context=context, batch_size=max(batch_size, 256))
    if num.context.size and np.any(num.x0[num.context] != den.x0[den.context]):
        raise ValueError("`x_num` and `x_den` must agree on the `context` positions (one shared prompt)")
    sch = mask_size_scheme(scheme, num.n)
    sizes = UniformMasks(num.n)
    cdf = np.cumsum(sch.q)
    cdf /= cdf[-1]
    out = np.empty(n_samples)
    lo = 0
    for k in _batches(n_samples, DRAW_CHUNK):
        m = np.minimum(np.searchsorted(cdf, rng.random(k), side="right"), num.n)
        local = sizes.draw(m, rng)
        if coupled:
            out[lo : lo + k] = sch.f[m] * (den(local) - num(local))
        else:
            m2 = np.minimum(np.searchsorted(cdf, rng.random(k), side="right"), num.n)
            local2 = sizes.draw(m2, rng)
            out[lo : lo + k] = sch.f[m] * den(local) - sch.f[m2] * num(local2)
        lo += k
    name = f"log_ratio_{'coupled' if coupled else 'decoupled'}_{scheme}"
    return _record(name, out, batch_size=None, return_values=return_values)


def prompt_response_log_ratio(denoiser, prompt, response_num, response_den, **options) -> Estimate:
    """log p_θ(y⁺ | x_p) - log p_θ(y⁻ | x_p) for two responses to one prompt (§4.3, BeaverTails).

    The model input is the prompt followed by the response, so ``denoiser.length`` must be
    ``len(prompt) + len(response)``; the target is the response positions and H_n uses the
    response length. Options are those of :func:`log_ratio`.
    """
    prompt = np.asarray(prompt)
    y_num, y_den = np.asarray(response_num), np.asarray(response_den)
    if y_num.shape != y_den.shape or y_num.ndim != 1:
        raise ValueError(f"the two responses must be 1-D of equal length (got {y_num.shape} and {y_den.shape})")
    p = prompt.size
    total = p + y_num.size
    if total != denoiser.length:
        raise ValueError(f"len(prompt) + len(response) = {total}, but the denoiser takes length {denoiser.length}")
    for key in ("target", "context"):
        if key in options:
            raise ValueError(f"`{key}` is fixed by the prompt/response split")
    return log_ratio(
        denoiser,
        np.concatenate([prompt, y_num]),
        np.concatenate([prompt, y_den]),
        target=np.arange(p, total),
        context=np.arange(p),
        **options,
    )
