"""Shared pieces of the command line: distribution and output options, table rows.

Each subcommand lives in its own module with ``add_parser(subparsers)``, which registers
its parser and sets ``func=run``; ``run(args)`` returns the exit status. A ``ValueError``
raised anywhere below becomes a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

from ctmc_lab.cli import specs

__all__ = [
    "add_dist_arguments",
    "load_distribution",
    "refuse_file_options",
    "add_output_arguments",
    "table_row",
    "eprint",
    "ensure_printable",
    "print_lines",
]

#: Re-exported from :mod:`ctmc_lab.io` (below every layer) on first use: ``io`` imports NumPy,
#: which the parser must not load.
_FROM_IO = ("Progress", "json_float", "write_json")


def __getattr__(name):
    if name in _FROM_IO:
        from ctmc_lab import io

        return getattr(io, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def eprint(*args) -> None:
    """:func:`ctmc_lab.io.eprint`, importable at parse time (``ctmc_lab.io`` is imported on the call)."""
    from ctmc_lab.io import eprint as _eprint

    _eprint(*args)


def add_dist_arguments(parser, *, default="dna128") -> None:
    parser.add_argument(
        "--dist",
        default=default,
        metavar="SPEC",
        help="dna128 (the paper's table), dna128-like:SEED, a JSON file {sequence: probability}, or "
        "python:MODULE:ATTR (a Source object, or a zero-argument callable returning one, enumerated over "
        "its length); "
        "`nll` also takes markov4 (the paper's order-4 chain) or markov:PATH (a JSON table "
        f"{{context: {{symbol: probability}}}}) for the prompt-response protocol (default: {default})",
    )
    parser.add_argument(
        "--alphabet",
        help="symbols in token order, e.g. ATGC, for a JSON file "
        "(default: its symbols, sorted; refused for built-in sources)",
    )
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="rescale a JSON file's probabilities to sum to 1 (refused for built-in sources)",
    )


def refuse_file_options(args, *, source: str) -> None:
    """``--alphabet`` and ``--normalize`` describe a user's file; refuse them for a built-in source."""
    for option, given in (
        ("--alphabet", getattr(args, "alphabet", None) is not None),
        ("--normalize", bool(getattr(args, "normalize", False))),
    ):
        if given:
            raise ValueError(
                f"`{option}` applies only to a JSON file given as `--dist` "
                f"(the built-in {source} has its own alphabet and normalised probabilities)"
            )


def load_distribution(args):
    """The ``JointDistribution`` named by ``--dist``/``--alphabet``/``--normalize``.

    ``--alphabet`` and ``--normalize`` are refused for the built-in sources, which ignore them.
    """
    if not specs.is_file_spec(args.dist):
        refuse_file_options(args, source=str(args.dist))
    return specs.load_joint(args.dist, alphabet=args.alphabet, normalize=args.normalize)


def add_output_arguments(parser, *, wide: bool = True) -> None:
    """``--json PATH`` (checked before any work) and, for tables, ``--wide``."""
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the results as JSON to PATH (written atomically; checked before the run)",
    )
    if wide:
        parser.add_argument(
            "--wide",
            action="store_true",
            help="print every column at full precision (default: a table that fits 100 columns)",
        )


def table_row(values, widths, *, digits: int | None = None) -> str:
    """One right-aligned row: strings as given, None as '-', numbers with ``digits`` significant digits."""
    cells = []
    for v, w in zip(values, widths):
        if v is None:
            cells.append(f"{'-':>{w}}")
        elif isinstance(v, str) or digits is None:
            cells.append(f"{v!s:>{w}}")
        else:
            cells.append(f"{v:>{w}.{digits}g}")
    return " ".join(cells)


def ensure_printable(lines) -> None:
    """Raise ``ValueError`` unless every line encodes for stdout, so a table is never cut part way."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    errors = getattr(sys.stdout, "errors", None) or "strict"
    for line in lines:
        try:
            str(line).encode(encoding, errors)
        except UnicodeEncodeError as err:
            raise ValueError(
                f"cannot print {str(line).strip()!r} to standard output ({encoding}): "
                f"{err.object[err.start : err.end]!r} {err.reason}"
            ) from None


def print_lines(lines) -> None:
    """Print ``lines`` to stdout once all of them are known to encode: a failure prints nothing."""
    lines = list(lines)
    ensure_printable(lines)
    sys.stdout.write("".join(f"{line}\n" for line in lines))
