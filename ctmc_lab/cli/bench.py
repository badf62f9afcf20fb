"""``ctmc-lab bench``: the measured speed table of ``benchmarks/run.py``.

The workloads live in ``benchmarks/run.py`` of the source checkout (they time the library
against its naive twins and are not part of the installed package); this subcommand loads
that file and runs it with the same options. Results go where ``--out`` says, by default
``bench_results.json`` in the current directory, never into the checkout.
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
        "write it as JSON (--out). Needs a source checkout.",
    )
    if RUNNER.is_file():
        _runner().add_arguments(p)  # one definition of the options, shared with benchmarks/run.py
    else:
        _fallback_arguments(p)
    p.set_defaults(func=run)


def _fallback_arguments(p) -> None:
    # Without a checkout the command still parses, then says what it needs.
    p.add_argument("--only", metavar="IDS")
    p.add_argument("--repeats", type=int, metavar="N")
    p.add_argument("--out", "--output", dest="out", metavar="PATH")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--readme", metavar="README")


def run(args) -> int:
    return _runner().run(args)
