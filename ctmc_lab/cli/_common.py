"""Shared pieces of the command line: distribution options, JSON output, progress.

Each subcommand lives in its own module with ``add_parser(subparsers)``, which registers
its parser and sets ``func=run``; ``run(args)`` returns the exit status. A ``ValueError``
raised anywhere below becomes a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import sys
import time

from .. import datasets
from ..io import check_writable, json_float, write_json

__all__ = ["add_dist_arguments", "load_distribution", "json_float", "write_json", "Progress", "eprint"]


def eprint(*args) -> None:
    print(*args, file=sys.stderr)


def add_dist_arguments(parser, *, default="dna128") -> None:
    parser.add_argument(
        "--dist",
        default=default,
        metavar="SPEC",
        help="dna128 (the paper's table), dna128-like:SEED, or a JSON file {sequence: probability}; "
        "`nll` also takes markov4 (the paper's order-4 chain) or markov:PATH (a JSON table "
        f"{{context: {{symbol: probability}}}}) for the prompt-response protocol (default: {default})",
    )
    parser.add_argument("--alphabet", help="symbols in token order, e.g. ATGC (default: inferred, sorted)")
    parser.add_argument("--normalize", action="store_true", help="rescale probabilities to sum to 1")


def load_distribution(args):
    """The ``JointDistribution`` named by ``--dist``/``--alphabet``/``--normalize``."""
    return datasets.load(args.dist, alphabet=args.alphabet, normalize=args.normalize)


class Progress:
    """A minimal progress indicator on stderr, shown only on a terminal.

    Use as ``with Progress(total, "label") as bar: ... bar.update(k)``.
    """

    def __init__(self, total: int, label: str, *, stream=None):
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self._start = time.perf_counter()
        self._last = 0.0

    def __enter__(self):
        return self

    def update(self, k: int = 1) -> None:
        self.done += k
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.2 or self.done >= self.total):
            self._last = now
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            self.stream.write(
                f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {now - self._start:5.1f}s"
            )
            self.stream.flush()

    def __exit__(self, *exc):
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + 60) + "\r")
            self.stream.flush()
        return False
