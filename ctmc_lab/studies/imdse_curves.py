"""Theorems 3.1 and 3.2 as curves: KL and I(x0; x_t), their exact rates against -mdse, and the area under mdse.

``docs/theory.md`` §2.4, §2.5.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.exact import decompositions, information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sources import datasets
from ctmc_lab.studies._common import StudyResult

__all__ = ["COLUMNS", "PROCESSES", "imdse_curves", "tiny_distribution"]

#: The forward processes, in row order of the table and the figure.
PROCESSES = ("absorbing", "uniform")

#: CSV schema: ``{file stem: {column: meaning (unit)}}``; one row per (process, t).
COLUMNS = {
    "imdse_curves": {
        "process": "absorbing or uniform",
        "t": "time on (0, 1) of loglinear(ε = 0), λ(t) = t",
        "sigma_bar": "σ̄(t), the integrated noise rate",
        "sigma": "σ(t) = dσ̄/dt",
        "kl": "KL(p_{t|0}(·|x0) ‖ p_t) (nats)",
        "kl_rate": "its exact t-derivative (nats per unit t)",
        "mdse": "mdse(x0, t) (nats per unit t; Thm 3.1: kl_rate = -mdse)",
        "mutual_information": "I(x0; x_t) = E_{x0} KL (nats)",
        "mutual_information_rate": "its exact t-derivative (nats per unit t)",
        "mdse_marginal": "mdse(t) = E_{x0} mdse(x0, t) (nats per unit t)",
    }
}


def tiny_distribution(seed, n_tokens: int = 3, length: int = 3):
    """Dirichlet(1) over ``n_tokens`` symbols and ``length`` positions, drawn with ``seed``."""
    return datasets.dirichlet(n_tokens, length, alpha=1.0, rng=np.random.default_rng(seed), alphabet="ABCD"[:n_tokens])


def imdse_curves(*, dist=None, x0=None, n_points: int = 49, seed: int = 0) -> StudyResult:
    """Theorem 3.1 and 3.2 as curves, for absorbing and uniform noise.

    With the schedule loglinear(ε = 0) (λ(t) = t, σ̄(1) = ∞, so the forward process ends
    at its stationary law at t = 1) and one x0 of a small random p0 (``x0``; default: the
    sequence of median probability):

    * KL(p_{t|0}(·|x0) ‖ p_t) decays from -log p0(x0) to 0, and I(x0; x_t) from H(p0) to 0;
    * their exact t-derivatives (``information.kl_rate`` times σ(t), no finite differences)
      coincide with -mdse(x0, t) and -mdse(t) (Thm 3.1, ``docs/theory.md`` §2.4);
    * the area under mdse(x0, t) is -log p0(x0) and under mdse(t) it is H(p0) (Thm 3.2, §2.5),
      computed by quadrature over noise levels (:func:`~ctmc_lab.exact.decompositions.mdse_integral`).

    Parameters
    ----------
    dist : JointDistribution, optional
        Default: Dirichlet(1) over 3 symbols and length 3, drawn with ``seed``.
    x0 : str or (L,) int array, optional
    n_points : int
        Interior times on (0, 1).
    seed : int

    Returns
    -------
    StudyResult
        Table ``imdse_curves`` (``COLUMNS``). ``summary``: ``sequence``, ``neg_log_p0``,
        ``entropy`` and per process ``{kind}_area_pointwise``, ``{kind}_area_marginal``,
        ``{kind}_max_abs_rate_plus_mdse``.
    """
    n_points = positive_int(n_points, "n_points", minimum=2)
    p = tiny_distribution(seed) if dist is None else dist
    if x0 is None:
        # A sequence of median probability: neither the mode nor a rare one.
        x0 = p.support[np.argsort(p.probs)[p.support_size // 2]]
    x0 = np.asarray(p.encode(x0))
    if x0.ndim != 1 or not p.prob(x0) > 0:
        raise ValueError("`x0` must be one sequence of the support (its NLL is finite)")
    sched = Loglinear(0.0)
    t = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    sig_bar, sig = np.asarray(sched.sigma_bar(t)), np.asarray(sched.sigma(t))
    cols = {k: [] for k in COLUMNS["imdse_curves"]}
    summary = {"sequence": p.decode(x0), "neg_log_p0": float(p.nll(x0)), "entropy": float(p.entropy())}
    i0 = int(np.flatnonzero((p.support == x0).all(axis=1))[0])
    for kind in PROCESSES:
        gen = generators.noise_process(kind).generator(p.n_tokens)
        vals = []
        for s, r in zip(sig_bar, sig):
            nd = NoisedDistribution.at_noise_level(p, gen, float(s))
            kl_all = information.kl(nd, p.support)
            rate_all = information.kl_rate(nd, p.support) * r
            mdse_all = scores.mdse(nd, p.support) * r
            vals.append(
                (kl_all[i0], rate_all[i0], mdse_all[i0], p.probs @ kl_all, p.probs @ rate_all, p.probs @ mdse_all)
            )
        curves = dict(
            zip(
                ("kl", "kl_rate", "mdse", "mutual_information", "mutual_information_rate", "mdse_marginal"),
                (np.array(v) for v in zip(*vals)),
            )
        )
        for k, v in curves.items():
            cols[k].append(v)
        cols["process"].append(np.full(t.size, kind))
        cols["t"].append(t)
        cols["sigma_bar"].append(sig_bar)
        cols["sigma"].append(sig)
        rate_resid = np.abs(curves["kl_rate"] + curves["mdse"])
        mi_resid = np.abs(curves["mutual_information_rate"] + curves["mdse_marginal"])
        summary[f"{kind}_area_pointwise"] = float(decompositions.mdse_integral(p, gen, x0[None]).value[0])
        summary[f"{kind}_area_marginal"] = float(p.probs @ decompositions.mdse_integral(p, gen, p.support).value)
        summary[f"{kind}_max_abs_rate_plus_mdse"] = float(max(np.max(rate_resid), np.max(mi_resid)))
    table = {k: np.concatenate(v) for k, v in cols.items()}
    return StudyResult("imdse_curves", {"imdse_curves": table}, summary)
