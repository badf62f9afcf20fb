"""Draw Lemma 3.3 from the table of :mod:`ctmc_lab.studies.dse_dce_equivalence`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, new_figure, note

__all__ = ["draw"]

#: Exact zeros of the relative residual are drawn at this floor of the log axis.
FLOOR = 1e-17


def draw(table: dict):
    """Top: ℓ_DSE against the scaled ℓ_DCE per denoiser, and the wrong-factor control; bottom: residuals."""
    fig, (ax, ax2) = new_figure(2, 1, width="column", height=3.3, sharex=True, gridspec_kw={"height_ratios": [2.4, 1]})
    colors = [COLORS["exact"], COLORS["secondary"]]
    labels = list(dict.fromkeys(table["denoiser"]))
    for j, label in enumerate(labels):
        sel = table["denoiser"] == label
        t = table["t"][sel]
        ax.plot(t, table["dse"][sel], color=colors[j], label=r"$\ell_{\rm DSE}$, " + label)
        ax.plot(
            t[j::4],
            table["scaled_dce"][sel][j::4],
            "o",
            ms=3,
            mfc="none",
            mew=0.6,
            color=colors[j],
            label=r"$\sigma\,\frac{1-\lambda}{\lambda}\,\ell_{\rm DCE}$, " + label,
        )
        ax2.plot(
            t,
            np.maximum(table["rel_residual"][sel], FLOOR),
            "o" if j == 0 else "^",
            ms=2.2,
            mfc="none",
            mew=0.5,
            color=colors[j],
            label=label,
        )
    first = table["denoiser"] == labels[0]
    ax.plot(
        table["t"][first],
        table["scaled_dce_wrong_factor"][first],
        color=COLORS["residual"],
        ls="--",
        lw=0.8,
        label=r"$\bar\sigma\,\frac{1-\lambda}{\lambda}\,\ell_{\rm DCE}$, c* (wrong factor)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("loss (nats per unit t)")
    ax.set_title("Lemma 3.3: x0 the mode of p0, x masks its positions 1 and 3")
    ax.legend(loc="upper right", fontsize=5.6)
    ax2.set_yscale("log")
    ax2.set_ylim(FLOOR / 3, 1e-12)
    ax2.set_ylabel("|DSE − scaled DCE|\n/ DSE")
    ax2.set_xlabel("t   (loglinear, ε = 1e-3)")
    note(ax2, f"max {float(table['rel_residual'].max()):.1e}; exact 0 drawn at {FLOOR:.0e}", loc="upper right")
    return fig
