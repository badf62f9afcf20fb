"""Draw the λ-DCE heavy tail from the table of :mod:`ctmc_lab.studies.heavy_tail`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation.registry import get_estimator
from ctmc_lab.plotting.style import estimator_color, new_figure, note, panel_label
from ctmc_lab.studies.heavy_tail import fitted_slope

__all__ = ["draw"]


def draw(table: dict):
    """Per panel: median sample variance (IQR shaded) against ln n, the λ-DCE prediction, the exact variances."""
    panels = list(dict.fromkeys(table["panel"]))
    fig, axes = new_figure(1, len(panels), width="page", height=2.9)
    n_max = int(table["n"].max())
    for ax, panel in zip(axes, panels):
        in_panel = table["panel"] == panel
        texts = []
        for name in dict.fromkeys(table["estimator"][in_panel]):
            sel = in_panel & (table["estimator"] == name)
            grid, med, q25, q75, pred = (
                table[k][sel] for k in ("n", "median_sample_variance", "q25", "q75", "predicted")
            )
            exact, slope = table["exact_variance"][sel][0], table["predicted_slope"][sel][0]
            color = estimator_color(name)
            nice = get_estimator(name).label
            ax.fill_between(grid, q25, q75, color=color, alpha=0.18, lw=0)
            ax.plot(
                grid,
                med,
                "o-",
                ms=2.5,
                lw=0.8,
                color=color,
                label=f"{nice}: median sample variance over runs (IQR shaded)",
            )
            if name == "lambda_dce" and slope > 0:
                ax.plot(grid, pred, "--", color=color, lw=0.9, label=r"E[g²; λ ≥ n$^{-1/2}$] − NLL²  (slope ½Σa$_i^2$)")
                fit = fitted_slope(grid, med)
                texts.append(f"slope in ln n: fitted {fit:.2f}, predicted ½Σa$_i^2$ = {slope:.2f}")
                texts.append("exact λ-DCE variance = ∞")
            else:
                ax.axhline(exact, color=color, lw=0.7, ls=":", label="exact variance (finite)")
                texts.append(f"exact {nice} variance = {exact:.1f}")
        ax.set_xscale("log", base=np.e)
        ticks = np.arange(3, int(np.log(n_max)) + 1, 2)
        ax.set_xticks(np.exp(ticks), [f"{int(v)}" for v in ticks])
        ax.minorticks_off()
        ax.set_xlabel("ln n   (n = number of draws)")
        ax.set_ylabel("sample variance of one draw (nats²)")
        ax.set_title(table["setting"][in_panel][0])
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.3 * (hi - lo))
        note(ax, "\n".join(texts), loc="upper left")
        panel_label(ax, panel)
    # One legend for both panels, below them: the panels' upper corners hold the numbers. Two
    # columns keep the longest entries inside the page width.
    handles, labels = axes[0].get_legend_handles_labels()
    for h, lab in zip(*axes[1].get_legend_handles_labels()):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=2)
    return fig
