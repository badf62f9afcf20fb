"""What the figure studies share: the result record, seeding, budget validation and the A-table sources."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import conditional
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.studies.protocol import sample_pair

__all__ = ["StudyResult"]


@dataclass(frozen=True, eq=False)
class StudyResult:
    """The tables behind one figure, its headline numbers and the labels its drawing needs.

    Attributes
    ----------
    name : str
        The figure's name (a key of ``ctmc_lab.plotting.figures.FIGURES``, the CSV file stem).
    tables : dict
        ``{file stem: {column: 1-D array}}``; the main table has the figure's own name. Each study
        module documents its columns in its ``COLUMNS`` mapping (``{stem: {column: meaning}}``).
    summary : dict
        Scalars worth printing (maximal residuals, AUROCs, ...).
    meta : dict
        What the drawing needs beyond the tables: settings it prints (sizes, source names) and
        derived curves not written as CSV (ROC points), so a drawing never recomputes.
    """

    name: str
    tables: dict
    summary: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def table(self) -> dict:
        """The main table (named like the figure)."""
        return self.tables[self.name]


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
