"""The ``ctmc-lab`` command line: ``verify``, ``nll``, ``curve``, ``estimate`` and the rest below.

Every subcommand module has ``add_parser(subparsers)``; a ``ValueError`` from any layer
becomes ``ctmc-lab: error: ...`` on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from ctmc_lab import __version__
from ctmc_lab.cli._lazy import DeferredParser, complete

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = [
    "ctmc_lab.cli.verify",
    "ctmc_lab.cli.nll",
    "ctmc_lab.cli.curve",
    "ctmc_lab.cli.estimate",
    "ctmc_lab.cli.figures",
    "ctmc_lab.cli.bench",
    "ctmc_lab.cli.study",
    "ctmc_lab.cli.conform",
]


#: BLAS threads when neither ``--threads`` nor ``CTMC_LAB_THREADS`` says otherwise. One thread:
#: the commands multiply small or thin matrices, where a second OpenBLAS thread gains little on an
#: idle machine and, on a busy one, spins against the other processes (measured in
#: ``benchmarks/threads.py``; see the docs' performance page).
DEFAULT_THREADS = 1


def _threads(text: str) -> int:
    """``--threads`` value: a positive integer, or ``auto`` (0: the BLAS library's own default)."""
    if text.strip().lower() == "auto":
        return 0
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto' (got {text!r})")
    return n


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N|auto``; when it is not given, ``args`` has no ``threads`` attribute.

    On a parser whose options are still deferred it is queued after them, so it stays last.
    """
    if isinstance(parser, DeferredParser) and parser.deferred:
        parser.defer(add_threads_option)
        return
    parser.add_argument(
        "--threads",
        type=_threads,
        default=argparse.SUPPRESS,
        metavar="N|auto",
        help=f"BLAS (OpenBLAS/MKL) threads for this run; 'auto' keeps the library's default "
        f"(default: {DEFAULT_THREADS}, or the CTMC_LAB_THREADS environment variable)",
    )


def thread_limit(args) -> int:
    """The thread count asked for (0: no limit): ``--threads``, else ``CTMC_LAB_THREADS``, else the default."""
    if hasattr(args, "threads"):
        return args.threads
    env = os.environ.get("CTMC_LAB_THREADS")
    if env:
        try:
            return _threads(env)
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"`CTMC_LAB_THREADS` {err}") from None
    return DEFAULT_THREADS


def blas_threads(n: int):
    """A context limiting BLAS threads to ``n`` (0: no limit)."""
    if not n:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n, user_api="blas")


def build_parser() -> argparse.ArgumentParser:
    """The ``ctmc-lab`` parser with every subcommand of :data:`SUBCOMMANDS`.

    Building it imports no NumPy: the subcommand modules import the library inside ``run``, and
    what the parser reads from a registry (choices, help text) is read when it is used.
    """
    parser = argparse.ArgumentParser(
        prog="ctmc-lab",
        description="Exact verification of the information theory of discrete diffusion "
        "(Jeon, Shin, Jeon & No, NeurIPS 2025).",
    )
    parser.add_argument("--version", action="version", version=f"ctmc-lab {__version__}")
    # Accepted before or after the subcommand.
    add_threads_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=DeferredParser)
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    for subparser in sub.choices.values():
        add_threads_option(subparser)
    return parser


def documented_parser() -> argparse.ArgumentParser:
    """:func:`build_parser` with every deferred option added: what ``docs/cli.md`` renders."""
    return complete(build_parser())


def main(argv=None) -> int:
    """Run ``ctmc-lab`` on ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0 or 1 as the subcommand says; 2 for a usage or input error (one ``ctmc-lab CMD: error:``
    line on stderr, never a traceback); 130 on an interrupt.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if sys.stdout is None:  # Python's stand-in for a closed file descriptor 1 (`ctmc-lab nll >&-`)
        return _fail(args.command, "cannot write to standard output: it is closed (redirect it, e.g. >/dev/null)")
    try:
        if getattr(args, "json", None):
            from ctmc_lab.io import check_writable

            check_writable(args.json)  # before any work: a long run must not fail at its last step
        with blas_threads(thread_limit(args)):
            status = int(args.func(args) or 0)
        sys.stdout.flush()  # a full or closed stdout fails here, inside the handlers below
        return status
    except ValueError as err:
        return _fail(args.command, err)
    except MemoryError:
        return _fail(args.command, "out of memory; lower the sizes (the resource estimate missed this case)")
    except OSError as err:
        return _fail(args.command, _os_message(err))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _os_message(err: OSError) -> str:
    if err.filename:
        return f"{err.filename!r}: {err.strerror or err}"
    return f"cannot write to standard output: {err.strerror or err}"


def _fail(command: str, err) -> int:
    """Print the one-line error; silence a broken stdout so the exit flush adds no traceback."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    print(f"ctmc-lab {command}: error: {err}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
