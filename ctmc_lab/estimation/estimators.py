"""Vectorized Monte Carlo likelihood estimators over a ``Denoiser`` (``docs/theory.md`` §4, §6, §8).

Fix x0 and a target set T of n positions (all of [L] by default), a context set C, and let
R = [L] minus (T ∪ C) be the marginalised positions (masked in every model input, never
conditioned on; Cor. 4.3, §4.2). For a mask M ⊆ T with m = |M|,

    A(M) = sum_{i in M} -log c(x0 masked on M ∪ R)_{i, x0^i}          (§3.5, §6)

and the (conditional) NLL is  sum_{M ⊆ T} B(m, n-m+1) A(M)  (Thm 4.1 / Cor 4.3). Every
estimator below draws masks M and returns one value g per draw:

==============================  =======================================  ============================
name                            how M is drawn                           value g
==============================  =======================================  ============================
``time_free`` (Thm 4.1, Eq.15)  P(m) ∝ 1/m on 1..n, M uniform of size m  H_n A(M)
``k_dce`` (RADD ``k_DCE``)      m ~ U{1..n} (or stratified), M uniform   (n/m) A(M)
``rb_lambda_dce``               m ~ U{0..n}, M uniform                   ((n+1)/m) A(M), 0 if m = 0
``lambda_dce`` (Eq. 16)         λ ~ U(0,1) (or stratified), M ~ Bern(λ)  A(M)/λ
``t_dce`` / ``t_dse`` (code)    t = (1-ε_s)u + ε_s, M ~ Bern(λ(t))       σ/(e^σ̄-1) [A(M) + ...]
``omit_full_mask`` (§8)         P(m) ∝ 1/m on 1..n-1                     H_n A(M)            (biased)
``omit_full_mask_token_mean``   P(m) ∝ 1/m on 1..n-1                     H_n A(M)/m          (biased)
``mask_size_importance``        m ~ q (any weights), M uniform           A(M)/(m q_m)
``llada_stratified``            LLaDA: one k per batch, row counts       (n/m) A(M)          (biased)
                                round(linspace(k, ..)) (:mod:`.llada`)
``llada_stratified_fixed``      the same, counts k + floor(jn/B) mod n   (n/m) A(M)
==============================  =======================================  ============================

Masks are int bitmasks over the n target positions (bit j = j-th target position). For
n ≤ 20 every A(M) computed is cached in a table of 2^n entries, so a run of 10^6 draws calls
the denoiser only on the distinct masked inputs it meets (at most 2^n - 1 of them).

Randomness follows SPEC 7: every function takes ``rng`` (anything ``np.random.default_rng``
accepts). The same seed gives the same bits; for every sampler that is not batch-stratified
the draws are also independent of ``batch_size`` (a memory knob), while the batch-stratified
ones (``k_dce_stratified``, ``lambda_dce_stratified``, ``t_dce``/``t_dse`` with the ``vdm``
sampler) stratify within each batch, so their draws depend on it by design.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import comb

from ctmc_lab.masks import harmonic
from ctmc_lab.sequences import as_positions
from ctmc_lab.sources.denoisers import Denoiser

__all__ = [
    "Estimate",
    "MaskDCE",
    "MaskSizeScheme",
    "mask_size_scheme",
    "SCHEMES",
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
    "log_ratio",
    "prompt_response_log_ratio",
    "ESTIMATORS",
    "estimate",
]

#: Largest target size for which A(M) is cached in a dense table of 2^n floats (8 MiB at n = 20).
_DENSE_CACHE_BITS = 20
#: Default number of draws generated per vectorized step.
DEFAULT_BATCH = 4096
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
        The estimator's name (see :data:`ESTIMATORS`).
    mean : float
        The sample mean of the single-draw values g.
    stderr : float
        Its standard error: ``std(g, ddof=1)/sqrt(n)`` for i.i.d. draws; for batch-stratified
        samplers (``stratified=True``, ``sampler="stratified"`` or ``"vdm"``) the standard
        deviation of the batch means over sqrt(number of batches), since draws within a batch
        are dependent.
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


# ================================================================================== index sets


def _bits(positions: np.ndarray) -> int:
    return int(np.sum(np.left_shift(1, positions.astype(np.int64)))) if positions.size else 0


def _local_to_global(local: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Scatter the bits of local target-masks onto their positions in [L] (a bit 'deposit')."""
    local = np.asarray(local, dtype=np.int64)
    out = np.zeros_like(local)
    for j, pos in enumerate(target):
        out |= ((local >> j) & 1) << int(pos)
    return out


# =================================================================================== A(M) oracle
class MaskDCE:
    """The DCE of a denoiser on x0, per mask over a target set: A(M) and the row-sum defect D(M).

    Parameters
    ----------
    denoiser : Denoiser
    x0 : (L,) int array
        The clean sequence (tokens 0..N-1).
    target : sequence of int or (L,) bool array, optional
        I_1, the positions whose likelihood is estimated (default: all of [L]).
    context : sequence of int or (L,) bool array, optional
        I_2, positions always visible (default: none). Positions in neither set are
        marginalised: masked in every model input (Cor. 4.3; ``docs/theory.md`` §4.2, §8 item 6).
    batch_size : int, default 4096
        Rows per denoiser call.

    Notes
    -----
    For a local mask M ⊆ T (bit j = ``target[j]``), the model input is x0 with mask id N on
    M ∪ R, and

        A(M) = sum_{i in M} -log c(x)_{i, x0^i},     D(M) = sum_{i in M} (sum_v c(x)_{i,v} - 1).

    D is 0 for a normalised denoiser; it is Lemma 3.3's correction term (§3.2) and enters the
    code's ``t_DSE`` loss. For n ≤ 20 every value computed is cached, so repeated masks
    never call the denoiser twice.
    """

    def __init__(self, denoiser, x0, *, target=None, context=None, batch_size: int = DEFAULT_BATCH):
        if not isinstance(denoiser, Denoiser):
            raise ValueError(f"`denoiser` must be a Denoiser (got {type(denoiser).__name__})")
        length, n_tokens = int(denoiser.length), int(denoiser.n_tokens)
        x0 = np.asarray(x0)
        if x0.shape != (length,) or not np.issubdtype(x0.dtype, np.integer):
            raise ValueError(f"`x0` must be an int array of shape ({length},) (got shape {x0.shape})")
        if x0.min() < 0 or x0.max() >= n_tokens:
            raise ValueError(f"`x0` tokens must lie in 0..{n_tokens - 1} (clean, no mask)")
        tgt = np.arange(length) if target is None else as_positions(target, length, "target")
        ctx = np.zeros(0, np.int64) if context is None else as_positions(context, length, "context")
        if tgt.size == 0:
            raise ValueError("`target` must contain at least one position")
        if np.intersect1d(tgt, ctx).size:
            raise ValueError(f"`target` and `context` must be disjoint (both hold {np.intersect1d(tgt, ctx).tolist()})")
        if tgt.size > 62:
            raise ValueError(f"`target` has {tgt.size} positions; at most 62 fit an int64 bitmask")
        self.denoiser = denoiser
        self.x0 = x0.astype(np.int64)
        self.x0.setflags(write=False)
        self.length, self.n_tokens = length, n_tokens
        self.target, self.context = tgt, ctx
        self.n = int(tgt.size)
        self.rest_bits = ((1 << length) - 1) ^ _bits(tgt) ^ _bits(ctx)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self._dense = self.n <= _DENSE_CACHE_BITS
        if self._dense:
            self._A = np.full(1 << self.n, np.nan)
            self._D = np.full(1 << self.n, np.nan)
            self._A[0] = self._D[0] = 0.0

    @property
    def harmonic(self) -> float:
        """H_n, the harmonic number of the target length (Cor. 4.3)."""
        return harmonic(self.n)

    def inputs(self, local: np.ndarray) -> np.ndarray:
        """The masked model inputs ``(K, L)`` for local masks ``(K,)``."""
        glob = _local_to_global(local, self.target) | self.rest_bits
        masked = ((glob[:, None] >> np.arange(self.length)) & 1).astype(bool)
        return np.where(masked, self.n_tokens, self.x0)

    def _evaluate(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        A = np.empty(local.size)
        D = np.empty(local.size)
        in_m = ((local[:, None] >> np.arange(self.n)) & 1).astype(bool)  # (K, n)
        for lo in range(0, local.size, self.batch_size):
            sl = slice(lo, lo + self.batch_size)
            out = np.asarray(self.denoiser(self.inputs(local[sl])), dtype=float)
            if out.shape != (local[sl].size, self.length, self.n_tokens):
                raise ValueError(
                    f"the denoiser returned shape {out.shape}, expected {(local[sl].size, self.length, self.n_tokens)}"
                )
            out = out[:, self.target, :]  # (k, n, N)
            logc = out[:, np.arange(self.n), self.x0[self.target]]
            if np.isnan(logc).any():
                raise ValueError("the denoiser returned NaN log-probabilities")
            # -log c = +inf where the model gives x0^i probability 0: A(M) is then infinite.
            A[sl] = np.where(in_m[sl], -logc, 0.0).sum(axis=1)
            with np.errstate(over="ignore"):
                defect = np.exp(out).sum(axis=-1) - 1.0
            D[sl] = np.where(in_m[sl], defect, 0.0).sum(axis=1)
        return A, D

    def preload(self, A, D=None) -> MaskDCE:
        """Fill the cache with an exact table, so draws become lookups.

        Parameters
        ----------
        A : (2**n,) float array
            A(M) for every local mask, e.g. from forward–backward or a subset table (it must
            be the table this denoiser produces; the callers' tests check the routes agree).
        D : (2**n,) float array, optional
            The row-sum defects; 0 (a normalised denoiser) by default.

        Returns
        -------
        MaskDCE
            ``self``.
        """
        if not self._dense:
            raise ValueError(f"a table of 2**{self.n} masks is too large to preload (at most 2**{_DENSE_CACHE_BITS})")
        A = np.asarray(A, dtype=float)
        D = np.zeros_like(A) if D is None else np.asarray(D, dtype=float)
        for name, arr in (("A", A), ("D", D)):
            if arr.shape != (1 << self.n,):
                raise ValueError(f"`{name}` must have 2**{self.n} entries (got shape {arr.shape})")
            if np.isnan(arr).any():
                raise ValueError(f"`{name}` must not contain NaN")
        self._A[:], self._D[:] = A, D
        return self

    def __call__(self, local, *, with_defect: bool = False):
        """A(M) (and D(M)) for an array of local masks, computing each distinct mask once.

        Parameters
        ----------
        local : int array
            Local bitmasks over the target positions, in 0..2^n - 1.
        with_defect : bool, default False
            Also return D(M).
        """
        local = np.asarray(local, dtype=np.int64)
        shape = local.shape
        flat = local.ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= (1 << self.n)):
            raise ValueError(f"masks must lie in 0..2**{self.n} - 1")
        if self._dense:
            uniq = np.unique(flat)
            todo = uniq[np.isnan(self._A[uniq])]
            if todo.size:
                self._A[todo], self._D[todo] = self._evaluate(todo)
            A, D = self._A[flat], self._D[flat]
        else:
            uniq, inverse = np.unique(flat, return_inverse=True)
            Au, Du = self._evaluate(uniq)
            A, D = Au[inverse], Du[inverse]
        A, D = A.reshape(shape), D.reshape(shape)
        return (A, D) if with_defect else A

    def table(self, *, with_defect: bool = False):
        """A(M) for all 2^n local masks, indexed by the local bitmask (``A[0] = 0``)."""
        if self.n > 24:
            raise ValueError(f"a full table needs 2**{self.n} masks; use at most 24 target positions")
        return self(np.arange(1 << self.n, dtype=np.int64), with_defect=with_defect)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"`{name}` must be a positive integer (got {value!r})")
    return int(value)


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
        m = np.bitwise_count(np.arange(1 << self.n, dtype=np.uint64)).astype(np.int64)
        return self.q[m] / comb(self.n, m)

    @property
    def unbiased(self) -> bool:
        m = np.arange(1, self.n + 1)
        return bool(np.allclose(self.q[1:] * self.f[1:], 1.0 / m, rtol=1e-13, atol=0))


def _frozen(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    a.setflags(write=False)
    return a


def mask_size_scheme(name: str, n: int, *, weights=None) -> MaskSizeScheme:
    """The :class:`MaskSizeScheme` of a named estimator on a target of length n.

    Parameters
    ----------
    name : {"time_free", "k_dce", "rb_lambda_dce", "omit_full_mask", "omit_full_mask_token_mean",
            "mask_size_importance"}
    n : int
        Target length (``omit_*`` need n ≥ 2).
    weights : (n,) or (n+1,) float array, optional
        For ``mask_size_importance``: unnormalised P(m) over m = 1..n (or 0..n, weight of
        m = 0 ignored). A zero weight at level m keeps the estimator unbiased only if A(M) = 0
        for every mask of size m (as for small m with c* on a sparse support).

    Notes
    -----
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
    n = _positive_int(n, "n")
    m = np.arange(n + 1, dtype=float)
    inv_m = np.zeros(n + 1)
    inv_m[1:] = 1.0 / m[1:]
    q = np.zeros(n + 1)
    h_n = harmonic(n)
    if name == "time_free":
        q[1:] = inv_m[1:] / h_n
        f = np.full(n + 1, h_n)
    elif name == "k_dce":
        q[1:] = 1.0 / n
        f = n * inv_m
    elif name == "rb_lambda_dce":
        q[:] = 1.0 / (n + 1)
        f = (n + 1) * inv_m
    elif name in ("omit_full_mask", "omit_full_mask_token_mean"):
        if n < 2:
            raise ValueError(f"`{name}` needs a target of at least 2 positions (got n = {n})")
        q[1:n] = inv_m[1:n] / harmonic(n - 1)
        f = np.full(n + 1, h_n) if name == "omit_full_mask" else h_n * inv_m
    elif name == "mask_size_importance":
        if weights is None:
            raise ValueError("`weights` is required for mask_size_importance")
        w = np.asarray(weights, dtype=float)
        if w.shape == (n + 1,):
            w = w[1:]
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"`weights` must be {n} non-negative finite numbers for m = 1..{n}, not all 0 (got {weights!r})"
            )
        q[1:] = w / w.sum()
        f = np.zeros(n + 1)
        f[1:] = np.divide(1.0, m[1:] * q[1:], out=np.zeros(n), where=q[1:] > 0)
    else:
        raise ValueError(f"unknown mask-size scheme {name!r}; choose one of {sorted(SCHEMES)}")
    return MaskSizeScheme(name, n, _frozen(q), _frozen(f))


SCHEMES = (
    "time_free",
    "k_dce",
    "rb_lambda_dce",
    "omit_full_mask",
    "omit_full_mask_token_mean",
    "mask_size_importance",
)


# ====================================================================================== samplers
class _SizeTable:
    """Uniform masks of a given size over n bits: by table lookup for n ≤ 20, else by random keys."""

    def __init__(self, n: int):
        self.n = n
        self.counts = np.array([comb(n, k, exact=True) for k in range(n + 1)], dtype=np.int64)
        if n <= _DENSE_CACHE_BITS:
            masks = np.arange(1 << n, dtype=np.int64)
            sizes = np.bitwise_count(masks.astype(np.uint64)).astype(np.int64)
            order = np.argsort(sizes, kind="stable")
            self.sorted = masks[order]
            self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def draw(self, m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = np.asarray(m, dtype=np.int64)
        if self.n <= _DENSE_CACHE_BITS:
            return self.sorted[self.offsets[m] + rng.integers(0, self.counts[m])]
        keys = rng.random((m.size, self.n))
        ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
        chosen = ranks < m[:, None]
        return (chosen.astype(np.int64) << np.arange(self.n)).sum(axis=1)


def _batches(n_samples: int, batch_size: int):
    for lo in range(0, n_samples, batch_size):
        yield min(batch_size, n_samples - lo)


def _check_run(n_samples, batch_size, *, stratified: bool):
    n_samples = _positive_int(n_samples, "n_samples")
    batch_size = _positive_int(batch_size, "batch_size")
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


def _oracle(denoiser, x0, target, context, batch_size) -> MaskDCE:
    if isinstance(denoiser, MaskDCE):
        if target is not None or context is not None:
            raise ValueError("pass `target`/`context` when building the MaskDCE, not with it")
        return denoiser
    return MaskDCE(denoiser, x0, target=target, context=context, batch_size=max(batch_size, 256))


def _run_scheme(scheme: MaskSizeScheme, oracle: MaskDCE, n_samples, rng, batch_size, *, stratified=False):
    sizes = _SizeTable(oracle.n)
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


def _scheme_estimator(name):
    def run(
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
        rng = np.random.default_rng(rng)
        n_samples, batch_size = _check_run(n_samples, batch_size, stratified=False)
        oracle = _oracle(denoiser, x0, target, context, batch_size)
        scheme = mask_size_scheme(name, oracle.n)
        values = _run_scheme(scheme, oracle, n_samples, rng, batch_size)
        return _record(name, values, batch_size=None, return_values=return_values)

    return run


_COMMON_PARAMS = """
    Parameters
    ----------
    denoiser : Denoiser or MaskDCE
        The model c (or a prepared :class:`MaskDCE`, which keeps its cache across calls).
    x0 : (L,) int array
        The clean sequence (ignored when ``denoiser`` is a MaskDCE).
    n_samples : int
        Number of single-draw values g.
    rng : seed or numpy.random.Generator, optional
        Normalised by ``np.random.default_rng`` (SPEC 7).
    batch_size : int, default 4096
        Draws per vectorized step (and per stratification batch where one applies).
    target, context : sequences of positions, optional
        The conditional version (Cor. 4.3, ``docs/theory.md`` §4.2): masks over ``target`` only,
        ``context`` always visible, every other position masked; H_n uses n = |target|.
    return_values : bool, default False
        Keep the per-draw values in the result.

    Returns
    -------
    Estimate
"""

time_free = _scheme_estimator("time_free")
time_free.__name__ = "time_free"
time_free.__doc__ = (
    """The paper's time-free estimator: P(m) ∝ 1/m on 1..n, M uniform of size m, g = H_n A(M).

    Unbiased for -log p_θ(x0^T | x0^C) = sum_M B(m, n-m+1) A(M) (Thm 4.1, Eq. 15; Cor. 4.3,
    Eq. 17; ``docs/theory.md`` §4.1). The fully masked set (m = n) is included (§8 item 5).
"""
    + _COMMON_PARAMS
    + """
    Examples
    --------
    >>> from ctmc_lab.sources.datasets import dna128
    >>> from ctmc_lab.sources.denoisers import OptimalDenoiser
    >>> p = dna128(); x0 = p.support[0]
    >>> est = time_free(OptimalDenoiser(p), x0, n_samples=20000, rng=0)
    >>> abs(est.mean - p.nll(x0)) < 5 * est.stderr
    True
"""
)

rb_lambda_dce = _scheme_estimator("rb_lambda_dce")
rb_lambda_dce.__name__ = "rb_lambda_dce"
rb_lambda_dce.__doc__ = (
    """Rao–Blackwellised λ-DCE: m ~ U{0..n}, M uniform of size m, g = (n+1)/m A(M) (0 at m = 0).

    It is E[λ-DCE | M], since E[1/λ | M] = (n+1)/m under λ ~ U(0,1) (S9; ``docs/theory.md``
    §4.1 (c), §6.2).
"""
    + _COMMON_PARAMS
)

omit_full_mask = _scheme_estimator("omit_full_mask")
omit_full_mask.__name__ = "omit_full_mask"
omit_full_mask.__doc__ = (
    """The off-by-one sampler of ``eval_llada.py``/``eval_text8.py`` (``docs/theory.md`` §8):
    m from 1..n-1 with P(m) ∝ 1/m (the fully masked set is never drawn), g = H_n A(M).

    Biased: E[g] = (H_n/H_{n-1}) sum_{k≥1} Ā_k/(n-k), Ā_k the mean of A over masks with k
    visible target positions.
"""
    + _COMMON_PARAMS
)

omit_full_mask_token_mean = _scheme_estimator("omit_full_mask_token_mean")
omit_full_mask_token_mean.__name__ = "omit_full_mask_token_mean"
omit_full_mask_token_mean.__doc__ = (
    """``eval_text8.py``'s statistic (``docs/theory.md`` §8): the :func:`omit_full_mask` sampler
    with the per-token mean g = H_n A(M)/m. Not an NLL estimate.
"""
    + _COMMON_PARAMS
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

    With ``stratified=True`` each batch of B draws uses evenly spaced mask counts,
    m_j = 1 + floor(n (j + u_j)/B), u_j ~ U(0,1): each batch mean stays unbiased and its
    variance drops; the standard error then comes from the batch means (``docs/theory.md``
    §4.1 (b), §6.2).
    """
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=stratified)
    oracle = _oracle(denoiser, x0, target, context, batch_size)
    values = _run_scheme(mask_size_scheme("k_dce", oracle.n), oracle, n_samples, rng, batch_size, stratified=stratified)
    name = "k_dce_stratified" if stratified else "k_dce"
    return _record(name, values, batch_size=batch_size if stratified else None, return_values=return_values)


k_dce.__doc__ += _COMMON_PARAMS.replace(
    "    Returns",
    """    stratified : bool, default False
        Evenly spaced mask counts per batch of ``batch_size`` draws.

    Returns""",
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

    Unbiased for any positive weights (``docs/theory.md`` §6.5). Within this family the variance
    is smallest at q_m ∝ sqrt(E[A² | m])/m; :func:`ctmc_lab.estimation.moments.fit_mask_size_weights`
    estimates those weights from a few pilot draws.
    """
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=False)
    oracle = _oracle(denoiser, x0, target, context, batch_size)
    scheme = mask_size_scheme("mask_size_importance", oracle.n, weights=weights)
    values = _run_scheme(scheme, oracle, n_samples, rng, batch_size)
    return _record("mask_size_importance", values, batch_size=None, return_values=return_values)


mask_size_importance.__doc__ += _COMMON_PARAMS.replace(
    "    n_samples",
    """    weights : (n,) float array
        Unnormalised P(m) for m = 1..n; positive wherever A can be non-zero.
    n_samples""",
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
    """
    if sampler not in _LAMBDA_SAMPLERS:
        raise ValueError(f"unknown `sampler` {sampler!r}; choose one of {list(_LAMBDA_SAMPLERS)}")
    stratified = sampler == "stratified"
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=stratified)
    oracle = _oracle(denoiser, x0, target, context, batch_size)
    sizes = _SizeTable(oracle.n)
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
    name = "lambda_dce_stratified" if stratified else "lambda_dce"
    return _record(name, out, batch_size=batch_size if stratified else None, return_values=return_values)


lambda_dce.__doc__ += _COMMON_PARAMS.replace(
    "    Returns",
    """    sampler : {"plain", "stratified"}
        ``"stratified"`` is infodis' ``decoupled`` batch sampler λ_j = (j + u_j)/B within each
        batch of ``batch_size`` draws (its first stratum still reaches λ → 0).

    Returns""",
)


# ============================================================================ schedule-based
_T_SAMPLERS = ("vdm", "plain")


def _t_values(
    kind, denoiser, x0, schedule, eps_s, n_samples, rng, batch_size, sampler, score_log, target, context, return_values
):
    from ctmc_lab.forward.schedules import Schedule

    if not isinstance(schedule, Schedule):
        raise ValueError(f"`schedule` must be a ctmc_lab.forward.schedules.Schedule (got {type(schedule).__name__})")
    eps_s = float(eps_s)
    if not 0.0 <= eps_s < 1.0:
        raise ValueError(f"`eps_s` must lie in [0, 1) (got {eps_s!r})")
    if sampler not in _T_SAMPLERS:
        raise ValueError(f"unknown `sampler` {sampler!r}; choose one of {list(_T_SAMPLERS)}")
    stratified = sampler == "vdm"
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=stratified)
    oracle = _oracle(denoiser, x0, target, context, batch_size)
    sizes = _SizeTable(oracle.n)
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


_T_PARAMS = _COMMON_PARAMS.replace(
    "    n_samples",
    """    schedule : ctmc_lab.forward.schedules.Schedule
        The noise schedule (σ̄(t), σ(t)); the code default is ``Loglinear(1e-3)``.
    eps_s : float, default 1e-3
        The sampling floor: t = (1 - eps_s) u + eps_s with u ~ U(0,1), as ``sampling_eps`` in
        SEDD/RADD/infodis. The density of t is not corrected by 1/(1 - eps_s).
    sampler : {"vdm", "plain"}, default "vdm"
        ``"vdm"`` is the code's ``Batch_Uniform_Sampler(type="vdm")``: u_j = (u_0 + j/B) mod 1 with
        one u_0 per batch of ``batch_size``; ``"plain"`` draws u i.i.d.
    n_samples""",
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
    M ~ Bern(λ(t))^n and t = (1-ε_s)u + ε_s (``docs/theory.md`` §6.3, §8). The code scores with the
    log of the score s = c/(e^σ̄ - 1) (``score_log=True``); ``score_log=False`` gives the true
    t-DCE, σ/(e^σ̄-1) A(M). Both are biased by the truncation at ε_s, the missing 1/(1-ε_s)
    and, for loglinear(ε), the unreached λ ∈ (1-ε, 1].
    """
    return _t_values(
        "t_dce",
        denoiser,
        x0,
        schedule,
        eps_s,
        n_samples,
        rng,
        batch_size,
        sampler,
        score_log,
        target,
        context,
        return_values,
    )


t_dce.__doc__ += _T_PARAMS.replace(
    "    Returns",
    """    score_log : bool, default True
        Add the code's log(e^σ̄ - 1) per masked token.

    Returns""",
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
    """
    return _t_values(
        "t_dse",
        denoiser,
        x0,
        schedule,
        eps_s,
        n_samples,
        rng,
        batch_size,
        sampler,
        False,
        target,
        context,
        return_values,
    )


t_dse.__doc__ += _T_PARAMS


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
    Cov(A_num, A_den) > 0 (§6.4).

    Parameters
    ----------
    denoiser : Denoiser
    x_num, x_den : (L,) int arrays
        The two sequences (same length and index sets, §8 item 7). With ``context``, they must
        agree on the context positions (one prompt, two responses).
    n_samples : int
    coupled : bool, default True
    scheme : {"time_free", "k_dce", "rb_lambda_dce"}
        The unbiased mask sampler of each term.
    rng, batch_size, target, context, return_values
        As in :func:`time_free`.

    Returns
    -------
    Estimate
    """
    if scheme not in ("time_free", "k_dce", "rb_lambda_dce"):
        raise ValueError(f"unknown `scheme` {scheme!r}; choose one of ['k_dce', 'rb_lambda_dce', 'time_free']")
    rng = np.random.default_rng(rng)
    n_samples, batch_size = _check_run(n_samples, batch_size, stratified=False)
    num = MaskDCE(denoiser, x_num, target=target, context=context, batch_size=max(batch_size, 256))
    den = MaskDCE(denoiser, x_den, target=target, context=context, batch_size=max(batch_size, 256))
    if num.context.size and np.any(num.x0[num.context] != den.x0[den.context]):
        raise ValueError("`x_num` and `x_den` must agree on the `context` positions (one shared prompt)")
    sch = mask_size_scheme(scheme, num.n)
    sizes = _SizeTable(num.n)
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


# =================================================================================== registry
def k_dce_stratified(denoiser, x0=None, **options) -> Estimate:
    """:func:`k_dce` with ``stratified=True`` (evenly spaced mask counts per batch)."""
    return k_dce(denoiser, x0, stratified=True, **options)


def lambda_dce_stratified(denoiser, x0=None, **options) -> Estimate:
    """:func:`lambda_dce` with ``sampler="stratified"`` (infodis' decoupled λ_j = (j + u_j)/B)."""
    return lambda_dce(denoiser, x0, sampler="stratified", **options)


def llada_stratified(denoiser, x0=None, **options) -> Estimate:
    """LLaDA's ``get_log_likelihood`` (defaults ``batch_size=16``, ``n_samples=128`` = mc_num):
    :func:`ctmc_lab.estimation.llada.llada_estimate` with its own count rule. Biased unless every row's
    count is uniform (see :mod:`ctmc_lab.estimation.llada`)."""
    from ctmc_lab.estimation.llada import llada_estimate

    return llada_estimate(denoiser, x0, rule="llada", **options)


def llada_stratified_fixed(denoiser, x0=None, **options) -> Estimate:
    """LLaDA's evaluator with the integer count rule k + floor(j n/B) mod n: unbiased for every (n, B)."""
    from ctmc_lab.estimation.llada import llada_estimate

    return llada_estimate(denoiser, x0, rule="fixed", **options)


#: The estimators by name, as :func:`estimate` calls them: ``ESTIMATORS[name](denoiser, x0, **options)``.
ESTIMATORS = {
    "time_free": time_free,
    "k_dce": k_dce,
    "k_dce_stratified": k_dce_stratified,
    "rb_lambda_dce": rb_lambda_dce,
    "lambda_dce": lambda_dce,
    "lambda_dce_stratified": lambda_dce_stratified,
    "omit_full_mask": omit_full_mask,
    "omit_full_mask_token_mean": omit_full_mask_token_mean,
    "t_dce": t_dce,
    "t_dse": t_dse,
    "llada_stratified": llada_stratified,
    "llada_stratified_fixed": llada_stratified_fixed,
}


def estimate(name: str, denoiser, x0=None, **options) -> Estimate:
    """Run the estimator called ``name`` (a key of :data:`ESTIMATORS`); an unknown name lists them.

    ``t_dce``/``t_dse`` default to the code's ``Loglinear(1e-3)`` schedule when none is given.
    """
    try:
        fn = ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; choose one of {sorted(ESTIMATORS)}") from None
    if name in ("t_dce", "t_dse") and "schedule" not in options:
        from ctmc_lab.forward.schedules import Loglinear

        options["schedule"] = Loglinear(1e-3)
    return fn(denoiser, x0, **options)
