"""The ``--dist SPEC`` strings of the command line, resolved to sources (``docs/theory.md`` §1.1).

:data:`DIST_SPECS` is the one table of the grammar: each form (``dna128``, ``dna128-like:SEED``,
a JSON file, ``markov4``, ``markov:PATH``, ``python:MODULE:ATTR``) with how it is recognised, its
loader, the commands that take it and its help line. The parsing (:func:`dist_spec`,
:func:`load_joint`, :func:`load_markov`, :func:`load_python`, the ``is_*_spec`` predicates), every
command's ``--dist`` help (``ctmc_lab.cli._common.dist_help``) and the table of ``docs/cli.md``
(:func:`markdown_table`) are read from it.

A ``python:MODULE:ATTR`` source is a :class:`~ctmc_lab.sources.base.Source` defined anywhere
importable, ATTR being the source or a zero-argument callable returning one; where a joint table
is needed it is materialised over its full length (``JointDistribution.from_source``).
``--model python:MODULE:ATTR`` names a model (a denoiser) the same way (:func:`load_model`).

The core only has plain constructors; the spec grammar and its CLI wording (``--normalize``,
``--dist``) live here. The table and the predicates import nothing, so the parser can use them;
the loaders import the sources when called.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DIST_SPECS",
    "DistSpec",
    "dist_spec",
    "is_file_spec",
    "is_markov_spec",
    "is_python_spec",
    "load_joint",
    "load_markov",
    "load_python",
    "load_model",
    "markdown_table",
    "refuse_file_options",
    "SOURCE_ATTRIBUTES",
]

#: The commands that take ``--dist``.
JOINT_COMMANDS = ("nll", "estimate", "curve", "verify")
MARKOV_COMMANDS = ("nll", "verify")


@dataclass(frozen=True)
class DistSpec:
    """One form of ``--dist SPEC``.

    Attributes
    ----------
    form : str
        How the form is written (``dna128-like:SEED``); its first word names it in messages.
    kind : {"joint", "markov"}
        What its loader returns: a ``JointDistribution`` or a ``MarkovChain``.
    commands : tuple of str
        The commands that take it.
    help : str
        What it names, one line (the ``--dist`` help and the table of ``docs/cli.md``).
    matches : callable
        ``spec -> bool``; the forms are tried in :data:`DIST_SPECS` order, the first match wins.
    load : callable
        ``(spec, *, alphabet, normalize) -> source``; it imports the sources when called.
    file : bool
        Whether the form names a user's file, to which ``--alphabet`` and ``--normalize`` apply.
    """

    form: str
    kind: str
    commands: tuple
    help: str
    matches: Callable
    load: Callable
    file: bool = False


def _is_path(spec: str) -> bool:
    return spec.endswith(".json") or "/" in spec or "\\" in spec


def dist_spec(spec, command: str | None = None) -> DistSpec:
    """The form of :data:`DIST_SPECS` that ``spec`` is (the first that matches).

    Raises
    ------
    ValueError
        For a string no form matches, or a form ``command`` does not take; the message lists
        the forms (those ``command`` takes, when given).
    """
    accepted = [d for d in DIST_SPECS if command is None or command in d.commands]
    forms = ", ".join(d.form for d in accepted[:-1]) + f" or {accepted[-1].form}"
    found = next((d for d in DIST_SPECS if isinstance(spec, str) and d.matches(spec)), None)
    if found is None:
        raise ValueError(f"`--dist` {spec!r} is not known: use {forms}")
    if found not in accepted:
        raise ValueError(f"`--dist` {spec!r} ({found.help}) is not taken by `{command}`: use {forms}")
    return found


def _form_of(spec) -> DistSpec | None:
    try:
        return dist_spec(spec)
    except ValueError:
        return None


def is_file_spec(spec) -> bool:
    """Whether a SPEC names a JSON file ``{sequence: probability}`` (a path ending in ``.json`` or holding a separator)."""
    return _form_of(spec) is _FILE


def is_markov_spec(spec) -> bool:
    """Whether a SPEC names a Markov source (``markov4`` or ``markov:PATH``)."""
    found = _form_of(spec)
    return found is not None and found.kind == "markov"


def is_python_spec(spec) -> bool:
    """Whether a SPEC names a Python source (``python:MODULE:ATTR``)."""
    return _form_of(spec) is _PYTHON


def refuse_file_options(spec: str, *, alphabet=None, normalize: bool = False) -> None:
    """``--alphabet`` and ``--normalize`` describe a user's file; refuse them for any other form of SPEC."""
    found = _form_of(spec)
    if found is not None and found.file:
        return
    for option, given in (("--alphabet", alphabet is not None), ("--normalize", bool(normalize))):
        if given:
            files = " or ".join(d.form for d in DIST_SPECS if d.file)
            raise ValueError(
                f"`{option}` applies only to a JSON file given as `--dist` ({files}); "
                f"{spec} has its own alphabet and normalised probabilities"
            )


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


def load_joint(spec: str = "dna128", *, alphabet=None, normalize: bool = False, command: str | None = None):
    """The ``JointDistribution`` of a SPEC of a joint form of :data:`DIST_SPECS`.

    ``dna128``, ``dna128-like:SEED``, a JSON file or ``python:MODULE:ATTR``; ``alphabet`` and
    ``normalize`` apply to a file only. With ``command``, a form that command does not take is
    refused.

    Raises
    ------
    ValueError
        For an unknown SPEC, a Markov one, or an invalid file, with the reason.
    """
    found = dist_spec(spec, command)
    if found.kind != "joint":
        joint = ", ".join(d.form for d in DIST_SPECS if d.kind == "joint")
        raise ValueError(f"`--dist` {spec!r} is a Markov source, not a joint table: use {joint}")
    refuse_file_options(spec, alphabet=alphabet, normalize=normalize)
    return found.load(spec, alphabet=alphabet, normalize=normalize)


def load_markov(spec: str, *, alphabet=None, normalize: bool = False):
    """Resolve ``markov4`` (the paper's released table) or ``markov:PATH`` (a JSON table
    ``{context: {symbol: probability}}``, contexts oldest first) to a ``MarkovChain``."""
    found = _form_of(spec)
    if found is None or found.kind != "markov":
        markov = " or ".join(d.form for d in DIST_SPECS if d.kind == "markov")
        raise ValueError(f"`--dist` {spec!r} is not a Markov source: use {markov}")
    refuse_file_options(spec, alphabet=alphabet, normalize=normalize)
    return found.load(spec, alphabet=alphabet, normalize=normalize)


def _dna128(spec: str, **_):
    from ctmc_lab.sources import datasets

    return datasets.dna128()


def _dna128_like(spec: str, **_):
    from ctmc_lab.sources import datasets

    seed = spec.split(":", 1)[1]
    if not (seed.isascii() and seed.isdigit()):
        raise ValueError(f"`--dist` {spec!r}: the seed after 'dna128-like:' must be a non-negative integer")
    return datasets.dna128_like(int(seed))


def _joint_file(spec: str, *, alphabet=None, normalize=False):
    from ctmc_lab.sequences import Alphabet
    from ctmc_lab.sources.base import NormalisationError
    from ctmc_lab.sources.joint import JointDistribution

    try:
        return JointDistribution.from_json(
            spec, alphabet=None if alphabet is None else Alphabet(alphabet), normalize=normalize
        )
    except NormalisationError as err:
        raise _cli_wording(err) from None


def _python_joint(spec: str, **_):
    from ctmc_lab.sources.base import NormalisationError
    from ctmc_lab.sources.joint import JointDistribution

    source = load_python(spec)
    try:
        return JointDistribution.from_source(source, name=spec)
    except NormalisationError as err:
        raise ValueError(f"`--dist` {spec!r}: {err.fact}") from None
    except ValueError as err:
        raise ValueError(f"`--dist` {spec!r}: {err}") from None
    except Exception as err:  # the user's source failed while being enumerated
        raise ValueError(f"`--dist` {spec!r}: enumerating the source raised {_raised(err)}") from None


def _markov4(spec: str, **_):
    from ctmc_lab.sources.markov import markov4

    return markov4()


def _markov_file(spec: str, *, alphabet=None, normalize=False):
    from ctmc_lab.sources.base import NormalisationError
    from ctmc_lab.sources.markov import MarkovChain

    path = spec.split(":", 1)[1]
    if not path:
        raise ValueError("`--dist` 'markov:' needs a path to a JSON Markov table, e.g. markov:table.json")
    try:
        return MarkovChain.from_json(path, alphabet=alphabet, normalize=normalize)
    except NormalisationError as err:
        raise _cli_wording(err) from None


_PYTHON = DistSpec(
    "python:MODULE:ATTR",
    "joint",
    JOINT_COMMANDS,
    "a Source, or a zero-argument callable returning one, importable as MODULE.ATTR and enumerated over its length",
    lambda spec: spec.startswith("python:"),
    _python_joint,
)
_FILE = DistSpec(
    "PATH.json",
    "joint",
    JOINT_COMMANDS,
    "a JSON file {sequence: probability}: any path ending in .json or holding a /",
    _is_path,
    _joint_file,
    file=True,
)
#: The forms of ``--dist SPEC``, tried in this order (the first that matches wins).
DIST_SPECS = (
    DistSpec("dna128", "joint", JOINT_COMMANDS, "the paper's D128 table", lambda spec: spec == "dna128", _dna128),
    DistSpec(
        "dna128-like:SEED",
        "joint",
        JOINT_COMMANDS,
        "the D128 recipe drawn with a non-negative integer seed",
        lambda spec: spec.startswith("dna128-like:"),
        _dna128_like,
    ),
    DistSpec(
        "markov4",
        "markov",
        MARKOV_COMMANDS,
        "the paper's order-4 DNA chain",
        lambda spec: spec == "markov4",
        _markov4,
    ),
    DistSpec(
        "markov:PATH",
        "markov",
        MARKOV_COMMANDS,
        "a Markov chain read from a JSON table {context: {symbol: probability}}, contexts oldest first",
        lambda spec: spec.startswith("markov:"),
        _markov_file,
        file=True,
    ),
    _PYTHON,
    _FILE,
)


def markdown_table() -> str:
    """The ``--dist`` table of ``docs/cli.md``: each form, what it names and the commands that take it."""
    lines = ["| `--dist SPEC` | what it names | commands |", "|---|---|---|"]
    for d in DIST_SPECS:
        lines.append(f"| `{d.form}` | {d.help} | {', '.join(f'`{c}`' for c in d.commands)} |")
    return "\n".join(lines) + "\n"
