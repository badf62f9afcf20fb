"""``ctmc-lab verify`` (also ``python -m proofs_check``): run the checks, print the report.

The parser and the ``--dist`` loading live here, the suite in :func:`proofs_check.verifier.verify`,
which this module calls with plain values: the command line is the only layer that reads
argv, and ``proofs_check`` imports only the public ``ctmc_lab`` API.

Exit status: 0 when every check passes and every negative control fails; 1 otherwise;
2 for a usage or input error (a bad ``--dist`` file, an unknown precision, a pattern that
selects nothing).
"""

from __future__ import annotations

import proofs_check
from ctmc_lab.cli._common import add_dist_arguments, load_distribution
from ctmc_lab.cli.specs import is_markov_spec, load_markov
from proofs_check import runner

__all__ = ["add_parser", "run"]

DESCRIPTION = (
    "Verify every identity of 'Information-Theoretic Discrete Diffusion' (Thm 3.1–Eq. 18), tied to "
    "the noised process and the denoiser, in float64, mpmath (50 digits) and sympy, plus the "
    "estimators and the Markov source, with negative controls that must fail; the report ends "
    "with the coverage matrix (theorem × precision)."
)

DIST_HELP = (
    "run the distribution-dependent checks on this distribution (dna128, "
    "dna128-like:SEED, or a JSON file {sequence: probability}), or on a Markov source "
    "(markov4, or markov:PATH): its Markov rows, and every other row on its stationary "
    "window of the longest length L with N^L <= 4096; default: a seeded Dirichlet(1) on "
    "ATGC^3 for the dense checks, dna128 for the subset-table checks and a seeded "
    "order-2 chain on 3 symbols for the Markov rows"
)


def add_parser(subparsers):
    """Register ``verify`` on the ``ctmc-lab`` subparsers; sets ``func=run``."""
    parser = subparsers.add_parser(
        "verify", help="verify the paper's identities (exit 0 iff all hold)", description=DESCRIPTION
    )
    add_dist_arguments(parser, default=None)
    for action in parser._actions:  # the shared help names dna128 as default; verify's differs
        if action.dest == "dist":
            action.help = DIST_HELP
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH")
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        help="run only checks whose id or theorem matches (substring or glob; "
        "comma-separated), e.g. 'Thm 4.1' or 'mp.*'",
    )
    parser.add_argument(
        "--precision",
        metavar="LIST",
        default=None,
        help="comma-separated subset of float64,mpmath,sympy (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="fewer cases per check (for CI)")
    parser.add_argument(
        "--seed",
        type=int,
        default=proofs_check.DEFAULT_SEED,
        help="seed of the default distribution and of random Q, c and pairs",
    )
    parser.add_argument("--list", action="store_true", help="list the selected checks and exit")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds one check may spend on a --dist distribution: a check whose estimated "
        "cost exceeds it runs on a smaller prefix marginal or is skipped with the reason "
        f"(default: {runner.DEFAULT_BUDGET:g}; the whole run is capped at "
        f"{runner.USER_RUN_LIMIT:g} s). On the built-in distributions it is only a guard "
        f"against a hang (default {runner.BUILTIN_BUDGET:g}), and running over is a failure",
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="one unclipped line per row (default: fit the terminal, two lines per row below 140 columns)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    """Load the ``--dist`` source and run :func:`proofs_check.verifier.verify`; return its exit status."""
    dist = chain = None
    if is_markov_spec(args.dist):
        chain = load_markov(args.dist, alphabet=args.alphabet, normalize=args.normalize)
    elif args.dist is not None:
        dist = load_distribution(args)
    return proofs_check.verify(
        dist,
        chain=chain,
        only=args.only,
        precision=args.precision,
        quick=args.quick,
        seed=args.seed,
        budget=args.budget,
        list_checks=args.list,
        wide=args.wide,
        json=args.json,
    )
