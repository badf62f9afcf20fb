"""Forward CTMC processes: token kernels exp(sQ), p_{t|0} and p_t (``math_spec.md`` §1.2–§1.4).

Each position evolves independently, so the sequence kernel is the Kronecker product of
token kernels (A4). We never exponentiate the product generator: a distribution over
``S^L`` is an L-axis tensor, and a token kernel is applied along each axis.

Work at the unit-rate noise level ``s = sigma_bar(t)``; :class:`ForwardProcess` maps
times to noise levels through a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.linalg

from .distributions import JointDistribution
from .generators import Generator
from .schedules import Schedule

__all__ = [
    "token_kernel",
    "KERNEL_METHODS",
    "apply_along_axes",
    "apply_all_axes",
    "transition_tensor",
    "NoisedDistribution",
    "ForwardProcess",
    "MAX_DENSE_STATES",
]

#: Largest S**L tensor built densely (about 1.2 GB of float64).
MAX_DENSE_STATES = 150_000_000


def _closed_form(generator: Generator, s: float) -> np.ndarray:
    """exp(sQ) for absorbing and uniform noise (§1.2), with expm1 for small s."""
    n = generator.n_tokens
    decay, jump = np.exp(-s), -np.expm1(-s)
    if generator.kind == "absorbing":
        K = np.zeros((n + 1, n + 1))
        K[np.arange(n), np.arange(n)] = decay
        K[n, :n] = jump
        K[n, n] = 1.0
        return K
    if generator.kind == "uniform":
        return decay * np.eye(n) + jump / n
    raise ValueError(
        f"no closed-form kernel for a {generator.kind!r} generator; use method='expm' or 'uniformization'"
    )


def _uniformization(generator: Generator, s: float, tol: float = 1e-17) -> np.ndarray:
    """exp(sQ) = sum_k e^{-qs} (qs)^k / k! P^k with P = I + Q/q (Jensen's method).

    The Poisson series is summed until its remaining mass is below ``tol``; for large qs
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
    while 1.0 - mass > tol and k < 1000:
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
    "closed": _closed_form,
    "expm": lambda g, s: scipy.linalg.expm(s * g.Q),
    "uniformization": _uniformization,
}


def token_kernel(generator: Generator, s: float, *, method: str = "closed") -> np.ndarray:
    """The token kernel ``K_s = exp(s Q)``, ``K_s[a, b] = p_{s|0}(a | b)`` (§1.2).

    Parameters
    ----------
    generator : Generator
    s : float
        Noise level sigma_bar >= 0.
    method : {"closed", "expm", "uniformization"}
        Closed form (absorbing, uniform), ``scipy.linalg.expm``, or uniformization. The
        three agree to 1e-13 (tests).

    Returns
    -------
    (S, S) float array
        Columns are probability vectors.
    """
    s = float(s)
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"noise level `s` must be finite and >= 0 (got {s})")
    try:
        fn = KERNEL_METHODS[method]
    except KeyError:
        raise ValueError(f"unknown kernel method {method!r}; choose one of {sorted(KERNEL_METHODS)}") from None
    return fn(generator, s)


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
    out = np.asarray(tensor)
    axes = range(out.ndim) if axes is None else axes
    for ax in axes:
        shape = out.shape
        pre = int(np.prod(shape[:ax], dtype=np.int64))
        post = int(np.prod(shape[ax + 1 :], dtype=np.int64))
        out = np.matmul(K, out.reshape(pre, shape[ax], post)).reshape(shape[:ax] + (K.shape[0],) + shape[ax + 1 :])
    return out


def apply_all_axes(tensor: np.ndarray, K: np.ndarray, *, batch_axes: int = 0) -> np.ndarray:
    """Apply ``K`` along every axis after the first ``batch_axes`` (see :func:`apply_along_axes`).

    Measured: one batched matmul per axis beats rotating the axes through wide GEMMs by
    10x here, because the rotation's transposes copy with poor locality.
    """
    tensor = np.asarray(tensor)
    return apply_along_axes(tensor, K, axes=range(batch_axes, tensor.ndim))


def transition_tensor(K: np.ndarray, x0) -> np.ndarray:
    """p_{s|0}(·|x0) = ⊗_i K[:, x0^i] as an L-axis tensor over ``S^L`` (§1.4)."""
    x0 = np.asarray(x0)
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

    @classmethod
    def at_noise_level(cls, dist: JointDistribution, generator: Generator, s: float, *, method: str = "closed"):
        """Build p_s for ``dist`` under ``generator`` at noise level ``s``."""
        if generator.n_tokens != dist.n_tokens:
            raise ValueError(
                f"`generator` acts on {generator.n_tokens} clean symbols but the distribution has "
                f"{dist.n_tokens}"
            )
        n_dense = generator.n_states**dist.length
        if n_dense > MAX_DENSE_STATES:
            raise ValueError(
                f"p_s over {generator.n_states}^{dist.length} = {n_dense:.3g} states exceeds the dense limit "
                f"{MAX_DENSE_STATES:.3g}"
            )
        if method == "closed" and generator.kind == "custom":
            method = "expm"
        K = token_kernel(generator, s, method=method)
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
        with np.errstate(divide="ignore"):
            return np.where(self.p > 0, np.log(np.where(self.p > 0, self.p, 1.0)), 0.0)

    def expect_over_start(self, f: np.ndarray, kernels=None) -> np.ndarray:
        """E_{x ~ p_{s|0}(·|x0)} f(x) for every clean x0 at once, as a tensor over ``V^L``.

        ``kernels`` optionally replaces the clean kernel on some axes: ``{axis: (S, N) array}``.
        This contraction is what makes the uniform-noise quantities cheap for all x0
        together (DESIGN W2 hint): one pass of ``K^T`` along every axis.
        """
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
    >>> from ctmc_lab import generators, schedules
    >>> proc = ForwardProcess(generators.absorbing(4), schedules.Loglinear())
    >>> float(proc.kernel(0.5)[4, 0].round(6))   # P(masked at t=0.5) = λ(0.5)
    0.49975
    """

    generator: Generator
    schedule: Schedule

    def sigma_bar(self, t):
        return self.schedule.sigma_bar(t)

    def kernel(self, t: float, *, method: str = "closed") -> np.ndarray:
        """p_{t|0}(a | b) = exp(sigma_bar(t) Q)[a, b]."""
        return token_kernel(self.generator, float(self.schedule.sigma_bar(t)), method=method)

    def p_t_given_0(self, x0, t: float) -> np.ndarray:
        """p_{t|0}(·|x0) as an L-axis tensor over ``S^L``."""
        return transition_tensor(self.kernel(t), x0)

    def at(self, dist: JointDistribution, t: float) -> NoisedDistribution:
        """p_t of ``dist``, with its kernel (see :class:`NoisedDistribution`)."""
        return NoisedDistribution.at_noise_level(dist, self.generator, float(self.schedule.sigma_bar(t)))
