"""The ``coupling`` figure: coupled against decoupled log-ratio variance, by loss correlation and distance.

Drawing only, from the table of :mod:`ctmc_lab.studies.coupling`.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import OKABE_ITO, new_figure, panel_label, style

__all__ = ["draw"]


def draw(table: dict, *, scheme: str = "time_free"):
    """(a) Var_d/Var_c against ρ, coloured by Hamming distance; (b) median gain against d per source.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sel = table["scheme"] == scheme
    with style():
        fig, axes = new_figure(1, 2, width="page", height=2.6)
        ax = axes[0]
        ok = sel & np.isfinite(table["correlation"]) & np.isfinite(table["gain"])
        pts = ax.scatter(table["correlation"][ok], table["gain"][ok], c=table["hamming"][ok], s=4, cmap="viridis")
        ax.axhline(1.0, color=OKABE_ITO["grey"], lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("ρ of the mask-wise losses f A_x, f A_y")
        ax.set_ylabel("Var decoupled / Var coupled")
        ax.set_title(f"{scheme}: gain against correlation")
        fig.colorbar(pts, ax=ax, label="Hamming distance d")
        ax = axes[1]
        # Colour says the source, line style the length: a legend of nine lines stays readable.
        sources = sorted(set(table["source"][sel]))
        colors = dict(
            zip(sources, (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"]))
        )
        for src in sources:
            for L, ls in zip(np.unique(table["L"][sel & (table["source"] == src)]), ("-", "--", ":", "-.")):
                s = sel & (table["source"] == src) & (table["L"] == L)
                ds = np.unique(table["hamming"][s])
                ax.plot(
                    ds,
                    [np.median(table["gain"][s & (table["hamming"] == d)]) for d in ds],
                    marker="o",
                    ms=3,
                    ls=ls,
                    color=colors[src],
                    label=f"{src}, L={L}",
                )
        ax.axhline(1.0, color=OKABE_ITO["grey"], lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("Hamming distance d")
        ax.set_ylabel("median Var_d / Var_c")
        ax.set_title("gain against distance")
        ax.legend(fontsize=5, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
        for a, lab in zip(axes, "ab"):
            panel_label(a, lab)
    return fig
