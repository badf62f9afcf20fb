"""Draw the sampler comparison from :func:`ctmc_lab.studies.sampler_comparison.sampler_comparison`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, new_figure, note, panel_label

__all__ = ["draw"]

_NICE = {
    "time_free": "time-free (paper)",
    "k_dce": "k-DCE",
    "rb_lambda_dce": "RB λ-DCE",
    "lambda_dce": "λ-DCE",
    "importance": "oracle q*(m) (not a sampler)",
    "omit_full_mask": "no full mask (eval_llada)",
    "omit_full_mask_token_mean": "no full mask, token mean (eval_text8)",
    "t_dce": "code t-DCE (ε_s = 1e-3)",
}
# Marker and fill per unbiased sampler: the two λ-DCE variants differ in shape and fill, not
# only in orientation.
_UNBIASED_MARKS = {
    "time_free": ("o", "none"),
    "k_dce": ("s", "none"),
    "rb_lambda_dce": ("D", None),
    "lambda_dce": ("v", "none"),
}
_AUDITED_MARKS = {
    "omit_full_mask": ("o", COLORS["lambda_dce"]),
    "omit_full_mask_token_mean": ("s", COLORS["rb_lambda_dce"]),
    "t_dce": ("^", COLORS["k_dce"]),
}


def draw(study):
    """Per source: the exact variances by sequence (left) and the audited variants' bias (right)."""
    table, summary = study.table, study.summary
    sources = list(dict.fromkeys(table["source"]))
    fig, axes = new_figure(len(sources), 2, width="page", height=4.6)
    for row, src in enumerate(sources):
        sel = table["source"] == src
        label = study.meta["labels"][src]
        rank = np.arange(1, sel.sum() + 1)
        ax, bx = axes[row]
        finite_all = []
        for u, (mk, fill) in _UNBIASED_MARKS.items():
            v = table[f"var_{u}"][sel]
            fin = np.isfinite(v)
            finite_all.append(v[fin])
            ms = 1.6 if fill is None else 2.0
            ax.plot(rank[fin], v[fin], mk, ms=ms, mew=0.4, mfc=fill, color=COLORS[u], label=_NICE[u])
        ax.plot(rank, table["var_importance"][sel], "-", lw=0.7, color=COLORS["importance"], label=_NICE["importance"])
        finite_all = np.concatenate(finite_all)
        top, low = float(finite_all.max()), float(min(finite_all.min(), table["var_importance"][sel].min()))
        inf = ~np.isfinite(table["var_lambda_dce"][sel])
        if inf.any():
            # A rug of ticks above the data, apart from the legend at the bottom.
            ax.plot(
                rank[inf],
                np.full(inf.sum(), top * 3),
                "|",
                ms=4,
                mew=0.6,
                color=COLORS["lambda_dce"],
                label="λ-DCE: Var = ∞",
            )
        ax.set_yscale("log")
        # Head room for the ∞ rug, foot room for the legend: the data stay in the middle band.
        span = np.log10(top * 8 / low)
        ax.set_ylim(low / 10 ** (0.55 * span), top * 8)
        ax.set_ylabel("exact Var of one draw (nats²)")
        ax.set_title(label)
        counts = {u: c for u, c in summary[f"{src}_winners"].items() if c}
        ax.legend(
            loc="lower left",
            ncol=3,
            fontsize=5.5,
            title="lowest variance among the runnable samplers: "
            + ", ".join(f"{_NICE[u]} on {c} of {int(sel.sum())}" for u, c in counts.items()),
            title_fontsize=5.5,
            alignment="left",
        )
        for a, (mk, col) in _AUDITED_MARKS.items():
            bx.plot(rank, table[f"bias_{a}"][sel], mk, ms=2.0, mew=0.4, mfc="none", color=col, label=_NICE[a])
        bx.axhline(0, color=COLORS["true"], lw=0.6)
        mean_bias = summary[f"{src}_mean_bias"]
        note(
            bx,
            f"mean bias: t-DCE {mean_bias['t_dce']:+.4f}, eval_llada {mean_bias['omit_full_mask']:+.2f}",
            loc="center right",
            fontsize=5.6,
        )
        bx.set_ylabel("bias E[g] − NLL (nats)")
        bx.set_title(f"audited variants, {label.split(' (')[0].split(',')[0]}")
        bx.legend(loc="lower left", fontsize=5.6)
        for axx in (ax, bx):
            axx.set_xlim(0, sel.sum() + 1)
            if row == len(sources) - 1:
                axx.set_xlabel("sequence, sorted by true NLL")
    for ax, lab in zip(axes.ravel(), "abcd"):
        panel_label(ax, lab)
    return fig
