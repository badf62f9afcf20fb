"""``ctmc-lab curve``: KL, its exact rate, mdse and mutual information along a schedule.

JSON written by ``--json PATH``::

    {"sequence": str, "process": str, "schedule": str, "in_support": bool,
     "points": [{"t", "sigma_bar", "mask_level", "kl", "kl_rate", "mdse",
                 "mutual_information", "mdse_marginal"}, ...]}

Every value is a finite float or null (an infinite KL off the support, or no mask level
for a process without a mask token). A time whose values float64 cannot represent (a stiff Q, or
p_s underflowing at a very small or very large noise level) is refused, not printed.
"""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.cli._budget import require
from ctmc_lab.cli._common import (
    add_dist_arguments,
    add_output_arguments,
    json_float,
    load_distribution,
    table_row,
    write_json,
)
from ctmc_lab.exact import information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.generators import NOISE_PROCESSES
from ctmc_lab.forward.process import ForwardProcess, NumericalRangeError
from ctmc_lab.forward.schedules import SCHEDULES, get_schedule, require_zero_start
from ctmc_lab.io import read_json

#: The schedule used without ``--schedule`` (as the paper's experiments).
DEFAULT_SCHEDULE = "loglinear"
#: The process used without ``--process`` (the paper's masking noise).
DEFAULT_PROCESS = "absorbing"

COLUMNS = ["t", "sigma_bar", "mask_level", "kl", "kl_rate", "mdse", "mutual_information", "mdse_marginal"]
#: Short headers for the 100-column table (``--wide`` prints the JSON names and 10 digits).
HEADERS = ["t", "σ̄(t)", "λ(t)", "KL", "dKL/dt", "mdse", "I(x0;xt)", "mdse marg"]


def _schedule_ranges() -> str:
    parts = []
    for name in sorted(SCHEDULES):
        t_max = SCHEDULES[name]().t_max
        rng = "t > 0" if math.isinf(t_max) else f"0 < t <= {t_max:g}"
        parts.append(f"{name} ({rng})")
    return ", ".join(parts)


def _process_names() -> str:
    """The registered processes for the help text, the default first."""
    others = [name for name in NOISE_PROCESSES if name != DEFAULT_PROCESS]
    return ", ".join([f"{DEFAULT_PROCESS} (default)", *others])


def add_parser(sub) -> None:
    p = sub.add_parser(
        "curve",
        help="KL(p_t|0 || p_t), its exact t-derivative, mdse and I(x0; x_t) at given times",
        description="Theorem 3.1 along a schedule: kl_rate (exact d/dt of the KL) equals -mdse.",
    )
    p.add_argument("--sequence", required=True, metavar="SEQ", help="the clean sequence x0 (required)")
    add_dist_arguments(p)
    p.add_argument(
        "--process",
        default=DEFAULT_PROCESS,
        metavar="PROCESS",
        help=f"{_process_names()}, or a JSON file holding a rate matrix Q "
        "(column convention: Q[a][b] is the rate b -> a; the first N states are clean)",
    )
    p.add_argument(
        "--schedule",
        choices=sorted(SCHEDULES),
        default=DEFAULT_SCHEDULE,
        help=f"noise schedule (default: {DEFAULT_SCHEDULE}); valid times: {_schedule_ranges()}",
    )
    p.add_argument(
        "--times",
        required=True,
        metavar="T1,T2,...",
        help="comma-separated times t > 0 within the schedule's range (required)",
    )
    add_output_arguments(p)
    p.set_defaults(func=run)


def _parse_times(text: str, schedule=None) -> list[float]:
    """The ``--times`` list; every time out of range is named in one message."""
    try:
        times = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"`--times` must be comma-separated numbers (got {text!r})") from None
    if not times:
        raise ValueError("`--times` must list at least one time")
    bad = [t for t in times if not np.isfinite(t) or t <= 0]
    if bad:
        raise ValueError(
            f"`--times` must be finite and > 0 (got {', '.join(f'{t:g}' for t in bad)}); at t = 0 "
            "the kernel is the identity and mdse is a one-sided limit"
        )
    if schedule is not None:
        late = [t for t in times if t > schedule.t_max]
        if late:
            raise ValueError(
                f"`--times` must be <= {schedule.t_max:g} for the {schedule!r} schedule "
                f"(got {', '.join(f'{t:g}' for t in late)})"
            )
    return times


def _generator(process: str, n_tokens: int):
    """The generator named by ``--process``: a registered noise process or a JSON file with Q."""
    if process in NOISE_PROCESSES:
        return NOISE_PROCESSES[process].generator(n_tokens)
    if not process.endswith(".json"):
        raise ValueError(
            f"`--process` {process!r} is not known: use {', '.join(NOISE_PROCESSES)}, or a JSON file with Q"
        )
    Q = read_json(process, what="`--process` file")
    try:
        return generators.custom(Q, n_tokens=n_tokens)
    except ValueError as err:
        raise ValueError(f"`--process` file {process!r}: {err}") from None


def _point(proc, schedule, dist, x0, t: float) -> dict:
    noised = proc.at(dist, t)
    rate = float(schedule.sigma(t))
    kl = information.kl(noised, x0)
    finite = np.isfinite(kl)
    return {
        "t": t,
        "sigma_bar": float(schedule.sigma_bar(t)),
        "mask_level": float(schedule.mask_level(t)) if proc.generator.mask_id is not None else None,
        "kl": json_float(kl),
        "kl_rate": json_float(rate * information.kl_rate(noised, x0)) if finite else None,
        "mdse": json_float(rate * scores.mdse(noised, x0)) if finite else None,
        "mutual_information": json_float(information.mutual_information(noised)),
        "mdse_marginal": json_float(rate * scores.marginal_mdse(noised)),
    }


def compute(dist, sequence: str, process: str, schedule_name: str, times) -> dict:
    """The ``ctmc-lab curve --json`` record; refuses (``ValueError``) every time float64 cannot serve."""
    schedule = require_zero_start(get_schedule(schedule_name))
    times = _parse_times(",".join(repr(float(t)) for t in times), schedule)
    gen = _generator(process, dist.n_tokens)
    x0 = dist.encode(sequence)
    states = float(gen.n_states) ** dist.length
    # Per time: p_s, KL, its rate, mdse and the marginal mdse, each a few sweeps of L axis steps.
    require(
        f"`curve` at {len(times)} times over {gen.n_states}^{dist.length} noisy states",
        memory=8.0 * 8 * states,
        work=4.0 * len(times) * states * dist.length * (3 + math.log2(max(dist.length, 2))),
        lower="give fewer `--times`, or use a distribution with a shorter length",
    )
    proc = ForwardProcess(gen, schedule)
    points, refused = [], []
    for t in times:
        try:
            points.append(_point(proc, schedule, dist, x0, t))
        except NumericalRangeError as err:
            refused.append((t, err))
    if refused:
        listed = ", ".join(f"{t:g}" for t, _ in refused)
        raise ValueError(f"`--times` {listed}: not computable in float64 at these times ({refused[0][1]})")
    return {
        "sequence": sequence,
        "process": process,
        "schedule": schedule_name,
        "in_support": bool(dist.prob(x0) > 0),
        "points": points,
    }


def run(args) -> int:
    dist = load_distribution(args)
    result = compute(dist, args.sequence, args.process, args.schedule, _parse_times(args.times))
    if not result["in_support"]:
        print(
            f"note: {args.sequence} is outside the support: -log p0 = inf, and under "
            f"{args.process} noise its KL is infinite wherever shown as '-'"
        )
    print(f"{args.sequence}  process={args.process}  schedule={args.schedule}")
    if args.wide:
        print(table_row(COLUMNS, [18] * len(COLUMNS)))
        for pt in result["points"]:
            print(table_row([pt[c] for c in COLUMNS], [18] * len(COLUMNS), digits=10))
    else:
        print(table_row(HEADERS, [11] * len(HEADERS)))
        for pt in result["points"]:
            print(table_row([pt[c] for c in COLUMNS], [11] * len(COLUMNS), digits=5))
    if args.json:
        write_json(args.json, result)
    return 0
