"""The estimator registry: one frozen ``EstimatorSpec`` per likelihood estimator (``docs/theory.md`` §4, §6, §8).

Every caller that needs to know an estimator reads its spec here, and asks the spec's family
object (:mod:`ctmc_lab.estimation.families`) how to draw and what its exact moments are: the
Monte Carlo entry point (:func:`ctmc_lab.estimation.estimators.estimate`), the exact moments
(:func:`ctmc_lab.estimation.moments.estimator_moments`), the command line's ``--estimator``
choices and its batch rule, the records of ``ctmc-lab nll --json``, the sampler studies and
the figures (label, marker and colour role). A user adds an estimator with
:func:`register_estimator`; a mask-size scheme (m ~ q_m, M uniform of size m, g = f_m A(M))
then runs by name through all of them with no other edit.

==============================  =================  =====================================  ======================
name                            family             how M is drawn                         value g
==============================  =================  =====================================  ======================
``time_free`` (Thm 4.1, Eq.15)  MaskSize           P(m) ∝ 1/m on 1..n                     H_n A(M)
``k_dce`` (RADD ``k_DCE``)      MaskSize           m ~ U{1..n}                            (n/m) A(M)
``k_dce_stratified``            MaskSize, strat.   the same, evenly spaced m per batch    (n/m) A(M)
``rb_lambda_dce`` (S9)          MaskSize           m ~ U{0..n}                            ((n+1)/m) A(M)
``lambda_dce`` (Eq. 16)         LambdaDCE          λ ~ U(0,1), M ~ Bern(λ)^n              A(M)/λ
``lambda_dce_stratified``       LambdaDCE, str.    λ_j = (j + u_j)/B per batch            A(M)/λ
``omit_full_mask`` (§8)         MaskSize           P(m) ∝ 1/m on 1..n-1                   H_n A(M)   (biased)
``omit_full_mask_token_mean``   MaskSize           P(m) ∝ 1/m on 1..n-1                   H_n A(M)/m (biased)
``mask_size_importance``        MaskSize           m ~ q ∝ ``weights``                    A(M)/(m q_m)
``t_dce`` / ``t_dse`` (code)    TimeSampled        t = (1-ε_s)u + ε_s, M ~ Bern(λ(t))     σ/(e^σ̄-1)[A + ...] (biased)
``llada_stratified``            CountRule          one k per batch, LLaDA's row counts    (n/m) A(M) (biased)
``llada_stratified_fixed``      CountRule          one k per batch, k + floor(jn/B)       (n/m) A(M)
==============================  =================  =====================================  ======================

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

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import laws
from ctmc_lab.estimation.families import CountRule, Family, LambdaDCE, MaskSize, TimeSampled, stratified_k_dce_moments

__all__ = [
    "COLOR_ROLES",
    "MARKERS",
    "NLL_RECORDS",
    "EstimatorSpec",
    "register_estimator",
    "unregister_estimator",
    "get_estimator",
    "estimator_specs",
    "estimator_names",
    "mask_size_law",
    "ratio_schemes",
]

#: The colour roles a spec may name (``EstimatorSpec.color``); ``ctmc_lab.plotting.style`` maps
#: each to a colour. The paper's sampler, the baselines by what they change, and the audited code.
COLOR_ROLES = (
    "paper",
    "uniform_size",
    "stratified",
    "rao_blackwell",
    "time_integral",
    "importance",
    "eval_llada",
    "eval_text8",
    "code_t",
)
#: Matplotlib marker codes a spec may name.
MARKERS = ("o", "s", "D", "v", "^", "<", ">", "p", "h", "*", "P", "X", "d")
#: The records of ``ctmc-lab nll --json`` an estimator may appear in: ``sequences`` (the
#: ``estimators`` record of each sequence of a table) and ``pairs`` (that of each
#: prompt–response pair of a Markov protocol).
NLL_RECORDS = ("sequences", "pairs")


#: The family a spec may name by its ``kind`` with a ``law`` (``EstimatorSpec(..., "mask", law=law)``).
_FROM_LAW = {MaskSize.kind: MaskSize}


@dataclass(frozen=True)
class EstimatorSpec:
    """What every caller needs to know about one likelihood estimator.

    Attributes
    ----------
    name : str
        The key: ``estimate(name, ...)``, ``estimator_moments(A, name)``, ``--estimator name``,
        and the ``estimator`` field of every :class:`~ctmc_lab.estimation.records.Estimate`.
    label : str
        A short label for plots and tables.
    family : Family or "mask"
        The behaviour: a :class:`~ctmc_lab.estimation.families.Family` object (``MaskSize``,
        ``LambdaDCE``, ``TimeSampled``, ``CountRule``, or a user's subclass), which draws and
        gives the exact moments. ``"mask"`` with ``law`` is short for ``MaskSize(law)``.
    law : callable, optional
        With ``family="mask"`` only: ``law(n) -> (q, f)``, two ``(n+1,)`` float arrays,
        q_m = P(|M| = m) for m = 0..n (summing to 1) and the value weight f_m.
    min_length : int, default 1
        The shortest target the estimator is defined on (the omit-full-mask samplers draw m
        from 1..n-1, empty at n = 1).
    biased : bool, default False
        Its mean differs from -log p_θ (the audited code variants of §8): ``verify`` checks it
        as a negative control against its own exact mean, the sampler comparison tabulates its bias.
    nll_records : tuple of str, default ()
        The records of ``ctmc-lab nll --json`` it appears in (``NLL_RECORDS``; a fixed output schema).
    compare : bool, default True
        Shown in the sampler comparisons: the sampler-comparison study and figure (variance if
        unbiased, bias if biased) and the sampler atlas. False for variants tabulated elsewhere.
    color : str or None
        Its colour role, one of ``COLOR_ROLES`` (``ctmc_lab.plotting.style`` maps roles to
        colours); None: a spare colour chosen by the plots.
    marker : str, default "o"
        Its matplotlib marker in figures (one of ``MARKERS``).
    filled : bool, default False
        Filled markers (open by default).
    """

    name: str
    label: str
    family: Family | str
    law: Callable | None = None
    min_length: int = 1
    biased: bool = False
    nll_records: tuple[str, ...] = ()
    compare: bool = True
    color: str | None = None
    marker: str = "o"
    filled: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"`name` must be an identifier-like string (got {self.name!r})")
        if isinstance(self.family, str):
            build = _FROM_LAW.get(self.family)
            if build is None:
                raise ValueError(
                    f"unknown `family` {self.family!r}: give a Family object "
                    "(ctmc_lab.estimation.families), or 'mask' with a `law`"
                )
            if not callable(self.law):
                raise ValueError(f"`law` is required for family 'mask' (estimator {self.name!r})")
            object.__setattr__(self, "family", build(self.law))
        elif not isinstance(self.family, Family):
            raise ValueError(f"`family` must be a Family object or 'mask' (got {type(self.family).__name__})")
        elif self.law is not None:
            raise ValueError(f"`law` is given with family 'mask' only (estimator {self.name!r})")
        positive_int(self.min_length, "min_length")
        for flag in ("biased", "compare", "filled"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"`{flag}` must be True or False (got {getattr(self, flag)!r})")
        records = tuple(self.nll_records)
        if any(r not in NLL_RECORDS for r in records):
            raise ValueError(f"`nll_records` must be a subset of {list(NLL_RECORDS)} (got {self.nll_records!r})")
        object.__setattr__(self, "nll_records", records)
        if self.color is not None and self.color not in COLOR_ROLES:
            raise ValueError(f"unknown colour role `color` {self.color!r}; choose one of {list(COLOR_ROLES)} or None")
        if self.marker not in MARKERS:
            raise ValueError(f"unknown `marker` {self.marker!r}; choose one of {list(MARKERS)}")

    @property
    def stratified(self) -> bool:
        """Batch-stratified by default: the draws of a batch of ``batch_size`` are dependent, so
        ``n_samples`` must be a whole number (≥ 2) of batches, the standard error comes from the
        batch means, and the draws depend on ``batch_size``."""
        return bool(self.family.stratified)

    @property
    def needs_weights(self) -> bool:
        """Takes the ``weights`` of its law; not run by name without them (so not a command-line choice)."""
        return bool(self.family.needs_weights)

    @property
    def needs_schedule(self) -> bool:
        """Takes a ``schedule`` (default ``Loglinear(1e-3)`` when run by name)."""
        return bool(self.family.needs_schedule)

    @property
    def by_name(self) -> bool:
        """Runs by name with default options: in ``ESTIMATORS`` and the command line's choices."""
        return not self.needs_weights

    @property
    def exact_moments(self) -> bool:
        """:func:`~ctmc_lab.estimation.moments.estimator_moments` gives its moments from the table alone.

        Mask-size and λ-DCE samplers with i.i.d. draws (§6.1–6.3), and LLaDA's evaluators at
        batch size 16 (per-draw variance of a batch mean). The other stratified designs need
        their ``batch_size``, the t-estimators their schedule.
        """
        return bool(self.family.exact_by_table)

    def mask_size_law(self, n: int, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
        """(q, f) of this mask-size scheme on a target of length n, validated; see :func:`mask_size_law`."""
        return mask_size_law(self.name, n, weights=weights)

    def default_batch_size(self, n_samples: int) -> int:
        """The batch size of a run of ``n_samples`` when none is given (the family's rule)."""
        return self.family.default_batch_size(n_samples)

    def check_length(self, n: int) -> int:
        """``n`` if the estimator is defined on a target of that length, else a ValueError."""
        n = positive_int(n, "n")
        if n < self.min_length:
            raise ValueError(f"`{self.name}` needs a target of at least {self.min_length} positions (got n = {n})")
        return n


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


def estimator_names(*, length: int | None = None, record: str | None = None, **flags) -> tuple[str, ...]:
    """Names of the registered estimators whose spec attributes equal ``flags``, in registry order.

    Parameters
    ----------
    length : int, optional
        Keep only estimators defined on a target of this length (``min_length ≤ length``).
    record : str, optional
        Keep only those in this record of ``ctmc-lab nll --json`` (one of ``NLL_RECORDS``).
    **flags
        Attribute values to match, e.g. ``biased=False``, ``stratified=False``, ``by_name=True``.

    Examples
    --------
    >>> estimator_names(record="pairs", length=1)
    ('time_free', 'k_dce', 'rb_lambda_dce', 'lambda_dce')
    """
    if length is not None:
        length = positive_int(length, "length", minimum=0)
    if record is not None and record not in NLL_RECORDS:
        raise ValueError(f"unknown `record` {record!r}; choose one of {list(NLL_RECORDS)}")
    unknown = sorted(k for k in flags if not hasattr(EstimatorSpec, k) and k not in EstimatorSpec.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown estimator attribute {unknown[0]!r} in `estimator_names`")
    return tuple(
        s.name
        for s in _REGISTRY.values()
        if (length is None or s.min_length <= length)
        and (record is None or record in s.nll_records)
        and all(getattr(s, k) == v for k, v in flags.items())
    )


def mask_size_law(name: str, n: int, *, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """(q, f) of the mask-size scheme ``name`` on a target of length n, read-only and validated.

    Parameters
    ----------
    name : str
        A registered estimator whose family draws a mask size (``family.scheme`` is not None).
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
    scheme = _scheme(name, n, weights)
    return scheme.q, scheme.f


def ratio_schemes() -> tuple[str, ...]:
    """The mask-size schemes a log-ratio may use: registered, unbiased, i.i.d., without weights (Eq. 18)."""
    return tuple(
        s.name
        for s in _REGISTRY.values()
        if s.family.draws_mask_sizes and not (s.biased or s.stratified or s.needs_weights)
    )


def _scheme(name, n, weights) -> laws.MaskSizeScheme:
    spec = _REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None or not spec.family.draws_mask_sizes:
        schemes = [s.name for s in _REGISTRY.values() if s.family.draws_mask_sizes]
        raise ValueError(f"unknown mask-size scheme {name!r}; choose one of {sorted(schemes)}")
    return spec.family.scheme(name, spec.check_length(n), weights=weights)


for _spec in (
    EstimatorSpec(
        "time_free",
        "time-free (paper)",
        MaskSize(laws.time_free_law),
        nll_records=NLL_RECORDS,
        color="paper",
        marker="o",
    ),
    EstimatorSpec(
        "k_dce", "k-DCE", MaskSize(laws.k_dce_law), nll_records=NLL_RECORDS, color="uniform_size", marker="s"
    ),
    EstimatorSpec(
        "k_dce_stratified",
        "k-DCE (stratified)",
        MaskSize(laws.k_dce_law, stratified=True, batch_moments=stratified_k_dce_moments),
        color="stratified",
        marker="s",
        filled=True,
    ),
    EstimatorSpec(
        "rb_lambda_dce",
        "RB λ-DCE",
        MaskSize(laws.rb_lambda_dce_law),
        nll_records=NLL_RECORDS,
        color="rao_blackwell",
        marker="D",
        filled=True,
    ),
    EstimatorSpec("lambda_dce", "λ-DCE", LambdaDCE(), nll_records=NLL_RECORDS, color="time_integral", marker="v"),
    EstimatorSpec(
        "lambda_dce_stratified",
        "λ-DCE (stratified)",
        LambdaDCE(stratified=True),
        compare=False,
        marker="v",
        filled=True,
    ),
    EstimatorSpec(
        "omit_full_mask",
        "no full mask (eval_llada)",
        MaskSize(laws.omit_full_mask_law),
        min_length=2,
        biased=True,
        nll_records=NLL_RECORDS,
        color="eval_llada",
        marker="o",
    ),
    EstimatorSpec(
        "omit_full_mask_token_mean",
        "no full mask, token mean (eval_text8)",
        MaskSize(laws.omit_full_mask_token_mean_law),
        min_length=2,
        biased=True,
        nll_records=NLL_RECORDS,
        color="eval_text8",
        marker="s",
    ),
    EstimatorSpec(
        "mask_size_importance",
        "importance over m",
        MaskSize(laws.importance_law, needs_weights=True),
        color="importance",
    ),
    EstimatorSpec("t_dce", "code t-DCE (ε_s = 1e-3)", TimeSampled(), biased=True, color="code_t", marker="^"),
    EstimatorSpec("t_dse", "code t-DSE (ε_s = 1e-3)", TimeSampled(defect=True), biased=True, compare=False, marker="^"),
    EstimatorSpec(
        "llada_stratified", "LLaDA", CountRule("llada"), biased=True, nll_records=("sequences",), compare=False
    ),
    EstimatorSpec(
        "llada_stratified_fixed", "LLaDA (fixed)", CountRule("fixed"), nll_records=("sequences",), compare=False
    ),
):
    register_estimator(_spec)
_BUILTIN = frozenset(_REGISTRY)
del _spec
