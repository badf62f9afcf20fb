"""``ctmc-lab bench``: the measured speed table of ``benchmarks.run``.

The workloads time the library against its naive twins; they live in the ``benchmarks``
package of the source checkout and are not installed with ``ctmc_lab`` (their record is the
checkout's README table, stamped with its git commit). This subcommand imports ``benchmarks.run.run`` from
the checkout this package was installed from (an editable install, ``pip install -e .``) and
runs it with the same options; without a checkout it parses its options and then says what
it needs. Results go where ``--out`` says, by default ``bench_results.json`` in the current
directory, never into the checkout.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

#: The source checkout (the parent of the ``ctmc_lab`` package directory).
CHECKOUT = Path(__file__).resolve().parents[2]
RUNNER = CHECKOUT / "benchmarks" / "run.py"


def _runner():
    """The ``benchmarks.run`` module of :data:`CHECKOUT` (ValueError without a checkout)."""
    if not RUNNER.is_file():
        raise ValueError(f"`ctmc-lab bench` needs a source checkout: {RUNNER} not found")
    if str(CHECKOUT) not in sys.path:
        # Appended, not prepended: the checkout's own packages are found first anyway (editable
        # install), and nothing installed is shadowed by a file of the checkout.
        sys.path.append(str(CHECKOUT))
    module = importlib.import_module("benchmarks.run")
    if Path(module.__file__).resolve() != RUNNER:
        raise ValueError(f"`ctmc-lab bench`: the module `benchmarks.run` found is {module.__file__}, not {RUNNER}")
    return module


def add_parser(sub) -> None:
    # A DeferredParser (the subparsers' class): the runner, which imports NumPy, is imported only
    # when `bench` is parsed or its help is shown.
    p = sub.add_parser(
        "bench",
        help="time the hot paths against naive twins and bandwidth bounds",
        description="Run the benchmark workloads W1-W7 (median wall time, peak memory, ratio vs a naive "
        "twin and vs a streaming-bandwidth bound, all measured in the same run), print the table and "
        "write it as JSON (--out). Needs a source checkout.",
    )
    if hasattr(p, "defer"):
        p.defer(_add_arguments)
    else:  # a caller's own parser class: add the options now
        _add_arguments(p)
    p.set_defaults(func=run)


def _add_arguments(p) -> None:
    if RUNNER.is_file():
        _runner().add_arguments(p)  # one definition of the options, shared with benchmarks/run.py
    else:
        _fallback_arguments(p)


def _fallback_arguments(p) -> None:
    # Without a checkout the command still parses, then says what it needs.
    p.add_argument("--only", metavar="IDS")
    p.add_argument("--repeats", type=int, metavar="N")
    p.add_argument("--out", "--output", dest="out", metavar="PATH")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--readme", metavar="README")


def run(args) -> int:
    from ctmc_lab.io import check_writable

    runner = _runner()
    if getattr(args, "out", None) not in (None, "-") and not getattr(args, "readme", None):
        check_writable(args.out, what="`--out`")  # before the workloads: a long run must not fail at its last step
    return runner.run(args)
