"""The mask laws every estimator draws from, and the one draw loop (``docs/theory.md`` §4.1, §6.1–6.2).

A mask-size scheme draws m ~ q_m, then a mask M uniform among the C(n, m) masks of size m, and
scores it with f_m A(M) (Thm 4.1: unbiased for sum_M B(m, n-m+1) A(M) exactly when
q_m f_m = 1/m for every m ≥ 1). This module holds what both the Monte Carlo samplers and the
exact moments need and nothing that knows an estimator by name:

* the built-in laws n -> (q, f) (Thm 4.1, Eq. 15; §6.1–6.2, §8) and their validation;
* :class:`UniformMasks`, the uniform mask of a given size;
* :class:`MaskSizeScheme`, one law at one target length, with :meth:`MaskSizeScheme.sample`,
  the draw "m ~ q, then M uniform of size m" that estimates, log-ratios and studies share;
* :class:`TableOracle`, an A-oracle over an exact table (the same interface as
  :class:`ctmc_lab.exact.mask_dce.MaskDCE`: ``n`` and ``oracle(local)``);
* :func:`check_run` and :func:`chunks`, the run-size rules and the draw chunks.

Masks are int bitmasks over the n target positions (bit j = j-th target position).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import comb

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    InvalidTypeError,
    ensure_array,
    ensure_bool,
    ensure_callable,
    ensure_int,
    ensure_rng,
    ensure_str,
    positive_int,
    subset_table_length,
)
from ctmc_lab.exact.mask_dce import DEFAULT_BATCH, DENSE_CACHE_BITS
from ctmc_lab.masks import harmonic
from ctmc_lab.sequences import popcount

__all__ = [
    "DRAW_CHUNK",
    "time_free_law",
    "k_dce_law",
    "rb_lambda_dce_law",
    "omit_full_mask_law",
    "omit_full_mask_token_mean_law",
    "importance_law",
    "validated_law",
    "UniformMasks",
    "MaskSizeScheme",
    "TableOracle",
    "as_oracle",
    "level_sums",
    "check_run",
    "chunks",
    "ratio_draws",
]

#: Draws taken from the generator per step by the samplers that are not batch-stratified,
#: whatever ``batch_size`` is: their random stream, hence their estimate, does not depend on
#: ``batch_size``, which only sets how many inputs go to the denoiser at once (memory).
#: Equal to DEFAULT_BATCH, so runs at the default batch size draw in one step per batch.
DRAW_CHUNK = DEFAULT_BATCH


# ================================================================== the built-in mask-size laws
def _inv_m(n: int) -> np.ndarray:
    inv_m = np.zeros(n + 1)
    inv_m[1:] = 1.0 / np.arange(1, n + 1, dtype=float)
    return inv_m


def time_free_law(n):
    """The paper's law (Thm 4.1, Eq. 15): q_m = 1/(m H_n) on 1..n, f_m = H_n."""
    n = positive_int(n, "n")
    q = np.zeros(n + 1)
    h_n = harmonic(n)
    q[1:] = _inv_m(n)[1:] / h_n
    return q, np.full(n + 1, h_n)


def k_dce_law(n):
    """RADD's ``k_DCE``: q_m = 1/n on 1..n, f_m = n/m."""
    n = positive_int(n, "n")
    q = np.zeros(n + 1)
    q[1:] = 1.0 / n
    return q, n * _inv_m(n)


def rb_lambda_dce_law(n):
    """Rao–Blackwellised λ-DCE (S9): q_m = 1/(n+1) on 0..n, f_m = (n+1)/m (0 at m = 0)."""
    n = positive_int(n, "n")
    return np.full(n + 1, 1.0 / (n + 1)), (n + 1) * _inv_m(n)


def _omit_q(n):
    q = np.zeros(n + 1)
    q[1:n] = _inv_m(n)[1:n] / harmonic(n - 1)
    return q


def omit_full_mask_law(n):
    """``eval_llada.py``'s off-by-one sampler (§8): q_m = 1/(m H_{n-1}) on 1..n-1, f_m = H_n (n ≥ 2)."""
    n = ensure_int(n, "n", minimum=2)  # the fully masked set omitted: at least one size m < n remains
    return _omit_q(n), np.full(n + 1, harmonic(n))


def omit_full_mask_token_mean_law(n):
    """``eval_text8.py``'s statistic (§8): the omit-full-mask q with f_m = H_n/m (n ≥ 2)."""
    n = ensure_int(n, "n", minimum=2)
    return _omit_q(n), harmonic(n) * _inv_m(n)


def importance_law(n, *, weights=None):
    """Importance sampling over m (§6.5): q_m ∝ ``weights`` on 1..n, f_m = 1/(m q_m) (0 where q_m = 0).

    ``weights`` are n non-negative finite numbers for m = 1..n (or n + 1 for m = 0..n, the weight
    of m = 0 ignored), not all 0.
    """
    n = positive_int(n, "n")
    if weights is None:
        raise ValueError("`weights` is required for an importance law over m")
    w = ensure_array(weights, "weights", ndim=1, finite=True, lo=0.0)
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


def validated_law(name: str, law, n: int, *, weights=None, needs_weights: bool = False):
    """(q, f) of ``law`` at length n as read-only float arrays, or a ValueError naming ``name``.

    q must be ``(n+1,)``, finite, non-negative and sum to 1 within ``SUM_TOLERANCE``; f must be
    ``(n+1,)`` and finite.
    """
    name, law = ensure_str(name, "name"), ensure_callable(law, "law")
    n = positive_int(n, "n")
    q, f = law(n, weights=weights) if ensure_bool(needs_weights, "needs_weights") else law(n)
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


# ====================================================================================== masks
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
        self.n = positive_int(n, "n")
        self.counts = np.array([comb(n, k, exact=True) for k in range(n + 1)], dtype=np.int64)
        if n <= DENSE_CACHE_BITS:
            masks = np.arange(1 << n, dtype=np.int64)
            order = np.argsort(popcount(masks), kind="stable")
            self.sorted = masks[order]
            self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def draw(self, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniform mask of size ``m[k]`` for each k, as int64 local bitmasks."""
        if type(m) is np.ndarray and m.dtype == np.int64 and m.ndim == 1 and type(rng) is np.random.Generator:
            # A sampler's own batch (once per batch of a stratified run): the bounds decide.
            if m.size and m.min() >= 0 and m.max() <= self.n:
                return self._draw(m, rng)
        return self._draw(ensure_array(m, "m", ndim=1, dtype=int, lo=0, hi=self.n), ensure_rng(rng))

    def _draw(self, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """:meth:`draw` of checked sizes (an int64 array in 0..n) and a Generator: the
        samplers' per-batch call, whose sizes come from their own laws."""
        if self.n <= DENSE_CACHE_BITS:
            return self.sorted[self.offsets[m] + rng.integers(0, self.counts[m])]
        keys = rng.random((m.size, self.n))
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        chosen = ranks < m[:, None]
        return (chosen.astype(np.int64) << np.arange(self.n)).sum(axis=1)


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

    def __post_init__(self):
        # Frozen: the validated values are set once, here (a list becomes its float array).
        ensure_str(self.name, "name")
        n = positive_int(self.n, "n")
        object.__setattr__(self, "q", ensure_array(self.q, "q", shape=(n + 1,), finite=True, lo=0.0))
        object.__setattr__(self, "f", ensure_array(self.f, "f", shape=(n + 1,), finite=True))

    @property
    def mask_probabilities(self) -> np.ndarray:
        """P(M) = q_m / C(n, m) for each local mask bitmask, shape (2^n,)."""
        m = popcount(np.arange(1 << self.n))
        return self.q[m] / comb(self.n, m)

    @property
    def mask_weights(self) -> np.ndarray:
        """f_{|M|} for each local mask bitmask, shape (2^n,): g = f_{|M|} A(M)."""
        return self.f[popcount(np.arange(1 << self.n))]

    @property
    def unbiased(self) -> bool:
        """q_m f_m = 1/m for m = 1..n (to 1e-13 relative): E g is the NLL for every A (Thm 4.1)."""
        m = np.arange(1, self.n + 1)
        return bool(np.allclose(self.q[1:] * self.f[1:], 1.0 / m, rtol=1e-13, atol=0))

    def sample(self, k: int, rng: np.random.Generator, *, stratified: bool = False, sizes=None):
        """k draws (m, M): m ~ q by inversion of its cdf, then M uniform of size m.

        Parameters
        ----------
        k : int
        rng : numpy.random.Generator
        stratified : bool, default False
            Evenly spaced mask counts: v_j = (j + u_j)/k covers [0, 1) once, so the k draws are
            one stratified batch (each m appears about k q_m times, the batch mean is unbiased).
        sizes : UniformMasks, optional
            A prepared sampler of uniform masks over n bits (built here when omitted).

        Returns
        -------
        m : (k,) int array
        local : (k,) int64 array
            Local bitmasks with popcount m.
        """
        k, rng, stratified = positive_int(k, "k"), ensure_rng(rng), ensure_bool(stratified, "stratified")
        if sizes is not None and not (isinstance(sizes, UniformMasks) and sizes.n == self.n):
            raise InvalidTypeError(f"`sizes` must be the UniformMasks of n = {self.n} bits (got {sizes!r})")
        sizes = UniformMasks(self.n) if sizes is None else sizes
        return self._sample(k, rng, stratified, sizes, self._cdf())

    def _cdf(self) -> np.ndarray:
        """The cdf of m that :meth:`sample` inverts (normalised by its last entry)."""
        cdf = np.cumsum(self.q)
        cdf /= cdf[-1]
        return cdf

    def _sample(self, k: int, rng, stratified: bool, sizes: UniformMasks, cdf: np.ndarray):
        """:meth:`sample` with checked arguments and its cdf computed once per run."""
        if stratified:
            v = (np.arange(k) + rng.random(k)) / k
        else:
            v = rng.random(k)
        m = np.minimum(np.searchsorted(cdf, v, side="right"), self.n)
        return m, sizes._draw(m, rng)

    def values(self, oracle, n_samples: int, rng: np.random.Generator, *, batch_size=None) -> np.ndarray:
        """``n_samples`` single-draw values f_m A(M), drawn in chunks of ``DRAW_CHUNK``, or
        stratified per batch of ``batch_size`` when it is given (the draws then depend on it)."""
        oracle = _checked_oracle(oracle, self.n, "oracle")
        n_samples = positive_int(n_samples, "n_samples")
        batch_size = None if batch_size is None else positive_int(batch_size, "batch_size")
        rng = ensure_rng(rng)
        sizes, cdf = UniformMasks(self.n), self._cdf()
        out = np.empty(n_samples)
        for sl in chunks(n_samples, batch_size or DRAW_CHUNK):
            m, local = self._sample(sl.stop - sl.start, rng, batch_size is not None, sizes, cdf)
            out[sl] = self.f[m] * oracle(local)
        return out


def ratio_draws(scheme: MaskSizeScheme, num, den, n_samples: int, rng, *, coupled: bool) -> np.ndarray:
    """Single draws of the log-ratio estimator of log p(x_num) - log p(x_den) (Eq. 18, §4.3, §6.4).

    Coupled: one mask per draw for both, g = f_m [A_den(M) - A_num(M)]; decoupled: independent
    masks, g = f_m A_den(M) - f_m' A_num(M'). ``num`` and ``den`` are A-oracles on the same n
    target positions (:class:`TableOracle` or :class:`ctmc_lab.exact.mask_dce.MaskDCE`).
    """
    if not isinstance(scheme, MaskSizeScheme):
        raise InvalidTypeError(f"`scheme` must be a MaskSizeScheme (got {type(scheme).__name__})")
    num, den = _checked_oracle(num, scheme.n, "num"), _checked_oracle(den, scheme.n, "den")
    n_samples, rng, coupled = positive_int(n_samples, "n_samples"), ensure_rng(rng), ensure_bool(coupled, "coupled")
    sizes = UniformMasks(scheme.n)
    out = np.empty(n_samples)
    for sl in chunks(n_samples, DRAW_CHUNK):
        k = sl.stop - sl.start
        m, local = scheme.sample(k, rng, sizes=sizes)
        if coupled:
            out[sl] = scheme.f[m] * (den(local) - num(local))
        else:
            m2, local2 = scheme.sample(k, rng, sizes=sizes)
            out[sl] = scheme.f[m] * den(local) - scheme.f[m2] * num(local2)
    return out


# ===================================================================================== oracles
class TableOracle:
    """An A-oracle over an exact table: ``oracle(local)`` is ``A[local]`` (and D, with ``with_defect``).

    Parameters
    ----------
    A : (2**n,) float array
        A(M) by local mask bitmask (``docs/theory.md`` §3.5), A[0] = 0.
    D : (2**n,) float array, optional
        The row-sum defects D(M) (Lemma 3.3); 0, a normalised model, by default.
    """

    def __init__(self, A, D=None):
        A = ensure_array(A, "A")
        if A.ndim != 1:
            raise ValueError(f"`A` must be one table of 2**n entries (got shape {A.shape})")
        self.n = subset_table_length(A.shape[0], "A", minimum=1)
        D = np.zeros_like(A) if D is None else ensure_array(D, "D")
        if D.shape != A.shape:
            raise ValueError(f"`D` must be {A.shape[0]} numbers like `A` (got shape {D.shape})")
        self._A, self._D = A, D

    def __call__(self, local, *, with_defect: bool = False):
        local = ensure_array(local, "local", dtype=int, lo=0, hi=self._A.size - 1)
        with_defect = ensure_bool(with_defect, "with_defect")
        return (self._A[local], self._D[local]) if with_defect else self._A[local]


def _checked_oracle(oracle, n: int, name: str):
    """``oracle`` if it is an A-oracle over ``n`` target positions (callable, with ``n``)."""
    if not (callable(oracle) and hasattr(oracle, "n")):
        raise InvalidTypeError(f"`{name}` must be an A-oracle (callable, with `n`; got {type(oracle).__name__})")
    if oracle.n != n:
        raise ValueError(f"`{name}` covers n = {oracle.n} target positions, not {n}")
    return oracle


def as_oracle(source):
    """``source`` if it is an A-oracle (has ``n`` and is callable), a :class:`TableOracle` for an array."""
    if callable(source) and hasattr(source, "n"):
        return source
    return TableOracle(source)


def level_sums(A: np.ndarray, n: int, power: int = 1) -> np.ndarray:
    """sum_{|M| = m} A(M)^power for m = 0..n, shape (..., n+1)."""
    n, power = ensure_int(n, "n", minimum=0), positive_int(power, "power")
    A = ensure_array(A, "A", ndim=range(1, 33))
    if A.shape[-1] != 1 << n:
        raise ValueError(f"`A` must have 2**n = {1 << n} entries on its last axis (got shape {A.shape})")
    if np.isinf(A).any():
        raise ValueError("`A` has infinite entries (x0 has zero model probability): moments are infinite")
    onehot = (popcount(np.arange(1 << n))[:, None] == np.arange(n + 1)).astype(float)
    return (A**power) @ onehot


# ================================================================================ run sizes
def check_run(n_samples, batch_size, *, stratified: bool) -> tuple[int, int]:
    """Validated (n_samples, batch_size); a stratified run needs whole batches, at least 2."""
    n_samples = positive_int(n_samples, "n_samples")
    batch_size = positive_int(batch_size, "batch_size")
    stratified = ensure_bool(stratified, "stratified")
    if stratified and (n_samples % batch_size or n_samples // batch_size < 2):
        raise ValueError(
            f"a batch-stratified sampler needs `n_samples` to be a multiple of `batch_size` with at "
            f"least 2 batches, for an honest standard error (got n_samples={n_samples}, "
            f"batch_size={batch_size})"
        )
    return n_samples, batch_size


def chunks(n_samples: int, size: int):
    """Consecutive slices of at most ``size`` covering 0..n_samples."""
    n_samples, size = ensure_int(n_samples, "n_samples", minimum=0), positive_int(size, "size")
    return (slice(lo, min(lo + size, n_samples)) for lo in range(0, n_samples, size))
