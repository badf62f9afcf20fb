"""The ``length-scaling`` figure: exact variance of each estimator against L, log–log, per chain.

Drawing only, from the table of :mod:`ctmc_lab.studies.length_scaling`; the fitted exponents are
the table's summary (:func:`ctmc_lab.studies.length_scaling.growth_law`).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.sampler_atlas import column_color
from ctmc_lab.plotting.style import log_ticks, new_figure, panel_label, style
from ctmc_lab.studies.length_scaling import growth_law

__all__ = ["draw"]

_FINITE = ("time_free", "k_dce", "k_dce_stratified", "rb_lambda_dce", "q_star")


def draw(table: dict, *, chains=None):
    """Median exact variance over windows against L (log–log) with the fitted c·L^β, one panel per chain.

    Returns
    -------
    matplotlib.figure.Figure
    """
    chains = sorted(set(table["chain"])) if chains is None else list(chains)
    ncols = min(len(chains), 4)
    nrows = -(-len(chains) // ncols)
    with style():
        fig, axes = new_figure(nrows, ncols, width="page", height=2.2 * nrows)
        axes = np.atleast_1d(axes)
        for ax in axes.ravel()[len(chains) :]:
            ax.set_visible(False)
        for ax, chain, lab in zip(axes.ravel(), chains, "abcdefghijkl"):
            sel = table["chain"] == chain
            Ls = np.unique(table["L"][sel])
            for e in _FINITE:
                med = np.array([np.median(table[f"var_{e}"][sel & (table["L"] == L)]) for L in Ls])
                c, beta = growth_law(Ls, med)
                ax.plot(Ls, med, "o", ms=2.5, color=column_color(e))
                if np.isfinite(beta):
                    ax.plot(
                        Ls,
                        c * Ls.astype(float) ** beta,
                        "-",
                        lw=0.8,
                        color=column_color(e),
                        label=f"{e}: β={beta:.2f}",
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            log_ticks(ax, "x")  # L spans one decade: plain 2, 5, 10, 20
            ax.set_xlabel("L")
            ax.set_ylabel("median exact variance")
            ax.set_title(chain)
            ax.legend(
                fontsize=4.5, loc="lower right", handlelength=1.2, borderaxespad=0.2
            )  # the data rise to the upper right
            panel_label(ax, lab)
    return fig
