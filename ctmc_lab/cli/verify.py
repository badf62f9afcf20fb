"""``ctmc-lab verify`` (also ``python -m proofs_check``): run the checks, print the report.

The parser and the ``--dist`` loading live here, the suite in :func:`proofs_check.verifier.verify`,
which this module calls with plain values: the command line is the only layer that reads
argv, and ``proofs_check`` imports only the public ``ctmc_lab`` API.

Building the parser imports nothing numerical (``ctmc-lab --help`` stays fast): the suite,
the sources and the ``--dist`` loaders are imported when the command runs.

Exit status: 0 when every check passes and every negative control fails; 1 otherwise;
2 for a usage or input error (a bad ``--dist`` file, an unknown precision, a pattern that
selects nothing, a ``--budget`` that is not a number of work units).
"""

from __future__ import annotations

import argparse

from proofs_check import cost, defaults

__all__ = ["add_parser", "run"]

DESCRIPTION = (
    "Verify every identity of 'Information-Theoretic Discrete Diffusion' (Thm 3.1–Eq. 18), tied to "
    "the noised process and the denoiser, in float64, mpmath (50 digits) and sympy, plus the "
    "estimators and the Markov source, with negative controls that must fail; the report ends "
    "with the coverage matrix (theorem × precision). The rows are a function of the inputs: "
    "what runs is decided by work predicted from the input sizes, never by the clock."
)

DIST_HELP = (
    "run the distribution-dependent checks on this distribution (dna128, "
    "dna128-like:SEED, or a JSON file {sequence: probability}), or on a Markov source "
    "(markov4, or markov:PATH): its Markov rows, and every other row on its stationary "
    "window of the longest length L with N^L <= 4096; default: a seeded Dirichlet(1) on "
    "ATGC^3 for the dense checks, dna128 for the subset-table checks and a seeded "
    "order-2 chain on 3 symbols for the Markov rows"
)


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (got {text!r})")
    return n


def add_parser(subparsers):
    """Register ``verify`` on the ``ctmc-lab`` subparsers; sets ``func=run``."""
    from ctmc_lab.cli._common import add_dist_arguments

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
        default=defaults.DEFAULT_SEED,
        help="seed of the default distribution and of random Q, c and pairs",
    )
    parser.add_argument("--list", action="store_true", help="list the selected checks and exit")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="UNITS",
        help="work units one check may spend, predicted from the input sizes before it runs "
        "(one unit is one element operation, about 1e9 per second of one core of the "
        "reference machine; see proofs_check.cost): a check predicted over it runs on a "
        "smaller prefix marginal or is skipped with the prediction as the reason, so the "
        f"rows never depend on the machine's load (default: {defaults.DEFAULT_BUDGET:.0e}, "
        f"about {cost.seconds(defaults.DEFAULT_BUDGET):.0f} s nominally)",
    )
    parser.add_argument(
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="worker processes running independent checks side by side (default: the usable "
        f"cores, at most {defaults.MAX_JOBS}); the rows are the same for every N; 0 runs "
        "every check in this process, without the hang guard",
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
    from ctmc_lab.cli._common import load_distribution
    from ctmc_lab.cli.specs import is_markov_spec, load_markov
    from proofs_check import verifier

    dist = chain = None
    if is_markov_spec(args.dist):
        chain = load_markov(args.dist, alphabet=args.alphabet, normalize=args.normalize)
    elif args.dist is not None:
        dist = load_distribution(args)
    return verifier.verify(
        dist,
        chain=chain,
        only=args.only,
        precision=args.precision,
        quick=args.quick,
        seed=args.seed,
        budget=args.budget,
        jobs=args.jobs,
        list_checks=args.list,
        wide=args.wide,
        json=args.json,
    )
