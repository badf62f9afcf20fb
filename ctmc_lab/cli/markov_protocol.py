"""``ctmc-lab nll --dist markov4`` / ``--dist markov:PATH``: the Fig. 1b prompt–response protocol.

``run_protocol(args)`` is called by ``ctmc-lab nll`` when ``--dist`` names a Markov source. It
prints one row per pair and, with ``--json PATH``, writes::

    {"distribution": {...}, "protocol": {...},
     "pairs": [{"prompt", "response", "true_nll", "time_free_exact", "mc_estimate", "mc_stderr",
                "mc_samples", "estimators": {NAME: {"mean", "bias", "variance",
                                                   "variance_is_infinite", "infinite_because"}}}]}

``variance`` is null when infinite (λ-DCE under the Markov chain, whose transition
probabilities are all positive, §6.3) and ``infinite_because`` then lists the response
positions (indices in prompt + response) whose singleton term is positive.
"""

from __future__ import annotations

from ctmc_lab.cli._budget import require
from ctmc_lab.cli._common import Progress, refuse_file_options, write_json
from ctmc_lab.cli.specs import load_markov
from ctmc_lab.studies import protocol

__all__ = ["add_protocol_arguments", "run_protocol"]


#: The protocol options and their defaults (None in the parser, so that a given option is known).
PROTOCOL_DEFAULTS = {
    "prompt_length": 16,
    "response_length": 16,
    "pairs": 64,
    "seed": 0,
    "mc_samples": protocol.MC_SAMPLES,
}


def add_protocol_arguments(parser) -> None:
    """The protocol options, for the ``nll`` parser (refused for non-Markov sources)."""
    g = parser.add_argument_group("Markov prompt–response protocol (only with --dist markov4 or markov:PATH)")
    g.add_argument("--prompt-length", type=int, metavar="P", help="prompt length (default 16)")
    g.add_argument(
        "--response-length",
        type=int,
        metavar="R",
        help="response length: the target, all 2^R - 1 masks enumerated (default 16)",
    )
    g.add_argument("--pairs", type=int, metavar="N", help="prompt/response pairs (default 64)")
    g.add_argument("--seed", type=int, metavar="S", help="seed of the pairs and Monte Carlo draws (default 0)")
    g.add_argument(
        "--mc-samples",
        type=int,
        metavar="N",
        help=f"time-free Monte Carlo draws per pair (default {protocol.MC_SAMPLES} = 2^13, as eval_markov.py)",
    )


def refuse_protocol_options(args) -> None:
    """Refuse protocol options given with a non-Markov ``--dist`` (they would be ignored)."""
    given = [name for name in PROTOCOL_DEFAULTS if getattr(args, name, None) is not None]
    if given:
        flags = ", ".join(f"`--{name.replace('_', '-')}`" for name in given)
        raise ValueError(f"{flags} only apply to a Markov `--dist` (markov4 or markov:PATH), not {args.dist!r}")


def _option(args, name):
    value = getattr(args, name, None)
    return PROTOCOL_DEFAULTS[name] if value is None else value


def plan(chain, *, prompt_length, response_length, pairs, mc_samples) -> None:
    """Refuse, before any pair is drawn, a protocol run that exceeds the machine."""
    for name, value, low in (
        ("--prompt-length", prompt_length, chain.order),
        ("--response-length", response_length, 1),
        ("--pairs", pairs, 1),
        ("--mc-samples", mc_samples, 2),
    ):
        if value < low:
            raise ValueError(f"`{name}` must be at least {low} (got {value})")
    n_masks = 2.0**response_length
    length = prompt_length + response_length
    memory = 8.0 * (4 * n_masks * length + 2 * mc_samples)
    work = pairs * (n_masks * length * chain.n_tokens ** min(chain.order + 1, 8) + 4 * mc_samples * response_length)
    require(
        f"the protocol with {pairs} pairs, response length {response_length} and {mc_samples} draws per pair",
        memory=memory,
        work=work,
        lower="lower `--response-length` (2^R masks per pair), `--pairs` or `--mc-samples`",
    )


def run_protocol(args) -> int:
    """Run the protocol for ``args.dist``; print a table; write ``args.json`` if given. Exit status 0."""
    if args.dist == "markov4":
        refuse_file_options(args, source="markov4")
    chain = load_markov(
        args.dist, alphabet=getattr(args, "alphabet", None), normalize=bool(getattr(args, "normalize", False))
    )
    options = {name: _option(args, name) for name in PROTOCOL_DEFAULTS}
    plan(chain, **{k: v for k, v in options.items() if k != "seed"})
    with Progress(options["pairs"], "pairs") as bar:
        result = protocol.run_protocol(chain, **options, progress=bar.update)
    info = result.distribution
    print(
        f"distribution {info['name']}: Markov order {info['order']}, N={info['n_tokens']}, "
        f"min P(v|c) = {info['min_transition_probability']:.3g}, "
        f"entropy rate {info['stationary_entropy_rate']:.6f} nats/symbol"
    )
    print(
        f"protocol: prompt {result.prompt_length}, response {result.response_length} "
        f"(H_{result.response_length} weights, {2**result.response_length - 1} masks), "
        f"{len(result.pairs)} pairs, {result.mc_samples} MC draws, seed {result.seed}"
    )
    width = max(result.prompt_length, 6)
    rwidth = max(result.response_length, 8)
    if getattr(args, "wide", False):
        print(
            f"{'pair':>4} {'prompt':<{width}} {'response':<{rwidth}} {'true NLL':>14} {'time-free exact':>16} "
            f"{'|diff|':>9} {'MC estimate':>12} {'stderr':>8} {'z':>6} {'Var time-free':>14}"
        )
    else:  # fits 100 columns at the default lengths 16 + 16
        print(
            f"{'pair':>4} {'prompt':<{width}} {'response':<{rwidth}} {'true NLL':>10} {'tf exact':>10} "
            f"{'|diff|':>8} {'MC est.':>9} {'stderr':>7} {'z':>6}"
        )
    for i, p in enumerate(result.pairs):
        diff = abs(p.true_nll - p.time_free_exact)
        if getattr(args, "wide", False):
            var_tf = p.moments["time_free"].variance
            print(
                f"{i:>4} {p.prompt:<{width}} {p.response:<{rwidth}} {p.true_nll:14.10f} {p.time_free_exact:16.10f} "
                f"{diff:9.1e} {p.mc.mean:12.6f} {p.mc.stderr:8.4f} {p.z_score:6.2f} {var_tf:14.4f}"
            )
        else:
            print(
                f"{i:>4} {p.prompt:<{width}} {p.response:<{rwidth}} {p.true_nll:10.5f} {p.time_free_exact:10.5f} "
                f"{diff:8.1e} {p.mc.mean:9.4f} {p.mc.stderr:7.4f} {p.z_score:6.2f}"
            )
    print(f"max |true - time-free exact| = {result.max_residual:.2e}; max |z| of MC = {result.max_abs_z:.2f}")
    print("λ-DCE variance is infinite for every pair with a positive singleton term (see JSON)")
    if getattr(args, "json", None):
        write_json(args.json, result.as_json())
    return 0
