"""Time-sampled estimator families of the public evaluators, with exact moments (``docs/theory.md`` §6.3, §8).

The public masked-diffusion losses and harnesses (MDLM, SEDD, RADD, SMDM, Dream, BD3LM, MD4,
VRPO-style ratios) share one shape: a batch of b rows, row j draws u_j ∈ [0, 1) from a batch
sampler, masks each scored position with probability λ(u_j) and returns

    g_j = w(u_j) [A(M_j) + |M_j| ℓ(u_j)],                      M_j ~ Bern(λ(u_j))^n,

the batch's output being the mean of its rows. The families here differ from
:class:`~ctmc_lab.estimation.families.TimeSampled` in what they take: any map u -> (λ, w, ℓ) (a
schedule, a discrete grid, a log-uniform importance map), any batch sampler of the code, and
exact moments vectorised over many tables at once (from the level sums S_p(m) = sum_{|M|=m} A(M)^p).

=====================  ==========================================================================
sampler                how row j of a batch of b draws u_j
=====================  ==========================================================================
``iid``                independent uniforms (SEDD ``get_loss_fn``, RADD ``k_DCE``'s rows)
``antithetic``         u_j = (j + v_j)/b, v_j independent (MDLM ``_sample_t``, RADD ``decoupled``)
``lattice``            u_j = (u_0 + j/b) mod 1, one u_0 per batch (VDM: Dream, SMDM, RADD ``vdm``,
                       MD4)
``strata``             u_j uniform on a given interval per row (BD3LM's comb: row i, block k gets
                       stratum i·nb + k of b·nb)
=====================  ==========================================================================

Exact moments. With P_m(λ) = λ^m (1-λ)^{n-m}, given u the row has mean
μ(u) = w sum_{m≥1} P_m (S1(m) + C(n,m) m ℓ) and second moment
ν(u) = w² sum_{m≥1} P_m (S2(m) + 2 m ℓ S1(m) + C(n,m) m² ℓ²). Given the u's the rows are
independent, so the batch mean Ḡ has E Ḡ = mean_j E μ(u_j) and

    Var Ḡ = (1/b²) sum_j E[ν(u_j) - μ(u_j)²] + Var((1/b) sum_j μ(u_j)),

whose last term is (1/b²) sum_j Var μ(u_j) for independent rows and Var_{u_0} h(u_0),
h = (1/b) sum_j μ(u_0 + j/b), for the lattice. The integrals over u are composite Gauss–Legendre
sums, split at the map's discontinuities and graded geometrically towards u = 0, where
λ(0) = ε makes w ~ 1/λ steep. When λ(0) = 0 and w ~ 1/λ (``reaches_zero``), the m = 1 term of ν
is not integrable: the variance is infinite iff S2(1) = sum_i a_i² > 0, the singleton losses
(``docs/theory.md`` §6.3).

:class:`CoupledBlend` is DiffuCoder's complementary pair, g = A(M)/t + A(M^c)/(1-t).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy.special import comb

from ctmc_lab._validation import (
    InvalidTypeError,
    ensure_array,
    ensure_bool,
    ensure_callable,
    ensure_mask_table,
    ensure_real,
    ensure_rng,
    ensure_size,
    ensure_str,
    positive_int,
    subset_table_length,
)
from ctmc_lab.estimation.families import Family
from ctmc_lab.estimation.laws import DRAW_CHUNK, UniformMasks, chunks, level_sums
from ctmc_lab.sequences import popcount

__all__ = [
    "SAMPLERS",
    "TimeMap",
    "TimeLaw",
    "CoupledBlend",
    "gauss_nodes",
    "cross_level_sums",
]

#: The batch samplers of :class:`TimeLaw`.
SAMPLERS = ("iid", "antithetic", "lattice", "strata")

#: Gauss–Legendre order of every sub-interval.
_ORDER = 24


def _n_of(A2) -> int:
    return int(np.shape(A2)[-1]).bit_length() - 1


@functools.lru_cache(maxsize=8)
def _legendre(order: int):
    return np.polynomial.legendre.leggauss(order)


def gauss_nodes(lo: float, hi: float, *, left=None, right=None, pieces: int = 1, order: int = _ORDER):
    """Nodes and weights of ∫_lo^hi: Gauss–Legendre of ``order`` on ``pieces`` equal sub-intervals,
    the first halved towards ``lo`` down to width ``left`` and the last towards ``hi`` down to
    ``right`` when given (an integrand with a pole about 16 times that width beyond the end: every
    sub-interval then lies farther from it than its own width)."""
    lo, hi = ensure_real(lo, "lo"), ensure_real(hi, "hi")
    left = None if left is None else ensure_real(left, "left", lo=0.0, lo_open=True)
    right = None if right is None else ensure_real(right, "right", lo=0.0, lo_open=True)
    pieces, order = positive_int(pieces, "pieces"), positive_int(order, "order")
    ensure_size(pieces * order, f"`pieces` = {pieces} sub-intervals of `order` = {order}")
    x, wts = _legendre(order)
    if hi <= lo:
        return np.zeros(0), np.zeros(0)
    edges = list(np.linspace(lo, hi, int(pieces) + 1))
    if left is not None and left < edges[1] - edges[0]:
        width = edges[1] - edges[0]
        edges = [lo] + [lo + width * 2.0**-k for k in range(int(np.log2(width / left)), 0, -1)] + edges[1:]
    if right is not None and right < edges[-1] - edges[-2]:
        width = edges[-1] - edges[-2]
        edges = edges[:-1] + [hi - width * 2.0**-k for k in range(1, int(np.log2(width / right)) + 1)] + [hi]
    a, b = np.array(edges[:-1]), np.array(edges[1:])
    half = (b - a)[:, None] / 2
    nodes = (a + b)[:, None] / 2 + half * x[None, :]
    return nodes.ravel(), (half * wts[None, :]).ravel()


@dataclass(frozen=True, eq=False)
class TimeMap:
    """The code's map from a row's uniform u ∈ [0, 1) to its mask rate and weight.

    Attributes
    ----------
    lam, weight : callable
        Vectorised u -> λ(u) ∈ [0, 1] and u -> w(u) ≥ 0.
    log_term : callable or None
        u -> ℓ(u): the row adds |M| ℓ (RADD's t-DCE scores the log of the score, ℓ = log(e^σ̄ - 1)).
    breaks : tuple of float
        Points of (0, 1) where λ, w or ℓ jump (a discrete time grid).
    constant_pieces : bool
        λ, w and ℓ are constant between breaks (one node per piece is exact).
    reaches_zero : bool or None
        λ(0) = 0 with w λ bounded away from 0 near 0: the λ-DCE singularity (§6.3). None (the
        default): read from the map, λ(0) = 0 and w λ > 0 at u = 1e-12.
    pole, pole_right : float or None
        The distance from u = 0 (u = 1) to the nearest pole of w or ℓ beyond it (w = 1/t with
        t = ε + ... puts one at about ε left of 0; ℓ = log(λ/(1-λ)) with λ ≤ 1 - ε one right of 1):
        the nodes are graded towards that end down to a sixteenth of it. None: smooth there.
    pieces : int
        Equal sub-intervals of every interval (λ^m steep over the interval, as under a geometric
        schedule whose σ̄ spans five decades).
    """

    lam: Callable
    weight: Callable
    log_term: Callable | None = None
    breaks: tuple = ()
    constant_pieces: bool = False
    reaches_zero: bool | None = None
    pole: float | None = None
    pole_right: float | None = None
    pieces: int = 1

    def __post_init__(self):
        ensure_callable(self.lam, "lam")
        ensure_callable(self.weight, "weight")
        if self.log_term is not None:
            ensure_callable(self.log_term, "log_term")
        breaks = ensure_array(self.breaks, "breaks", ndim=1, lo=0.0, hi=1.0)
        if breaks.size and (breaks.min() == 0.0 or breaks.max() == 1.0):
            raise ValueError("`breaks` must lie inside (0, 1), not at its ends")
        ensure_bool(self.constant_pieces, "constant_pieces")
        for name in ("pole", "pole_right"):
            if getattr(self, name) is not None:
                ensure_real(getattr(self, name), name, lo=0.0, lo_open=True)
        positive_int(self.pieces, "pieces")
        if self.reaches_zero is not None:
            ensure_bool(self.reaches_zero, "reaches_zero")
        else:
            lam0 = float(np.asarray(self.lam(np.zeros(1)), dtype=float).ravel()[0])
            tiny = np.full(1, 1e-12)
            w_lam = float(
                (np.asarray(self.weight(tiny), dtype=float) * np.asarray(self.lam(tiny), dtype=float)).ravel()[0]
            )
            object.__setattr__(self, "reaches_zero", lam0 == 0.0 and w_lam > 1e-6)

    def at(self, u):
        """(λ, w, ℓ) at the points u ∈ [0, 1] (ℓ = 0 without a log term)."""
        return self._at(ensure_array(u, "u", lo=0.0, hi=1.0))

    def _at(self, u):
        u = np.asarray(u, dtype=float)
        lam = np.asarray(self.lam(u), dtype=float) * np.ones_like(u)
        w = np.asarray(self.weight(u), dtype=float) * np.ones_like(u)
        ell = np.zeros_like(u) if self.log_term is None else np.asarray(self.log_term(u), dtype=float) * np.ones_like(u)
        return lam, w, ell

    def nodes(self, lo: float, hi: float, *, shifts=(0.0,)):
        """Quadrature nodes of ∫_lo^hi for the points lo + s + ..., split where any shifted copy of
        the map jumps (``shifts``: the lattice's j/b) and graded towards u = 0; kept per interval."""
        lo, hi = ensure_real(lo, "lo", lo=0.0, hi=1.0), ensure_real(hi, "hi", lo=0.0, hi=1.0)
        if hi <= lo:
            raise ValueError(f"`hi` must be above `lo` (got lo = {lo!r}, hi = {hi!r})")
        shifts = ensure_array(shifts, "shifts", ndim=1, lo=0.0, hi=1.0, allow_empty=False)
        key = (lo, hi, tuple(float(s) for s in shifts))
        cache = self.__dict__.setdefault("_node_cache", {})
        if key not in cache:
            u, w = self._nodes(*key)
            u.setflags(write=False)
            w.setflags(write=False)
            cache[key] = (u, w)
        return cache[key]

    def _nodes(self, lo, hi, shifts):
        cuts = {lo, hi}
        for s in shifts:
            cuts.update(float(b - s) for b in self.breaks if lo < b - s < hi)
        cuts = sorted(cuts)
        us, ws = [], []
        for a, b in zip(cuts[:-1], cuts[1:]):
            if self.constant_pieces:
                us.append(np.array([(a + b) / 2]))
                ws.append(np.array([b - a]))
            else:
                left = self.pole is not None and any(a + s == 0.0 for s in shifts)
                right = self.pole_right is not None and any(b + s == 1.0 for s in shifts)
                u, w = gauss_nodes(
                    a,
                    b,
                    left=self.pole / 16 if left else None,
                    right=self.pole_right / 16 if right else None,
                    pieces=self.pieces,
                )
                us.append(u)
                ws.append(w)
        return np.concatenate(us), np.concatenate(ws)


def cross_level_sums(A: np.ndarray, n: int) -> np.ndarray:
    """X(m) = sum_{|M| = m} A(M) A(M^c) for m = 0..n, shape (..., n+1)."""
    A = ensure_array(A, "A", ndim=range(1, 33))
    if subset_table_length(A.shape[-1], "A") != positive_int(n, "n", minimum=0):
        raise ValueError(f"`A` must have 2**n = 2**{n} entries on its last axis (got shape {A.shape})")
    full = (1 << n) - 1
    masks = np.arange(1 << n)
    onehot = (popcount(masks)[:, None] == np.arange(n + 1)).astype(float)
    return (A * A[..., full ^ masks]) @ onehot


def _validated_tables(A2) -> np.ndarray:
    A2 = np.atleast_2d(ensure_mask_table(A2, "A2"))
    if not np.all(np.isfinite(A2)):
        raise ValueError("`A2` has infinite entries: the row has probability 0 under the model")
    return A2


def _checked_call(family, name, options, batch_size) -> None:
    """Refuse a non-string ``name``, ``options`` that are not an empty dict, or a ``batch_size`` that is
    neither None nor a positive int."""
    ensure_str(name, "name")
    if not isinstance(options, dict):
        raise InvalidTypeError(f"`options` must be a dict (got {type(options).__name__})")
    family._no_options(name, options)
    if batch_size is not None:
        positive_int(batch_size, "batch_size")


def _checked_oracle(oracle):
    """``oracle`` if it is an A-oracle (callable, with a whole ``n`` ≥ 0)."""
    if not (callable(oracle) and hasattr(oracle, "n")):
        raise InvalidTypeError(f"`oracle` must be an A-oracle (callable, with `n`; got {type(oracle).__name__})")
    positive_int(oracle.n, "oracle.n", minimum=0)
    return oracle


@dataclass(frozen=True, eq=False)
class TimeLaw(Family):
    """A batch of rows, row j at u_j from the ``sampler``, M ~ Bern(λ(u_j))^n, g = w [A(M) + |M| ℓ].

    Parameters
    ----------
    map : TimeMap
    sampler : {"iid", "antithetic", "lattice", "strata"}
    strata : callable, optional
        ``strata(b)`` -> ``(b, 2)`` array of the u-interval of each row (sampler ``"strata"``).

    Notes
    -----
    :meth:`moments` gives the mean of one row and the per-draw variance b · Var(Ḡ) of a batch of
    ``batch_size`` rows (the i.i.d. variance for ``iid``); see the module docstring.
    """

    map: TimeMap = field(default=None)
    sampler: str = "iid"
    strata: Callable | None = None
    kind: ClassVar[str] = "time_law"
    exact_by_table: ClassVar[bool] = False

    def __post_init__(self):
        if not isinstance(self.map, TimeMap):
            raise ValueError(f"`map` must be a TimeMap (got {type(self.map).__name__})")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown `sampler` {self.sampler!r}; choose one of {list(SAMPLERS)}")
        if (self.sampler == "strata") != (self.strata is not None):
            raise ValueError("`strata` is given with, and only with, sampler 'strata'")
        if self.strata is not None:
            ensure_callable(self.strata, "strata")
        object.__setattr__(self, "stratified", self.sampler != "iid")

    # ------------------------------------------------------------------------------ draws
    def _intervals(self, b: int) -> np.ndarray:
        if self.sampler == "strata":
            iv = np.asarray(self.strata(b), dtype=float)
            if iv.shape != (b, 2) or np.any(iv[:, 0] < 0) or np.any(iv[:, 1] > 1) or np.any(iv[:, 1] <= iv[:, 0]):
                raise ValueError(f"`strata({b})` must give {b} intervals [lo, hi) inside [0, 1]")
            return iv
        j = np.arange(b)
        if self.sampler == "antithetic":
            return np.stack([j / b, (j + 1) / b], axis=1)
        return np.tile([0.0, 1.0], (b, 1))

    def sample_u(self, b: int, rng: np.random.Generator) -> np.ndarray:
        """The u of one batch of b rows."""
        return self._sample_u(positive_int(b, "b"), ensure_rng(rng))

    def _sample_u(self, b, rng):
        if self.sampler == "lattice":
            return (rng.random() + np.arange(b) / b) % 1.0
        iv = self._intervals(b)
        return iv[:, 0] + (iv[:, 1] - iv[:, 0]) * rng.random(b)

    def draw(self, name, oracle, n_samples, rng, batch_size, options):
        _checked_call(self, name, options, batch_size)
        oracle, n_samples, rng = _checked_oracle(oracle), positive_int(n_samples, "n_samples"), ensure_rng(rng)
        b = positive_int(batch_size, "batch_size") if self.stratified else None
        sizes = UniformMasks(oracle.n)
        out = np.empty(n_samples)
        for sl in chunks(n_samples, b or DRAW_CHUNK):
            k = sl.stop - sl.start
            u = self._sample_u(k, rng) if b else rng.random(k)
            lam, w, ell = self.map._at(u)
            m = rng.binomial(oracle.n, np.clip(lam, 0.0, 1.0))
            A = oracle(sizes.draw(m, rng))
            with np.errstate(invalid="ignore", over="ignore"):
                out[sl] = np.where(m > 0, w * (A + m * ell), 0.0)
        return out, name

    def row_size_laws(self, n: int, b: int) -> np.ndarray:
        """``(b, n+1)``: P(|M_j| = m) for row j of a batch of b, m = 0..n (each row's u is uniform
        on its interval; the lattice's rows are each uniform on [0, 1))."""
        n, b = positive_int(n, "n", minimum=0), positive_int(b, "b")
        out = np.empty((b, n + 1))
        m = np.arange(n + 1)[:, None]
        for j, (lo, hi) in enumerate(self._intervals(b) if self.stratified else np.tile([0.0, 1.0], (b, 1))):
            u, q = self.map.nodes(lo, hi)
            lam = np.clip(self.map._at(u)[0], 0.0, 1.0)
            out[j] = (comb(n, m[:, 0])[:, None] * lam**m * (1.0 - lam) ** (n - m)) @ q / (hi - lo)
        return out

    # ---------------------------------------------------------------------------- moments
    def _row_terms(self, u, n, S1, S2):
        """μ and ν at the points u for every table: two ``(K, Q)`` arrays (ν without its m = 1
        term when the map reaches λ = 0, where that term is not integrable)."""
        lam, w, ell = self.map._at(u)
        m = np.arange(1, n + 1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            P = lam[None, :] ** m * (1.0 - lam[None, :]) ** (n - m)  # (n, Q)
        C = comb(n, m[:, 0])
        mu = (S1[:, 1:] @ (w * P)) + (w * ell * ((C * m[:, 0]) @ P))[None, :]
        w2P = w * w * P
        if self.map.reaches_zero:
            w2P = w2P.copy()
            w2P[0] = 0.0
        nu = S2[:, 1:] @ w2P + 2.0 * (S1[:, 1:] * m[:, 0]) @ (w2P * ell) + (w2P * ell * ell).T @ (C * m[:, 0] ** 2)
        return mu, nu

    def moments(self, A2, *, name="estimator", batch_size=None, **options):
        """(mean, per-draw variance b · Var(Ḡ), infinite) of a batch of ``batch_size`` rows, per table."""
        _checked_call(self, name, options, batch_size)
        A2 = _validated_tables(A2)
        n = _n_of(A2)
        S1, S2 = level_sums(A2, n, 1), level_sums(A2, n, 2)
        infinite = np.zeros(A2.shape[0], bool)
        if self.map.reaches_zero:
            infinite = S2[:, 1] > 0
        if self.sampler == "iid":
            u, q = self.map.nodes(0.0, 1.0)
            mu, nu = self._row_terms(u, n, S1, S2)
            mean = mu @ q
            var = nu @ q - mean**2
        elif batch_size is None:
            raise ValueError(f"the moments of {name} (sampler {self.sampler!r}) need its `batch_size`")
        elif self.sampler == "lattice":
            mean, var = self._lattice(positive_int(batch_size, "batch_size"), n, S1, S2)
        else:
            mean, var = self._independent_rows(positive_int(batch_size, "batch_size"), n, S1, S2)
        return mean, np.where(infinite, np.inf, var), infinite

    def _independent_rows(self, b, n, S1, S2):
        """Rows on their own intervals: E Ḡ = mean_j E_j μ, b Var Ḡ = mean_j (E_j ν - (E_j μ)²)."""
        means, vars_ = [], []
        for lo, hi in self._intervals(b):
            u, q = self.map.nodes(lo, hi)
            q = q / (hi - lo)
            mu, nu = self._row_terms(u, n, S1, S2)
            e1 = mu @ q
            means.append(e1)
            vars_.append(nu @ q - e1**2)
        return np.mean(means, axis=0), np.mean(vars_, axis=0)

    def _lattice(self, b, n, S1, S2):
        """u_j = u_0 + j/b, u_0 ~ U[0, 1/b): b Var Ḡ = E ν - E μ² + b (E h² - (E μ)²)."""
        shifts = np.arange(b) / b
        u0, q = self.map.nodes(0.0, 1.0 / b, shifts=tuple(shifts))
        q = q * b  # a probability measure on [0, 1/b)
        mu, nu = self._row_terms((u0[None, :] + shifts[:, None]).ravel(), n, S1, S2)
        K = S1.shape[0]
        mu, nu = mu.reshape(K, b, -1), nu.reshape(K, b, -1)
        mean = (mu @ q).mean(axis=1)
        e_nu = (nu @ q).mean(axis=1)
        e_mu2 = ((mu * mu) @ q).mean(axis=1)
        h = mu.mean(axis=1)  # (K, Q)
        return mean, e_nu - e_mu2 + b * ((h * h) @ q - mean**2)


@dataclass(frozen=True, eq=False)
class CoupledBlend(Family):
    """DiffuCoder's complementary pair: t ~ U(lo, hi), M ~ Bern(t)^n, g = A(M)/t + A(M^c)/(1-t).

    ``apple/ml-diffucoder`` ``coupled_grpo.py``: each completion token is masked in exactly one of
    two rows (``rand < t``, ``rand > t``), scored there with weight 1/t or 1/(1-t). With
    P_m(t) = t^m (1-t)^{n-m} and the level sums S_p and cross sums X(m) = sum_{|M|=m} A(M)A(M^c):

        E[g | t] = sum_m P_m (S1(m)/t + S1(n-m)/(1-t)),
        E[g² | t] = sum_m P_m (S2(m)/t² + 2 X(m)/(t(1-t)) + S2(n-m)/(1-t)²),

    integrated over t by Gauss–Legendre (the integrand is smooth on [lo, hi] ⊂ (0, 1)).
    """

    lo: float = 0.2
    hi: float = 0.8
    kind: ClassVar[str] = "coupled_blend"
    exact_by_table: ClassVar[bool] = True

    def __post_init__(self):
        ensure_real(self.lo, "lo")
        ensure_real(self.hi, "hi")
        if not 0.0 < self.lo < self.hi < 1.0:
            raise ValueError(f"`lo`, `hi` must satisfy 0 < lo < hi < 1 (got {self.lo!r}, {self.hi!r})")

    def draw(self, name, oracle, n_samples, rng, batch_size, options):
        _checked_call(self, name, options, batch_size)
        oracle, n_samples, rng = _checked_oracle(oracle), positive_int(n_samples, "n_samples"), ensure_rng(rng)
        sizes = UniformMasks(oracle.n)
        full = (1 << oracle.n) - 1
        out = np.empty(n_samples)
        for sl in chunks(n_samples, DRAW_CHUNK):
            k = sl.stop - sl.start
            t = self.lo + (self.hi - self.lo) * rng.random(k)
            local = sizes.draw(rng.binomial(oracle.n, t), rng)
            out[sl] = oracle(local) / t + oracle(full ^ local) / (1.0 - t)
        return out, name

    def moments(self, A2, *, name="estimator", batch_size=None, **options):
        _checked_call(self, name, options, batch_size)
        A2 = _validated_tables(A2)
        n = _n_of(A2)
        S1, S2, X = level_sums(A2, n, 1), level_sums(A2, n, 2), cross_level_sums(A2, n)
        t, q = gauss_nodes(self.lo, self.hi, order=64)
        q = q / (self.hi - self.lo)
        m = np.arange(n + 1)[:, None]
        P = t[None, :] ** m * (1.0 - t[None, :]) ** (n - m)  # (n+1, Q)
        flip = S1[:, ::-1]
        e1 = (S1 @ (P / t) + flip @ (P / (1.0 - t))) @ q
        e2 = (S2 @ (P / t**2) + 2.0 * X @ (P / (t * (1.0 - t))) + S2[:, ::-1] @ (P / (1.0 - t) ** 2)) @ q
        return e1, e2 - e1**2, np.zeros(A2.shape[0], bool)
