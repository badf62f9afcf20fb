"""Figure helpers: the package style, figure construction, and PDF/PNG/CSV output.

The style (``ctmc_lab.mplstyle``: Okabe–Ito colours, no LaTeX, fonts sized for a 3.3 in
column) is applied only inside :func:`style`; importing this module changes no global
``rcParams``. Figures are built as :class:`matplotlib.figure.Figure` objects attached to an
Agg canvas, so nothing here touches pyplot's global figure manager or needs a display.

Examples
--------
>>> import numpy as np
>>> with style():
...     fig, ax = new_figure()
...     _ = ax.plot(np.arange(3), np.arange(3))
>>> fig.get_size_inches().tolist()
[3.3, 2.4]
"""

from __future__ import annotations

import csv
import io
import math
import os
from contextlib import contextmanager
from importlib import resources

import numpy as np

from ctmc_lab.estimation.registry import estimator_specs, get_estimator
from ctmc_lab.io import write_bytes, write_text

__all__ = [
    "STYLE_PATH",
    "COLUMN_WIDTH",
    "PNG_DPI",
    "PAGE_WIDTH",
    "OKABE_ITO",
    "COLORS",
    "ESTIMATOR_ROLES",
    "SERIES",
    "estimator_color",
    "estimator_style",
    "style",
    "new_figure",
    "save_figure",
    "write_csv",
    "panel_label",
    "note",
    "log_ticks",
]

#: The package style sheet.
STYLE_PATH = str(resources.files("ctmc_lab.plotting") / "ctmc_lab.mplstyle")
#: Resolution of PNG output: 660 px across a column, 1360 px across a page.
PNG_DPI = 200
#: Width of one column of a two-column paper (inches).
COLUMN_WIDTH = 3.3
#: Width of a full page of a two-column paper (inches).
PAGE_WIDTH = 6.8

#: The Okabe–Ito palette (Okabe & Ito 2008), distinguishable under common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}

#: The colour of each estimator role a registry spec may name (``EstimatorSpec.color``, one of
#: ``ctmc_lab.estimation.registry.COLOR_ROLES``): the paper's sampler, the baselines by what they
#: change, and the audited code variants (drawn on their own panel, so they reuse hues).
ESTIMATOR_ROLES = {
    "paper": OKABE_ITO["blue"],
    "uniform_size": OKABE_ITO["green"],
    "stratified": OKABE_ITO["sky"],
    "rao_blackwell": OKABE_ITO["orange"],
    "time_integral": OKABE_ITO["vermillion"],
    "importance": OKABE_ITO["purple"],
    "eval_llada": OKABE_ITO["vermillion"],
    "eval_text8": OKABE_ITO["orange"],
    "code_t": OKABE_ITO["green"],
}

#: One colour per role of a line, used consistently across every figure: the truth, an exact
#: value, a Monte Carlo value, the two arms of a comparison, the estimator roles above (and the
#: estimators that name one, under their own names).
COLORS = {
    "true": OKABE_ITO["black"],
    "exact": OKABE_ITO["blue"],
    "mc": OKABE_ITO["vermillion"],
    "secondary": OKABE_ITO["green"],
    "coupled": OKABE_ITO["blue"],
    "decoupled": OKABE_ITO["vermillion"],
    "absorbing": OKABE_ITO["blue"],
    "uniform": OKABE_ITO["vermillion"],
    "in": OKABE_ITO["blue"],
    "out": OKABE_ITO["vermillion"],
    "residual": OKABE_ITO["grey"],
    "shade": OKABE_ITO["sky"],
    **ESTIMATOR_ROLES,
    # Each estimator registered at import with a role, under its name (prefer estimator_color).
    **{spec.name: ESTIMATOR_ROLES[spec.color] for spec in estimator_specs() if spec.color},
}

#: Colours for a family of curves indexed by a parameter (budgets, sources), in order.
SERIES = tuple(OKABE_ITO[c] for c in ("vermillion", "orange", "green", "purple", "sky", "blue", "yellow"))

#: Colours of estimators whose spec names no role, by their rank among such specs.
_SPARE = tuple(OKABE_ITO[c] for c in ("grey", "yellow", "black", "sky", "purple"))


def estimator_color(name: str) -> str:
    """The colour of a registered estimator: its spec's role (``ESTIMATOR_ROLES``), or a spare colour.

    A spec without a role (a user's, say) gets the spare colours in turn, by its rank among the
    registered specs without one, so two such estimators in one figure differ.
    """
    spec = get_estimator(name)
    if spec.color is not None:
        return ESTIMATOR_ROLES[spec.color]
    plain = [s.name for s in estimator_specs() if s.color is None]
    return _SPARE[plain.index(name) % len(_SPARE)]


def estimator_style(name: str, *, size: float = 2.0) -> dict:
    """Keyword arguments of ``Axes.plot`` for an estimator's markers: its colour, marker and fill,
    and its label (all from its registry spec). Filled markers are drawn a little smaller."""
    spec = get_estimator(name)
    return {
        "color": estimator_color(name),
        "marker": spec.marker,
        "ls": "none",
        "ms": 0.8 * size if spec.filled else size,
        "mew": 0.4,
        "mfc": None if spec.filled else "none",
        "label": spec.label,
    }


_SIZES = {"column": COLUMN_WIDTH, "page": PAGE_WIDTH}


@contextmanager
def style():
    """Apply the package style (and the Agg-safe defaults) for the duration of a ``with`` block.

    Everything set here is undone on exit: it is :func:`matplotlib.style.context` on the
    package's style sheet.
    """
    import matplotlib.style

    with matplotlib.style.context(STYLE_PATH):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, *, width="column", height: float | None = None, **subplot_kw):
    """A constrained-layout figure on an Agg canvas and its axes.

    Parameters
    ----------
    nrows, ncols : int
    width : {"column", "page"} or float
        3.3 in, 6.8 in, or a width in inches.
    height : float, optional
        Inches; default 2.4 in per row (capped for tall grids).
    **subplot_kw
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``gridspec_kw``, ...).

    Returns
    -------
    (Figure, Axes or array of Axes)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w = _SIZES.get(width, width) if isinstance(width, str) else float(width)
    if isinstance(width, str) and width not in _SIZES:
        raise ValueError(f"`width` must be 'column', 'page' or inches (got {width!r})")
    h = float(height) if height is not None else min(2.4 * nrows, 7.5)
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def save_figure(fig, out_dir, name: str, *, formats=("pdf", "png")) -> list[str]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format; returns the paths written.

    The style's ``savefig`` settings (``PNG_DPI``, tight box) are applied here explicitly, so the
    output does not depend on the caller's rcParams.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    with style():
        for fmt in formats:
            if fmt not in ("pdf", "png", "svg"):
                raise ValueError(f"unknown figure format {fmt!r}; choose from ['pdf', 'png', 'svg']")
            path = os.path.join(out_dir, f"{name}.{fmt}")
            # A fixed creation date keeps PDFs byte-stable between runs.
            meta = {"CreationDate": None} if fmt == "pdf" else ({"Software": None} if fmt == "png" else None)
            buffer = io.BytesIO()  # rendered in memory, so a failed or interrupted run leaves no partial file
            fig.savefig(
                buffer,
                format=fmt,
                dpi=PNG_DPI if fmt == "png" else None,
                bbox_inches="tight",
                pad_inches=0.02,
                metadata=meta,
            )
            write_bytes(path, buffer.getvalue(), what="figure")
            paths.append(path)
    return paths


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)  # shortest round-trip form: the CSV holds the exact float64
    return str(value)


def write_csv(path: str, table: dict) -> str:
    """Write a column table ``{name: 1-D array}`` (equal lengths) as CSV with a header row.

    Floats are written in their shortest round-trip form, so reading the CSV back gives the
    exact float64 values; infinities are written as ``inf``.
    """
    columns = list(table)
    if not columns:
        raise ValueError("`table` must have at least one column")
    data = [np.asarray(table[c]).ravel() if np.ndim(table[c]) else np.asarray([table[c]]) for c in columns]
    lengths = {len(d) for d in data}
    if len(lengths) != 1:
        raise ValueError(f"`table` columns must have equal lengths (got {dict(zip(columns, map(len, data)))})")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in zip(*data):
        writer.writerow([_cell(v) for v in row])
    write_text(path, text.getvalue(), what="CSV")
    return path


def panel_label(ax, label: str) -> None:
    """Prefix the axes title with a panel letter, "(a) title" (call after ``set_title``)."""
    ax.set_title(f"({label}) {ax.get_title()}".rstrip())


def note(ax, text: str, *, loc="upper left", **kw) -> None:
    """A small boxed annotation inside an axes, at a named corner."""
    pos = {
        "upper left": (0.03, 0.97, "left", "top"),
        "upper right": (0.97, 0.97, "right", "top"),
        "lower left": (0.03, 0.03, "left", "bottom"),
        "lower right": (0.97, 0.03, "right", "bottom"),
        "center right": (0.97, 0.5, "right", "center"),
        "center left": (0.03, 0.5, "left", "center"),
        "lower center": (0.5, 0.03, "center", "bottom"),
        "upper center": (0.5, 0.97, "center", "top"),
    }[loc]
    box = {"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "#bbbbbb", "linewidth": 0.4, "alpha": 0.9}
    ax.text(
        pos[0],
        pos[1],
        text,
        transform=ax.transAxes,
        ha=pos[2],
        va=pos[3],
        bbox=box,
        fontsize=kw.pop("fontsize", 6.3),
        **kw,
    )


def log_ticks(ax, axis: str = "y") -> None:
    """Readable ticks on a log axis spanning less than a decade or two: 1, 2, 5 × 10^k as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
