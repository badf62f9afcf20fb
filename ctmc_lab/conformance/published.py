"""The published table, printed and as JSON: ``ctmc-lab conform --published``.

The numbers are those of the study :func:`ctmc_lab.studies.published.published` (exact bias and
variance of every registered replica of a public evaluator on D128, MK4 pairs and the EOS chain);
this module lays them out: one table per case set, bias then variance, and the JSON record whose
fields ``docs/json_schemas.md`` documents (section ``conform --published``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["format_published", "published_record"]


def _rows(result) -> list[dict]:
    """The table's rows as dicts of Python numbers (its verdict column included)."""
    T = result.table
    return [{k: T[k][i].item() if hasattr(T[k][i], "item") else T[k][i] for k in T} for i in range(T["replica"].size)]


#: Below this |value| a printed bias is 0: the float64 sums of an unbiased replica (about 1e-15).
ZERO = 1e-12


def _num(x, fmt) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return format(0.0 if abs(x) < ZERO else x, fmt)


def _grid(rows, kind, field, fmt, width):
    """Lines of one case set: a row per replica, a column per answer length."""
    ns = sorted({r["n"] for r in rows if r["case_set"] == kind})
    names = list(dict.fromkeys(r["replica"] for r in rows))
    head = f"  {'replica':<26}" + "".join(f"{'n=' + str(n):>{width}}" for n in ns)
    out = [head]
    for name in names:
        cells = {r["n"]: r for r in rows if r["replica"] == name and r["case_set"] == kind}
        out.append(
            f"  {name:<26}"
            + "".join(f"{_num(cells[n][field] if cells[n]['cases'] else None, fmt):>{width}}" for n in ns)
        )
    return out


def format_published(result) -> str:
    """The printed table of a :func:`~ctmc_lab.studies.published.published` result."""
    rows, meta = _rows(result), result.meta
    lines = [
        "The public evaluators' replicas, exact for the optimal denoiser (bias = exact mean - target, nats;",
        "variance = exact variance of one run's output, nats²; '-' = not computed, see --full).",
        "",
        "D128 (128 rows, the answer is the whole row, n = 8):",
        f"  {'replica':<26}{'bias mean':>11}{'min':>10}{'max':>10}{'variance':>11}{'inf':>5}  verdict",
    ]
    d128 = [r for r in rows if r["case_set"] == "dna128"]
    for r in d128:
        lines.append(
            f"  {r['replica']:<26}{_num(r['bias_mean'], '+.5f'):>11}{_num(r['bias_min'], '+.4f'):>10}"
            f"{_num(r['bias_max'], '+.4f'):>10}{_num(r['variance_mean'], '.4g'):>11}{r['infinite_variance']:>5}"
            f"  {r['verdict']}"
        )
    for kind, title in (
        ("mk4", "MK4 prompt(16) + answer(n) pairs"),
        ("eos", "EOS chain: prompt(8) + answer(n) + end symbol + padding"),
    ):
        if not any(r["case_set"] == kind for r in rows):
            continue
        pairs = max(r["cases"] + r["skipped"] for r in rows if r["case_set"] == kind)
        lines += ["", f"{title}, mean exact bias over {pairs} pairs (nats):"]
        lines += _grid(rows, kind, "bias_mean", "+.3f", 8)
        lines += ["", f"{title}, mean exact variance of one run (nats²):"]
        lines += _grid(rows, kind, "variance_mean", ".3g", 8)
    lines += ["", "Evaluators (registry name: code, settings):"]
    for name, m in meta.items():
        c = m["code"]
        lines.append(f"  {name}: {c['repo']} {c['path']} → {c['function']} @ {c['commit'][:7]}; {m['config']}")
    return "\n".join(lines)


def published_record(result, *, settings: dict) -> dict:
    """The ``ctmc-lab conform --published --json`` record (``docs/json_schemas.md``)."""
    out_rows = []
    for r in _rows(result):
        # JSON has no NaN or infinity: null where not computed or infinite (``infinite_variance`` counts the latter).
        out_rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()})
    return {
        "command": "conform",
        "published": True,
        "settings": settings,
        "replicas": {
            name: {k: m[k] for k in ("label", "code", "config", "cause", "scope")} for name, m in result.meta.items()
        },
        "rows": out_rows,
        "versions": {"numpy": np.__version__},
    }
