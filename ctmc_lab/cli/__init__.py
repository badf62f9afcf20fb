"""The ``ctmc-lab`` command line: ``verify``, ``nll``, ``curve``, ``estimate`` and the rest below.

Every subcommand module has ``add_parser(subparsers)``; a ``ValueError`` from any layer
becomes ``ctmc-lab: error: ...`` on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..io import check_writable

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = [
    "proofs_check.cli",
    "ctmc_lab.cli.nll",
    "ctmc_lab.cli.curve",
    "ctmc_lab.cli.estimate",
    "ctmc_lab.cli.figures",
    "ctmc_lab.cli.bench",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctmc-lab",
        description="Exact verification of the information theory of discrete diffusion "
        "(Jeon, Shin, Jeon & No, NeurIPS 2025).",
    )
    parser.add_argument("--version", action="version", version=f"ctmc-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "json", None):
            check_writable(args.json)  # before any work: a long run must not fail at its last step
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
        sys.stdout.flush()
    except OSError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    print(f"ctmc-lab {command}: error: {err}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
