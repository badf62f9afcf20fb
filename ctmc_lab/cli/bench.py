"""``ctmc-lab bench``: the measured speed table of ``benchmarks/run.py`` (issue 7).

The workloads live in ``benchmarks/run.py`` of the source checkout (they time the library
against its naive twins and are not part of the installed package); this subcommand loads
that file and runs it with the same options.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def _runner():
    if not RUNNER.is_file():
        raise ValueError(f"`ctmc-lab bench` needs a source checkout: {RUNNER} not found")
    name = "ctmc_lab_benchmarks_run"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time the hot paths against naive twins and bandwidth bounds",
        description="Run the benchmark workloads W1-W7 (median wall time, peak memory, ratio vs a naive "
        "twin and vs a streaming-bandwidth bound, all measured in the same run), print the table and "
        "write benchmarks/results.json.",
    )
    p.add_argument("--only", metavar="IDS", help="run only these workloads, e.g. W3 or W1,W7")
    p.add_argument("--repeats", type=int, metavar="N", help="repeats per workload (default: per workload)")
    p.add_argument("--output", default=None, metavar="PATH",
                   help="results JSON (default: benchmarks/results.json); '-' to skip")
    p.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    p.set_defaults(func=run)


def run(args) -> int:
    module = _runner()
    if args.output is None:
        args.output = str(module.DEFAULT_OUTPUT)
    return module.run(args)
