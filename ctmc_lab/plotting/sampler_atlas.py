"""The ``sampler-atlas`` figure: where each unbiased sampler wins, as maps over the family parameters.

Drawing only: every number comes from the study table (:mod:`ctmc_lab.studies.sampler_atlas`).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation.registry import get_estimator
from ctmc_lab.plotting.style import COLORS, OKABE_ITO, estimator_color, new_figure, panel_label, style

__all__ = ["column_color", "draw"]

#: The colours of the study columns that are not registered estimators.
_LAW_COLORS = {"q_star": COLORS["importance"], "pilot": OKABE_ITO["grey"]}


def column_color(name: str) -> str:
    """The colour of a variance column: an estimator's registry colour, the oracle q* in the
    importance colour, the pilot-fitted law in grey."""
    return _LAW_COLORS[name] if name in _LAW_COLORS else estimator_color(name)


def _share_map(ax, table, sel, x_name, y_name):
    """Cells (x, y) shaded by the share of sequences where i.i.d. time-free has a lower
    variance than i.i.d. k-DCE, labelled with that share (the paper's comparison, §6.5)."""
    from matplotlib.colors import LinearSegmentedColormap

    xs = np.unique(table[x_name][sel])
    ys = np.unique(table[y_name][sel])
    img = np.full((ys.size, xs.size), np.nan)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            cell = sel & (table[x_name] == x) & (table[y_name] == y)
            if cell.any():
                img[i, j] = np.mean(table["var_time_free"][cell] < table["var_k_dce"][cell])
                ax.text(j, i, f"{img[i, j]:.0%}", ha="center", va="center", fontsize=5)
    cmap = LinearSegmentedColormap.from_list("tf", ["#FFFFFF", column_color("time_free")])
    ax.imshow(img, cmap=cmap, vmin=0, vmax=1, origin="lower", aspect="auto")
    ax.grid(False)
    ax.set_xticks(range(xs.size), [f"{x:g}" for x in xs], fontsize=6)
    ax.set_yticks(range(ys.size), [f"{y:g}" for y in ys], fontsize=6)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)


def draw(table: dict):
    """(a) where time-free beats k-DCE over (α, L) on Dirichlet joints, (b) over (order, L) on
    random chains, (c) median pilot/q* variance ratio against L per family.

    Parameters
    ----------
    table : dict
        The ``sampler-atlas`` table (:func:`ctmc_lab.studies.engine.read_table`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    with style():
        fig, axes = new_figure(1, 3, width="page", height=2.6)
        dirichlet = table["family"] == "dirichlet"
        markov = table["family"] == "markov"
        for ax, sel, x, title in (
            (axes[0], dirichlet, "alpha", "Dirichlet joints: time-free < k-DCE"),
            (axes[1], markov, "order", "random chains: time-free < k-DCE"),
        ):
            if sel.any():
                _share_map(ax, table, sel, x, "L")
            ax.set_title(title)
        ax = axes[2]
        for fam in sorted(set(table["family"])):
            sel = (table["family"] == fam) & np.isfinite(table["pilot_over_q_star"])
            Ls = np.unique(table["L"][sel])
            med = [np.median(table["pilot_over_q_star"][sel & (table["L"] == L)]) for L in Ls]
            ax.plot(Ls, med, marker="o", ms=3, label=fam)
        ax.axhline(1.0, color=OKABE_ITO["grey"], lw=0.8, ls=":")
        ax.set_xlabel("L")
        ax.set_ylabel("median var(pilot) / var(q*)")
        ax.set_title("pilot-fitted law against oracle q*")
        ax.legend(fontsize=6)
        for a, lab in zip(axes, "abc"):
            panel_label(a, lab)
        winners = [w for w in dict.fromkeys(table["winner"]) if get_estimator(w).stratified]
        shares = ", ".join(f"{get_estimator(w).label} (B = 16) on {np.mean(table['winner'] == w):.1%}" for w in winners)
        # A suptitle, not free text: the layout engine makes room for it.
        fig.suptitle(
            "(a, b): share of sequences where i.i.d. time-free has a lower single-draw variance than i.i.d. "
            "k-DCE." + (f"  Over every sequence, lowest: {shares}." if shares else ""),
            fontsize=6,
        )
    return fig
