"""Monte Carlo likelihood estimates over a ``Denoiser``, by name (``docs/theory.md`` §4, §6, §8).

Fix x0 and a target set T of n positions (all of [L] by default), a context set C, and let
R = [L] minus (T ∪ C) be the marginalised positions (masked in every model input, never
conditioned on; Cor. 4.3, §4.2). For a mask M ⊆ T with m = |M|,

    A(M) = sum_{i in M} -log c(x0 masked on M ∪ R)_{i, x0^i}          (§3.5, §6)

(:class:`ctmc_lab.exact.mask_dce.MaskDCE`) and the (conditional) NLL is
sum_{M ⊆ T} B(m, n-m+1) A(M) (Thm 4.1 / Cor 4.3). Every estimator draws masks M and returns one
value g per draw. Which estimators exist is the registry's
(:mod:`ctmc_lab.estimation.registry`), how each draws is its family object's
(:mod:`ctmc_lab.estimation.families`); :func:`estimate` runs any registered one by name, and the
named functions below (``time_free``, ``k_dce``, ...) are the same call with the name filled in.

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

import inspect
from collections.abc import Mapping
from functools import partial

import numpy as np

from ctmc_lab._validation import ensure_bool, ensure_choice, ensure_rng, ensure_tokens
from ctmc_lab.estimation.laws import (
    DRAW_CHUNK,
    MaskSizeScheme,
    TableOracle,
    UniformMasks,
    check_run,
    ratio_draws,
)
from ctmc_lab.estimation.records import Estimate, estimate_record
from ctmc_lab.estimation.registry import estimator_names, get_estimator, mask_size_law, ratio_schemes
from ctmc_lab.exact.mask_dce import DEFAULT_BATCH, MaskDCE
from ctmc_lab.sources.denoisers import check_denoiser

__all__ = [
    "DEFAULT_BATCH",
    "DRAW_CHUNK",
    "Estimate",
    "MaskSizeScheme",
    "mask_size_scheme",
    "UniformMasks",
    "TableOracle",
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


def mask_size_scheme(name: str, n: int, *, weights=None) -> MaskSizeScheme:
    """The :class:`MaskSizeScheme` of a registered mask-size estimator on a target of length n.

    Parameters
    ----------
    name : str
        An estimator of :mod:`ctmc_lab.estimation.registry` whose family draws a mask size
        (built in: ``time_free``, ``k_dce``, ``k_dce_stratified``, ``rb_lambda_dce``,
        ``omit_full_mask``, ``omit_full_mask_token_mean``, ``mask_size_importance``), or one a
        user registered.
    n : int
        Target length (at least the spec's ``min_length``; ``omit_*`` need n ≥ 2).
    weights : (n,) or (n+1,) float array, optional
        For ``mask_size_importance``: unnormalised P(m) over m = 1..n (or 0..n, weight of
        m = 0 ignored). A zero weight at level m keeps the estimator unbiased only if A(M) = 0
        for every mask of size m (as for small m with c* on a sparse support).

    Notes
    -----
    The built-in laws (Thm 4.1, Eq. 15; ``docs/theory.md`` §6.1–6.2, §8;
    :mod:`ctmc_lab.estimation.laws`):

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
    _registered(name)
    q, f = mask_size_law(name, n, weights=weights)
    return MaskSizeScheme(name, int(n), q, f)


def _registered(name, argument: str = "name"):
    """The spec of the registered estimator ``name``; anything else is refused naming ``argument``."""
    names = estimator_names()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"unknown estimator {name!r}: `{argument}` must be one of {sorted(names)}")
    return get_estimator(name)


# ================================================================================ by name
def estimate(
    name: str,
    denoiser,
    x0=None,
    *,
    n_samples: int | None = None,
    rng=None,
    batch_size: int | None = None,
    target=None,
    context=None,
    return_values: bool = False,
    **options,
) -> Estimate:
    """Run the registered estimator called ``name``; an unknown name lists them.

    Parameters
    ----------
    name : str
        A key of :mod:`ctmc_lab.estimation.registry` (built in or registered by the user).
    %(common)s
    **options
        The family's own options: ``weights`` for a law that needs them; ``schedule``
        (default ``Loglinear(1e-3)``), ``eps_s``, ``sampler``, ``score_log`` for the
        t-estimators. An unknown option is a TypeError naming it.

    Returns
    -------
    Estimate

    Notes
    -----
    The sampler is the spec's family: a mask-size law (m ~ q_m, g = f_m A(M); Thm 4.1,
    §6.1–6.2), λ-DCE (Eq. 16), the code's t-estimators (§8) or LLaDA's count rules.
    """
    spec = _registered(name)
    family = spec.family
    options = family.options(name, options)
    stratified = family.is_stratified(options)
    if n_samples is None and family.default_n_samples is None:
        raise TypeError(f"{name}() missing the keyword argument `n_samples`")
    n_samples = family.default_n_samples if n_samples is None else n_samples
    batch_size = family.default_batch if batch_size is None else batch_size
    ensure_bool(return_values, "return_values")
    rng = ensure_rng(rng)
    n_samples, batch_size = check_run(n_samples, batch_size, stratified=stratified)
    oracle = MaskDCE.of(denoiser, x0, target=target, context=context, batch_size=batch_size)
    spec.check_length(oracle.n)
    values, label = family.draw(name, oracle, n_samples, rng, batch_size, options)
    return estimate_record(label, values, batch_size=batch_size if stratified else None, return_values=return_values)


#: Parameter blocks shared by every entry point (``%(key)s`` in their docstrings, as scipy's ``doccer``).
_DOC = {
    "common": """denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`~ctmc_lab.exact.mask_dce.MaskDCE`, which keeps its
        cache across calls).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g (for a batch-stratified design, a multiple of
        ``batch_size`` with at least 2 batches; LLaDA's evaluators default to 128, its mc_num).
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Denoiser inputs per call: a memory knob that does not change the draws of the i.i.d.
        samplers; for a batch-stratified design also the stratification batch (LLaDA's
        evaluators default to 16, its batch_size).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2): masks over ``target`` only,
        ``context`` always visible, every other position masked; H_n uses n = |target|.
    return_values : bool, default False
        Keep the per-draw values in the result.""",
    "schedule": """schedule : ctmc_lab.forward.schedules.Schedule, optional
        The noise schedule (σ̄(t), σ(t)); the code default ``Loglinear(1e-3)`` when omitted.
    eps_s : float, default 1e-3
        The sampling floor: t = (1 - eps_s) u + eps_s with u ~ U(0,1), as ``sampling_eps`` in
        SEDD/RADD/infodis. The density of t is not corrected by 1/(1 - eps_s).
    sampler : {"vdm", "plain"}, default "vdm"
        ``"vdm"`` is the code's ``Batch_Uniform_Sampler(type="vdm")``: u_j = (u_0 + j/B) mod 1 with
        one u_0 per batch of ``batch_size``; ``"plain"`` draws u i.i.d.""",
}


def _signature(name: str, head=(), tail=()) -> inspect.Signature:
    """The keyword signature of an entry point, from its family's defaults and options."""
    family = get_estimator(name).family
    kw = inspect.Parameter.KEYWORD_ONLY
    empty = inspect.Parameter.empty
    n_default = empty if family.default_n_samples is None else family.default_n_samples
    options = {
        k: (empty if family.needs_weights and k == "weights" else v) for k, v in family.option_defaults().items()
    }
    params = [
        inspect.Parameter("denoiser", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("x0", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
        *(inspect.Parameter(k, kw, default=v) for k, v in head),
        *(inspect.Parameter(k, kw, default=v) for k, v in options.items()),
        inspect.Parameter("n_samples", kw, default=n_default),
        inspect.Parameter("rng", kw, default=None),
        inspect.Parameter("batch_size", kw, default=family.default_batch),
        *(inspect.Parameter(k, kw, default=v) for k, v in tail),
        inspect.Parameter("target", kw, default=None),
        inspect.Parameter("context", kw, default=None),
        inspect.Parameter("return_values", kw, default=False),
    ]
    return inspect.Signature(params, return_annotation=Estimate)


def _named(func, name: str, summary: str, *, params: str = "", returns: str = "", examples: str = "", head=()):
    """Document ``func`` (summary, its own ``params`` before the shared block, ``returns``, ``examples``)
    and give it the signature of the estimator ``name``."""
    doc = f"{summary}\n\n    Parameters\n    ----------\n    {params}%(common)s\n\n    Returns\n    -------\n    Estimate\n"
    doc += f"{returns}" + (f"\n    Examples\n    --------\n{examples}" if examples else "")
    func.__doc__ = doc % _DOC
    func.__signature__ = _signature(name, head=head)
    return func


def _entry(name: str, summary: str, **doc):
    """The entry point ``name(denoiser, x0, **options)``: :func:`estimate` with the name filled in."""

    def run(denoiser, x0=None, **options):
        return estimate(name, denoiser, x0, **options)

    run.__name__ = run.__qualname__ = name
    return _named(run, name, summary, **doc)


estimate.__doc__ = estimate.__doc__ % _DOC

time_free = _entry(
    "time_free",
    """The paper's time-free estimator: P(m) ∝ 1/m on 1..n, M uniform of size m, g = H_n A(M).

    Unbiased for -log p_θ(x0^T | x0^C) = sum_M B(m, n-m+1) A(M) (Thm 4.1, Eq. 15; Cor. 4.3,
    Eq. 17; ``docs/theory.md`` §4.1). The fully masked set (m = n) is included (§8 item 5).""",
    examples="""    >>> from ctmc_lab.sources.datasets import dna128
    >>> from ctmc_lab.sources.denoisers import OptimalDenoiser
    >>> p = dna128(); x0 = p.support[0]
    >>> est = time_free(OptimalDenoiser(p), x0, n_samples=20000, rng=0)
    >>> abs(est.mean - p.nll(x0)) < 5 * est.stderr
    True
    """,
)

rb_lambda_dce = _entry(
    "rb_lambda_dce",
    """Rao–Blackwellised λ-DCE: m ~ U{0..n}, M uniform of size m, g = (n+1)/m A(M) (0 at m = 0).

    It is E[λ-DCE | M], since E[1/λ | M] = (n+1)/m under λ ~ U(0,1) (S9; ``docs/theory.md``
    §4.1 (c), §6.2); unbiased for sum_M B(m, n-m+1) A(M) (Thm 4.1).""",
)

omit_full_mask = _entry(
    "omit_full_mask",
    """The off-by-one sampler of ``eval_llada.py``/``eval_text8.py`` (``docs/theory.md`` §8):
    m from 1..n-1 with P(m) ∝ 1/m (the fully masked set is never drawn), g = H_n A(M).

    Biased: E[g] = (H_n/H_{n-1}) sum_{k≥1} Ā_k/(n-k), Ā_k the mean of A over masks with k
    visible target positions, against Thm 4.1's sum_m Ā_m/m. Needs n ≥ 2.""",
)

omit_full_mask_token_mean = _entry(
    "omit_full_mask_token_mean",
    """``eval_text8.py``'s statistic (``docs/theory.md`` §8): the :func:`omit_full_mask` sampler
    with the per-token mean g = H_n A(M)/m. Not an NLL estimate (q_m f_m ≠ 1/m, Thm 4.1).""",
)

mask_size_importance = _entry(
    "mask_size_importance",
    """Importance sampling over the mask size: m ~ q ∝ ``weights``, M uniform, g = A(M)/(m q_m).

    Unbiased for any positive weights, since q_m f_m = 1/m (Thm 4.1; ``docs/theory.md`` §6.5).
    Within this family the variance is smallest at q_m ∝ sqrt(E[A² | m])/m;
    :func:`ctmc_lab.estimation.moments.fit_mask_size_weights` estimates those weights from a few
    pilot draws.""",
    params="""weights : (n,) float array
        Unnormalised P(m) for m = 1..n; positive wherever A can be non-zero.
    """,
)

t_dce = _entry(
    "t_dce",
    """The time-sampled DCE loss of RADD/infodis ``t_DCE_loss``, as the code computes it.

    g = σ(t)/(e^σ̄(t) - 1) · sum_{i in M} [-log c_{i,x0^i} + log(e^σ̄(t) - 1)], with
    M ~ Bern(λ(t))^n and t = (1-ε_s)u + ε_s (Lemma 3.3; ``docs/theory.md`` §6.3, §8). The code
    scores with the log of the score s = c/(e^σ̄ - 1) (``score_log=True``); ``score_log=False``
    gives the true t-DCE, σ/(e^σ̄-1) A(M). Both are biased by the truncation at ε_s, the missing
    1/(1-ε_s) and, for loglinear(ε), the unreached λ ∈ (1-ε, 1].""",
    params="""%(schedule)s
    score_log : bool, default True
        Add the code's log(e^σ̄ - 1) per masked token.
    """,
    returns="""        Named ``t_dce``, or ``t_dce_true`` with ``score_log=False``.
""",
)

t_dse = _entry(
    "t_dse",
    """The time-sampled DSE loss of SEDD/RADD/infodis ``t_DSE_loss`` with the score s = c/(e^σ̄-1).

    By Lemma 3.3 with its correction for unnormalised rows (``docs/theory.md`` §3.2, §8 item 2),
    the code's value is g = σ(t)/(e^σ̄(t)-1) · [A(M) + sum_{i in M} (sum_v c_{i,v} - 1)], with
    M ~ Bern(λ(t))^n and t = (1-ε_s)u + ε_s. For a normalised c it equals the true t-DCE.""",
    params="""%(schedule)s
    """,
)

llada_stratified = _entry(
    "llada_stratified",
    """LLaDA's ``get_log_likelihood`` (defaults ``batch_size=16``, ``n_samples=128`` = mc_num):
    one k per batch, LLaDA's float32 row counts (:func:`ctmc_lab.estimation.llada.llada_counts`).
    Biased unless every row's count is uniform (the bias (★) of :mod:`ctmc_lab.estimation.llada`;
    ``docs/theory.md`` §8).""",
)

llada_stratified_fixed = _entry(
    "llada_stratified_fixed",
    """LLaDA's evaluator with the integer count rule k + floor(j n/B) mod n: every row's count is
    uniform on 1..n, so it is unbiased for every (n, B) (Thm 4.1; :mod:`ctmc_lab.estimation.llada`).
    Defaults ``batch_size=16``, ``n_samples=128``.""",
)


def k_dce(denoiser, x0=None, *, stratified: bool = False, **options) -> Estimate:
    return estimate("k_dce_stratified" if ensure_bool(stratified, "stratified") else "k_dce", denoiser, x0, **options)


_named(
    k_dce,
    "k_dce",
    """k-DCE (RADD ``k_DCE_loss``): m ~ U{1..n}, M uniform of size m, g = (n/m) A(M).

    Unbiased: q_m f_m = (1/n)(n/m) = 1/m (Thm 4.1). With ``stratified=True`` (the registry's
    ``k_dce_stratified``) each batch of B draws uses evenly spaced mask counts,
    m_j = 1 + floor(n (j + u_j)/B), u_j ~ U(0,1): each batch mean stays unbiased and its
    variance drops; the standard error then comes from the batch means (``docs/theory.md``
    §4.1 (b), §6.2).""",
    params="""stratified : bool, default False
        Evenly spaced mask counts per batch of ``batch_size`` draws.
    """,
    returns="""        Named ``k_dce`` or ``k_dce_stratified``.
""",
    head=(("stratified", False),),
)

_LAMBDA_SAMPLERS = {"plain": "lambda_dce", "stratified": "lambda_dce_stratified"}


def lambda_dce(denoiser, x0=None, *, sampler: str = "plain", **options) -> Estimate:
    return estimate(_LAMBDA_SAMPLERS[ensure_choice(sampler, "sampler", _LAMBDA_SAMPLERS)], denoiser, x0, **options)


_named(
    lambda_dce,
    "lambda_dce",
    """λ-DCE, the time-integral estimator: λ ~ U(0,1), M ~ Bern(λ)^n, g = A(M)/λ.

    Unbiased (Cor. 3.7 at Λ = 1; Eq. 16; RADD ``lambda_DCE_loss``), but its variance is
    infinite as soon as some singleton term a_i = A({i}) is positive (``docs/theory.md`` §6.3):
    the sample variance then grows like ½ sum_i a_i² ln n.""",
    params="""sampler : {"plain", "stratified"}
        ``"stratified"`` (the registry's ``lambda_dce_stratified``) is infodis' ``decoupled``
        batch sampler λ_j = (j + u_j)/B within each batch of ``batch_size`` draws (its first
        stratum still reaches λ → 0).
    """,
    returns="""        Named ``lambda_dce`` or ``lambda_dce_stratified``.
""",
    head=(("sampler", "plain"),),
)

k_dce_stratified = _entry(
    "k_dce_stratified",
    """:func:`k_dce` with ``stratified=True``: evenly spaced mask counts per batch (§6.2).""",
)

lambda_dce_stratified = _entry(
    "lambda_dce_stratified",
    """:func:`lambda_dce` with ``sampler="stratified"``: infodis' λ_j = (j + u_j)/B (§6.3).""",
)


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


# ===================================================================================== ratios
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
    Cov(A_num, A_den) > 0 (§6.4). The draws are :func:`ctmc_lab.estimation.laws.ratio_draws`.

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
    coupled = ensure_bool(coupled, "coupled")
    ensure_bool(return_values, "return_values")
    rng = ensure_rng(rng)
    n_samples, batch_size = check_run(n_samples, batch_size, stratified=False)
    denoiser = check_denoiser(denoiser)
    x_num, x_den = (
        ensure_tokens(x, denoiser.n_tokens, denoiser.length, name=key, ndim=1)
        for key, x in (("x_num", x_num), ("x_den", x_den))
    )
    num = MaskDCE(denoiser, x_num, target=target, context=context, batch_size=max(batch_size, 256))
    den = MaskDCE(denoiser, x_den, target=target, context=context, batch_size=max(batch_size, 256))
    if num.context.size and np.any(num.x0[num.context] != den.x0[den.context]):
        raise ValueError("`x_num` and `x_den` must agree on the `context` positions (one shared prompt)")
    out = ratio_draws(mask_size_scheme(scheme, num.n), num, den, n_samples, rng, coupled=coupled)
    name = f"log_ratio_{'coupled' if coupled else 'decoupled'}_{scheme}"
    return estimate_record(name, out, batch_size=None, return_values=return_values)


def prompt_response_log_ratio(denoiser, prompt, response_num, response_den, **options) -> Estimate:
    """log p_θ(y⁺ | x_p) - log p_θ(y⁻ | x_p) for two responses to one prompt (§4.3, BeaverTails).

    The model input is the prompt followed by the response, so ``denoiser.length`` must be
    ``len(prompt) + len(response)``; the target is the response positions and H_n uses the
    response length. Options are those of :func:`log_ratio`.
    """
    denoiser = check_denoiser(denoiser)
    n = denoiser.n_tokens
    prompt = ensure_tokens(prompt, n, name="prompt", ndim=1)
    p, total = prompt.size, denoiser.length
    if p >= total:
        raise ValueError(f"`prompt` must be shorter than the denoiser's length {total}, leaving a response (got {p})")
    y_num = ensure_tokens(response_num, n, total - p, name="response_num", ndim=1)
    y_den = ensure_tokens(response_den, n, total - p, name="response_den", ndim=1)
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
