"""The ``--dist SPEC`` strings of the command line, resolved to sources (``docs/theory.md`` §1.1).

* ``dna128``: the paper's D128 table; ``dna128-like:SEED``: the D128 recipe, seeded;
* a path to a JSON file ``{sequence: probability}`` (ends in ``.json`` or contains a separator);
* ``markov4`` or ``markov:PATH`` (a JSON table ``{context: {symbol: probability}}``): a Markov chain,
  for the prompt–response protocol of ``nll`` and the Markov rows of ``verify``;
* ``python:MODULE:ATTR``: a :class:`~ctmc_lab.sources.base.Source` defined anywhere importable,
  ATTR being the source or a zero-argument callable returning one; where a joint table is needed
  it is materialised over its full length (``JointDistribution.from_source``).

The core only has plain constructors; the spec grammar and its CLI wording (``--normalize``,
``--dist``) live here.
"""

from __future__ import annotations

import importlib

from ctmc_lab.sequences import Alphabet
from ctmc_lab.sources import datasets
from ctmc_lab.sources.base import NormalisationError
from ctmc_lab.sources.joint import JointDistribution
from ctmc_lab.sources.markov import MarkovChain, markov4

__all__ = ["is_file_spec", "is_markov_spec", "is_python_spec", "load_joint", "load_markov", "load_python"]


def is_file_spec(spec) -> bool:
    """Whether a SPEC names a JSON file (ends in ``.json`` or holds a path separator)."""
    return (
        isinstance(spec, str) and not is_python_spec(spec) and (spec.endswith(".json") or "/" in spec or "\\" in spec)
    )


def is_markov_spec(spec) -> bool:
    """Whether a SPEC names a Markov source (``markov4`` or ``markov:PATH``)."""
    return isinstance(spec, str) and (spec == "markov4" or spec.startswith("markov:"))


def is_python_spec(spec) -> bool:
    """Whether a SPEC names a Python source (``python:MODULE:ATTR``)."""
    return isinstance(spec, str) and spec.startswith("python:")


def _cli_wording(err: NormalisationError) -> ValueError:
    return ValueError(f"{err.fact}; rescale them with `--normalize` (the `normalize` option in Python)")


def load_python(spec: str):
    """The source named by ``python:MODULE:ATTR`` (ATTR a source or a zero-argument callable returning one).

    Raises
    ------
    ValueError
        For a malformed SPEC, a module that does not import, or a missing attribute.
    """
    parts = spec.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError(f"`--dist` {spec!r}: write python:MODULE:ATTR, e.g. python:my_sources:make_source")
    _, module, attr = parts
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"`--dist` {spec!r}: module {module!r} does not import ({err})") from None
    if not hasattr(mod, attr):
        raise ValueError(f"`--dist` {spec!r}: module {module!r} has no attribute {attr!r}")
    obj = getattr(mod, attr)
    # A class or a factory is called; an instance is the source itself.
    source = obj
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "log_prob")):
        try:
            source = obj()
        except TypeError as err:
            raise ValueError(f"`--dist` {spec!r}: ATTR must be a Source or a zero-argument callable ({err})") from None
    missing = [name for name in ("n_tokens", "log_prob", "alphabet") if not hasattr(source, name)]
    if missing:
        raise ValueError(f"`--dist` {spec!r} is not a Source: it has no {', '.join(missing)}")
    return source


def load_joint(spec: str = "dna128", *, alphabet=None, normalize: bool = False) -> JointDistribution:
    """Resolve a joint-table SPEC: ``dna128``, ``dna128-like:SEED``, a JSON file or ``python:MODULE:ATTR``.

    Raises
    ------
    ValueError
        For an unknown SPEC or an invalid file, with the reason.
    """
    if spec == "dna128":
        return datasets.dna128()
    if spec.startswith("dna128-like:"):
        seed = spec.split(":", 1)[1]
        if not seed.isdigit():
            raise ValueError(f"`--dist` {spec!r}: the seed after 'dna128-like:' must be a non-negative integer")
        return datasets.dna128_like(int(seed))
    if is_python_spec(spec):
        source = load_python(spec)
        try:
            return JointDistribution.from_source(source, name=spec)
        except NormalisationError as err:
            raise ValueError(f"`--dist` {spec!r}: {err.fact}") from None
        except ValueError as err:
            raise ValueError(f"`--dist` {spec!r}: {err}") from None
    if is_file_spec(spec):
        try:
            return JointDistribution.from_json(
                spec, alphabet=None if alphabet is None else Alphabet(alphabet), normalize=normalize
            )
        except NormalisationError as err:
            raise _cli_wording(err) from None
    raise ValueError(
        f"`--dist` {spec!r} is not known: use dna128, dna128-like:SEED, python:MODULE:ATTR, or a path to a JSON file"
    )


def load_markov(spec: str, *, alphabet=None, normalize: bool = False) -> MarkovChain:
    """Resolve ``markov4`` (the paper's released table) or ``markov:PATH`` (a JSON table
    ``{context: {symbol: probability}}``, contexts oldest first)."""
    if spec == "markov4":
        return markov4()
    if isinstance(spec, str) and spec.startswith("markov:"):
        path = spec.split(":", 1)[1]
        if not path:
            raise ValueError("`--dist` 'markov:' needs a path to a JSON Markov table, e.g. markov:table.json")
        try:
            return MarkovChain.from_json(path, alphabet=alphabet, normalize=normalize)
        except NormalisationError as err:
            raise _cli_wording(err) from None
    raise ValueError(f"`--dist` {spec!r} is not a Markov source: use markov4 or markov:PATH")
