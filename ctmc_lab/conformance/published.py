"""The published table, printed and as JSON: ``ctmc-lab conform --published``.

The numbers are those of the study :func:`ctmc_lab.studies.published.published` (exact bias and
variance of every registered replica of a public evaluator on D128, MK4 pairs and the EOS chain);
this module lays them out: one table per case set, bias then variance, and the JSON record whose
fields ``docs/json_schemas.md`` documents (section ``conform --published``).

It also holds the evidence behind the replicas: ``data/published_evidence.json``, the outputs of
each project's own evaluator, run unmodified (outside this repository) against the exact denoiser
through the conformance adapters, beside the replica's exact mean on the same case
(:func:`load_evidence`, :func:`format_evidence`; ``docs/published.md`` shows the table).
"""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np

__all__ = ["format_published", "published_record", "load_evidence", "format_evidence", "EVIDENCE_FILE"]

#: The recorded runs of the public evaluators' own code (package data of ``ctmc_lab.conformance``).
EVIDENCE_FILE = "data/published_evidence.json"


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


def load_evidence() -> dict:
    """The recorded runs of the public evaluators' own code against the exact denoiser.

    Returns
    -------
    dict
        ``runs``: one entry per (evaluator, case): ``evaluator``, ``project``, ``file`` and
        ``function`` (the code run, as the replica cites it), ``entry_point`` (how it was called),
        ``configuration``, ``replica`` (a registered name) with ``replica_options`` (fields
        replaced, e.g. RADD's steps per run), ``case`` (a ``--case`` spec) with ``case_options``
        (arguments of its builder), ``commit``, ``n_runs``, ``seed``, ``mc_mean``, ``mc_se``,
        ``sample_variance``, ``exact_mean``, ``exact_variance`` (``None`` when infinite:
        ``exact_variance_infinite``), ``target`` (−log p(answer | prompt)), ``z`` =
        (mc_mean − exact_mean)/mc_se, ``z_target`` = (mc_mean − target)/mc_se (both ``None`` when their output has variance 0),
        ``versions``;
        ``lm_eval_plumbing``: the batch size lm-eval's command line hands to LLaDA's harness.
    """
    text = resources.files("ctmc_lab.conformance").joinpath(EVIDENCE_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def _their(r) -> str:
    """Their mean ± se and z; an output of variance 0 is the same number every run."""
    if r["mc_se"] == 0:
        return f"{r['mc_mean']:.4f} every run | –"
    return f"{r['mc_mean']:.4f} ± {r['mc_se']:.4f} | {r['z']:+.2f}"


def format_evidence(evidence: dict) -> str:
    """The evidence as a Markdown table (``docs/published.md``), then each evaluator's entry point and settings.

    Columns: the evaluator run, the registered replica, the case, runs, the replica's exact mean,
    their mean ± se, z against the exact mean, the replica's exact bias (exact mean − target) and
    z of their mean against the target (large where the replica is biased: their code shows it).
    """
    lines = [
        "| their code, run | replica | case | runs | exact mean | their mean ± se | z | exact bias | z vs target |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    described: dict = {}
    for r in evidence["runs"]:
        case = r["case"] + "".join(f", {k} = {v}" for k, v in r["case_options"].items())
        replica = r["replica"] + "".join(f" ({k} = {v})" for k, v in r["replica_options"].items())
        lines.append(
            f"| {r['evaluator']} | `{replica}` | {case} | {r['n_runs']} | {r['exact_mean']:.4f} | "
            f"{_their(r)} | {r['exact_mean'] - r['target']:+.4f} | "
            f"{'–' if r['z_target'] is None else format(r['z_target'], '+.1f')} |"
        )
        described.setdefault(r["evaluator"], r)
    lines += ["", "What each row ran (their function, called as shown, with these settings):", ""]
    for name, r in described.items():
        lines.append(
            f"* **{name}**: {r['project']} `{r['file']}` → `{r['function']}` @ `{r['commit'][:7]}`; run as "
            f"`{r['entry_point']}`; {r['configuration']}."
        )
    scored = [r for r in evidence["runs"] if r["z"] is not None]
    worst = max(scored, key=lambda r: abs(r["z"]))
    lines += [
        "",
        f"{len(evidence['runs'])} runs of {len(described)} evaluators on "
        f"{len({r['case'] for r in evidence['runs']})} cases; the largest |z| is {abs(worst['z']):.2f} "
        f"({worst['evaluator']}, {worst['case']}).",
    ]
    versions: dict = {}
    for r in evidence["runs"]:
        versions.update(r["versions"])
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "."]
    return "\n".join(lines)
