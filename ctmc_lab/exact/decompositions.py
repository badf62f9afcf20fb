"""The exact NLL decompositions of the paper, each computed independently.

For a clean sequence x0 with p0(x0) > 0:

* ``mdse_integral``: -log p0(x0) = ∫_0^∞ mdse_s(x0, s) ds for any forward generator
  (Theorem 3.2; here absorbing or uniform). Quadrature of the generic DSE over noise
  levels, with the finite-T KL end term (Thm. 3.2 at finite T) added at s_max.
* ``mdce_integral``: -log p0(x0) = ∫_0^1 mdce(x0, λ)/λ dλ = sum_M A(M) B(m, L-m+1)
  (Corollary 3.7), exactly from the subset table (§3.5), no quadrature.
* ``time_free``: -log p0(x0) = H_L E_{I ~ p(I)} sum_{i ∉ I} -log c*(x0^I)_{i, x0^i}
  (Theorem 4.1), by enumerating all 2^L - 1 masks through the optimal *denoiser* c*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctmc_lab import masks
from ctmc_lab._validation import InvalidTypeError, ensure_choice, ensure_real, ensure_tokens
from ctmc_lab.exact.information import kl
from ctmc_lab.exact.mask_dce import exact_nll
from ctmc_lab.exact.quadrature import QuadratureResult, tanh_sinh
from ctmc_lab.exact.scores import mdse
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.sources.denoisers import Denoiser, check_denoiser
from ctmc_lab.sources.joint import JointDistribution

__all__ = ["MdseIntegral", "mdse_integral", "mdce_integral", "time_free_exact", "TIME_FREE_METHODS"]

#: Default upper noise level: KL(p_{s|0} || p_s) < 1e-17 there for N <= 10 (checked by the
#: end term, which is added, not dropped).
S_MAX = 40.0
#: Noise level below which ∫ mdse ds is taken in log space when the λ nodes cannot resolve it.
S_SPLIT = 1e-6
#: Smallest noise level of the log-space piece (kernel entries s/N stay normal floats).
S_FLOOR = 1e-300
#: Width in ln s of one panel of the log-space piece.
_PANEL = 6.0


@dataclass(frozen=True)
class MdseIntegral:
    """∫_0^{s_max} mdse_s ds plus the end term KL at s_max; ``value`` is their sum."""

    value: np.ndarray
    integral: np.ndarray
    end_term: np.ndarray
    quadrature: QuadratureResult


def mdse_integral(
    dist: JointDistribution, generator, x0, *, s_max: float = S_MAX, atol: float = 1e-12, method: str = "auto"
) -> MdseIntegral:
    """-log p0(x0) as ∫_0^{s_max} mdse_s ds + KL(p_{s_max|0} ‖ p_{s_max}) (Theorem 3.2).

    Parameters
    ----------
    dist : JointDistribution
    generator : Generator or str
        A generator, or the name of a registered noise process
        (:data:`~ctmc_lab.forward.generators.NOISE_PROCESSES`) built on ``dist``'s N symbols.
    x0 : (B, L) int array or strings, inside the support
    s_max : float
        Upper noise level; the KL end term there is computed exactly and added.
    atol : float
        Tolerance of the tanh-sinh level difference.

    Notes
    -----
    The integral is taken over λ = 1 - e^{-s} ∈ [0, 1 - e^{-s_max}], where ds = dλ/(1-λ).
    For uniform noise mdse_s has the integrable singularity (n1/N) log(1/s) at s -> 0
    (§2.5); tanh-sinh nodes reach λ ≈ 1e-37 and integrate it to full precision. When
    p0(x0) is so small that the integrand still carries mass below the nodes (their end
    piece exceeds ``atol``), the part below s = 1e-6 is redone in log space down to
    p0(x0) * 1e-14 (at least 1e-300); see ``_split_in_log_space``. The returned
    quadrature's ``converged`` says whether the level differences and end pieces met ``atol``.
    """
    s_max = ensure_real(s_max, "s_max", lo=0.0, lo_open=True)
    atol = ensure_real(atol, "atol", lo=0.0, lo_open=True)
    method = ensure_choice(method, "method", ["auto", "contract", "enumerate", "factored"])
    dist = _joint_table(dist)
    if isinstance(generator, str):
        generator = generators.noise_process(generator).generator(dist.n_tokens)
    elif not isinstance(generator, generators.Generator):
        raise InvalidTypeError(
            f"`generator` must be a Generator or the name of a noise process (got {type(generator).__name__})"
        )
    x0 = dist.encode(x0, name="x0")
    if x0.ndim > 2:
        raise ValueError(f"`x0` must have shape (L,) or (B, L) (got shape {x0.shape})")
    x0 = np.atleast_2d(x0)
    if np.any(dist.prob(x0) == 0):
        raise ValueError("`x0` must lie in the support: its NLL is infinite")
    upper = -np.expm1(-s_max)
    tail = np.exp(-s_max)

    def integrand(lam, from_0, from_upper):
        s = -np.log1p(-from_0) if lam < 0.5 else -np.log(tail + from_upper)
        noised = NoisedDistribution.at_noise_level(dist, generator, s)
        return mdse(noised, x0, method=method) * np.exp(s)  # ds = e^s dλ

    quad = tanh_sinh(integrand, 0.0, upper, atol=atol)
    if not quad.converged:
        quad = _split_in_log_space(dist, generator, x0, integrand, upper, atol, method)
    end = kl(NoisedDistribution.at_noise_level(dist, generator, s_max), x0)
    return MdseIntegral(quad.value + end, quad.value, end, quad)


def _joint_table(dist):
    """``dist`` if it has the subset tables and encoding of a JointDistribution."""
    if not all(callable(getattr(dist, m, None)) for m in ("subset_table", "encode", "prob")):
        raise InvalidTypeError(
            f"`dist` must be a joint table over V^L (a JointDistribution; a Markov chain gives one with "
            f"`chain.joint(length)`) (got {type(dist).__name__})"
        )
    return dist


def _split_in_log_space(dist, generator, x0, integrand, upper, atol, method) -> QuadratureResult:
    """∫ mdse ds as [S_SPLIT, s_max] over λ plus [s_floor, S_SPLIT] over u = ln s, by panels.

    Used when the λ quadrature missed its tolerance, typically because its nodes (which reach
    λ ≈ 1e-37) leave a visible piece near s = 0 or under-resolve a feature just above: for
    p0(x0) tiny, mdse_s ~ 1/s over the decades where x0 stops dominating its own noisy
    states, so ∫ mdse ds = ∫ s mdse_s du has O(1) mass per unit of u down to s ~ p0(x0).
    The floor is p0(x0) * 1e-14 (at least S_FLOOR); below it ∫_0 mdse ds ≈ s mdse_s at the
    floor, which is reported as the tail (the convergence test of the result).
    """
    lam_c = -np.expm1(-S_SPLIT)

    def shifted(lam, from_c, from_upper):
        return integrand(lam, lam_c + from_c, from_upper)

    main = tanh_sinh(shifted, lam_c, upper, atol=atol / 2)
    p_min = float(np.min(dist.prob(x0)))
    u_lo, u_hi = np.log(max(S_FLOOR, p_min * 1e-14)), np.log(S_SPLIT)
    n_panels = max(1, int(np.ceil((u_hi - u_lo) / _PANEL)))
    edges = np.linspace(u_lo, u_hi, n_panels + 1)

    def in_log_space(u, from_lo, from_hi):
        s = float(np.exp(u))
        return mdse(NoisedDistribution.at_noise_level(dist, generator, s), x0, method=method) * s

    value, error, tail, n_eval = main.value.copy(), main.error.copy(), main.tail.copy(), main.n_evaluations
    for lo, hi in zip(edges[:-1], edges[1:]):
        piece = tanh_sinh(in_log_space, float(lo), float(hi), atol=atol / (2 * n_panels))
        value, error, tail = value + piece.value, error + piece.error, tail + piece.tail
        n_eval += piece.n_evaluations
    tail = tail + np.abs(in_log_space(u_lo, 0.0, u_hi - u_lo))  # ≈ ∫_0^{floor} mdse ds
    ok = bool(np.all(error <= atol) and np.all(tail <= atol))
    return QuadratureResult(value, error, n_eval, ok, tail)


def mdce_integral(dist: JointDistribution, x0, *, upper: float = 1.0) -> np.ndarray:
    """∫_0^Λ mdce(x0, λ)/λ dλ = sum_{M≠∅} A(M) B(Λ; m, L-m+1), exactly (Cor 3.7, §3.5).

    The distribution-level entry point of :func:`ctmc_lab.masks.imdce_sum` (which takes the
    A(M) table); its integrand is :func:`ctmc_lab.exact.scores.mdce`. At ``upper = 1`` it is
    -log p0(x0).

    Parameters
    ----------
    dist : JointDistribution
    x0 : (L,) or (B, L) int array or strings
    upper : float
        Λ in [0, 1], the upper masking level.

    Returns
    -------
    float array
        One value per sequence.
    """
    upper = ensure_real(upper, "upper", lo=0.0, hi=1.0)
    A = masks.mask_dce(masks.subset_entropy(_joint_table(dist).subset_table(x0)))
    return masks.imdce_sum(A, upper)


def _subset_source(denoiser):
    """The source behind ``denoiser`` when c* can be read off its subset table, else None.

    A source with a subset table (a JointDistribution) serves itself; an optimal denoiser hands
    out its ``source``. A model has neither, so only the denoiser route applies to it.
    """
    source = getattr(denoiser, "source", denoiser)
    return source if callable(getattr(source, "subset_table", None)) else None


def _time_free_subset(dist: JointDistribution, x0: np.ndarray) -> np.ndarray:
    """Theorem 4.1 with c* read off the subset table: one table per x0, no denoiser calls.

    For a visible set U and a masked position i, c*(x0^U)_{i, x0^i} = P0(x0^{U ∪ {i}}) / P0(x0^U)
    (§3.5), so every term of the time-free sum is a ratio of two table entries. The sum is
    taken per (position, visible set) pair with the weight B(m, L-m+1) of its mask, a
    different order of operations from :func:`mdce_integral` (which sums A(M) first).
    """
    table = dist.subset_table(x0)  # (B, 2^L), indexed by the visible bitmask U
    length = dist.length
    n_sub = 1 << length
    visible = np.arange(n_sub)
    # The weight of a term depends on the mask M = complement of U; B(0, .) = 0 is unused.
    weight = masks.mask_weights(length)[(n_sub - 1) ^ visible]
    out = np.zeros(x0.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(length):
            free = visible[(visible >> i) & 1 == 0]  # U with position i masked
            num, den = table[:, free | (1 << i)], table[:, free]
            # A zero numerator (x0^i impossible in context) makes -log c* = +inf; a zero
            # context only occurs for x0 outside the support, whose NLL is +inf as well.
            neg_log_c = np.where(den > 0, -np.log(num / np.where(den > 0, den, 1.0)), np.inf)
            out += neg_log_c @ weight[free]
    return out


#: Routes to the time-free sum: ``denoiser`` (any Denoiser, through
#: :func:`ctmc_lab.exact.mask_dce.exact_nll`) and ``subset`` (c* from the subset table).
TIME_FREE_METHODS = ("denoiser", "subset")


def time_free_exact(denoiser: Denoiser, x0, *, method: str = "denoiser") -> np.ndarray:
    """H_L sum_{I ⊊ [L]} p(I) sum_{i ∉ I} -log c(x0^I)_{i, x0^i} over all 2^L - 1 masks (Thm. 4.1).

    Parameters
    ----------
    denoiser : Denoiser or JointDistribution
        Any denoiser (a distribution means its optimal c*); with c* this is -log p0(x0),
        with a model its random-order AO-AR NLL.
    x0 : (B, L) int array
    method : {"denoiser", "subset"}
        ``denoiser`` (default) sends the masks through the denoiser itself
        (:func:`ctmc_lab.exact.mask_dce.exact_nll`), not through the subset table, so this route is
        independent of :func:`mdce_integral`. ``subset`` reads c* off the subset table
        P0(x0^U) in one vectorised pass (only for a JointDistribution or its
        OptimalDenoiser; no denoiser calls, so it is the fast path on large tables). The two agree to 1e-12
        (tests/exact/test_fast_paths.py).

    Notes
    -----
    p(I) H_L = B(L-|I|, |I|+1) = B(m, L-m+1) with m the number of masked positions.
    """
    ensure_choice(method, "method", TIME_FREE_METHODS)
    if method == "subset":
        source = _subset_source(denoiser)
        if source is None:
            raise ValueError("`method='subset'` needs a JointDistribution or its OptimalDenoiser as `denoiser`")
        return _time_free_subset(source, np.atleast_2d(source.encode(x0, name="x0")))
    if not callable(denoiser):  # a source stands for its optimal denoiser c*
        if not callable(getattr(denoiser, "denoiser", None)):
            raise InvalidTypeError(
                f"`denoiser` must be a Denoiser or a source with `denoiser(length)` (got {type(denoiser).__name__})"
            )
        x0 = ensure_tokens(x0, denoiser.n_tokens, name="x0")
        denoiser = denoiser.denoiser(x0.shape[-1])
    denoiser = check_denoiser(denoiser)
    x0 = ensure_tokens(x0, denoiser.n_tokens, denoiser.length, name="x0")
    return np.array([exact_nll(denoiser, row) for row in np.atleast_2d(x0)])
