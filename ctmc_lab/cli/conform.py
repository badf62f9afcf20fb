"""``ctmc-lab conform MODULE:CALLABLE``: a user's evaluator against the exact denoiser.

``CALLABLE(model, case, seed) -> float`` is the user's code: ``model`` is the adapter chosen with
``--adapter`` (HF-style, raw, backbone or SEDD score; torch tensors with ``--backend torch``,
numpy arrays with ``--backend numpy``) and ``case`` a
:class:`~ctmc_lab.conformance.exact_model.CaseView`: ``case.prompt`` and ``case.answer`` are token
arrays in the adapter's ids, ``case.input_ids`` the whole row, ``case.mask_id`` and
``case.target`` (-log p(answer | prompt)). It returns its estimate of the contract's target. The
command runs it ``--runs`` times per ``--case`` (seeds from ``--seed``) and prints the report of
:func:`ctmc_lab.conformance.oracle.check`; exit 0 when every contract holds, 1 when one fails or
the evaluator raised, returned NaN, ran past ``--timeout`` or called the model wrongly (one line
says which), 2 for bad options.

``--published`` prints instead the exact bias and variance of the registered replicas of the public
evaluators (:mod:`ctmc_lab.estimation.replica_registry`) over D128, MK4 pairs and the EOS chain
(:mod:`ctmc_lab.studies.published`), with ``--json``; ``docs/published.md`` reads it.

Import-light: nothing beyond the standard library is imported until the command runs.
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "conform",
        help="run your likelihood evaluator against the exact denoiser and check its contract",
        description="Run CALLABLE(model, case, seed) -> float (your evaluator, unmodified, calling the "
        "exact model through the adapter) on exact cases, many seeds, and check a contract: unbiased, "
        "upper bound, exact, a documented bias, finite variance or a declared mask law. Prints the "
        "report; exit 0 if every contract holds, 1 otherwise.",
    )
    p.add_argument(
        "evaluator",
        metavar="MODULE:CALLABLE",
        nargs="?",
        help="a module (or a .py file) and a callable in it (omit with --published)",
    )
    p.add_argument(
        "--case",
        action="append",
        metavar="SPEC",
        help="dna128:I, dna128-like:SEED:I, mk4:N[:I], mk1:N[:I], eos:N[:I], file:PATH[@I] (repeatable; default mk4:4)",
    )
    p.add_argument(
        "--contract",
        action="append",
        metavar="SPEC",
        help="unbiased:TARGET[:TOL], upper_bound:TARGET, exact:TARGET[:TOL], biased:TARGET:BIAS[:TOL], "
        "finite_variance, mask_law:ESTIMATOR|llada:B|lambda[:EPS]; TARGET is nll, joint_nll, cond_nll, "
        "cond_nll_rest or per_token_<target> (repeatable; default unbiased:cond_nll)",
    )
    p.add_argument(
        "--adapter", choices=["hf", "raw", "backbone", "score"], default="hf", help="call shape (default hf)"
    )
    p.add_argument("--backend", choices=["torch", "numpy"], default="torch", help="array type (default torch)")
    p.add_argument("--reference", metavar="SPEC", help="exact twin: llada:B[:MC_NUM][:fixed] or ESTIMATOR:N_SAMPLES")
    p.add_argument("--mask-id", type=int, metavar="ID", help="the mask token's id (default N)")
    p.add_argument("--vocab-size", type=int, metavar="V", help="output channels (default: one past the largest id)")
    p.add_argument("--token-map", metavar="IDS", help="comma-separated ids of the source tokens 0..N-1")
    p.add_argument("--bos-id", type=int, metavar="ID", help="a filler id before the source positions")
    p.add_argument("--eos-id", type=int, metavar="ID", help="a filler id after them")
    p.add_argument("--pad-id", type=int, metavar="ID", help="the filler that pads rows to --row-length")
    p.add_argument("--row-length", type=int, metavar="L", help="the row length the evaluator uses")
    p.add_argument("--shift", action="store_true", help="logit at position i predicts token i+1 (Dream)")
    p.add_argument(
        "--dtype",
        choices=["float64", "float32", "bfloat16"],
        default="float64",
        help="precision of the returned values (default float64)",
    )
    p.add_argument("--on-impossible", choices=["uniform", "nan", "raise"], default="uniform")
    p.add_argument("--runs", type=int, default=200, metavar="N", help="runs per case (default 200)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="root seed (default 0)")
    p.add_argument("--alpha", type=float, default=1e-6, metavar="A", help="level of the verdicts (default 1e-6)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="budget of one run (default 60)")
    p.add_argument("--mpmath", action="store_true", help="also give the target to 50 digits")
    p.add_argument("--json", metavar="PATH", help="write the reports as JSON to PATH (atomically)")
    g = p.add_argument_group("the public evaluators (--published)")
    g.add_argument(
        "--published",
        action="store_true",
        help="print the exact bias and variance of the registered replicas of the public evaluators "
        "(LLaDA, dllm, Dream, SMDM, MDLM, SEDD, RADD, BD3LM, MD4, d1, DiffuCoder, VRPO-style) on D128, "
        "MK4 pairs and the EOS chain",
    )
    g.add_argument("--replica", action="append", metavar="NAME", help="only these replicas (repeatable; default all)")
    g.add_argument("--pairs", type=int, default=16, metavar="K", help="MK4 pairs per answer length (default 16)")
    g.add_argument(
        "--full", action="store_true", help="also what is slow (d1 on MK4's 2^16 prompt masks, SEDD uniform's variance)"
    )
    p.set_defaults(func=run)


def _load(spec: str):
    """The callable named by MODULE:CALLABLE (MODULE a module name or a path to a .py file)."""
    import importlib
    import importlib.util
    import os

    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"the evaluator must be MODULE:CALLABLE (got {spec!r})")
    try:
        if module_name.endswith(".py") or os.sep in module_name:
            if not os.path.isfile(module_name):
                raise ValueError(f"the evaluator's file {module_name!r} does not exist")
            name = os.path.splitext(os.path.basename(module_name))[0]
            found = importlib.util.spec_from_file_location(name, module_name)
            module = importlib.util.module_from_spec(found)
            found.loader.exec_module(module)
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())  # as `python -m` does: the user's module in the current directory
            module = importlib.import_module(module_name)
    except ValueError:
        raise
    except Exception as err:  # the user's module: any error is reported in one line
        raise ValueError(f"cannot import {module_name!r}: {type(err).__name__}: {err}") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ValueError(f"{module_name!r} has no callable {attr!r}")
    return fn


def _reference(spec):
    from ctmc_lab.conformance import references

    if spec is None:
        return None
    parts = spec.split(":")
    try:
        if parts[0] == "llada":
            rule = "fixed" if parts[-1] == "fixed" else "llada"
            nums = [int(x) for x in (parts[1:-1] if rule == "fixed" else parts[1:])]
            if not 1 <= len(nums) <= 2:
                raise ValueError
            return references.llada_rule(nums[0], nums[1] if len(nums) > 1 else 128, rule=rule)
        if len(parts) != 2:
            raise ValueError
        return references.estimator(parts[0], n_samples=int(parts[1]))
    except ValueError as err:
        detail = f": {err}" if str(err) else ""
        raise ValueError(
            f"`--reference` {spec!r} must be llada:B[:MC_NUM][:fixed] or ESTIMATOR:N_SAMPLES{detail}"
        ) from None


def _torch_threads(args) -> None:
    """torch's intra-op threads follow ``--threads`` as BLAS's do (default 1): the exact model's
    calls are small, and idle torch threads spin against the evaluator on a busy machine."""
    from ctmc_lab.cli import thread_limit

    try:
        import torch
    except ImportError:
        raise ValueError(
            "`--backend torch` needs torch: pip install 'ctmc-lab[conformance]', or pass `--backend numpy`"
        ) from None
    n = thread_limit(args)
    if n:
        torch.set_num_threads(n)


def _options(args) -> dict:
    opts = {
        "mask_id": args.mask_id,
        "vocab_size": args.vocab_size,
        "bos_id": args.bos_id,
        "eos_id": args.eos_id,
        "pad_id": args.pad_id,
        "row_length": args.row_length,
        "shift": args.shift,
        "precision": args.dtype,
        "on_impossible": args.on_impossible,
    }
    if args.token_map:
        try:
            opts["token_map"] = [int(t) for t in args.token_map.split(",")]
        except ValueError:
            raise ValueError(f"`--token-map` must be comma-separated integers (got {args.token_map!r})") from None
    return {k: v for k, v in opts.items() if v is not None}


#: Options of a user's evaluator run, refused with --published (their defaults).
_EVALUATOR_ONLY = {"case": None, "contract": None, "reference": None, "mask_id": None, "shift": False}


def run_published(args) -> int:
    """``--published``: the table of the replicas (:mod:`ctmc_lab.conformance.published`)."""
    from ctmc_lab.conformance.published import format_published, published_record
    from ctmc_lab.estimation.replica_registry import get_replica
    from ctmc_lab.io import write_json
    from ctmc_lab.studies.published import published

    if args.evaluator is not None:
        raise ValueError("`--published` takes no MODULE:CALLABLE (it runs the registered replicas)")
    given = [k for k, default in _EVALUATOR_ONLY.items() if getattr(args, k) != default]
    if given:
        raise ValueError(f"`--{given[0].replace('_', '-')}` is an option of a user's evaluator, not of `--published`")
    if args.pairs < 1:
        raise ValueError(f"`--pairs` must be a positive integer (got {args.pairs})")
    names = args.replica
    if names:
        names = [get_replica(r).name for r in names]
    result = published(replicas=names, mk4_pairs=args.pairs, quick=not args.full)
    print(format_published(result))
    if args.json:
        settings = {"replicas": names, "mk4_pairs": args.pairs, "full": bool(args.full), "mk4_lengths": 12}
        settings.update({"eos_lengths": 8, "eos_pairs": 8, "d128_rows": 128})
        write_json(args.json, published_record(result, settings=settings))
    return 0


def run(args) -> int:
    if args.published:
        return run_published(args)
    if args.evaluator is None:
        raise ValueError("MODULE:CALLABLE is required (or `--published` for the public evaluators' table)")
    return run_evaluator(args)


def run_evaluator(args) -> int:
    from ctmc_lab.cli._common import Progress
    from ctmc_lab.conformance import cases as C
    from ctmc_lab.conformance.adapters import make_adapter
    from ctmc_lab.conformance.contracts import parse_contract
    from ctmc_lab.conformance.oracle import adjust, check
    from ctmc_lab.io import write_json

    if args.runs < 2:
        raise ValueError(f"`--runs` must be at least 2 (got {args.runs})")
    if not 0 < args.alpha < 1:
        raise ValueError(f"`--alpha` must lie in (0, 1) (got {args.alpha})")
    if not args.timeout > 0:
        raise ValueError(f"`--timeout` must be positive (got {args.timeout})")
    if args.backend == "torch":
        _torch_threads(args)
    specs = args.case or ["mk4:4"]
    contract = [parse_contract(c) for c in (args.contract or ["unbiased:cond_nll"])]
    reference = _reference(args.reference)
    chosen = [C.parse_case(s) for s in specs]
    models = [make_adapter(case, args.adapter, backend=args.backend, **_options(args)) for case in chosen]
    fn = _load(args.evaluator)
    reports = []
    with Progress(args.runs * len(chosen), "conform") as bar:
        for k, (case, model) in enumerate(zip(chosen, models)):
            view = model.view()
            bar.stage(f"conform {case.name}")
            report = check(
                lambda seed, m=model, v=view: fn(m, v, seed),
                case,
                contract,
                n_runs=args.runs,
                seed=args.seed,
                reference=reference,
                model=model,
                alpha=args.alpha,
                timeout=args.timeout,
                precision="mpmath" if args.mpmath else "float64",
                progress=lambda done, base=k * args.runs: bar.update(base + done - bar.done),
            )
            reports.append(report)
    adjust(reports, args.alpha)
    for report in reports:
        print(report)
        print()
    passed = all(r.passed for r in reports)
    failures = [r.failure for r in reports if r.failure]
    n_contracts = sum(len(r.verdicts) for r in reports)
    if failures:
        print(f"conform: FAIL — {failures[0]}")
    else:
        failed = sum(not v.passed for r in reports for v in r.verdicts)
        verdict = "PASS" if passed else f"FAIL ({failed} of {n_contracts} contracts)"
        print(
            f"conform: {verdict} — {n_contracts} contracts on {len(reports)} case(s), Holm-corrected at α = {args.alpha:g}"
        )
    if args.json:
        write_json(
            args.json,
            {
                "command": "conform",
                "evaluator": args.evaluator,
                "adapter": args.adapter,
                "backend": args.backend,
                "passed": passed,
                "reports": [r.to_json() for r in reports],
            },
        )
    return 0 if passed else 1
