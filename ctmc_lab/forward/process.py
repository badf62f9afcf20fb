"""Forward CTMC processes: token kernels exp(sQ), p_{t|0} and p_t (``docs/theory.md`` §1.2–§1.4).

Each position evolves independently, so the sequence kernel is the Kronecker product of
token kernels (A4). We never exponentiate the product generator: a distribution over
``S^L`` is an L-axis tensor, and a token kernel is applied along each axis.

Work at the unit-rate noise level ``s = sigma_bar(t)``; :class:`ForwardProcess` maps
times to noise levels through a schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import scipy.linalg

from ctmc_lab._validation import (
    InvalidTypeError,
    ensure_array,
    ensure_choice,
    ensure_int,
    ensure_real,
    ensure_size,
    ensure_str,
    ensure_tokens,
    power,
)
from ctmc_lab.forward.generators import Generator

# Re-exported: p_s of absorbing noise is part of this module's API (the fast path of
# NoisedDistribution), while its implementation needs no process machinery.
from ctmc_lab.forward.marginals import absorbing_marginal
from ctmc_lab.forward.schedules import Schedule
from ctmc_lab.sequences import flat_index
from ctmc_lab.sources.joint import JointDistribution

__all__ = [
    "token_kernel",
    "KERNEL_METHODS",
    "apply_along_axes",
    "apply_all_axes",
    "absorbing_marginal",
    "leave_one_out",
    "transition_tensor",
    "NoisedDistribution",
    "ForwardProcess",
    "MAX_DENSE_STATES",
    "KERNEL_TOLERANCE",
    "MAX_STIFFNESS",
    "NumericalRangeError",
    "validate_kernel",
    "ensure_noised",
]

#: Largest S**L tensor built densely (about 1.2 GB of float64).
MAX_DENSE_STATES = 150_000_000


def _uniformization(generator: Generator, s: float, tol: float = 1e-17) -> np.ndarray:
    """exp(sQ) = sum_k e^{-qs} (qs)^k / k! P^k with P = I + Q/q (Jensen's method).

    The Poisson series is summed until its remaining mass is below ``tol`` (and over at least
    S - 1 terms, so every reachable entry keeps its leading power of s); for large qs
    we square a kernel at s / 2^j, which keeps every term non-negative.
    """
    Q = generator.Q
    q = float(np.max(-np.diag(Q)))
    if q == 0.0 or s == 0.0:
        return np.eye(Q.shape[0])
    halvings = max(0, int(np.ceil(np.log2(q * s / 8.0)))) if q * s > 8 else 0
    rate = q * s / 2**halvings
    P = np.eye(Q.shape[0]) + Q / q
    term = np.exp(-rate) * np.eye(Q.shape[0])
    K = term.copy()
    weight, k, mass = np.exp(-rate), 0, np.exp(-rate)
    # At least S - 1 terms: an entry first reached after k jumps is O((qs)^k), so stopping on
    # the Poisson mass alone would set it to 0 at tiny s (its relative error would be 1).
    while (1.0 - mass > tol or k < Q.shape[0] - 1) and k < 1000:
        k += 1
        term = (rate / k) * (P @ term)
        weight *= rate / k
        mass += weight
        K += term
    for _ in range(halvings):
        K = K @ K
    return K


#: Kernel methods by name (DESIGN.md principle 6).
KERNEL_METHODS = {
    "closed": lambda g, s: g.closed_form_kernel(s),
    "expm": lambda g, s: scipy.linalg.expm(s * g.Q),
    "uniformization": _uniformization,
}

#: A computed kernel is accepted when its entries lie in [-tol, 1 + tol] and every column sums
#: to 1 within tol; for a user Q, ``expm`` and uniformization must also agree within tol.
KERNEL_TOLERANCE = 1e-10
#: Largest (max rate) x s for a general Q. Both numerical routes square a kernel about
#: log2(q s) times, and their measured error grows like q s * 1e-16 (1e-11 at q s = 1e9),
#: so beyond this the kernel cannot be trusted to KERNEL_TOLERANCE in float64.
MAX_STIFFNESS = 1e8


class NumericalRangeError(ValueError):
    """A quantity cannot be computed in float64 at this noise level (stiff Q, underflow)."""


def _reachability(Q: np.ndarray) -> np.ndarray:
    """R[a, b] = True iff a is reachable from b (a = b included): exp(sQ)[a, b] > 0 for s > 0.

    It depends on Q's sign pattern only, and every kernel of a quadrature asks for it, so it
    is computed once per pattern (a read-only array)."""
    positive = np.ascontiguousarray(Q > 0)
    return _closure(positive.shape[0], positive.tobytes())


@lru_cache(maxsize=64)
def _closure(n: int, positive: bytes) -> np.ndarray:
    """The reflexive transitive closure of the n×n Boolean pattern ``positive`` (row-major bytes)."""
    Q = np.frombuffer(positive, dtype=bool).reshape(n, n)
    R = Q | np.eye(n, dtype=bool)
    while True:
        nxt = (R.astype(np.int64) @ R.astype(np.int64)) > 0
        if np.array_equal(nxt, R):
            R.setflags(write=False)
            return R
        R = nxt


def validate_kernel(K: np.ndarray, generator: Generator, s: float, method: str) -> np.ndarray:
    """Check that a computed ``K = exp(sQ)`` is a stochastic matrix with the right zero pattern.

    Returns ``K`` with rounding-level negative entries set to 0 and, for the numerical methods
    (not the closed forms), its columns rescaled to sum to 1.

    Parameters
    ----------
    K : (S, S) float array
    generator : Generator
        Whose Q the kernel exponentiates (its reachability gives the zero pattern).
    s : float
        The noise level, ≥ 0.
    method : str
        The method's name, for the message.

    Raises
    ------
    NumericalRangeError
        If an entry is outside [-tol, 1 + tol] or not finite, a column sum is off 1 by more than
        ``KERNEL_TOLERANCE``, or an entry that is positive in exact arithmetic (its state
        is reachable) underflowed to 0.
    """
    generator = _generator(generator)
    s = ensure_real(s, "s", lo=0.0)
    method = ensure_str(method, "method")
    K = _kernel_array(K, generator)
    where = f"exp(sQ) at noise level s = {s:.6g} ({method})"
    if not np.all(np.isfinite(K)):
        raise NumericalRangeError(f"{where} is not finite: Q is too stiff for this noise level")
    col = float(np.abs(K.sum(axis=0) - 1.0).max())
    lo, hi = float(K.min()), float(K.max())
    if col > KERNEL_TOLERANCE or lo < -KERNEL_TOLERANCE or hi > 1.0 + KERNEL_TOLERANCE:
        raise NumericalRangeError(
            f"{where} is not a stochastic matrix (max |column sum - 1| = {col:.3g}, entries in "
            f"[{lo:.3g}, {hi:.3g}], tolerance {KERNEL_TOLERANCE:g}): Q is too stiff for float64 at this noise level"
        )
    tiny = np.finfo(float).tiny
    subnormal = (K > 0) & (K < tiny)
    if subnormal.any():
        # Subnormal entries lose digits, and ratios of the marginals built from them overflow.
        raise NumericalRangeError(
            f"{where} has subnormal entries (smallest {float(K[subnormal].min()):.3g} < {tiny:.3g}): "
            "float64 cannot resolve this noise level"
        )
    if s > 0:
        lost = (K <= 0) & _reachability(generator.Q)
        if lost.any():
            a, b = np.argwhere(lost)[0]
            raise NumericalRangeError(
                f"{where} underflows: K[{a}, {b}] is 0 in float64 but positive in exact arithmetic; "
                "use a smaller noise level"
            )
    K = np.maximum(K, 0.0) if lo < 0 else K
    if method != "closed":
        # The exact kernel is stochastic: projecting the numerical one back onto column sums of
        # exactly 1 removes the drift of repeated squaring (up to the tolerance above), which a
        # KL would otherwise pick up linearly.
        K = K / K.sum(axis=0)
    return K


def _generator(generator) -> Generator:
    if not isinstance(generator, Generator):
        raise InvalidTypeError(
            f"`generator` must be a Generator (got {type(generator).__name__}); build one with "
            "ctmc_lab.forward.generators (absorbing, uniform, custom or noise_process(name).generator)"
        )
    return generator


def _kernel_array(K, generator: Generator) -> np.ndarray:
    """A computed kernel as an (S, S) float array; NaN and infinities are judged by :func:`validate_kernel`."""
    try:
        K = np.asarray(K)
    except (TypeError, ValueError):  # ragged rows
        raise InvalidTypeError(f"`K` must be a {generator.Q.shape} real array (got {type(K).__name__})") from None
    if K.dtype.kind not in "fiu" or K.shape != generator.Q.shape:
        raise ValueError(f"`K` must be a {generator.Q.shape} real array (got shape {K.shape}, dtype {K.dtype})")
    return K.astype(float, copy=False)


def _joint(dist):
    """``dist`` if it is a joint table over V^L (a JointDistribution): p_s needs its dense table."""
    missing = [m for m in ("dense", "encode", "probs", "support", "n_tokens", "length") if not hasattr(dist, m)]
    if missing or not isinstance(getattr(dist, "length", None), int):
        raise InvalidTypeError(
            f"`dist` must be a joint table over V^L with `dense()` (a JointDistribution; a Markov chain gives one "
            f"with `chain.joint(length)`) (got {type(dist).__name__})"
        )
    return dist


def token_kernel(generator: Generator, s: float, *, method: str = "closed") -> np.ndarray:
    """The token kernel ``K_s = exp(s Q)``, ``K_s[a, b] = p_{s|0}(a | b)`` (§1.2).

    Parameters
    ----------
    generator : Generator
    s : float
        Noise level sigma_bar >= 0.
    method : {"closed", "expm", "uniformization"}
        The noise process's closed form (:meth:`~ctmc_lab.forward.generators.Generator.closed_form_kernel`;
        absorbing and uniform noise), ``scipy.linalg.expm``, or uniformization. The three
        agree to 1e-13 (tests).

    Returns
    -------
    (S, S) float array
        Columns are probability vectors.
    """
    generator = _generator(generator)
    s = ensure_real(s, "s", lo=0.0)
    fn = KERNEL_METHODS[ensure_choice(method, "method", KERNEL_METHODS)]
    if method != "closed":
        stiffness = float(np.max(-np.diag(generator.Q))) * s
        if stiffness > MAX_STIFFNESS:
            raise NumericalRangeError(
                f"max rate x noise level = {stiffness:.3g} exceeds {MAX_STIFFNESS:g}: exp(sQ) cannot be "
                f"computed to {KERNEL_TOLERANCE:g} in float64 (rescale Q or use a smaller noise level)"
            )
    return validate_kernel(fn(generator, s), generator, s, method)


def _checked_custom_kernel(generator: Generator, s: float) -> np.ndarray:
    """exp(sQ) of a user Q by uniformization, accepted only if ``expm`` (no shared algebra: Pade
    approximants against a Poisson series of non-negative terms) agrees within tolerance.

    Uniformization is the one kept: its terms are all non-negative, so even the small entries
    are accurate to a few ulps relative (expm is accurate in norm only: 3e-13 relative on an
    entry of 1e-3 was measured), and KL or log-ratios of tiny marginals inherit relative errors.
    """
    K = token_kernel(generator, s, method="uniformization")
    # The twin is compared in norm only (expm's accuracy): its small entries, which may round
    # to 0, are not held to the zero-pattern check that the kept kernel passed.
    twin = KERNEL_METHODS["expm"](generator, s)
    gap = float(np.abs(K - twin).max()) if np.all(np.isfinite(twin)) else np.inf
    if gap > KERNEL_TOLERANCE:
        raise NumericalRangeError(
            f"exp(sQ) at noise level s = {s:.6g}: uniformization and expm differ by {gap:.3g} "
            f"(tolerance {KERNEL_TOLERANCE:g}); Q is too stiff for float64 at this noise level"
        )
    return K


#: Trailing sizes below which :func:`apply_along_axes` uses one wide GEMM (K ⊗ I_post).
_SHORT_POST = 4


def _operands(tensor, K) -> tuple[np.ndarray, np.ndarray]:
    """``tensor`` and ``K`` as real arrays, ``K`` a matrix; only types and shapes are checked (O(1)).

    Their values are not: these are linear maps, which carry NaN or infinities through as they
    should, and they run in the inner loops of every exact quantity.
    """
    tensor, K = np.asarray(tensor), np.asarray(K)
    for name, arr in (("tensor", tensor), ("K", K)):
        if arr.dtype.kind not in "fiu":
            raise InvalidTypeError(f"`{name}` must be a real array (got dtype {arr.dtype})")
    if K.ndim != 2:
        raise ValueError(f"`K` must be a matrix (S_out, S_in) (got shape {K.shape})")
    return tensor, K


def _axes(axes, ndim: int, name: str) -> list[int]:
    """Axis numbers in ``-ndim..ndim-1`` as a list of non-negative ints (None: all axes)."""
    if axes is None:
        return list(range(ndim))
    if type(axes) in (list, range) and all(type(ax) is int and -ndim <= ax < ndim for ax in axes):
        return [ax % ndim for ax in axes]  # the inner loops' own calls: already valid
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = [axes]
    if isinstance(axes, (str, bytes)) or not hasattr(axes, "__iter__"):
        raise InvalidTypeError(f"`{name}` must be an iterable of axis numbers (got {axes!r})")
    return [ensure_int(ax, name, minimum=-ndim, maximum=ndim - 1) % ndim for ax in axes]


def _kron_eye(K: np.ndarray, post: int) -> np.ndarray:
    """``np.kron(K, np.eye(post))``: the same products K[a, b] · I[k, l] in the same layout,
    without np.kron's general-case reshaping (it runs once per axis step of every quadrature node)."""
    S_out, S_in = K.shape
    return (K[:, None, :, None] * np.eye(post)[None, :, None, :]).reshape(S_out * post, S_in * post)


def apply_along_axes(tensor: np.ndarray, K: np.ndarray, axes=None) -> np.ndarray:
    """Apply ``K`` along the given axes: ``out[.., a, ..] = sum_b K[a, b] tensor[.., b, ..]``.

    Parameters
    ----------
    tensor : ndarray with axes of length ``K.shape[1]`` at ``axes``
    K : (S_out, S_in) array
    axes : iterable of int, default all axes

    Notes
    -----
    Each step views the tensor as ``(pre, S_in, post)`` and does one batched matmul, so no
    ``moveaxis`` copy is made; the result is ``(pre, S_out, post)`` in place of the axis.
    """
    out, K = _operands(tensor, K)
    axes = _axes(axes, out.ndim, "axes")
    for ax in axes:
        if out.shape[ax] != K.shape[1]:
            raise ValueError(f"`tensor` axis {ax} has length {out.shape[ax]}, but `K` acts on {K.shape[1]} states")
        shape = out.shape
        pre = math.prod(shape[:ax])
        post = math.prod(shape[ax + 1 :])
        new_shape = shape[:ax] + (K.shape[0],) + shape[ax + 1 :]
        if post <= _SHORT_POST and pre > 1:
            # Short trailing rows make the batched matmul many tiny products; one GEMM with
            # K ⊗ I_post over rows of length S_in * post does the same sum (measured faster for
            # post <= _SHORT_POST).
            wide = K if post == 1 else _kron_eye(K, post)
            out = (out.reshape(pre, shape[ax] * post) @ wide.T).reshape(new_shape)
        else:
            out = np.matmul(K, out.reshape(pre, shape[ax], post)).reshape(new_shape)
    return out


def apply_all_axes(tensor: np.ndarray, K: np.ndarray, *, batch_axes: int = 0) -> np.ndarray:
    """Apply ``K`` along every axis after the first ``batch_axes`` (see :func:`apply_along_axes`).

    Measured: one batched matmul per axis beats rotating the axes through wide GEMMs by
    10x here, because the rotation's transposes copy with poor locality.
    """
    tensor, K = _operands(tensor, K)
    batch_axes = ensure_int(batch_axes, "batch_axes", minimum=0, maximum=tensor.ndim)
    return apply_along_axes(tensor, K, axes=range(batch_axes, tensor.ndim))


def leave_one_out(tensor: np.ndarray, K: np.ndarray, axes=None):
    """Yield ``(i, G_i)``: ``tensor`` with ``K`` applied along every axis in ``axes`` but ``i``.

    Parameters
    ----------
    tensor : ndarray
    K : (S_out, S_in) array
    axes : sequence of int, default all axes

    Notes
    -----
    Halving the axes shares the contractions: G_i for i in the left half all need the right
    half contracted, and vice versa, so the L tensors cost about L log2 L axis steps instead
    of L (L - 1), and only O(log L) intermediates are alive at once (the tensors are yielded
    depth first). Used by the factored mdse and by kl_rate, where the expectations over
    p_{s|0}(·|x0) of log p_s with one position left free are the hot path.
    """
    tensor, K = _operands(tensor, K)
    axes = _axes(axes, tensor.ndim, "axes")
    if len(set(axes)) != len(axes):
        raise ValueError(f"`axes` must not repeat an axis (got {axes})")
    bad = [ax for ax in axes if tensor.shape[ax] != K.shape[1]]
    if bad:
        raise ValueError(
            f"`tensor` axis {bad[0]} has length {tensor.shape[bad[0]]}, but `K` acts on {K.shape[1]} states"
        )
    return _leave_one_out(tensor, K, axes)


def _leave_one_out(tensor: np.ndarray, K: np.ndarray, axes: list[int]):
    """The recursion of :func:`leave_one_out` on checked arguments (a generator)."""
    if len(axes) == 1:
        yield axes[0], tensor
        return
    if not axes:
        return
    half = len(axes) // 2
    left, right = axes[:half], axes[half:]
    yield from _leave_one_out(apply_along_axes(tensor, K, right), K, left)
    yield from _leave_one_out(apply_along_axes(tensor, K, left), K, right)


def transition_tensor(K: np.ndarray, x0) -> np.ndarray:
    """p_{s|0}(·|x0) = ⊗_i K[:, x0^i] as an L-axis tensor over ``S^L`` (§1.4).

    Parameters
    ----------
    K : (S, S) or (S, N) float array
        The token kernel (or its clean columns).
    x0 : (L,) int array
        A sequence of starting states in ``0..K.shape[1]-1``.
    """
    K = ensure_array(K, "K", ndim=2, allow_empty=False)
    x0 = ensure_tokens(x0, K.shape[1], ndim=1, name="x0")
    ensure_size(power(K.shape[0], x0.size), f"`x0` of length {x0.size}: p_(s|0) over {K.shape[0]}^{x0.size} states")
    out = K[:, x0[0]]
    for b in x0[1:]:
        out = np.multiply.outer(out, K[:, b])
    return out


@dataclass(frozen=True)
class NoisedDistribution:
    """p0 pushed forward to noise level s: the kernel ``K`` and the marginal tensor ``p``.

    Attributes
    ----------
    dist : JointDistribution
    generator : Generator
    s : float
        Unit-rate noise level sigma_bar.
    K : (S, S) float array
        The token kernel exp(sQ).
    p : (S,) * L float array
        p_s = K^{⊗L} p0.
    """

    dist: JointDistribution
    generator: Generator
    s: float
    K: np.ndarray = field(repr=False)
    p: np.ndarray = field(repr=False)

    def __post_init__(self):
        # Types and shapes only (O(1)): at_noise_level computed K and p; a direct construction is checked
        # for consistency, not re-derived.
        dist, generator = _joint(self.dist), _generator(self.generator)
        object.__setattr__(self, "s", ensure_real(self.s, "s", lo=0.0))
        S = generator.n_states
        for name, shape in (("K", (S, S)), ("p", (S,) * dist.length)):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.shape != shape:
                raise ValueError(
                    f"`{name}` must be a float array of shape {shape} (got {getattr(value, 'shape', type(value))})"
                )
        if generator.n_tokens != dist.n_tokens:
            raise ValueError(
                f"`generator` acts on {generator.n_tokens} clean symbols but the distribution has {dist.n_tokens}"
            )

    @classmethod
    def at_noise_level(cls, dist: JointDistribution, generator: Generator, s: float, *, method: str = "closed"):
        """Build p_s for ``dist`` under ``generator`` at noise level ``s``.

        With the default ``method="closed"``, the generator's closed-form kernel and fast
        marginal are used when its noise process has them; otherwise the kernel is computed by
        uniformization and checked against ``expm`` (``KERNEL_TOLERANCE``); every kernel
        is validated (``validate_kernel``), and a p_s whose zeros include states of positive
        probability is refused when a quantity reads it (``NumericalRangeError``).
        """
        dist, generator = _joint(dist), _generator(generator)
        s = ensure_real(s, "s", lo=0.0)
        method = ensure_choice(method, "method", KERNEL_METHODS)
        if generator.n_tokens != dist.n_tokens:
            raise ValueError(
                f"`generator` acts on {generator.n_tokens} clean symbols but the distribution has {dist.n_tokens}"
            )
        n_dense = generator.n_states**dist.length
        if n_dense > MAX_DENSE_STATES:
            raise ValueError(
                f"p_s over {generator.n_states}^{dist.length} = {n_dense:.3g} states exceeds the dense limit "
                f"{MAX_DENSE_STATES:.3g}"
            )
        if method == "closed" and not generator.has_closed_form:
            K = _checked_custom_kernel(generator, s)
            method = "uniformization"
        else:
            K = token_kernel(generator, s, method=method)
        marginal = generator.process.marginal if method == "closed" else None
        if marginal is not None:
            # The process's fast path: the same values as the generic sweep below (its twin in
            # the tests), computed with fewer passes over memory.
            p = marginal(dist.dense(), s)
        else:
            # Only the clean columns of K act on p0, which lives on V^L.
            p = apply_all_axes(dist.dense(), K[:, : dist.n_tokens])
        return cls(dist, generator, float(s), K, p)

    @property
    def clean_kernel(self) -> np.ndarray:
        """K restricted to clean starting symbols, shape (S, N)."""
        return self.K[:, : self.dist.n_tokens]

    @cached_property
    def log_p(self) -> np.ndarray:
        """log p_s, with 0 where p_s = 0 (such states carry no mass from the support)."""
        # One masked pass instead of two `where` copies around the log (a hot path of the
        # mdse integrals: once per quadrature node).
        out = np.zeros_like(self.p)
        return np.log(self.p, out=out, where=self.p > 0)

    @cached_property
    def _unreachable(self) -> np.ndarray | None:
        """P_{x ~ p_{s|0}(·|x0)}(p_s(x) = 0) for every clean x0, or None if p_s has no zero."""
        zero = self.p == 0
        if not zero.any():
            return None
        self._check_underflow(zero)
        return self.expect_over_start(zero.astype(float))

    def _check_underflow(self, zero: np.ndarray) -> None:
        """Refuse a p_s whose zeros include states of positive probability in exact arithmetic.

        Every positive p_s(x) is at least min p0 * (min positive kernel entry)^L, so when that
        bound is a normal float no zero can be an underflow and nothing more is computed;
        otherwise the exact zero pattern (Boolean kernel applied to the support) is compared.

        Raises
        ------
        NumericalRangeError
            Naming the noise level and the numbers, for the caller to refuse the point.
        """
        Kc = self.clean_kernel
        k_min = float(Kc[Kc > 0].min())
        p_min = float(self.dist.probs.min())
        log_bound = math.log(p_min) + self.dist.length * math.log(k_min)
        if log_bound > math.log(np.finfo(float).tiny):
            return
        reach = (Kc > 0).astype(float)
        positive = apply_all_axes((self.dist.dense() > 0).astype(float), reach) > 0
        lost = int(np.count_nonzero(positive & zero))
        if lost:
            raise NumericalRangeError(
                f"p_s at noise level s = {self.s:.6g} underflows float64: {lost} states of positive "
                f"probability are 0 (min p0 = {p_min:.3g}, smallest kernel entry {k_min:.3g}, "
                f"L = {self.dist.length})"
            )

    def unreachable_mass(self, x0: np.ndarray) -> np.ndarray:
        """For each row of ``x0`` (B, L), the mass p_{s|0}(·|x0) puts on states with p_s = 0.

        Positive exactly where KL(p_{s|0}(·|x0) ‖ p_s) and mdse are infinite. The contraction
        is done once per noise level and shared by every quantity asking for it.
        """
        x0 = ensure_tokens(x0, self.dist.n_tokens, self.dist.length, ndim=2, name="x0")
        if self._unreachable is None:
            return np.zeros(x0.shape[0])
        return self._unreachable.reshape(-1)[flat_index(x0, self.dist.n_tokens, check=False)]

    def expect_over_start(self, f: np.ndarray, kernels=None) -> np.ndarray:
        """E_{x ~ p_{s|0}(·|x0)} f(x) for every clean x0 at once, as a tensor over ``V^L``.

        ``kernels`` optionally replaces the clean kernel on some axes: ``{axis: (S, N) array}``.
        This contraction is what makes the uniform-noise quantities cheap for all x0
        together: one pass of ``K^T`` along every axis instead of one expectation per x0.
        """
        S = self.generator.n_states
        f = np.asarray(f)
        if f.dtype.kind not in "fiu" or f.shape != (S,) * self.dist.length:
            raise ValueError(f"`f` must be a real tensor of shape {(S,) * self.dist.length} (got {f.shape}, {f.dtype})")
        if kernels is not None and not isinstance(kernels, dict):
            raise InvalidTypeError(f"`kernels` must be None or a dict {{axis: (S, N) array}} (got {kernels!r})")
        for ax, k in (kernels or {}).items():
            ensure_int(ax, "kernels", minimum=0, maximum=f.ndim - 1)
            if np.shape(k) != self.clean_kernel.shape:
                raise ValueError(f"`kernels[{ax}]` must have shape {self.clean_kernel.shape} (got {np.shape(k)})")
        if not kernels:
            return apply_all_axes(f, self.clean_kernel.T)
        out = f
        for ax in range(f.ndim):
            out = apply_along_axes(out, kernels.get(ax, self.clean_kernel).T, axes=[ax])
        return out


@dataclass(frozen=True)
class ForwardProcess:
    """A generator Q run at rate sigma(t) of a schedule: ``Q_t = sigma(t) Q``.

    Examples
    --------
    >>> from ctmc_lab.forward import generators, schedules
    >>> proc = ForwardProcess(generators.absorbing(4), schedules.Loglinear())
    >>> float(proc.kernel(0.5)[4, 0].round(6))   # P(masked at t=0.5) = λ(0.5)
    0.4995
    """

    generator: Generator
    schedule: Schedule

    def __post_init__(self):
        _generator(self.generator)
        if not isinstance(self.schedule, Schedule):
            raise InvalidTypeError(f"`schedule` must be a Schedule (got {type(self.schedule).__name__})")

    def sigma_bar(self, t):
        """σ̄(t) of the schedule: the noise level at time t (§1.3)."""
        return self.schedule.sigma_bar(t)

    def kernel(self, t: float, *, method: str = "closed") -> np.ndarray:
        """p_{t|0}(a | b) = exp(σ̄(t) Q)[a, b] (§1.2–§1.3): :func:`token_kernel` at σ̄(t)."""
        return token_kernel(self.generator, float(self.schedule.sigma_bar(ensure_real(t, "t"))), method=method)

    def at(self, dist: JointDistribution, t: float) -> NoisedDistribution:
        """p_t of ``dist``, with its kernel (see :class:`NoisedDistribution`)."""
        return NoisedDistribution.at_noise_level(
            dist, self.generator, float(self.schedule.sigma_bar(ensure_real(t, "t")))
        )


def ensure_noised(noised, name: str = "noised") -> NoisedDistribution:
    """``noised`` if it is a :class:`NoisedDistribution` (p0 at a noise level), else a one-line error.

    The quantities of Thm 3.1 read p_s, its kernel and p0 from it; a distribution alone has no
    noise level (build one with ``NoisedDistribution.at_noise_level(dist, generator, s)`` or
    ``ForwardProcess.at(dist, t)``).
    """
    if not isinstance(noised, NoisedDistribution):
        raise InvalidTypeError(
            f"`{name}` must be a NoisedDistribution, p0 at a noise level (got {type(noised).__name__}); "
            "build one with NoisedDistribution.at_noise_level(dist, generator, s)"
        )
    return noised
