"""``ctmc-lab nll``: exact per-sequence NLL and four independent decompositions of it."""

from __future__ import annotations

import numpy as np

from .. import decompositions
from ..process import MAX_DENSE_STATES
from . import markov_protocol
from .estimate import estimator_fields
from ._common import Progress, add_dist_arguments, eprint, json_float, load_distribution, write_json

#: The decompositions of ``ctmc-lab nll --json``, in output order.
DECOMPOSITIONS = ("absorbing_mdse_integral", "uniform_mdse_integral", "mdce_integral", "time_free")
#: Skip a uniform ∫ mdse whose per-evaluation work (about L^2 N^(L+1)) would make it take minutes.
UNIFORM_BUDGET = 1e8


def add_parser(sub) -> None:
    p = sub.add_parser(
        "nll",
        help="exact NLL of each sequence and its four decompositions",
        description="Exact -log p0(x0) for each sequence, with four decompositions computed "
        "independently: ∫ mdse ds under absorbing and uniform noise (Thm 3.2), ∫ mdce/λ dλ "
        "(Cor 3.7), and the time-free sum over all masks (Thm 4.1).",
    )
    add_dist_arguments(p)
    p.add_argument("--sequence", nargs="+", metavar="SEQ", help="sequences to score (default: the whole support)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    markov_protocol.add_protocol_arguments(p)
    p.set_defaults(func=run)


def _mdse_column(dist, x0, kind: str, *, enabled: bool, reason: str):
    if not enabled:
        eprint(f"note: {kind}_mdse_integral skipped ({reason}); written as null")
        return [None] * len(x0)
    with Progress(1, f"{kind} ∫ mdse ds") as bar:
        result = decompositions.mdse_integral(dist, kind, x0, atol=1e-11)
        bar.update()
    if not result.quadrature.converged:
        eprint(f"warning: {kind} ∫ mdse ds did not reach its tolerance (level difference "
               f"{result.quadrature.error.max():.2e})")
    return result.value.tolist()


def compute(dist, sequences=None) -> list[dict]:
    """The ``sequences`` records of ``ctmc-lab nll --json``."""
    x_all = dist.support if sequences is None else dist.encode(list(sequences))
    x_all = np.atleast_2d(x_all)
    prob = np.atleast_1d(dist.prob(x_all))
    inside = prob > 0
    x0 = x_all[inside]
    length, n = dist.length, dist.n_tokens
    columns = {}
    if x0.shape[0]:
        columns["absorbing_mdse_integral"] = _mdse_column(
            dist, x0, "absorbing", enabled=(n + 1) ** length <= MAX_DENSE_STATES,
            reason=f"{n + 1}^{length} noisy states exceed the dense limit")
        columns["uniform_mdse_integral"] = _mdse_column(
            dist, x0, "uniform", enabled=n >= 2 and length**2 * n ** (length + 1) <= UNIFORM_BUDGET,
            reason=f"uniform noise over {n}^{length} states would take minutes" if n >= 2
            else "uniform noise needs at least 2 symbols")
        columns["mdce_integral"] = decompositions.mdce_integral(dist, x0).tolist()
        columns["time_free"] = decompositions.time_free_exact(dist, x0).tolist()
        estimators = estimator_fields(dist, x0)
    records, k = [], 0
    for x, p_x, ok in zip(x_all, prob, inside):
        rec = {
            "sequence": dist.decode(x),
            "probability": float(p_x),
            "nll": json_float(-np.log(p_x)) if ok else None,
            "in_support": bool(ok),
            "decompositions": {name: json_float(columns[name][k]) if ok else None for name in DECOMPOSITIONS},
        }
        rec["estimators"] = estimators[k] if ok else None
        k += int(ok)
        records.append(rec)
    return records


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.10f}"


def run(args) -> int:
    if markov_protocol.is_markov_spec(args.dist):
        return markov_protocol.run_protocol(args)
    dist = load_distribution(args)
    records = compute(dist, args.sequence)
    print(f"distribution {dist.name}: N={dist.n_tokens}, L={dist.length}, support {dist.support_size}, "
          f"H(p0) = {dist.entropy():.10f} nats")
    head = ["sequence", "probability", "nll", "∫mdse abs", "∫mdse uni", "∫mdce/λ", "time-free", "max |dev|"]
    print(f"{head[0]:<{max(8, dist.length)}} {head[1]:>12} " + " ".join(f"{h:>14}" for h in head[2:]))
    for rec in records:
        d = rec["decompositions"]
        if rec["in_support"]:
            dev = max((abs(v - rec["nll"]) for v in d.values() if v is not None), default=0.0)
            tail = f"{dev:14.2e}"
        else:
            tail = "   outside support: NLL = inf"
        print(f"{rec['sequence']:<{max(8, dist.length)}} {rec['probability']:12.6g} {_fmt(rec['nll']):>14} "
              + " ".join(f"{_fmt(d[k]):>14}" for k in d) + f" {tail}")
    if args.json:
        write_json(args.json, {"distribution": dist.describe(), "sequences": records})
    return 0
