"""The ``--dist SPEC`` strings of the command line, resolved to sources (``docs/theory.md`` §1.1).

* ``dna128``: the paper's D128 table; ``dna128-like:SEED``: the D128 recipe, seeded;
* a path to a JSON file ``{sequence: probability}`` (ends in ``.json`` or contains a separator);
* ``markov4`` or ``markov:PATH`` (a JSON table ``{context: {symbol: probability}}``): a Markov chain,
  for the prompt–response protocol of ``nll`` and the Markov rows of ``verify``;
* ``python:MODULE:ATTR``: a :class:`~ctmc_lab.sources.base.Source` defined anywhere importable,
  ATTR being the source or a zero-argument callable returning one; where a joint table is needed
  it is materialised over its full length (``JointDistribution.from_source``).

``--model python:MODULE:ATTR`` names a model (a denoiser) the same way (:func:`load_model`).

The core only has plain constructors; the spec grammar and its CLI wording (``--normalize``,
``--dist``) live here. The predicates (``is_*_spec``) import nothing, so the parser can use them;
the loaders import the sources when called.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = [
    "is_file_spec",
    "is_markov_spec",
    "is_python_spec",
    "load_joint",
    "load_markov",
    "load_python",
    "load_model",
    "SOURCE_ATTRIBUTES",
]


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


def _cli_wording(err) -> ValueError:
    return ValueError(f"{err.fact}; rescale them with `--normalize` (the `normalize` option in Python)")


def _python_attr(spec: str, option: str, example: str):
    """The object ``python:MODULE:ATTR`` names; a one-line ``ValueError`` naming ``option`` otherwise."""
    parts = spec.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError(f"`{option}` {spec!r}: write python:MODULE:ATTR, e.g. {example}")
    _, module, attr = parts
    if "" not in sys.path and os.getcwd() not in sys.path:
        # As `python -m` would: a module beside the user is found (the console script does not
        # put the current directory on the path); appended, so it shadows nothing installed.
        sys.path.append(os.getcwd())
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"`{option}` {spec!r}: module {module!r} does not import ({err})") from None
    except Exception as err:  # the user's module failed while importing: report it, not a traceback
        raise ValueError(f"`{option}` {spec!r}: importing {module!r} raised {_raised(err)}") from None
    if not hasattr(mod, attr):
        raise ValueError(f"`{option}` {spec!r}: module {module!r} has no attribute {attr!r}")
    return getattr(mod, attr)


def _raised(err: BaseException) -> str:
    """``TypeName: message`` of an exception raised by a user's code, on one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _call_factory(obj, spec: str, option: str, what: str):
    try:
        return obj()
    except Exception as err:
        raise ValueError(
            f"`{option}` {spec!r}: ATTR must be {what} or a zero-argument callable returning one "
            f"(calling it raised {_raised(err)})"
        ) from None


#: What ``--dist python:`` needs of a Source to enumerate its joint table.
SOURCE_ATTRIBUTES = ("n_tokens", "length", "log_prob", "alphabet")


def load_python(spec: str):
    """The source named by ``python:MODULE:ATTR`` (ATTR a source or a zero-argument callable returning one).

    Raises
    ------
    ValueError
        For a malformed SPEC, a module that does not import, a missing attribute, or a source
        without one of :data:`SOURCE_ATTRIBUTES` (all missing ones are named).
    """
    obj = _python_attr(spec, "--dist", "python:my_sources:make_source")
    # A class or a factory is called; an instance is the source itself.
    source = obj
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "log_prob")):
        source = _call_factory(obj, spec, "--dist", "a Source")
    missing = [name for name in SOURCE_ATTRIBUTES if not hasattr(source, name)]
    if missing:
        raise ValueError(f"`--dist` {spec!r} is not a Source: it has no {', '.join(f'`{m}`' for m in missing)}")
    return source


def _model_length(obj, spec: str, n_tokens: int, length: int) -> None:
    for name, want in (("n_tokens", n_tokens), ("length", length)):
        have = getattr(obj, name, want)
        if isinstance(have, bool) or not hasattr(type(have), "__index__") or int(have) != want:
            raise ValueError(
                f"`--model` {spec!r}: its `{name}` is {have!r}, but the `--dist` sequences have {name} = {want}"
            )


class _ModelCall:
    """The user's model as called by the library: any exception it raises becomes a ``--model`` error."""

    def __init__(self, fn, spec: str):
        self.fn, self.spec = fn, spec

    def __call__(self, x):
        try:
            return self.fn(x)
        except Exception as err:
            raise ValueError(f"`--model` {self.spec!r} raised {_raised(err)} on a batch of shape {x.shape}") from None


class _NamedModel:
    """A checked model (a ``Denoiser``) whose every error names ``--model``."""

    def __init__(self, checked, spec: str):
        self.checked, self.spec = checked, spec
        self.n_tokens, self.length = checked.n_tokens, checked.length

    def __call__(self, x):
        try:
            return self.checked(x)
        except ValueError as err:
            text = str(err)
            raise ValueError(text if text.startswith("`--model`") else f"`--model` {self.spec!r}: {text}") from None

    def __repr__(self) -> str:
        return f"--model {self.spec}"


def load_model(spec: str, *, n_tokens: int, length: int, probe=None):
    """The denoiser named by ``--model python:MODULE:ATTR``, checked on every call (``CallableDenoiser``).

    ATTR is a :class:`~ctmc_lab.sources.denoisers.Denoiser` (a callable with ``n_tokens`` and
    ``length``), a plain callable ``(B, L) int -> (B, L, N)`` log-probabilities, or a
    zero-argument callable (a class, a factory) returning either. Every call is checked by
    :class:`~ctmc_lab.sources.denoisers.CallableDenoiser`: shape ``(B, L, N)``, no NaN or
    ``+inf``, and rows at masked positions summing to 1 within ``SUM_TOLERANCE`` (1e-9); a model
    off that tolerance is refused, never renormalised. With ``probe`` (one ``(L,)`` clean
    sequence) the model is called once at load on that sequence fully masked and with each
    position masked alone, so a broken model fails before any work.

    Raises
    ------
    ValueError
        One line naming ``--model``: a malformed SPEC, an import failure, a factory that fails, a
        model of another N or L, a model that raises, or an output that fails the checks.
    """
    import inspect

    import numpy as np

    from ctmc_lab.sources.denoisers import CallableDenoiser

    obj = _python_attr(spec, "--model", "python:my_models:make_model")
    if isinstance(obj, type):
        obj = _call_factory(obj, spec, "--model", "a denoiser")
    elif callable(obj) and not hasattr(obj, "n_tokens"):
        try:
            params = inspect.signature(obj).parameters.values()
            required = [
                p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):  # a builtin without a signature: treat it as the model itself
            required = [None]
        if not required:
            obj = _call_factory(obj, spec, "--model", "a denoiser")
    if not callable(obj):
        raise ValueError(f"`--model` {spec!r}: ATTR must be a callable denoiser (got {type(obj).__name__})")
    _model_length(obj, spec, n_tokens, length)
    model = _NamedModel(CallableDenoiser(_ModelCall(obj, spec), n_tokens, length), spec)
    if probe is not None:
        x = np.repeat(np.asarray(probe, dtype=np.int64)[None], length + 1, axis=0)
        x[np.arange(length), np.arange(length)] = n_tokens
        x[length] = n_tokens
        model(x)
    return model


def load_joint(spec: str = "dna128", *, alphabet=None, normalize: bool = False):
    """The ``JointDistribution`` of a SPEC: ``dna128``, ``dna128-like:SEED``, a JSON file or ``python:MODULE:ATTR``.

    Raises
    ------
    ValueError
        For an unknown SPEC or an invalid file, with the reason.
    """
    from ctmc_lab.sequences import Alphabet
    from ctmc_lab.sources import datasets
    from ctmc_lab.sources.base import NormalisationError
    from ctmc_lab.sources.joint import JointDistribution

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
        except Exception as err:  # the user's source failed while being enumerated
            raise ValueError(f"`--dist` {spec!r}: enumerating the source raised {_raised(err)}") from None
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


def load_markov(spec: str, *, alphabet=None, normalize: bool = False):
    """Resolve ``markov4`` (the paper's released table) or ``markov:PATH`` (a JSON table
    ``{context: {symbol: probability}}``, contexts oldest first) to a ``MarkovChain``."""
    from ctmc_lab.sources.base import NormalisationError
    from ctmc_lab.sources.markov import MarkovChain, markov4

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
