"""``ctmc-lab curve``: KL, its exact rate, mdse and mutual information along a schedule."""

from __future__ import annotations

import numpy as np

from .. import generators, information, scores
from .._files import read_json
from ..process import ForwardProcess
from ..schedules import SCHEDULES, get_schedule, require_zero_start
from ._common import add_dist_arguments, json_float, load_distribution, write_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "curve",
        help="KL(p_t|0 || p_t), its exact t-derivative, mdse and I(x0; x_t) at given times",
        description="Theorem 3.1 along a schedule: kl_rate (exact d/dt of the KL) equals -mdse.",
    )
    p.add_argument("--sequence", required=True, metavar="SEQ", help="the clean sequence x0")
    add_dist_arguments(p)
    p.add_argument("--process", default="absorbing", metavar="PROCESS",
                   help="absorbing (default), uniform, or a JSON file holding a rate matrix Q "
                   "(column convention: Q[a][b] is the rate b -> a; the first N states are clean)")
    p.add_argument("--schedule", choices=sorted(SCHEDULES), default="loglinear")
    p.add_argument("--times", required=True, metavar="T1,T2,...", help="comma-separated times t > 0")
    p.add_argument("--json", metavar="PATH", help="write the points as JSON")
    p.set_defaults(func=run)


def _parse_times(text: str) -> list[float]:
    try:
        times = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"`--times` must be comma-separated numbers (got {text!r})") from None
    if not times:
        raise ValueError("`--times` must list at least one time")
    bad = [t for t in times if not np.isfinite(t) or t <= 0]
    if bad:
        raise ValueError(f"`--times` must be > 0 (got {bad[0]:g}); at t = 0 the kernel is the identity "
                         "and mdse is a one-sided limit")
    return times


def _generator(process: str, n_tokens: int):
    if process == "absorbing":
        return generators.absorbing(n_tokens)
    if process == "uniform":
        return generators.uniform(n_tokens)
    if not process.endswith(".json"):
        raise ValueError(f"`--process` {process!r} is not known: use absorbing, uniform, or a JSON file with Q")
    Q = read_json(process, what="`--process` file")
    return generators.custom(Q, n_tokens=n_tokens)


def compute(dist, sequence: str, process: str, schedule_name: str, times) -> dict:
    schedule = require_zero_start(get_schedule(schedule_name))
    gen = _generator(process, dist.n_tokens)
    x0 = dist.encode(sequence)
    proc = ForwardProcess(gen, schedule)
    points = []
    for t in times:
        noised = proc.at(dist, t)
        rate = float(schedule.sigma(t))
        kl = information.kl(noised, x0)
        finite = np.isfinite(kl)
        points.append({
            "t": t,
            "sigma_bar": float(schedule.sigma_bar(t)),
            "mask_level": float(schedule.mask_level(t)) if gen.kind == "absorbing" else None,
            "kl": json_float(kl),
            "kl_rate": json_float(rate * information.kl_rate(noised, x0)) if finite else None,
            "mdse": json_float(rate * scores.mdse(noised, x0)) if finite else None,
            "mutual_information": information.mutual_information(noised),
            "mdse_marginal": rate * scores.marginal_mdse(noised),
        })
    return {"sequence": sequence, "process": process, "schedule": schedule_name,
            "in_support": bool(dist.prob(x0) > 0), "points": points}


def run(args) -> int:
    dist = load_distribution(args)
    result = compute(dist, args.sequence, args.process, args.schedule, _parse_times(args.times))
    if not result["in_support"]:
        print(f"note: {args.sequence} is outside the support: -log p0 = inf, and under "
              f"{args.process} noise its KL is infinite wherever shown as '-'")
    print(f"{args.sequence}  process={args.process}  schedule={args.schedule}")
    cols = ["t", "sigma_bar", "mask_level", "kl", "kl_rate", "mdse", "mutual_information", "mdse_marginal"]
    print(" ".join(f"{c:>18}" for c in cols))
    for pt in result["points"]:
        print(" ".join(f"{'-':>18}" if pt[c] is None else f"{pt[c]:18.10g}" for c in cols))
    if args.json:
        write_json(args.json, result)
    return 0
