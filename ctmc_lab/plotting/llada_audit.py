"""Draw LLaDA's evaluator audit from the tables of :mod:`ctmc_lab.studies.llada_audit`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, SERIES, estimator_color, new_figure, panel_label

__all__ = ["draw"]


def draw(table: dict, *, counts: dict, variance: dict):
    """(a) the non-uniform count law over (n, b); (b) bias at b = 16 against n; (c) D128 bias against b;
    (d) exact variance per draw on D128 against b."""
    var = variance
    n_max = int(counts["n"].max())
    pairs = {src: int(table["sequences"][table["source"] == src][0]) for src in ("mk4_pairs", "mk1_pairs")}
    b_max = int(counts["b"].max())
    fig, axes = new_figure(2, 2, width="page", height=5.0)
    ax = axes[0, 0]
    grid = counts["max_deviation"].reshape(n_max, -1)
    im = ax.imshow(
        np.where(grid > 1e-12, grid, np.nan).T,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        extent=(0.5, n_max + 0.5, 0.5, b_max + 0.5),
        vmin=0,
        vmax=max(float(grid.max()), 1e-12),
    )
    ax.axhline(16, color=COLORS["mc"], lw=0.6, ls="--")
    cb = fig.colorbar(im, ax=ax, pad=0.02)
    cb.set_label("max |n w̄(m) − 1|")
    ax.set_xlabel("answer length n")
    ax.set_ylabel("batch size b")
    nonuniform = int(np.sum(~counts["uniform"]))
    ax.set_title(f"non-uniform count law: {nonuniform} of {grid.size} (n, b); white = uniform")
    bx = axes[0, 1]
    at16 = table["b"] == 16
    styles = {
        "dna128_like": ("o", SERIES[5], "D128-like (c*, min(128, 4^n) seqs)"),
        "mk4_pairs": ("s", SERIES[0], f"MK4 pairs ({pairs['mk4_pairs']}/n)"),
        "mk1_pairs": ("^", SERIES[2], f"first-order chain pairs ({pairs['mk1_pairs']}/n)"),
    }
    for src, (mk, col, lab) in styles.items():
        sel = at16 & (table["source"] == src)
        bx.plot(table["n"][sel], table["bias_mean"][sel], mk + "-", ms=2.2, lw=0.5, mfc="none", color=col, label=lab)
        bx.fill_between(table["n"][sel], table["bias_min"][sel], table["bias_max"][sel], color=col, alpha=0.15, lw=0)
    sel = at16 & (table["source"] == "dna128")
    bx.plot(table["n"][sel], table["bias_mean"][sel], "*", ms=6, color=COLORS["true"], label="D128")
    bx.axhline(0, color=COLORS["true"], lw=0.5)
    bx.set_xlabel("answer length n")
    bx.set_ylabel("bias at b = 16 (nats)")
    bx.set_title("exact bias of get_log_likelihood at its defaults")
    bx.legend(loc="upper right", fontsize=5.6)
    cx = axes[1, 0]
    sel = table["source"] == "dna128"
    cx.fill_between(
        table["b"][sel],
        table["bias_min"][sel],
        table["bias_max"][sel],
        color=COLORS["shade"],
        alpha=0.5,
        lw=0,
        label="range over 128 sequences",
    )
    cx.plot(
        table["b"][sel], table["bias_mean"][sel], "o", ms=2.0, mfc="none", mew=0.5, color=COLORS["exact"], label="mean"
    )
    cx.axhline(0, color=COLORS["secondary"], lw=0.8, ls="--", label="fixed rule (0 at every b)")
    cx.axvline(16, color=COLORS["mc"], lw=0.5, ls=":")
    cx.set_xlabel("batch size b")
    cx.set_ylabel("bias on D128, n = 8 (nats)")
    cx.set_title("D128 (n = 8): bias against b")
    cx.legend(loc="upper right", fontsize=5.6)
    dx = axes[1, 1]
    for key, col, ls, lab in (
        ("var_k_dce", COLORS["true"], "-", "plain k-DCE (i.i.d.)"),
        ("var_k_dce_stratified", estimator_color("k_dce_stratified"), "-", "stratified k-DCE"),
        ("var_balanced", SERIES[3], ":", "balanced + random remainder"),
        ("var_fixed", COLORS["secondary"], "-", "fixed rule"),
        ("var_llada", COLORS["mc"], "--", "LLaDA rule"),
    ):
        dx.plot(var["b"], var[key], ls, lw=0.8, color=col, label=lab)
    dx.set_yscale("log")
    dx.set_xlabel("batch size b")
    dx.set_ylabel("b · Var(batch mean), D128 mean (nats²)")
    dx.set_title("exact variance per draw, D128")
    dx.legend(loc="center right", fontsize=5.6)
    for axx, lab in zip(axes.ravel(), "abcd"):
        panel_label(axx, lab)
    return fig
