"""Noise schedules: rate sigma(t), total noise sigma_bar(t), masking level lambda(t) (§1.3).

Every schedule gives ``sigma_bar``, its exact derivative ``sigma``, ``dsigma_dt``, the
masking level ``mask_level`` = λ = 1 - exp(-sigma_bar) with ``dlambda_dt`` = σ(1-λ)
(identity S11), and the inverse maps ``t_of_sigma_bar`` and ``t_of_mask_level``.
All functions accept scalars or arrays.

The identities of the paper need sigma_bar(0) = 0; ``require_zero_start`` enforces it.
SEDD's geometric schedule has sigma_bar(0) = sigma_min and is shifted by default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ctmc_lab._validation import InvalidTypeError, ensure_array, ensure_bool, ensure_real

__all__ = [
    "Schedule",
    "Loglinear",
    "Geometric",
    "Linear",
    "Cosine",
    "SCHEDULES",
    "get_schedule",
    "require_zero_start",
]


@dataclass(frozen=True)
class Schedule:
    """A noise schedule σ(t) on [0, t_max] (§1.3).

    Subclasses define :meth:`sigma_bar`, :meth:`sigma`, :meth:`dsigma_dt` and
    :meth:`t_of_sigma_bar`; the masking level λ(t), dλ/dt and the inverse of λ follow from
    them (a subclass may override :meth:`mask_level` with a more accurate closed form).
    """

    #: Largest valid time (the schedules are defined on [0, t_max]).
    t_max = 1.0

    def _check_t(self, t) -> np.ndarray:
        # The hot callers' inputs (a sampler's batch, a quadrature's node) are decided by
        # comparisons (NaN fails them all; t_max may be inf); anything else takes the full check.
        if type(t) is float:
            if 0.0 <= t <= self.t_max and t < np.inf:
                return np.asarray(t)
        elif type(t) is np.ndarray and t.dtype == np.float64 and t.size:
            hi = t.max()
            if t.min() >= 0 and hi <= self.t_max and hi < np.inf:
                return t
        t = ensure_array(t, "t", finite=True, allow_empty=False)
        if np.any(t < 0) or np.any(t > self.t_max):
            raise ValueError(f"`t` must lie in [0, {self.t_max:g}] for {self!r} (got {t.min():g}..{t.max():g})")
        return t

    def _check_sigma_bar(self, sigma_bar) -> np.ndarray:
        """Noise levels within σ̄'s range [σ̄(0), σ̄(t_max)] (up to 1e-12 relative at the top)."""
        sigma_bar = ensure_array(sigma_bar, "sigma_bar", allow_empty=False)
        lo = float(self.sigma_bar(0.0))
        with np.errstate(divide="ignore"):
            hi = float(self.sigma_bar(self.t_max)) if np.isfinite(self.t_max) else np.inf
        if np.any(sigma_bar < lo) or np.any(sigma_bar > hi * (1 + 1e-12)):
            raise ValueError(
                f"`sigma_bar` must lie in [{lo:g}, {hi:g}], the range of σ̄ for {self!r} "
                f"(got {sigma_bar.min():g}..{sigma_bar.max():g})"
            )
        return sigma_bar

    def _set(self, name: str, value) -> None:
        """Store a checked parameter on the frozen dataclass."""
        object.__setattr__(self, name, value)

    def sigma_bar(self, t):
        """Total noise σ̄(t) = ∫_0^t σ(u) du, the unit-rate noise level s at time t (§1.3).

        The kernel at time t is exp(σ̄(t) Q) (§1.2); the paper's identities need σ̄(0) = 0
        (``require_zero_start``).

        Parameters
        ----------
        t : float or float array
            Times in [0, ``t_max``].

        Returns
        -------
        float array
            σ̄(t), non-decreasing in t.

        Raises
        ------
        ValueError
            If a time is outside [0, t_max] or not finite.
        """
        raise NotImplementedError

    def sigma(self, t):
        """Rate σ(t) = dσ̄/dt, the factor of the time-t generator Q_t = σ(t) Q (§1.3).

        Converts a unit-rate density into a time density: d/dt F = σ(t) dF/ds at s = σ̄(t),
        e.g. mdse(x0, t) = σ(t) mdse_s(x0, σ̄(t)) (§2.3).

        Parameters
        ----------
        t : float or float array
            Times in [0, ``t_max``].

        Returns
        -------
        float array
            σ(t) > 0.
        """
        raise NotImplementedError

    def dsigma_dt(self, t):
        """dσ/dt, the second derivative of σ̄ (used by the finite-difference checks of Thm 3.1).

        Parameters
        ----------
        t : float or float array
            Times in [0, ``t_max``].

        Returns
        -------
        float array
        """
        raise NotImplementedError

    def t_of_sigma_bar(self, sigma_bar):
        """The inverse of :meth:`sigma_bar`: the time t with σ̄(t) = ``sigma_bar`` (§1.3).

        Parameters
        ----------
        sigma_bar : float or float array
            Noise levels s >= σ̄(0) within the schedule's range.

        Returns
        -------
        float array
            Times t; every identity is invariant under this change of variable (§1.3).
        """
        raise NotImplementedError

    def mask_level(self, t):
        """Masking level λ(t) = 1 - exp(-σ̄(t)), the probability that a token is masked (§1.3).

        Under absorbing noise each token is masked independently with probability λ(t)
        (§1.2); computed as ``-expm1(-σ̄)`` for accuracy near t = 0.

        Parameters
        ----------
        t : float or float array
            Times in [0, ``t_max``].

        Returns
        -------
        float array
            λ(t) in [0, 1).
        """
        return -np.expm1(-self.sigma_bar(t))

    def dlambda_dt(self, t):
        """dλ/dt = σ(t) exp(-σ̄(t)) = σ(t)(1 - λ(t)) (§1.3; ``docs/theory.md`` S11).

        The Jacobian between the time and masking-level forms of the integrals (Cor 3.6, 3.7).

        Parameters
        ----------
        t : float or float array
            Times in [0, ``t_max``].

        Returns
        -------
        float array
        """
        return self.sigma(t) * np.exp(-self.sigma_bar(t))

    def t_of_mask_level(self, mask_level):
        """The time t at which λ(t) equals ``mask_level``: t = t_of_sigma_bar(-log(1 - λ)) (§1.3).

        Parameters
        ----------
        mask_level : float or float array
            λ in [0, 1).

        Returns
        -------
        float array

        Raises
        ------
        ValueError
            If a level is outside [0, 1).
        """
        lam = ensure_array(mask_level, "mask_level", allow_empty=False)
        if np.any(lam < 0) or np.any(lam >= 1):
            raise ValueError(f"`mask_level` must lie in [0, 1) (got {lam.min():g}..{lam.max():g})")
        return self.t_of_sigma_bar(-np.log1p(-lam))

    @property
    def sigma_bar0(self) -> float:
        """σ̄(0): 0 for every schedule the identities accept (§1.3, §8 item 3)."""
        return float(self.sigma_bar(0.0))


@dataclass(frozen=True)
class Loglinear(Schedule):
    """sigma_bar(t) = -log(1 - (1-eps) t), so λ(t) = (1-eps) t exactly (code default eps=1e-3)."""

    eps: float = 1e-3

    def __post_init__(self):
        self._set("eps", ensure_real(self.eps, "eps", lo=0.0, hi=1.0, hi_open=True))

    def sigma_bar(self, t):
        return -np.log1p(-(1 - self.eps) * self._check_t(t))

    def sigma(self, t):
        return (1 - self.eps) / (1 - (1 - self.eps) * self._check_t(t))

    def dsigma_dt(self, t):
        return self.sigma(t) ** 2

    def t_of_sigma_bar(self, sigma_bar):
        return -np.expm1(-self._check_sigma_bar(sigma_bar)) / (1 - self.eps)


@dataclass(frozen=True)
class Geometric(Schedule):
    """SEDD's geometric schedule, sigma_min^(1-t) sigma_max^t, shifted to start at 0.

    With ``shifted=False`` it is the SEDD code's schedule, whose sigma_bar(0) = sigma_min
    breaks the identities (a negative control of the verifier).
    """

    sigma_min: float = 1e-4
    sigma_max: float = 20.0
    shifted: bool = True

    def __post_init__(self):
        self._set("sigma_min", ensure_real(self.sigma_min, "sigma_min", lo=0.0, lo_open=True))
        self._set("sigma_max", ensure_real(self.sigma_max, "sigma_max", lo=0.0, lo_open=True))
        self._set("shifted", ensure_bool(self.shifted, "shifted"))
        if not self.sigma_min < self.sigma_max:
            raise ValueError(f"`sigma_min` must be below `sigma_max` (got {self.sigma_min:g} and {self.sigma_max:g})")

    @property
    def _log_ratio(self) -> float:
        return float(np.log(self.sigma_max / self.sigma_min))

    def _raw(self, t):
        return self.sigma_min * np.exp(self._log_ratio * self._check_t(t))

    def sigma_bar(self, t):
        return self._raw(t) - (self.sigma_min if self.shifted else 0.0)

    def sigma(self, t):
        return self._raw(t) * self._log_ratio

    def dsigma_dt(self, t):
        return self._raw(t) * self._log_ratio**2

    def t_of_sigma_bar(self, sigma_bar):
        raw = self._check_sigma_bar(sigma_bar) + (self.sigma_min if self.shifted else 0.0)
        return np.log(raw / self.sigma_min) / self._log_ratio


@dataclass(frozen=True)
class Linear(Schedule):
    """Constant rate: sigma(t) = rate, sigma_bar(t) = rate * t (test schedule; t in [0, ∞))."""

    rate: float = 1.0
    t_max = np.inf

    def __post_init__(self):
        self._set("rate", ensure_real(self.rate, "rate", lo=0.0, lo_open=True))

    def sigma_bar(self, t):
        return self.rate * self._check_t(t)

    def sigma(self, t):
        return np.full_like(self._check_t(t), self.rate)

    def dsigma_dt(self, t):
        return np.zeros_like(self._check_t(t))

    def t_of_sigma_bar(self, sigma_bar):
        return self._check_sigma_bar(sigma_bar) / self.rate


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine masking: λ(t) = (1-eps)(1 - cos(πt/2)), sigma_bar = -log(1 - λ)."""

    eps: float = 1e-3

    def __post_init__(self):
        self._set("eps", ensure_real(self.eps, "eps", lo=0.0, hi=1.0, hi_open=True))

    def _lam(self, t):
        # 1 - cos x = 2 sin^2(x/2): no cancellation, so sigma_bar(t) > 0 for every t > 0.
        return (1 - self.eps) * 2.0 * np.sin(0.25 * np.pi * t) ** 2

    def _dlam(self, t):
        return (1 - self.eps) * 0.5 * np.pi * np.sin(0.5 * np.pi * t)

    def sigma_bar(self, t):
        return -np.log1p(-self._lam(self._check_t(t)))

    def mask_level(self, t):
        return self._lam(self._check_t(t))

    def sigma(self, t):
        t = self._check_t(t)
        return self._dlam(t) / (1 - self._lam(t))

    def dsigma_dt(self, t):
        t = self._check_t(t)
        one_minus = 1 - self._lam(t)
        d2 = (1 - self.eps) * (0.5 * np.pi) ** 2 * np.cos(0.5 * np.pi * t)
        return (d2 * one_minus + self._dlam(t) ** 2) / one_minus**2

    def t_of_sigma_bar(self, sigma_bar):
        lam = -np.expm1(-self._check_sigma_bar(sigma_bar))
        return (2 / np.pi) * np.arccos(1 - lam / (1 - self.eps))


#: Schedules by command-line name, with the code defaults.
SCHEDULES = {
    "loglinear": Loglinear,
    "geometric": Geometric,
    "geometric-unshifted": lambda **kw: Geometric(shifted=False, **kw),  # SEDD code; breaks sigma_bar(0) = 0
    "linear": Linear,
    "cosine": Cosine,
}


def get_schedule(name: str, **options) -> Schedule:
    """Construct a schedule by name; an unknown name or option lists the valid ones."""
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    cls = Geometric if name == "geometric-unshifted" else SCHEDULES[name]
    fields = [f.name for f in dataclasses.fields(cls) if not (name == "geometric-unshifted" and f.name == "shifted")]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(f"the {name} schedule has no option {unknown[0]!r}; its options are {fields}")
    return SCHEDULES[name](**options)


def require_zero_start(schedule: Schedule) -> Schedule:
    """Return ``schedule`` if sigma_bar(0) = 0, else raise (the identities need it, §8 item 3)."""
    if not isinstance(schedule, Schedule):
        raise InvalidTypeError(f"`schedule` must be a Schedule (got {type(schedule).__name__})")
    s0 = schedule.sigma_bar0
    if s0 != 0.0:
        raise ValueError(
            f"{schedule!r} has sigma_bar(0) = {s0:g}, but the identities need sigma_bar(0) = 0 "
            "(use the shifted geometric schedule)"
        )
    return schedule
