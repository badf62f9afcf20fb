"""The ``sampler-atlas`` figure: where each unbiased sampler wins, as maps over the family parameters.

Drawing only: every number comes from the study table (:mod:`ctmc_lab.studies.sampler_atlas`).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, OKABE_ITO, new_figure, panel_label, style

__all__ = ["ESTIMATOR_COLORS", "draw"]

#: One colour per estimator of the study tables.
ESTIMATOR_COLORS = {
    "time_free": COLORS["time_free"],
    "k_dce": COLORS["k_dce"],
    "k_dce_stratified": OKABE_ITO["sky"],
    "rb_lambda_dce": COLORS["rb_lambda_dce"],
    "lambda_dce": COLORS["lambda_dce"],
    "q_star": COLORS["importance"],
    "pilot": OKABE_ITO["grey"],
}


def _winner_map(ax, table, sel, x_name, y_name, estimators):
    """Cells (x, y) coloured by the most frequent winner, labelled with its share."""
    from matplotlib.colors import ListedColormap

    xs = np.unique(table[x_name][sel])
    ys = np.unique(table[y_name][sel])
    img = np.full((ys.size, xs.size), np.nan)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            cell = sel & (table[x_name] == x) & (table[y_name] == y)
            if cell.any():
                winners = list(table["winner"][cell])
                best = max(estimators, key=winners.count)
                img[i, j] = estimators.index(best)
                ax.text(j, i, f"{winners.count(best) / len(winners):.0%}", ha="center", va="center", fontsize=5)
    cmap = ListedColormap([ESTIMATOR_COLORS[e] for e in estimators])
    ax.imshow(img, cmap=cmap, vmin=-0.5, vmax=len(estimators) - 0.5, origin="lower", aspect="auto")
    ax.set_xticks(range(xs.size), [f"{x:g}" for x in xs], fontsize=6)
    ax.set_yticks(range(ys.size), [f"{y:g}" for y in ys], fontsize=6)
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)


def draw(table: dict, *, estimators=("time_free", "k_dce", "k_dce_stratified", "rb_lambda_dce", "lambda_dce")):
    """(a) majority winner over (α, L) on Dirichlet joints, (b) by (order, L) on random chains,
    (c) median pilot/q* variance ratio against L per family.

    Parameters
    ----------
    table : dict
        The ``sampler-atlas`` table (:func:`ctmc_lab.studies.engine.read_table`).
    estimators : tuple of str
        Estimators in colour order (those of the table's ``winner`` column).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    with style():
        fig, axes = new_figure(1, 3, width="page", height=2.6)
        dirichlet = table["family"] == "dirichlet"
        markov = table["family"] == "markov"
        for ax, sel, x, title in (
            (axes[0], dirichlet, "alpha", "Dirichlet joints: winner by (α, L)"),
            (axes[1], markov, "order", "random chains: winner by (k, L)"),
        ):
            if sel.any():
                _winner_map(ax, table, sel, x, "L", list(estimators))
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
        ax.set_title("pilot-fitted law against q*")
        ax.legend(fontsize=6)
        for a, lab in zip(axes, "abc"):
            panel_label(a, lab)
        handles = [Patch(color=ESTIMATOR_COLORS[e], label=e) for e in estimators]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(estimators), fontsize=6)
    return fig
