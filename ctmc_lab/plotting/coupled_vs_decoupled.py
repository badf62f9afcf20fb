"""Draw the Table 1b analogue from the tables of :mod:`ctmc_lab.studies.coupled_vs_decoupled`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.plotting.style import COLORS, estimator_color, log_ticks, new_figure, note, panel_label

__all__ = ["draw"]


def draw(table: dict, *, by_n: dict, d128_pairs: dict):
    """(a) sampled and exact Var/n against n per mode; (b) exact single-draw variance ratios per pair."""
    main, d128 = table, d128_pairs
    repeats, n_triplets = int(by_n["repeats"][0]), int(by_n["n_triplets"][0])
    fig, (ax, bx) = new_figure(1, 2, width="page", height=2.6)
    for mode, marker in (("coupled", "o"), ("decoupled", "s")):
        sel = by_n["mode"] == mode
        n_list = by_n["n_samples"][sel]
        ax.plot(
            n_list,
            by_n["sampled_variance"][sel],
            marker,
            ms=4,
            mfc="none",
            mew=0.8,
            color=COLORS[mode],
            label=f"{mode}: sampled ({repeats} repeats)",
        )
        ax.plot(n_list, by_n["exact_variance"][sel], "-", color=COLORS[mode], lw=0.9, label=f"{mode}: exact Var/n")
    ax.set_xticks(list(n_list))
    ax.set_xlabel("MC samples n")
    ax.set_ylabel("variance of the log-ratio estimate (nats²)")
    ax.set_yscale("log")
    log_ticks(ax)
    ax.set_title(f"MK4: {n_triplets} (prompt, y⁺, y⁻), responses of {len(main['response_plus'][0])}")
    ax.legend(loc="upper right")
    ratio = main["variance_decoupled"].mean() / main["variance_coupled"].mean()
    note(ax, f"mean Var_d / mean Var_c = {ratio:.1f}", loc="lower left")
    panel_label(ax, "a")
    var_c, var_d = main["variance_coupled"], main["variance_decoupled"]
    kvar_c, kvar_d = main["k_dce_variance_coupled"], main["k_dce_variance_decoupled"]
    d_c, d_d = d128["variance_coupled"], d128["variance_decoupled"]
    hurt, k_hurt, d_hurt = ~main["coupling_helps"], ~main["k_dce_coupling_helps"], d_c > d_d
    bx.semilogx(
        d_c, d_d / d_c, ".", ms=1.0, color="#b0b0b0", label=f"D128 pairs, time-free ({len(d_c):,})", rasterized=True
    )
    bx.semilogx(
        var_c,
        var_d / var_c,
        "o",
        ms=2.2,
        mfc="none",
        mew=0.5,
        color=COLORS["coupled"],
        label="MK4 triplets, time-free (paper)",
    )
    bx.semilogx(
        kvar_c,
        kvar_d / kvar_c,
        "^",
        ms=2.2,
        mfc="none",
        mew=0.5,
        color=estimator_color("k_dce"),
        label="MK4 triplets, k-DCE weights",
    )
    bad_c = np.concatenate([var_c[hurt], kvar_c[k_hurt]])
    bad_r = np.concatenate([(var_d / var_c)[hurt], (kvar_d / kvar_c)[k_hurt]])
    bx.semilogx(bad_c, bad_r, "x", ms=3.5, mew=0.8, color=COLORS["decoupled"], label="coupling hurts (Cov < 0)")
    bx.axhline(1.0, color=COLORS["true"], lw=0.6)
    bx.set_yscale("log")
    log_ticks(bx)
    bx.set_xlabel("exact Var of one coupled draw (nats²)")
    bx.set_ylabel("Var decoupled / Var coupled")
    bx.set_title("exact single-draw variances per pair")
    ratios = np.concatenate([d_d / d_c, var_d / var_c, kvar_d / kvar_c])
    bx.set_ylim(min(ratios.min(), 1.0) * 0.6, ratios.max() * 4)
    bx.legend(loc="upper right", fontsize=5.6)
    note(
        bx,
        "coupling hurts (ratio < 1):\n"
        f"time-free: MK4 {hurt.sum()}/{hurt.size}, D128 {d_hurt.sum()}/{d_hurt.size}\n"
        f"k-DCE: MK4 {k_hurt.sum()}/{k_hurt.size}",
        loc="lower left",
        fontsize=5.6,
    )
    panel_label(bx, "b")
    return fig
