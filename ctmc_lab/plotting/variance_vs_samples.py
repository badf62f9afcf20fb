"""Draw the Table 1a analogue from the tables of :mod:`ctmc_lab.studies.variance_vs_samples`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation.registry import get_estimator
from ctmc_lab.plotting.style import estimator_color, log_ticks, new_figure, note, panel_label
from ctmc_lab.studies.variance_vs_samples import sampled_ratio

__all__ = ["draw"]


def draw(table: dict, *, sequences: dict):
    """One panel per setting: sampled variance (markers) and exact Var/n (lines) against n."""
    panels = list(dict.fromkeys(table["panel"]))
    fig, axes = new_figure(1, len(panels), width="page", height=2.5)
    for ax, panel in zip(np.atleast_1d(axes), panels):
        in_panel = table["panel"] == panel
        label = table["setting"][in_panel][0]
        n_list = None
        texts = []
        for name in dict.fromkeys(table["estimator"][in_panel]):
            sel = in_panel & (table["estimator"] == name)
            n_list, sampled, exact = (
                table["n_samples"][sel],
                table["sampled_variance"][sel],
                table["exact_variance"][sel],
            )
            color, nice = estimator_color(name), get_estimator(name).label
            ax.plot(
                n_list,
                sampled,
                get_estimator(name).marker,
                color=color,
                ms=4,
                mfc="none",
                mew=0.8,
                label=f"{nice}: sampled",
            )
            if np.all(np.isfinite(exact)):
                ax.plot(n_list, exact, "-", color=color, lw=0.9, label=f"{nice}: exact Var/n")
            else:
                texts.append("exact λ-DCE variance = ∞\n(some $a_i$ > 0: Var grows ∝ ln n)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        log_ticks(ax)
        ax.set_xticks(list(n_list), [str(n) for n in n_list])
        ax.minorticks_off()
        ax.set_xlabel("MC samples n")
        ax.set_ylabel("variance of the estimate (nats²)")
        ax.set_title(label)
        ax.legend(loc="lower left")
        r = sampled_ratio(table, panel)
        texts.append(f"sampled time-free / λ-DCE at n = {n_list[0]}: {r:.2f}")
        note(ax, "\n".join(texts), loc="upper right")
        panel_label(ax, panel)
    return fig
