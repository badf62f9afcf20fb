"""``check``: run a user's evaluator many times on an exact case and say whether it keeps its contract.

``run(seed)`` is the user's code, unmodified, behind a seed (it calls an adapter of
:mod:`ctmc_lab.conformance.adapters` wherever it would call its network). :func:`check` runs it
``n_runs`` times with seeds from one ``SeedSequence`` and returns a :class:`ConformanceReport`:

* the exact target (float64; mpmath on request) and, with a reference, the evaluator's exact
  mean and variance (:mod:`ctmc_lab.conformance.references`);
* the Monte Carlo mean ± standard error of the outputs, z against the target and against the
  exact mean, sample against exact variance, and a heavy-tail flag (Hill's tail index);
* from the call log: calls, rows, impossible contexts, the realised mask law against the
  declared one, shared masks and stratification, and the plug-in exact output given the masks;
* a verdict per contract with Holm-corrected p-values, and the nearest contract that holds.

Statistics. The mean is tested with Student's t on the sample standard error (two-sided for
:class:`~ctmc_lab.conformance.contracts.Unbiased`, one-sided for an upper bound); mask laws with χ²;
finite variance exactly from a reference, else by the tail index (H0: α ≥ 2, Hill's statistic
k α H ~ Gamma(k, 1)). The p-values of one report are Holm-corrected together and a contract fails
when its corrected p-value is below ``alpha`` (default 1e-6, the level of ``ctmc-lab verify``).

An evaluator that raises, returns a non-number, NaN or infinity, runs past ``timeout`` or calls the
model with a wrong shape or id ends the check at once: the report's ``failure`` says what
happened in one line and every contract fails.
"""

from __future__ import annotations

import math
import platform
import signal
import sys
import threading

import numpy as np
from scipy import stats

from ctmc_lab.conformance import contracts as _c
from ctmc_lab.conformance.calllog import ModelCallError
from ctmc_lab.conformance.masklaw import detect, law_tests
from ctmc_lab.conformance.references import ExactMoments, as_reference, llada_rule, truncated_lambda
from ctmc_lab.conformance.report import ConformanceReport, Verdict, adjust, format_report, hill_tail_index, holm

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_RUNS",
    "Verdict",
    "ConformanceReport",
    "check",
    "holm",
    "adjust",
    "hill_tail_index",
    "format_report",
]

#: The default level: a contract fails when its Holm-corrected p-value is below it.
DEFAULT_ALPHA = 1e-6
#: Runs of the evaluator by default.
DEFAULT_RUNS = 200
#: Default tolerance of :class:`~ctmc_lab.conformance.contracts.Exact`, relative, per precision.
EXACT_TOLERANCE = {"float64": 1e-9, "float32": 1e-4, "bfloat16": 2e-2}
#: Rounding slack of every mean test, relative to max(1, |target|), per precision of the model's
#: values: a mean within it of the target is not evidence of bias (an evaluator of zero variance,
#: an answer of one token, has a standard error of rounding noise only). bfloat16 keeps 8
#: significant bits, so one log-probability is off by up to 2^-9 of itself.
ROUNDING_SLACK = {"float64": 1e-12, "float32": 1e-6, "bfloat16": 4e-3}


def _versions() -> dict:
    import scipy

    import ctmc_lab

    out = {"ctmc_lab": ctmc_lab.__version__, "numpy": np.__version__, "scipy": scipy.__version__}
    out["python"] = platform.python_version()
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = getattr(torch, "__version__", "?")
    return out


class _Timeout(Exception):
    pass


class _NotANumber(Exception):
    """The evaluator returned something that is not one number (the message says what)."""


def _call(run, seed, timeout):
    """``run(seed)`` under a wall-clock budget (SIGALRM, main thread only; no budget elsewhere)."""
    if timeout is None or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        return run(seed)

    def alarm(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, float(timeout))
    try:
        return run(seed)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _as_number(value) -> float:
    """A scalar output as a float; a tensor or array of one element is accepted."""
    if isinstance(value, bool):
        raise _NotANumber("a bool")
    item = getattr(value, "item", None)
    size = getattr(value, "numel", None)
    n = size() if callable(size) else getattr(value, "size", 1)
    if item is not None and n == 1:
        value = item()
    if not isinstance(value, (int, float, np.integer, np.floating)):
        shape = getattr(value, "shape", None)
        what = f"an array of shape {tuple(shape)}" if shape is not None else type(value).__name__
        raise _NotANumber(what)
    return float(value)


def _logs(model) -> list:
    if model is None:
        return []
    models = model if isinstance(model, (list, tuple)) else [model]
    out = []
    for m in models:
        log = getattr(m, "log", None)
        if log is None:
            raise ValueError(f"`model` must be an adapter or ExactModel with a call log (got {type(m).__name__})")
        out.append(log)
    return out


def _shared_across(a, b) -> float | None:
    """The fraction of rows whose answer mask equals the mask of the same row of the same call of
    the same run in the other model's log (1: coupled masks, as VRPO shares them; near the
    collision rate: independent)."""
    same = total = 0
    runs_b = b.runs()
    for run, calls in a.runs().items():
        for ca, cb in zip(calls, runs_b.get(run, [])):
            if run >= 0 and ca.rows == cb.rows:
                same += int(np.sum(ca.answer_masks == cb.answer_masks))
                total += ca.rows
    return same / total if total else None


def _precision(model) -> str:
    models = [] if model is None else (model if isinstance(model, (list, tuple)) else [model])
    order = {"float64": 0, "float32": 1, "bfloat16": 2}
    found = [getattr(getattr(m, "exact", m), "precision", "float64") for m in models]
    return max(found, key=order.__getitem__) if found else "float64"


def _t_p(z: float, df: int, *, side: str = "two") -> float:
    if side == "two":
        return float(min(1.0, 2.0 * stats.t.sf(abs(z), df)))
    return float(stats.t.cdf(z, df))  # "below": small when the mean is significantly below


# ======================================================================= the contracts' tests
def _mean_test(relation, case, mean, se, n, values, precision):
    """(p, statistic, detail) of a mean relation."""
    t = relation.target(case)
    if isinstance(relation, _c.Exact):
        tol = (relation.tol if relation.tol is not None else EXACT_TOLERANCE[precision]) * max(1.0, abs(t))
        worst = float(np.max(np.abs(values - t)))
        return (1.0 if worst <= tol else 0.0), worst, f"max |output - {t:.6g}| = {worst:.3g} (tolerance {tol:.2g})"
    centre = t + (relation.bias if isinstance(relation, _c.Biased) else 0.0)
    slack = ROUNDING_SLACK[precision] * max(1.0, abs(centre))
    tol = (getattr(relation, "tol", 0.0) or 0.0) + slack
    diff = mean - centre
    if isinstance(relation, _c.UpperBound):
        z = min(0.0, diff + slack) / se if se > 0 else (0.0 if diff + slack >= 0 else -np.inf)
        return _t_p(z, n - 1, side="below"), z, f"mean - target = {diff:+.4g} ({_se_text(diff, se)})"
    excess = max(0.0, abs(diff) - tol)
    if se == 0:
        return (1.0 if excess == 0 else 0.0), None, f"zero sample variance; mean - {centre:.6g} = {diff:.3g}"
    where = f"target {t:.6g}" + (f" + bias {relation.bias:+.4g}" if isinstance(relation, _c.Biased) else "")
    return _t_p(excess / se, n - 1), diff / se, f"mean - ({where}) = {diff:+.4g} ({_se_text(diff, se)})"


def _se_text(diff, se) -> str:
    return f"{diff / se:+.2f} se" if se > 0 else "zero variance"


def _candidates(case, relation, reference):
    """(label, exact mean) of the contracts the nearest-contract search tries, in the target's units."""
    scale = relation.target.scale(case) if getattr(relation, "target", None) is not None else 1.0
    out = []
    for name in ("cond_nll", "joint_nll", "cond_nll_rest", "nll"):
        try:
            out.append((f"unbiased for {name}", case.target(name) * scale))
        except ValueError:
            continue
        if scale == 1.0:
            for per in ("answer", "row"):
                tgt = _c.per_token(name, per=per)
                out.append((f"unbiased for {tgt.name}", tgt(case)))
    if case.n >= 2:
        last = case.answer[-1:]
        from ctmc_lab.estimation.conditional import conditional_nll

        try:
            value = conditional_nll(
                case.source, case.x, target=list(case.answer[:-1]), context=list(case.prompt + last)
            )
            out.append(("unbiased for -log p(y_<n | x, y_n) (the last answer token never masked)", value * scale))
        except ValueError:
            pass
    refs = [llada_rule(b) for b in (8, 16, 32, 64)]
    refs += [truncated_lambda(e, correct=c) for e in (1e-3, 1e-2, 0.05, 0.1, 0.2) for c in (False, True)]
    if reference is not None:
        refs.insert(0, reference)
    for ref in refs:
        try:
            m = ref.moments(case)
        except ValueError:
            continue
        label = f"matches {ref.name}"
        out.append((label, m.mean * (1.0 if ref is reference else scale)))
    return out


def _nearest(case, relation, reference, mean, se, n, alpha, failing_label, precision):
    """The listed contract whose exact mean is closest to the sample mean, if one holds."""
    if se == 0:
        return None
    best = None
    for label, value in _candidates(case, relation, reference):
        if not np.isfinite(value) or label.endswith(failing_label.replace("unbiased for ", "")):
            continue
        excess = max(0.0, abs(mean - value) - ROUNDING_SLACK[precision] * max(1.0, abs(value)))
        z = excess / se
        if _t_p(z, n - 1) >= alpha and (best is None or z < best[1]):
            best = (label, z)
    if best is None:
        return None
    return f"{best[0]} within {abs(best[1]):.1f} se"


# ======================================================================================= check
def check(
    run,
    case,
    contract,
    *,
    n_runs: int = DEFAULT_RUNS,
    seed: int = 0,
    reference=None,
    model=None,
    alpha: float = DEFAULT_ALPHA,
    timeout: float | None = None,
    precision: str = "float64",
    progress=None,
) -> ConformanceReport:
    """Run ``run(seed)`` ``n_runs`` times on ``case`` and test ``contract``.

    Parameters
    ----------
    run : callable
        ``run(seed) -> float``: the user's evaluator behind a seed (an int in 0..2**32 - 1).
    case : Case
    contract : contract, string, or a list of them
        :mod:`ctmc_lab.conformance.contracts` (``"unbiased:cond_nll"``, ``Unbiased(per_token("cond_nll"))``, ...).
    n_runs : int, default 200
    seed : int, default 0
        The root of the ``SeedSequence`` whose ``n_runs`` 32-bit words seed the runs.
    reference : Reference, optional
        The evaluator's exact twin (:mod:`ctmc_lab.conformance.references`): its exact mean and
        variance enter the report, "matches the reference" becomes a contract, and its mask law
        (if any) is tested on the call log.
    model : adapter, ExactModel, or a list of them, optional
        The models ``run`` calls: their call logs give the mask-law tests, the counts and the
        plug-in value. Cleared at the start.
    alpha : float, default 1e-6
        Contracts fail below this Holm-corrected p-value.
    timeout : float, optional
        Seconds one run may take (SIGALRM in the main thread).
    precision : {"float64", "mpmath"}
        ``"mpmath"`` adds the target to 50 digits (``Case.target_mp``).
    progress : callable, optional
        Called with the number of runs done after each run.

    Returns
    -------
    ConformanceReport

    Examples
    --------
    >>> from ctmc_lab.conformance import cases, make_adapter
    >>> case = cases.dna128(0)
    >>> model = make_adapter(case, "hf", backend="numpy")
    >>> def run(seed):                                    # an exact chain rule, left to right
    ...     row, total = model.view().input_ids.copy(), 0.0
    ...     row[:] = model.mask_id
    ...     for i in range(8):
    ...         out = model(row[None]).logits[0, i]
    ...         total -= out[case.x[i]]
    ...         row[i] = case.x[i]
    ...     return total
    >>> report = check(run, case, "exact:cond_nll", n_runs=3, model=model)
    >>> report.passed, report.calls["rows"]
    (True, 24)
    """
    n_runs = int(n_runs)
    if n_runs < 2:
        raise ValueError(f"`n_runs` must be at least 2 (got {n_runs})")
    if not callable(run):
        raise ValueError("`run` must be callable: run(seed) -> float")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"`alpha` must lie in (0, 1) (got {alpha!r})")
    if precision not in ("float64", "mpmath"):
        raise ValueError(f"`precision` must be 'float64' or 'mpmath' (got {precision!r})")
    if timeout is not None and not float(timeout) > 0:
        raise ValueError(f"`timeout` must be positive (got {timeout!r})")
    relations = [_c.parse_contract(c) for c in (contract if isinstance(contract, (list, tuple)) else [contract])]
    if not relations:
        raise ValueError("`contract` must name at least one contract")
    reference = None if reference is None else as_reference(reference)
    logs = _logs(model)
    if any(isinstance(r, _c.DeclaredLaw) for r in relations) and not logs:
        raise ValueError("a mask-law contract needs the model's call log: pass `model=` (the adapter `run` calls)")
    for log in logs:
        log.clear()
    seeds = [int(s) for s in np.random.SeedSequence(int(seed)).generate_state(n_runs)]
    values, failure = [], None
    for i, s in enumerate(seeds):
        for log in logs:
            log.begin_run(i)
        try:
            values.append(_as_number(_call(run, s, timeout)))
        except _Timeout:
            failure = f"the evaluator did not return within {float(timeout):g} s (run {i}, seed {s})"
        except ModelCallError as err:
            failure = f"{err} (run {i}, seed {s})"
        except _NotANumber as err:
            failure = f"the evaluator returned {err}, not a number (run {i}, seed {s})"
        except KeyboardInterrupt:
            raise
        except Exception as err:  # the user's code: any error becomes the verdict, never a traceback
            called = next((log.error for log in logs if log.error), None)
            failure = called or f"the evaluator raised {type(err).__name__}: {err} (run {i}, seed {s})"
        else:
            if not math.isfinite(values[-1]):
                failure = f"the evaluator returned {values[-1]} (run {i}, seed {s})"
        if failure is None and logs and any(log.error for log in logs):
            failure = next(log.error for log in logs if log.error) + " (the evaluator caught the error and went on)"
        if progress is not None:
            progress(i + 1)
        if failure is not None:
            break
    for log in logs:
        log.begin_run(-1)
    return _report(values, failure, case, relations, reference, logs, model, n_runs, int(seed), float(alpha), precision)


def _report(values, failure, case, relations, reference, logs, model, n_runs, seed, alpha, precision):
    vals = np.asarray(values if failure is None else [], dtype=float)
    n = vals.size
    targets = {name: case.target(name) for name in ("nll", "joint_nll", "cond_nll", "cond_nll_rest")}
    target_mp = None
    if precision == "mpmath":
        first = next((r.target for r in relations if getattr(r, "target", None) is not None), None)
        base = getattr(first, "base", None) or "cond_nll"
        target_mp = case.target_mp(base)
    mean = float(vals.mean()) if n else float("nan")
    var = float(vals.var(ddof=1)) if n > 1 else float("nan")
    se = math.sqrt(var / n) if n > 1 else float("nan")
    exact = ExactMoments(float("nan"), None)
    if reference is not None:
        exact = reference.moments(case)
    target_values = {r.target.name: r.target(case) for r in relations if getattr(r, "target", None) is not None}
    z_target = {k: (mean - v) / se if n > 1 and se > 0 else None for k, v in target_values.items()}
    z_exact = variance_ratio = variance_z = None
    if reference is not None and n:
        ev = exact.variance
        exact_se = math.sqrt(ev / n) if ev is not None and np.isfinite(ev) and ev > 0 else se
        z_exact = (mean - exact.mean) / exact_se if exact_se > 0 else None
        if ev is not None and np.isfinite(ev) and ev > 0 and n > 3:
            variance_ratio = var / ev
            m4 = float(np.mean((vals - mean) ** 4))
            var_of_var = max((m4 - var**2 * (n - 3) / (n - 1)) / n, 1e-300)
            variance_z = (var - ev) / math.sqrt(var_of_var)
    tail, tail_p = hill_tail_index(vals) if n >= 20 else (None, 1.0)
    by_runs = {str(k): float(vals[:k].var(ddof=1)) for k in (n // 4, n // 2, n) if k >= 2} if n else {}
    heavy = bool(tail is not None and tail < 3.0)
    # the mask law and the plug-in value
    law = next((r.law for r in relations if isinstance(r, _c.DeclaredLaw)), None)
    law_scale = next((r.scale for r in relations if isinstance(r, _c.DeclaredLaw)), 1.0)
    if law is None and reference is not None and hasattr(reference, "mask_law"):
        law = reference.mask_law(case)
    calls = mask = detected = plugin = None
    if logs:
        log = logs[0]
        calls = log.summary()
        if len(logs) > 1:
            calls["models"] = [lg.summary() for lg in logs]
            calls["shared_across_models"] = _shared_across(logs[0], logs[1])
        if law is not None and not failure:
            mask = law_tests(log, law, case.n)
        detected = detect(log, case.n) if not failure else None
        if law is not None and law.weight is not None and not failure and n:
            pv = log.plugin_values(law.weight, case.n, scale=law_scale)
            pvals = np.array([pv.get(i, np.nan) for i in range(n)])
            plugin = {
                "law": law.name,
                "mean": float(np.mean(pvals)),
                "max_abs_difference": float(np.max(np.abs(vals - pvals))),
            }
    # verdicts
    model_precision = _precision(model)
    raw = []
    for r in relations:
        raw.append(_verdict(r, case, vals, mean, se, n, model_precision, exact, reference, mask, plugin, tail_p, tail))
    if reference is not None and n:
        raw.append(_reference_verdict(reference, exact, mean, se, n, model_precision))
    adjusted = holm([p for _, p, *_ in raw]) if raw else []
    verdicts = []
    for (label, p, stat, detail, relation), p_h in zip(raw, adjusted):
        passed = failure is None and bool(p_h >= alpha)
        nearest = None
        if not passed and failure is None and isinstance(relation, _c.Relation) and n:
            nearest = _nearest(case, relation, reference, mean, se, n, alpha, label, model_precision)
        verdicts.append(Verdict(label, passed, float(p), float(p_h), stat, failure or detail, nearest))
    return ConformanceReport(
        case=case.describe(),
        targets=targets,
        target_values=target_values,
        target_mp=target_mp,
        n_runs=n_runs,
        seed=seed,
        alpha=alpha,
        values=vals,
        mc_mean=mean,
        mc_se=se,
        sample_variance=var,
        reference=None if reference is None else reference.name,
        exact_mean=None if reference is None else exact.mean,
        exact_variance=None if reference is None else exact.variance,
        z_target=z_target,
        z_exact=z_exact,
        variance_ratio=variance_ratio,
        variance_z=variance_z,
        tail_index=tail,
        heavy_tail=heavy,
        variance_by_runs=by_runs,
        calls=calls,
        mask_law=mask,
        detected=detected,
        plugin=plugin,
        verdicts=verdicts,
        failure=failure,
        versions=_versions(),
        precision=model_precision,
    )


def _verdict(r, case, vals, mean, se, n, precision, exact, reference, mask, plugin, tail_p, tail):
    """(label, p, statistic, detail, relation) of one contract."""
    if not n:
        return (r.label, 0.0, None, "", r)
    if isinstance(r, _c.FiniteVariance):
        if reference is not None and exact.variance is not None:
            finite = bool(np.isfinite(exact.variance))
            return (r.label, 1.0 if finite else 0.0, exact.variance, f"exact variance {exact.variance:.4g}", r)
        where = f"Hill tail index {tail:.2f}" if tail is not None else "too few runs for a tail index"
        return (r.label, tail_p, tail, f"{where} (H0: α ≥ 2)", r)
    if isinstance(r, _c.DeclaredLaw):
        tests = {k: v for k, v in (mask or {}).items() if isinstance(v, dict)}
        ps = [v["p_value"] for v in tests.values()]
        p = min(1.0, min(ps) * len(ps)) if ps else 1.0
        worst = min(tests, key=lambda k: tests[k]["p_value"]) if tests else None
        detail = f"lowest: {worst} (p = {tests[worst]['p_value']:.3g}, {tests[worst]['what']})" if worst else "no rows"
        if plugin is not None:
            tol = EXACT_TOLERANCE[precision] * max(1.0, abs(plugin["mean"]))
            gap = plugin["max_abs_difference"]
            if not gap <= tol:
                p = 0.0
            detail += f"; outputs vs the declared weighting of their masks: max |Δ| = {gap:.3g}"
        return (r.label, p, None, detail, r)
    p, stat, detail = _mean_test(r, case, mean, se, n, vals, precision)
    return (r.label, p, stat, detail, r)


def _reference_verdict(reference, exact, mean, se, n, precision):
    """Mean against the reference's exact mean, with its exact standard error when finite."""
    label = f"matches {reference.name}"
    ev = exact.variance
    exact_se = math.sqrt(ev / n) if ev is not None and np.isfinite(ev) and ev > 0 else se
    diff = mean - exact.mean
    excess = max(0.0, abs(diff) - ROUNDING_SLACK[precision] * max(1.0, abs(exact.mean)))
    if not exact_se > 0:
        return (label, 1.0 if excess == 0 else 0.0, None, f"zero variance; mean - exact mean = {diff:.3g}", None)
    p = float(min(1.0, 2.0 * stats.norm.sf(excess / exact_se)))
    detail = f"mean - exact mean {exact.mean:.6g} = {diff:+.4g} ({diff / exact_se:+.2f} exact se)"
    return (label, p, diff / exact_se, detail, None)
