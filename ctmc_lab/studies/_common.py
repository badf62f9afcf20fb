"""What the paper's figure studies share: their cases (one per table), seeding, row lists and the A-table sources.

A paper study is a study of the engine (:mod:`ctmc_lab.studies.engine`) whose every table is
computed by one case: :func:`paper_cases` makes them from the study's settings for a grid. Its
random streams are those it had before the engine: spawned from ``SeedSequence(case.seed)``
(:func:`seeds`), so the figures' CSVs keep their bytes.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.studies.engine import MAIN_TABLE, Case
from ctmc_lab.studies.protocol import sample_pair

__all__ = ["paper_cases", "grid_cases", "rows_of", "seeds", "sizes"]


def paper_cases(name: str, settings: dict, grid: str, overrides: dict, tables=(MAIN_TABLE,)) -> list[Case]:
    """One case per table of a paper study, with the parameters ``settings[grid]`` updated by ``overrides``.

    The main table's key is the study's name with underscores (its figure's CSV stem), another
    table's is that stem and ``_TABLE``: the figure's CSV file names.

    Raises
    ------
    ValueError
        For an unknown grid, or an override that is no parameter of the study.
    """
    if grid not in settings:
        raise ValueError(f"unknown grid {grid!r}; choose one of {list(settings)}")
    unknown = sorted(set(overrides) - set(settings[grid]))
    if unknown:
        raise ValueError(f"{name} has no setting {unknown[0]!r}; its settings are {list(settings[grid])}")
    params = {**settings[grid], **overrides}
    stem = name.replace("-", "_")
    return [Case(stem if t == MAIN_TABLE else f"{stem}_{t}", dict(params), table=t) for t in tables]


def grid_cases(name: str, settings: dict, tables=(MAIN_TABLE,)):
    """The ``cases(grid, **settings)`` of a paper study: :func:`paper_cases` of its ``SETTINGS``."""

    def cases(grid: str, **overrides) -> list[Case]:
        return paper_cases(name, settings, grid, overrides, tables)

    cases.__doc__ = (
        f"One case per table ({', '.join(tables)}) with the parameters of the grid (``SETTINGS``), "
        "replaced by ``settings``."
    )
    return cases


def rows_of(table: dict) -> list[dict]:
    """The rows of a column table ``{name: 1-D array}`` (equal lengths), as dicts in column order."""
    names = list(table)
    return [dict(zip(names, values)) for values in zip(*(table[n] for n in names))]


def seeds(seed, n: int) -> list[np.random.Generator]:
    """``n`` independent generators spawned from ``SeedSequence(seed)`` (or from a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(n)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def sizes(name: str, values, *, minimum: int = 1) -> tuple[int, ...]:
    """A non-empty increasing tuple of integers ≥ ``minimum`` (sample budgets)."""
    try:
        out = tuple(positive_int(v, name, minimum=minimum) for v in values)
    except TypeError:
        raise ValueError(f"`{name}` must be a sequence of integers (got {values!r})") from None
    if not out or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"`{name}` must be non-empty and increasing (got {values!r})")
    return out


def d128_tables(p):
    """A-tables of every support sequence of ``p`` under c*, and their singleton terms a_i = A({i})."""
    A = optimal_mask_dce(p, p.support)
    singles = A[:, 1 << np.arange(p.length)]
    return A, singles


def mk4_pairs(chain, n_pairs, prompt_length, response_length, seed):
    """Prompt–response pairs and their A-tables (Cor. 4.3), seeded per pair."""
    target = list(range(prompt_length, prompt_length + response_length))
    context = list(range(prompt_length))
    xs, tables = [], []
    for g in seeds(seed, n_pairs):
        prompt, response = sample_pair(chain, prompt_length=prompt_length, response_length=response_length, rng=g)
        x = np.concatenate([prompt, response])
        xs.append(x)
        tables.append(conditional.conditional_mask_dce(chain, x, target=target, context=context))
    return np.array(xs), np.array(tables), target, context
