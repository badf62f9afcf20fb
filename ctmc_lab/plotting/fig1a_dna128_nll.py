"""Draw paper Fig. 1a from the table of :mod:`ctmc_lab.studies.fig1a_dna128_nll`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, new_figure, note
from ctmc_lab.studies.fig1a_dna128_nll import nll_summary

__all__ = ["draw", "nll_figure", "nll_panels"]


def nll_panels(ax, az, table: dict, *, what: str) -> None:
    """Top: true NLL line, exact enumeration, MC ± 1.96 se; bottom: the table's z-scores."""
    _, summary = nll_summary(table["true_nll"], table["exact_time_free"], table["mc_mean"], table["mc_stderr"])
    n_samples = int(table["mc_samples"][0])
    true, exact, mc_mean, mc_se, z = (
        table[k] for k in ("true_nll", "exact_time_free", "mc_mean", "mc_stderr", "z_score")
    )
    rank = table["rank"]
    ax.errorbar(
        rank,
        mc_mean,
        yerr=1.96 * mc_se,
        fmt="o",
        ms=1.8,
        lw=0.5,
        color=COLORS["mc"],
        label=f"time-free MC, {n_samples:,} draws (±1.96 se)",
        zorder=2,
    )
    ax.plot(
        rank,
        exact,
        "s",
        ms=2.6,
        mfc="none",
        mew=0.5,
        color=COLORS["exact"],
        label="exact: all $2^n-1$ masks (Thm 4.1 / Cor 4.3)",
        zorder=3,
    )
    ax.plot(rank, true, "-", color=COLORS["true"], lw=0.9, label=f"true {what}", zorder=4)
    ax.set_ylabel(f"{what} (nats)")
    ax.legend(loc="upper left")
    az.axhspan(-1.96, 1.96, color="#eeeeee", lw=0)
    az.plot(rank, z, "o", ms=1.6, color=COLORS["mc"])
    az.axhline(0, color=COLORS["true"], lw=0.6)
    az.set_ylabel("(MC − true)/se")
    az.set_xlabel("sequence, sorted by true NLL" if "cond" not in what else "pair, sorted by true NLL")
    lim = max(3.5, float(np.ceil(np.abs(z).max() + 0.5)))
    az.set_ylim(-lim, lim)
    ax.set_xlim(0, true.size + 1)
    note(
        ax,
        f"max |exact − true| = {summary['max_abs_exact_minus_true']:.1e} nats\n"
        f"{summary['fraction_within_1.96se']:.0%} of MC within ±1.96 se",
        loc="lower right",
    )


def nll_figure(table: dict, *, what: str, title: str):
    """The two-panel NLL figure of a table of Fig. 1a or 1b (``nll_panels``), titled."""
    fig, (ax, az) = new_figure(2, 1, width="column", height=3.3, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    nll_panels(ax, az, table, what=what)
    ax.set_title(title)
    return fig


def draw(table: dict):
    """Fig. 1a: every D128 sequence's true NLL, exact enumeration and Monte Carlo estimate."""
    length = len(table["sequence"][0])
    return nll_figure(
        table, what="NLL", title=f"dna128: L = {length}, {len(table['rank'])} sequences, optimal denoiser"
    )
