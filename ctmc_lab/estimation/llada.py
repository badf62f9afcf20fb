"""LLaDA's default likelihood evaluator, replicated and audited exactly (``get_log_likelihood.py``).

LLaDA (ML-GSAI/LLaDA) scores an answer of n tokens after a prompt by ``mc_num // b`` batches
of b rows (defaults ``mc_num = 128``, ``b = 16``). Each batch draws one k ~ U{1..n} and gives
row j the mask count

    x_j(k) = ((round(linspace(k, k + (b-1) n/b, b))_j - 1) mod n) + 1,

masks x_j uniform positions of the answer (the prompt stays visible) and scores the row with
(n/x_j) A(M_j), A(M) the summed cross-entropy of the masked answer tokens (§3.5). That is k-DCE
(RADD ``k_DCE``) with stratified counts. It is unbiased for -log p(answer | prompt) exactly when
every row's count is uniform on 1..n, and ``torch.round`` rounds half to even: wherever
j n/b has fractional part ½ the count of row j skips every other value.

Glossary (as the code below names things)

==================  ==========================================================================
``n``               the answer (target) length
``b``               ``batch_size``, rows per batch; R = ``mc_num // b`` batches
``counts``          x_j(k), the ``(n, b)`` table of row counts for k = 1..n
``count_law``       w_j(m) = P(x_j = m) = #{k : x_j(k) = m}/n, and w̄ = mean_j w_j
``level_mean``      μ_m = E[A(M) | |M| = m]; ℓ_m = μ_m/m, the mean loss per masked token
``level_second``    E[A(M)² | |M| = m]
==================  ==========================================================================

Exact moments (:func:`llada_moments`). Given k the rows are independent, so with
e(m) = (n/m) μ_m and v(m) = (n/m)² Var(A | m), one batch mean Ḡ has

    E Ḡ = sum_m w̄(m) e(m),
    Var Ḡ = (1/n) sum_k (1/b²) sum_j v(x_j(k)) + Var_k((1/b) sum_j e(x_j(k))),

and the evaluator's output (the mean of R independent batch means) has mean E Ḡ and variance
Var Ḡ / R. Since -log p = sum_m μ_m/m (Thm 4.1 / Cor. 4.3: C(n,m) B(m, n-m+1) = 1/m), the bias is

    E Ḡ - NLL = sum_m (n w̄(m) - 1) ℓ_m                                           (★)

a function of the count law and of the n per-count mean losses only. It vanishes for every
source iff w̄ is uniform, and for every law when ℓ is constant (a product source); since
sum_m (n w̄(m) - 1) = 0, |bias| ≤ ½ sum_m |n w̄(m) - 1| · (max ℓ - min ℓ).

The fix (``rule="fixed"``): x_j(k) = ((k - 1 + floor(j n/b)) mod n) + 1 in integer arithmetic,
the rule LLaDA's linspace intends. Each row's count is then k shifted by a constant mod n, so it
is uniform for every (n, b) and every batch mean is unbiased.

Per-count mean losses for long answers (:func:`markov1_level_means`): on a first-order Markov
chain the optimal denoiser's conditional at a masked position depends only on its nearest visible
neighbours, so μ_m is a sum over (position, left gap, right gap) of a hypergeometric mask count
times a closed-form loss: exact at any n (used for n ≤ 64), no 2^n enumeration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import comb

from ctmc_lab._validation import (
    ensure_array,
    ensure_bool,
    ensure_choice,
    ensure_int,
    ensure_rng,
    ensure_tokens,
    positive_int,
    subset_table_length,
)
from ctmc_lab.estimation.laws import UniformMasks, _checked_oracle, check_run
from ctmc_lab.estimation.records import Estimate, estimate_record
from ctmc_lab.exact.mask_dce import MaskDCE
from ctmc_lab.masks import as_mask_table
from ctmc_lab.sequences import popcount

__all__ = [
    "RULES",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MC_NUM",
    "llada_counts",
    "count_law",
    "count_deviation",
    "LevelStats",
    "level_stats",
    "LLaDAMoments",
    "llada_moments",
    "balanced_moments",
    "llada_bias",
    "markov1_level_means",
    "llada_draws",
    "llada_estimate",
]

#: The count rules: LLaDA's as its code computes it, and the unbiased integer fix.
RULES = ("llada", "fixed")
#: ``get_log_likelihood``'s defaults.
DEFAULT_BATCH_SIZE = 16
DEFAULT_MC_NUM = 128

_F32 = np.float32


def _check_rule(rule: str) -> str:
    return ensure_choice(rule, "rule", RULES)


def _fma32(a, b, c):
    """fl32(a·b + c) rounded once, as a fused multiply-add does.

    The float32 product is exact in float64 (48 significant bits) and for the magnitudes here
    (|values| ≤ 2^8, step ≥ 2^-6) so is the float64 sum, so one rounding to float32 remains.
    """
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(_F32)


def _linspace32(n: int, b: int, k: np.ndarray) -> np.ndarray:
    """``torch.linspace(float(k), k + (b-1)*(n/b), steps=b)`` in float32, rows k (torch 2.x CPU).

    torch's kernel: step = (end - start)/(b - 1); entry i is start + step·i for i < b//2 and
    end - step·(b-1-i) otherwise; b = 1 gives [start]. ``end`` is the float32 sum of k and the
    float64 number (b-1)·(n/b). Computing each entry as one fused multiply-add reproduces
    torch 2.13's CPU output at every n, b ≤ 64 (tested); separately rounded products and sums
    differ at 179 (n, b), all with b not a power of two.
    """
    start = k.astype(_F32)[:, None]
    if b == 1:
        return start
    end = (start + _F32((b - 1) * (n / b))).astype(_F32)
    step = ((end - start) / _F32(b - 1)).astype(_F32)
    i = np.arange(b)
    low = _fma32(step, i.astype(_F32), start)
    high = _fma32(-step, (b - 1 - i).astype(_F32), end)
    return np.where(i < b // 2, low, high)


def llada_counts(n: int, b: int, *, rule: str = "llada", k=None) -> np.ndarray:
    """The mask count of every row of a batch, for each k.

    Parameters
    ----------
    n : int
        Answer length (``target_len``).
    b : int
        Rows per batch (``batch_size``).
    rule : {"llada", "fixed"}
        ``"llada"``: ``round(linspace(k, k + (b-1) n/b, b))`` in float32 with round half to
        even, then ``((x - 1) % n) + 1``, as ``forward_process`` computes it. ``"fixed"``:
        ``((k - 1 + (j n) // b) % n) + 1`` in integers.
    k : int array, optional
        The batch draws (default: every k = 1..n).

    Returns
    -------
    (len(k), b) int array
        Counts in 1..n.

    Examples
    --------
    >>> llada_counts(2, 4)                       # n = 2, b = 4: round(1.5) = 2, round(2.5) = 2
    array([[1, 2, 2, 2],
           [2, 2, 1, 2]])
    >>> llada_counts(2, 4, rule="fixed")
    array([[1, 1, 2, 2],
           [2, 2, 1, 1]])
    """
    n, b = positive_int(n, "n"), positive_int(b, "batch_size")
    _check_rule(rule)
    k = np.arange(1, n + 1) if k is None else np.atleast_1d(ensure_array(k, "k", dtype=int, ndim=(0, 1), lo=1, hi=n))
    if rule == "fixed":
        x = k[:, None] + (np.arange(b) * n) // b
    else:
        x = np.rint(_linspace32(n, b, k)).astype(np.int64)  # rint: round half to even, as torch.round
    return (x - 1) % n + 1


def count_law(n: int, b: int, *, rule: str = "llada") -> np.ndarray:
    """w_j(m) = P(x_j = m) under k ~ U{1..n}, exactly.

    Returns
    -------
    (b, n) float array
        Row j, column m-1; each row sums to 1. Uniform (every entry 1/n) means row j is unbiased.
    """
    x = llada_counts(n, b, rule=rule)
    w = np.zeros((b, n))
    np.add.at(w, (np.broadcast_to(np.arange(b), x.shape), x - 1), 1.0 / n)
    return w


def count_deviation(n: int, b: int, *, rule: str = "llada") -> np.ndarray:
    """δ(m) = n w̄(m) - 1 for m = 1..n: the weights of the bias (★) on the per-token losses ℓ_m.

    Returns
    -------
    (n,) float array
        All zero iff the batch-averaged count law is uniform. Entries are multiples of 1/b.
    """
    return n * count_law(n, b, rule=rule).mean(axis=0) - 1.0


# ===================================================================================== moments
@dataclass(frozen=True)
class LevelStats:
    """Per-count moments of A(M) under M uniform of size m, m = 1..n.

    Attributes
    ----------
    mean : (n,) float array
        μ_m = E[A(M) | |M| = m].
    second : (n,) float array or None
        E[A(M)² | |M| = m]; None when only means are known (then only the bias is available).
    """

    mean: np.ndarray
    second: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(np.shape(self.mean)[-1])

    @property
    def nll(self):
        """sum_m μ_m / m: the model's (conditional) NLL (Thm 4.1 / Cor. 4.3)."""
        return self.mean @ (1.0 / np.arange(1, self.n + 1))


def level_stats(A) -> LevelStats:
    """:class:`LevelStats` from an A-table ``(2**n,)`` or a batch ``(B, 2**n)`` (level sums / C(n, m)).

    A level holding an infinite A(M) (x0 has probability 0 given some mask) has infinite moments.
    """
    A = as_mask_table(A)
    n = subset_table_length(A.shape[-1], "A", minimum=1)
    sizes = popcount(np.arange(1 << n))
    C = comb(n, np.arange(1, n + 1))
    mean = np.stack([A[..., sizes == m].sum(axis=-1) for m in range(1, n + 1)], axis=-1) / C
    second = np.stack([(A[..., sizes == m] ** 2).sum(axis=-1) for m in range(1, n + 1)], axis=-1) / C
    return LevelStats(mean, second)


@dataclass(frozen=True)
class LLaDAMoments:
    """Exact moments of LLaDA's evaluator (or its fix) at one sequence.

    Attributes
    ----------
    rule : str
    n, batch_size, mc_num : int
        Answer length, rows per batch, and ``mc_num`` (R = ``mc_num // batch_size`` batches).
    mean : float
        E Ḡ, the expected batch mean (and the expected output, up to its sign).
    bias : float
        E Ḡ - reference, by (★).
    batch_variance : float or None
        Var Ḡ of one batch mean (rows share k, so they are dependent); None without second moments.
    variance_of_mean : float or None
        Var of the evaluator's output, the mean of R independent batch means: Var Ḡ / R.
    """

    rule: str
    n: int
    batch_size: int
    mc_num: int
    mean: float
    bias: float
    batch_variance: float | None
    variance_of_mean: float | None

    @property
    def per_draw_variance(self) -> float | None:
        """b · Var Ḡ: comparable with the single-draw variance of i.i.d. estimators."""
        return None if self.batch_variance is None else self.batch_size * self.batch_variance

    def as_json(self) -> dict:
        """The ``nll --json`` record: the keys of :meth:`ctmc_lab.estimation.moments.Moments.as_json`
        (``variance`` per draw, b · Var Ḡ) plus ``batch_size``, ``mc_num`` and ``variance_of_mean``."""

        def num(x):
            return float(x) if x is not None and np.isfinite(x) else None

        return {
            "mean": num(self.mean),
            "bias": num(self.bias),
            "variance": num(self.per_draw_variance),
            "variance_is_infinite": False,
            "infinite_because": None,
            "batch_size": self.batch_size,
            "mc_num": self.mc_num,
            "variance_of_mean": num(self.variance_of_mean),
        }


def _stats(stats) -> LevelStats:
    """``stats`` as LevelStats: itself, or the level statistics of an A-table."""
    return stats if isinstance(stats, LevelStats) else level_stats(stats)


def _reference(reference, shape) -> np.ndarray:
    """The NLL the bias is measured against, one number or one per table."""
    ref = ensure_array(reference, "reference", ndim=(0, 1))
    if ref.shape not in ((), (1,), shape):
        raise ValueError(f"`reference` must be one number or {shape[0]} numbers (got shape {ref.shape})")
    return np.broadcast_to(ref, shape)


def _batches(batch_size: int, mc_num: int) -> tuple[int, int, int]:
    b = positive_int(batch_size, "batch_size")
    mc = positive_int(mc_num, "mc_num")
    if mc < b:
        raise ValueError(f"`mc_num` ({mc}) must be at least `batch_size` ({b}): mc_num // batch_size batches are run")
    return b, mc, mc // b


def llada_moments(
    stats, *, batch_size: int = DEFAULT_BATCH_SIZE, mc_num: int = DEFAULT_MC_NUM, rule: str = "llada", reference=None
):
    """Exact mean, bias and variances of LLaDA's evaluator from per-count statistics.

    Parameters
    ----------
    stats : LevelStats or (2**n,) / (B, 2**n) float array
        Per-count moments of A, or an A-table (then :func:`level_stats` of it).
    batch_size : int, default 16
    mc_num : int, default 128
        R = mc_num // batch_size batches (at least one).
    rule : {"llada", "fixed"}
    reference : float or (B,) array, optional
        The NLL the bias is measured against (default ``stats.nll``, the model's own NLL; for
        the optimal denoiser that is -log p0, or the conditional NLL for a prompt–response pair).

    Returns
    -------
    LLaDAMoments, or a list of them for a batch of tables

    Notes
    -----
    E Ḡ = sum_m w̄(m) (n/m) μ_m; Var Ḡ = E_k[(1/b²) sum_j v(x_j(k))] + Var_k(mean_j e(x_j(k))), see
    the module docstring; the output's variance is Var Ḡ / R.

    Examples
    --------
    >>> import numpy as np
    >>> s = LevelStats(np.array([0.1, 0.5, 1.2, 2.0]))        # n = 4: ℓ = (0.1, 0.25, 0.4, 0.5)
    >>> count_deviation(4, 8)                                # rows with j/2 ending in ½ get even counts
    array([-0.5,  0.5, -0.5,  0.5])
    >>> m = llada_moments(s, batch_size=8)                   # ½ (-0.1 + 0.25 - 0.4 + 0.5)
    >>> float(np.round(m.bias, 12)), float(np.round(llada_bias(s.mean, 8), 12))
    (0.125, 0.125)
    >>> llada_moments(s, batch_size=8, rule="fixed").bias
    0.0
    """
    stats = _stats(stats)
    b, mc, R = _batches(batch_size, mc_num)
    n = stats.n
    mu = np.atleast_2d(stats.mean)
    x = llada_counts(n, b, rule=rule)  # (n, b), rows k
    f = n / np.arange(1, n + 1)
    e = f * mu  # (B, n)
    g = e[:, x - 1].mean(axis=-1)  # (B, n_k): E[Ḡ | k]
    mean = g.mean(axis=-1)
    ref = mu @ (1.0 / np.arange(1, n + 1)) if reference is None else _reference(reference, mean.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        # (★) directly: the same number as mean - ref, without the cancellation of two large sums.
        bias = (mu / np.arange(1, n + 1)) @ count_deviation(n, b, rule=rule) + (mu @ (1.0 / np.arange(1, n + 1)) - ref)
    if stats.second is None:
        var = [None] * mu.shape[0]
    else:
        with np.errstate(invalid="ignore"):
            v = f**2 * np.maximum(np.atleast_2d(stats.second) - mu**2, 0.0)  # Var(A | m) ≥ 0 up to rounding
            within = v[:, x - 1].sum(axis=-1).mean(axis=-1) / b**2
            between = ((g - mean[:, None]) ** 2).mean(axis=-1)  # inf - inf: x0 outside the support
        var = list(within + between)
    out = [
        LLaDAMoments(
            rule,
            n,
            b,
            mc,
            float(mean[i]),
            float(bias[i]),
            None if var[i] is None else float(var[i]),
            None if var[i] is None else float(var[i] / R),
        )
        for i in range(mu.shape[0])
    ]
    return out[0] if np.ndim(stats.mean) == 1 else out


def balanced_moments(stats, *, batch_size: int = DEFAULT_BATCH_SIZE, mc_num: int = DEFAULT_MC_NUM, reference=None):
    """Exact moments of the other unbiased design: a balanced multiset of counts, random remainder.

    With b = q n + r, each batch uses every count 1..n q times plus r distinct counts drawn
    without replacement from 1..n (rows in random order; the batch mean does not see the
    order). Each count then has expected multiplicity b/n, so E Ḡ = sum_m μ_m/m = NLL, and

        Var Ḡ = (1/(b n)) sum_m v(m) + r (n - r) σ_e² / ((n - 1) b²),

    σ_e² = (1/n) sum_m (e(m) - ē)² the spread of e(m) = (n/m) μ_m over m (the variance of a
    sum of r draws without replacement; 0 when r = 0 or n = 1).

    Parameters and returns as :func:`llada_moments` (``rule="balanced"``).
    """
    stats = _stats(stats)
    if stats.second is None:
        raise ValueError("`stats` needs second moments (an A-table or LevelStats.second) for a variance")
    b, mc, R = _batches(batch_size, mc_num)
    n = stats.n
    mu = np.atleast_2d(stats.mean)
    f = n / np.arange(1, n + 1)
    e = f * mu
    v = f**2 * np.maximum(np.atleast_2d(stats.second) - mu**2, 0.0)
    r = b % n
    spread = ((e - e.mean(axis=-1, keepdims=True)) ** 2).mean(axis=-1)
    var = v.sum(axis=-1) / (b * n) + (r * (n - r) * spread / ((n - 1) * b**2) if n > 1 else 0.0)
    nll = mu @ (1.0 / np.arange(1, n + 1))
    ref = nll if reference is None else _reference(reference, nll.shape)
    out = [
        LLaDAMoments("balanced", n, b, mc, float(nll[i]), float(nll[i] - ref[i]), float(var[i]), float(var[i] / R))
        for i in range(mu.shape[0])
    ]
    return out[0] if np.ndim(stats.mean) == 1 else out


def llada_bias(level_mean, batch_size: int, *, rule: str = "llada"):
    """The bias (★) sum_m (n w̄(m) - 1) μ_m/m from per-count mean losses alone.

    Parameters
    ----------
    level_mean : (n,) or (B, n) float array
        μ_m = E[A(M) | |M| = m], m = 1..n.
    batch_size : int
    rule : {"llada", "fixed"}

    Returns
    -------
    float or (B,) float array
    """
    mu = ensure_array(level_mean, "level_mean", ndim=(1, 2), allow_empty=False)
    n = mu.shape[-1]
    return (mu / np.arange(1, n + 1)) @ count_deviation(n, batch_size, rule=rule)


# ====================================================================== first-order Markov chains
def markov1_level_means(P, y, *, left) -> np.ndarray:
    """μ_m for the optimal denoiser of a first-order chain, answer y after a visible token ``left``.

    Parameters
    ----------
    P : (N, N) float array
        Transition matrix of the chain (``MarkovChain.table`` at order 1).
    y : (n,) int array
        The answer.
    left : int
        The last prompt token (always visible; for an order-1 chain it is all of the prompt that
        matters to the answer's conditionals).

    Returns
    -------
    (n,) float array
        μ_m = E[sum_{i in M} -log p(y_i | visible)], M uniform of size m, m = 1..n.

    Notes
    -----
    For masked i with nearest visible neighbours a = y_{i-d} (or ``left`` when d = i+1) and
    c = y_{i+e}, p(y_i | visible) = P^d[a, y_i] P^e[y_i, c] / P^(d+e)[a, c], and P^d[a, y_i] when
    everything after i is masked. Those configurations force w = d + e - 1 (or d + n - 1 - i)
    positions masked and r ∈ {0, 1, 2} answer positions visible, so C(n - w - r, m - w) of the
    C(n, m) masks of size m have them.
    """
    P = ensure_array(P, "P", ndim=2, finite=True, lo=0.0)
    if P.shape[0] != P.shape[1]:
        raise ValueError(f"`P` must be a square (N, N) transition matrix of a first-order chain (got shape {P.shape})")
    y = ensure_tokens(y, P.shape[0], name="y", ndim=1)
    left = ensure_int(left, "left", minimum=0, maximum=P.shape[0] - 1)
    n = y.size
    Pw = np.empty((n + 2,) + P.shape)  # Pw[d] = P^d
    Pw[0] = np.eye(P.shape[0])
    for d in range(1, n + 2):
        Pw[d] = Pw[d - 1] @ P
    full = np.concatenate([[int(left)], y])  # full[i + 1] = y_i
    m = np.arange(1, n + 1)
    mu = np.zeros(n)
    with np.errstate(divide="ignore"):
        for i in range(n):
            d = np.arange(1, i + 2)[:, None]  # left gap; d = i + 1 reaches the prompt token
            a = full[i + 1 - d]
            r_left = (d <= i).astype(np.int64)  # the prompt token is not one of the n answer positions
            e = np.arange(1, n - i)[None, :]  # right gap: y_{i+e} visible, y_{i+1..i+e-1} masked
            c = y[i + e]
            loss = -np.log(Pw[d, a, y[i]] * Pw[e, y[i], c] / Pw[d + e, a, c])  # (i+1, n-i-1)
            w = d + e - 1
            mu += np.einsum("de,dem->m", loss, comb((n - w - r_left - 1)[..., None], m - w[..., None]))
            w_end = d[:, 0] + n - 1 - i  # nothing visible after i
            mu += -np.log(Pw[d[:, 0], a[:, 0], y[i]]) @ comb((n - w_end - r_left[:, 0])[:, None], m - w_end[:, None])
    return mu / comb(n, m)


# ================================================================================ Monte Carlo
def llada_draws(oracle, n_samples: int, rng, batch_size: int, *, rule: str = "llada") -> np.ndarray:
    """The single-draw values of LLaDA's evaluator: per batch of b rows one k ~ U{1..n}, row j
    masks x_j(k) uniform positions of the target and scores (n/x_j) A(M_j).

    ``oracle`` is an A-oracle (``oracle.n``, ``oracle(local)``); ``n_samples`` a whole number
    (≥ 2) of batches of ``batch_size``.
    """
    _check_rule(rule)
    oracle = _checked_oracle(oracle, getattr(oracle, "n", None), "oracle")
    n_samples, batch_size = check_run(n_samples, batch_size, stratified=True)
    rng = ensure_rng(rng)
    n = oracle.n
    table = llada_counts(n, batch_size, rule=rule)
    sizes = UniformMasks(n)
    out = np.empty(n_samples)
    for lo in range(0, n_samples, batch_size):
        m = table[rng.integers(0, n)]
        out[lo : lo + batch_size] = (n / m) * oracle(sizes.draw(m, rng))
    return out


def llada_estimate(
    denoiser,
    x0=None,
    *,
    n_samples: int = DEFAULT_MC_NUM,
    rng=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rule: str = "llada",
    target=None,
    context=None,
    return_values: bool = False,
) -> Estimate:
    """LLaDA's evaluator in NumPy: batches of b rows sharing one k, counts by ``rule``.

    Per batch: k ~ U{1..n}; row j gets x_j(k) masked positions chosen uniformly in the target
    and the value g = (n/x_j) A(M_j). ``n_samples`` is ``mc_num`` and must be a whole number
    (≥ 2) of batches; the estimate's mean is -``get_log_likelihood``'s output and its standard
    error comes from the batch means (rows of a batch are dependent).

    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
    x0 : (L,) int array
    n_samples : int, default 128
    rng : seed or Generator
    batch_size : int, default 16
    rule : {"llada", "fixed"}
    target, context : positions, optional
        The answer positions and the prompt (visible), as in
        :func:`ctmc_lab.estimation.estimators.k_dce`.
    return_values : bool

    Returns
    -------
    Estimate
        Named ``llada_stratified`` or ``llada_stratified_fixed``.
    """
    _check_rule(rule)
    ensure_bool(return_values, "return_values")
    rng = ensure_rng(rng)
    n_samples, batch_size = check_run(n_samples, batch_size, stratified=True)
    oracle = MaskDCE.of(denoiser, x0, target=target, context=context, batch_size=batch_size)
    out = llada_draws(oracle, n_samples, rng, batch_size, rule=rule)
    name = "llada_stratified" if rule == "llada" else "llada_stratified_fixed"
    return estimate_record(name, out, batch_size=batch_size, return_values=return_values)


# ======================================================================= a first-order stand-in
def first_order_projection(chain):
    """The first-order chain with the stationary bigram statistics of ``chain``: P(v | a) ∝ π(a, v).

    A long-answer stand-in for MK4 on which :func:`markov1_level_means` is exact at any n.
    """
    from ctmc_lab.sources.markov import MarkovChain

    if chain.order == 1:
        return chain
    n = chain.n_tokens
    pair = np.zeros((n, n))
    last = np.arange(chain.n_contexts) % n  # the most recent symbol of each context
    np.add.at(pair, last, chain.stationary[:, None] * chain.table)
    return MarkovChain(
        pair / pair.sum(axis=1, keepdims=True),
        order=1,
        alphabet=chain.alphabet,
        name=f"{chain.name or 'chain'} first-order projection",
    )
