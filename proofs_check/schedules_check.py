"""Every schedule the command line offers, by its name and defaults, against numerical twins (§1.3).

For each name of :data:`ctmc_lab.forward.schedules.SCHEDULES` (built by
:func:`~ctmc_lab.forward.schedules.get_schedule`, so the defaults users get are checked):
t(σ̄) and t(λ) against a root of σ̄(t) = s found by ``scipy.optimize.brentq`` on σ̄ itself
(no closed-form inverse), σ, dσ/dt and dλ/dt against 5-point differences of σ̄, σ and λ, and
λ against 1 - e^{-σ̄} evaluated here.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq

from ._util import five_point
from .framework import TOL_DERIV, Result, check

__all__: list[str] = []


@check(
    "schedules.registry_inverses",
    theorem="Schedules (§1.3)",
    method="float64",
    tolerance=TOL_DERIV,
    statement="every named schedule: t(σ̄), t(λ) = brentq roots; σ, σ', λ' = 5-point differences",
    work=3e7,
)
def registry_inverses(ctx):
    """Per named schedule, the worst relative error over t in a grid of its range."""
    from ctmc_lab.forward.schedules import SCHEDULES, get_schedule

    for name in SCHEDULES:
        sch = get_schedule(name)
        t_hi = 0.95 if math.isinf(sch.t_max) else 0.95 * sch.t_max
        ts = [t_hi * f for f in (0.02, 0.2, 0.5, 0.8, 1.0)]
        rows = []
        s0 = float(sch.sigma_bar(0.0))
        for t in ts:
            s = float(sch.sigma_bar(t))
            root = brentq(
                lambda u, s=s: float(sch.sigma_bar(u)) - s,
                0.0,
                min(1.0, sch.t_max) if not math.isinf(sch.t_max) else 10 * t_hi,
                xtol=1e-15,
                rtol=1e-15,
            )
            rows.append((abs(float(sch.t_of_sigma_bar(s)) - root) / max(1.0, root), "t(σ̄) vs brentq", t))
            lam = -math.expm1(-s)
            rows.append((abs(float(sch.mask_level(t)) - lam), "λ = 1 − e^{−σ̄}", t))
            if s0 == 0.0:
                rows.append((abs(float(sch.t_of_mask_level(lam)) - root) / max(1.0, root), "t(λ) vs brentq", t))
            h = min(1e-4, t / 500)
            for what, f, d in (
                ("σ vs dσ̄/dt", sch.sigma_bar, sch.sigma),
                ("σ' vs dσ/dt", sch.sigma, sch.dsigma_dt),
                ("dλ/dt", sch.mask_level, sch.dlambda_dt),
            ):
                fd = five_point(lambda u, f=f: float(f(u)), t, h)
                ex = float(d(t))
                rows.append((abs(fd - ex) / max(1.0, abs(ex)), what, t))
        err, what, t = max(rows, key=lambda r: r[0])
        yield Result(
            f"get_schedule({name!r}); t ∈ {[round(v, 4) for v in ts]}; worst: {what} at t={t:.4g}; rel.", err, 0.0, err
        )
