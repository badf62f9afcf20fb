"""Draw the sampler comparison from the table of :mod:`ctmc_lab.studies.sampler_comparison`.

Which estimators are drawn is the table's (its ``var_*`` and ``bias_*`` columns, the registry's
when the study ran); each one's label, marker and colour come from its registry spec
(:func:`ctmc_lab.plotting.estimator_style`).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.estimation.registry import get_estimator
from ctmc_lab.plotting.style import COLORS, estimator_color, estimator_style, new_figure, note, panel_label
from ctmc_lab.studies.sampler_comparison import table_estimators

__all__ = ["draw"]

#: The oracle importance law's line: not a registered estimator (it needs the exact second moments).
_ORACLE = "oracle q*(m) (not a sampler)"


def _short(name: str) -> str:
    """A spec's label without its parenthesised remark, for the one-line notes."""
    return get_estimator(name).label.split(" (")[0]


#: How each source of the table is titled.
_SOURCES = {"d128": "D128 (c*)", "mk4": "MK4 windows, L = 8"}


def draw(table: dict):
    """Per source: the exact variances by sequence (left) and the audited variants' bias (right)."""
    unbiased, audited = table_estimators(table)
    sources = list(dict.fromkeys(table["source"]))
    fig, axes = new_figure(len(sources), 2, width="page", height=4.6)
    for row, src in enumerate(sources):
        sel = table["source"] == src
        label = _SOURCES.get(src, src) + (f" ({int(sel.sum())} distinct)" if src == "mk4" else "")
        rank = np.arange(1, sel.sum() + 1)
        ax, bx = axes[row]
        finite_all = []
        for u in unbiased:
            v = table[f"var_{u}"][sel]
            fin = np.isfinite(v)
            finite_all.append(v[fin])
            ax.plot(rank[fin], v[fin], **estimator_style(u))
        ax.plot(rank, table["var_importance"][sel], "-", lw=0.7, color=COLORS["importance"], label=_ORACLE)
        finite_all = np.concatenate(finite_all)
        top = float(finite_all.max()) if finite_all.size else 1.0
        low = float(min(finite_all.min(), table["var_importance"][sel].min())) if finite_all.size else 1e-3
        low = low if low > 0 else top * 1e-6
        for u in unbiased:
            inf = ~np.isfinite(table[f"var_{u}"][sel])
            if inf.any():
                # A rug of ticks above the data, apart from the legend at the bottom.
                ax.plot(
                    rank[inf],
                    np.full(inf.sum(), top * 3),
                    "|",
                    ms=4,
                    mew=0.6,
                    color=estimator_color(u),
                    label=f"{_short(u)}: Var = ∞",
                )
        ax.set_yscale("log")
        # Head room for the ∞ rug, foot room for the legend: the data stay in the middle band.
        span = np.log10(top * 8 / low)
        ax.set_ylim(low / 10 ** (0.55 * span), top * 8)
        ax.set_ylabel("exact Var of one draw (nats²)")
        ax.set_title(label)
        counts = {u: c for u in unbiased if (c := int(np.sum(table["winner"][sel] == u)))}
        ax.legend(
            loc="lower left",
            ncol=3,
            fontsize=5.5,
            title="lowest variance among the runnable samplers: "
            + ", ".join(f"{get_estimator(u).label} on {c} of {int(sel.sum())}" for u, c in counts.items()),
            title_fontsize=5.5,
            alignment="left",
        )
        for a in audited:
            bx.plot(rank, table[f"bias_{a}"][sel], **estimator_style(a))
        bx.axhline(0, color=COLORS["true"], lw=0.6)
        mean_bias = {a: float(np.mean(table[f"bias_{a}"][sel])) for a in audited}
        if mean_bias:
            note(
                bx,
                "mean bias: " + ", ".join(f"{_short(a)} {b:+.3g}" for a, b in mean_bias.items()),
                loc="center right",
                fontsize=5.6,
            )
        bx.set_ylabel("bias E[g] − NLL (nats)")
        bx.set_title(f"audited variants, {label.split(' (')[0].split(',')[0]}")
        if audited:
            bx.legend(loc="lower left", fontsize=5.6)
        for axx in (ax, bx):
            axx.set_xlim(0, sel.sum() + 1)
            if row == len(sources) - 1:
                axx.set_xlabel("sequence, sorted by true NLL")
    for ax, lab in zip(axes.ravel(), "abcd"):
        panel_label(ax, lab)
    return fig
