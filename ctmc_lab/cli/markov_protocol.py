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
from ctmc_lab.cli._common import refuse_file_options
from ctmc_lab.cli._lazy import LazyText

__all__ = ["add_protocol_arguments", "run_protocol", "pair_cost", "trie_contractions", "stationary_cost"]


#: The protocol options and their defaults (None in the parser, so that a given option is known);
#: ``mc_samples`` None stands for :data:`ctmc_lab.studies.protocol.MC_SAMPLES`, read when the run starts.
PROTOCOL_DEFAULTS = {
    "prompt_length": 16,
    "response_length": 16,
    "pairs": 64,
    "seed": 0,
    "mc_samples": None,
}


def _mc_default() -> int:
    from ctmc_lab.studies.protocol import MC_SAMPLES

    return MC_SAMPLES


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
    action = g.add_argument(
        "--mc-samples",
        type=int,
        metavar="N",
        help="time-free Monte Carlo draws per pair (default %(mc_default)s = 2^13, as eval_markov.py)",
    )
    action.mc_default = LazyText(_mc_default)


def refuse_protocol_options(args) -> None:
    """Refuse protocol options given with a non-Markov ``--dist`` (they would be ignored)."""
    given = [name for name in PROTOCOL_DEFAULTS if getattr(args, name, None) is not None]
    if given:
        flags = ", ".join(f"`--{name.replace('_', '-')}`" for name in given)
        raise ValueError(f"{flags} only apply to a Markov `--dist` (markov4 or markov:PATH), not {args.dist!r}")


def _option(args, name):
    value = getattr(args, name, None)
    if value is None:
        value = PROTOCOL_DEFAULTS[name]
    return _mc_default() if value is None else value


def _live_fraction(n_tokens: int, order: int, t: int) -> float:
    """Fraction of the C contexts the trie products touch at target t (``trie._live_rows``, ``_pair_products``).

    Each of the last k - 1 slots before target t that is observed pins one context digit (a
    factor 1/N). The prompt's slots are always observed; a target's slot is observed in half of
    the trie's columns, so on average it keeps (1 + 1/N)/2 of the rows.
    """
    slots = max(order - 1, 0)
    from_targets = min(t, slots)
    return n_tokens ** -(slots - from_targets) * ((1 + 1 / n_tokens) / 2) ** from_targets


#: Elementwise passes per trie entry (α, β columns: zero-fill, normalisation sums and divisions,
#: the emitted view), per conditional-table entry (ratio, log, the +inf fix, the scatter into the
#: (n, 2**n) table and the n-pass sum over masks) and per A-table entry and estimator (level
#: sums, squares, the Beta weights of §6). Counted from the code of ``sources/markov/trie.py``
#: and ``estimation/moments.py``; the contraction term below is counted exactly.
_TRIE_PASSES, _TABLE_PASSES, _MOMENT_PASSES = 6, 8, 24


def trie_contractions(n_tokens: int, order: int, prompt_length: int, response_length: int) -> float:
    """Multiply-adds of the einsum contractions of one pair's A-table (see :func:`pair_cost`)."""
    N, n = n_tokens, response_length
    C = float(N) ** order
    half = 2.0 ** (n - 1)
    contractions = (prompt_length + 1) * C * N  # the prompt's observed steps (one column)
    for t in range(n):
        rho = _live_fraction(N, order, t)
        if t:
            contractions += C * N * 2.0 ** (n - 1 - t)  # suffix trie, just before target t
        contractions += rho * C * N * 2.0**t  # prefix trie at target t (emit only at the last)
        contractions += rho * C * half * (1 + 1 / N)  # pair products: total and hit
    return contractions


def pair_cost(
    n_tokens: int, order: int, prompt_length: int, response_length: int, mc_samples: int, n_estimators: int = 8
):
    """(peak bytes, work) of scoring one prompt–response pair (``studies.protocol.score_pair`` + moments).

    Counted from ``sources/markov/trie.py`` (``docs/theory.md`` §5.4), with C = N**k contexts and
    n = R targets: the suffix trie holds β for every observed pattern of the later targets (C
    2**(n-1-t) floats after target t, C 2**n in all, kept to the end); the prefix trie's last
    level is C 2**(n-1) floats, written into a fresh (C, 2**n)-column buffer; the conditional
    table is (n, 2**n). Contractions (multiply-adds):

    * suffix trie, ``_absorb`` at each target but the first: C N 2**(n-1-t);
    * prefix trie, ``_trie_forward`` at each target on its live rows: ρ_t C N 2**t (2**(n-1) at the last);
    * ``_pair_products`` at each target: ρ_t C 2**(n-1) (1 + 1/N) (``total`` and ``hit``),

    with ρ_t the live-row fraction of :func:`_live_fraction`. Elementwise passes over the trie
    entries, the conditional table, the A-table of each estimator's moments, and the Monte Carlo
    draws (R bits each) are added with the pass counts above. Both are tested against measured
    einsum multiply-adds and the ``tracemalloc`` peak (``tests/cli/test_budget.py``).
    """
    N, n = n_tokens, response_length
    C = float(N) ** order
    half = 2.0 ** (n - 1)
    contractions = trie_contractions(n_tokens, order, prompt_length, response_length)
    trie_entries = 3 * C * 2.0**n  # β over all suffixes, α's last two levels
    table_entries = (n + 2) * 2.0**n
    work = (
        contractions
        + _TRIE_PASSES * trie_entries
        + _TABLE_PASSES * table_entries
        + _MOMENT_PASSES * n_estimators * 2.0**n
        + 8.0 * mc_samples * n
    )
    # Peak: β (C 2**n), the last α level and its emitted view (2 C 2**(n-1)), the conditional
    # table (n 2**n), the pair products' (total, hit, value) and the A-table; the draws.
    memory = 8.0 * (2 * C * 2.0**n + n * 2.0**n + 4 * half + 2.0**n + 3 * mc_samples * max(n, 1))
    return memory, work


def stationary_cost(n_tokens: int, order: int) -> tuple[float, float]:
    """(peak bytes, work) of the chain's stationary distribution π (``sources/markov/inference.py``).

    π is needed for every stationary window (the prompts) and the entropy rate. The lifted matrix
    is a dense (C, C) float array, built once for the irreducibility test of its positive pattern
    and once for π, then copied by GTH elimination (C ≤ 1024, C³/3 steps) or LAPACK's
    eigen-decomposition (C ≤ 4096, about 25 C³); beyond 4096 contexts ARPACK works on the sparse
    matrix, but the dense one is still built (34 GB for an order-8 chain over 4 symbols).
    """
    C = float(n_tokens) ** order
    # The irreducibility test and π each build T; GTH copies it and its row steps allocate more:
    # about five (C, C) float arrays at the peak (measured with tracemalloc, C = 256 to 2048).
    memory = 8.0 * 5 * C * C
    if C <= 1024:
        work = C**3 / 3
    elif C <= 4096:
        work = 25 * C**3
    else:
        work = 4 * C * C
    return memory, work


def plan(chain, *, prompt_length, response_length, pairs, mc_samples, seed=0) -> None:
    """Refuse, before any pair is drawn, a protocol run that exceeds the machine (:func:`pair_cost`)."""
    for name, value, low in (
        ("--prompt-length", prompt_length, chain.order),
        ("--response-length", response_length, 1),
        ("--pairs", pairs, 1),
        ("--mc-samples", mc_samples, 2),
        ("--seed", seed, 0),
    ):
        if value < low:
            raise ValueError(f"`{name}` must be at least {low} (got {value})")
    k, N = chain.order, chain.n_tokens
    pi_memory, pi_work = stationary_cost(N, k)
    require(
        f"the stationary distribution of an order-{k} chain over {N} symbols ({N}^{k} = {N**k:,} contexts)",
        memory=pi_memory,
        work=pi_work,
        lower="use a chain with fewer contexts (a lower order or fewer symbols)",
    )
    from ctmc_lab.estimation.registry import estimator_names

    n_estimators = len(estimator_names(record="pairs", length=response_length))
    memory, work = pair_cost(N, k, prompt_length, response_length, mc_samples, n_estimators)
    require(
        f"the protocol with {pairs} pairs, response length {response_length} and {mc_samples} draws per pair",
        memory=max(memory, pi_memory),
        work=pairs * work + pi_work,
        lower="lower `--response-length` (2^R masks per pair), `--pairs` or `--mc-samples`",
    )


def run_protocol(args) -> int:
    """Run the protocol for ``args.dist``; print a table; write ``args.json`` if given. Exit status 0."""
    from ctmc_lab.cli._common import Progress, write_json
    from ctmc_lab.cli.specs import load_markov
    from ctmc_lab.studies import protocol

    if args.dist == "markov4":
        refuse_file_options(args, source="markov4")
    chain = load_markov(
        args.dist, alphabet=getattr(args, "alphabet", None), normalize=bool(getattr(args, "normalize", False))
    )
    options = {name: _option(args, name) for name in PROTOCOL_DEFAULTS}
    plan(chain, **options)
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
