"""Lemma 3.3 as a table: pointwise ℓ_DSE = σ(t)(1-λ)/λ · ℓ_DCE along loglinear(10^-3).

``docs/theory.md`` §3.2.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.exact import scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser
from ctmc_lab.studies._common import StudyResult
from ctmc_lab.studies.imdse_curves import tiny_distribution

__all__ = ["COLUMNS", "dse_dce_equivalence"]

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; one row per (denoiser, t).
COLUMNS = {
    "dse_dce_equivalence": {
        "denoiser": "optimal c* or the mixture (1-w) c* + w/N",
        "t": "time, log-spaced on [1e-4, 1]",
        "sigma": "σ(t) of loglinear(1e-3)",
        "sigma_bar": "σ̄(t)",
        "mask_level": "λ(t), the probability a position is masked",
        "dse": "ℓ_DSE(x0, x, t, s_t) with s_t = (1-λ)/λ c, paper Eq. 3 (nats per unit t)",
        "dce": "ℓ_DCE(x0, x, c) (nats; constant in t)",
        "scaled_dce": "σ(t)/(e^σ̄ - 1) · ℓ_DCE, Lemma 3.3's right side (nats per unit t)",
        "abs_residual": "|dse - scaled_dce|",
        "rel_residual": "|dse - scaled_dce| / dse",
        "scaled_dce_wrong_factor": "σ̄(t)/(e^σ̄ - 1) · ℓ_DCE, the misprinted factor (control)",
    }
}


def dse_dce_equivalence(*, dist=None, n_points: int = 60, mix_weight: float = 0.3, seed: int = 0) -> StudyResult:
    """Lemma 3.3: ℓ_DSE(x0, x, t, s_t) = σ(t)(1-λ)/λ · ℓ_DCE(x0, x, c), pointwise.

    For one x0 of a small random p0 (N = 3, L = 4), the noisy state x masking positions 0 and
    2, and two normalised denoisers (c* and the non-optimal mixture (1-w) c* + w/N), the
    corresponding score s_t = (1-λ)/λ c is put into the generic DSE sum
    (:func:`~ctmc_lab.exact.scores.dse`, paper Eq. 3) at each t of loglinear(10^-3), and compared
    with the scaled DCE (:func:`~ctmc_lab.exact.scores.dce`). The factor uses the rate σ(t); with
    σ̄(t) in its place (the misprint of a third-party summary, ``docs/theory.md`` §3.2) the
    identity fails, kept as a control.

    Parameters
    ----------
    dist : JointDistribution, optional
        Default: Dirichlet(1) over 3 symbols and length 4, drawn with ``seed``; length ≥ 3.
    n_points : int
        Times, log-spaced on [1e-4, 1].
    mix_weight : float in (0, 1]
        w of the non-optimal denoiser.
    seed : int

    Returns
    -------
    StudyResult
        Table ``dse_dce_equivalence`` (``COLUMNS``), the denoisers in blocks of ``n_points``
        rows; ``meta``: ``x0`` and ``x`` decoded.
    """
    n_points = positive_int(n_points, "n_points", minimum=2)
    if not 0.0 < float(mix_weight) <= 1.0:
        raise ValueError(f"`mix_weight` must lie in (0, 1] (got {mix_weight!r})")
    p = tiny_distribution(seed, 3, 4) if dist is None else dist
    if p.length < 3:
        raise ValueError(f"`dist` must have length ≥ 3 (positions 0 and 2 are masked; got {p.length})")
    n = p.n_tokens
    x0 = p.support[np.argmax(p.probs)]
    x = x0.copy()
    x[[0, 2]] = n
    gen = generators.absorbing(n)
    sched = Loglinear(1e-3)
    t = np.geomspace(1e-4, 1.0, n_points)
    base = OptimalDenoiser(p)
    dens = {"optimal c*": base, f"mixture, w = {mix_weight}": MixedDenoiser(base, weight=mix_weight)}
    cols = {k: [] for k in COLUMNS["dse_dce_equivalence"]}
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
    table = {k: np.concatenate(v) for k, v in cols.items()}
    summary = {
        "max_rel_residual": float(table["rel_residual"].max()),
        "max_abs_residual": float(table["abs_residual"].max()),
    }
    meta = {"x0": p.decode(x0), "x": p.decode(x)}
    return StudyResult("dse_dce_equivalence", {"dse_dce_equivalence": table}, summary, meta)
