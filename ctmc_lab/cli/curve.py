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

from ctmc_lab.cli._budget import absorbing_marginal_cost, require
from ctmc_lab.cli._common import add_dist_arguments, add_output_arguments, load_distribution, print_lines, table_row
from ctmc_lab.cli._lazy import LazyChoices, LazyText

#: The schedule used without ``--schedule`` (as the paper's experiments).
DEFAULT_SCHEDULE = "loglinear"
#: The process used without ``--process`` (the paper's masking noise).
DEFAULT_PROCESS = "absorbing"

COLUMNS = ["t", "sigma_bar", "mask_level", "kl", "kl_rate", "mdse", "mutual_information", "mdse_marginal"]
#: Short headers for the 100-column table (``--wide`` prints the JSON names and 10 digits).
HEADERS = ["t", "σ̄(t)", "λ(t)", "KL", "dKL/dt", "mdse", "I(x0;xt)", "mdse marg"]


def _schedule_names() -> list[str]:
    from ctmc_lab.forward.schedules import SCHEDULES

    return sorted(SCHEDULES)


def _schedule_ranges() -> str:
    from ctmc_lab.forward.schedules import SCHEDULES

    parts = []
    for name in sorted(SCHEDULES):
        t_max = SCHEDULES[name]().t_max
        rng = "t > 0" if math.isinf(t_max) else f"0 < t <= {t_max:g}"
        parts.append(f"{name} ({rng})")
    return ", ".join(parts)


def _process_names() -> str:
    """The registered processes for the help text, the default first."""
    from ctmc_lab.forward.generators import NOISE_PROCESSES

    others = [name for name in NOISE_PROCESSES if name != DEFAULT_PROCESS]
    return ", ".join([f"{DEFAULT_PROCESS} (default)", *others])


def add_parser(sub) -> None:
    p = sub.add_parser(
        "curve",
        help="KL(p_t|0 || p_t), its exact t-derivative, mdse and I(x0; x_t) at given times",
        description="Theorem 3.1 along a schedule: kl_rate (exact d/dt of the KL) equals -mdse.",
    )
    p.add_argument("--sequence", required=True, metavar="SEQ", help="the clean sequence x0 (required)")
    add_dist_arguments(p, command="curve")
    # The registries are read when the help is formatted (``%(name)s`` of the action), not here.
    process = p.add_argument(
        "--process",
        default=DEFAULT_PROCESS,
        metavar="PROCESS",
        help="%(processes)s, or a JSON file holding a rate matrix Q "
        "(column convention: Q[a][b] is the rate b -> a; the first N states are clean)",
    )
    process.processes = LazyText(_process_names)
    schedule = p.add_argument(
        "--schedule",
        choices=LazyChoices(_schedule_names),
        default=DEFAULT_SCHEDULE,
        metavar="NAME",
        help=f"noise schedule (default: {DEFAULT_SCHEDULE}); valid times: %(time_ranges)s",
    )
    # After add_argument, which formats the metavar once as a check: the braces list the names.
    schedule.metavar = LazyText(lambda: "{" + ",".join(_schedule_names()) + "}")
    schedule.time_ranges = LazyText(_schedule_ranges)
    p.add_argument(
        "--times",
        required=True,
        metavar="T1,T2,...",
        help="comma-separated times t > 0 within the schedule's range (required)",
    )
    add_output_arguments(p)
    p.set_defaults(func=run)


def _as_given(token: str, value: float) -> str:
    """A time as the user wrote it, with its float64 value when that differs in kind (1e-400 is 0)."""
    if value == 0 and any(c in token.lower().split("e")[0] for c in "123456789"):
        return f"{token} (0 in float64)"
    if math.isinf(value) and not any(c in token.lower() for c in "inf"):
        return f"{token} (inf in float64)"
    return token


def _time_tokens(times) -> list[str]:
    """The times of ``--times`` as written (text split at commas, or numbers by ``repr``)."""
    if not isinstance(times, str):
        times = ",".join(t if isinstance(t, str) else repr(float(t)) for t in times)
    return [t.strip() for t in times.split(",") if t.strip()]


def _parse_times(text, schedule=None) -> list[float]:
    """The ``--times`` list (text, or numbers); every time out of range is named in one message, as given."""
    tokens = _time_tokens(text)
    text = ",".join(tokens) if not isinstance(text, str) else text
    try:
        times = [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f"`--times` must be comma-separated numbers (got {text!r})") from None
    if not times:
        raise ValueError(f"`--times` must list at least one time (got {text!r})")
    bad = [_as_given(tok, t) for tok, t in zip(tokens, times) if not math.isfinite(t) or t <= 0]
    if bad:
        raise ValueError(
            f"`--times` must be finite and > 0 (got {', '.join(bad)}); at t = 0 "
            "the kernel is the identity and mdse is a one-sided limit"
        )
    if schedule is not None:
        late = [tok for tok, t in zip(tokens, times) if t > schedule.t_max]
        if late:
            raise ValueError(
                f"`--times` must be <= {schedule.t_max:g} for the {schedule!r} schedule (got {', '.join(late)})"
            )
    return times


def _generator(process: str, n_tokens: int):
    """The generator named by ``--process``: a registered noise process or a JSON file with Q."""
    from ctmc_lab.forward import generators
    from ctmc_lab.forward.generators import NOISE_PROCESSES
    from ctmc_lab.io import read_json

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
    import numpy as np

    from ctmc_lab.exact import information, scores
    from ctmc_lab.io import json_float

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


def curve_cost(gen, length: int, n_times: int) -> tuple[float, float]:
    """(memory bytes, operations) of ``curve`` at ``n_times`` times for a generator over ``gen.n_states`` states.

    Per time: p_s, the KL, its rate, mdse and the marginal mdse, each a few sweeps of L axis
    steps over the S^L noisy states (about 4 L (3 + log2 L) operations per state). p_s itself is
    the closed-form absorbing marginal for the built-in absorbing process
    (:func:`~ctmc_lab.cli._budget.absorbing_marginal_cost`) and otherwise L dense (S, S)
    kernel contractions, S^L L S multiply-adds, beside the (S, S) kernel itself.
    """
    S = float(gen.n_states)
    states = S**length
    memory, work = 8.0 * 8 * states, 4.0 * states * length * (3 + math.log2(max(length, 2)))
    if gen.kind == "absorbing":
        marg_memory, marg_work = absorbing_marginal_cost(gen.n_tokens, length)
        memory, work = memory + marg_memory, work + marg_work
    else:
        memory, work = memory + 8.0 * 4 * S * S, work + states * length * S
    return memory, n_times * work


def compute(dist, sequence: str, process: str, schedule_name: str, times) -> dict:
    """The ``ctmc-lab curve --json`` record; refuses (``ValueError``) every time float64 cannot serve.

    ``times`` is the ``--times`` text or a sequence of numbers; messages quote the times as given.
    """
    from ctmc_lab.forward.process import ForwardProcess, NumericalRangeError
    from ctmc_lab.forward.schedules import get_schedule, require_zero_start

    schedule = require_zero_start(get_schedule(schedule_name))
    tokens = _time_tokens(times)
    times = _parse_times(times, schedule)
    given = dict(zip(times, tokens))
    gen = _generator(process, dist.n_tokens)
    x0 = dist.encode(sequence)
    memory, work = curve_cost(gen, dist.length, len(times))
    require(
        f"`curve` at {len(times)} times over {gen.n_states}^{dist.length} noisy states",
        memory=memory,
        work=work,
        lower="give fewer `--times`, or use a distribution with a shorter length or fewer symbols",
    )
    proc = ForwardProcess(gen, schedule)
    points, refused = [], []
    for t in times:
        try:
            points.append(_point(proc, schedule, dist, x0, t))
        except NumericalRangeError as err:
            refused.append((t, err))
    if refused:
        listed = ", ".join(given[t] for t, _ in refused)
        raise ValueError(f"`--times` {listed}: not computable in float64 at these times ({refused[0][1]})")
    return {
        "sequence": sequence,
        "process": process,
        "schedule": schedule_name,
        "in_support": bool(dist.prob(x0) > 0),
        "points": points,
    }


def run(args) -> int:
    from ctmc_lab.cli._common import write_json

    dist = load_distribution(args)
    _parse_times(args.times)
    result = compute(dist, args.sequence, args.process, args.schedule, args.times)
    lines = []
    if not result["in_support"]:
        lines.append(
            f"note: {args.sequence} is outside the support: -log p0 = inf, and under "
            f"{args.process} noise its KL is infinite wherever shown as '-'"
        )
    lines.append(f"{args.sequence}  process={args.process}  schedule={args.schedule}")
    if args.wide:
        lines.append(table_row(COLUMNS, [18] * len(COLUMNS)))
        lines += [table_row([pt[c] for c in COLUMNS], [18] * len(COLUMNS), digits=10) for pt in result["points"]]
    else:
        lines.append(table_row(HEADERS, [11] * len(HEADERS)))
        lines += [table_row([pt[c] for c in COLUMNS], [11] * len(COLUMNS), digits=5) for pt in result["points"]]
    print_lines(lines)
    if args.json:
        write_json(args.json, result)
    return 0
