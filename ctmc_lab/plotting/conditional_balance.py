"""The ``conditional-balance`` figure: the conditional estimators' variance over (context, target) lengths.

Drawing only, from the table of :mod:`ctmc_lab.studies.conditional_balance`.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import new_figure, panel_label, style

__all__ = ["draw"]


def draw(table: dict):
    """Per chain: median time-free CV² = var/NLL² against the target length n, one line per context length c.

    Returns
    -------
    matplotlib.figure.Figure
    """
    chains = sorted(set(table["chain"]))
    with style():
        fig, axes = new_figure(1, len(chains), width="page", height=2.4)
        for ax, chain, lab in zip(np.atleast_1d(axes), chains, "abcdefgh"):
            sel = table["chain"] == chain
            for c in np.unique(table["context_length"][sel]):
                sc = sel & (table["context_length"] == c)
                ns = np.unique(table["target_length"][sc])
                med = [np.median(table["var_per_nll2"][sc & (table["target_length"] == n)]) for n in ns]
                ax.plot(ns, med, marker="o", ms=3, label=f"c = {c}")
            ax.set_yscale("log")
            ax.set_xlabel("target length n")
            ax.set_ylabel("median Var(time-free) / NLL²")
            ax.set_title(chain)
            ax.legend(fontsize=6)
            panel_label(ax, lab)
    return fig
