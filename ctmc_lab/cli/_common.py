"""Shared pieces of the command line: distribution and output options, table rows.

Each subcommand lives in its own module with ``add_parser(subparsers)``, which registers
its parser and sets ``func=run``; ``run(args)`` returns the exit status. A ``ValueError``
raised anywhere below becomes a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys

from ctmc_lab.cli import specs

__all__ = [
    "dist_help",
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


def dist_help(command: str, *, default="dna128", lead: str | None = None, note: str | None = None) -> str:
    """The ``--dist`` help of ``command``: every form of :data:`~ctmc_lab.cli.specs.DIST_SPECS` it takes.

    Parameters
    ----------
    command : str
        The subcommand (``nll``, ``verify``, ...): only the forms it takes are listed.
    default : str
        What ``--dist`` is when not given (a SPEC, or words for a default that is not one).
    lead : str, optional
        What the distribution is for, before the forms.
    note : str, optional
        A sentence after the forms (e.g. what a Markov source does in this command).
    """
    forms = [d for d in specs.DIST_SPECS if command in d.commands]
    if not forms:
        raise ValueError(f"no `--dist` form is taken by {command!r}")
    listed = ", ".join(f"{d.form} ({d.help})" for d in forms[:-1]) + f", or {forms[-1].form} ({forms[-1].help})"
    parts = [f"{lead}: {listed}" if lead else listed]
    if note:
        parts.append(note)
    return "; ".join(parts) + f" (default: {default})"


def add_dist_arguments(parser, *, default="dna128", command: str | None = None, note: str | None = None) -> None:
    """``--dist SPEC`` (its help from :func:`dist_help`), ``--alphabet`` and ``--normalize``.

    ``command`` defaults to the last word of the parser's ``prog`` (``ctmc-lab nll`` → ``nll``).
    """
    command = command or parser.prog.split()[-1]
    parser.add_argument(
        "--dist",
        default=default,
        metavar="SPEC",
        help=dist_help(command, default=default, note=note),
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
    """``--alphabet`` and ``--normalize`` describe a user's file; refuse them for the source ``source``."""
    specs.refuse_file_options(
        source, alphabet=getattr(args, "alphabet", None), normalize=bool(getattr(args, "normalize", False))
    )


def load_distribution(args):
    """The ``JointDistribution`` named by ``--dist``/``--alphabet``/``--normalize``.

    A form of ``--dist`` the command (``args.command``) does not take is refused, and so are
    ``--alphabet`` and ``--normalize`` for a source that is not a user's file.
    """
    return specs.load_joint(
        args.dist, alphabet=args.alphabet, normalize=args.normalize, command=getattr(args, "command", None)
    )


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
