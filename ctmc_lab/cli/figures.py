"""``ctmc-lab figures``: regenerate every study's figure (PDF, PNG and CSV), each study run by the engine in this process.

Only the standard library is imported here; the studies and matplotlib load inside ``run``.
"""

from __future__ import annotations

import os

from ctmc_lab.cli._common import eprint


def _names(text: str) -> list[str]:
    from ctmc_lab.plotting.figures import FIGURES

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if not names or unknown:
        raise ValueError(f"`--only` {text!r} names no known figure; choose from {', '.join(FIGURES)}")
    return names


def add_parser(sub) -> None:
    from ctmc_lab.studies.engine import GRIDS, PAPER_STUDIES, STUDIES

    def names(studies) -> str:
        return ", ".join(s.replace("-", "_") for s in studies)

    p = sub.add_parser(
        "figures",
        help="write the paper-style figures as PDF and PNG, with their data as CSV",
        description="Each figure is a study (`ctmc-lab study`) run by the same engine in this process, "
        "then drawn from its tables: exact computations plus seeded Monte Carlo. The paper's figures, on "
        f"their full grid (the paper's sizes): {names(PAPER_STUDIES)}; and the studies at scale on their "
        f"small grid: {names(STUDIES)}.",
    )
    p.add_argument("--out", default="figures", metavar="DIR", help="output directory (default: ./figures)")
    p.add_argument(
        "--only", action="append", metavar="NAME", help="make only this figure (repeatable, or comma-separated)"
    )
    p.add_argument(
        "--formats",
        default="pdf,png,csv",
        metavar="LIST",
        help="comma-separated subset of pdf,png,svg,csv (default: pdf,png,csv)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every Monte Carlo draw (default: 0)")
    p.add_argument(
        "--grid",
        choices=GRIDS,
        help="the grid of every study (default: the full grid of the paper's figures, the small grid of the "
        "studies at scale); small makes every figure in seconds",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from ctmc_lab.plotting.figures import FIGURES, make_figures

    names = list(FIGURES) if not args.only else [n for text in args.only for n in _names(text)]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("pdf", "png", "svg", "csv")]
    if not formats or bad:
        raise ValueError(f"`--formats` {args.formats!r}: choose from pdf, png, svg, csv")
    if args.seed < 0:
        raise ValueError(f"`--seed` must be non-negative (got {args.seed})")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"`--out` {args.out!r} exists and is not a directory")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as err:
        raise ValueError(f"`--out` {args.out!r}: cannot create the directory ({err.strerror})") from None
    if not os.access(args.out, os.W_OK | os.X_OK):
        raise ValueError(f"`--out` {args.out!r}: the directory is not writable")

    def report(name, res):
        head = f"{name:<26} {res.seconds:6.1f} s   "
        print(head + _headline(res.summary, width=100 - len(head)))

    results = make_figures(args.out, only=names, formats=formats, seed=args.seed, grid=args.grid, progress=report)
    n_files = sum(len(paths) for _, paths in results.values())
    total = sum(res.seconds for res, _ in results.values())
    eprint(f"wrote {n_files} files to {args.out} in {total:.1f} s")
    return 0


def _headline(summary: str, *, width: int = 74) -> str:
    """The first line of a study's summary after its name, cut to ``width`` characters."""
    line = summary.splitlines()[0] if summary else ""
    line = line.split(": ", 1)[1] if ": " in line else line
    return line if len(line) <= width else line[: width - 1] + "…"
