"""The paper-style validation figures: each one a study (its tables) drawn by its drawing function.

``FIGURES`` maps the names used by ``ctmc-lab figures --only NAME`` to functions that run the
study ``ctmc_lab.studies.<name>`` and draw its tables with ``ctmc_lab.plotting.<name>``,
returning a :class:`FigureResult`; :func:`make_figures` writes them all.

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
published                   the public evaluators' replicas: exact bias against answer length
                            (:mod:`ctmc_lab.estimation.replica_registry`, ``docs/published.md``)
=========================== ===================================================================

Every random draw comes from ``np.random.SeedSequence(seed)`` spawned per task (SPEC 7): the
same seed gives the same CSVs bit for bit. Sizes default to the paper's settings where the
paper has them; the tests pass smaller ones.
"""

from __future__ import annotations

import functools
import importlib
import os
import tempfile
import time
from dataclasses import dataclass, field

from ctmc_lab.plotting import (
    coupled_vs_decoupled as _draw_coupled,
)
from ctmc_lab.plotting import (
    dse_dce_equivalence as _draw_dse,
)
from ctmc_lab.plotting import (
    fig1a_dna128_nll as _draw_fig1a,
)
from ctmc_lab.plotting import (
    fig1b_markov_conditional as _draw_fig1b,
)
from ctmc_lab.plotting import (
    heavy_tail as _draw_heavy,
)
from ctmc_lab.plotting import (
    imdse_curves as _draw_imdse,
)
from ctmc_lab.plotting import (
    llada_audit as _draw_llada,
)
from ctmc_lab.plotting import (
    ood_detection as _draw_ood,
)
from ctmc_lab.plotting import (
    published as _draw_published,
)
from ctmc_lab.plotting import (
    sampler_comparison as _draw_samplers,
)
from ctmc_lab.plotting import (
    variance_vs_samples as _draw_variance,
)
from ctmc_lab.plotting.style import save_figure, style, write_csv
from ctmc_lab.studies import (
    coupled_vs_decoupled as _coupled,
)
from ctmc_lab.studies import (
    dse_dce_equivalence as _dse,
)
from ctmc_lab.studies import (
    fig1a_dna128_nll as _fig1a,
)
from ctmc_lab.studies import (
    fig1b_markov_conditional as _fig1b,
)
from ctmc_lab.studies import (
    heavy_tail as _heavy,
)
from ctmc_lab.studies import (
    imdse_curves as _imdse,
)
from ctmc_lab.studies import (
    llada_audit as _llada,
)
from ctmc_lab.studies import (
    ood_detection as _ood,
)
from ctmc_lab.studies import (
    published as _published,
)
from ctmc_lab.studies import (
    sampler_comparison as _samplers,
)
from ctmc_lab.studies import (
    variance_vs_samples as _variance,
)
from ctmc_lab.studies.engine import STUDIES, read_table, run_study

__all__ = [
    "FigureResult",
    "FIGURES",
    "STUDY_FIGURE_MODULES",
    "draw_study",
    "make_figures",
    "fig1a_dna128_nll",
    "fig1b_markov_conditional",
    "imdse_curves",
    "dse_dce_equivalence",
    "variance_vs_samples",
    "heavy_tail",
    "coupled_vs_decoupled",
    "sampler_comparison",
    "ood_detection",
    "llada_audit",
    "published",
]


@dataclass(frozen=True, eq=False)
class FigureResult:
    """One figure, the data behind it, and its headline numbers.

    Attributes
    ----------
    name : str
        The figure's name (file stem).
    tables : dict
        ``{file stem: {column: 1-D array}}``; the main table has the figure's own name.
    figure : matplotlib.figure.Figure
    summary : dict
        Scalars worth printing (e.g. maximal residuals, AUROCs).
    seconds : float
        Wall time to compute and draw.
    """

    name: str
    tables: dict
    figure: object = field(repr=False)
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def table(self) -> dict:
        """The main table (named like the figure)."""
        return self.tables[self.name]

    def write(self, out_dir, *, formats=("pdf", "png", "csv")) -> list[str]:
        """Write the figure (``pdf``/``png``/``svg``) and its tables (``csv``) into ``out_dir``."""
        formats = tuple(formats)
        unknown = set(formats) - {"pdf", "png", "svg", "csv"}
        if unknown:
            raise ValueError(f"unknown output format(s) {sorted(unknown)}; choose from csv, pdf, png, svg")
        paths = save_figure(self.figure, out_dir, self.name, formats=[f for f in formats if f != "csv"])
        if "csv" in formats:
            for stem, table in self.tables.items():
                paths.append(write_csv(os.path.join(out_dir, f"{stem}.csv"), table))
        return paths


def _figure(study, draw):
    """The figure of ``study``: run it, draw its result in the package style, time both."""

    @functools.wraps(study)
    def run(**options) -> FigureResult:
        start = time.perf_counter()
        res = study(**options)
        with style():
            fig = draw(res)
        return FigureResult(res.name, res.tables, fig, res.summary, time.perf_counter() - start)

    return run


fig1a_dna128_nll = _figure(_fig1a.fig1a_dna128_nll, _draw_fig1a.draw)
fig1b_markov_conditional = _figure(_fig1b.fig1b_markov_conditional, _draw_fig1b.draw)
imdse_curves = _figure(_imdse.imdse_curves, _draw_imdse.draw)
dse_dce_equivalence = _figure(_dse.dse_dce_equivalence, _draw_dse.draw)
variance_vs_samples = _figure(_variance.variance_vs_samples, _draw_variance.draw)
heavy_tail = _figure(_heavy.heavy_tail, _draw_heavy.draw)
coupled_vs_decoupled = _figure(_coupled.coupled_vs_decoupled, _draw_coupled.draw)
sampler_comparison = _figure(_samplers.sampler_comparison, _draw_samplers.draw)
ood_detection = _figure(_ood.ood_detection, _draw_ood.draw)
llada_audit = _figure(_llada.llada_audit, _draw_llada.draw)
published = _figure(_published.published, _draw_published.draw)

#: Study at scale -> the plotting module whose ``draw(table)`` makes its figure: the study's
#: name with underscores, so a study listed in :data:`ctmc_lab.studies.engine.STUDIES` needs no entry here.
STUDY_FIGURE_MODULES = {study: f"ctmc_lab.plotting.{study.replace('-', '_')}" for study in STUDIES}


def draw_study(study: str, table: dict):
    """The figure of a study at scale drawn from its table (:func:`ctmc_lab.studies.engine.read_table`)."""
    with style():
        return importlib.import_module(STUDY_FIGURE_MODULES[study]).draw(table)


def _study_figure(study: str):
    """The figure of a study at scale on its small grid (:mod:`ctmc_lab.studies.engine`, one worker).

    The cases' records go to a temporary directory; the figure's CSV is the study's table.
    ``ctmc-lab study NAME --grid full`` draws the same figure from the full grid.
    """
    stem = study.replace("-", "_")

    def run(*, seed: int = 0, grid: str = "small") -> FigureResult:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            res = run_study(study, out_dir=tmp, grid=grid, workers=1, seed=seed, progress=None)
            table = read_table(res.table_path, study)
        fig = draw_study(study, table)
        summary = {"cases": res.n_cases, "failed_cases": res.n_failed}
        return FigureResult(stem, {stem: table}, fig, summary, time.perf_counter() - start)

    run.__name__ = run.__qualname__ = stem
    run.__doc__ = f"The ``{study}`` study on its small grid, drawn (see ``ctmc-lab study {study}``)."
    return run


#: Figure name -> function returning a :class:`FigureResult`, in the order ``ctmc-lab figures`` makes them.
FIGURES = {
    "fig1a_dna128_nll": fig1a_dna128_nll,
    "fig1b_markov_conditional": fig1b_markov_conditional,
    "imdse_curves": imdse_curves,
    "dse_dce_equivalence": dse_dce_equivalence,
    "variance_vs_samples": variance_vs_samples,
    "heavy_tail": heavy_tail,
    "coupled_vs_decoupled": coupled_vs_decoupled,
    "sampler_comparison": sampler_comparison,
    "ood_detection": ood_detection,
    "llada_audit": llada_audit,
    "published": published,
    **{study.replace("-", "_"): _study_figure(study) for study in STUDY_FIGURE_MODULES},
}


def make_figures(
    out_dir, *, only=None, formats=("pdf", "png", "csv"), seed: int = 0, progress=None, options=None
) -> dict:
    """Make figures and write them into ``out_dir``.

    Parameters
    ----------
    out_dir : path
    only : str or list of str, optional
        Figure names (keys of ``FIGURES``); all by default.
    formats : iterable of {"pdf", "png", "svg", "csv"}
    seed : int
        Passed to every figure.
    progress : callable, optional
        Called as ``progress(name, result)`` after each figure.
    options : dict, optional
        ``{name: {keyword: value}}`` overrides per figure (e.g. reduced sizes).

    Returns
    -------
    dict
        ``{name: (FigureResult, [paths written])}``.
    """
    names = list(FIGURES) if only is None else ([only] if isinstance(only, str) else list(only))
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure name(s) {unknown}; choose from {list(FIGURES)}")
    options = options or {}
    out = {}
    for name in names:
        res = FIGURES[name](seed=seed, **options.get(name, {}))
        paths = res.write(out_dir, formats=formats)
        # Free the figure's memory at once: ten figures of this size add up.
        res.figure.clear()
        out[name] = (res, paths)
        if progress is not None:
            progress(name, res)
    return out
