"""Draw the OOD detection figure from the tables of :mod:`ctmc_lab.studies.ood_detection`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, SERIES, new_figure, panel_label
from ctmc_lab.studies.ood_detection import roc_curve

__all__ = ["draw"]


def draw(table: dict, *, auroc: dict):
    """(a) NLL histograms, exact and at one budget; (b) ROC curves; (c) AUROC against the budget."""
    au = dict(zip(auroc["n_samples"].tolist(), auroc["auroc"]))
    au_exact = au.pop(0)
    budgets = list(au)
    label, exact = table["label"], table["exact_nll"]
    n_per_group = int(np.sum(label == 0))

    def roc(column):
        return roc_curve(table[column][label == 0], table[column][label == 1])

    fig, (ax, bx, cx) = new_figure(1, 3, width="page", height=2.5)
    show = budgets[min(2, len(budgets) - 1)]
    shown = table[f"estimated_nll_n{show}"]
    bins = np.linspace(min(exact.min(), shown.min()), max(exact.max(), np.percentile(shown, 99.5)), 40)
    for grp, name in ((0, "in: MK4"), (1, "shifted: tempered MK4")):
        col = COLORS["in" if grp == 0 else "out"]
        ax.hist(exact[label == grp], bins=bins, density=True, color=col, alpha=0.35, label=f"{name}, exact")
        ax.hist(
            shown[label == grp],
            bins=bins,
            density=True,
            histtype="step",
            color=col,
            lw=0.9,
            label=f"{name}, MC n = {show}",
        )
    ax.set_xlabel("NLL under MK4 (nats)")
    ax.set_ylabel("density")
    ax.set_title(f"NLL, {n_per_group} in + {n_per_group} shifted, L = {len(table['sequence'][0])}")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)
    ax.legend(loc="upper right", fontsize=5.6)
    fpr, tpr = roc("exact_nll")
    bx.plot(fpr, tpr, color=COLORS["true"], lw=1.2, label=f"exact NLL: AUROC {au_exact:.3f}")
    for n, col in zip(budgets, SERIES):
        f, t_ = roc(f"estimated_nll_n{n}")
        bx.plot(f, t_, color=col, lw=0.8, label=f"MC n = {n}: {au[n]:.3f}")
    bx.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.5, ls="--")
    bx.set_xlabel("false positive rate")
    bx.set_ylabel("true positive rate")
    bx.set_title("ROC: flag high NLL as shifted")
    bx.set_aspect("equal")
    bx.set_xlim(0, 1)
    bx.set_ylim(0, 1)
    bx.legend(loc="lower right", fontsize=5.6)
    cx.plot(list(budgets), [au[n] for n in budgets], "o-", color=COLORS["mc"], ms=3.5, label="time-free MC")
    cx.axhline(au_exact, color=COLORS["true"], lw=0.9, label="exact NLL")
    cx.set_xscale("log", base=2)
    cx.set_xticks(list(budgets), [str(n) for n in budgets])
    cx.minorticks_off()
    cx.set_xlabel("MC draws per sequence")
    cx.set_ylabel("AUROC")
    cx.set_title("AUROC against the budget")
    cx.legend(loc="lower right")
    for axx, lab in zip((ax, bx, cx), "abc"):
        panel_label(axx, lab)
    return fig
