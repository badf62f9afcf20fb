"""Every study's figure: one entry point draws any study's tables, and ``make_figures`` runs and writes them all.

A figure is a study (:mod:`ctmc_lab.studies.engine`) run by the engine in this process on its
figure grid (:func:`~ctmc_lab.studies.engine.run_cases`: the tables ``ctmc-lab study NAME`` writes
for the same grid and seed), then drawn by :func:`draw` from its tables. ``FIGURES`` maps the names used by ``ctmc-lab figures
--only NAME`` (the study's name with underscores, also its CSV stem) to the study:

=========================== ===================================================================
name                        content (``docs/theory.md`` section)
=========================== ===================================================================
fig1a_dna128_nll            Fig. 1a: true NLL, exact time-free enumeration and MC at 2^15 draws
                            for all 128 D128 sequences (Thm 4.1, §4.1, §7)
fig1b_markov_conditional    Fig. 1b: the 64-pair MK4 prompt–response protocol (Cor. 4.3, §4.2)
imdse_curves                Thm 3.1/3.2: KL and I(x0; x_t), their exact rates against -mdse,
                            and the area under mdse (§2.4, §2.5)
dse_dce_equivalence         Lemma 3.3: pointwise DSE = σ(t)(1-λ)/λ · DCE (§3.2)
variance_vs_samples         Table 1a analogue: λ-DCE vs time-free variance at 128/256/512 (§6)
heavy_tail                  λ-DCE sample variance grows like ½ Σ a_i² ln n (§6.3)
coupled_vs_decoupled        Table 1b analogue: coupled vs decoupled log-ratio variance (§6.4)
sampler_comparison          exact variance of each unbiased sampler; bias of audited ones (§6.5, §8)
ood_detection               NLL histograms, ROC and AUROC, exact vs estimated (§7 Fig. 2)
llada_audit                 LLaDA's evaluator: where its mask-count law is not uniform, its exact
                            bias on D128-like sources, MK4 pairs and a first-order chain, and the
                            variance of the fix (:mod:`ctmc_lab.estimation.llada`)
sampler_atlas, ...          the studies at scale (``docs/user_guide/studies.md``) on their small grid
=========================== ===================================================================

The paper's figures draw their ``full`` grid (the paper's sizes), the studies at scale their
``small`` one (``FIGURE_GRID`` of each study). Every random draw comes from the study seed (SPEC 7):
the same seed gives the same CSVs bit for bit.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field

from ctmc_lab.plotting.style import save_figure, style, write_csv
from ctmc_lab.studies.engine import ALL_STUDIES, CASE_COLUMN, MAIN_TABLE, figure_grid, run_cases, study_module

__all__ = ["FigureResult", "FIGURES", "FORMATS", "draw", "figure_tables", "make_figure", "make_figures"]

#: Figure name → the study it draws, in the order ``ctmc-lab figures`` makes them.
FIGURES = {study.replace("-", "_"): study for study in ALL_STUDIES}
#: The files a figure may be written as.
FORMATS = ("pdf", "png", "svg", "csv")


@dataclass(frozen=True, eq=False)
class FigureResult:
    """One figure, the tables behind it, and its study's summary.

    Attributes
    ----------
    name : str
        The figure's name (file stem).
    tables : dict
        ``{file stem: {column: 1-D array}}`` (:func:`figure_tables`); the main table has the
        figure's own name.
    figure : matplotlib.figure.Figure
    summary : str
        The study's summary (``summarize``), its headline on the first line.
    seconds : float
        Wall time to compute and draw.
    """

    name: str
    tables: dict
    figure: object = field(repr=False)
    summary: str = ""
    seconds: float = 0.0

    @property
    def table(self) -> dict:
        """The main table (named like the figure)."""
        return self.tables[self.name]

    def write(self, out_dir, *, formats=("pdf", "png", "csv")) -> list[str]:
        """Write the figure (``pdf``/``png``/``svg``) and its tables (``csv``) into ``out_dir``."""
        formats = tuple(formats)
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown output format(s) {sorted(unknown)}; choose from {', '.join(sorted(FORMATS))}")
        paths = save_figure(self.figure, out_dir, self.name, formats=[f for f in formats if f != "csv"])
        if "csv" in formats:
            for stem, table in self.tables.items():
                paths.append(write_csv(os.path.join(out_dir, f"{stem}.csv"), table))
        return paths


def draw(study, table: dict, **tables):
    """The figure of any study, drawn in the package style from its tables.

    Parameters
    ----------
    study : str or module
        A study of :data:`~ctmc_lab.studies.engine.ALL_STUDIES` (or its module); its drawing is
        ``draw(table, **tables)`` of ``ctmc_lab.plotting.<name with underscores>``.
    table : dict
        The study's main table (:func:`~ctmc_lab.studies.engine.read_table`).
    **tables : dict
        Its other tables, by the names of its ``TABLES``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    stem = study_module(study).NAME.replace("-", "_")
    with style():
        return importlib.import_module(f"ctmc_lab.plotting.{stem}").draw(table, **tables)


def figure_tables(study, cases, tables: dict) -> dict:
    """A study's tables as its figure's CSV files: ``{file stem: table}``.

    The main table is named like the figure, another ``<figure>_<table>``. A table that one of
    ``cases`` computes (each table of the paper's figures) is written without its ``case``
    column: its one key says nothing.
    """
    stem = study_module(study).NAME.replace("-", "_")
    per_table = {}
    for case in cases:
        per_table[case.table] = per_table.get(case.table, 0) + 1
    out = {}
    for name, table in tables.items():
        if per_table.get(name, 0) == 1:
            table = {k: v for k, v in table.items() if k != CASE_COLUMN}
        out[stem if name == MAIN_TABLE else f"{stem}_{name}"] = table
    return out


def make_figure(name: str, *, seed: int = 0, grid: str | None = None, **settings) -> FigureResult:
    """Run the study of figure ``name`` by the engine in this process and draw it.

    Parameters
    ----------
    name : str
        A key of :data:`FIGURES`.
    seed : int
        The study seed.
    grid : {"small", "full"}, optional
        Default: the study's figure grid (``FIGURE_GRID``).
    **settings
        Parameters of a paper study that replace those of the grid (its ``SETTINGS``), e.g.
        ``make_figure("heavy_tail", n_max=2**16, repeats=16)``.

    Raises
    ------
    ValueError
        For an unknown name or setting, or when a case of the study fails (its error is quoted).
    """
    if name not in FIGURES:
        raise ValueError(f"unknown figure name {name!r}; choose from {list(FIGURES)}")
    study = study_module(FIGURES[name])
    grid = figure_grid(study) if grid is None else grid
    start = time.perf_counter()
    cases = study.cases(grid, **settings)
    tables = run_cases(study, cases, seed=seed)
    summary = study.summarize(**tables)
    fig = draw(study, **tables)
    return FigureResult(name, figure_tables(study, cases, tables), fig, summary, time.perf_counter() - start)


def make_figures(out_dir, *, only=None, formats=("pdf", "png", "csv"), seed: int = 0, grid=None, progress=None) -> dict:
    """Make figures and write them into ``out_dir``.

    Parameters
    ----------
    out_dir : path
    only : str or list of str, optional
        Figure names (keys of ``FIGURES``); all by default.
    formats : iterable of {"pdf", "png", "svg", "csv"}
    seed : int
        The seed of every study.
    grid : {"small", "full"}, optional
        The grid of every study (default: each study's figure grid).
    progress : callable, optional
        Called as ``progress(name, result)`` after each figure.

    Returns
    -------
    dict
        ``{name: (FigureResult, [paths written])}``.
    """
    names = list(FIGURES) if only is None else ([only] if isinstance(only, str) else list(only))
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure name(s) {unknown}; choose from {list(FIGURES)}")
    out = {}
    for name in names:
        res = make_figure(name, seed=seed, grid=grid)
        paths = res.write(out_dir, formats=formats)
        # Free the figure's memory at once: every figure of this size adds up.
        res.figure.clear()
        out[name] = (res, paths)
        if progress is not None:
            progress(name, res)
    return out
