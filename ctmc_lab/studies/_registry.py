"""The studies ``ctmc-lab study NAME`` and ``ctmc-lab figures`` run, and the tables each one declares.

A study is a module with ``NAME``, ``COLUMNS``, ``cases(grid)``, ``run_case(case, *, rng)``,
``estimate_seconds(case)`` and ``summarize(table, **tables)`` (``ctmc_lab.studies.engine``);
optionally ``TABLES``, ``{name: columns}`` of the tables besides its main one, and
``FIGURE_GRID``, the grid ``ctmc-lab figures`` draws (default ``"small"``). Only the standard
library is imported here: the command line lists the studies without loading them.
"""

from __future__ import annotations

import importlib

from ctmc_lab.studies._records import MAIN_TABLE

__all__ = ["ALL_STUDIES", "GRIDS", "PAPER_STUDIES", "STUDIES", "figure_grid", "study_module", "study_tables"]

#: The paper's figures and tables as studies: ``ctmc-lab study NAME`` → the module implementing it.
#: Each table is one case; the ``full`` grid has the paper's sizes, the ``small`` one runs in seconds.
PAPER_STUDIES = {
    "fig1a-dna128-nll": "ctmc_lab.studies.fig1a_dna128_nll",
    "fig1b-markov-conditional": "ctmc_lab.studies.fig1b_markov_conditional",
    "imdse-curves": "ctmc_lab.studies.imdse_curves",
    "dse-dce-equivalence": "ctmc_lab.studies.dse_dce_equivalence",
    "variance-vs-samples": "ctmc_lab.studies.variance_vs_samples",
    "heavy-tail": "ctmc_lab.studies.heavy_tail",
    "coupled-vs-decoupled": "ctmc_lab.studies.coupled_vs_decoupled",
    "sampler-comparison": "ctmc_lab.studies.sampler_comparison",
    "ood-detection": "ctmc_lab.studies.ood_detection",
    "llada-audit": "ctmc_lab.studies.llada_audit",
}
#: The studies at scale, grids of cases over families of sources: ``ctmc-lab study NAME`` → module.
STUDIES = {
    "sampler-atlas": "ctmc_lab.studies.sampler_atlas",
    "conditional-balance": "ctmc_lab.studies.conditional_balance",
    "length-scaling": "ctmc_lab.studies.length_scaling",
    "coupling": "ctmc_lab.studies.coupling",
}
#: Every study, in the order ``ctmc-lab figures`` draws them: the paper's, then those at scale.
ALL_STUDIES = {**PAPER_STUDIES, **STUDIES}
#: The grid sizes every study provides.
GRIDS = ("small", "full")
#: Names a study's ``TABLES`` may not use: the main table's, and the engine's own output files.
RESERVED_TABLES = (MAIN_TABLE, "failures", "summary")


def study_module(study):
    """The study module for a name of ``ALL_STUDIES`` or a module path (a module object is returned as is)."""
    if not isinstance(study, str):
        return study
    if study in ALL_STUDIES.values():
        return importlib.import_module(study)
    if study not in ALL_STUDIES:
        raise ValueError(f"unknown study {study!r}; choose one of {list(ALL_STUDIES)}")
    return importlib.import_module(ALL_STUDIES[study])


def study_tables(study) -> dict:
    """``{table name: columns}`` of a study: ``"table"`` (its ``COLUMNS``) first, then its ``TABLES``.

    Raises
    ------
    ValueError
        For a ``TABLES`` name that is not an identifier or is reserved (``RESERVED_TABLES``).
    """
    mod = study_module(study)
    extra = dict(getattr(mod, "TABLES", {}))
    for name in extra:
        if not (isinstance(name, str) and name.isidentifier()) or name in RESERVED_TABLES:
            raise ValueError(f"{mod.NAME}: table name {name!r} must be an identifier other than {RESERVED_TABLES}")
    return {MAIN_TABLE: tuple(mod.COLUMNS), **{name: tuple(cols) for name, cols in extra.items()}}


def figure_grid(study) -> str:
    """The grid ``ctmc-lab figures`` draws a study on: its ``FIGURE_GRID``, else ``"small"``."""
    return getattr(study_module(study), "FIGURE_GRID", "small")
