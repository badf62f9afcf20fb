"""Conditional likelihood: Theorem 4.2, Corollary 4.3 and the coupled log-ratio (``docs/theory.md`` §4.2, §4.3).

Positions of a sequence ``x`` of length L split three ways:

* the **target** I1 (n positions): the tokens whose likelihood is wanted; only they are masked;
* the **context** I2: always visible, conditioned on;
* the **marginalised** rest R = [L] ∖ (I1 ∪ I2): masked in every model input and never
  conditioned on (§8 items 5–6).

With A(M) = Σ_{i∈M} -log p0(x^i | x^{(I1∖M) ∪ I2}) for M ⊆ I1 (the DCE of the masked target),

* Corollary 4.3 (time-free): ``-log p0(x^{I1} | x^{I2}) = Σ_{M≠∅} B(m, n-m+1) A(M)
  = H_n E_{J~p(J)}[A(I1∖J)]``, with the harmonic number of the **target** length n;
* Theorem 4.2 (integral form): the same quantity is ``∫_0^1 (1/λ) E_{M~Bern(λ)^{I1}}[A(M)] dλ``.

A source is anything that implements :class:`ctmc_lab.sources.base.Source` (a
:class:`~ctmc_lab.sources.joint.JointDistribution`, a :class:`~ctmc_lab.sources.markov.chain.MarkovChain`
for stationary windows, ``chain.continuing(prompt)`` or ``start=prompt`` for windows continuing a
prompt, or a user's class): every function here calls its members and never asks its type. A
model (a :class:`~ctmc_lab.sources.denoisers.Denoiser`) has no marginals; its own time-free value
and A-table come from :func:`model_likelihood`. Monte Carlo runs the estimators of
:mod:`ctmc_lab.estimation.estimators` in their conditional form, and the exact moments come from
:mod:`ctmc_lab.estimation.moments`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad

from ctmc_lab._validation import (
    ensure_choice,
    ensure_int,
    ensure_mask_table,
    ensure_real,
    ensure_rng,
    ensure_tokens,
    positive_int,
)
from ctmc_lab.estimation import estimators as _est
from ctmc_lab.estimation import moments as _mom
from ctmc_lab.estimation.registry import estimator_names, ratio_schemes
from ctmc_lab.exact.mask_dce import DEFAULT_BATCH, MaskDCE, mask_dce_table
from ctmc_lab.masks import harmonic, imdce_sum
from ctmc_lab.sequences import as_positions, popcount
from ctmc_lab.sources.base import check_source
from ctmc_lab.sources.denoisers import check_denoiser

__all__ = [
    "Split",
    "split_positions",
    "ConditionalLikelihood",
    "conditional_nll",
    "conditional_mask_dce",
    "conditional_likelihood",
    "model_likelihood",
    "theorem42_integral",
    "mask_dce_oracle",
    "conditional_estimate",
    "ConditionalRatio",
    "conditional_log_ratio",
    "mask_dce_methods",
]


# ================================================================================ positions
@dataclass(frozen=True)
class Split:
    """The three position sets of a conditional query (sorted tuples of positions)."""

    target: tuple[int, ...]
    context: tuple[int, ...]
    marginalised: tuple[int, ...]

    @property
    def n(self) -> int:
        """|I1|, the target length that sets the harmonic number H_n (Cor. 4.3)."""
        return len(self.target)


def split_positions(length: int, target=None, context=None) -> Split:
    """Validate target/context positions (lists or ``(L,)`` bool masks); the rest is marginalised.

    ``target=None`` means every position not in the context.
    """
    length = ensure_int(length, "length", minimum=1)
    ctx = np.zeros(0, np.int64) if context is None else as_positions(context, length, "context")
    if target is None:
        tgt = np.setdiff1d(np.arange(length), ctx)
    else:
        tgt = as_positions(target, length, "target")
    if tgt.size == 0:
        raise ValueError("`target` must contain at least one position")
    both = np.intersect1d(tgt, ctx)
    if both.size:
        raise ValueError(f"`target` and `context` must be disjoint (both hold {both.tolist()})")
    rest = np.setdiff1d(np.arange(length), np.union1d(tgt, ctx))
    return Split(tuple(map(int, tgt)), tuple(map(int, ctx)), tuple(map(int, rest)))


def _bind(source, start):
    """The source of the query: ``source`` itself, or for ``start`` its continuation of that prompt."""
    check_source(source)
    if start is None:
        return source
    continuing = getattr(source, "continuing", None)
    if continuing is None:
        raise ValueError("`start` applies to a MarkovChain source only (a source with `continuing(start)`)")
    return continuing(start)


def _prepare(source, x, target, context):
    """Encoded clean x and its Split (with the checks every entry point needs)."""
    x = source.encode(x)
    if x.ndim != 1:
        raise ValueError(f"`x` must be one sequence (got shape {x.shape})")
    return x, split_positions(x.shape[0], target, context)


def mask_dce_methods(source) -> tuple[str, ...]:
    """The A-table routes for ``source``: its own exact ones, then ``"denoiser"`` (its c* on every mask)."""
    return (*check_source(source, members=("mask_dce_methods",)).mask_dce_methods, "denoiser")


def _with_mask(x, positions, mask_id):
    out = x.copy()
    out[list(positions)] = mask_id
    return out


# =============================================================================== exact values
def conditional_nll(source, x, *, target=None, context=None, start=None) -> float:
    """The true ``-log p0(x^{I1} | x^{I2})``, directly from two marginals.

    ``log P(x^{I2}) - log P(x^{I1 ∪ I2})``, each summing out the marginalised positions; for a
    MarkovChain both are forward passes (§5.4). No masks, no time-free sum: this is the
    reference the identities are checked against.

    Parameters
    ----------
    source : Source
        Any :class:`~ctmc_lab.sources.base.Source` (its ``log_marginal``).
    x : (L,) int array or string
    target, context : positions, optional
        I1 (default: every non-context position) and I2 (default: none).
    start : optional
        MarkovChain only: None for a stationary window, else a prompt whose last k symbols
        start the chain (the source ``source.continuing(start)``).

    Returns
    -------
    float
        ``inf`` if ``x^{I1}`` has probability 0 given a possible context.

    Raises
    ------
    ValueError
        If the context itself has probability 0 (the conditional is undefined).

    Examples
    --------
    >>> from ctmc_lab.sources.markov import markov4
    >>> mk = markov4()
    >>> prompt, response = "ACGTACGTACGTACGT", "TTGACCAG"
    >>> a = conditional_nll(mk, prompt + response, target=range(16, 24), context=range(16))
    >>> b = mk.nll(response, start=prompt)               # chain rule from the last 4 symbols
    >>> abs(a - b) < 1e-12
    True
    """
    source = _bind(source, start)
    x, split = _prepare(source, x, target, context)
    n = source.n_tokens
    given = _with_mask(x, split.target + split.marginalised, n)
    joint = _with_mask(x, split.marginalised, n)
    log_p = source.log_marginal(np.stack([given, joint]))
    if not np.isfinite(log_p[0]):
        raise ValueError("the context x^{I2} has probability 0: the conditional is undefined")
    return float(log_p[0] - log_p[1])


def conditional_mask_dce(
    source, x, *, target=None, context=None, start=None, method=None, batch_size: int = 4096
) -> np.ndarray:
    """A(M) for every mask M ⊆ I1, indexed by the local bitmask (bit t = t-th target position).

    Parameters
    ----------
    source : Source
    x : (L,) int array or string
    target, context : positions, optional
    start : optional
        MarkovChain only (see :func:`conditional_nll`).
    method : str, optional
        One of :func:`mask_dce_methods`: the source's own routes (``source.mask_dce_table``; the
        first is the default) or ``"denoiser"`` (its optimal denoiser on every masked input,
        ``ctmc_lab.estimation.moments.mask_dce_table``). MarkovChain: ``"forward_backward"``
        (conditionals on prefix/suffix tries, all 2**n masks at once) or ``"subset"``
        (differences h(V ∪ {i}) - h(V) of the subset log-evidence table); JointDistribution:
        ``"subset"`` (subset tables). The methods are independent routes to one table (tested
        to 1e-12).
    batch_size : int
        Rows per denoiser call for ``"denoiser"``.

    Returns
    -------
    (2**n,) float array
        ``A[0] = 0``; ``+inf`` where a target token has conditional probability 0.
    """
    source = _bind(source, start)
    x, split = _prepare(source, x, target, context)
    valid = mask_dce_methods(source)
    method = valid[0] if method is None else method
    if not isinstance(method, str) or method not in valid:
        raise ValueError(f"`method` {method!r} is not available for this source; choose one of {list(valid)}")
    batch_size = positive_int(batch_size, "batch_size")
    tgt, ctx = list(split.target), list(split.context)
    if method == "denoiser":
        den = source.denoiser(x.shape[0])
        return mask_dce_table(den, x, target=tgt, context=ctx or None, batch_size=batch_size)
    return source.mask_dce_table(x, tgt, ctx, method=method)


def theorem42_integral(A, *, upper: float = 1.0) -> float:
    """Theorem 4.2 by quadrature: ``∫_0^Λ (1/λ) E_{M~Bern(λ)^n}[A(M)] dλ``.

    The expectation is the polynomial ``Σ_m λ^m (1-λ)^(n-m) S_m`` with ``S_m`` the sum of A
    over masks of size m; the integrand tends to ``Σ_i A({i})`` as λ → 0, so adaptive
    quadrature (``epsabs=1e-13, epsrel=1e-12``, §5.1) needs no special care. At ``Λ = 1`` it
    equals :func:`ctmc_lab.masks.imdce_sum` (the Beta integrals of §4.1 step 2), which is what makes it
    an independent check of Cor. 4.3's weights.

    Parameters
    ----------
    A : (2**n,) float array
    upper : float in (0, 1]
    """
    A = ensure_mask_table(A, "A", ndim=1, min_length=1)
    n = A.shape[0].bit_length() - 1
    upper = ensure_real(upper, "upper", lo=0.0, hi=1.0, lo_open=True)
    if np.isinf(A).any():
        return float("inf")
    sizes = popcount(np.arange(1 << n))
    S = np.bincount(sizes, weights=A, minlength=n + 1)  # S_m = Σ_{|M|=m} A(M)
    m = np.arange(n + 1)

    def integrand(lam):
        return float(np.sum(S[1:] * lam ** (m[1:] - 1) * (1 - lam) ** (n - m[1:])))

    value, _ = quad(integrand, 0.0, upper, epsabs=1e-13, epsrel=1e-12, limit=200)
    return float(value)


@dataclass(frozen=True, eq=False)
class ConditionalLikelihood:
    """Exact conditional likelihood of one sequence (Thm 4.2 / Cor. 4.3).

    Attributes
    ----------
    split : Split
        Target, context and marginalised positions.
    harmonic : float
        H_n of the target length n.
    true_nll : float
        ``-log p0(x^{I1} | x^{I2})`` from marginals (:func:`conditional_nll`); for a model
        (:func:`model_likelihood`), its own time-free value.
    time_free_exact : float
        Cor. 4.3 summed over all 2**n - 1 masks.
    mask_dce : (2**n,) float array
        A(M) by local mask bitmask.
    method : str
        How the A-table was computed.
    """

    split: Split
    harmonic: float
    true_nll: float
    time_free_exact: float
    mask_dce: np.ndarray
    method: str

    @property
    def residual(self) -> float:
        """|true_nll - time_free_exact| (0 when both are infinite)."""
        if np.isinf(self.true_nll) and np.isinf(self.time_free_exact):
            return 0.0
        return abs(self.true_nll - self.time_free_exact)

    def moments(self, names=None) -> dict:
        """``{estimator: Moments}``: exact mean, bias against ``true_nll`` and variance of one draw.

        Default names: those of the prompt–response record of ``ctmc-lab nll --json``
        (``estimator_names(record="pairs")``), without the omit-full-mask samplers for a
        one-position target, where they are undefined.
        """
        if names is None:
            names = estimator_names(record="pairs", length=self.split.n)
        return _mom.all_moments(
            self.mask_dce, names=names, reference=self.true_nll, positions=np.asarray(self.split.target)
        )


def conditional_likelihood(
    source, x, *, target=None, context=None, start=None, method=None, batch_size: int = 4096
) -> ConditionalLikelihood:
    """Exact conditional NLL two ways: from marginals and by Cor. 4.3 over all 2**n - 1 masks.

    Parameters are those of ``conditional_mask_dce``.

    Examples
    --------
    >>> from ctmc_lab.sources.datasets import dna128
    >>> p = dna128(); x = p.support[3]
    >>> r = conditional_likelihood(p, x, target=[0, 2, 5], context=[1, 7])   # 3, 4, 6 marginalised
    >>> r.split.marginalised, r.residual < 1e-12
    ((3, 4, 6), True)
    """
    source = _bind(source, start)
    x, split = _prepare(source, x, target, context)
    A = conditional_mask_dce(
        source, x, target=split.target, context=split.context, method=method, batch_size=batch_size
    )
    tf = float(imdce_sum(A))
    true = conditional_nll(source, x, target=split.target, context=split.context)
    A.setflags(write=False)
    return ConditionalLikelihood(split, harmonic(split.n), true, tf, A, method or mask_dce_methods(source)[0])


def model_likelihood(denoiser, x, *, target=None, context=None, batch_size: int = 4096) -> ConditionalLikelihood:
    """A model's own conditional NLL by Cor. 4.3 over its A-table (its mask DCE, Thm 4.2).

    A :class:`~ctmc_lab.sources.denoisers.Denoiser` has no marginals, so ``true_nll`` is its own
    time-free value ``Σ_M B(m, n-m+1) A_θ(M)`` and ``residual`` is 0; for the optimal denoiser of
    a source this equals :func:`conditional_nll` (Cor. 4.3).

    Parameters
    ----------
    denoiser : Denoiser
    x : (L,) int array
        Clean tokens, L = ``denoiser.length``.
    target, context : positions, optional
        As in :func:`conditional_nll`.
    batch_size : int
        Rows per denoiser call.

    Returns
    -------
    ConditionalLikelihood
        With ``method="denoiser"``.
    """
    denoiser = check_denoiser(denoiser)
    x = ensure_tokens(x, denoiser.n_tokens, denoiser.length, name="x", ndim=1)
    batch_size = positive_int(batch_size, "batch_size")
    split = split_positions(x.shape[0], target, context)
    tgt, ctx = list(split.target), list(split.context)
    A = mask_dce_table(denoiser, x, target=tgt, context=ctx or None, batch_size=batch_size)
    tf = float(imdce_sum(A))
    A.setflags(write=False)
    return ConditionalLikelihood(split, harmonic(split.n), tf, tf, A, "denoiser")


# ============================================================================== Monte Carlo


def mask_dce_oracle(
    source, x, *, target=None, context=None, start=None, table=None, batch_size: int = DEFAULT_BATCH
) -> MaskDCE:
    """A ``ctmc_lab.estimation.MaskDCE`` for the conditional estimators.

    With ``table`` (an exact A-table of this query, e.g. ``conditional_likelihood(...).mask_dce``)
    the oracle looks values up; without it every distinct mask calls the source's optimal
    denoiser. For a model, build ``ctmc_lab.estimation.MaskDCE`` on it directly.
    """
    source = _bind(source, start)
    x, split = _prepare(source, x, target, context)
    if table is not None:
        table = ensure_mask_table(table, "table", ndim=1, min_length=1)
    den = source.denoiser(x.shape[0])
    opts = dict(target=list(split.target), context=list(split.context) or None, batch_size=batch_size)
    if table is None:
        return MaskDCE(den, x, **opts)
    # The exact table is the one the denoiser itself produces (routes agree to 1e-12, tested),
    # so the 2**13 draws of the protocol cost a lookup each instead of a forward-backward call.
    return MaskDCE(den, x, **opts).preload(table)


def conditional_estimate(
    source,
    x,
    *,
    estimator: str = "time_free",
    n_samples: int,
    rng=None,
    target=None,
    context=None,
    start=None,
    table=None,
    **options,
) -> _est.Estimate:
    """Monte Carlo estimate of ``-log p(x^{I1} | x^{I2})`` with any estimator of §6 (Thm 4.1, Cor. 4.3).

    Parameters
    ----------
    source : Source
    x : (L,) int array or string
    estimator : str
        A key of :data:`ctmc_lab.estimation.estimators.ESTIMATORS` (``time_free``, ``k_dce``,
        ``rb_lambda_dce``, ``lambda_dce``, ``omit_full_mask``, ``omit_full_mask_token_mean``,
        ``t_dce``, ``t_dse``, ...), run in its conditional form: masks over the target only,
        H_n of the target length, marginalised positions masked in every input.
    n_samples : int
    rng : seed or Generator
    target, context, start
        As in :func:`conditional_nll`.
    table : (2**n,) float array, optional
        Exact A-table for lookups (see :func:`mask_dce_oracle`).
    **options
        Passed to the estimator (``batch_size``, ``schedule``, ``return_values``, ...).

    Returns
    -------
    ctmc_lab.estimation.estimators.Estimate
    """
    _est._registered(estimator, "estimator")
    oracle = mask_dce_oracle(source, x, target=target, context=context, start=start, table=table)
    return _est.estimate(estimator, oracle, None, n_samples=n_samples, rng=rng, **options)


# ================================================================================ log ratio
@dataclass(frozen=True, eq=False)
class ConditionalRatio:
    """``log p(y⁺ | x^{I2}) - log p(y⁻ | x^{I2})`` exactly and by the coupled/decoupled estimators (§4.3, §6.4).

    Attributes
    ----------
    exact : float
        From marginals: ``NLL(y⁻) - NLL(y⁺)``.
    time_free_exact : float
        ``Σ_M B(m, n-m+1) [A⁻(M) - A⁺(M)]`` over all masks.
    moments : ctmc_lab.estimation.moments.RatioMoments
        Exact single-draw variances, coupled and decoupled, and 2 Cov (their difference).
    coupled, decoupled : ctmc_lab.estimation.estimators.Estimate or None
        Monte Carlo runs (when ``n_samples`` was given).
    """

    exact: float
    time_free_exact: float
    moments: _mom.RatioMoments
    coupled: _est.Estimate | None
    decoupled: _est.Estimate | None


def conditional_log_ratio(
    source,
    x_plus,
    x_minus,
    *,
    target=None,
    context=None,
    start=None,
    n_samples: int | None = None,
    rng=None,
    scheme: str = "time_free",
    method=None,
) -> ConditionalRatio:
    """Coupled and decoupled estimators of the conditional log-ratio of two responses (Eq. 18).

    Parameters
    ----------
    source : Source
    x_plus, x_minus : (L,) int arrays or strings
        Prompt + response sequences with the same index sets; they must agree on the context
        (one prompt, two responses of equal length, §8 item 7).
    target, context, start
        As in :func:`conditional_nll`. For a prompt of length P and responses of length R:
        ``target=range(P, P+R), context=range(P)``.
    n_samples : int, optional
        Monte Carlo draws for both estimators (none when omitted).
    rng : seed or Generator
    scheme : {"time_free", "k_dce", "rb_lambda_dce"}
    method : str, optional
        A-table method (see ``conditional_mask_dce``).

    Returns
    -------
    ConditionalRatio

    Notes
    -----
    Coupled: one mask J per draw for both responses, ``g = H_n [A⁻(M) - A⁺(M)]``; decoupled:
    independent masks. ``Var_d - Var_c = 2 H_n² Cov(A⁺, A⁻)``: coupling helps only when the
    covariance is positive (§6.4).
    """
    source = _bind(source, start)
    scheme = ensure_choice(scheme, "scheme", ratio_schemes())
    rng = ensure_rng(rng)
    xp, split = _prepare(source, x_plus, target, context)
    xn, _ = _prepare(source, x_minus, target, context)
    if xp.shape != xn.shape:
        raise ValueError(f"`x_plus` and `x_minus` must have one length (got {xp.shape[0]} and {xn.shape[0]})")
    if split.context and np.any(xp[list(split.context)] != xn[list(split.context)]):
        raise ValueError("`x_plus` and `x_minus` must agree on the context positions (one shared prompt)")
    plus = conditional_likelihood(source, xp, target=split.target, context=split.context, method=method)
    minus = conditional_likelihood(source, xn, target=split.target, context=split.context, method=method)
    mom = _mom.ratio_moments(plus.mask_dce, minus.mask_dce, scheme=scheme)
    coupled = decoupled = None
    if n_samples is not None:
        den = source.denoiser(xp.shape[0])
        opts = dict(n_samples=n_samples, scheme=scheme, target=list(split.target), context=list(split.context) or None)
        coupled = _est.log_ratio(den, xp, xn, coupled=True, rng=rng, **opts)
        decoupled = _est.log_ratio(den, xp, xn, coupled=False, rng=rng, **opts)
    return ConditionalRatio(
        minus.true_nll - plus.true_nll, minus.time_free_exact - plus.time_free_exact, mom, coupled, decoupled
    )
