"""Cases: one clean row of a source, its prompt and answer, and the exact targets (Cor. 4.3).

A :class:`Case` is what an evaluator is run on: a source p0 (anything with the members of
:class:`ctmc_lab.sources.base.Source`), one clean row ``x`` of it, the prompt positions (the
context I2, always visible in a correct evaluator) and the answer positions (the target I1, whose
likelihood is estimated). Positions in neither set (an end symbol and padding after the answer)
belong to the row but not to the query: the exact conditional marginalises them (Cor. 4.3,
``docs/theory.md`` §4.2).

The exact targets come from the source's marginals (:func:`ctmc_lab.estimation.conditional.conditional_nll`),
never from the masks an evaluator draws:

==================  ==========================================================================
``nll``             -log p0(x) of the whole row
``joint_nll``       -log p0(prompt, answer), the rest marginalised
``cond_nll``        -log p0(answer | prompt), the rest marginalised
``cond_nll_rest``   -log p0(answer | every other position of the row), e.g. "EOS right after y"
==================  ==========================================================================

Built-in cases (also the ``--case`` strings of ``ctmc-lab conform``,
:func:`ctmc_lab.conformance.cases.parse_case`):
``dna128:I`` (row I of the paper's table), ``dna128-like:SEED:I``, ``mk4:N[:I]`` (the I-th seeded
MK4 prompt(16)+answer(N) pair, the pairs of the LLaDA audit), ``mk1:N[:I]`` (a first-order chain,
for answers too long to enumerate), ``eos:N[:I]`` (a chain with an end symbol and padding, for
harnesses that append EOS) and ``file:PATH[@I]`` (row I of a user's JSON table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ctmc_lab._validation import (
    ensure_array,
    ensure_choice,
    ensure_int,
    ensure_real,
    ensure_str,
    ensure_tokens,
    positive_int,
)
from ctmc_lab.estimation.conditional import conditional_mask_dce, conditional_nll
from ctmc_lab.estimation.llada import LevelStats, level_stats, markov1_level_means
from ctmc_lab.sequences import Alphabet
from ctmc_lab.sources.base import check_source

__all__ = [
    "Case",
    "TARGETS",
    "from_source",
    "dna128",
    "dna128_like",
    "markov_pair",
    "markov1_pair",
    "eos_chain",
    "eos_pair",
    "from_file",
    "EOS_ALPHABET",
    "TABLE_LIMIT",
]

#: The exact targets every case gives (see the module docstring).
TARGETS = ("nll", "joint_nll", "cond_nll", "cond_nll_rest")

#: Largest answer for which the A-table over all 2**n masks is built (2**16 = 65536 masks).
TABLE_LIMIT = 16


#: What a case reads of its source: the alphabet size, its exact model and the marginals of its targets.
_CASE_MEMBERS = ("n_tokens", "denoiser", "nll", "log_marginal")


def _positions(value, name: str) -> tuple[int, ...]:
    """``value`` as a tuple of int positions (a 1-D array of integers, possibly empty)."""
    return tuple(int(i) for i in ensure_array(value, name, ndim=1, dtype=int))


@dataclass(frozen=True, eq=False)
class Case:
    """One clean row of a source with its prompt and answer positions.

    Attributes
    ----------
    name : str
        The case's spec string (``"mk4:4:0"``) or a user's label.
    source : Source
        p0; its ``denoiser(L)`` is the exact model, its ``log_marginal`` gives the targets.
    x : (L,) int array
        The clean row, in the source's token ids 0..N-1.
    prompt : tuple of int
        The context positions I2 (empty for an unconditional case).
    answer : tuple of int
        The target positions I1 (n ≥ 1 of them).
    """

    name: str
    source: object = field(repr=False)
    x: np.ndarray = field(repr=False)
    prompt: tuple[int, ...]
    answer: tuple[int, ...]

    def __post_init__(self):
        ensure_str(self.name, "name")
        check_source(self.source, members=_CASE_MEMBERS)
        x = ensure_tokens(self.x, self.source.n_tokens, name="x", ndim=1)
        prompt = _positions(self.prompt, "prompt")
        answer = _positions(self.answer, "answer")
        if not answer:
            raise ValueError("`answer` must hold at least one position")
        every = prompt + answer
        if len(set(every)) != len(every) or min(every) < 0 or max(every) >= x.size:
            raise ValueError(f"`prompt` and `answer` must be disjoint positions in 0..{x.size - 1}")
        x = x.copy()
        x.setflags(write=False)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "prompt", prompt)
        object.__setattr__(self, "answer", answer)

    # ----------------------------------------------------------------------------- layout
    @property
    def length(self) -> int:
        """L, the row length."""
        return int(self.x.size)

    @property
    def n(self) -> int:
        """n = |answer|, the length that sets the harmonic number H_n (Cor. 4.3)."""
        return len(self.answer)

    @property
    def n_tokens(self) -> int:
        return int(self.source.n_tokens)

    @property
    def rest(self) -> tuple[int, ...]:
        """Positions of the row in neither the prompt nor the answer (an end symbol, padding)."""
        used = set(self.prompt) | set(self.answer)
        return tuple(i for i in range(self.length) if i not in used)

    @property
    def prompt_tokens(self) -> np.ndarray:
        return self.x[list(self.prompt)]

    @property
    def answer_tokens(self) -> np.ndarray:
        return self.x[list(self.answer)]

    def denoiser(self):
        """The exact model: the source's optimal denoiser c* of length-L rows (Prop. 3.1)."""
        return self.source.denoiser(self.length)

    def describe(self) -> dict:
        """The ``case`` record of ``ctmc-lab conform --json``."""
        decode = getattr(self.source, "decode", None)
        text = decode(self.x) if decode is not None else ",".join(map(str, self.x))
        return {
            "name": self.name,
            "source": repr(self.source),
            "row": text if isinstance(text, str) else ",".join(map(str, self.x)),
            "prompt_positions": list(self.prompt),
            "answer_positions": list(self.answer),
            "rest_positions": list(self.rest),
        }

    # ------------------------------------------------------------------------ exact values
    def _conditional(self, target, context) -> float:
        return conditional_nll(self.source, self.x, target=list(target), context=list(context) or None)

    @cached_property
    def nll(self) -> float:
        """-log p0(x) of the whole row (nats)."""
        return float(self.source.nll(self.x))

    @cached_property
    def joint_nll(self) -> float:
        """-log p0(prompt, answer), the rest of the row marginalised."""
        return self._conditional(self.prompt + self.answer, ())

    @cached_property
    def cond_nll(self) -> float:
        """-log p0(answer | prompt), the rest marginalised (Cor. 4.3's left-hand side)."""
        return self._conditional(self.answer, self.prompt)

    @cached_property
    def cond_nll_rest(self) -> float:
        """-log p0(answer | every other position of the row visible)."""
        return self._conditional(self.answer, self.prompt + self.rest)

    def target(self, name: str) -> float:
        """The exact value of one of :data:`ctmc_lab.estimation.cases.TARGETS`."""
        return float(getattr(self, ensure_choice(name, "name", TARGETS)))

    def target_mp(self, name: str, *, dps: int = 50) -> str:
        """The target with mpmath: the log of a ratio of the source's marginals, to ``dps`` digits.

        ``log P(context) - log P(context ∪ target)`` evaluated as one mpmath log of the ratio of the
        two marginal probabilities (each the float64 ``exp(log_marginal)``), so the subtraction of
        two rounded logs is avoided; the digits beyond float64 are those of that ratio.
        """
        import mpmath

        name, dps = ensure_choice(name, "name", TARGETS), positive_int(dps, "dps")
        every = set(range(self.length))
        target, context = {
            "nll": (every, set()),
            "joint_nll": (set(self.prompt) | set(self.answer), set()),
            "cond_nll": (set(self.answer), set(self.prompt)),
            "cond_nll_rest": (set(self.answer), every - set(self.answer)),
        }[name]
        n = self.n_tokens
        rows = np.full((2, self.length), n, dtype=np.int64)
        rows[0, sorted(context)] = self.x[sorted(context)]
        rows[1, sorted(context | target)] = self.x[sorted(context | target)]
        log_p = np.asarray(self.source.log_marginal(rows), dtype=float)
        with mpmath.workdps(dps):
            value = mpmath.log(mpmath.exp(mpmath.mpf(float(log_p[0]))) / mpmath.exp(mpmath.mpf(float(log_p[1]))))
            return mpmath.nstr(value, dps)

    # ----------------------------------------------------------------------------- tables
    def mask_dce_table(self, *, given: str = "prompt") -> np.ndarray:
        """A(M) over every mask M of the answer (Cor. 4.3), ``(2**n,)`` by local bitmask.

        ``given="prompt"``: the prompt visible, the rest marginalised (the table of ``cond_nll``);
        ``given="rest"``: every non-answer position visible (the table of ``cond_nll_rest``).
        """
        given = ensure_choice(given, "given", ("prompt", "rest"))
        if self.n > TABLE_LIMIT:
            raise ValueError(f"the answer has {self.n} positions; A-tables are built up to {TABLE_LIMIT} (2**n masks)")
        context = self.prompt if given == "prompt" else self.prompt + self.rest
        return self.table(self.answer, context)

    def table(self, target, context=()) -> np.ndarray:
        """A(M) over every mask of the positions ``target`` with ``context`` visible and the other
        positions marginalised, ``(2**|target|,)`` (Cor. 4.3); cached per (target, context)."""
        target, context = _positions(target, "target"), _positions(context, "context")
        if len(target) > TABLE_LIMIT:
            raise ValueError(f"{len(target)} target positions; A-tables are built up to {TABLE_LIMIT} (2**n masks)")
        cache = self.__dict__.setdefault("_tables", {})
        key = (target, context)
        if key not in cache:
            A = conditional_mask_dce(self.source, self.x, target=list(target), context=list(context) or None)
            A.setflags(write=False)
            cache[key] = A
        return cache[key]

    def level_stats(self) -> LevelStats:
        """Per-count moments of A(M) of ``cond_nll``: from the A-table (n ≤ 16), or, with means
        only, by the first-order-chain route (:func:`ctmc_lab.estimation.llada.markov1_level_means`)."""
        if self.n <= TABLE_LIMIT:
            return level_stats(self.mask_dce_table())
        table = getattr(self.source, "table", None)
        contiguous = self.answer == tuple(range(self.answer[0], self.answer[0] + self.n))
        if getattr(self.source, "order", None) != 1 or not self.prompt or not contiguous or self.rest:
            raise ValueError(
                f"the answer has {self.n} positions: per-count statistics need n ≤ {TABLE_LIMIT}, or a "
                "first-order chain with the answer right after the prompt"
            )
        left = int(self.x[self.answer[0] - 1])
        return LevelStats(markov1_level_means(table, self.answer_tokens, left=left))


# =============================================================================== constructors
def from_source(source, x, *, prompt=(), answer=None, name: str | None = None) -> Case:
    """A case from any source, one clean row and its positions (default: the answer is every
    non-prompt position)."""
    check_source(source, members=_CASE_MEMBERS)
    x = source.encode(x) if hasattr(source, "encode") else ensure_tokens(x, source.n_tokens, ndim=1)
    prompt = _positions(prompt, "prompt")
    if answer is None:
        answer = tuple(i for i in range(len(x)) if i not in set(prompt))
    name = "case" if name is None else ensure_str(name, "name")
    return Case(name, source, x, prompt, _positions(answer, "answer"))


def _row(source, index: int, what: str):
    """Row ``index`` of the source's support (the argument is named ``index``)."""
    index = ensure_int(index, "index")
    support = np.asarray(source.support)
    if not 0 <= index < len(support):
        raise ValueError(f"`index`: the {what} row index must lie in 0..{len(support) - 1} (got {index})")
    return support[index]


def _pair_seed(entropy: list[int], index: int) -> np.random.SeedSequence:
    """Child ``index`` of ``SeedSequence(entropy)``, ``spawn(index + 1)[index]``, without spawning
    the ``index`` children before it (a large index costs nothing)."""
    return np.random.SeedSequence(entropy, spawn_key=(index,))


def dna128(index: int = 0) -> Case:
    """Row ``index`` of the paper's D128 table (support order); the answer is all 8 positions."""
    from ctmc_lab.sources.datasets import dna128 as table

    p = table()
    return from_source(p, _row(p, index, "dna128"), name=f"dna128:{int(index)}")


def dna128_like(seed: int = 0, index: int = 0) -> Case:
    """Row ``index`` of ``dna128_like(seed)`` (the D128 recipe)."""
    from ctmc_lab.sources.datasets import dna128_like as recipe

    p = recipe(ensure_int(seed, "seed", minimum=0))
    return from_source(p, _row(p, index, "dna128-like"), name=f"dna128-like:{int(seed)}:{int(index)}")


def markov_pair(answer_length: int, *, index: int = 0, prompt_length: int = 16, seed: int = 0, chain=None) -> Case:
    """The ``index``-th seeded prompt–answer pair of a Markov chain (default the paper's MK4).

    Pair i of answer length n is drawn with the i-th generator spawned from
    ``SeedSequence([seed, n])``, as in the LLaDA audit (``ctmc-lab study llada_audit``), so its
    exact numbers are those pairs'. The source is the chain's stationary windows of length P + n:
    with the prompt visible its c* of the answer is the chain's conditional given the prompt.
    """
    from ctmc_lab.sources.markov import markov4

    n = positive_int(answer_length, "answer_length")
    P = positive_int(prompt_length, "prompt_length")
    index = positive_int(index, "index", minimum=0)
    seed = positive_int(seed, "seed", minimum=0)
    # A chain over windows of any length that continues a prompt (`sample(..., start=)`, `continuing`).
    chain = markov4() if chain is None else check_source(chain, "chain", members=(*_CASE_MEMBERS, "continuing"))
    g = np.random.default_rng(_pair_seed([seed, n], index))
    # ctmc_lab.studies.protocol.sample_pair's draws: a stationary window, then n symbols after it.
    prompt = chain.sample(P, rng=g)
    answer = chain.sample(n, start=prompt, rng=g)
    tag = "mk4" if chain.name == "markov4" else chain.name
    return Case(f"{tag}:{n}:{index}", chain, np.concatenate([prompt, answer]), tuple(range(P)), tuple(range(P, P + n)))


def markov1_pair(answer_length: int, *, index: int = 0, seed: int = 0) -> Case:
    """A one-token prompt and an answer of a first-order chain (the paper's softmax recipe, k = 1).

    As the LLaDA audit's ``mk1_pairs``: the chain is ``MarkovChain.from_softmax(4, 1, rng=seed)``,
    pair i uses the i-th generator of ``SeedSequence([seed, n])``. Exact at any n through the
    first-order route; A-tables only up to n = 16.
    """
    from ctmc_lab.sources.markov import MarkovChain

    n = positive_int(answer_length, "answer_length")
    index = positive_int(index, "index", minimum=0)
    seed = positive_int(seed, "seed", minimum=0)
    chain = MarkovChain.from_softmax(4, 1, temperature=0.5, rng=seed, alphabet="ATGC")
    g = np.random.default_rng(_pair_seed([seed, n], index))
    left = int(chain.sample(1, rng=g)[0])
    y = chain.sample(n, start=[left], rng=g)
    return Case(f"mk1:{n}:{index}", chain, np.concatenate([[left], y]), (0,), tuple(range(1, n + 1)))


#: The EOS-bearing chain's symbols: four letters, the end symbol ``$`` and the padding ``_``.
EOS_ALPHABET = "ATGC$_"


def eos_chain(*, p_end: float = 0.2, seed: int = 0):
    """A first-order chain over ``ATGC$_`` with an end symbol: from a letter, ``$`` with probability
    ``p_end`` and otherwise a letter (a seeded softmax row); ``$`` is followed by ``_`` and ``_`` by ``_``."""
    from ctmc_lab.sources.markov import MarkovChain

    ensure_real(p_end, "p_end", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
    w = np.exp(rng.random((4, 4)) / 0.5)
    table = np.zeros((6, 6))
    table[:4, :4] = (1.0 - p_end) * w / w.sum(axis=1, keepdims=True)
    table[:4, 4] = p_end
    table[4, 5] = table[5, 5] = 1.0
    return MarkovChain(table, order=1, alphabet=Alphabet(EOS_ALPHABET), name=f"eos(p_end={p_end}, seed={seed})")


def eos_pair(
    answer_length: int, *, index: int = 0, prompt_length: int = 8, pad: int = 2, p_end: float = 0.2, seed: int = 0
) -> Case:
    """A prompt, an answer, the end symbol ``$`` and ``pad`` padding symbols: the row a harness that
    appends EOS builds.

    The source is :func:`eos_chain` continuing a seeded letter before the row (its
    ``continuing``), so every position of the row is random under p0. Prompt and answer are letters
    (drawn from the chain with the end symbol excluded); ``cond_nll`` marginalises the end and the
    padding, ``cond_nll_rest`` conditions on "the answer stops here".
    """
    n = positive_int(answer_length, "answer_length")
    P = positive_int(prompt_length, "prompt_length")
    index = positive_int(index, "index", minimum=0)
    pad = positive_int(pad, "pad", minimum=0)
    chain = eos_chain(p_end=p_end, seed=seed)
    g = np.random.default_rng(_pair_seed([seed, n, 1], index))
    letters = chain.table[:4, :4] / chain.table[:4, :4].sum(axis=1, keepdims=True)
    start = int(g.integers(4))
    tokens, prev = [], start
    for _ in range(P + n):
        prev = int(g.choice(4, p=letters[prev]))
        tokens.append(prev)
    x = np.array(tokens + [4] + [5] * pad)
    return Case(f"eos:{n}:{index}", chain.continuing([start]), x, tuple(range(P)), tuple(range(P, P + n)))


def from_file(path, *, index: int = 0, prompt_length: int = 0, alphabet=None, normalize: bool = False) -> Case:
    """Row ``index`` of a user's JSON table ``{sequence: probability}``; the first ``prompt_length``
    positions are the prompt, the rest the answer."""
    from ctmc_lab.sources.joint import JointDistribution

    p = JointDistribution.from_json(path, alphabet=alphabet, normalize=normalize)
    P = positive_int(prompt_length, "prompt_length", minimum=0)
    if P >= p.length:
        raise ValueError(f"`prompt_length` must be below the row length {p.length} (got {P})")
    x = _row(p, index, "file")
    return Case(f"file:{path}@{int(index)}", p, x, tuple(range(P)), tuple(range(P, p.length)))
