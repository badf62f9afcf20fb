"""Lemma 3.3 as a study: pointwise ℓ_DSE = σ(t)(1-λ)/λ · ℓ_DCE along loglinear(10^-3).

``docs/theory.md`` §3.2. For x0 the mode of a small random p0 (Dirichlet(1), N = 3, L = 4, drawn
with the study seed), the noisy state x masking positions 0 and 2, and two normalised denoisers
(c* and the non-optimal mixture (1-w) c* + w/N), the corresponding score s_t = (1-λ)/λ c is put
into the generic DSE sum (:func:`~ctmc_lab.exact.scores.dse`, paper Eq. 3) at each t of
loglinear(10^-3), and compared with the scaled DCE (:func:`~ctmc_lab.exact.scores.dce`). The factor
uses the rate σ(t); with σ̄(t) in its place (the misprint of a third-party summary,
``docs/theory.md`` §3.2) the identity fails, kept as a control. One case, one table.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.exact import scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser
from ctmc_lab.studies._common import grid_cases, rows_of
from ctmc_lab.studies.engine import Case, Column
from ctmc_lab.studies.imdse_curves import tiny_distribution

__all__ = [
    "NAME",
    "COLUMNS",
    "MASKED",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "equivalence_table",
]

NAME = "dse-dce-equivalence"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: times log-spaced on [1e-4, 1], and w of the mixture.
SETTINGS = {"small": {"n_points": 9, "mix_weight": 0.3}, "full": {"n_points": 60, "mix_weight": 0.3}}
#: The masked positions of x.
MASKED = (0, 2)

#: One row per (denoiser, t), the denoisers in blocks of ``n_points`` rows.
COLUMNS = (
    Column("denoiser", "str", "optimal c* or the mixture (1-w) c* + w/N"),
    Column("t", "float", "time, log-spaced on [1e-4, 1]"),
    Column("sigma", "float", "σ(t) of loglinear(1e-3)"),
    Column("sigma_bar", "float", "σ̄(t)"),
    Column("mask_level", "float", "λ(t), the probability a position is masked"),
    Column("dse", "float", "ℓ_DSE(x0, x, t, s_t) with s_t = (1-λ)/λ c, paper Eq. 3 (nats per unit t)"),
    Column("dce", "float", "ℓ_DCE(x0, x, c) (nats; constant in t)"),
    Column("scaled_dce", "float", "σ(t)/(e^σ̄ - 1) · ℓ_DCE, Lemma 3.3's right side (nats per unit t)"),
    Column("abs_residual", "float", "|dse - scaled_dce|"),
    Column("rel_residual", "float", "|dse - scaled_dce| / dse"),
    Column("scaled_dce_wrong_factor", "float", "σ̄(t)/(e^σ̄ - 1) · ℓ_DCE, the misprinted factor (control)"),
)


cases = grid_cases(NAME, SETTINGS)


def estimate_seconds(case: Case) -> float:
    """About 1 ms per time point, plus 0.05 s (measured, 1 core)."""
    return 0.05 + 1e-3 * case["n_points"]


def equivalence_table(p, n_points: int, mix_weight: float) -> dict:
    """The table of ``COLUMNS`` for x0 the mode of ``p`` (length ≥ 3) and x masking :data:`MASKED`."""
    n_points = positive_int(n_points, "n_points", minimum=2)
    if not 0.0 < float(mix_weight) <= 1.0:
        raise ValueError(f"`mix_weight` must lie in (0, 1] (got {mix_weight!r})")
    if p.length < 3:
        raise ValueError(f"`p` must have length ≥ 3 (positions 0 and 2 are masked; got {p.length})")
    n = p.n_tokens
    x0 = p.support[np.argmax(p.probs)]
    x = x0.copy()
    x[list(MASKED)] = n
    gen = generators.absorbing(n)
    sched = Loglinear(1e-3)
    t = np.geomspace(1e-4, 1.0, n_points)
    base = OptimalDenoiser(p)
    dens = {"optimal c*": base, f"mixture, w = {mix_weight}": MixedDenoiser(base, weight=mix_weight)}
    cols = {c.name: [] for c in COLUMNS}
    kernels = [NoisedDistribution.at_noise_level(p, gen, float(s)) for s in sched.sigma_bar(t)]
    sig, sb = np.asarray(sched.sigma(t)), np.asarray(sched.sigma_bar(t))
    for label, den in dens.items():
        logc = den(x[None])  # (1, L, N)
        dce = float(scores.dce(x0[None], x[None], logc, mask_id=n)[0])
        dse = []
        for nd, tt in zip(kernels, t):
            lam = float(sched.mask_level(tt))
            score = np.ones((1, p.length, n + 1))
            score[:, :, :n] = (1 - lam) / lam * np.exp(logc)
            dse.append(float(scores.dse(nd.generator, nd.K, x0[None], x[None], score, rate=float(sched.sigma(tt)))[0]))
        dse = np.array(dse)
        scaled = sig / np.expm1(sb) * dce
        for key, val in (
            ("denoiser", np.full(t.size, label)),
            ("t", t),
            ("sigma", sig),
            ("sigma_bar", sb),
            ("mask_level", np.asarray(sched.mask_level(t))),
            ("dse", dse),
            ("dce", np.full(t.size, dce)),
            ("scaled_dce", scaled),
            ("abs_residual", np.abs(dse - scaled)),
            ("rel_residual", np.abs(dse - scaled) / dse),
            ("scaled_dce_wrong_factor", sb / np.expm1(sb) * dce),
        ):
            cols[key].append(val)
    return {k: np.concatenate(v) for k, v in cols.items()}


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of ``COLUMNS`` (``rng`` unused: p0 is drawn from ``case.seed``)."""
    p = tiny_distribution(case.seed, 3, 4)
    return rows_of(equivalence_table(p, case["n_points"], case["mix_weight"]))


def summarize(table: dict) -> str:
    """The largest residuals of Lemma 3.3, relative and absolute."""
    return (
        f"{NAME}: max relative residual {float(table['rel_residual'].max()):.3g}, "
        f"max absolute residual {float(table['abs_residual'].max()):.3g}"
    )
