"""Draw the published table (:mod:`ctmc_lab.studies.published`): exact bias against answer length."""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation.replica_registry import get_replica
from ctmc_lab.plotting.style import COLORS, SERIES, new_figure, panel_label

__all__ = ["PANELS", "draw"]

#: Panel -> (title, case set, replicas drawn, y scale): what each panel compares.
PANELS = (
    (
        "LLaDA's count rule on MK4 pairs",
        "mk4",
        ("llada_harness_b1", "llada_harness_b8", "llada_harness_b16", "llada_harness_b32"),
        "linear",
    ),
    (
        "time truncations and BD3LM's comb law on MK4 pairs",
        "mk4",
        ("mdlm", "mdlm_t1000", "radd_t_dce", "md4", "dream", "bd3lm_block4_uniform", "bd3lm_block4"),
        "symlog",
    ),
    ("RL likelihood proxies on MK4 pairs", "mk4", ("d1_prompt_visible", "diffucoder"), "linear"),
    (
        "the EOS-bearing chain",
        "eos",
        ("dream", "llada_harness_b8", "mdlm", "d1", "d1_prompt_visible"),
        "symlog",
    ),
)


def draw(table: dict):
    """Four panels of mean exact bias (over the pairs of each answer length) against answer length,
    a shaded min–max band for the first replica of a panel; a replica absent from ``table`` is not drawn."""
    fig, axes = new_figure(2, 2, width="page", height=5.2)
    markers = ("o", "s", "D", "v", "^", "<", ">", "p")
    for ax, (title, kind, names, scale), label in zip(axes.ravel(), PANELS, "abcd"):
        drawn = 0
        for k, name in enumerate(names):
            sel = (table["replica"] == name) & (table["case_set"] == kind) & (table["cases"] > 0)
            if not sel.any():
                continue
            n, mean = table["n"][sel], table["bias_mean"][sel]
            color = SERIES[k % len(SERIES)]
            ls = "--" if name.endswith("_uniform") or name.endswith("_prompt_visible") else "-"
            ax.plot(
                n,
                mean,
                markers[k % len(markers)] + ls,
                ms=2.4,
                lw=0.7,
                mfc="none",
                color=color,
                label=get_replica(name).label,
            )
            if drawn == 0:
                ax.fill_between(n, table["bias_min"][sel], table["bias_max"][sel], color=color, alpha=0.15, lw=0)
            drawn += 1
        ax.axhline(0, color=COLORS["true"], lw=0.5)
        if scale == "symlog":
            ax.set_yscale("symlog", linthresh=1e-3, linscale=0.6)
        ax.set_xlabel("answer length n")
        ax.set_ylabel("exact bias (nats)")
        ax.set_title(title)
        ax.set_xticks(np.unique(table["n"][table["case_set"] == kind]))
        ax.legend(loc="best", fontsize=5.2)
        panel_label(ax, label)
    return fig
