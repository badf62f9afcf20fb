"""``ctmc-lab nll``: exact per-sequence NLL and four independent decompositions of it.

JSON written by ``--json PATH``::

    {"distribution": {...},
     "sequences": [{"sequence", "probability", "nll", "in_support",
                    "decompositions": {NAME: float|null},
                    "decomposition_reasons": {NAME: str},
                    "estimators": {...}|null}, ...],
     "summary": {"sequences", "in_support", "max_abs_deviation", "infinite_variance"}}

A decomposition is null when it was skipped (too large for the machine, or not defined) or
when its quadrature did not reach its tolerance; ``decomposition_reasons`` then says why,
for that name only (an empty object when every decomposition has a value). It is never a
number that missed its tolerance.
"""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.cli import markov_protocol, specs
from ctmc_lab.cli._budget import over_budget, require
from ctmc_lab.cli._common import (
    Progress,
    add_dist_arguments,
    add_output_arguments,
    eprint,
    json_float,
    load_distribution,
    table_row,
    write_json,
)
from ctmc_lab.estimation.moments import estimator_fields
from ctmc_lab.exact import decompositions
from ctmc_lab.forward.generators import noise_process
from ctmc_lab.forward.process import MAX_DENSE_STATES, NumericalRangeError
from ctmc_lab.sources.denoisers import OptimalDenoiser
from ctmc_lab.sources.joint import PATTERN_LIMIT

#: The decompositions of ``ctmc-lab nll --json``, in output order.
DECOMPOSITIONS = ("absorbing_mdse_integral", "uniform_mdse_integral", "mdce_integral", "time_free")
#: Tolerance of the ∫ mdse ds quadratures (level difference and neglected end pieces).
MDSE_ATOL = 1e-11
#: Quadrature nodes assumed by the work model of the ∫ mdse ds columns (a typical run uses 100-250).
_NODES = 200
#: Sequences scored per step of the per-sequence decompositions (one progress tick each).
_CHUNK = 64


def add_parser(sub) -> None:
    p = sub.add_parser(
        "nll",
        help="exact NLL of each sequence and its four decompositions",
        description="Exact -log p0(x0) for each sequence, with four decompositions computed "
        "independently: ∫ mdse ds under absorbing and uniform noise (Thm 3.2), ∫ mdce/λ dλ "
        "(Cor 3.7), and the time-free sum over all masks (Thm 4.1). Work and memory are estimated "
        "first; a run that would exceed the machine is refused with the numbers.",
    )
    add_dist_arguments(p)
    p.add_argument(
        "--sequence",
        nargs="+",
        metavar="SEQ",
        help="sequences to score (default: the whole support); not with a Markov --dist",
    )
    add_output_arguments(p)
    markov_protocol.add_protocol_arguments(p)
    p.set_defaults(func=run)


def mdse_cost(n_tokens: int, length: int, kind: str, p_min: float = 1.0) -> tuple[float, float]:
    """(memory bytes, array operations) of one ∫ mdse ds column over all sequences.

    ``kind`` names a registered noise process. The per-evaluation counts were measured for
    absorbing noise (p_s by its fast marginal, mdse by enumerating the 2^L masks) and for
    uniform noise (the factored contractions); a process with a mask token is costed as the
    first, any other as the second. Below p0(x0) of about 1e-20 the quadrature may add its log-space piece near s = 0 (about 70
    nodes per 6 units of ln s down to p0(x0) * 1e-14), which the node count includes.
    """
    nodes = _NODES
    if p_min < 1e-20:
        nodes += 70 * (math.log(1e-6) - math.log(max(1e-300, p_min * 1e-14))) / 6
    process = noise_process(kind)
    states = float(process.n_states(n_tokens)) ** length
    if process.has_mask:
        per_eval = states * length * (3 + math.log2(max(length, 2)))
    else:
        per_eval = states * length**2 * n_tokens
    return 8.0 * 8 * states, nodes * per_eval


def sequence_cost(dist, n_seq: int) -> tuple[float, float]:
    """(memory bytes, array operations) of the subset-table decompositions and estimator moments."""
    n_sub = 2.0**dist.length
    length, size = dist.length, dist.support_size
    memory = 8.0 * (2 * n_seq * n_sub + 4 * max(n_sub, 2.0**22))
    scan = dist.n_tokens if (dist.n_tokens + 1) ** length <= PATTERN_LIMIT else size
    work = n_seq * (2 * size * length + 6 * length * n_sub) + n_seq * n_sub * length * scan
    return memory, work


def _mdse_column(dist, x0, kind: str, bar):
    """Values (None where unavailable) and per-sequence reasons of one ∫ mdse ds column.

    ``kind`` names a registered noise process; a distribution with fewer symbols than the
    process needs, or a noisy state space beyond the dense limit, gives a reason, not a value.
    """
    process = noise_process(kind)
    n_states = process.n_states(dist.n_tokens)
    reason = None
    if dist.n_tokens < process.min_tokens:
        reason = f"{kind} noise needs at least {process.min_tokens} symbols"
    else:
        mem, work = mdse_cost(dist.n_tokens, dist.length, kind, float(np.min(dist.prob(x0))))
        if n_states**dist.length > MAX_DENSE_STATES:
            reason = f"{n_states}^{dist.length} noisy states exceed the dense limit {MAX_DENSE_STATES:.3g}"
        else:
            why = over_budget(memory=mem, work=work)
            reason = f"skipped: {why}" if why else None
    if reason is not None:
        return [None] * len(x0), [reason] * len(x0)
    bar.stage(f"{kind} ∫ mdse ds")
    try:
        result = decompositions.mdse_integral(dist, kind, x0, atol=MDSE_ATOL)
    except NumericalRangeError as err:
        return [None] * len(x0), [f"not computable in float64: {err}"] * len(x0)
    quad = result.quadrature
    ok = quad.component_ok(MDSE_ATOL) & np.isfinite(result.value)
    values, reasons = [], []
    for i, good in enumerate(ok):
        values.append(float(result.value[i]) if good else None)
        reasons.append(
            None
            if good
            else (
                f"quadrature did not reach its tolerance {MDSE_ATOL:g}: level difference {quad.error[i]:.2e}, "
                f"neglected end pieces about {quad.tail[i]:.2e} (p0(x0) = {float(dist.prob(x0[i])):.3g})"
            )
        )
    return values, reasons


def plan(dist, n_seq: int) -> None:
    """Refuse, before allocating, a run whose per-sequence part exceeds the machine."""
    mem, work = sequence_cost(dist, n_seq)
    require(
        f"`nll` on {n_seq} sequences of length {dist.length} (support {dist.support_size})",
        memory=mem,
        work=work,
        lower="score fewer sequences with `--sequence SEQ ...`, or use a shorter length or a smaller support",
    )


def compute(dist, sequences=None, *, progress=None) -> list[dict]:
    """The ``sequences`` records of ``ctmc-lab nll --json``."""
    x_all = dist.support if sequences is None else dist.encode(list(sequences))
    x_all = np.atleast_2d(x_all)
    prob = np.atleast_1d(dist.prob(x_all))
    inside = prob > 0
    x0 = x_all[inside]
    plan(dist, x0.shape[0])
    bar = progress or _NoProgress()
    columns, reasons = {}, {}
    if x0.shape[0]:
        for kind in ("absorbing", "uniform"):
            name = f"{kind}_mdse_integral"
            columns[name], reasons[name] = _mdse_column(dist, x0, kind, bar)
        mdce, tf, estimators = [], [], []
        denoiser = OptimalDenoiser(dist)
        for lo in range(0, x0.shape[0], _CHUNK):
            rows = x0[lo : lo + _CHUNK]
            bar.stage("mdce, time-free, moments")
            mdce.extend(decompositions.mdce_integral(dist, rows).tolist())
            tf.extend(decompositions.time_free_exact(denoiser, rows).tolist())
            estimators.extend(estimator_fields(dist, rows))
            bar.update(rows.shape[0])
        columns["mdce_integral"], columns["time_free"] = mdce, tf
        for name in ("mdce_integral", "time_free"):
            reasons[name] = [None] * x0.shape[0]
    bar.update(int(np.count_nonzero(~inside)))  # sequences outside the support need no work
    records, k = [], 0
    for x, p_x, ok in zip(x_all, prob, inside):
        rec = {
            "sequence": dist.decode(x),
            "probability": float(p_x),
            "nll": json_float(0.0 - np.log(p_x)) if ok else None,
            "in_support": bool(ok),
            "decompositions": {name: json_float(columns[name][k]) if ok else None for name in DECOMPOSITIONS},
            "decomposition_reasons": (
                {name: reasons[name][k] for name in DECOMPOSITIONS if reasons[name][k]} if ok else {}
            ),
        }
        rec["estimators"] = estimators[k] if ok else None
        k += int(ok)
        records.append(rec)
    return records


class _NoProgress:
    def stage(self, label):
        pass

    def update(self, k=1):
        pass


def summary(records) -> dict:
    """Sequences, how many lie in the support, worst |decomposition - NLL|, infinite-variance count."""
    inside = [r for r in records if r["in_support"]]
    devs = [abs(v - r["nll"]) for r in inside for v in r["decompositions"].values() if v is not None]
    infinite = sum(1 for r in inside if any(e.get("variance_is_infinite") for e in (r["estimators"] or {}).values()))
    return {
        "sequences": len(records),
        "in_support": len(inside),
        "max_abs_deviation": max(devs) if devs else None,
        "infinite_variance": infinite,
    }


def _fmt(v, wide: bool) -> str:
    return "-" if v is None else (f"{v:.10f}" if wide else f"{v:.6f}")


def run(args) -> int:
    if specs.is_markov_spec(args.dist):
        if args.sequence:
            raise ValueError(
                "`--sequence` does not apply to a Markov `--dist`: the protocol draws its own "
                "prompt/response pairs (set their number with `--pairs`)"
            )
        return markov_protocol.run_protocol(args)
    markov_protocol.refuse_protocol_options(args)
    dist = load_distribution(args)
    n_seq = dist.support_size if not args.sequence else len(args.sequence)
    with Progress(n_seq, "nll sequences") as bar:
        records = compute(dist, args.sequence, progress=bar)
    print(
        f"distribution {dist.name}: N={dist.n_tokens}, L={dist.length}, support {dist.support_size}, "
        f"H(p0) = {dist.entropy():.10f} nats"
    )
    width = max(8, dist.length)
    num = 14 if args.wide else 10
    head = ["probability", "nll", "∫mdse abs", "∫mdse uni", "∫mdce/λ", "time-free", "max |dev|"]
    print(f"{'sequence':<{width}} " + table_row(head, [11] + [num] * 5 + [9]))
    for rec in records:
        d = rec["decompositions"]
        if rec["in_support"]:
            dev = max((abs(v - rec["nll"]) for v in d.values() if v is not None), default=None)
            tail = "        -" if dev is None else f"{dev:9.2e}"
        else:
            tail = "outside support: NLL = inf"
        if rec["in_support"]:
            cells = [_fmt(rec["nll"], args.wide)] + [_fmt(d[k], args.wide) for k in DECOMPOSITIONS]
            print(
                f"{rec['sequence']:<{width}} {rec['probability']:11.5g} "
                + " ".join(f"{c:>{num}}" for c in cells)
                + f" {tail}"
            )
        else:
            print(f"{rec['sequence']:<{width}} {rec['probability']:11.5g} {tail}")
    notes = sorted({f"{name}: {why}" for rec in records for name, why in rec["decomposition_reasons"].items()})
    for note in notes:
        eprint(f"note: {note} (written as null)")
    s = summary(records)
    worst = "-" if s["max_abs_deviation"] is None else f"{s['max_abs_deviation']:.2e}"
    print(
        f"{s['sequences']} sequences ({s['in_support']} in support); max |decomposition - NLL| = {worst}; "
        f"infinite variance: {s['infinite_variance']}"
    )
    if args.json:
        write_json(args.json, {"distribution": dist.describe(), "sequences": records, "summary": s})
    return 0
