"""``sweep``: one :func:`~ctmc_lab.conformance.oracle.check` per setting of a grid and per case, as a table.

``sweep(run_factory, cases, grid={"batch_size": [8, 16, 32], "answer_length": [1, 4, 8]})`` runs
the user's evaluator at every combination of the grid's values: ``cases`` is a list of cases or a
callable ``cases(**setting)`` returning one case or a list (so a grid key such as
``answer_length`` can choose them), and ``run_factory(case, **setting)`` returns ``run`` or
``(run, model)``. The p-values of every contract of every cell are Holm-corrected together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ctmc_lab.conformance.oracle import DEFAULT_ALPHA, DEFAULT_RUNS, adjust, check
from ctmc_lab.io import write_json

__all__ = ["SweepTable", "sweep"]

_COLUMNS = ("case", "target", "mc_mean", "mc_se", "exact_mean", "bias", "z", "passed")


@dataclass(eq=False)
class SweepTable:
    """One row per (setting, case): the grid's values, the case, and its report's numbers.

    Attributes
    ----------
    keys : tuple of str
        The grid's keys (the first columns).
    rows : list of dict
        Grid values, ``case``, ``target`` (the first contract's exact target), ``mc_mean``,
        ``mc_se``, ``exact_mean`` (the reference's, or None), ``bias`` (mc_mean - target), ``z``
        (bias / se), ``passed`` (every contract, after the joint Holm correction).
    reports : list of ConformanceReport
    """

    keys: tuple
    rows: list
    reports: list = field(repr=False)

    @property
    def passed(self) -> bool:
        return all(row["passed"] for row in self.rows)

    def to_json(self, path=None) -> dict:
        record = {"keys": list(self.keys), "rows": self.rows, "reports": [r.to_json() for r in self.reports]}
        if path is not None:
            write_json(path, record, what="the sweep table")
        return record

    def __str__(self) -> str:
        cols = [*self.keys, *_COLUMNS]
        cells = [[_cell(row[c]) for c in cols] for row in self.rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(cols)]
        lines = ["  ".join(f"{c:>{w}}" for c, w in zip(cols, widths))]
        lines += ["  ".join(f"{v:>{w}}" for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def sweep(
    run_factory,
    cases,
    grid: dict | None = None,
    *,
    contract="unbiased:cond_nll",
    reference=None,
    n_runs: int = DEFAULT_RUNS,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    timeout: float | None = None,
) -> SweepTable:
    """A table of :func:`~ctmc_lab.conformance.oracle.check` over a grid of settings and cases.

    Parameters
    ----------
    run_factory : callable
        ``run_factory(case, **setting)`` → ``run`` or ``(run, model)``.
    cases : list of Case, or callable
        ``cases(**setting)`` → a Case or a list of them.
    grid : dict, optional
        ``{key: values}``; every combination is one setting (default: one empty setting).
    contract, n_runs, seed, alpha, timeout
        As in :func:`~ctmc_lab.conformance.oracle.check`; each cell uses ``seed``.
    reference : Reference or callable, optional
        A reference, or ``reference(**setting)`` returning one (e.g. LLaDA's rule at that b).

    Returns
    -------
    SweepTable

    Examples
    --------
    >>> from ctmc_lab.conformance import cases as C, make_adapter
    >>> def factory(case, offset):
    ...     return lambda seed: case.cond_nll + offset
    >>> table = sweep(factory, [C.dna128(0)], {"offset": [0.0, 0.5]}, contract="exact:cond_nll", n_runs=2)
    >>> [row["passed"] for row in table.rows]
    [True, False]
    """
    grid = dict(grid or {})
    keys = tuple(grid)
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"grid values of {key!r} must be a list (got {values!r})")
    rows, reports = [], []
    for combo in itertools.product(*(list(v) for v in grid.values())):
        setting = dict(zip(keys, combo))
        chosen = cases(**setting) if callable(cases) else cases
        chosen = chosen if isinstance(chosen, (list, tuple)) else [chosen]
        ref = reference(**setting) if callable(reference) and not hasattr(reference, "moments") else reference
        for case in chosen:
            made = run_factory(case, **setting)
            run, model = made if isinstance(made, tuple) else (made, None)
            report = check(
                run, case, contract, n_runs=n_runs, seed=seed, reference=ref, model=model, alpha=alpha, timeout=timeout
            )
            reports.append(report)
            rows.append({**setting, "case": case.name})
    adjust(reports, alpha)  # one Holm correction over every contract of every cell
    for row, report in zip(rows, reports):
        first = next(iter(report.target_values), None)
        tgt = None if first is None else report.target_values[first]
        bias = None if tgt is None or not report.values.size else report.mc_mean - tgt
        z = None if first is None else report.z_target[first]
        row.update(
            target=tgt,
            mc_mean=report.mc_mean,
            mc_se=report.mc_se,
            exact_mean=report.exact_mean,
            bias=bias,
            z=z,
            passed=report.passed,
        )
    return SweepTable(keys, rows, reports)
