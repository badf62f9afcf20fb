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

from .. import markov, protocol
from ._common import Progress, write_json

__all__ = ["is_markov_spec", "load_markov", "add_protocol_arguments", "run_protocol"]


def is_markov_spec(spec) -> bool:
    """Whether a ``--dist`` SPEC names a Markov source (``markov4`` or ``markov:PATH``)."""
    return isinstance(spec, str) and (spec == "markov4" or spec.startswith("markov:"))


def load_markov(spec: str, *, alphabet=None, normalize: bool = False) -> markov.MarkovChain:
    """The :class:`~ctmc_lab.markov.MarkovChain` of ``markov4`` (the paper's released table) or
    ``markov:PATH`` (a JSON table ``{context: {symbol: probability}}``, contexts oldest first)."""
    return markov.load_markov(spec, alphabet=alphabet, normalize=normalize)


def add_protocol_arguments(parser) -> None:
    """The protocol options, for the ``nll`` parser (ignored for non-Markov sources)."""
    g = parser.add_argument_group("Markov prompt–response protocol (--dist markov4 or markov:PATH)")
    g.add_argument("--prompt-length", type=int, default=16, metavar="P", help="prompt length (default 16)")
    g.add_argument("--response-length", type=int, default=16, metavar="R",
                   help="response length: the target, all 2^R - 1 masks enumerated (default 16)")
    g.add_argument("--pairs", type=int, default=64, help="prompt/response pairs (default 64)")
    g.add_argument("--seed", type=int, default=0, help="seed of the pairs and Monte Carlo draws (default 0)")
    g.add_argument("--mc-samples", type=int, default=protocol.MC_SAMPLES,
                   help=f"time-free Monte Carlo draws per pair (default {protocol.MC_SAMPLES} = 2^13, as eval_markov.py)")


def run_protocol(args) -> int:
    """Run the protocol for ``args.dist``; print a table; write ``args.json`` if given. Exit status 0."""
    chain = load_markov(args.dist, alphabet=getattr(args, "alphabet", None),
                        normalize=bool(getattr(args, "normalize", False)))
    pairs = getattr(args, "pairs", 64)
    with Progress(pairs, "pairs") as bar:
        result = protocol.run_protocol(
            chain,
            prompt_length=getattr(args, "prompt_length", 16),
            response_length=getattr(args, "response_length", 16),
            pairs=pairs,
            mc_samples=getattr(args, "mc_samples", protocol.MC_SAMPLES),
            seed=getattr(args, "seed", 0),
            progress=bar.update,
        )
    info = result.distribution
    print(f"distribution {info['name']}: Markov order {info['order']}, N={info['n_tokens']}, "
          f"min P(v|c) = {info['min_transition_probability']:.3g}, "
          f"entropy rate {info['stationary_entropy_rate']:.6f} nats/symbol")
    print(f"protocol: prompt {result.prompt_length}, response {result.response_length} "
          f"(H_{result.response_length} weights, {2**result.response_length - 1} masks), "
          f"{len(result.pairs)} pairs, {result.mc_samples} MC draws, seed {result.seed}")
    width = max(result.prompt_length, 6)
    rwidth = max(result.response_length, 8)
    print(f"{'pair':>4} {'prompt':<{width}} {'response':<{rwidth}} {'true NLL':>14} {'time-free exact':>16} "
          f"{'|diff|':>9} {'MC estimate':>12} {'stderr':>8} {'z':>6} {'Var time-free':>14}")
    for i, p in enumerate(result.pairs):
        var_tf = p.moments["time_free"].variance
        print(f"{i:>4} {p.prompt:<{width}} {p.response:<{rwidth}} {p.true_nll:14.10f} {p.time_free_exact:16.10f} "
              f"{abs(p.true_nll - p.time_free_exact):9.1e} {p.mc.mean:12.6f} {p.mc.stderr:8.4f} "
              f"{p.z_score:6.2f} {var_tf:14.4f}")
    print(f"max |true - time-free exact| = {result.max_residual:.2e}; max |z| of MC = {result.max_abs_z:.2f}; "
          "λ-DCE variance is infinite for every pair with a positive singleton term (see JSON)")
    if getattr(args, "json", None):
        write_json(args.json, result.as_json())
    return 0
