"""The report of :func:`ctmc_lab.conformance.oracle.check`: verdicts, the report record and its printed table.

:class:`Verdict` is one contract's outcome and :class:`ConformanceReport` everything a check found
(fields documented in ``docs/json_schemas.md``, section ``conform``); :func:`holm` and
:func:`adjust` correct the p-values of one report or of several together; :func:`hill_tail_index`
is the heavy-tail statistic of the outputs; :func:`format_report` the printed table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ctmc_lab.io import write_json

__all__ = ["Verdict", "ConformanceReport", "holm", "adjust", "hill_tail_index", "format_report"]


@dataclass(frozen=True)
class Verdict:
    """One contract's outcome.

    Attributes
    ----------
    contract : str
    passed : bool
    p_value : float
        Uncorrected.
    p_holm : float
        Holm-corrected over the contracts of the report (or of a sweep).
    statistic : float or None
        z (mean tests), χ² (mask laws), the tail index (finite variance).
    detail : str
    nearest : str or None
        For a failed mean contract: the nearest listed contract that holds.
    """

    contract: str
    passed: bool
    p_value: float
    p_holm: float
    statistic: float | None
    detail: str
    nearest: str | None = None

    def as_json(self) -> dict:
        return {
            "contract": self.contract,
            "passed": self.passed,
            "p_value": self.p_value,
            "p_holm": self.p_holm,
            "statistic": self.statistic,
            "detail": self.detail,
            "nearest": self.nearest,
        }


@dataclass(eq=False)
class ConformanceReport:
    """What :func:`~ctmc_lab.conformance.oracle.check` found. Fields are documented in ``docs/json_schemas.md`` (``conform``)."""

    case: dict
    targets: dict
    target_values: dict
    target_mp: str | None
    n_runs: int
    seed: int
    alpha: float
    values: np.ndarray = field(repr=False)
    mc_mean: float
    mc_se: float
    sample_variance: float
    reference: str | None
    exact_mean: float | None
    exact_variance: float | None
    z_target: dict
    z_exact: float | None
    variance_ratio: float | None
    variance_z: float | None
    tail_index: float | None
    heavy_tail: bool
    variance_by_runs: dict
    calls: dict | None
    mask_law: dict | None
    detected: dict | None
    plugin: dict | None
    verdicts: list
    failure: str | None
    versions: dict
    precision: str

    @property
    def passed(self) -> bool:
        """Every contract holds and the evaluator ran to the end."""
        return self.failure is None and all(v.passed for v in self.verdicts)

    def to_json(self, path=None) -> dict:
        """The report as a JSON-ready dict; written atomically to ``path`` when given."""
        record = {
            "case": self.case,
            "targets": self.targets,
            "target_values": self.target_values,
            "target_mp": self.target_mp,
            "n_runs": self.n_runs,
            "seed": self.seed,
            "alpha": self.alpha,
            "passed": self.passed,
            "failure": self.failure,
            "mc_mean": self.mc_mean,
            "mc_se": self.mc_se,
            "sample_variance": self.sample_variance,
            "reference": self.reference,
            "exact_mean": self.exact_mean,
            "exact_variance": self.exact_variance,
            "z_target": self.z_target,
            "z_exact": self.z_exact,
            "variance_ratio": self.variance_ratio,
            "variance_z": self.variance_z,
            "tail_index": self.tail_index,
            "heavy_tail": self.heavy_tail,
            "variance_by_runs": self.variance_by_runs,
            "calls": self.calls,
            "mask_law": self.mask_law,
            "detected": self.detected,
            "plugin": self.plugin,
            "verdicts": [v.as_json() for v in self.verdicts],
            "values": self.values.tolist(),
            "precision": self.precision,
            "versions": self.versions,
        }
        if path is not None:
            write_json(path, record, what="the report")
        return record

    def __str__(self) -> str:
        return format_report(self)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment: p_(i) ← max_{j ≤ i} min(1, (m - j + 1) p_(j)).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def adjust(reports, alpha: float) -> None:
    """Holm-correct the contracts of several reports together (a sweep, several cases), in place."""
    flat = [(i, j) for i, r in enumerate(reports) for j in range(len(r.verdicts))]
    adjusted = holm([reports[i].verdicts[j].p_value for i, j in flat]) if flat else []
    for (i, j), p_h in zip(flat, adjusted):
        v = reports[i].verdicts[j]
        passed = reports[i].failure is None and bool(p_h >= alpha)
        reports[i].verdicts[j] = Verdict(v.contract, passed, v.p_value, float(p_h), v.statistic, v.detail, v.nearest)


def hill_tail_index(values, k: int | None = None) -> tuple[float, float]:
    """Hill's estimate of the tail index α of |v - median| and the p-value of H0: α ≥ 2.

    With the k largest deviations, H = mean log(X_(i)/X_(k+1)) and α̂ = 1/H; for a Pareto tail of
    index α, k α H ~ Gamma(k, 1), so P(Gamma(k, 1) ≥ 2 k H) is the p-value at the boundary α = 2
    (infinite variance below it). Light tails give α̂ ≫ 2 and p ≈ 1.
    """
    v = np.abs(np.asarray(values, dtype=float) - np.median(values))
    v = np.sort(v[v > 0])[::-1]
    k = max(10, int(math.sqrt(v.size))) if k is None else int(k)
    if v.size <= k + 1:
        return float("inf"), 1.0
    H = float(np.mean(np.log(v[:k] / v[k])))
    if H <= 0:
        return float("inf"), 1.0
    return 1.0 / H, float(stats.gamma.sf(2.0 * k * H, k))


def _num(x, digits=6) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def format_report(r: ConformanceReport) -> str:
    """The printed table of a report."""
    lines = [f"conformance: {r.case['name']} — {r.n_runs} runs, seed {r.seed}, α = {r.alpha:g}, {r.precision}"]
    if r.failure:
        lines.append(f"  FAILED TO RUN: {r.failure}")
    lines.append(
        "  targets: "
        + ", ".join(f"{k} {_num(v)}" for k, v in r.targets.items())
        + (f"; mpmath {r.target_mp[:22]}" if r.target_mp else "")
    )
    if r.values.size:
        lines.append(
            f"  outputs: mean {_num(r.mc_mean)} ± {_num(r.mc_se, 3)} (se), variance {_num(r.sample_variance, 4)}"
        )
        if r.reference:
            lines.append(
                f"  reference {r.reference}: exact mean {_num(r.exact_mean)}, variance {_num(r.exact_variance, 4)}"
                f"; z {_num(r.z_exact, 3)}; variance ratio {_num(r.variance_ratio, 3)}"
            )
        tail = f"tail index {_num(r.tail_index, 3)}" + (" (heavy tail)" if r.heavy_tail else "")
        lines.append(
            f"  {tail}; variance by runs {', '.join(f'{k}: {_num(v, 3)}' for k, v in r.variance_by_runs.items())}"
        )
    if r.calls:
        c = r.calls
        lines.append(
            f"  calls {c['calls']}, rows {c['rows']} (per call {c['rows_per_call'][:6]}), impossible {c['impossible_rows']}, "
            f"off-case {c['off_case_rows']}, prompt masked in {c['prompt_masked_rows']}"
        )
    if r.detected:
        d = r.detected
        lines.append(
            f"  masks: identical pairs in calls {d['identical_pairs']} ({_num(d['expected_pairs'], 3)} expected, "
            f"p {_num(d['shared_p'], 3)}); stratified p {_num(d['stratified_p'], 3)}; calls repeating masks "
            f"{d['repeated_calls']} (p {_num(d['repeated_calls_p'], 3)})"
        )
    if r.mask_law:
        tests = ", ".join(f"{k} p={_num(v['p_value'], 3)}" for k, v in r.mask_law.items() if isinstance(v, dict))
        lines.append(f"  mask law {r.mask_law['law']}: {tests}")
    if r.plugin:
        lines.append(
            f"  plug-in ({r.plugin['law']}): mean {_num(r.plugin['mean'])}, "
            f"max |output - plug-in| {_num(r.plugin['max_abs_difference'], 3)}"
        )
    width = max([len(v.contract) for v in r.verdicts] + [8])
    for v in r.verdicts:
        mark = "PASS" if v.passed else "FAIL"
        lines.append(f"  {mark}  {v.contract:<{width}}  p_holm {_num(v.p_holm, 3):>9}  {v.detail}")
        if v.nearest:
            lines.append(f"        nearest that holds: {v.nearest}")
    return "\n".join(lines)
