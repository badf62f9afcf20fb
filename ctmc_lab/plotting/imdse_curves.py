"""Draw Theorems 3.1 and 3.2 from the tables of :mod:`ctmc_lab.studies.imdse_curves`."""

from __future__ import annotations

import numpy as np

from ctmc_lab.forward.generators import noise_process
from ctmc_lab.plotting.style import COLORS, SERIES, new_figure, note, panel_label
from ctmc_lab.studies.imdse_curves import rate_residual

__all__ = ["draw"]


def draw(table: dict, *, areas: dict):
    """Rows: absorbing, uniform noise; columns: KL and I, their rates against -mdse, the area under mdse."""
    nll, entropy = float(areas["neg_log_p0"][0]), float(areas["entropy"][0])
    fig, axes = new_figure(2, 3, width="page", height=4.1)
    kinds = list(dict.fromkeys(table["process"]))
    for row, kind in enumerate(kinds):
        sel = table["process"] == kind
        t, kl_, rate, md = (table[k][sel] for k in ("t", "kl", "kl_rate", "mdse"))
        mi, mi_rate, md_marg = (
            table[k][sel] for k in ("mutual_information", "mutual_information_rate", "mdse_marginal")
        )
        at = areas["process"] == kind
        area, area_marg = float(areas["area_pointwise"][at][0]), float(areas["area_marginal"][at][0])
        a, b, c = axes[row]
        tt = np.concatenate([[0.0], t, [1.0]])
        a.plot(
            tt, np.concatenate([[nll], kl_, [0.0]]), color=COLORS["exact"], label=r"KL$(p_{t|0}(\cdot|x_0)\,\|\,p_t)$"
        )
        a.plot(tt, np.concatenate([[entropy], mi, [0.0]]), color=COLORS["secondary"], ls="--", label=r"$I(x_0; x_t)$")
        a.plot([0], [nll], "o", color=COLORS["exact"], ms=3)
        a.plot([0], [entropy], "o", color=COLORS["secondary"], ms=3)
        a.set_ylabel(f"{kind}\nnats")
        a.legend(loc="upper right")
        b.plot(t, rate, color=COLORS["exact"], label=r"$\frac{d}{dt}$KL (exact)")
        b.plot(t[::2], -md[::2], "o", ms=2.6, mfc="none", mew=0.6, color=COLORS["mc"], label=r"$-$mdse$(x_0,t)$")
        b.plot(t, mi_rate, color=COLORS["secondary"], ls="--", label=r"$\frac{d}{dt}I$ (exact)")
        b.plot(
            t[1::2],
            -md_marg[1::2],
            "^",
            ms=2.6,
            mfc="none",
            mew=0.6,
            color=SERIES[1],
            label=r"$-$mdse$(t)$",
        )
        b.set_ylabel("nats per unit t")
        # The residual heads the legend, in the empty lower corner: a corner box of its own covers
        # the first -mdse markers in one row or the other.
        b.legend(
            loc="lower right",
            ncol=2,
            fontsize=5.8,
            title=f"max |rate + mdse| = {rate_residual(table, kind):.0e}",
            title_fontsize=5.8,
        )
        c.fill_between(t, md, color=COLORS["shade"], alpha=0.45, lw=0)
        c.plot(t, md, color=COLORS["exact"], label=r"mdse$(x_0,t)$")
        c.plot(t, md_marg, color=COLORS["secondary"], ls="--", label=r"mdse$(t)$")
        c.set_ylabel("nats per unit t")
        c.legend(loc="upper right")
        note(
            c,
            f"shaded area = {area:.6f}\n−log p0(x0) = {nll:.6f}\n"
            f"area under mdse(t) = {area_marg:.6f}\nH(p0) = {entropy:.6f}",
            loc="lower center" if noise_process(kind).has_mask else "center right",
            fontsize=5.8,
        )
        c.set_ylim(0, max(md.max(), md_marg.max()) * 1.08)
        for ax in (a, b, c):
            ax.set_xlim(0, 1)
        if row == len(kinds) - 1:
            for ax in (a, b, c):
                ax.set_xlabel(r"t   (loglinear, $\lambda = t$)")
    axes[0, 0].set_title(f"KL and $I(x_0; x_t)$, $x_0$ = {areas['sequence'][0]}")
    axes[0, 1].set_title("Thm 3.1: exact rate = −mdse")
    axes[0, 2].set_title("Thm 3.2: area under mdse")
    for ax, lab in zip(axes[0], "abc"):
        panel_label(ax, lab)
    return fig
