"""Theorems 3.1 and 3.2 as a study: KL and I(x0; x_t), their exact rates against -mdse, and the area under mdse.

``docs/theory.md`` §2.4, §2.5. With the schedule loglinear(ε = 0) (λ(t) = t, σ̄(1) = ∞, so the
forward process ends at its stationary law at t = 1) and one x0 of a small random p0 (Dirichlet(1)
over 3 symbols and length 3, drawn with the study seed; x0 the sequence of median probability):

* KL(p_{t|0}(·|x0) ‖ p_t) decays from -log p0(x0) to 0, and I(x0; x_t) from H(p0) to 0;
* their exact t-derivatives (``information.kl_rate`` times σ(t), no finite differences)
  coincide with -mdse(x0, t) and -mdse(t) (Thm 3.1, ``docs/theory.md`` §2.4): the main table,
  one row per (process, t);
* the area under mdse(x0, t) is -log p0(x0) and under mdse(t) it is H(p0) (Thm 3.2, §2.5),
  computed by quadrature over noise levels (:func:`~ctmc_lab.exact.decompositions.mdse_integral`):
  the table ``areas``, one row per process.

Each table is one case.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.exact import decompositions, information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.sources import datasets
from ctmc_lab.studies._common import grid_cases, rows_of
from ctmc_lab.studies.engine import MAIN_TABLE, Case, Column

__all__ = [
    "NAME",
    "COLUMNS",
    "TABLES",
    "PROCESSES",
    "SETTINGS",
    "cases",
    "run_case",
    "estimate_seconds",
    "summarize",
    "tiny_distribution",
    "curves",
    "areas",
    "rate_residual",
]

NAME = "imdse-curves"
#: ``ctmc-lab figures`` draws the ``full`` grid.
FIGURE_GRID = "full"
#: The parameters of each grid: interior times on (0, 1).
SETTINGS = {"small": {"n_points": 5}, "full": {"n_points": 49}}
#: The forward processes, in row order of the tables and the figure.
PROCESSES = ("absorbing", "uniform")

#: One row per (process, t).
COLUMNS = (
    Column("process", "str", "absorbing or uniform"),
    Column("t", "float", "time on (0, 1) of loglinear(ε = 0), λ(t) = t"),
    Column("sigma_bar", "float", "σ̄(t), the integrated noise rate"),
    Column("sigma", "float", "σ(t) = dσ̄/dt"),
    Column("kl", "float", "KL(p_{t|0}(·|x0) ‖ p_t) (nats)"),
    Column("kl_rate", "float", "its exact t-derivative (nats per unit t)"),
    Column("mdse", "float", "mdse(x0, t) (nats per unit t; Thm 3.1: kl_rate = -mdse)"),
    Column("mutual_information", "float", "I(x0; x_t) = E_{x0} KL (nats)"),
    Column("mutual_information_rate", "float", "its exact t-derivative (nats per unit t)"),
    Column("mdse_marginal", "float", "mdse(t) = E_{x0} mdse(x0, t) (nats per unit t)"),
)
#: The table of Thm 3.2, one row per process.
TABLES = {
    "areas": (
        Column("process", "str", "absorbing or uniform"),
        Column("sequence", "str", "x0, decoded"),
        Column("neg_log_p0", "float", "-log p0(x0) (nats)"),
        Column("entropy", "float", "H(p0) (nats)"),
        Column("area_pointwise", "float", "∫ mdse(x0, s) ds by quadrature over noise levels (nats; Thm 3.2)"),
        Column("area_marginal", "float", "E_{x0} ∫ mdse(x0, s) ds (nats; Thm 3.2: H(p0))"),
    )
}


def tiny_distribution(seed, n_tokens: int = 3, length: int = 3):
    """Dirichlet(1) over ``n_tokens`` symbols and ``length`` positions, drawn with ``seed``."""
    return datasets.dirichlet(n_tokens, length, alpha=1.0, rng=np.random.default_rng(seed), alphabet="ABCD"[:n_tokens])


cases = grid_cases(NAME, SETTINGS, (MAIN_TABLE, *TABLES))


def estimate_seconds(case: Case) -> float:
    """About 10 ms per time point, or 0.5 s for the quadratures of the areas (measured, 1 core)."""
    return 0.5 if case.table == "areas" else 0.1 + 0.01 * case["n_points"]


def _source(seed):
    """p0 and x0, the sequence of median probability: neither the mode nor a rare one."""
    p = tiny_distribution(seed)
    return p, p.support[np.argsort(p.probs)[p.support_size // 2]]


def _index(p, x0) -> int:
    """The support index of ``x0``; a ``ValueError`` unless it is one sequence of the support."""
    x0 = np.asarray(x0)
    hit = np.flatnonzero((p.support == x0).all(axis=1)) if x0.shape == (p.length,) else []
    if not len(hit):
        raise ValueError("`x0` must be one sequence of the support (its NLL is finite)")
    return int(hit[0])


def curves(p, x0, n_points: int) -> dict:
    """The main table for the joint ``p`` and its sequence ``x0``: KL, I and their exact rates against
    -mdse at ``n_points`` interior times of loglinear(0)."""
    n_points = positive_int(n_points, "n_points", minimum=2)
    i0 = _index(p, x0)
    sched = Loglinear(0.0)
    t = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    sig_bar, sig = np.asarray(sched.sigma_bar(t)), np.asarray(sched.sigma(t))
    cols = {c.name: [] for c in COLUMNS}
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
        names = ("kl", "kl_rate", "mdse", "mutual_information", "mutual_information_rate", "mdse_marginal")
        for k, v in zip(names, zip(*vals)):
            cols[k].append(np.array(v))
        cols["process"].append(np.full(t.size, kind))
        cols["t"].append(t)
        cols["sigma_bar"].append(sig_bar)
        cols["sigma"].append(sig)
    return {k: np.concatenate(v) for k, v in cols.items()}


def areas(p, x0) -> dict:
    """The ``areas`` table for the joint ``p`` and its sequence ``x0``: the areas under mdse(x0, t) and
    mdse(t) by quadrature, per process."""
    _index(p, x0)
    rows = {c.name: [] for c in TABLES["areas"]}
    for kind in PROCESSES:
        gen = generators.noise_process(kind).generator(p.n_tokens)
        for key, value in (
            ("process", kind),
            ("sequence", p.decode(x0)),
            ("neg_log_p0", float(p.nll(x0))),
            ("entropy", float(p.entropy())),
            ("area_pointwise", float(decompositions.mdse_integral(p, gen, x0[None]).value[0])),
            ("area_marginal", float(p.probs @ decompositions.mdse_integral(p, gen, p.support).value)),
        ):
            rows[key].append(value)
    return {k: np.array(v) for k, v in rows.items()}


def run_case(case: Case, *, rng) -> list[dict]:
    """The rows of the case's table (``rng`` unused: p0 is drawn from ``case.seed``)."""
    p, x0 = _source(case.seed)
    return rows_of(areas(p, x0) if case.table == "areas" else curves(p, x0, case["n_points"]))


def rate_residual(table: dict, process: str) -> float:
    """Thm 3.1's residual on one process: max |kl_rate + mdse| and |I rate + mdse(t)| over its rows."""
    sel = table["process"] == process
    return float(
        max(
            np.max(np.abs(table["kl_rate"][sel] + table["mdse"][sel])),
            np.max(np.abs(table["mutual_information_rate"][sel] + table["mdse_marginal"][sel])),
        )
    )


def summarize(table: dict, *, areas: dict) -> str:
    """Per process: Thm 3.1's largest residual, and Thm 3.2's areas against -log p0(x0) and H(p0)."""
    parts = []
    for i, kind in enumerate(areas["process"]):
        parts.append(
            f"{kind}: max |rate + mdse| = {rate_residual(table, kind):.2g}, "
            f"area - (-log p0) = {areas['area_pointwise'][i] - areas['neg_log_p0'][i]:.2g}, "
            f"area - H = {areas['area_marginal'][i] - areas['entropy'][i]:.2g}"
        )
    return f"{NAME}: x0 = {areas['sequence'][0]}; " + "; ".join(parts)
