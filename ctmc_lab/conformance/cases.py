"""The cases of the conformance oracle and their ``--case`` strings.

A case (:class:`~ctmc_lab.estimation.cases.Case`) is one clean row of a source with its prompt and
answer positions and its exact targets; the class and its constructors live in
:mod:`ctmc_lab.estimation.cases`, below the studies, so that the table of the public evaluators
(:mod:`ctmc_lab.studies.published`) is built on the same cases. This module re-exports them and
reads the spec strings of ``ctmc-lab conform --case`` (:func:`parse_case`).
"""

from __future__ import annotations

from ctmc_lab.estimation.cases import (
    EOS_ALPHABET,
    TABLE_LIMIT,
    TARGETS,
    Case,
    dna128,
    dna128_like,
    eos_chain,
    eos_pair,
    from_file,
    from_source,
    markov1_pair,
    markov_pair,
)

__all__ = [
    "Case",
    "TARGETS",
    "TABLE_LIMIT",
    "EOS_ALPHABET",
    "from_source",
    "dna128",
    "dna128_like",
    "markov_pair",
    "markov1_pair",
    "eos_chain",
    "eos_pair",
    "from_file",
    "parse_case",
    "CASE_SPECS",
    "DEFAULT_CASES",
]

#: The ``--case`` grammar, one line per form (the command line's help and errors print it).
CASE_SPECS = (
    "dna128:I (row I of D128)",
    "dna128-like:SEED:I",
    "mk4:N[:I] (MK4 prompt(16)+answer(N) pair I)",
    "mk1:N[:I] (first-order chain, any N)",
    "eos:N[:I] (chain with an end symbol and padding)",
    "file:PATH[@I] (row I of a JSON table {sequence: probability})",
)

#: The cases the pytest plugin runs by default: a D128 row and MK4 pairs of 1, 4 and 8 tokens.
DEFAULT_CASES = ("dna128:0", "mk4:1", "mk4:4", "mk4:8")


# ================================================================================== parsing
def _ints(parts, spec, low, high):
    if not low <= len(parts) <= high:
        raise ValueError(f"`--case` {spec!r} has {len(parts)} numbers; expected {low} to {high}")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"`--case` {spec!r}: {':'.join(parts)!r} are not all integers") from None


def parse_case(spec: str) -> Case:
    """A case from its spec string (:data:`CASE_SPECS`).

    Examples
    --------
    >>> parse_case("mk4:4:2").answer
    (16, 17, 18, 19)
    >>> parse_case("dna128:3").n
    8
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"`--case` must be a non-empty string (got {spec!r})")
    head, _, tail = spec.partition(":")
    if head == "file":
        path, _, idx = tail.rpartition("@") if "@" in tail else (tail, "", "0")
        if not path:
            raise ValueError("`--case` file:PATH needs a path")
        return from_file(path, index=_ints([idx], spec, 1, 1)[0])
    parts = tail.split(":") if tail else []
    if head == "dna128":
        return dna128(*_ints(parts, spec, 1, 1))
    if head == "dna128-like":
        seed, index = _ints(parts, spec, 2, 2)
        return dna128_like(seed, index)
    builders = {"mk4": markov_pair, "mk1": markov1_pair, "eos": eos_pair}
    if head in builders:
        nums = _ints(parts, spec, 1, 2)
        return builders[head](nums[0], index=nums[1] if len(nums) > 1 else 0)
    raise ValueError(f"unknown `--case` {spec!r}; choose one of: " + "; ".join(CASE_SPECS))
