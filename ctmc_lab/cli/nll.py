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

With ``--model python:MODULE:ATTR`` the sequences are scored by that model (a denoiser) instead:
its exact time-free NLL over all 2^L masks (Thm 4.1 on the model's A-table), the gap to the
data NLL -log p0(x0), and each estimator's exact mean and variance under the model with its
bias against -log p0(x0) (``docs/json_schemas.md``)::

    {"distribution": {...}, "model": SPEC,
     "sequences": [{"sequence", "probability", "nll", "in_support", "model_nll", "gap",
                    "estimators": {NAME: {"mean", "bias", "variance", "variance_is_infinite",
                                          "infinite_because"}}}, ...],
     "summary": {"sequences", "in_support", "max_gap", "min_gap"}}
"""

from __future__ import annotations

import math

from ctmc_lab.cli import markov_protocol, specs
from ctmc_lab.cli._budget import absorbing_marginal_cost, optimal_row_cost, over_budget, require
from ctmc_lab.cli._common import (
    add_dist_arguments,
    add_output_arguments,
    ensure_printable,
    eprint,
    load_distribution,
    print_lines,
    table_row,
)

#: The decompositions of ``ctmc-lab nll --json``, in output order.
DECOMPOSITIONS = ("absorbing_mdse_integral", "uniform_mdse_integral", "mdce_integral", "time_free")
#: Tolerance of the ∫ mdse ds quadratures (level difference and neglected end pieces).
MDSE_ATOL = 1e-11
#: Quadrature nodes assumed by the work model of the ∫ mdse ds columns (a typical run uses 100-250).
_NODES = 200
#: Sequences scored per step of the per-sequence decompositions (one progress tick each).
_CHUNK = 64
#: Rows per call of a ``--model`` (the library's default batch).
_MODEL_BATCH = 4096


def add_parser(sub) -> None:
    p = sub.add_parser(
        "nll",
        help="exact NLL of each sequence and its four decompositions",
        description="Exact -log p0(x0) for each sequence, with four decompositions computed "
        "independently: ∫ mdse ds under absorbing and uniform noise (Thm 3.2), ∫ mdce/λ dλ "
        "(Cor 3.7), and the time-free sum over all masks (Thm 4.1). Work and memory are estimated "
        "first; a run that would exceed the machine is refused with the numbers.",
    )
    add_dist_arguments(
        p, command="nll", note="a Markov source runs the prompt-response protocol, with the options below"
    )
    p.add_argument(
        "--sequence",
        nargs="+",
        metavar="SEQ",
        help="sequences to score (default: the whole support); not with a Markov --dist",
    )
    p.add_argument(
        "--model",
        metavar="python:MODULE:ATTR",
        help="score this model (a denoiser: (B, L) ints with mask id N -> (B, L, N) log-probabilities, or a "
        "zero-argument callable returning one) instead of the decompositions: its exact time-free NLL, the gap "
        "to -log p0 and each estimator's exact mean and variance under it; not with a Markov --dist",
    )
    add_output_arguments(p)
    markov_protocol.add_protocol_arguments(p)
    p.set_defaults(func=run)


def mdse_cost(n_tokens: int, length: int, kind: str, p_min: float = 1.0) -> tuple[float, float]:
    """(memory bytes, operations) of one ∫ mdse ds column over all sequences.

    ``kind`` names a registered noise process. Per quadrature node: absorbing noise computes p_s
    by its closed-form marginal (:func:`~ctmc_lab.cli._budget.absorbing_marginal_cost`, whose
    Kronecker factor dominates for a large alphabet) and mdse by enumerating the 2^L masks
    over the (N+1)^L states; uniform noise contracts each of the L axes with the (N, N) kernel.
    A process with a mask token is costed as the first, any other as the second. Below p0(x0)
    of about 1e-20 the quadrature may add its log-space piece near s = 0 (about 70 nodes per 6
    units of ln s down to p0(x0) * 1e-14), which the node count includes.
    """
    from ctmc_lab.forward.generators import noise_process

    nodes = _NODES
    if p_min < 1e-20:
        nodes += 70 * (math.log(1e-6) - math.log(max(1e-300, p_min * 1e-14))) / 6
    process = noise_process(kind)
    states = float(process.n_states(n_tokens)) ** length
    if process.has_mask:
        marg_memory, marg_work = absorbing_marginal_cost(n_tokens, length)
        per_eval = states * length * (3 + math.log2(max(length, 2))) + marg_work
        memory = 8.0 * 8 * states + marg_memory
    else:
        per_eval = states * length**2 * n_tokens
        memory = 8.0 * 8 * states
    return memory, nodes * per_eval


def sequence_cost(dist, n_seq: int) -> tuple[float, float]:
    """(memory bytes, operations) of the per-sequence decompositions and estimator moments.

    Per sequence: the subset table (the support compared with x0, S L, then L passes over its
    2^L entries) serves ∫ mdce/λ dλ and the moments (about 24 passes over 2^L per estimator);
    the time-free column sends all 2^L masked inputs through c* (``time_free_exact``), each
    costing :func:`~ctmc_lab.cli._budget.optimal_row_cost`.
    """
    n_sub = 2.0**dist.length
    length, size = dist.length, dist.support_size
    memory = 8.0 * (2 * n_seq * n_sub + 4 * max(n_sub, 2.0**22))
    per_input, build = optimal_row_cost(dist.n_tokens, length, size)
    per_sequence = 2 * size * length + 8 * length * n_sub + 24 * 8 * n_sub + n_sub * per_input
    return memory, build + n_seq * per_sequence


def _mdse_column(dist, x0, kind: str, bar):
    """Values (None where unavailable) and per-sequence reasons of one ∫ mdse ds column.

    ``kind`` names a registered noise process; a distribution with fewer symbols than the
    process needs, or a noisy state space beyond the dense limit, gives a reason, not a value.
    """
    import numpy as np

    from ctmc_lab.exact import decompositions
    from ctmc_lab.forward.generators import noise_process
    from ctmc_lab.forward.process import MAX_DENSE_STATES, NumericalRangeError

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
    import numpy as np

    from ctmc_lab.estimation.moments import estimator_fields
    from ctmc_lab.exact import decompositions
    from ctmc_lab.io import json_float
    from ctmc_lab.sources.denoisers import OptimalDenoiser

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


def model_cost(dist, n_seq: int) -> tuple[float, float]:
    """(memory bytes, operations) of ``--model``: 2^L model rows per sequence, each (L, N) output checked.

    The model's own cost is unknown; counted are the (B, L, N) outputs the checks read (shape,
    finiteness, row sums: about 6 passes), the A-table sums and the moments (24 passes over 2^L
    per estimator). Memory: one batch of inputs and outputs, and the A-tables of the sequences.
    """
    n_sub = 2.0**dist.length
    out = dist.length * dist.n_tokens
    memory = 8.0 * (3 * min(n_sub, _MODEL_BATCH) * out + 2 * n_seq * n_sub)
    work = n_seq * n_sub * (6.0 * out + 8 * dist.length + 24 * 8)
    return memory, work


def model_records(dist, model, sequences=None, *, progress=None) -> list[dict]:
    """The ``sequences`` records of ``ctmc-lab nll --model --json`` (see the module docstring).

    ``model_nll`` is Theorem 4.1's sum over all masks of the model's A-table (its random-order
    autoregressive NLL); ``gap = model_nll - nll``; each estimator's record is that of ``nll --json``
    computed from the model's table (``moments.exact_records(A, reference=-log p0(x0))``), so ``bias``
    is the estimator's mean minus the data NLL: the gap for an unbiased estimator.
    """
    import numpy as np

    from ctmc_lab.estimation.moments import exact_records
    from ctmc_lab.exact.mask_dce import mask_dce_table
    from ctmc_lab.io import json_float
    from ctmc_lab.masks import imdce_sum

    x_all = np.atleast_2d(dist.support if sequences is None else dist.encode(list(sequences)))
    prob = np.atleast_1d(dist.prob(x_all))
    mem, work = model_cost(dist, x_all.shape[0])
    require(
        f"`nll --model` on {x_all.shape[0]} sequences of length {dist.length} ({2**dist.length} model rows each)",
        memory=mem,
        work=work,
        lower="score fewer sequences with `--sequence SEQ ...`, or use a shorter length",
    )
    records = []
    for x, p_x in zip(x_all, prob):
        A = mask_dce_table(model, x, batch_size=_MODEL_BATCH)
        model_nll = float(imdce_sum(A))
        inside = bool(p_x > 0)
        data_nll = float(-np.log(p_x)) if inside else math.inf
        estimators = exact_records(A, reference=data_nll)[0]
        records.append(
            {
                "sequence": dist.decode(x),
                "probability": float(p_x),
                "nll": json_float(data_nll),
                "in_support": inside,
                "model_nll": json_float(model_nll),
                "gap": json_float(model_nll - data_nll) if inside else None,
                "estimators": estimators,
            }
        )
        if progress is not None:
            progress.update()
    return records


def model_summary(records) -> dict:
    """Sequences, how many lie in the support, and the largest and smallest gap model - data NLL."""
    gaps = [r["gap"] for r in records if r["gap"] is not None]
    return {
        "sequences": len(records),
        "in_support": sum(1 for r in records if r["in_support"]),
        "max_gap": max(gaps) if gaps else None,
        "min_gap": min(gaps) if gaps else None,
    }


def _run_model(args, dist) -> int:
    from ctmc_lab.cli._common import Progress, write_json

    probe = dist.support[0] if not args.sequence else dist.encode([args.sequence[0]])[0]
    model = specs.load_model(args.model, n_tokens=dist.n_tokens, length=dist.length, probe=probe)
    n_seq = dist.support_size if not args.sequence else len(args.sequence)
    with Progress(n_seq, "nll --model sequences") as bar:
        records = model_records(dist, model, args.sequence, progress=bar)
    s = model_summary(records)
    width = max(8, dist.length)
    num = 14 if args.wide else 10
    lines = [
        f"distribution {dist.name}: N={dist.n_tokens}, L={dist.length}, support {dist.support_size}; "
        f"model {args.model}",
        f"{'sequence':<{width}} " + table_row(["probability", "nll", "model nll", "gap"], [11] + [num] * 3),
    ]
    for rec in records:
        cells = [_fmt(rec[k], args.wide) for k in ("nll", "model_nll", "gap")]
        if not rec["in_support"]:
            cells[0] = cells[2] = "inf"
        lines.append(f"{rec['sequence']:<{width}} {rec['probability']:11.5g} " + " ".join(f"{c:>{num}}" for c in cells))
    worst = "-" if s["max_gap"] is None else f"{s['max_gap']:.6g}"
    least = "-" if s["min_gap"] is None else f"{s['min_gap']:.6g}"
    lines.append(
        f"{s['sequences']} sequences ({s['in_support']} in support); model NLL - data NLL from {least} to {worst} nats"
    )
    print_lines(lines)
    if args.json:
        write_json(
            args.json, {"distribution": dist.describe(), "model": args.model, "sequences": records, "summary": s}
        )
    return 0


def run(args) -> int:
    from ctmc_lab.cli._common import Progress, write_json

    if specs.is_markov_spec(args.dist):
        if args.sequence:
            raise ValueError(
                "`--sequence` does not apply to a Markov `--dist`: the protocol draws its own "
                "prompt/response pairs (set their number with `--pairs`)"
            )
        if args.model:
            raise ValueError("`--model` applies to a joint `--dist` (a table or python: source), not a Markov one")
        return markov_protocol.run_protocol(args)
    markov_protocol.refuse_protocol_options(args)
    dist = load_distribution(args)
    if args.model:
        return _run_model(args, dist)
    n_seq = dist.support_size if not args.sequence else len(args.sequence)
    with Progress(n_seq, "nll sequences") as bar:
        records = compute(dist, args.sequence, progress=bar)
    lines = [
        f"distribution {dist.name}: N={dist.n_tokens}, L={dist.length}, support {dist.support_size}, "
        f"H(p0) = {dist.entropy():.10f} nats"
    ]
    width = max(8, dist.length)
    num = 14 if args.wide else 10
    head = ["probability", "nll", "∫mdse abs", "∫mdse uni", "∫mdce/λ", "time-free", "max |dev|"]
    lines.append(f"{'sequence':<{width}} " + table_row(head, [11] + [num] * 5 + [9]))
    for rec in records:
        d = rec["decompositions"]
        if rec["in_support"]:
            dev = max((abs(v - rec["nll"]) for v in d.values() if v is not None), default=None)
            tail = "        -" if dev is None else f"{dev:9.2e}"
            cells = [_fmt(rec["nll"], args.wide)] + [_fmt(d[k], args.wide) for k in DECOMPOSITIONS]
            lines.append(
                f"{rec['sequence']:<{width}} {rec['probability']:11.5g} "
                + " ".join(f"{c:>{num}}" for c in cells)
                + f" {tail}"
            )
        else:
            lines.append(f"{rec['sequence']:<{width}} {rec['probability']:11.5g} outside support: NLL = inf")
    notes = sorted({f"{name}: {why}" for rec in records for name, why in rec["decomposition_reasons"].items()})
    s = summary(records)
    worst = "-" if s["max_abs_deviation"] is None else f"{s['max_abs_deviation']:.2e}"
    lines.append(
        f"{s['sequences']} sequences ({s['in_support']} in support); max |decomposition - NLL| = {worst}; "
        f"infinite variance: {s['infinite_variance']}"
    )
    ensure_printable([*lines, *notes])
    print_lines(lines[:-1])
    for note in notes:
        eprint(f"note: {note} (written as null)")
    print_lines(lines[-1:])
    if args.json:
        write_json(args.json, {"distribution": dist.describe(), "sequences": records, "summary": s})
    return 0
