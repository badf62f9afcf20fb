"""The terminal table and the JSON document of a verification run.

Rows are grouped by theorem (in the paper's order). Each row shows the statement in a
few words, the case, the method, both sides, |error| and the tolerance in scientific
notation, and the verdict: ``pass``/``FAIL`` for a check, ``xfail ✓`` for a negative
control that failed as it must, ``XPASS ✗`` for a control that wrongly passed.
"""

from __future__ import annotations

import math
import shutil

from .framework import THEOREM_ORDER, CheckRecord
from .runner import SuiteResult

__all__ = ["format_table", "summary_line", "json_payload", "verdict"]

_WIDTHS = {"statement": 36, "case": 42, "method": 7, "lhs": 16, "rhs": 16, "error": 8, "tol": 7}


def verdict(rec: CheckRecord) -> str:
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


def format_table(result: SuiteResult, *, skipped: bool = True, width: int | None = None) -> str:
    """The report table, grouped by theorem, followed by the skipped cases and their reasons.

    ``width`` is the target line width (default: the terminal's, 160 when not a terminal).
    """
    w = _widths(width)
    head = (
        f"{'statement':<{w['statement']}} {'case':<{w['case']}} {'method':<{w['method']}} "
        f"{'lhs':>{w['lhs']}} {'rhs':>{w['rhs']}} {'|error|':>{w['error']}} {'tol':>{w['tol']}}  result"
    )
    lines = []
    for theorem in THEOREM_ORDER:
        rows = [r for r in result.records if r.theorem == theorem]
        if not rows:
            continue
        lines.append("")
        lines.append(f"== {theorem} " + "=" * max(4, len(head) - len(theorem) - 4))
        lines.append(head)
        for r in rows:
            lines.append(
                f"{_clip(r.statement, w['statement']):<{w['statement']}} "
                f"{_clip(r.case, w['case']):<{w['case']}} {r.method:<{w['method']}} "
                f"{_clip(_value(r.lhs), w['lhs']):>{w['lhs']}} {_clip(_value(r.rhs), w['rhs']):>{w['rhs']}} "
                f"{_sci(r.error):>{w['error']}} {_sci(r.tolerance, 0):>{w['tol']}}  {verdict(r)}"
            )
    if skipped and result.skipped:
        lines.append("")
        lines.append(f"== skipped ({len(result.skipped)}) " + "=" * 40)
        for s in result.skipped:
            lines.append(f"SKIP {s.id} [{s.method}] {s.case}: {s.reason}")
    return "\n".join(lines).lstrip("\n")


def summary_line(result: SuiteResult) -> str:
    status = "OK" if result.ok else "FAILED"
    return (
        f"verify {status}: {result.n_passed} passed, {result.n_failed} failed, "
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
        "summary": {
            "passed": result.n_passed,
            "failed": result.n_failed,
            "expected_failures": result.n_expected_failures,
            "skipped": len(result.skipped),
            "ok": result.ok,
            "elapsed_seconds": round(result.elapsed, 3),
        },
        "timings": {name: round(sec, 3) for name, sec in result.timings},
    }
