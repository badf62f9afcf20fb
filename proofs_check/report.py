"""The terminal table and the JSON document of a verification run.

Rows are grouped by theorem (in the paper's order). Each row shows the statement in a
few words, the case, the method, both sides, |error| and the tolerance in scientific
notation, and the verdict: ``pass``/``FAIL`` for a check, ``xfail ✓`` for a negative
control that failed as it must, ``XPASS ✗`` for a control that wrongly passed, ``ERROR ✗``
for a check or control that raised.

Below 140 columns (and always at ``COLUMNS=100``) a row takes two lines, the case wrapped
under the numbers; ``wide=True`` (``--wide``) prints one unclipped line per row. The report
ends with the coverage matrix (theorem × precision) and the registry coverage (every registered
estimator and noise process × precision), where an entry without an independent twin in
:mod:`proofs_check.twins` is an ``n/a`` cell with its reason, never a silent pass or skip.
"""

from __future__ import annotations

import math
import shutil
import textwrap

from ctmc_lab.estimation.registry import estimator_specs
from ctmc_lab.forward.generators import NOISE_PROCESSES

from .framework import COVERAGE_THEOREMS, METHODS, NOT_APPLICABLE, THEOREM_ORDER, CheckRecord
from .runner import SuiteResult
from .twins import NO_TWIN

__all__ = [
    "format_table",
    "summary_line",
    "json_payload",
    "verdict",
    "coverage",
    "format_coverage",
    "registry_coverage",
    "format_registry_coverage",
]

_WIDTHS = {"statement": 36, "case": 42, "method": 7, "lhs": 16, "rhs": 16, "error": 8, "tol": 7}


def verdict(rec: CheckRecord) -> str:
    if rec.crashed is not None:
        return "ERROR ✗"
    if rec.expected_to_fail:
        return "xfail ✓" if not rec.passed else "XPASS ✗"
    return "pass" if rec.passed else "FAIL ✗"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    x = float(x) + 0.0  # no "-0"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.10g}" if x == 0 or 1e-3 <= abs(x) < 1e7 else f"{x:.6e}"


def _sci(x: float, digits: int = 1) -> str:
    if math.isinf(x):
        return "inf"
    return "0" if x == 0 else f"{x:.{digits}e}"


def _widths(width: int | None) -> dict:
    """Column widths; the case column absorbs the terminal width (between 24 and 70)."""
    w = dict(_WIDTHS)
    total = width or shutil.get_terminal_size((160, 24)).columns
    fixed = sum(v for k, v in w.items() if k != "case") + 8 + 9  # separators and the result column
    w["case"] = max(24, min(70, total - fixed))
    return w


#: Narrow layout: (statement, method, lhs, rhs, error, tol) widths; the case goes on a second line.
_NARROW = {"statement": 36, "method": 7, "lhs": 13, "rhs": 13, "error": 8, "tol": 6}


def _terminal_width(width: int | None) -> int:
    return width or shutil.get_terminal_size((100, 24)).columns


def _narrow_rows(r: CheckRecord, total: int) -> list[str]:
    w = _NARROW
    first = (
        f"{_clip(r.statement, w['statement']):<{w['statement']}} {r.method:<{w['method']}} "
        f"{_clip(_value(r.lhs), w['lhs']):>{w['lhs']}} {_clip(_value(r.rhs), w['rhs']):>{w['rhs']}} "
        f"{_sci(r.error):>{w['error']}} {_sci(r.tolerance, 0):>{w['tol']}} {verdict(r)}"
    )
    case = textwrap.wrap(r.case, width=max(40, total - 4), break_long_words=True) or [""]
    return [first] + ["    " + line for line in case[:3]] + (["    …"] if len(case) > 3 else [])


def format_table(result: SuiteResult, *, skipped: bool = True, width: int | None = None, wide: bool = False) -> str:
    """The report table, grouped by theorem, then the skipped cases and the coverage matrix.

    ``width`` is the target line width (default: the terminal's, 100 when not a terminal).
    Below 140 columns each row takes two lines (the case wrapped under the numbers);
    ``wide`` prints every row on one line with nothing clipped.
    """
    total = _terminal_width(width)
    narrow = not wide and total < 140
    if narrow:
        w = _NARROW
        head = (
            f"{'statement / case':<{w['statement']}} {'method':<{w['method']}} {'lhs':>{w['lhs']}} "
            f"{'rhs':>{w['rhs']}} {'|error|':>{w['error']}} {'tol':>{w['tol']}} result"
        )
    else:
        w = _widths(total)
        if wide:
            w["case"] = max([len(r.case) for r in result.records] + [10])
            w["statement"] = max([len(r.statement) for r in result.records] + [10])
        head = (
            f"{'statement':<{w['statement']}} {'case':<{w['case']}} {'method':<{w['method']}} "
            f"{'lhs':>{w['lhs']}} {'rhs':>{w['rhs']}} {'|error|':>{w['error']}} {'tol':>{w['tol']}}  result"
        )
    rule = min(len(head), total) if not wide else len(head)
    lines = []
    for theorem in THEOREM_ORDER:
        rows = [r for r in result.records if r.theorem == theorem]
        if not rows:
            continue
        lines.append("")
        lines.append(f"== {theorem} " + "=" * max(4, rule - len(theorem) - 4))
        lines.append(head)
        for r in rows:
            if narrow:
                lines.extend(_narrow_rows(r, total))
                continue
            clip = (lambda text, n: text) if wide else _clip
            lines.append(
                f"{clip(r.statement, w['statement']):<{w['statement']}} "
                f"{clip(r.case, w['case']):<{w['case']}} {r.method:<{w['method']}} "
                f"{_clip(_value(r.lhs), w['lhs']):>{w['lhs']}} {_clip(_value(r.rhs), w['rhs']):>{w['rhs']}} "
                f"{_sci(r.error):>{w['error']}} {_sci(r.tolerance, 0):>{w['tol']}}  {verdict(r)}"
            )
    if skipped and result.skipped:
        lines.append("")
        lines.append(f"== skipped ({len(result.skipped)}) " + "=" * max(4, min(40, rule - 20)))
        for s in result.skipped:
            text = f"SKIP {s.id} [{s.method}] {s.case}: {s.reason}"
            lines.extend([text] if wide else textwrap.wrap(text, width=total - 1, subsequent_indent="    "))
    lines.append("")
    lines.append(format_coverage(coverage(result), width=None if wide else total))
    lines.append("")
    lines.append(format_registry_coverage(registry_coverage(result), width=None if wide else total))
    return "\n".join(lines).lstrip("\n")


def coverage(result: SuiteResult) -> list[dict]:
    """The coverage matrix: for every theorem of the paper and every precision, the number of
    rows (checks, not controls), the worst error and its tolerance, or why it does not apply.

    ``worst_error`` is the largest error/tolerance ratio's error (``inf`` for a crash);
    a cell with no row and no stated reason has ``rows = 0`` and is a hole.
    """
    out = []
    for theorem in COVERAGE_THEOREMS:
        for method in METHODS:
            rows = [r for r in result.records if r.theorem == theorem and r.method == method and not r.expected_to_fail]
            cell = {
                "theorem": theorem,
                "method": method,
                "rows": len(rows),
                "worst_error": None,
                "tolerance": None,
                "not_applicable": None,
            }
            if rows:

                def ratio(r):
                    if r.crashed is not None or not math.isfinite(r.error):
                        return math.inf
                    return r.error / r.tolerance if r.tolerance > 0 else (0.0 if r.error == 0 else math.inf)

                worst = max(rows, key=ratio)
                cell["worst_error"] = worst.error if math.isfinite(worst.error) else None
                cell["tolerance"] = worst.tolerance
                cell["passed"] = all(r.ok for r in rows)
            elif (theorem, method) in NOT_APPLICABLE:
                cell["not_applicable"] = NOT_APPLICABLE[theorem, method]
            else:
                skips = [s for s in result.skipped if s.theorem == theorem and s.method == method]
                if skips:
                    cell["not_applicable"] = f"skipped here: {skips[0].reason}"
            out.append(cell)
    return out


def format_coverage(cells: list[dict], *, width: int | None = None) -> str:
    """The coverage matrix as text: one line per theorem, ``rows: worst/tol`` per precision."""

    def text(c):
        if c["rows"]:
            err = "inf" if c["worst_error"] is None else _sci(c["worst_error"])
            return f"{c['rows']:>2}: {err}/{_sci(c['tolerance'], 0)}" + ("" if c.get("passed", True) else " ✗")
        if c["not_applicable"]:
            return "n/a*"
        return "— (none)"

    lines = [
        "== coverage (theorem × precision: rows: worst |error|/tol) " + "=" * 20,
        f"{'theorem':<10} " + " ".join(f"{m:<22}" for m in METHODS),
    ]
    notes = []
    for theorem in COVERAGE_THEOREMS:
        row = [c for c in cells if c["theorem"] == theorem]
        lines.append(f"{theorem:<10} " + " ".join(f"{text(c):<22}" for c in row))
        notes += [
            f"  * {theorem} / {c['method']}: n/a: {c['not_applicable']}"
            for c in row
            if not c["rows"] and c["not_applicable"]
        ]
    for note in notes:
        lines.extend([note] if width is None else textwrap.wrap(note, width=width - 1, subsequent_indent="      "))
    return "\n".join(lines)


def _names(case: str) -> set[str]:
    """The fields of a case (``;``-separated, stripped): a row names a registry entry by one of them."""
    return {part.strip() for part in case.split(";")}


def registry_coverage(result: SuiteResult) -> list[dict]:
    """Per registered estimator and noise process and per precision: the rows that name it (a
    field of their case), and, when a check found no independent twin of it, that reason.

    Each cell has ``kind`` (``estimator`` or ``noise process``), ``name``, ``method``, ``rows``
    (checks, not controls), ``passed``, ``not_applicable`` (the reason of a skip starting with
    :data:`proofs_check.twins.NO_TWIN`, else None) and ``skipped`` (another skip's reason when
    there is no row). The entries are read from the registries when the report is made, so one
    registered at run time has its line.
    """
    entries = [("estimator", s.name) for s in estimator_specs()] + [("noise process", n) for n in NOISE_PROCESSES]
    records = [(r, _names(r.case)) for r in result.records if not r.expected_to_fail]
    skips = [(s, _names(s.case)) for s in result.skipped]
    out = []
    for kind, name in entries:
        for method in METHODS:
            rows = [r for r, names in records if r.method == method and name in names]
            mine = [s.reason for s, names in skips if s.method == method and name in names]
            no_twin = [reason for reason in mine if reason.startswith(NO_TWIN)]
            out.append(
                {
                    "kind": kind,
                    "name": name,
                    "method": method,
                    "rows": len(rows),
                    "passed": all(r.ok for r in rows),
                    "not_applicable": no_twin[0] if no_twin else None,
                    "skipped": mine[0] if mine and not rows and not no_twin else None,
                }
            )
    return out


def format_registry_coverage(cells: list[dict], *, width: int | None = None) -> str:
    """The registry coverage as text: one line per entry, per precision its row count, ``n/a*``
    (no independent twin, reason below), ``skip*`` (skipped here, reason below) or ``-`` (no row)."""

    def text(c):
        parts = [f"{c['rows']}" + ("" if c["passed"] else " ✗")] if c["rows"] else []
        if c["not_applicable"]:
            parts.append("n/a*")
        elif c["skipped"]:
            parts.append("skip*")
        return " + ".join(parts) or "-"

    lines = [
        "== registry coverage (entry × precision: rows naming it) " + "=" * 22,
        f"{'entry':<42} " + " ".join(f"{m:<10}" for m in METHODS),
    ]
    notes = []
    keys = list(dict.fromkeys((c["kind"], c["name"]) for c in cells))
    for kind, name in keys:
        row = [c for c in cells if (c["kind"], c["name"]) == (kind, name)]
        lines.append(f"{kind + ' ' + name:<42} " + " ".join(f"{text(c):<10}" for c in row))
        notes += [f"  * {kind} {name} / {c['method']}: {c['not_applicable']}" for c in row if c["not_applicable"]]
        notes += [f"  * {kind} {name} / {c['method']}: skipped here: {c['skipped']}" for c in row if c["skipped"]]
    for note in notes:
        lines.extend([note] if width is None else textwrap.wrap(note, width=width - 1, subsequent_indent="      "))
    return "\n".join(lines)


def summary_line(result: SuiteResult) -> str:
    status = "OK" if result.ok else "FAILED"
    errors = f" ({result.n_errors} errors)" if result.n_errors else ""
    return (
        f"verify {status}: {result.n_passed} passed, {result.n_failed} failed{errors}, "
        f"{result.n_expected_failures} expected failures (negative controls), "
        f"{len(result.skipped)} skipped in {result.elapsed:.1f} s"
    )


def json_payload(result: SuiteResult, distributions) -> dict:
    """The ``--json`` document.

    ``distribution`` describes the distribution under test (the user's with ``--dist``;
    by default the dense-check distribution), ``distributions`` lists every one used.
    ``summary.failed`` counts checks out of tolerance plus controls that passed.
    """
    described = [d.describe() for d in distributions]
    return {
        "distribution": described[0],
        "distributions": described,
        "checks": [r.as_json() for r in result.records],
        "skipped": [s.as_json() for s in result.skipped],
        "coverage": [
            {k: c[k] for k in ("theorem", "method", "rows", "worst_error", "tolerance", "not_applicable")}
            for c in coverage(result)
        ],
        "registry_coverage": registry_coverage(result),
        "summary": {
            "passed": result.n_passed,
            "failed": result.n_failed,
            "errors": result.n_errors,
            "expected_failures": result.n_expected_failures,
            "skipped": len(result.skipped),
            "ok": result.ok,
            "elapsed_seconds": round(result.elapsed, 3),
        },
        "timings": {name: round(sec, 3) for name, sec in result.timings},
    }
