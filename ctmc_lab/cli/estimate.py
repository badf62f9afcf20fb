"""``ctmc-lab estimate``: seeded Monte Carlo NLL estimates with the optimal denoiser.

The ``--estimator`` choices and the batch rule come from the estimator registry
(:mod:`ctmc_lab.estimation.registry`) when the parser is built, so an estimator registered
before ``ctmc_lab.cli.main`` runs is a choice too.

JSON written by ``--json PATH``::

    {"command": "estimate", "distribution": {...}, "estimator": NAME, "seed": S,
     "samples": N, "batch_size": B,
     "sequences": [{"sequence": str, "estimate": float, "stderr": float,
                    "samples": int, "nll": float|null}, ...]}

Each sequence gets its own generator ``np.random.default_rng([S, idx(x0)])`` (idx the
row-major index of x0 in V^L), so its estimate does not depend on which other sequences
were requested.
"""

from __future__ import annotations

from ctmc_lab.cli import specs
from ctmc_lab.cli._budget import optimal_row_cost, require
from ctmc_lab.cli._common import add_dist_arguments, add_output_arguments, load_distribution, print_lines
from ctmc_lab.cli._lazy import LazyChoices

__all__ = ["add_parser", "run"]


def _estimator_choices() -> list[str]:
    from ctmc_lab.estimation.estimators import ESTIMATORS

    return sorted(ESTIMATORS)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "estimate",
        help="Monte Carlo NLL estimates with standard errors (optimal denoiser, seeded)",
        description="Estimate -log p0(x0) by Monte Carlo with the optimal denoiser c* of the distribution, "
        "using one of the estimators of docs/theory.md §4/§6 (t_dce/t_dse: loglinear(1e-3), eps_s = 1e-3).",
    )
    p.add_argument(
        "--estimator",
        required=True,
        choices=LazyChoices(_estimator_choices),
        metavar="NAME",
        help="one of: %(choices)s",
    )
    p.add_argument(
        "--samples", type=int, default=1 << 15, metavar="N", help="draws per sequence (optional; default 2^15 = 32768)"
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed, >= 0 (optional; default 0)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="B",
        help="denoiser inputs per vectorized step, a memory knob: it does not change the draws "
        "of the non-stratified estimators; for the batch-stratified ones (k_dce_stratified, "
        "lambda_dce_stratified, t_dce, t_dse, llada_stratified*) it is also the stratification "
        "batch, so it changes their draws (default 4096, or the largest divisor of N up to 4096 "
        "for those; 16, LLaDA's batch_size, for llada_stratified*, whose --samples is LLaDA's "
        "mc_num)",
    )
    add_dist_arguments(p, command="estimate")
    p.add_argument("--sequence", nargs="+", metavar="SEQ", help="sequences to score (default: the whole support)")
    p.add_argument(
        "--model",
        metavar="python:MODULE:ATTR",
        help="estimate with this model (a denoiser, or a zero-argument callable returning one) instead of c*; "
        "each row then also gives the model's exact time-free NLL (model_nll) beside the data NLL",
    )
    add_output_arguments(p, wide=False)
    p.set_defaults(func=run)
    return p


def _batch_size(args) -> int:
    if args.samples < 1:
        raise ValueError(f"`--samples` must be a positive integer (got {args.samples})")
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise ValueError(f"`--batch-size` must be a positive integer (got {args.batch_size})")
        return args.batch_size
    from ctmc_lab.estimation.registry import get_estimator

    # The family's rule: LLaDA's batch_size for its count rules (--samples is its mc_num), whole
    # batches (at least two) for the batch-stratified samplers, a memory knob for the rest.
    try:
        return get_estimator(args.estimator).default_batch_size(args.samples)
    except ValueError as err:
        raise ValueError(f"`--estimator {args.estimator}`: {err}") from None


def plan(dist, n_seq: int, samples: int, batch: int, *, model: bool = False) -> None:
    """Refuse, before drawing, a run whose draws or denoiser calls exceed the machine.

    Each draw costs a few passes over its L mask bits; A(M) is cached, so each distinct mask
    costs one denoiser row (c*: :func:`~ctmc_lab.cli._budget.optimal_row_cost`; a ``--model``:
    the checks over its (L, N) output, and all 2^L rows once more for its exact NLL).
    """
    length = dist.length
    distinct = min(samples, 2.0**length)
    if model:
        per_row, build = 6.0 * length * dist.n_tokens, 0.0
        distinct += 2.0**length
    else:
        per_row, build = optimal_row_cost(dist.n_tokens, length, dist.support_size)
    memory = 8.0 * (3 * samples + 2.0 ** min(length, 20) + batch * length * max(dist.n_tokens, 8))
    work = build + n_seq * (6.0 * samples * length + distinct * per_row)
    require(
        f"`estimate` with {samples} draws for each of {n_seq} sequences",
        memory=memory,
        work=work,
        lower="lower `--samples`, or score fewer sequences with `--sequence SEQ ...`",
    )


def _fmt(v, w: int, d: int) -> str:
    return f"{v:{w}.{d}f}" if v is not None else f"{'inf':>{w}}"


def run(args) -> int:
    import numpy as np

    from ctmc_lab.cli._common import Progress, write_json
    from ctmc_lab.estimation import estimators as _est
    from ctmc_lab.exact.mask_dce import mask_dce_table
    from ctmc_lab.io import json_float
    from ctmc_lab.masks import imdce_sum
    from ctmc_lab.sequences import flat_index
    from ctmc_lab.sources.denoisers import OptimalDenoiser

    if args.seed < 0:
        raise ValueError(f"`--seed` must be a non-negative integer (got {args.seed})")
    dist = load_distribution(args)
    x0 = np.atleast_2d(dist.support if not args.sequence else dist.encode(args.sequence))
    batch = _batch_size(args)
    plan(dist, x0.shape[0], args.samples, batch, model=bool(args.model))
    if args.model:
        denoiser = specs.load_model(args.model, n_tokens=dist.n_tokens, length=dist.length, probe=x0[0])
    else:
        denoiser = OptimalDenoiser(dist)
    nll = np.atleast_1d(dist.nll(x0))
    keys = flat_index(x0, dist.n_tokens)
    records = []
    with Progress(len(x0), f"estimate {args.estimator}") as bar:
        for row, key, truth in zip(x0, keys, nll):
            rng = np.random.default_rng([args.seed, int(key)])
            est = _est.estimate(args.estimator, denoiser, row, n_samples=args.samples, rng=rng, batch_size=batch)
            rec = {
                "sequence": dist.decode(row),
                "estimate": json_float(est.mean),
                "stderr": json_float(est.stderr),
                "samples": est.n_samples,
                "nll": json_float(truth),
            }
            if args.model:  # Thm 4.1 over the model's own A-table: what an unbiased estimator converges to
                rec["model_nll"] = json_float(imdce_sum(mask_dce_table(denoiser, row)))
            records.append(rec)
            bar.update()
    width = max(8, max(len(r["sequence"]) for r in records))
    extra = f"  {'model nll':>10}" if args.model else ""
    lines = [f"{'sequence':<{width}}  {'estimate':>10}  {'stderr':>8}  {'nll':>10}" + extra]
    for r in records:
        line = f"{r['sequence']:<{width}}  {_fmt(r['estimate'], 10, 5)}  {_fmt(r['stderr'], 8, 5)}  {_fmt(r['nll'], 10, 5)}"
        if args.model:
            line += f"  {_fmt(r['model_nll'], 10, 5)}"
        lines.append(line)
    print_lines(lines)
    if args.json:
        out = {
            "command": "estimate",
            "distribution": dist.describe(),
            "estimator": args.estimator,
            "seed": args.seed,
            "samples": args.samples,
            "batch_size": batch,
            "sequences": records,
        }
        if args.model:
            out["model"] = args.model
        write_json(args.json, out)
    return 0
