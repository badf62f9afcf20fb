"""Rows of ``ctmc-lab verify`` on what the command line writes: ``nll``, ``estimate`` and ``curve`` JSON.

Registered into :mod:`proofs_check`'s registry (group "Command line (JSON)") when
:mod:`ctmc_lab.cli.verify` runs; ``proofs_check`` itself never imports the command line. Each
row runs the real command (:func:`ctmc_lab.cli.main`, output to a scratch directory) on a
small distribution written to a JSON file, and compares every field it wrote with an
independent computation:

* ``nll``: which record belongs to which sequence when some requested sequences lie outside
  the support (order kept, ``null`` fields there), the probability and NLL by a scan of the
  support, every decomposition against -log p0, and the exact estimator records against an
  enumeration of each estimator's twin law (:func:`proofs_check.estimators_check.reference_law`);
* ``estimate``: each sequence's record against the library estimator run with the stream
  ``np.random.default_rng([S, idx])``, idx the row-major index of the sequence computed here,
  whatever the order and number of sequences requested;
* ``curve``: σ̄, λ, the KL and I(x0; x_t) against Kronecker products of ``scipy.linalg.expm``
  of a rate matrix written here, and the rate columns (kl_rate, mdse, mdse_marginal) against
  5-point differences in t of those, so the schedule's rate factor σ(t) is checked too.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile

import numpy as np

from proofs_check import cost
from proofs_check.estimators_check import reference_law
from proofs_check.framework import TOL_DERIV, TOL_ENUM, Result, Skip, check
from proofs_check.ratios_check import brute_mask_dce

__all__ = ["run_cli", "scan_probability", "row_index", "brute_curve", "sequence_cases"]

GROUP = "Command line (JSON)"
#: Longest distribution the rows run the commands on (the ∫ mdse ds columns cover 5^L states).
MAX_LENGTH = 5


def run_cli(argv, dist=None) -> tuple[int, dict | None, str]:
    """Run ``ctmc-lab ARGV --json OUT`` (with ``--dist FILE`` holding ``dist``) in this process;
    return (exit status, the JSON written or None, what it printed on stderr)."""
    from ctmc_lab.cli import main

    with tempfile.TemporaryDirectory(prefix="ctmc-cli-check-") as tmp:
        out = os.path.join(tmp, "out.json")
        argv = list(argv) + ["--json", out]
        if dist is not None:
            path = os.path.join(tmp, "dist.json")
            with open(path, "w") as fh:
                json.dump(dist.as_dict(), fh)
            argv += ["--dist", path, "--alphabet", str(dist.alphabet)]
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = main(argv)
        data = None
        if os.path.exists(out):
            with open(out) as fh:
                data = json.load(fh)
    return status, data, err.getvalue()


def scan_probability(dist, text: str) -> float:
    """p0 of a sequence given as text, by a scan of the support (0 outside it)."""
    symbols = str(dist.alphabet)
    row = np.array([symbols.index(c) for c in text])
    return float(dist.probs[np.all(dist.support == row, axis=1)].sum())


def row_index(dist, text: str) -> int:
    """The row-major index of a sequence in V^L, position 0 most significant."""
    symbols = str(dist.alphabet)
    idx = 0
    for c in text:
        idx = idx * dist.n_tokens + symbols.index(c)
    return idx


def sequence_cases(dist, count: int = 3) -> list[str]:
    """``count`` support sequences interleaved with sequences outside the support (when there are any)."""
    inside = [dist.decode(x) for x in _most_probable(dist, count)]
    members = set(dist.as_dict())
    symbols = str(dist.alphabet)
    outside = []
    for s in inside:
        for c in symbols:
            t = s[:-1] + c
            if t not in members and t not in outside:
                outside.append(t)
                break
    out = []
    for k, s in enumerate(inside):
        if k < len(outside):
            out.append(outside[k])
        out.append(s)
    return out


def _prefix(dist, length: int):
    """The marginal of the first ``length`` positions, summed from the table."""
    if length >= dist.length:
        return dist
    from ctmc_lab.sources.joint import JointDistribution

    table: dict = {}
    for text, p in dist.as_dict().items():
        table[text[:length]] = table.get(text[:length], 0.0) + p
    return JointDistribution.from_dict(
        table, alphabet=dist.alphabet, normalize=True, name=f"{dist.name}[positions 0..{length - 1}]"
    )


def _most_probable(dist, count: int) -> np.ndarray:
    return dist.support[np.argsort(-dist.probs, kind="stable")[:count]]


def _five_point(f, t: float, h: float):
    """(f'(t) by a 5-point central difference, max |f| over its nodes)."""
    nodes = [f(t - 2 * h), f(t - h), f(t + h), f(t + 2 * h)]
    return (nodes[0] - 8 * nodes[1] + 8 * nodes[2] - nodes[3]) / (12 * h), max(abs(v) for v in nodes)


def _small(ctx):
    """The distribution the command-line rows run on: the large one's prefix of length ≤ MAX_LENGTH."""
    dist = ctx.large if ctx.large.alphabet is not None else ctx.small
    return _prefix(dist, min(dist.length, MAX_LENGTH))


def _nll_work(ctx) -> float:
    """The command's two ∫ mdse ds quadratures over 5^L and 4^L noisy states dominate
    (calibrated: ~0.45 s of CPU at L = 5, about 3e4 units per state and position)."""
    dist = _small(ctx)
    return 3e4 * 5.0**dist.length * dist.length + 40 * cost.CALL


def _estimate_work(ctx) -> float:
    """Six runs of the command and 18 library estimates of 64 draws (~0.1 s of CPU)."""
    return 24 * 40 * cost.CALL


def _curve_work(ctx) -> float:
    """Two commands at two times, and 9 twin evaluations per time: one Kronecker product per
    support sequence and position, over 5^L states."""
    dist = _prefix(_small(ctx), min(_small(ctx).length, 4))
    per = dist.support_size * (dist.length * 2e4 + 5.0**dist.length * cost.ELEM * 4)
    return 36 * per + 4 * 200 * 5.0**dist.length * dist.length * cost.ELEM + 40 * cost.CALL


def _unavailable(ctx):
    dist = _small(ctx)
    if dist.alphabet is None:
        return Skip("command line", "n/a: the distribution has no alphabet, so it cannot be written as a JSON file")
    return None


# =================================================================================== nll
def _estimator_twin(A: np.ndarray, name: str):
    """(mean, variance) of one draw of a mask-size estimator from its twin law, or None."""
    n = A.size.bit_length() - 1
    law = reference_law(name, n)
    if law is None or law[1] is None or np.isinf(A).any():
        return None
    q, f = law
    sizes = np.array([bin(u).count("1") for u in range(1 << n)])
    P = q[sizes] / np.array([math.comb(n, m) for m in sizes])
    g = f[sizes] * A
    mean = float(P @ g)
    return mean, float(P @ (g - mean) ** 2)


@check(
    "cli.nll_records",
    theorem=GROUP,
    method="float64",
    tolerance=TOL_ENUM,
    statement="nll --json: record i ↔ sequence i (outside the support too); p, NLL, decompositions, estimators",
    work=_nll_work,
)
def nll_records(ctx):
    """``ctmc-lab nll --sequence ...`` with sequences outside the support between those inside."""
    skip = _unavailable(ctx)
    if skip:
        yield skip
        return
    dist = _small(ctx)
    seqs = sequence_cases(dist)
    status, data, err = run_cli(["nll", "--sequence", *seqs], dist)
    case = f"{dist.name}; --sequence {' '.join(seqs)}"
    yield Result(f"{case}; exit status (stderr: {err.strip()[-80:]!r})", float(status), 0.0, float(status != 0))
    if data is None:
        return
    records = data["sequences"]
    yield Result(f"{case}; number of records", float(len(records)), float(len(seqs)))
    for want, rec in zip(seqs, records):
        p = scan_probability(dist, want)
        here = f"{case}; record of {want}"
        yield Result(f"{here}: sequence field is {rec['sequence']!r}", 0.0, 0.0, float(rec["sequence"] != want))
        yield Result(f"{here}: probability", rec["probability"], p)
        yield Result(f"{here}: in_support", float(rec["in_support"]), float(p > 0))
        if p == 0:
            empty = (
                rec["nll"] is None
                and rec["estimators"] is None
                and all(v is None for v in rec["decompositions"].values())
            )
            yield Result(f"{here}: nll, decompositions and estimators null", 0.0, 0.0, float(not empty))
            continue
        truth = -math.log(p)
        yield Result(f"{here}: nll", rec["nll"], truth)
        for name, value in rec["decompositions"].items():
            if value is not None:
                tol = 1e-10 if "mdse" in name else None  # the ∫ mdse ds quadratures (MDSE_ATOL)
                yield Result(f"{here}: decomposition {name}", value, truth, tolerance=tol)
        A = brute_mask_dce(dist.support, dist.probs, dist.encode(want), range(dist.length))
        for name, est in rec["estimators"].items():
            twin = _estimator_twin(A, name)
            if twin is None:
                continue
            mean, var = twin
            yield Result(f"{here}: estimators[{name}].mean", est["mean"], mean, terms=A.size)
            yield Result(f"{here}: estimators[{name}].bias", est["bias"], mean - truth, terms=A.size)
            got = est["variance"]
            yield Result(
                f"{here}: estimators[{name}].variance; rel.",
                got,
                var,
                abs(got - var) / max(1.0, var) if got is not None else math.inf,
            )


# ============================================================================== estimate
@check(
    "cli.estimate_streams",
    theorem=GROUP,
    method="float64",
    tolerance=0.0,
    statement="estimate --json: record ↔ sequence, stream default_rng([S, idx]) per sequence, any order",
    work=_estimate_work,
)
def estimate_streams(ctx):
    """Each record of ``ctmc-lab estimate`` (two estimators, the sequences in two orders and one
    alone) equals the library estimator run on that sequence with default_rng([S, idx(x)]),
    bit for bit; nll, samples and batch_size as written."""
    from ctmc_lab.estimation.estimators import estimate
    from ctmc_lab.sources.denoisers import OptimalDenoiser

    skip = _unavailable(ctx)
    if skip:
        yield skip
        return
    dist = _small(ctx)
    inside = [s for s in sequence_cases(dist) if scan_probability(dist, s) > 0]
    seed, samples = 11, 64
    denoiser = OptimalDenoiser(dist)
    for name in ("time_free", "k_dce_stratified"):
        for order in (inside, inside[::-1], inside[-1:]):
            argv = [
                "estimate",
                "--estimator",
                name,
                "--samples",
                str(samples),
                "--seed",
                str(seed),
                "--sequence",
                *order,
            ]
            status, data, err = run_cli(argv, dist)
            case = f"{name}; {dist.name}; --sequence {' '.join(order)}"
            if status != 0 or data is None:
                yield Result(f"{case}; exit status (stderr: {err.strip()[-80:]!r})", float(status), 0.0, 1.0)
                continue
            batch = data["batch_size"]
            wrong = [
                f"{want}≠{rec['sequence']}" for want, rec in zip(order, data["sequences"]) if rec["sequence"] != want
            ]
            wrong += ["count"] if len(data["sequences"]) != len(order) else []
            for want, rec in zip(order, data["sequences"]):
                rng = np.random.default_rng([seed, row_index(dist, want)])
                ref = estimate(name, denoiser, dist.encode(want), n_samples=samples, rng=rng, batch_size=batch)
                if rec["estimate"] != ref.mean or rec["stderr"] != ref.stderr:
                    wrong.append(f"{want}: estimate {rec['estimate']!r} vs {ref.mean!r}")
                if rec["samples"] != samples or abs(rec["nll"] + math.log(scan_probability(dist, want))) > 1e-12:
                    wrong.append(f"{want}: samples/nll")
            if (data["seed"], data["samples"], data["estimator"]) != (seed, samples, name):
                wrong.append("header")
            yield Result(f"{case}; fields differing: {wrong[:3]}", float(len(wrong)), 0.0, float(len(wrong)))


# ================================================================================= curve
def brute_curve(dist, text: str, process: str, sigma_bar: float):
    """(KL(p_{s|0}(·|x0) ‖ p_s), I(x0; x_s)) at noise level s, from ⊗ expm(s Q) of the
    absorbing (mask state N) or uniform rate matrix written here (Q[a, b] = rate b -> a)."""
    from scipy.linalg import expm

    N = dist.n_tokens
    if process == "absorbing":
        Q = np.zeros((N + 1, N + 1))
        Q[N, :N] = 1.0
        Q[np.arange(N), np.arange(N)] = -1.0
    else:
        Q = np.full((N, N), 1.0 / N) - np.eye(N)
    K = expm(sigma_bar * Q)

    def conditional(x):
        # The Kronecker product of the columns K[:, x_i], first position most significant, as
        # one outer product per position (np.kron's own overhead dominated at these sizes).
        out = np.ones(1)
        for v in x:
            out = (out[:, None] * K[:, v]).ravel()
        return out

    rows = np.stack([conditional(x) for x in dist.support])
    p_s = dist.probs @ rows

    def kl(p):
        keep = p > 0
        return float(np.sum(p[keep] * (np.log(p[keep]) - np.log(p_s[keep]))))

    x0 = dist.encode(text)
    return kl(conditional(x0)), float(sum(w * kl(r) for w, r in zip(dist.probs, rows)))


@check(
    "cli.curve_columns",
    theorem=GROUP,
    method="float64",
    tolerance=TOL_DERIV,
    statement="curve --json: σ̄, λ, KL, I = expm twins; kl_rate, mdse, mdse_marginal = d/dt (rate factor σ(t))",
    work=_curve_work,
)
def curve_columns(ctx):
    """``ctmc-lab curve`` under absorbing and uniform noise with two schedules at two times:
    every column against :func:`brute_curve` and 5-point differences of it in t."""
    from ctmc_lab.forward.schedules import get_schedule

    skip = _unavailable(ctx)
    if skip:
        yield skip
        return
    dist = _prefix(_small(ctx), min(_small(ctx).length, 4))
    text = dist.decode(_most_probable(dist, 1)[0])
    times = (0.3, 0.7)
    for process, schedule in (("absorbing", "loglinear"), ("uniform", "cosine")):
        if process == "uniform" and dist.n_tokens < 2:
            yield Skip(f"{dist.name}; {process}", "uniform noise needs at least 2 symbols")
            continue
        argv = ["curve", "--sequence", text, "--process", process, "--schedule", schedule]
        status, data, err = run_cli(argv + ["--times", ",".join(map(str, times))], dist)
        case = f"{dist.name}; x0={text}; {process}; {schedule}"
        if status != 0 or data is None:
            yield Result(f"{case}; exit status (stderr: {err.strip()[-80:]!r})", float(status), 0.0, 1.0)
            continue
        sch = get_schedule(schedule)
        for t, pt in zip(times, data["points"]):
            here = f"{case}; t={t}"

            def kl_at(u):
                return brute_curve(dist, text, process, float(sch.sigma_bar(u)))

            s = float(sch.sigma_bar(t))
            kl, mi = kl_at(t)
            h = 1e-4
            d_kl, kl_scale = _five_point(lambda u: kl_at(u)[0], t, h)
            d_mi, mi_scale = _five_point(lambda u: kl_at(u)[1], t, h)
            lam = -math.expm1(-s) if process == "absorbing" else None
            yield Result(f"{here}: t", pt["t"], t, tolerance=0.0)
            yield Result(f"{here}: sigma_bar", pt["sigma_bar"], s, tolerance=TOL_ENUM)
            if lam is None:
                yield Result(f"{here}: mask_level null", 0.0, 0.0, float(pt["mask_level"] is not None))
            else:
                yield Result(f"{here}: mask_level", pt["mask_level"], lam, tolerance=TOL_ENUM)
            yield Result(f"{here}: kl", pt["kl"], kl, tolerance=1e-11)
            yield Result(f"{here}: mutual_information", pt["mutual_information"], mi, tolerance=1e-11)
            for col, want, scale in (
                ("kl_rate", d_kl, kl_scale),
                ("mdse", -d_kl, kl_scale),
                ("mdse_marginal", -d_mi, mi_scale),
            ):
                yield Result(f"{here}: {col} vs 5-point d/dt", pt[col], want, scale=scale)
        yield Result(f"{case}: in_support", float(data["in_support"]), float(scan_probability(dist, text) > 0))
