"""The estimator registry: one frozen ``EstimatorSpec`` per likelihood estimator (``docs/theory.md`` §4, §6, §8).

Every caller that needs to know an estimator reads its spec here: the Monte Carlo dispatch
(:func:`ctmc_lab.estimation.estimators.estimate`), the exact moments
(:func:`ctmc_lab.estimation.moments.estimator_moments`), the command line's ``--estimator``
choices and its batch rule, ``verify``'s table of biased variants, and the plot colours. A
user adds an estimator with :func:`register_estimator`; a mask-size scheme (m ~ q_m, M
uniform of size m, g = f_m A(M)) then runs by name through all of them with no other edit.

==============================  ========  =====================================  ======================
name                            family    how M is drawn                         value g
==============================  ========  =====================================  ======================
``time_free`` (Thm 4.1, Eq.15)  mask      P(m) ∝ 1/m on 1..n                     H_n A(M)
``k_dce`` (RADD ``k_DCE``)      mask      m ~ U{1..n}                            (n/m) A(M)
``k_dce_stratified``            mask      the same, evenly spaced m per batch    (n/m) A(M)
``rb_lambda_dce`` (S9)          mask      m ~ U{0..n}                            ((n+1)/m) A(M)
``lambda_dce`` (Eq. 16)         lambda    λ ~ U(0,1), M ~ Bern(λ)^n              A(M)/λ
``lambda_dce_stratified``       lambda    λ_j = (j + u_j)/B per batch            A(M)/λ
``omit_full_mask`` (§8)         mask      P(m) ∝ 1/m on 1..n-1                   H_n A(M)   (biased)
``omit_full_mask_token_mean``   mask      P(m) ∝ 1/m on 1..n-1                   H_n A(M)/m (biased)
``mask_size_importance``        mask      m ~ q ∝ ``weights``                    A(M)/(m q_m)
``t_dce`` / ``t_dse`` (code)    time      t = (1-ε_s)u + ε_s, M ~ Bern(λ(t))     σ/(e^σ̄-1)[A + ...] (biased)
``llada_stratified``            llada     one k per batch, LLaDA's row counts    (n/m) A(M) (biased)
``llada_stratified_fixed``      llada     one k per batch, k + floor(jn/B)       (n/m) A(M)
==============================  ========  =====================================  ======================

A mask-size scheme is unbiased for sum_M B(m, n-m+1) A(M) exactly when q_m f_m = 1/m for every
m ≥ 1 (Thm 4.1; §6.1–6.2).

Registering before the command line is built makes ``ctmc-lab estimate --estimator NAME`` accept
the estimator too: the parser reads the registry when ``ctmc_lab.cli.main`` builds it, so a
script that registers and then calls ``ctmc_lab.cli.main([...])`` needs no entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ctmc_lab._validation import SUM_TOLERANCE, positive_int
from ctmc_lab.masks import harmonic

__all__ = [
    "FAMILIES",
    "EstimatorSpec",
    "register_estimator",
    "unregister_estimator",
    "get_estimator",
    "estimator_specs",
    "estimator_names",
    "mask_size_law",
]

#: How an estimator draws its masks. ``mask``: m ~ q_m, then M uniform of size m, value f_m A(M)
#: (any law q, f: the family users register); ``lambda``: λ-DCE's λ ~ U(0, 1); ``time``: the
#: code's t-sampled DCE/DSE under a schedule; ``llada``: LLaDA's batch count rules.
FAMILIES = ("mask", "lambda", "time", "llada")


@dataclass(frozen=True)
class EstimatorSpec:
    """What every caller needs to know about one likelihood estimator.

    Attributes
    ----------
    name : str
        The key: ``estimate(name, ...)``, ``estimator_moments(A, name)``, ``--estimator name``,
        and the ``estimator`` field of every :class:`~ctmc_lab.estimation.estimators.Estimate`.
    label : str
        A short label for plots and tables.
    family : {"mask", "lambda", "time", "llada"}
        The sampler law (see ``FAMILIES``).
    law : callable or None
        For ``family="mask"``: ``law(n)`` (or ``law(n, weights=w)`` when ``needs_weights``)
        returns ``(q, f)``, two ``(n+1,)`` float arrays: q_m = P(|M| = m) for m = 0..n (summing
        to 1) and the value weight f_m (f_0 multiplies A(∅) = 0). None for the other families.
    stratified : bool, default False
        Batch-stratified: the draws of a batch of ``batch_size`` are dependent by design, so
        ``n_samples`` must be a whole number (≥ 2) of batches, the standard error comes from the
        batch means, and the draws depend on ``batch_size``. For ``time`` it is the default
        sampler (``"vdm"``) of the code.
    min_length : int, default 1
        The shortest target the estimator is defined on (the omit-full-mask samplers draw m
        from 1..n-1, empty at n = 1).
    biased : bool, default False
        Its mean differs from -log p_θ (the audited code variants of §8): ``verify`` checks it
        as a negative control against its own exact mean.
    needs_schedule : bool, default False
        Takes a ``schedule`` (default ``Loglinear(1e-3)`` when run by name).
    needs_weights : bool, default False
        Takes the ``weights`` of its law; not run by name without them (so not a command-line
        choice).
    count_rule : str or None
        For ``family="llada"``: the count rule of :func:`ctmc_lab.estimation.llada.llada_counts`.
    nll_record : bool, default False
        One of the exact records of ``ctmc-lab nll --json`` (a fixed output schema).
    color : str or None
        A key of ``ctmc_lab.plotting.style.OKABE_ITO``, the estimator's colour in figures.
    """

    name: str
    label: str
    family: str
    law: Callable | None = None
    stratified: bool = False
    min_length: int = 1
    biased: bool = False
    needs_schedule: bool = False
    needs_weights: bool = False
    count_rule: str | None = None
    nll_record: bool = False
    color: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"`name` must be an identifier-like string (got {self.name!r})")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown `family` {self.family!r}; choose one of {list(FAMILIES)}")
        if (self.law is not None) != (self.family == "mask"):
            raise ValueError(f"`law` is required for family 'mask' and only for it (estimator {self.name!r})")
        positive_int(self.min_length, "min_length")

    @property
    def by_name(self) -> bool:
        """Runs by name with default options: in ``ESTIMATORS`` and the command line's choices."""
        return not self.needs_weights

    @property
    def exact_moments(self) -> bool:
        """:func:`~ctmc_lab.estimation.moments.estimator_moments` gives its per-draw moments.

        Mask-size and λ-DCE samplers with i.i.d. draws (§6.1–6.3), and LLaDA's evaluators at
        batch size 16 (per-draw variance of a batch mean). The batch-stratified k- and λ-DCE have
        their own routines (``stratified_*_moments``), the t-estimators ``t_estimator_moments``.
        """
        return self.family == "llada" or (self.family in ("mask", "lambda") and not self.stratified)

    def mask_size_law(self, n: int, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
        """(q, f) of this mask-size scheme on a target of length n, validated; see :func:`mask_size_law`."""
        return mask_size_law(self.name, n, weights=weights)


_REGISTRY: dict[str, EstimatorSpec] = {}
_BUILTIN: frozenset[str] = frozenset()


def register_estimator(spec: EstimatorSpec) -> EstimatorSpec:
    """Add ``spec`` to the registry, so every caller of the registry knows the estimator.

    Parameters
    ----------
    spec : EstimatorSpec

    Returns
    -------
    EstimatorSpec
        ``spec``.

    Notes
    -----
    A ``family="mask"`` spec with an unbiased law (q_m f_m = 1/m, Thm 4.1) estimates the NLL
    sum_M B(m, n-m+1) A(M); its exact moments are the finite sums of §6.1–6.2 over its own law.

    Examples
    --------
    >>> import numpy as np
    >>> from ctmc_lab.estimation import registry
    >>> def law(n):                       # m uniform on 1..n with weight n/m: k-DCE's law
    ...     q = np.r_[0.0, np.full(n, 1.0 / n)]
    ...     return q, np.r_[0.0, n / np.arange(1, n + 1)]
    >>> spec = registry.register_estimator(registry.EstimatorSpec("my_k_dce", "mine", "mask", law=law))
    >>> from ctmc_lab.estimation.moments import estimator_moments
    >>> A = np.array([0.0, 1.0, 1.0, 2.0])
    >>> float(estimator_moments(A, "my_k_dce").mean)
    2.0
    >>> _ = registry.unregister_estimator("my_k_dce")
    """
    if not isinstance(spec, EstimatorSpec):
        raise ValueError(f"`spec` must be an EstimatorSpec (got {type(spec).__name__})")
    if spec.name in _REGISTRY:
        raise ValueError(f"an estimator named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_estimator(name: str) -> EstimatorSpec:
    """Remove a user-registered estimator and return its spec (the built-in ones stay)."""
    get_estimator(name)
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in estimator and cannot be unregistered")
    return _REGISTRY.pop(name)


def get_estimator(name: str) -> EstimatorSpec:
    """The spec of the estimator called ``name``; an unknown name lists the registered ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown estimator {name!r}; choose one of {sorted(_REGISTRY)}") from None


def estimator_specs() -> tuple[EstimatorSpec, ...]:
    """Every registered spec, built-in ones first in their fixed order, then the user's."""
    return tuple(_REGISTRY.values())


def estimator_names(*, length: int | None = None, **flags) -> tuple[str, ...]:
    """Names of the registered estimators whose spec attributes equal ``flags``, in registry order.

    Parameters
    ----------
    length : int, optional
        Keep only estimators defined on a target of this length (``min_length ≤ length``).
    **flags
        Attribute values to match, e.g. ``biased=False``, ``family="mask"``, ``by_name=True``.

    Examples
    --------
    >>> estimator_names(nll_record=True, length=1)
    ('time_free', 'k_dce', 'rb_lambda_dce', 'lambda_dce')
    """
    return tuple(
        s.name
        for s in _REGISTRY.values()
        if (length is None or s.min_length <= length) and all(getattr(s, k) == v for k, v in flags.items())
    )


def mask_size_law(name: str, n: int, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(q, f) of the mask-size scheme ``name`` on a target of length n, read-only and validated.

    Parameters
    ----------
    name : str
        A registered estimator of family ``"mask"``.
    n : int
        Target length (at least the spec's ``min_length``).
    weights : array, optional
        Passed to the law of a spec with ``needs_weights``.

    Returns
    -------
    q, f : (n+1,) float arrays
        q_m = P(|M| = m), m = 0..n, non-negative and summing to 1 (within ``SUM_TOLERANCE``);
        f_m the value weight. The scheme's single-draw mean is sum_m q_m f_m Ā_m (§6.1).
    """
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None or spec.family != "mask":
        raise ValueError(f"unknown mask-size scheme {name!r}; choose one of {sorted(estimator_names(family='mask'))}")
    n = positive_int(n, "n")
    if n < spec.min_length:
        raise ValueError(f"`{name}` needs a target of at least {spec.min_length} positions (got n = {n})")
    if spec.needs_weights:
        q, f = spec.law(n, weights=weights)
    else:
        q, f = spec.law(n)
    q, f = np.array(q, dtype=float), np.array(f, dtype=float)
    if q.shape != (n + 1,) or f.shape != (n + 1,):
        raise ValueError(f"the law of {name!r} must give q and f of shape ({n + 1},) (got {q.shape}, {f.shape})")
    if not (np.all(np.isfinite(q)) and np.all(q >= 0) and abs(q.sum() - 1.0) <= SUM_TOLERANCE):
        raise ValueError(f"the law of {name!r} must give q ≥ 0 summing to 1 (sum {q.sum()!r})")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"the law of {name!r} must give a finite value weight f")
    q.setflags(write=False)
    f.setflags(write=False)
    return q, f


# ================================================================== the built-in mask-size laws
def _inv_m(n: int) -> np.ndarray:
    inv_m = np.zeros(n + 1)
    inv_m[1:] = 1.0 / np.arange(1, n + 1, dtype=float)
    return inv_m


def _time_free_law(n):
    q = np.zeros(n + 1)
    h_n = harmonic(n)
    q[1:] = _inv_m(n)[1:] / h_n
    return q, np.full(n + 1, h_n)


def _k_dce_law(n):
    q = np.zeros(n + 1)
    q[1:] = 1.0 / n
    return q, n * _inv_m(n)


def _rb_lambda_dce_law(n):
    return np.full(n + 1, 1.0 / (n + 1)), (n + 1) * _inv_m(n)


def _omit_q(n):
    q = np.zeros(n + 1)
    q[1:n] = _inv_m(n)[1:n] / harmonic(n - 1)
    return q


def _omit_full_mask_law(n):
    return _omit_q(n), np.full(n + 1, harmonic(n))


def _omit_full_mask_token_mean_law(n):
    return _omit_q(n), harmonic(n) * _inv_m(n)


def _importance_law(n, *, weights=None):
    if weights is None:
        raise ValueError("`weights` is required for mask_size_importance")
    w = np.asarray(weights, dtype=float)
    if w.shape == (n + 1,):
        w = w[1:]
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"`weights` must be {n} non-negative finite numbers for m = 1..{n}, not all 0 (got {weights!r})"
        )
    q = np.zeros(n + 1)
    q[1:] = w / w.sum()
    f = np.zeros(n + 1)
    f[1:] = np.divide(1.0, np.arange(1, n + 1, dtype=float) * q[1:], out=np.zeros(n), where=q[1:] > 0)
    return q, f


for _spec in (
    EstimatorSpec("time_free", "time-free", "mask", law=_time_free_law, nll_record=True, color="blue"),
    EstimatorSpec("k_dce", "k-DCE", "mask", law=_k_dce_law, nll_record=True, color="green"),
    EstimatorSpec("k_dce_stratified", "k-DCE (stratified)", "mask", law=_k_dce_law, stratified=True, color="sky"),
    EstimatorSpec("rb_lambda_dce", "RB λ-DCE", "mask", law=_rb_lambda_dce_law, nll_record=True, color="orange"),
    EstimatorSpec("lambda_dce", "λ-DCE", "lambda", nll_record=True, color="vermillion"),
    EstimatorSpec("lambda_dce_stratified", "λ-DCE (stratified)", "lambda", stratified=True),
    EstimatorSpec(
        "omit_full_mask", "omit full mask", "mask", law=_omit_full_mask_law, min_length=2, biased=True, nll_record=True
    ),
    EstimatorSpec(
        "omit_full_mask_token_mean",
        "omit full mask, token mean",
        "mask",
        law=_omit_full_mask_token_mean_law,
        min_length=2,
        biased=True,
        nll_record=True,
    ),
    EstimatorSpec(
        "mask_size_importance", "importance over m", "mask", law=_importance_law, needs_weights=True, color="purple"
    ),
    EstimatorSpec("t_dce", "t-DCE (code)", "time", stratified=True, biased=True, needs_schedule=True),
    EstimatorSpec("t_dse", "t-DSE (code)", "time", stratified=True, biased=True, needs_schedule=True),
    EstimatorSpec("llada_stratified", "LLaDA", "llada", stratified=True, biased=True, count_rule="llada"),
    EstimatorSpec("llada_stratified_fixed", "LLaDA (fixed)", "llada", stratified=True, count_rule="fixed"),
):
    register_estimator(_spec)
_BUILTIN = frozenset(_REGISTRY)
del _spec
