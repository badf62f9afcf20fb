"""``ctmc-lab verify`` / ``python -m proofs_check``: run the checks, print the report.

Exit status: 0 when every check passes and every negative control fails; 1 otherwise;
2 for a usage or input error (a bad ``--dist`` file, an unknown precision, a pattern that
selects nothing).
"""

from __future__ import annotations

import argparse
import sys

from ctmc_lab.cli._common import add_dist_arguments, eprint, load_distribution, write_json

from . import report, runner

__all__ = ["add_parser", "build_parser", "run", "main"]

DESCRIPTION = (
    "Verify every identity of 'Information-Theoretic Discrete Diffusion' (Thm 3.1–Eq. 18), tied to "
    "the noised process and the denoiser, in float64, mpmath (50 digits) and sympy, plus the "
    "estimators and the Markov source, with negative controls that must fail; the report ends "
    "with the coverage matrix (theorem × precision)."
)


def _add_arguments(parser) -> None:
    add_dist_arguments(parser, default=None)
    for action in parser._actions:  # the shared help names dna128 as default; verify's differs
        if action.dest == "dist":
            action.help = (
                "run the distribution-dependent checks on this distribution (dna128, "
                "dna128-like:SEED, or a JSON file {sequence: probability}), or on a Markov source "
                "(markov4, or markov:PATH): its Markov rows, and every other row on its stationary "
                "window of the longest length L with N^L <= 4096; default: a seeded Dirichlet(1) on "
                "ATGC^3 for the dense checks, dna128 for the subset-table checks and a seeded "
                "order-2 chain on 3 symbols for the Markov rows"
            )
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
        "--seed", type=int, default=20251024, help="seed of the default distribution and of random Q, c and pairs"
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


def add_parser(subparsers):
    """Register ``verify`` on the ``ctmc-lab`` subparsers; sets ``func=run``."""
    parser = subparsers.add_parser(
        "verify", help="verify the paper's identities (exit 0 iff all hold)", description=DESCRIPTION
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m proofs_check", description=DESCRIPTION)
    _add_arguments(parser)
    return parser


def run(args) -> int:
    """Run the suite for parsed ``args``; return the exit status (ValueError -> caller: 2)."""
    precisions = runner.parse_precisions(args.precision)
    try:
        loaded = runner.load_checks()
    except runner.LoadError as err:
        eprint(f"verify FAILED: {err}")
        return 1
    checks = runner.select_checks(loaded, only=args.only, precisions=precisions)
    if not checks:
        raise ValueError(f"`--only` {args.only!r} with `--precision` {','.join(precisions)} selects no check")
    if args.list:
        for c in checks:
            kind = "control" if c.expected_to_fail else "check"
            print(f"{c.id:<44} {c.theorem:<22} {c.method:<8} {kind:<8} {c.statement}")
        return 0
    budget = args.budget
    if budget is not None and not (budget > 0 and budget < float("inf")):
        raise ValueError(f"`--budget` must be a positive number of seconds (got {args.budget!r})")
    if args.dist is None:
        ctx = runner.default_context(quick=args.quick, seed=args.seed, budget=budget)
    elif args.dist == "markov4" or str(args.dist).startswith("markov:"):
        from ctmc_lab.sources.markov import load_markov

        chain = load_markov(args.dist, alphabet=args.alphabet, normalize=args.normalize)
        ctx = runner.user_context(
            runner.markov_window(chain), quick=args.quick, seed=args.seed, budget=budget, chain=chain
        )
    else:
        ctx = runner.user_context(load_distribution(args), quick=args.quick, seed=args.seed, budget=budget)
    names = " and ".join(
        f"{d.name} (N={d.n_tokens}, L={d.length}, |support|={d.support_size})" for d in ctx.distributions
    )
    if ctx.user and ctx.chain is not None and args.dist.startswith("markov"):
        names += f"; Markov rows on {ctx.chain.name} (order {ctx.chain.order})"
    import shutil
    import textwrap

    header = f"ctmc-lab verify on {names}{' [quick]' if args.quick else ''}"
    width = shutil.get_terminal_size((100, 24)).columns
    print(header if args.wide else "\n".join(textwrap.wrap(header, width=max(40, width - 1), subsequent_indent="    ")))
    print()
    if args.json:
        _check_writable(args.json)
    result = runner.run_checks(ctx, checks)
    print(report.format_table(result, wide=args.wide))
    print()
    print(report.summary_line(result))
    if args.json:
        write_json(args.json, report.json_payload(result, ctx.distributions))
    return 0 if result.ok else 1


def _check_writable(path: str) -> None:
    """Refuse an unwritable ``--json`` target before the run, not after it."""
    import os

    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK) or os.path.isdir(path):
        raise ValueError(f"`--json` {path!r}: the directory must exist and be writable, and the path not a directory")


def main(argv=None) -> int:
    """Entry point of ``python -m proofs_check``."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ValueError as err:
        eprint(f"error: {err}")
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
