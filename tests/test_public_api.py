"""Hostile arguments to every public callable: a one-line error naming the argument, or a correct value.

The callables are collected, not listed: every function and class in the ``__all__`` of every
``ctmc_lab`` module and in ``ctmc_lab._EXPORTS``, and every public method of those classes. Each
has an entry in :data:`ENTRIES` (a valid call and, per argument, the kind of value it accepts),
is exempt for a stated reason (:data:`EXEMPT`), or sits in a :data:`PENDING` package with a
stated reason; a new public callable with none of the three fails
:func:`test_every_public_callable_has_a_hostile_argument_entry`.

For each entry, hypothesis replaces one argument of the valid call by a hostile value drawn for
its kind (a wrong type, a bool for an int, 2.7 for an int, NaN, ±inf, out of range, a wrong shape
or number of axes, an empty array, a token outside the alphabet, the mask id where clean tokens
are required, a repeated position, ...). The call must then

* raise ``ValueError`` or ``TypeError`` whose message is one line naming the argument (in
  backticks, or one of the entry's stated aliases) and that is raised from ``ctmc_lab`` code, not
  from inside NumPy or SciPy; or
* return, only for a value the kind declares equivalent to the valid one (``2.0`` for the
  integer 2), exactly what the valid call returns.
"""

from __future__ import annotations

import importlib
import inspect
import io
import math
import os
import pkgutil
import re
import tempfile
import traceback
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from scipy.integrate import quad

import ctmc_lab
from ctmc_lab import _validation, masks, sequences
from ctmc_lab import io as ctmc_io
from ctmc_lab.estimation import (
    cases,
    conditional,
    estimators,
    laws,
    llada,
    moments,
    records,
    replica_registry,
    replicas,
    timelaws,
)
from ctmc_lab.exact import decompositions, information, mask_dce, quadrature, scores
from ctmc_lab.forward import generators, marginals, process, schedules
from ctmc_lab.sources import base, datasets, denoisers
from ctmc_lab.sources.joint import JointDistribution
from ctmc_lab.sources.markov import chain as markov_chain
from ctmc_lab.sources.markov import inference, trie
from ctmc_lab.testing import strategies
from ctmc_lab.testing.strategies import budget

PACKAGE_DIR = Path(ctmc_lab.__file__).resolve().parent

#: Packages whose public callables are collected but not yet held to this test, with the reason.
PENDING = {
    "ctmc_lab.estimation.families": "no hostile-argument entries yet (the family objects validate their options when drawn; not every option names itself)",
    "ctmc_lab.estimation.registry": "no hostile-argument entries yet (the family objects validate their options when drawn; not every option names itself)",
    **{
        f"ctmc_lab.estimation.timelaws.{cls}.{method}": "inherited from Family (ctmc_lab.estimation.families, PENDING)"
        " unchanged: it ignores or does not name its arguments, and is fixed there"
        for cls in ("TimeLaw", "CoupledBlend")
        for method in ("is_stratified", "options", "scheme")
    },
    "ctmc_lab.studies": "no hostile-argument entries yet (the engine checks grids, seeds and records; study functions take its cases)",
    "ctmc_lab.plotting": "no hostile-argument entries yet (figures draw the tables of studies)",
    "ctmc_lab.cli": "the command line validates argv itself (tests/cli); its functions take parsed namespaces",
}

#: Public callables that take no user argument to validate, with the reason.
EXEMPT = {
    "ctmc_lab._validation.InvalidTypeError": "an exception type",
    "ctmc_lab.forward.process.NumericalRangeError": "an exception type",
    "ctmc_lab.sources.base.NormalisationError": "an exception type",
    "ctmc_lab.sources.base.Source": "a Protocol: it cannot be instantiated",
    "ctmc_lab.sources.denoisers.Denoiser": "a Protocol: it cannot be instantiated",
    "ctmc_lab.exact.decompositions.MdseIntegral": "a result record built by mdse_integral",
    "ctmc_lab.exact.quadrature.QuadratureResult": "a result record built by tanh_sinh",
    "ctmc_lab.estimation.records.Estimate": "a result record built by estimate_record",
    "ctmc_lab.estimation.conditional.Split": "a result record built by split_positions",
    "ctmc_lab.estimation.moments.RatioMoments": "a result record built by ratio_moments",
    "ctmc_lab.estimation.llada.LevelStats": "a result record built by level_stats",
    "ctmc_lab.estimation.llada.LLaDAMoments": "a result record built by llada_moments",
    "ctmc_lab.estimation.replicas.ExactMoments": "a result record built by the replicas' moments",
    "ctmc_lab.estimation.replicas.Replica.moments": "abstract: raises NotImplementedError (each replica kind has an entry)",
    "ctmc_lab.estimation.moments.LambdaTruncation": "a result record built by lambda_dce_truncation",
    "ctmc_lab.estimation.moments.SamplerComparison": "a result record built by compare_samplers",
    "ctmc_lab.estimation.conditional.ConditionalLikelihood": "a result record built by conditional_likelihood",
    "ctmc_lab.estimation.conditional.ConditionalRatio": "a result record built by conditional_log_ratio",
    "ctmc_lab.estimation.records.Moments": "a result record built by moments_records",
    "ctmc_lab.sources.markov.inference.ForwardBackward": "a result record built by forward_backward",
    "ctmc_lab.forward.schedules.Schedule": "an abstract base class (its subclasses have entries)",
    "ctmc_lab.io.eprint": "prints any objects, like print",
    "ctmc_lab.io.dumps": "any payload: to_json_value (which has an entry) decides what JSON can carry",
}


# ------------------------------------------------------------------------------ collection
def _modules() -> list[str]:
    names = ["ctmc_lab._validation", "ctmc_lab.io", "ctmc_lab.sequences", "ctmc_lab.masks"]
    for pkg in ("sources", "forward", "exact", "testing", "estimation", "studies", "plotting", "cli"):
        package = importlib.import_module(f"ctmc_lab.{pkg}")
        names.append(package.__name__)
        found = pkgutil.walk_packages(package.__path__, f"ctmc_lab.{pkg}.")
        names += [m.name for m in found if not m.name.endswith("__main__")]  # running it is a program
    return names


def _methods(cls) -> list[str]:
    """Public methods (and ``__call__``) defined on ``cls`` or a ctmc_lab base class, not properties."""
    out = []
    for name, _value in inspect.getmembers(cls):
        if name.startswith("_") and name != "__call__":
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("ctmc_lab"):
            continue
        raw = vars(owner)[name]
        if isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
            out.append(name)
    return out


@cache
def public_callables() -> dict[str, object]:
    """Qualified name -> callable: functions and classes of every ``__all__`` and ``_EXPORTS``, and their methods."""
    found = {}

    def add(obj, fallback: str):
        home = getattr(obj, "__module__", None) or fallback
        qualified = f"{home}.{obj.__qualname__}"
        found.setdefault(qualified, obj)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for method in _methods(obj):
                found.setdefault(f"{qualified}.{method}", getattr(obj, method))

    for module_name in _modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "").startswith(
                "ctmc_lab"
            ):
                add(obj, module_name)
    for name, home in ctmc_lab._EXPORTS.items():
        obj = getattr(importlib.import_module(home), name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            add(obj, home)
    return found


def _under(name: str, prefix: str) -> bool:
    """Whether ``name`` is ``prefix`` (one callable) or lies in it (a package, a module, a class)."""
    return name == prefix or name.startswith(prefix + ".")


def pending_reason(name: str) -> str | None:
    return next((reason for prefix, reason in PENDING.items() if _under(name, prefix)), None)


# ------------------------------------------------------------------------------ hostile kinds
BAD_TYPES = [None, "abc", b"ab", 1j, object(), {"a": 1}]
NUMBER_LIKE_BAD = [None, "0.5", b"1", 1j, object(), [0.5], True, False, np.True_]


@dataclass(frozen=True)
class Kind:
    """What an argument accepts; ``hostile(fx)`` draws values it must refuse, ``alternates`` equivalent ones.

    ``names``: what the refusal may name instead of the argument itself (an identifier is looked for
    in backticks, anything else as written); by default the argument's own name.
    """

    values: tuple = ()
    names: tuple = ()

    def hostile(self, fx) -> st.SearchStrategy:
        return st.sampled_from(list(self.values) or [object()])

    def alternates(self, valid) -> list:
        return []


@dataclass(frozen=True)
class Int(Kind):
    minimum: int | None = None
    maximum: int | None = None
    strict: bool = False  # positive_int: whole floats refused too

    def hostile(self, fx):
        options = [
            st.sampled_from([True, False, np.True_, 2.7, -0.5, math.nan, math.inf, -math.inf, "3", None, 1j, [1]])
        ]
        options.append(st.floats(-1e6, 1e6).filter(lambda v: not float(v).is_integer()))
        if self.strict:
            options.append(st.integers(max(self.minimum or 0, 1), max(self.minimum or 0, 1) + 3).map(float))
        if self.minimum is not None:
            options.append(st.integers(self.minimum - 10**6, self.minimum - 1))
        if self.maximum is not None:
            options.append(st.integers(self.maximum + 1, self.maximum + 10**30))
        return st.one_of(options)

    def alternates(self, valid):
        return [] if self.strict or not isinstance(valid, int) or isinstance(valid, bool) else [float(valid)]


@dataclass(frozen=True)
class Real(Kind):
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    finite: bool = True

    def hostile(self, fx):
        bad = [math.nan, *NUMBER_LIKE_BAD]
        if self.finite:
            bad += [math.inf, -math.inf]
        outside = []
        if self.lo is not None:
            outside.append(st.floats(max(self.lo - 1e6, -1e300), self.lo))
        if self.hi is not None:
            outside.append(st.floats(self.hi, min(self.hi + 1e6, 1e300)))
        # -0.0 or an end of a closed interval is valid: only numbers outside it are hostile.
        return st.one_of(st.sampled_from(bad), *(o.filter(lambda v: not self.inside(v)) for o in outside))

    def inside(self, v: float) -> bool:
        above = self.lo is None or v > self.lo or (v == self.lo and not self.lo_open)
        below = self.hi is None or v < self.hi or (v == self.hi and not self.hi_open)
        return above and below


PROB = Real(lo=0.0, hi=1.0)
POSITIVE = Real(lo=0.0, lo_open=True)
NONNEG = Real(lo=0.0)
BOOL = Kind(values=(0, 1, "yes", None, 1.0, np.array([True]), "False"))
STR = Kind(values=(None, 3, b"x", "", "a\ud800", ["a"]))
CALLABLE = Kind(values=(None, 3, "len", [len]))
RNG = Kind(values=(1.5, -1, "seed", True, object(), [-1], 1j), names=("rng", "seed"))
PATH = Kind(values=(3, None, "", "a\x00b", b"x", ["a.json"]))


@dataclass(frozen=True)
class Choice(Kind):
    options: tuple = ()

    def hostile(self, fx):
        return st.one_of(
            st.sampled_from([None, 3, b"x", ["x"], 1.5, *(o.upper() for o in self.options if o.upper() != o)]),
            st.text(max_size=6).filter(lambda t: t not in self.options),
        )


@dataclass(frozen=True)
class Tokens(Kind):
    """Token arrays over an alphabet of ``n`` symbols (+ the mask with ``mask``), sequences of length ``length``."""

    n: int = 2
    length: int | None = 2
    mask: bool = False
    ndim: tuple = (1, 2)
    empty_ok: bool = False

    def hostile(self, fx):
        L = self.length or 2
        top = self.n if self.mask else self.n - 1
        bad = [
            [top + 1] * L,
            [-1] * L,
            [0.5] * L,
            [math.nan] * L,
            [True] * L,
            "?" * L if not self.mask else "Z" * L,
            "Z" * L,
            None,
            object(),
            [[0] * L, [0] * (L + 1)],
            1j,
        ]
        if not self.mask:
            bad.append([self.n] * L)
        if self.length is not None:
            bad += [[0] * (L + 1), np.zeros((2, L + 1), int)]
        for d in range(0, 4):
            if d not in self.ndim:
                bad.append(np.zeros((1,) * (d - 1) + (L,), int) if d else np.int64(0))
        if not self.empty_ok:
            bad += [[], np.zeros((0, L), int)]
        return st.sampled_from(bad)


@dataclass(frozen=True)
class Positions(Kind):
    length: int = 2

    def hostile(self, fx):
        L = self.length
        return st.sampled_from([[L], [-1], [0, 0], [0.5], "ab", None, [[0]], np.ones(L + 1, bool), object(), 1.5])


@dataclass(frozen=True)
class Array(Kind):
    """A real array of ``shape`` (None: any length there) with entries in [lo, hi]."""

    shape: tuple = ()
    lo: float | None = None
    hi: float | None = None
    finite: bool = False
    dtype: type = float

    def hostile(self, fx):
        ok = np.zeros(tuple(2 if s is None else s for s in self.shape))
        if self.lo is not None:
            ok = ok + self.lo
        bad = ["abc", None, object(), [[0.0, 1.0], [0.0]], ok.astype(complex) + 1j]
        if ok.ndim >= 1:
            bad += [ok[..., :0] if ok.shape[-1] else ok, ok.reshape(-1)[:0]]
        bad += [ok[None], ok[None, None], np.float64(0.5) if ok.ndim else np.zeros(3)]  # shapes are exact
        if ok.size:
            for v in [math.nan] + ([math.inf, -math.inf] if self.finite else []):
                b = ok.copy()
                b.reshape(-1)[-1] = v
                bad.append(b)
            if self.lo is not None:
                b = ok.copy()
                b.reshape(-1)[-1] = self.lo - 1
                bad.append(b)
            if self.hi is not None:
                b = ok.copy()
                b.reshape(-1)[-1] = self.hi + 1
                bad.append(b)
            if self.dtype is int:
                bad.append(ok + 0.5)
            bad.append(ok.astype(bool))
        return st.sampled_from(bad)


@dataclass(frozen=True)
class Obj(Kind):
    """Any object but the expected one: ``extra(fx)`` adds library objects of the wrong kind."""

    wrong: tuple = ("joint", "chain", "gen", "noised", "schedule")

    def hostile(self, fx):
        return st.sampled_from([None, 3, "x", object(), [1, 2], *(getattr(fx, w) for w in self.wrong)])


# ------------------------------------------------------------------------------ fixtures
class Fixtures:
    """Small valid objects, built once: N = 2 symbols "AT", sequences of length 2."""

    def __init__(self):
        self.alphabet = sequences.Alphabet("AT")
        self.joint = JointDistribution.from_dict({"AT": 0.25, "TA": 0.5, "AA": 0.25}, alphabet="AT", name="fx")
        self.chain = markov_chain.MarkovChain.from_dirichlet(2, 1, rng=0, alphabet="AT")
        self.continued = self.chain.continuing("AT")
        self.gen = generators.absorbing(2)
        self.ugen = generators.uniform(2)
        self.schedule = schedules.Loglinear()
        self.noised = process.NoisedDistribution.at_noise_level(self.joint, self.gen, 0.5)
        self.process = process.ForwardProcess(self.gen, self.schedule)
        self.den = denoisers.OptimalDenoiser(self.joint)
        self.callable_den = denoisers.CallableDenoiser(lambda x: np.full(x.shape + (2,), -np.log(2.0)), 2, 2)
        self.mask_dce = mask_dce.MaskDCE(self.den, [0, 1])
        self.A = self.joint.mask_dce_table([0, 1], [0, 1])
        self.h = masks.subset_entropy(self.joint.subset_table([0, 1]))
        self.noise_process = generators.NoiseProcess("hostile-test", generators.uniform_rates, min_tokens=2)
        self.quad = quadrature.tanh_sinh(lambda x, a, b: np.array([x]), 0.0, 1.0)
        self.stream = io.StringIO()
        self.progress = ctmc_io.Progress(10, "x", stream=self.stream)
        self.dir = tempfile.mkdtemp(prefix="ctmc-hostile-")
        self.json_path = os.path.join(self.dir, "dist.json")
        ctmc_io.write_json(self.json_path, {"AT": 0.5, "TA": 0.5})
        self.markov_path = os.path.join(self.dir, "markov.json")
        ctmc_io.write_json(self.markov_path, {"A": {"A": 0.5, "T": 0.5}, "T": {"A": 0.25, "T": 0.75}})
        self.out_path = os.path.join(self.dir, "out.json")
        self.table = self.chain.table
        self.pi = self.chain.stationary
        self.joint3 = JointDistribution.from_dict({"ATA": 0.25, "TAT": 0.5, "AAT": 0.25}, alphabet="AT", name="fx3")
        self.case = cases.from_source(self.joint3, "ATA", prompt=[0], name="fx")
        self.code = replicas.Code("owner/repo", "file.py", "function", "0123456789abcdef")
        self.lam = lambda u: 0.5 * u + 0.25
        self.weight = lambda u: 1.0 / (0.5 * u + 0.25)
        self.tmap = replicas.linear_map(1e-3)
        self.iid = timelaws.TimeLaw(self.tmap, "iid")
        self.lattice = timelaws.TimeLaw(self.tmap, "lattice")
        self.blend = timelaws.CoupledBlend(0.2, 0.8)
        self.oracle = laws.TableOracle(self.A)


@cache
def fixtures() -> Fixtures:
    return Fixtures()


# ------------------------------------------------------------------------------ entries
@dataclass
class Entry:
    """A valid call of one public callable and the kind of each argument varied."""

    name: str
    call: object  # fx -> (callable, {argument: valid value})
    slots: dict = field(default_factory=dict)
    examples: int = 12


ENTRIES: dict[str, Entry] = {}


def entry(qualified: str, call, /, examples: int = 12, **slots):
    """Register the entry of ``qualified``: ``call(fx)`` gives the callable and valid arguments."""
    assert qualified not in ENTRIES, qualified
    ENTRIES[qualified] = Entry(qualified, call, slots, examples)


#: Mask tables (batches allowed) that are not one: wrong length, NaN, -inf, A(∅) ≠ 0, wrong kind.
_A = Kind(
    (
        "ab",
        None,
        [0.0, 1.0, 2.0],
        [1.0, 0.0, 0.0, 0.0],
        [0.0, math.nan, 0.0, 0.0],
        [0.0, -math.inf, 0.0, 0.0],
        [[[0.0]]],
        [],
        1j,
        0.5,
        [True, False],
    ),
    ("`A`", "`A["),
)
#: Masking levels λ (one or a (K,) array) outside [0, 1] or of the wrong kind.
_LEVELS = Kind(("ab", None, 1.5, -0.1, math.nan, math.inf, [[0.5]], 1j, [True], [0.5, 2.0]), ("mask_level",))
M = "ctmc_lab.masks"
S = "ctmc_lab.sequences"
V = "ctmc_lab._validation"

# _validation: the value slot of each validator is what it exists to refuse.
entry(
    f"{V}.ensure_int",
    lambda fx: (_validation.ensure_int, {"value": 3, "name": "n", "minimum": 1, "maximum": 5}),
    value=Int(minimum=1, maximum=5, names=("n",)),
)
entry(
    f"{V}.positive_int",
    lambda fx: (_validation.positive_int, {"value": 3, "name": "n"}),
    value=Int(minimum=1, strict=True, names=("n",)),
)
entry(
    f"{V}.ensure_real",
    lambda fx: (_validation.ensure_real, {"value": 0.5, "name": "t", "lo": 0.0, "hi": 1.0}),
    value=Real(lo=0.0, hi=1.0, names=("t",)),
)
entry(
    f"{V}.ensure_probability",
    lambda fx: (_validation.ensure_probability, {"value": 0.5, "name": "p"}),
    value=Real(lo=0.0, hi=1.0, names=("p",)),
)
entry(
    f"{V}.ensure_bool",
    lambda fx: (_validation.ensure_bool, {"value": True, "name": "b"}),
    value=Kind(BOOL.values, ("b",)),
)
entry(
    f"{V}.ensure_array",
    lambda fx: (_validation.ensure_array, {"value": [0.5, 0.5], "name": "a", "shape": (2,), "lo": 0.0, "hi": 1.0}),
    value=Array(shape=(2,), lo=0.0, hi=1.0, names=("a",)),
)
entry(
    f"{V}.ensure_tokens",
    lambda fx: (_validation.ensure_tokens, {"x": [0, 1], "n_tokens": 2, "length": 2}),
    x=Tokens(),
    n_tokens=Kind((None, "2", 0, 2.5), ("n_tokens", "x")),
)
entry(
    f"{V}.ensure_choice",
    lambda fx: (_validation.ensure_choice, {"value": "a", "name": "m", "choices": ("a", "b")}),
    value=Choice(options=("a", "b"), names=("m",)),
)
entry(
    f"{V}.ensure_mask_table",
    lambda fx: (_validation.ensure_mask_table, {"A": fx.A}),
    A=_A,
)
entry(
    f"{V}.ensure_callable",
    lambda fx: (_validation.ensure_callable, {"value": len, "name": "f"}),
    value=Kind(CALLABLE.values, ("f",)),
)
entry(
    f"{V}.ensure_str", lambda fx: (_validation.ensure_str, {"value": "s", "name": "s"}), value=Kind(STR.values, ("s",))
)
entry(f"{V}.ensure_rng", lambda fx: (_validation.ensure_rng, {"rng": 0}), rng=RNG)
entry(
    f"{V}.ensure_size",
    lambda fx: (_validation.ensure_size, {"n_elements": 10, "what": "`t`"}),
    n_elements=Kind((2**31, 10**40, "10", 2.5, -1), ("t", "n_elements")),
)
entry(
    f"{V}.subset_table_length",
    lambda fx: (_validation.subset_table_length, {"n_entries": 4}),
    n_entries=Kind((3, 0, -4, 6, "4", 4.5), ("A", "n_entries")),
)
entry(
    f"{V}.power",
    lambda fx: (_validation.power, {"base": 4, "exponent": 3}),
    base=Int(minimum=0),
    exponent=Int(minimum=0),
)
entry(
    f"{V}.lone_surrogate",
    lambda fx: (_validation.lone_surrogate, {"text": "abc"}),
    text=Kind((None, 3, b"x"), ("text",)),
)

# sequences
entry(
    f"{S}.Alphabet",
    lambda fx: (sequences.Alphabet, {"symbols": "AT"}),
    symbols=Kind(("", "AA", "A?", ["AB"], 3, None, "a\ud800", [1, 2]), ("alphabet",)),
)
entry(
    f"{S}.Alphabet.encode",
    lambda fx: (fx.alphabet.encode, {"sequences": ["AT", "TA"], "allow_mask": False}),
    sequences=Kind(("AZ", ["AT", "A"], [], 3, None, [1, 2], ["A\ud800"], "A?"), ("sequences",)),
    allow_mask=BOOL,
)
entry(f"{S}.Alphabet.decode", lambda fx: (fx.alphabet.decode, {"x": [0, 2]}), x=Tokens(mask=True, length=None))
entry(
    f"{S}.all_sequences",
    lambda fx: (sequences.all_sequences, {"n_states": 2, "length": 3}),
    n_states=Int(minimum=1),
    length=Int(minimum=1, maximum=25),
)
entry(
    f"{S}.flat_index",
    lambda fx: (sequences.flat_index, {"x": [[0, 1]], "n_states": 2}),
    x=Tokens(length=None, ndim=(1, 2, 3), empty_ok=True),
    n_states=Int(minimum=2, names=("n_states", "x")),
)
entry(f"{S}.subset_members", lambda fx: (sequences.subset_members, {"length": 3}), length=Int(minimum=0, maximum=25))
entry(
    f"{S}.popcount",
    lambda fx: (sequences.popcount, {"u": [0, 5]}),
    u=Kind(([-1], [0.5], "ab", None, [[1], [1, 2]], 2**64, [True]), ("u",)),
)
entry(
    f"{S}.as_positions",
    lambda fx: (sequences.as_positions, {"arg": [0, 1], "length": 2, "name": "target"}),
    arg=Positions(names=("target",)),
    length=Int(minimum=2, names=("length", "target")),
    name=STR,
)

# masks
entry(f"{M}.harmonic", lambda fx: (masks.harmonic, {"n": 5}), n=Int(minimum=0, maximum=1 << 62))
entry(
    f"{M}.bitmask",
    lambda fx: (masks.bitmask, {"positions": [0, 2]}),
    positions=Kind(([63], [-1], [0, 0], [0.5], "ab", None, [[0], [1, 2]]), ("positions",)),
)
entry(
    f"{M}.local_to_global",
    lambda fx: (masks.local_to_global, {"local": [1, 3], "positions": [1, 3]}),
    local=Kind(([4], [-1], [0.5], "a", None), ("local",)),
    positions=Kind(([63, 0], [-1, 0], [1, 1], [0.5], "ab", None), ("positions",)),
)
entry(
    f"{M}.subset_entropy",
    lambda fx: (masks.subset_entropy, {"table": np.array([1.0, 0.5, 0.5, 0.25])}),
    table=Kind(
        (
            "ab",
            None,
            [1.0, 0.5, 0.5],
            [1.0, math.nan, 0.5, 0.25],
            [1.0, -0.5, 0.5, 0.2],
            [1.0, 1.5, 0.5, 0.2],
            [],
            1j,
            0.5,
        ),
        ("table",),
    ),
)
for _f in ("mask_dce", "mask_kl", "mask_kl_rate"):
    _extra = {} if _f == "mask_dce" else {"mask_level": [0.2, 0.7]}
    entry(
        f"{M}.{_f}",
        (lambda f, extra: lambda fx: (getattr(masks, f), {"h": fx.h, **extra}))(_f, _extra),
        h=Kind(("ab", None, [0.0, 1.0, 2.0], np.array([0.0, np.nan]), np.array([0.0, -np.inf]), [], 1j), ("h",)),
        **({} if _f == "mask_dce" else {"mask_level": _LEVELS}),
    )
entry(
    f"{M}.mask_mdce",
    lambda fx: (masks.mask_mdce, {"A": fx.A, "mask_level": 0.5}),
    A=_A,
    mask_level=_LEVELS,
)
entry(
    f"{M}.mask_weights",
    lambda fx: (masks.mask_weights, {"length": 3, "upper": 0.5}),
    length=Int(minimum=0, maximum=30),
    upper=PROB,
)
entry(f"{M}.as_mask_table", lambda fx: (masks.as_mask_table, {"A": fx.A}), A=_A)
entry(
    f"{M}.imdce_sum",
    lambda fx: (masks.imdce_sum, {"A": fx.A, "upper": 1.0}),
    A=_A,
    upper=PROB,
)

# io
IO = "ctmc_lab.io"
entry(
    f"{IO}.read_json",
    lambda fx: (ctmc_io.read_json, {"path": fx.json_path, "what": "distribution file"}),
    path=Kind(PATH.values + ("/nonexistent/x.json",), ("path", "distribution file")),
    what=STR,
)
entry(
    f"{IO}.json_float",
    lambda fx: (ctmc_io.json_float, {"x": 0.5}),
    x=Kind(("0.5", b"1", 1j, True, [0.5], object()), ("x",)),
)
entry(
    f"{IO}.to_json_value",
    lambda fx: (ctmc_io.to_json_value, {"obj": {"a": [1.5]}}),
    obj=Kind((object(), {"a": object()}, [1j], {1, 2}), ("obj",)),
)
entry(
    f"{IO}.write_json",
    lambda fx: (ctmc_io.write_json, {"path": fx.out_path, "payload": {"a": 1}}),
    path=Kind(PATH.values + ("/nonexistent/dir/x.json", "/"), ("path", "--json")),
    payload=Kind((object(), [1j]), ("obj",)),
)
entry(
    f"{IO}.write_text",
    lambda fx: (ctmc_io.write_text, {"path": fx.out_path, "text": "x"}),
    path=Kind(PATH.values, ("path",)),
    text=Kind((None, 3, b"x", "a\ud800"), ("text",)),
)
entry(
    f"{IO}.write_bytes",
    lambda fx: (ctmc_io.write_bytes, {"path": fx.out_path, "data": b"x"}),
    path=Kind(PATH.values, ("path",)),
    data=Kind((None, "x", 3, [1]), ("data",)),
)
entry(
    f"{IO}.check_writable",
    lambda fx: (ctmc_io.check_writable, {"path": fx.out_path}),
    path=Kind(PATH.values + ("/nonexistent/dir/x.json",), ("path", "--json")),
)
entry(
    f"{IO}.Progress",
    lambda fx: (ctmc_io.Progress, {"total": 3, "label": "x", "stream": fx.stream}),
    total=Int(minimum=0),
    label=Kind((None, 3, "a\ud800"), ("label",)),
    stream=Kind((3, "x", object()), ("stream",)),
)
entry(f"{IO}.Progress.stage", lambda fx: (fx.progress.stage, {"label": "y"}), label=Kind((None, 3), ("label",)))
entry(f"{IO}.Progress.update", lambda fx: (fx.progress.update, {"k": 1}), k=Int(minimum=0))

# sources: JointDistribution
J = "ctmc_lab.sources.joint.JointDistribution"
entry(
    J,
    lambda fx: (
        JointDistribution,
        {
            "support": [[0, 1], [1, 0]],
            "probs": [0.5, 0.5],
            "n_tokens": 2,
            "alphabet": "AT",
            "normalize": False,
            "name": "n",
        },
    ),
    support=Kind(
        ([[0, 2], [1, 0]], [[0, 1], [0, 1]], [[0.5, 1], [1, 0]], [], [0, 1], "AT", None, [[-1, 0], [1, 0]]),
        ("support",),
    ),
    probs=Kind(
        ([0.5, math.nan], [0.5, math.inf], [-0.5, 1.5], [0.5], [0.7, 0.7], "ab", None, [1e-320, 1.0]), ("probs",)
    ),
    n_tokens=Int(minimum=2, names=("n_tokens", "support")),
    alphabet=Kind(("ATG", "A", "A?", 3, ["AT"]), ("alphabet",)),
    normalize=BOOL,
    name=Kind((3, "", b"x"), ("name",)),
)
entry(
    f"{J}.from_dict",
    lambda fx: (JointDistribution.from_dict, {"mapping": {"AT": 0.5, "TA": 0.5}}),
    mapping=Kind(
        (
            {},
            [],
            None,
            {"AT": math.nan, "TA": 0.5},
            {"AT": -0.5, "TA": 1.5},
            {"AT": "x"},
            {"": 1.0},
            {"\ud800": 1.0},
            {1: 1.0},
            {"A T": 1.0},
            {"AT": True},
            {"AT": 0.7, "TA": 0.7},
        ),
        ("mapping", "probability of", "sequence ", "probs"),
    ),
)
entry(
    f"{J}.from_json",
    lambda fx: (JointDistribution.from_json, {"path": fx.json_path}),
    path=Kind(PATH.values + ("/nonexistent.json",), ("`path`", "distribution file")),
)
entry(
    f"{J}.from_dense",
    lambda fx: (JointDistribution.from_dense, {"table": np.full((2, 2), 0.25)}),
    table=Kind(
        (np.full((2, 3), 1 / 6), [], "ab", None, np.array([[0.25, np.nan], [0.25, 0.5]]), np.full((2, 2), 0.5), 0.5),
        ("table", "probs"),
    ),
)
entry(
    f"{J}.from_source",
    lambda fx: (JointDistribution.from_source, {"source": fx.joint, "length": None}),
    source=Obj(wrong=("chain", "gen", "noised"), names=("`source`", "`length`")),
    length=Int(minimum=2, maximum=2),
)
for _m, _call, _slots in [
    ("encode", lambda fx: (fx.joint.encode, {"x": "AT"}), {"x": Tokens(ndim=tuple(range(1, 33)))}),
    ("decode", lambda fx: (fx.joint.decode, {"x": [0, 1]}), {"x": Tokens(mask=True, length=None)}),
    ("index", lambda fx: (fx.joint.index, {"x": [0, 1]}), {"x": Tokens(ndim=tuple(range(1, 33)))}),
    ("prob", lambda fx: (fx.joint.prob, {"x": [0, 1]}), {"x": Tokens(ndim=tuple(range(1, 33)))}),
    ("log_prob", lambda fx: (fx.joint.log_prob, {"x": [0, 1]}), {"x": Tokens(ndim=tuple(range(1, 33)))}),
    ("nll", lambda fx: (fx.joint.nll, {"x": [0, 1]}), {"x": Tokens(ndim=tuple(range(1, 33)))}),
    (
        "marginal",
        lambda fx: (fx.joint.marginal, {"x": [0, 2], "visible": [True, False]}),
        {"x": Tokens(mask=True), "visible": Kind(([1, 0], [True], [[True, False, True]], "ab", None), ("visible",))},
    ),
    ("log_marginal", lambda fx: (fx.joint.log_marginal, {"x": [0, 2]}), {"x": Tokens(mask=True)}),
    (
        "sample",
        lambda fx: (fx.joint.sample, {"length": 2, "n": 3, "rng": 0}),
        {"length": Int(minimum=2, maximum=2), "n": Int(minimum=1, strict=True), "rng": RNG},
    ),
    ("denoiser", lambda fx: (fx.joint.denoiser, {"length": 2}), {"length": Int(minimum=2, maximum=2)}),
    (
        "mask_dce_table",
        lambda fx: (fx.joint.mask_dce_table, {"x": [0, 1], "target": [0], "context": [1], "method": "subset"}),
        {"x": Tokens(), "target": Positions(), "context": Positions(), "method": Choice(options=("subset",))},
    ),
    ("subset_table", lambda fx: (fx.joint.subset_table, {"x0": [0, 1]}), {"x0": Tokens()}),
    (
        "conditional_log_probs",
        lambda fx: (fx.joint.conditional_log_probs, {"x": [[0, 2]]}),
        {"x": Tokens(mask=True, ndim=(2,))},
    ),
    ("as_dict", lambda fx: (fx.joint.as_dict, {}), {}),
    ("dense", lambda fx: (fx.joint.dense, {}), {}),
    ("describe", lambda fx: (fx.joint.describe, {}), {}),
    ("entropy", lambda fx: (fx.joint.entropy, {}), {}),
    ("pattern_marginals", lambda fx: (fx.joint.pattern_marginals, {}), {}),
]:
    entry(f"{J}.{_m}", _call, **_slots)

# sources: denoisers
D = "ctmc_lab.sources.denoisers"
entry(
    f"{D}.OptimalDenoiser",
    lambda fx: (denoisers.OptimalDenoiser, {"source": fx.joint}),
    source=Obj(wrong=("chain", "gen", "noised", "schedule")),
)
entry(f"{D}.OptimalDenoiser.__call__", lambda fx: (fx.den, {"x": [[0, 2]]}), x=Tokens(mask=True, ndim=(2,)))
_uniform2 = lambda x: np.full(np.shape(x) + (2,), -np.log(2.0))  # noqa: E731
entry(
    f"{D}.CallableDenoiser",
    lambda fx: (
        denoisers.CallableDenoiser,
        {"fn": _uniform2, "n_tokens": 2, "length": 2, "atol": 1e-9, "check_normalisation": True},
    ),
    fn=CALLABLE,
    n_tokens=Int(minimum=1, strict=True),
    length=Int(minimum=1, strict=True),
    atol=POSITIVE,
    check_normalisation=BOOL,
)
entry(
    f"{D}.CallableDenoiser.__call__",
    lambda fx: (fx.callable_den, {"x": [[0, 2]]}),
    x=Tokens(mask=True, ndim=(2,), empty_ok=True),
)
entry(
    f"{D}.MixedDenoiser",
    lambda fx: (denoisers.MixedDenoiser, {"base": fx.den, "mix_with": "uniform", "weight": 0.1}),
    base=Obj(wrong=("joint", "chain", "gen", "noised")),
    mix_with=Kind(("nope", 3, None, "UNIFORM"), ("mix_with",)),
    weight=PROB,
)
entry(
    f"{D}.MixedDenoiser.__call__",
    lambda fx: (denoisers.MixedDenoiser(fx.den, weight=0.1), {"x": [[0, 2]]}),
    x=Tokens(mask=True, ndim=(2,), empty_ok=True),
)
entry(
    f"{D}.TemperedDenoiser",
    lambda fx: (denoisers.TemperedDenoiser, {"base": fx.den, "temperature": 2.0}),
    base=Obj(wrong=("joint", "chain", "gen", "noised")),
    temperature=POSITIVE,
)
entry(
    f"{D}.TemperedDenoiser.__call__",
    lambda fx: (denoisers.TemperedDenoiser(fx.den, temperature=2.0), {"x": [[0, 2]]}),
    x=Tokens(mask=True, ndim=(2,), empty_ok=True),
)
entry(
    f"{D}.check_denoiser",
    lambda fx: (denoisers.check_denoiser, {"denoiser": fx.den}),
    denoiser=Obj(wrong=("joint", "chain", "gen", "noised")),
)

# sources: datasets
DS = "ctmc_lab.sources.datasets"
entry(
    f"{DS}.data_path",
    lambda fx: (datasets.data_path, {"name": "dna128.json"}),
    name=Kind(STR.values + ("nope.json", "../joint.py"), ("name",)),
)
entry(f"{DS}.dna128", lambda fx: (datasets.dna128, {}))
entry(
    f"{DS}.dna128_like",
    lambda fx: (datasets.dna128_like, {"seed": 0, "n_sequences": 4, "length": 3, "temperature": 0.5}),
    seed=RNG,
    n_sequences=Int(minimum=1, maximum=64),
    length=Int(minimum=1, maximum=30),
    temperature=POSITIVE,
)
entry(
    f"{DS}.dirichlet",
    lambda fx: (
        datasets.dirichlet,
        {"n_tokens": 2, "length": 2, "alpha": 1.0, "support_size": 3, "rng": 0, "alphabet": "AT"},
    ),
    n_tokens=Int(minimum=1),
    length=Int(minimum=1),
    alpha=POSITIVE,
    support_size=Int(minimum=1, maximum=4),
    rng=RNG,
    alphabet=Kind(("ATG", 3, "A?"), ("alphabet",)),
)
entry(
    f"{DS}.iid_product",
    lambda fx: (datasets.iid_product, {"marginals": [0.5, 0.5], "length": 2, "alphabet": "AT"}),
    marginals=Kind(([0.5, 0.6], [-0.5, 1.5], [math.nan, 1.0], [], "ab", None, [[[0.5, 0.5]]]), ("marginals",)),
    length=Int(minimum=1, maximum=25),  # 2**L * L enumerated entries, at most MAX_ELEMENTS
    alphabet=Kind(("ATG", 3), ("alphabet",)),
)

# sources: Markov
MK = "ctmc_lab.sources.markov.chain"
MC = f"{MK}.MarkovChain"
_TABLE = [[0.5, 0.5], [0.25, 0.75]]
entry(
    MC,
    lambda fx: (
        markov_chain.MarkovChain,
        {"table": _TABLE, "order": 1, "alphabet": "AT", "normalize": False, "name": "m"},
    ),
    table=Kind(
        (
            [[0.5, 0.6], [0.5, 0.5]],
            [[0.5, math.nan], [0.5, 0.5]],
            [[1.5, -0.5], [0.5, 0.5]],
            [[0.5, 0.5]] * 3,
            [0.5, 0.5],
            [],
            "ab",
            None,
            [[0.0, 0.0], [0.5, 0.5]],
            [[1e-320, 1.0], [0.5, 0.5]],
            [[math.inf, 0], [0.5, 0.5]],
        ),
        ("table",),
    ),
    order=Int(minimum=1, maximum=1, names=("order", "table")),
    alphabet=Kind(("ATG", 3, "A?"), ("alphabet",)),
    normalize=BOOL,
    name=Kind((3, ""), ("name",)),
)
entry(
    f"{MC}.from_dict",
    lambda fx: (
        markov_chain.MarkovChain.from_dict,
        {"mapping": {"A": {"A": 0.5, "T": 0.5}, "T": {"A": 0.5, "T": 0.5}}},
    ),
    mapping=Kind(
        (
            {},
            None,
            {"A": {"A": 0.5, "T": 0.5}},
            {"A": {"A": math.nan, "T": 0.5}, "T": {"A": 0.5, "T": 0.5}},
            {"\ud800": {"A": 1.0}},
            {"A": {"\ud800": 1.0}},
            {"A": {"A": "x", "T": 0.5}, "T": {"A": 0.5, "T": 0.5}},
            {"A": {"A": -1.0, "T": 2.0}, "T": {"A": 0.5, "T": 0.5}},
            {"A": 0.5},
        ),
        ("mapping", "Markov table", "context ", "symbol ", "P(", "table"),
    ),
)
entry(
    f"{MC}.from_json",
    lambda fx: (markov_chain.MarkovChain.from_json, {"path": fx.markov_path}),
    path=Kind(PATH.values + ("/nonexistent.json",), ("path", "Markov table file")),
)
for _ctor, _param in (("from_softmax", "temperature"), ("from_dirichlet", "alpha")):
    entry(
        f"{MC}.{_ctor}",
        (
            lambda c, p: (
                lambda fx: (
                    getattr(markov_chain.MarkovChain, c),
                    {"n_tokens": 2, "order": 2, p: 0.5, "rng": 0, "alphabet": "AT"},
                )
            )
        )(_ctor, _param),
        n_tokens=Int(minimum=1, maximum=1024),  # (N**(k+1) entries, at most MAX_ELEMENTS)
        order=Int(minimum=1, maximum=29),
        rng=RNG,
        alphabet=Kind(("ATG", 3), ("alphabet",)),
        **{_param: POSITIVE},
    )
for _m, _call, _slots in [
    (
        "encode",
        lambda fx: (fx.chain.encode, {"x": [0, 1], "allow_mask": False}),
        {"x": Tokens(length=None, ndim=tuple(range(1, 33))), "allow_mask": BOOL},
    ),
    ("decode", lambda fx: (fx.chain.decode, {"x": [0, 1]}), {"x": Tokens(mask=True, length=None)}),
    (
        "context_index",
        lambda fx: (fx.chain.context_index, {"symbols": "A"}),
        {"symbols": Tokens(length=1, ndim=tuple(range(1, 33)), names=("symbols",))},
    ),
    (
        "log_prob",
        lambda fx: (fx.chain.log_prob, {"x": [0, 1], "start": None}),
        {"x": Tokens(length=None), "start": Tokens(length=None, ndim=(1,))},
    ),
    (
        "nll",
        lambda fx: (fx.chain.nll, {"x": [0, 1], "start": "A"}),
        {"x": Tokens(length=None), "start": Tokens(length=None, ndim=(1,))},
    ),
    (
        "sample",
        lambda fx: (fx.chain.sample, {"length": 3, "n": 2, "start": None, "rng": 0}),
        {
            "length": Int(minimum=0, maximum=2**29),  # n * length windows, at most MAX_ELEMENTS
            "n": Int(minimum=0, maximum=2**30 // 3),
            "rng": RNG,
            "start": Tokens(length=None),
        },
    ),
    (
        "joint",
        lambda fx: (fx.chain.joint, {"length": 2, "start": None}),
        {"length": Int(minimum=1, maximum=22), "start": Tokens(length=None, ndim=(1,))},
    ),
    (
        "forward_backward",
        lambda fx: (fx.chain.forward_backward, {"x": [[0, 2]], "start": None}),
        {"x": Tokens(length=None, mask=True, ndim=(2,)), "start": Tokens(length=None, ndim=(1,))},
    ),
    (
        "conditional_log_probs",
        lambda fx: (fx.chain.conditional_log_probs, {"x": [[0, 2]]}),
        {"x": Tokens(length=None, mask=True, ndim=(2,))},
    ),
    (
        "log_marginal",
        lambda fx: (fx.chain.log_marginal, {"x": [[0, 2]]}),
        {"x": Tokens(length=None, mask=True, ndim=(2,))},
    ),
    (
        "denoiser",
        lambda fx: (fx.chain.denoiser, {"length": 3, "start": None}),
        {"length": Int(minimum=1), "start": Tokens(length=None, ndim=(1,))},
    ),
    (
        "subset_log_evidence",
        lambda fx: (fx.chain.subset_log_evidence, {"x": [0, 1, 0], "target": [0, 2]}),
        {"x": Tokens(length=None, mask=True, ndim=(1,)), "target": Positions(length=3)},
    ),
    (
        "target_conditionals",
        lambda fx: (fx.chain.target_conditionals, {"x": [0, 1, 0], "target": [0, 2]}),
        {"x": Tokens(length=None, mask=True, ndim=(1,)), "target": Positions(length=3)},
    ),
    (
        "mask_dce_table",
        lambda fx: (fx.chain.mask_dce_table, {"x": [0, 1, 0], "target": [0, 2], "context": [1], "method": "subset"}),
        {
            "x": Tokens(length=None, mask=True, ndim=(1,)),
            "target": Positions(length=3),
            "context": Positions(length=3),
            "method": Choice(options=markov_chain.MASK_DCE_METHODS),
        },
    ),
    (
        "stationary_distribution",
        lambda fx: (fx.chain.stationary_distribution, {"method": "gth"}),
        {"method": Choice(options=inference.STATIONARY_METHODS)},
    ),
    ("tempered", lambda fx: (fx.chain.tempered, {"temperature": 2.0}), {"temperature": POSITIVE}),
    ("continuing", lambda fx: (fx.chain.continuing, {"start": "AT"}), {"start": Tokens(length=None, ndim=(1,))}),
    ("describe", lambda fx: (fx.chain.describe, {}), {}),
    ("entropy_rate", lambda fx: (fx.chain.entropy_rate, {}), {}),
    ("is_irreducible", lambda fx: (fx.chain.is_irreducible, {}), {}),
    ("lifted_matrix", lambda fx: (fx.chain.lifted_matrix, {}), {}),
]:
    entry(f"{MC}.{_m}", _call, **_slots)
CC = f"{MK}.ContinuedChain"
entry(
    CC,
    lambda fx: (markov_chain.ContinuedChain, {"chain": fx.chain, "start": "AT"}),
    chain=Obj(wrong=("joint", "gen", "noised")),
    start=Tokens(length=None, ndim=(1,)),
)
for _m, _call, _slots in [
    ("encode", lambda fx: (fx.continued.encode, {"x": [0, 1]}), {"x": Tokens(length=None, ndim=tuple(range(1, 33)))}),
    ("decode", lambda fx: (fx.continued.decode, {"x": [0, 1]}), {"x": Tokens(mask=True, length=None)}),
    ("log_prob", lambda fx: (fx.continued.log_prob, {"x": [0, 1]}), {"x": Tokens(length=None)}),
    ("nll", lambda fx: (fx.continued.nll, {"x": [0, 1]}), {"x": Tokens(length=None)}),
    (
        "log_marginal",
        lambda fx: (fx.continued.log_marginal, {"x": [[0, 2]]}),
        {"x": Tokens(length=None, mask=True, ndim=(2,))},
    ),
    (
        "sample",
        lambda fx: (fx.continued.sample, {"length": 3, "n": 2, "rng": 0}),
        {"length": Int(minimum=0, maximum=2**29), "n": Int(minimum=0, maximum=2**30 // 3), "rng": RNG},
    ),
    ("denoiser", lambda fx: (fx.continued.denoiser, {"length": 3}), {"length": Int(minimum=1)}),
    (
        "mask_dce_table",
        lambda fx: (fx.continued.mask_dce_table, {"x": [0, 1, 0], "target": [0, 2], "method": "forward_backward"}),
        {
            "x": Tokens(length=None, mask=True, ndim=(1,)),
            "target": Positions(length=3),
            "method": Choice(options=markov_chain.MASK_DCE_METHODS),
        },
    ),
]:
    entry(f"{CC}.{_m}", _call, **_slots)
entry(
    f"{MK}.MarkovDenoiser",
    lambda fx: (markov_chain.MarkovDenoiser, {"chain": fx.chain, "length": 3, "start": None}),
    chain=Obj(wrong=("joint", "gen", "noised")),
    length=Int(minimum=1),
    start=Tokens(length=None, ndim=(1,)),
)
entry(
    f"{MK}.MarkovDenoiser.__call__",
    lambda fx: (fx.chain.denoiser(3), {"x": [[0, 2, 1]]}),
    x=Tokens(length=3, mask=True, ndim=(2,)),
)
entry(f"{MK}.markov4", lambda fx: (markov_chain.markov4, {}))
IN = "ctmc_lab.sources.markov.inference"
_BAD_TABLE = Kind(
    (
        [[0.5, 0.6], [0.5, 0.5]],
        [[0.5, 0.5]] * 3,
        np.full((6, 2), 0.5),
        [[math.nan, 1.0], [0.5, 0.5]],
        [[1.5, -0.5], [0.5, 0.5]],
        "ab",
        None,
        [0.5, 0.5],
    ),
    ("table",),
)
entry(
    f"{IN}.forward_backward",
    lambda fx: (inference.forward_backward, {"table": fx.table, "x": [[0, 2]], "initial": fx.pi}),
    table=_BAD_TABLE,
    x=Tokens(length=None, mask=True, ndim=(2,), empty_ok=True),
    initial=Kind(([0.5], [0.5, 0.6], [-0.5, 1.5], [math.nan, 1.0], "ab", None), ("initial",)),
)
entry(f"{IN}.lifted_matrix", lambda fx: (inference.lifted_matrix, {"table": fx.table}), table=_BAD_TABLE)
entry(f"{IN}.is_irreducible", lambda fx: (inference.is_irreducible, {"table": fx.table}), table=_BAD_TABLE)
entry(
    f"{IN}.stationary_distribution",
    lambda fx: (inference.stationary_distribution, {"table": fx.table, "method": "auto", "name": "c", "symbols": "AT"}),
    table=_BAD_TABLE,
    method=Choice(options=inference.STATIONARY_METHODS),
    name=STR,
    symbols=Kind(("A", 3, ["A", "T"]), ("symbols",)),
)
entry(
    f"{IN}.entropy_rate",
    lambda fx: (inference.entropy_rate, {"table": fx.table, "stationary": fx.pi}),
    table=_BAD_TABLE,
    stationary=Kind(([0.5], [0.5, 0.6], [-0.5, 1.5], "ab"), ("stationary",)),
)
entry(f"{IN}.transition_table", lambda fx: (inference.transition_table, {"table": fx.table}), table=_BAD_TABLE)
entry(
    f"{IN}.context_distribution",
    lambda fx: (inference.context_distribution, {"p": fx.pi, "n_contexts": 2, "name": "pi"}),
    p=Kind(([0.5], [0.5, 0.6], [-0.5, 1.5], [math.nan, 1.0], "ab", None), ("pi",)),
)
TR = "ctmc_lab.sources.markov.trie"
entry(
    f"{TR}.target_roles",
    lambda fx: (trie.target_roles, {"x": np.array([0, 1, 0]), "target": [0, 2], "n_tokens": 2, "n_contexts": 2}),
    x=Tokens(length=None, mask=True, ndim=(1,)),
    target=Positions(length=3),
    n_tokens=Int(minimum=1),
    n_contexts=Int(minimum=1, maximum=1 << 24, names=("n_contexts", "target")),  # 2**2 masks x C <= TRIE_LIMIT
)
for _f in ("subset_log_evidence", "target_conditionals", "trie_mask_dce"):
    entry(
        f"{TR}.{_f}",
        (
            lambda f: (
                lambda fx: (
                    getattr(trie, f),
                    {
                        "table": fx.table,
                        "x": np.array([0, 1, 0]),
                        "is_target": np.array([True, False, True]),
                        "initial": fx.pi,
                    },
                )
            )
        )(_f),
        table=_BAD_TABLE,
        x=Tokens(length=None, mask=True, ndim=(1,)),
        is_target=Kind(([1, 0, 1], [True], [False, False, False], "ab", None), ("is_target", "target")),
        initial=Kind(([0.5], [0.5, 0.6], "ab"), ("initial",)),
    )

# forward: generators
G = "ctmc_lab.forward.generators"


def _register_and_forget(process, replace, check):
    """register_noise_process, then the registry as it was: other tests iterate NOISE_PROCESSES."""
    try:
        return generators.register_noise_process(process, replace=replace, check=check)
    finally:
        generators.NOISE_PROCESSES.pop("hostile-test", None)


entry(
    f"{G}.validate_generator",
    lambda fx: (generators.validate_generator, {"Q": [[-1.0, 1.0], [1.0, -1.0]]}),
    Q=Kind(
        (
            [[-1.0, 1.0], [1.0, -0.5]],
            [[0.0]],
            [[-1, 1], [1]],
            [[math.nan, 0], [0, 0]],
            [[1.0, -1.0], [-1.0, 1.0]],
            "ab",
            None,
            np.eye(2),
            [[0.0, 0.0], [0.0, 0.0]],
        ),
        ("Q",),
    ),
)
entry(
    f"{G}.custom",
    lambda fx: (generators.custom, {"Q": [[-1.0, 1.0], [1.0, -1.0]], "n_tokens": 2}),
    Q=Kind(([[-1.0, 1.0], [1.0, -0.5]], "ab", None), ("Q",)),
    n_tokens=Int(minimum=1, maximum=2, strict=True, names=("n_tokens", "Q")),
)
for _f in ("absorbing", "uniform", "absorbing_rates", "uniform_rates"):
    entry(
        f"{G}.{_f}",
        (lambda f: lambda fx: (getattr(generators, f), {"n_tokens": 2}))(_f),
        n_tokens=Int(
            minimum=2 if _f == "uniform" else 1, maximum=generators.MAX_STATES - 1, names=("n_tokens", "symbol")
        ),
    )
for _f in ("absorbing_kernel", "uniform_kernel"):
    entry(
        f"{G}.{_f}",
        (lambda f: lambda fx: (getattr(generators, f), {"n_tokens": 2, "s": 0.5}))(_f),
        n_tokens=Int(minimum=1, maximum=1023),
        s=NONNEG,
    )
entry(
    f"{G}.kronecker_sum",
    lambda fx: (generators.kronecker_sum, {"Q": fx.gen, "length": 2}),
    Q=Kind(("ab", None, [[1.0]]), ("Q",)),
    length=Int(minimum=1, maximum=15),  # 3**L * L * 3 stored entries, at most MAX_ELEMENTS
)
entry(
    f"{G}.noise_process",
    lambda fx: (generators.noise_process, {"name": "absorbing"}),
    name=Kind((None, 3, "nope", ["absorbing"]), ("name", "noise process")),
)
entry(
    f"{G}.register_noise_process",
    lambda fx: (_register_and_forget, {"process": fx.noise_process, "replace": True, "check": False}),
    process=Obj(wrong=("joint", "gen"), names=("process",)),
    replace=BOOL,
    check=BOOL,
)
entry(
    f"{G}.NoiseProcess",
    lambda fx: (
        generators.NoiseProcess,
        {
            "name": "p",
            "rates": generators.uniform_rates,
            "kernel": None,
            "has_mask": False,
            "min_tokens": 2,
            "marginal": None,
        },
    ),
    name=STR,
    rates=CALLABLE,
    kernel=Kind((3, "k"), ("kernel",)),
    has_mask=BOOL,
    min_tokens=Int(minimum=1),
    marginal=Kind((3, "m"), ("marginal",)),
)
entry(
    f"{G}.NoiseProcess.n_states", lambda fx: (generators.ABSORBING.n_states, {"n_tokens": 2}), n_tokens=Int(minimum=1)
)
entry(
    f"{G}.NoiseProcess.generator",
    lambda fx: (generators.UNIFORM.generator, {"n_tokens": 2}),
    n_tokens=Int(minimum=2, maximum=generators.MAX_STATES - 1, names=("n_tokens", "symbols")),
)
entry(
    f"{G}.Generator",
    lambda fx: (generators.Generator, {"Q": fx.gen.Q, "n_tokens": 2, "process": None}),
    Q=Kind(("ab", None, [[0.0]], [[-1.0, 1.0], [1.0, -0.5]]), ("Q",)),
    n_tokens=Int(minimum=1, maximum=3),
    process=Obj(wrong=("gen", "joint")),
)
entry(f"{G}.Generator.closed_form_kernel", lambda fx: (fx.gen.closed_form_kernel, {"s": 0.5}), s=NONNEG)

# forward: schedules
SC = "ctmc_lab.forward.schedules"
#: Times outside [0, 1] (and of the wrong kind); [0, ∞) is Linear's range.
_T = Kind(("ab", None, 1j, [math.nan], [-0.1], [1.5], [], [math.inf]), ("t",))
_T_LINEAR = Kind(("ab", None, 1j, [math.nan], [-0.1], [], [math.inf]), ("t",))
for _cls, _params in (
    ("Loglinear", {"eps": Real(lo=0.0, hi=1.0, hi_open=True)}),
    ("Cosine", {"eps": Real(lo=0.0, hi=1.0, hi_open=True)}),
    ("Linear", {"rate": POSITIVE}),
    ("Geometric", {"sigma_min": POSITIVE, "sigma_max": POSITIVE, "shifted": BOOL}),
):
    _valid = {"eps": 1e-3, "rate": 1.0, "sigma_min": 1e-4, "sigma_max": 20.0, "shifted": True}
    entry(
        f"{SC}.{_cls}",
        (lambda c, p: lambda fx: (getattr(schedules, c), {k: _valid[k] for k in p}))(_cls, _params),
        **_params,
    )
    _t = _T_LINEAR if _cls == "Linear" else _T
    for _m in ("sigma_bar", "sigma", "dsigma_dt", "mask_level", "dlambda_dt"):
        entry(
            f"{SC}.{_cls}.{_m}",
            (lambda c, m: lambda fx: (getattr(getattr(schedules, c)(), m), {"t": [0.0, 0.5]}))(_cls, _m),
            t=_t,
        )
    entry(
        f"{SC}.{_cls}.t_of_sigma_bar",
        (lambda c: lambda fx: (getattr(schedules, c)().t_of_sigma_bar, {"sigma_bar": [0.0, 0.5]}))(_cls),
        sigma_bar=Kind(("ab", None, [math.nan], [-0.1], [], *(() if _cls == "Linear" else ([1e9],))), ("sigma_bar",)),
    )
    entry(
        f"{SC}.{_cls}.t_of_mask_level",
        (lambda c: lambda fx: (getattr(schedules, c)().t_of_mask_level, {"mask_level": [0.0, 0.5]}))(_cls),
        mask_level=Kind(("ab", None, [math.nan], [-0.1], [1.0], []), ("mask_level",)),
    )
entry(
    f"{SC}.get_schedule",
    lambda fx: (schedules.get_schedule, {"name": "loglinear"}),
    name=Kind((None, 3, "nope"), ("unknown schedule",)),
)
entry(
    f"{SC}.require_zero_start",
    lambda fx: (schedules.require_zero_start, {"schedule": fx.schedule}),
    schedule=Obj(wrong=("joint", "gen"), names=("schedule", "sigma_bar(0)")),
)

# forward: process and marginals
P = "ctmc_lab.forward.process"
entry(
    f"{P}.token_kernel",
    lambda fx: (process.token_kernel, {"generator": fx.gen, "s": 0.5, "method": "expm"}),
    generator=Obj(wrong=("joint", "chain", "noised")),
    s=NONNEG,
    method=Choice(options=tuple(process.KERNEL_METHODS)),
)
entry(
    f"{P}.validate_kernel",
    lambda fx: (process.validate_kernel, {"K": fx.noised.K, "generator": fx.gen, "s": 0.5, "method": "closed"}),
    K=Kind(("ab", None, np.eye(2), [[1, 0], [0]], np.full((3, 3), np.nan), np.full((3, 3), 2.0)), ("K", "exp(sQ)")),
    generator=Obj(wrong=("joint", "noised")),
    s=NONNEG,
    method=Kind((None, 3), ("method",)),
)
entry(
    f"{P}.apply_along_axes",
    lambda fx: (process.apply_along_axes, {"tensor": np.ones((2, 2)), "K": np.eye(3)[:, :2], "axes": [0, 1]}),
    tensor=Kind(("ab", np.ones((3, 3)), np.array([["a"]]), None), ("tensor",)),
    K=Kind(("ab", np.ones(2), np.ones((2, 3)), None), ("K",)),
    axes=Kind(([2], [-3], [0.5], "a", [True], 3.5), ("axes",)),
)
entry(
    f"{P}.apply_all_axes",
    lambda fx: (process.apply_all_axes, {"tensor": np.ones((2, 2)), "K": np.eye(3)[:, :2], "batch_axes": 1}),
    tensor=Kind(("ab", np.ones((3, 3)), None), ("tensor",)),
    K=Kind(("ab", np.ones(2), None), ("K",)),
    batch_axes=Int(minimum=0, maximum=2),
)
entry(
    f"{P}.leave_one_out",
    lambda fx: (process.leave_one_out, {"tensor": np.ones((2, 2)), "K": np.eye(2), "axes": [0, 1]}),
    tensor=Kind(("ab", np.ones((3, 3)), None), ("tensor",)),
    K=Kind(("ab", np.ones(2), np.ones((2, 3)), None), ("K",)),
    axes=Kind(([2], [0, 0], [0.5], "a"), ("axes",)),
)
entry(
    f"{P}.transition_tensor",
    lambda fx: (process.transition_tensor, {"K": fx.noised.K, "x0": [0, 1]}),
    K=Kind(("ab", None, np.ones(3), np.full((3, 3), np.nan)), ("K",)),
    x0=Tokens(n=3, length=None, ndim=(1,), names=("x0",)),
)
entry(
    "ctmc_lab.forward.marginals.absorbing_marginal",
    lambda fx: (marginals.absorbing_marginal, {"tensor": fx.joint.dense(), "s": 0.5, "block": 64}),
    tensor=Kind(("ab", None, np.ones((2, 3)), np.float64(1.0)), ("`tensor`",)),
    s=NONNEG,
    block=Int(minimum=1),
)
entry(
    f"{P}.ensure_noised", lambda fx: (process.ensure_noised, {"noised": fx.noised}), noised=Obj(wrong=("joint", "gen"))
)
ND = f"{P}.NoisedDistribution"
entry(
    ND,
    lambda fx: (
        process.NoisedDistribution,
        {"dist": fx.joint, "generator": fx.gen, "s": 0.5, "K": fx.noised.K, "p": fx.noised.p},
    ),
    dist=Obj(wrong=("chain", "gen", "noised")),
    generator=Obj(wrong=("joint", "chain")),
    s=NONNEG,
    K=Kind((np.eye(2), "ab", None), ("K",)),
    p=Kind((np.ones((2, 2)), "ab", None), ("p",)),
)
entry(
    f"{ND}.at_noise_level",
    lambda fx: (
        process.NoisedDistribution.at_noise_level,
        {"dist": fx.joint, "generator": fx.gen, "s": 0.5, "method": "closed"},
    ),
    dist=Obj(wrong=("chain", "gen", "noised")),
    generator=Obj(wrong=("joint", "chain", "noised")),
    s=NONNEG,
    method=Choice(options=tuple(process.KERNEL_METHODS)),
)
entry(
    f"{ND}.unreachable_mass",
    lambda fx: (fx.noised.unreachable_mass, {"x0": [[0, 1]]}),
    x0=Tokens(ndim=(2,), names=("x0",)),
)
entry(
    f"{ND}.expect_over_start",
    lambda fx: (fx.noised.expect_over_start, {"f": np.ones((3, 3)), "kernels": None}),
    f=Kind((np.ones((2, 2)), "ab", None, np.ones(9)), ("f",)),
    kernels=Kind(({5: np.eye(3)[:, :2]}, {0: np.eye(2)}, [1], "k"), ("kernels",)),
)
FP = f"{P}.ForwardProcess"
entry(
    FP,
    lambda fx: (process.ForwardProcess, {"generator": fx.gen, "schedule": fx.schedule}),
    generator=Obj(wrong=("joint", "schedule")),
    schedule=Obj(wrong=("joint", "gen")),
)
entry(f"{FP}.sigma_bar", lambda fx: (fx.process.sigma_bar, {"t": 0.5}), t=_T)
entry(
    f"{FP}.kernel",
    lambda fx: (fx.process.kernel, {"t": 0.5, "method": "closed"}),
    t=Real(lo=0.0, hi=1.0, names=("t",)),
    method=Choice(options=tuple(process.KERNEL_METHODS)),
)
entry(
    f"{FP}.at",
    lambda fx: (fx.process.at, {"dist": fx.joint, "t": 0.5}),
    dist=Obj(wrong=("chain", "gen", "noised")),
    t=Real(lo=0.0, hi=1.0),
)

# exact
E = "ctmc_lab.exact"
_NOISED = Obj(wrong=("joint", "chain", "gen"))
entry(
    f"{E}.information.kl",
    lambda fx: (information.kl, {"noised": fx.noised, "x0": [0, 1]}),
    noised=_NOISED,
    x0=Tokens(names=("x0",)),
)
entry(
    f"{E}.information.kl_rate",
    lambda fx: (information.kl_rate, {"noised": fx.noised, "x0": [0, 1]}),
    noised=_NOISED,
    x0=Tokens(names=("x0",)),
)
entry(
    f"{E}.information.mutual_information",
    lambda fx: (information.mutual_information, {"noised": fx.noised}),
    noised=_NOISED,
)
entry(
    f"{E}.information.clamp_nonnegative",
    lambda fx: (information.clamp_nonnegative, {"value": [0.5, -1e-12], "scale": 1.0, "what": "KL"}),
    value=Kind(("ab", None, [math.nan], [-1.0], [math.inf]), ("value", "KL ")),
    scale=Kind(("ab", None, [1.0, 2.0, 3.0]), ("scale",)),
    what=STR,
)
entry(
    f"{E}.scores.entropy_term",
    lambda fx: (scores.entropy_term, {"a": [0.0, 0.5]}),
    a=Kind(("ab", None, [-0.5], [math.nan], 1j, [True], [[0.0], [1.0, 2.0]]), ("a",)),
)
entry(
    f"{E}.scores.concrete_score",
    lambda fx: (scores.concrete_score, {"noised": fx.noised, "x": [[0, 2]]}),
    noised=_NOISED,
    x=Tokens(n=3, mask=False, ndim=(1, 2)),
)
entry(
    f"{E}.scores.dse",
    lambda fx: (
        scores.dse,
        {
            "generator": fx.gen,
            "K": fx.noised.K,
            "x0": [[0, 1]],
            "x": [[0, 2]],
            "score": np.ones((1, 2, 3)),
            "rate": 1.0,
        },
    ),
    generator=Kind(("ab", None, np.ones(3), [[math.nan] * 3] * 3), ("generator",)),
    K=Kind(("ab", None, np.eye(2), np.full((3, 3), -1.0)), ("K",)),
    x0=Tokens(n=3, length=None, names=("x0",)),
    x=Tokens(n=3, length=None),
    score=Array(shape=(1, 2, 3), lo=0.0),
    rate=NONNEG,
)
entry(
    f"{E}.scores.dce",
    lambda fx: (scores.dce, {"x0": [[0, 1]], "x": [[0, 2]], "log_c": np.log(np.full((1, 2, 2), 0.5)), "mask_id": 2}),
    x0=Tokens(names=("x0", "x")),  # a wrong length shows as x's mismatch with it
    x=Tokens(mask=True),
    log_c=Kind(("ab", None, np.zeros((1, 2, 3)), np.full((1, 2, 2), np.nan), np.full((1, 2, 2), np.inf)), ("log_c",)),
    mask_id=Int(minimum=2, maximum=2, names=("mask_id", "x0", "x", "log_c")),
)
entry(
    f"{E}.scores.mdse",
    lambda fx: (scores.mdse, {"noised": fx.noised, "x0": [0, 1], "method": "enumerate"}),
    noised=_NOISED,
    x0=Tokens(names=("x0",)),
    method=Choice(options=("auto", "contract", "enumerate", "factored")),
)
entry(f"{E}.scores.marginal_mdse", lambda fx: (scores.marginal_mdse, {"noised": fx.noised}), noised=_NOISED)
entry(
    f"{E}.scores.mdce",
    lambda fx: (scores.mdce, {"dist": fx.joint, "x0": [0, 1], "mask_level": [0.5]}),
    dist=Obj(wrong=("gen", "noised")),
    x0=Tokens(names=("x0",)),
    mask_level=_LEVELS,
)
entry(
    f"{E}.decompositions.mdse_integral",
    lambda fx: (
        decompositions.mdse_integral,
        {"dist": fx.joint, "generator": "absorbing", "x0": [[0, 1]], "s_max": 40.0, "atol": 1e-8, "method": "auto"},
    ),
    dist=Obj(wrong=("chain", "gen", "noised")),
    generator=Kind(("nope", 3, object(), None), ("`generator`", "noise process")),
    x0=Tokens(names=("x0",)),
    s_max=POSITIVE,
    atol=POSITIVE,
    method=Choice(options=("auto", "contract", "enumerate", "factored")),
    examples=6,
)
entry(
    f"{E}.decompositions.mdce_integral",
    lambda fx: (decompositions.mdce_integral, {"dist": fx.joint, "x0": [0, 1], "upper": 1.0}),
    dist=Obj(wrong=("gen", "noised")),
    x0=Tokens(names=("x0",)),
    upper=PROB,
)
entry(
    f"{E}.decompositions.time_free_exact",
    lambda fx: (decompositions.time_free_exact, {"denoiser": fx.den, "x0": [[0, 1]], "method": "denoiser"}),
    denoiser=Obj(wrong=("gen", "noised", "schedule")),
    x0=Tokens(names=("x0",)),
    method=Choice(options=decompositions.TIME_FREE_METHODS),
)
MD = f"{E}.mask_dce"
entry(
    f"{MD}.MaskDCE",
    lambda fx: (mask_dce.MaskDCE, {"denoiser": fx.den, "x0": [0, 1], "target": [0], "context": [1], "batch_size": 16}),
    denoiser=Obj(wrong=("joint", "gen", "noised")),
    x0=Tokens(ndim=(1,), names=("x0",)),
    target=Positions(),
    context=Positions(),
    batch_size=Int(minimum=1, strict=True),
)
entry(
    f"{MD}.MaskDCE.inputs",
    lambda fx: (fx.mask_dce.inputs, {"local": [1, 3]}),
    local=Kind(([4], [-1], [0.5], "a", None, [[1]]), ("local",)),
)
entry(
    f"{MD}.MaskDCE.preload",
    lambda fx: (mask_dce.MaskDCE(fx.den, [0, 1]).preload, {"A": fx.A, "D": None}),
    A=Array(shape=(4,)),
    D=Array(shape=(4,)),
)
entry(
    f"{MD}.MaskDCE.__call__",
    lambda fx: (fx.mask_dce, {"local": [1, 3], "with_defect": False}),
    local=Kind(([4], [-1], [0.5], "a", None), ("local",)),
    with_defect=BOOL,
)
entry(f"{MD}.MaskDCE.table", lambda fx: (fx.mask_dce.table, {"with_defect": True}), with_defect=BOOL)
entry(
    f"{MD}.MaskDCE.of",
    lambda fx: (mask_dce.MaskDCE.of, {"denoiser": fx.den, "x0": [0, 1], "batch_size": 16}),
    denoiser=Obj(wrong=("joint", "gen", "noised")),
    x0=Tokens(ndim=(1,), names=("x0",)),
    batch_size=Int(minimum=1, strict=True),
)
entry(
    f"{MD}.mask_dce_table",
    lambda fx: (
        mask_dce.mask_dce_table,
        {"denoiser": fx.den, "x0": [0, 1], "target": [0, 1], "batch_size": 16, "with_defect": False},
    ),
    denoiser=Obj(wrong=("joint", "gen", "noised")),
    x0=Tokens(ndim=(1,), names=("x0",)),
    target=Positions(),
    batch_size=Int(minimum=1, strict=True),
    with_defect=BOOL,
)
entry(
    f"{MD}.optimal_mask_dce",
    lambda fx: (mask_dce.optimal_mask_dce, {"dist": fx.joint, "x0": [0, 1], "target": [0, 1]}),
    dist=Obj(wrong=("chain", "gen", "noised")),
    x0=Tokens(names=("x",)),  # the source's mask_dce_table(x, ...) names it
    target=Positions(),
)
entry(
    f"{MD}.exact_nll",
    lambda fx: (mask_dce.exact_nll, {"denoiser": fx.den, "x0": [0, 1], "target": [0, 1]}),
    denoiser=Obj(wrong=("joint", "gen", "noised")),
    x0=Tokens(ndim=(1,), names=("x0",)),
    target=Positions(),
)
Q = f"{E}.quadrature"
entry(
    f"{Q}.tanh_sinh",
    lambda fx: (
        quadrature.tanh_sinh,
        {"f": lambda x, a, b: np.array([x]), "a": 0.0, "b": 1.0, "atol": 1e-10, "max_level": 6},
    ),
    f=CALLABLE,
    a=Real(hi=1.0, hi_open=True),
    b=Real(lo=0.0, lo_open=True),
    atol=POSITIVE,
    max_level=Int(minimum=1, maximum=16),
)
entry(f"{Q}.QuadratureResult.component_ok", lambda fx: (fx.quad.component_ok, {"atol": 1e-10}), atol=NONNEG)

# estimation: the entry points by name share one argument block (the %(common)s of their docstrings).
ES = "ctmc_lab.estimation.estimators"
_DEN = Obj(wrong=("joint", "gen", "noised"))
_RUN = {
    "denoiser": _DEN,
    "x0": Tokens(ndim=(1,), names=("x0",)),
    "n_samples": Int(minimum=1, strict=True),
    "rng": RNG,
    # None is the family's default batch size (the signatures show its value), so not hostile here.
    "batch_size": Kind((0, -1, 2.5, 4.0, True, "4", math.nan, [4]), ("batch_size",)),
    "target": Positions(),
    "context": Positions(),
    "return_values": BOOL,
}
#: Extra valid options and their kinds, per entry point; stratified designs need whole batches.
_NAMED = {
    "time_free": ({}, {}),
    "k_dce": ({"stratified": False}, {"stratified": BOOL}),
    "rb_lambda_dce": ({}, {}),
    "lambda_dce": ({"sampler": "plain"}, {"sampler": Choice(options=("plain", "stratified"))}),
    "omit_full_mask": ({}, {}),
    "omit_full_mask_token_mean": ({}, {}),
    "mask_size_importance": ({"weights": [1.0, 2.0]}, {}),  # weights are read by the law (PENDING registry)
    # The t-estimators' options (schedule, eps_s, sampler, score_log) are read by their family (PENDING).
    "t_dce": ({}, {}),
    "t_dse": ({}, {}),
    "k_dce_stratified": ({}, {}),
    "lambda_dce_stratified": ({}, {}),
    "llada_stratified": ({}, {}),
    "llada_stratified_fixed": ({}, {}),
}


def _run_args(fx, **extra) -> dict:
    return {"denoiser": fx.den, "x0": [0, 1], "n_samples": 8, "rng": 0, "batch_size": 4, **extra}


for _name, (_options, _option_kinds) in _NAMED.items():
    entry(
        f"{ES}.{_name}",
        (lambda name, options: lambda fx: (getattr(estimators, name), _run_args(fx, **options)))(_name, _options),
        examples=6,
        **_RUN,
        **_option_kinds,
    )
entry(
    f"{ES}.estimate",
    lambda fx: (estimators.estimate, {"name": "k_dce", **_run_args(fx)}),
    examples=6,
    name=Choice(options=tuple(estimators.ESTIMATORS)),
    **_RUN,
)
entry(
    f"{ES}.mask_size_scheme",
    lambda fx: (estimators.mask_size_scheme, {"name": "k_dce", "n": 3}),
    name=Choice(options=("time_free", "k_dce", "k_dce_stratified", "rb_lambda_dce", "omit_full_mask")),
    n=Int(minimum=1, strict=True),
)
entry(
    f"{ES}.log_ratio",
    lambda fx: (
        estimators.log_ratio,
        {"denoiser": fx.den, "x_num": [0, 1], "x_den": [1, 0], "n_samples": 8, "rng": 0, "batch_size": 4},
    ),
    examples=6,
    x_num=Tokens(ndim=(1,), names=("x_num",)),
    x_den=Tokens(ndim=(1,), names=("x_den",)),
    coupled=BOOL,
    scheme=Choice(options=("time_free", "k_dce", "rb_lambda_dce")),
    **{k: v for k, v in _RUN.items() if k != "x0"},
)
entry(
    f"{ES}.prompt_response_log_ratio",
    lambda fx: (
        estimators.prompt_response_log_ratio,
        {"denoiser": fx.den, "prompt": [0], "response_num": [1], "response_den": [0], "n_samples": 8, "rng": 0},
    ),
    examples=6,
    denoiser=_DEN,
    prompt=Tokens(length=None, names=("prompt",)),
    response_num=Tokens(length=None, names=("response_num",)),
    response_den=Tokens(length=None, names=("response_den",)),
)

LW = "ctmc_lab.estimation.laws"
_COUNT = Int(minimum=1, strict=True)
for _law in ("time_free_law", "k_dce_law", "rb_lambda_dce_law"):
    entry(f"{LW}.{_law}", (lambda law: lambda fx: (getattr(laws, law), {"n": 3}))(_law), n=_COUNT)
for _law in ("omit_full_mask_law", "omit_full_mask_token_mean_law"):
    entry(f"{LW}.{_law}", (lambda law: lambda fx: (getattr(laws, law), {"n": 3}))(_law), n=Int(minimum=2))
entry(
    f"{LW}.importance_law",
    lambda fx: (laws.importance_law, {"n": 2, "weights": [1.0, 2.0]}),
    n=Int(minimum=1, strict=True, names=("n", "weights")),
    weights=Array(shape=(2,), lo=0.0, finite=True),
)
entry(
    f"{LW}.validated_law",
    lambda fx: (laws.validated_law, {"name": "k", "law": laws.k_dce_law, "n": 3, "needs_weights": False}),
    name=STR,
    law=CALLABLE,
    n=_COUNT,
    needs_weights=BOOL,
)
entry(f"{LW}.UniformMasks", lambda fx: (laws.UniformMasks, {"n": 3}), n=_COUNT)
entry(
    f"{LW}.UniformMasks.draw",
    lambda fx: (laws.UniformMasks(3).draw, {"m": [0, 3], "rng": 0}),
    m=Kind(([4], [-1], [0.5], "ab", None, [[1]], [True], [math.nan]), ("m",)),
    rng=RNG,
)
_SCHEME = {"name": "k", "n": 2, "q": [0.0, 0.5, 0.5], "f": [0.0, 2.0, 1.0]}
entry(
    f"{LW}.MaskSizeScheme",
    lambda fx: (laws.MaskSizeScheme, dict(_SCHEME)),
    name=STR,
    n=Int(minimum=1, strict=True, names=("n", "q")),
    q=Array(shape=(3,), lo=0.0, finite=True),
    f=Array(shape=(3,), finite=True),
)
_ORACLES = ("oracle", "num", "den")
entry(
    f"{LW}.MaskSizeScheme.sample",
    lambda fx: (laws.MaskSizeScheme(**_SCHEME).sample, {"k": 4, "rng": 0, "stratified": False}),
    k=_COUNT,
    rng=RNG,
    stratified=BOOL,
    sizes=Kind((3, "x", object(), laws.UniformMasks(3)), ("sizes",)),
)
entry(
    f"{LW}.MaskSizeScheme.values",
    lambda fx: (laws.MaskSizeScheme(**_SCHEME).values, {"oracle": laws.TableOracle(fx.A), "n_samples": 4, "rng": 0}),
    oracle=Kind((None, 3, "x", laws.TableOracle([0.0, 1.0])), ("oracle",)),
    n_samples=_COUNT,
    rng=RNG,
    batch_size=_COUNT,
)
entry(
    f"{LW}.ratio_draws",
    lambda fx: (
        laws.ratio_draws,
        {
            "scheme": laws.MaskSizeScheme(**_SCHEME),
            "num": laws.TableOracle(fx.A),
            "den": laws.TableOracle(fx.A),
            "n_samples": 4,
            "rng": 0,
            "coupled": True,
        },
    ),
    scheme=Kind((None, "k", 3, object()), ("scheme",)),
    num=Kind((None, 3, "x", laws.TableOracle([0.0, 1.0])), ("num",)),
    den=Kind((None, 3, "x", laws.TableOracle([0.0, 1.0])), ("den",)),
    n_samples=_COUNT,
    rng=RNG,
    coupled=BOOL,
)
_TABLE_A = Kind(
    ("ab", None, [0.0, 1.0, 2.0], [0.0, math.nan, 0.0, 0.0], [[[0.0]]], [], 1j, 0.5, [True, False], [0.0]), ("A",)
)
entry(
    f"{LW}.TableOracle",
    lambda fx: (laws.TableOracle, {"A": fx.A}),
    A=_TABLE_A,
    D=Kind(("ab", [0.0, 0.0], [math.nan] * 4, [[0.0] * 4]), ("D",)),
)
entry(
    f"{LW}.TableOracle.__call__",
    lambda fx: (laws.TableOracle(fx.A), {"local": [1, 3], "with_defect": False}),
    local=Kind(([4], [-1], [0.5], "a", None, [[0], [1, 2]]), ("local",)),
    with_defect=BOOL,
)
entry(f"{LW}.as_oracle", lambda fx: (laws.as_oracle, {"source": fx.A}), source=Kind(_TABLE_A.values, ("A",)))
entry(
    f"{LW}.level_sums",
    lambda fx: (laws.level_sums, {"A": fx.A, "n": 2, "power": 2}),
    A=Kind(("ab", None, [0.0, 1.0, 2.0], [0.0, math.nan, 0.0, 0.0], [0.0, math.inf, 1.0, 1.0], 1j), ("A",)),
    n=Int(minimum=0, names=("n", "A")),
    power=_COUNT,
)
entry(
    f"{LW}.check_run",
    lambda fx: (laws.check_run, {"n_samples": 8, "batch_size": 4, "stratified": True}),
    n_samples=_COUNT,
    batch_size=Int(minimum=1, strict=True, names=("batch_size", "n_samples")),
    stratified=BOOL,
)
entry(
    f"{LW}.chunks",
    lambda fx: (laws.chunks, {"n_samples": 8, "size": 3}),
    n_samples=Kind((-1, 2.5, "3", None, True, math.nan), ("n_samples",)),
    size=_COUNT,
)

RC = "ctmc_lab.estimation.records"
_MOMENTS = records.Moments("k", 1.0, 0.0, 2.0, False, None)
entry(
    f"{RC}.estimate_record",
    lambda fx: (
        records.estimate_record,
        {"name": "k", "values": [1.0, 2.0], "batch_size": None, "return_values": False},
    ),
    name=STR,
    values=Array(shape=(None,)),
    batch_size=Int(minimum=1, strict=True, names=("batch_size",)),
    return_values=BOOL,
)
entry(f"{RC}.Moments.stderr", lambda fx: (_MOMENTS.stderr, {"n_samples": 4}), n_samples=_COUNT)
entry(f"{RC}.Moments.as_json", lambda fx: (_MOMENTS.as_json, {}))
entry(
    f"{RC}.moments_records",
    lambda fx: (
        records.moments_records,
        {
            "name": "k",
            "A2": [fx.A],
            "mean": [1.0],
            "var": [0.5],
            "infinite": [False],
            "reference": 1.0,
            "positions": [0, 1],
        },
    ),
    name=STR,
    A2=Kind(("ab", None, [[1.0, 0.0, 0.0, 0.0]], [[0.0, math.nan, 0.0, 0.0]], [0.0, 1.0, 2.0, 3.0]), ("A2",)),
    mean=Array(shape=(1,)),
    var=Array(shape=(1,)),
    infinite=Kind(([0], [1.5], "x", [True, False], None), ("infinite",)),
    positions=Kind(([0], [-1, 0], [0.5, 1.0], "ab", None), ("positions",)),
)

entry(
    "ctmc_lab.sources.base.check_source",
    lambda fx: (base.check_source, {"source": fx.joint, "name": "p"}),
    source=Kind((None, 3, "x", object(), generators.absorbing(2)), ("p",)),
    name=STR,
)
CD = "ctmc_lab.estimation.conditional"
_SOURCE = Obj(wrong=("gen", "noised", "schedule"))
_QUERY = {"source": _SOURCE, "x": Tokens(ndim=(1,), names=("x",)), "target": Positions(), "context": Positions()}
_START = Kind(("A", [0, 1], 3), ("start",))  # a joint table continues no prompt
entry(
    f"{CD}.split_positions",
    lambda fx: (conditional.split_positions, {"length": 2, "target": [0], "context": [1]}),
    length=Int(minimum=1, names=("length", "target", "context")),
    target=Positions(),
    context=Positions(),
)
entry(
    f"{CD}.conditional_nll",
    lambda fx: (conditional.conditional_nll, {"source": fx.joint, "x": [0, 1], "target": [0], "context": [1]}),
    start=_START,
    **_QUERY,
)
_A_TABLE = {"method": Choice(options=("subset", "denoiser")), "batch_size": _COUNT}
for _f in ("conditional_mask_dce", "conditional_likelihood"):
    entry(
        f"{CD}.{_f}",
        (lambda f: lambda fx: (getattr(conditional, f), {"source": fx.joint, "x": [0, 1], "target": [0, 1]}))(_f),
        start=_START,
        **_QUERY,
        **_A_TABLE,
    )
entry(
    f"{CD}.ConditionalLikelihood.moments",
    lambda fx: (conditional.conditional_likelihood(fx.joint, [0, 1]).moments, {"names": ["time_free", "k_dce"]}),
    names=Kind(("time_free", ["nope"], [3], 3, b"x", [None]), ("names",)),
)
entry(
    f"{CD}.model_likelihood",
    lambda fx: (conditional.model_likelihood, {"denoiser": fx.den, "x": [0, 1], "target": [0, 1]}),
    denoiser=_DEN,
    x=Tokens(ndim=(1,), names=("x",)),
    target=Positions(),
    context=Positions(),
    batch_size=_COUNT,
)
entry(
    f"{CD}.theorem42_integral",
    lambda fx: (conditional.theorem42_integral, {"A": fx.A, "upper": 0.5}),
    A=_A,
    upper=Real(lo=0.0, hi=1.0, lo_open=True),
)
entry(
    f"{CD}.mask_dce_oracle",
    lambda fx: (conditional.mask_dce_oracle, {"source": fx.joint, "x": [0, 1], "table": fx.A, "batch_size": 16}),
    start=_START,
    table=Kind(_A.values, ("table",)),
    batch_size=_COUNT,
    **_QUERY,
)
entry(
    f"{CD}.conditional_estimate",
    lambda fx: (
        conditional.conditional_estimate,
        {"source": fx.joint, "x": [0, 1], "estimator": "k_dce", "n_samples": 8, "rng": 0, "table": fx.A},
    ),
    examples=6,
    estimator=Choice(options=tuple(estimators.ESTIMATORS)),
    n_samples=_COUNT,
    rng=RNG,
    start=_START,
    **_QUERY,
)
entry(
    f"{CD}.conditional_log_ratio",
    lambda fx: (
        conditional.conditional_log_ratio,
        {"source": fx.joint, "x_plus": [0, 1], "x_minus": [1, 0], "target": [0, 1], "n_samples": 8, "rng": 0},
    ),
    examples=6,
    source=_SOURCE,
    x_plus=Tokens(ndim=(1,), names=("x_plus", "x")),  # the source's encode names its own argument
    x_minus=Tokens(ndim=(1,), names=("x_minus", "x")),
    target=Positions(),
    context=Positions(),
    start=_START,
    n_samples=_COUNT,
    rng=RNG,
    scheme=Choice(options=("time_free", "k_dce", "rb_lambda_dce")),
    method=Choice(options=("subset", "denoiser")),
)
entry(
    f"{CD}.mask_dce_methods",
    lambda fx: (conditional.mask_dce_methods, {"source": fx.joint}),
    source=Kind((None, 3, "x", object()), ("source",)),
)

MO = "ctmc_lab.estimation.moments"
_ONE_A = Kind(_A.values + ([[0.0, 1.0, 1.0, 2.0]],), ("`A`", "`A["))  # one table here, not a batch
_ESTIMATOR = Choice(options=tuple(estimators.ESTIMATORS) + ("mask_size_importance",))
_POSITIONS = Kind(([0], [-1, 0], [0.5, 1.0], "ab", [[0, 1]]), ("positions",))
entry(f"{MO}.exact_estimators", lambda fx: (moments.exact_estimators, {}))
entry(f"{MO}.unbiased_samplers", lambda fx: (moments.unbiased_samplers, {}))
entry(
    f"{MO}.estimator_moments",
    lambda fx: (moments.estimator_moments, {"A": fx.A, "estimator": "k_dce", "reference": 1.0, "positions": [3, 5]}),
    A=_A,
    estimator=_ESTIMATOR,
    reference=Kind(("ab", [1.0, 2.0], [math.nan], None), ("reference",)),
    positions=_POSITIONS,
)
entry(
    f"{MO}.exact_mean",
    lambda fx: (moments.exact_mean, {"A": fx.A, "estimator": "k_dce"}),
    A=_A,
    estimator=_ESTIMATOR,
)
entry(
    f"{MO}.all_moments",
    lambda fx: (moments.all_moments, {"A": fx.A, "names": ["time_free", "k_dce"], "positions": [0, 1]}),
    A=_A,
    names=Kind(("time_free", ["nope"], [3], 3, b"x", [None]), ("names",)),
    positions=_POSITIONS,
)
entry(
    f"{MO}.estimator_fields",
    lambda fx: (moments.estimator_fields, {"dist": fx.joint, "x0_batch": [[0, 1]]}),
    examples=6,
    dist=Kind((None, 3, "x", object(), generators.absorbing(2)), ("dist",)),
    x0_batch=Tokens(names=("x",)),  # the source's encode names its own argument
    denoiser=Kind((3, "x", object()), ("denoiser",)),
)
entry(
    f"{MO}.exact_records",
    lambda fx: (moments.exact_records, {"A": [fx.A], "reference": [1.0], "positions": [0, 1]}),
    A=_A,
    reference=Kind(("ab", [1.0, 2.0], [math.nan], None), ("reference",)),
    positions=_POSITIONS,
)
for _f in ("stratified_k_dce_moments", "stratified_lambda_dce_moments"):
    entry(
        f"{MO}.{_f}",
        (lambda f: lambda fx: (getattr(moments, f), {"A": fx.A, "batch_size": 4}))(_f),
        A=_A,
        batch_size=_COUNT,
    )
entry(
    f"{MO}.t_estimator_moments",
    lambda fx: (
        moments.t_estimator_moments,
        {"A": fx.A, "schedule": fx.schedule, "kind": "t_dce", "score_log": True, "reference": 1.0},
    ),
    examples=6,
    A=_ONE_A,
    kind=Choice(options=("t_dce", "t_dse")),
    score_log=BOOL,
    reference=Kind(("ab", [1.0], math.nan, None, 1j), ("reference",)),
)
entry(
    f"{MO}.lambda_dce_truncation",
    lambda fx: (moments.lambda_dce_truncation, {"A": fx.A, "delta": 0.1}),
    A=_ONE_A,
    delta=Real(lo=0.0, hi=1.0, lo_open=True, hi_open=True),
)
entry(
    f"{MO}.ratio_moments",
    lambda fx: (moments.ratio_moments, {"A_num": fx.A, "A_den": [0.0, 1.0, 2.0, 2.5], "scheme": "k_dce"}),
    A_num=Kind(_ONE_A.values, ("A_num",)),
    A_den=Kind(_ONE_A.values + ([0.0, 1.0],), ("A_den",)),
    scheme=Choice(options=("time_free", "k_dce", "rb_lambda_dce")),
)
entry(f"{MO}.zero_variance_distribution", lambda fx: (moments.zero_variance_distribution, {"A": fx.A}), A=_A)
entry(f"{MO}.best_mask_size_weights", lambda fx: (moments.best_mask_size_weights, {"A": fx.A}), A=_ONE_A)
entry(
    f"{MO}.fit_mask_size_weights",
    lambda fx: (
        moments.fit_mask_size_weights,
        {"denoiser": fx.den, "x0": [0, 1], "pilot_per_size": 2, "defensive": 0.1, "rng": 0},
    ),
    denoiser=_DEN,
    x0=Tokens(ndim=(1,), names=("x0",)),
    pilot_per_size=_COUNT,
    defensive=Real(lo=0.0, hi=1.0, lo_open=True),
    rng=RNG,
    target=Positions(),
    context=Positions(),
)
entry(
    f"{MO}.compare_samplers",
    lambda fx: (moments.compare_samplers, {"A": fx.A, "positions": [0, 1]}),
    A=_ONE_A,
    positions=_POSITIONS,
)

LL = "ctmc_lab.estimation.llada"
_RULE = Choice(options=llada.RULES)
for _f in ("llada_counts", "count_law", "count_deviation"):
    entry(
        f"{LL}.{_f}",
        (lambda f: lambda fx: (getattr(llada, f), {"n": 3, "b": 4, "rule": "llada"}))(_f),
        n=_COUNT,
        b=Int(minimum=1, strict=True, names=("batch_size",)),
        rule=_RULE,
    )
entry(f"{LL}.level_stats", lambda fx: (llada.level_stats, {"A": fx.A}), A=_A)
_STATS = Kind(_A.values, ("`A`", "`A[", "stats"))
for _f in ("llada_moments", "balanced_moments"):
    entry(
        f"{LL}.{_f}",
        (lambda f: lambda fx: (getattr(llada, f), {"stats": fx.A, "batch_size": 4, "mc_num": 8, "reference": 1.0}))(_f),
        stats=_STATS,
        batch_size=Int(minimum=1, strict=True, names=("batch_size", "mc_num")),
        mc_num=Int(minimum=1, strict=True, names=("mc_num",)),
        reference=Kind(("ab", [1.0, 2.0], [math.nan], 1j), ("reference",)),
        **({"rule": _RULE} if _f == "llada_moments" else {}),
    )
entry(f"{LL}.LLaDAMoments.as_json", lambda fx: (llada.llada_moments(fx.A, batch_size=4, mc_num=8).as_json, {}))
entry(
    f"{LL}.llada_bias",
    lambda fx: (llada.llada_bias, {"level_mean": [0.5, 1.0], "batch_size": 4, "rule": "fixed"}),
    level_mean=Kind(("ab", None, [], [math.nan, 1.0], [[[0.5]]], 1j), ("level_mean",)),
    batch_size=_COUNT,
    rule=_RULE,
)
entry(
    f"{LL}.markov1_level_means",
    lambda fx: (llada.markov1_level_means, {"P": fx.table, "y": [0, 1], "left": 1}),
    P=Kind(("ab", None, [[0.5, 0.5]], [[math.nan, 1.0], [0.5, 0.5]], [[-0.5, 1.5], [0.5, 0.5]], 1j), ("P",)),
    y=Tokens(length=None, ndim=(1,), names=("y",)),
    left=Int(minimum=0, maximum=1),
)
entry(
    f"{LL}.llada_draws",
    lambda fx: (
        llada.llada_draws,
        {"oracle": laws.TableOracle(fx.A), "n_samples": 8, "rng": 0, "batch_size": 4, "rule": "llada"},
    ),
    oracle=Kind((None, 3, "x", object()), ("oracle",)),
    n_samples=Int(minimum=1, strict=True, names=("n_samples", "batch_size")),
    rng=RNG,
    batch_size=Int(minimum=1, strict=True, names=("batch_size", "n_samples")),
    rule=_RULE,
)
entry(
    f"{LL}.llada_estimate",
    lambda fx: (llada.llada_estimate, {**_run_args(fx), "rule": "fixed"}),
    examples=6,
    rule=_RULE,
    **{**_RUN, "n_samples": Int(minimum=1, strict=True, names=("n_samples", "batch_size"))},
)

# testing
T = "ctmc_lab.testing.strategies"
entry(f"{T}.budget", lambda fx: (strategies.budget, {"n": 5}), n=Int(minimum=1, strict=True))
entry(
    f"{T}.probability_vectors",
    lambda fx: (strategies.probability_vectors, {"size": 3, "min_value": 1e-12}),
    size=Int(minimum=1, strict=True),
    min_value=Real(lo=0.0, hi=1.0, lo_open=True, hi_open=True),
)
entry(
    f"{T}.distributions",
    lambda fx: (
        strategies.distributions,
        {"n_tokens": (2, 3), "max_length": 3, "max_states": 64, "sparse": None, "min_probability": 1e-12},
    ),
    n_tokens=Kind((3, "23", [2.5], [0], [], None), ("n_tokens",)),
    max_length=Int(minimum=1, maximum=64),
    max_states=Int(minimum=3, strict=True),
    sparse=BOOL,
    min_probability=Real(lo=0.0, hi=1.0, lo_open=True, hi_open=True),
)
entry(
    f"{T}.generators_for",
    lambda fx: (strategies.generators_for, {"n_tokens": 2, "kinds": ("absorbing", "custom")}),
    n_tokens=Int(minimum=1, maximum=generators.MAX_STATES - 3),
    kinds=Kind(("absorbing", ["nope"], [3], None), ("kinds",)),
)
entry(
    f"{T}.noise_levels",
    lambda fx: (strategies.noise_levels, {"min_value": 1e-8, "max_value": 5.0}),
    min_value=POSITIVE,
    max_value=Real(lo=1e-8),
)
entry(f"{T}.masks", lambda fx: (strategies.masks, {"length": 3}), length=Int(minimum=1, strict=True))
entry(
    f"{T}.json_values", lambda fx: (strategies.json_values, {"max_leaves": 5}), max_leaves=Int(minimum=1, strict=True)
)
entry(f"{T}.schedules_", lambda fx: (strategies.schedules_, {}))


# estimation: cases, replicas and their registry, time laws
CA = "ctmc_lab.estimation.cases"
_CASE = Obj(wrong=("joint", "chain", "gen"), names=("case",))
_SEED = Int(minimum=0, strict=True)
_ANSWER = Kind(([], [3], [-1], [1, 1], [0.5], "ab", None, [[1]], np.ones(3, bool), object(), 1.5), ("answer",))
entry(
    f"{CA}.Case",
    lambda fx: (cases.Case, {"name": "c", "source": fx.joint3, "x": [0, 1, 0], "prompt": (0,), "answer": (1, 2)}),
    name=STR,
    source=Obj(wrong=("gen", "noised", "schedule"), names=("source",)),
    x=Tokens(length=None, ndim=(1,)),
    prompt=Positions(length=3),
    answer=_ANSWER,
)
for _m in ("denoiser", "describe", "level_stats"):
    entry(f"{CA}.Case.{_m}", (lambda m: lambda fx: (getattr(fx.case, m), {}))(_m))
entry(
    f"{CA}.Case.mask_dce_table",
    lambda fx: (fx.case.mask_dce_table, {"given": "rest"}),
    given=Choice(options=("prompt", "rest")),
)
entry(
    f"{CA}.Case.table",
    lambda fx: (fx.case.table, {"target": [1, 2], "context": [0]}),
    target=Positions(length=3),
    context=Positions(length=3),
)
entry(f"{CA}.Case.target", lambda fx: (fx.case.target, {"name": "cond_nll"}), name=Choice(options=cases.TARGETS))
entry(
    f"{CA}.Case.target_mp",
    lambda fx: (fx.case.target_mp, {"name": "cond_nll", "dps": 20}),
    name=Choice(options=cases.TARGETS),
    dps=Int(minimum=1, strict=True),
)
entry(
    f"{CA}.from_source",
    lambda fx: (cases.from_source, {"source": fx.joint3, "x": "ATA", "prompt": [0], "answer": [1, 2], "name": "c"}),
    source=Obj(wrong=("gen", "noised", "schedule"), names=("source",)),
    x=Tokens(length=3, ndim=(1,)),
    prompt=Positions(length=3),
    answer=_ANSWER,
    name=STR,
)
entry(f"{CA}.dna128", lambda fx: (cases.dna128, {"index": 3}), index=Int(minimum=0, maximum=127))
entry(
    f"{CA}.dna128_like",
    lambda fx: (cases.dna128_like, {"seed": 1, "index": 3}),
    seed=Int(minimum=0),
    index=Int(minimum=0, maximum=127),
)
entry(
    f"{CA}.markov_pair",
    lambda fx: (
        cases.markov_pair,
        {"answer_length": 2, "index": 1, "prompt_length": 3, "seed": 2, "chain": fx.chain},
    ),
    answer_length=_COUNT,
    index=_SEED,
    prompt_length=_COUNT,
    seed=_SEED,
    chain=Obj(wrong=("joint", "continued", "gen"), names=("chain",)),
)
entry(
    f"{CA}.markov1_pair",
    lambda fx: (cases.markov1_pair, {"answer_length": 2, "index": 1, "seed": 2}),
    answer_length=_COUNT,
    index=_SEED,
    seed=_SEED,
)
_P_END = Real(lo=0.0, hi=1.0, lo_open=True, hi_open=True)
entry(f"{CA}.eos_chain", lambda fx: (cases.eos_chain, {"p_end": 0.3, "seed": 1}), p_end=_P_END, seed=_SEED)
entry(
    f"{CA}.eos_pair",
    lambda fx: (
        cases.eos_pair,
        {"answer_length": 2, "index": 1, "prompt_length": 2, "pad": 1, "p_end": 0.3, "seed": 1},
    ),
    answer_length=_COUNT,
    index=_SEED,
    prompt_length=_COUNT,
    pad=Int(minimum=0, strict=True),
    p_end=_P_END,
    seed=_SEED,
)
entry(
    f"{CA}.from_file",
    lambda fx: (cases.from_file, {"path": fx.json_path, "index": 1, "prompt_length": 1, "normalize": False}),
    path=Kind(PATH.values + ("/nonexistent.json",), ("`path`", "distribution file")),
    index=Int(minimum=0, maximum=1),
    prompt_length=Int(minimum=0, maximum=1, strict=True),
    alphabet=Kind(("A", "A?", 3, ["AT"]), ("alphabet", "not in the alphabet")),  # from_json's message
    normalize=BOOL,
)

RR = "ctmc_lab.estimation.replica_registry"
_REGISTERED = []  # replicas registered by the entries below, removed after this module's tests


def _fresh_replica(fx) -> replicas.Replica:
    """A replica with a name not yet registered (its registration is the valid call)."""
    replica = replicas.TableReplica(
        f"hostile-test-{len(_REGISTERED)}", "t", fx.code, "c", family=timelaws.TimeLaw(fx.tmap, "iid")
    )
    _REGISTERED.append(replica.name)
    return replica


@pytest.fixture(autouse=True, scope="module")
def _unregister_test_replicas():
    """Remove the replicas the valid calls of ``register_replica`` added, so no other test sees them."""
    yield
    for name in _REGISTERED:
        replica_registry.REPLICAS.pop(name, None)


entry(
    f"{RR}.register_replica",
    lambda fx: (replica_registry.register_replica, {"replica": _fresh_replica(fx)}),
    replica=Kind((None, 3, "x", object(), replica_registry.get_replica("md4")), ("replica",)),
)
entry(
    f"{RR}.get_replica",
    lambda fx: (replica_registry.get_replica, {"name": "md4"}),
    name=Kind((None, 3, "nope", ["md4"], b"md4", "MD4"), ("unknown replica",)),
)
entry(f"{RR}.replica_names", lambda fx: (replica_registry.replica_names, {}))

RP = "ctmc_lab.estimation.replicas"
_BASE = {"name": STR, "label": STR, "code": Kind((None, "x", 3, object()), ("code",)), "config": STR}
_BASE_ARGS = {"name": "r", "label": "R", "config": "c"}
entry(
    f"{RP}.Code",
    lambda fx: (replicas.Code, {"repo": "o/r", "path": "f.py", "function": "g", "commit": "0123456789"}),
    repo=STR,
    path=STR,
    function=STR,
    commit=STR,
)
#: Each replica kind: its class, the options of a valid instance and the kinds of those options.
_KINDS = {
    "Replica": (
        replicas.Replica,
        {"cause": "", "scope": "answer"},
        {"cause": Kind((None, 3, b"x", "a\ud800", ["a"]), ("cause",)), "scope": Choice(options=("answer", "row"))},
    ),
    "CountRuleReplica": (
        replicas.CountRuleReplica,
        {"batch_size": 2, "mc_num": 4, "rule": "fixed"},
        {"batch_size": _COUNT, "mc_num": _COUNT, "rule": Choice(options=llada.RULES)},
    ),
    "TableReplica": (
        replicas.TableReplica,
        {"family": None, "batch_size": 2, "batches": 3, "given": "rest", "recon_eps": 1e-3, "vocab_size": 4},
        {
            "family": Kind((None, 3, "x", object()), ("family",)),
            "batch_size": _COUNT,
            "batches": _COUNT,
            "given": Choice(options=("prompt", "rest")),
            "recon_eps": PROB,
            "vocab_size": _COUNT,
        },
    ),
    "BlockReplica": (
        replicas.BlockReplica,
        {"block_size": 2, "batch_size": 2, "eps": 1e-3, "bos": True, "comb": True},
        {
            "block_size": _COUNT,
            "batch_size": _COUNT,
            "eps": Real(lo=0.0, hi=1.0, hi_open=True),
            "bos": BOOL,
            "comb": BOOL,
        },
    ),
    "MeanFieldReplica": (
        replicas.MeanFieldReplica,
        {"p_mask_prompt": 0.3, "max_prompt": 4},
        {"p_mask_prompt": PROB, "max_prompt": Int(minimum=0, strict=True)},
    ),
    "BlendReplica": (
        replicas.BlendReplica,
        {"lo": 0.2, "hi": 0.7},
        {
            "lo": Real(lo=0.0, hi=0.7, lo_open=True, hi_open=True, names=("lo",)),
            "hi": Real(lo=0.2, hi=1.0, lo_open=True, hi_open=True, names=("hi",)),
        },
    ),
    "RatioReplica": (
        replicas.RatioReplica,
        {"temperature": 1.5, "eps": 1e-3, "draws": 2, "coupled": False},
        {"temperature": POSITIVE, "eps": Real(lo=0.0, hi=1.0, hi_open=True), "draws": _COUNT, "coupled": BOOL},
    ),
}


def _replica_call(fx, kind: str) -> tuple:
    """The class of replica ``kind`` and the arguments of a valid instance."""
    cls, options, _ = _KINDS[kind]
    family = {"family": fx.iid} if "family" in options else {}
    return cls, {**_BASE_ARGS, "code": fx.code, **options, **family}


def _replica(fx, kind: str, **changes):
    cls, args = _replica_call(fx, kind)
    return cls(**{**args, **changes})


for _kind, (_cls, _options, _option_kinds) in _KINDS.items():
    entry(
        f"{RP}.{_kind}",
        (lambda kind: lambda fx: _replica_call(fx, kind))(_kind),
        **_BASE,
        **_option_kinds,
    )
    for _m in ("applies", "target", "slow", "moments"):
        if _kind == "Replica" and _m == "moments":
            continue  # abstract (EXEMPT)
        entry(
            f"{RP}.{_kind}.{_m}",
            (lambda kind, m: lambda fx: (getattr(_replica(fx, kind), m), {"case": fx.case}))(_kind, _m),
            case=_CASE,
            **({"variance": BOOL} if _m in ("slow", "moments") else {}),
        )
entry(f"{RP}.BlockReplica.blocks", lambda fx: (_replica(fx, "BlockReplica").blocks, {"case": fx.case}), case=_CASE)
entry(
    f"{RP}.BlockReplica.law",
    lambda fx: (_replica(fx, "BlockReplica").law, {"k": 1, "nb": 2}),
    k=Int(minimum=0, maximum=1, strict=True),
    nb=Int(minimum=2, strict=True, names=("nb", "k")),
)
_EPS = Real(lo=0.0, hi=1.0, hi_open=True)
entry(
    f"{RP}.loglinear_map",
    lambda fx: (replicas.loglinear_map, {"eps": 1e-3, "eps_s": 1e-2, "log_term": True}),
    eps=_EPS,
    eps_s=_EPS,
    log_term=BOOL,
)
entry(f"{RP}.linear_map", lambda fx: (replicas.linear_map, {"eps": 1e-3}), eps=_EPS)
entry(
    f"{RP}.mean_field_rows",
    lambda fx: (replicas.mean_field_rows, {"case": fx.case, "prompt_masks": [0, 1]}),
    case=_CASE,
    prompt_masks=Kind(([2], [-1], [0.5], "ab", None, [[0]], 1j, [True]), ("prompt_masks",)),
)

TL = "ctmc_lab.estimation.timelaws"
_A2 = Kind(_A.values, ("`A2`", "`A2["))
_FN = Kind(CALLABLE.values)
entry(
    f"{TL}.TimeMap",
    lambda fx: (
        timelaws.TimeMap,
        {
            "lam": fx.lam,
            "weight": fx.weight,
            "log_term": None,
            "breaks": (0.5,),
            "constant_pieces": False,
            "reaches_zero": False,
            "pole": 0.1,
            "pole_right": None,
            "pieces": 2,
        },
    ),
    lam=_FN,
    weight=_FN,
    log_term=Kind((3, "len", [len]), ("log_term",)),
    breaks=Kind(("ab", None, [0.0], [1.0], [1.5], [math.nan], [[0.5]], 1j, [True]), ("breaks",)),
    constant_pieces=BOOL,
    reaches_zero=Kind((0, 1, "yes", 1.0, np.array([True])), ("reaches_zero",)),
    pole=POSITIVE,
    pole_right=POSITIVE,
    pieces=_COUNT,
)
entry(
    f"{TL}.TimeMap.at",
    lambda fx: (fx.tmap.at, {"u": [0.0, 0.5, 1.0]}),
    u=Kind(("ab", None, [math.nan], [1.5], [-0.1], 1j, [[0.5], [0.5, 0.2]], [True]), ("u",)),
)
entry(
    f"{TL}.TimeMap.nodes",
    lambda fx: (fx.tmap.nodes, {"lo": 0.0, "hi": 0.5, "shifts": (0.0, 0.5)}),
    lo=Real(lo=0.0, hi=0.5, hi_open=True, names=("lo",)),
    hi=Real(lo=0.0, hi=1.0, lo_open=True, names=("hi",)),
    shifts=Kind(("ab", None, [1.5], [-0.1], [math.nan], [], [[0.0]], 1j), ("shifts",)),
)
entry(
    f"{TL}.TimeLaw",
    lambda fx: (timelaws.TimeLaw, {"map": fx.tmap, "sampler": "antithetic", "strata": None}),
    map=Kind((None, 3, "x", object(), replicas.linear_map), ("map",)),
    sampler=Choice(options=timelaws.SAMPLERS),
    strata=Kind((3, "x", len), ("strata",)),
)
#: The family methods of the two time families: valid arguments and their kinds.
_ORACLE = Kind((None, 3, "x", object(), len), ("oracle",))
_RUN_BATCH = Kind((0, -1, 2.5, 4.0, True, "4", math.nan, [4]), ("batch_size",))
_OPTIONS = Kind((3, "x", {"a": 1}, [1]), ("options", "take no option"))
for _cls, _law in (("TimeLaw", "lattice"), ("CoupledBlend", "blend")):
    _FAM = f"{TL}.{_cls}"
    entry(
        f"{_FAM}.draw",
        (
            lambda law: (
                lambda fx: (
                    getattr(fx, law).draw,
                    {"name": "e", "oracle": fx.oracle, "n_samples": 8, "rng": 0, "batch_size": 4, "options": {}},
                )
            )
        )(_law),
        name=STR,
        oracle=_ORACLE,
        n_samples=_COUNT,
        rng=RNG,
        batch_size=_RUN_BATCH,
        options=_OPTIONS,
    )
    for _m in ("moments", "mean"):
        entry(
            f"{_FAM}.{_m}",
            (lambda law, m: lambda fx: (getattr(getattr(fx, law), m), {"A2": [fx.A], "name": "e", "batch_size": 4}))(
                _law, _m
            ),
            A2=_A2,
            name=STR,
            batch_size=_RUN_BATCH,
        )
    entry(
        f"{_FAM}.exact_record",
        (
            lambda law: (
                lambda fx: (
                    getattr(fx, "iid" if law == "lattice" else law).exact_record,
                    {"name": "e", "A2": [fx.A], "reference": [1.0], "positions": [0, 1]},
                )
            )
        )(_law),
        name=STR,
        A2=_A2,
        # Two references for one table pass moments_records (ctmc_lab.estimation.records): not drawn here.
        reference=Kind(("ab", [math.nan], None, [[1.0]]), ("reference",)),
        positions=Kind(([0], [-1, 0], [0.5, 1.0], "ab", None), ("positions",)),
    )
    entry(
        f"{_FAM}.default_batch_size",
        (lambda law: lambda fx: (getattr(fx, law).default_batch_size, {"n_samples": 8}))(_law),
        n_samples=_COUNT,
    )
    entry(f"{_FAM}.option_defaults", (lambda law: lambda fx: (getattr(fx, law).option_defaults, {}))(_law))
entry(
    f"{TL}.TimeLaw.row_size_laws",
    lambda fx: (fx.lattice.row_size_laws, {"n": 2, "b": 3}),
    n=Int(minimum=0, strict=True),
    b=_COUNT,
)
entry(f"{TL}.TimeLaw.sample_u", lambda fx: (fx.lattice.sample_u, {"b": 3, "rng": 0}), b=_COUNT, rng=RNG)
entry(
    f"{TL}.CoupledBlend",
    lambda fx: (timelaws.CoupledBlend, {"lo": 0.2, "hi": 0.7}),
    lo=Real(lo=0.0, hi=0.7, lo_open=True, hi_open=True, names=("lo",)),
    hi=Real(lo=0.2, hi=1.0, lo_open=True, hi_open=True, names=("hi",)),
)
entry(
    f"{TL}.gauss_nodes",
    lambda fx: (timelaws.gauss_nodes, {"lo": 0.0, "hi": 1.0, "left": 1e-3, "right": 1e-2, "pieces": 2, "order": 4}),
    lo=Real(),
    hi=Real(),
    left=POSITIVE,
    right=POSITIVE,
    pieces=_COUNT,
    order=_COUNT,
)
entry(
    f"{TL}.cross_level_sums",
    lambda fx: (timelaws.cross_level_sums, {"A": fx.A, "n": 2}),
    A=Kind(("ab", None, [0.0, 1.0, 2.0], [0.0, math.nan, 0.0, 0.0], [[[0.0]]], 1j, [True, False]), ("A",)),
    n=Int(minimum=0, strict=True, names=("n", "A")),
)


# ------------------------------------------------------------------------------ checks
def _same(a, b) -> bool:
    """Equal results: arrays entry by entry (NaN equal to NaN), objects by their public attributes."""
    if a is b:
        return True
    if isinstance(a, st.SearchStrategy):
        return type(a) is type(b) and repr(a) == repr(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and not inspect.isroutine(a):
        public = lambda obj: {k: v for k, v in vars(obj).items() if not k.startswith("_")}  # noqa: E731
        return _same(public(a), public(b))
    return a == b


def _names(message: str, names) -> bool:
    """Whether ``message`` names one of ``names``: an identifier in backticks (``x`` as `x`, `x.attr` or
    `x[...]`), anything else as written."""
    return any(re.search(rf"`{re.escape(n)}[`.\[]", message) if n.isidentifier() else n in message for n in names)


def _raised_in_ctmc_lab(err: BaseException) -> bool:
    frames = traceback.extract_tb(err.__traceback__)
    ours = (_validation.InvalidTypeError, process.NumericalRangeError, base.NormalisationError)
    return isinstance(err, ours) or (bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PACKAGE_DIR))


def _default(fn, slot: str):
    """The default of parameter ``slot`` of ``fn`` (``inspect.Parameter.empty`` if none)."""
    try:
        parameter = inspect.signature(fn).parameters.get(slot)
    except (TypeError, ValueError):
        return inspect.Parameter.empty
    return inspect.Parameter.empty if parameter is None else parameter.default


def _call(fn, args):
    return fn(**args)


def check_hostile_call(item: Entry, slot: str, value, fx) -> None:
    """One hostile call: refused with a one-line message naming ``slot`` from ctmc_lab code, or an equivalent value."""
    fn, valid = item.call(fx)
    kind = item.slots[slot]
    args = {**valid, slot: value}
    try:
        result = _call(fn, args)
    except (ValueError, TypeError) as err:
        message = str(err)
        assert "\n" not in message, f"{item.name}({slot}={value!r}): a multi-line message {message!r}"
        assert _names(message, kind.names or (slot,)), (
            f"{item.name}({slot}={value!r}): the message does not name {kind.names or slot}: {message!r}"
        )
        assert _raised_in_ctmc_lab(err), (
            f"{item.name}({slot}={value!r}) raised {type(err).__name__} from inside "
            f"{traceback.extract_tb(err.__traceback__)[-1].filename}: {message!r}"
        )
        return
    except Exception as err:  # noqa: BLE001 - any other exception is the failure being tested for
        raise AssertionError(f"{item.name}({slot}={value!r}) raised {type(err).__name__}: {err}") from err
    equivalent = any(type(value) is type(alt) and _same(value, alt) for alt in kind.alternates(valid.get(slot)))
    assert equivalent, f"{item.name}({slot}={value!r}) returned {result!r} instead of refusing the argument"
    assert _same(result, _call(*item.call(fx))), (
        f"{item.name}({slot}={value!r}) differs from the call with {valid[slot]!r}"
    )


# ------------------------------------------------------------------------------ tests
def test_every_public_callable_has_a_hostile_argument_entry():
    collected = public_callables()
    # A method of an exempt class (a Protocol, an abstract base) is exempt with it.
    exempt = {n for n in collected if n in EXEMPT or n.rsplit(".", 1)[0] in EXEMPT}
    missing = sorted(n for n in collected if n not in ENTRIES and n not in exempt and pending_reason(n) is None)
    assert not missing, (
        f"public callables with no hostile-argument entry (add one to ENTRIES, or to EXEMPT with a reason): {missing}"
    )
    stale = sorted(n for n in (*ENTRIES, *EXEMPT) if n not in collected)
    assert not stale, f"entries for names that are not public callables: {stale}"


@pytest.mark.parametrize("prefix", sorted(PENDING))
def test_pending_packages_are_reported(prefix):
    names = [n for n in public_callables() if _under(n, prefix)]
    assert names, f"PENDING lists {prefix}, which has no public callable: remove it"
    pytest.skip(f"PENDING {len(names)} public callables of {prefix}: {PENDING[prefix]}")


def test_every_valid_call_succeeds():
    """The valid call of each entry runs (else the hostile variants would be refused for the wrong reason)."""
    fx = fixtures()
    for item in ENTRIES.values():
        fn, args = item.call(fx)
        _call(fn, args)


@pytest.mark.parametrize("name", [n for n, e in ENTRIES.items() if e.slots], ids=lambda n: n.removeprefix("ctmc_lab."))
@given(data=st.data())
@budget(12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_hostile_arguments_are_refused_by_name(name, data):
    item = ENTRIES[name]
    fx = fixtures()
    slot = data.draw(st.sampled_from(sorted(item.slots)), label="argument")
    kind = item.slots[slot]
    fn, valid = item.call(fx)
    alternates = kind.alternates(valid.get(slot))
    hostile = kind.hostile(fx)
    if _default(fn, slot) is None:  # None is this argument's default: a valid value, not a hostile one
        hostile = hostile.filter(lambda v: v is not None)
    value = data.draw(st.one_of(hostile, *([st.sampled_from(alternates)] if alternates else [])), label=slot)
    check_hostile_call(item, slot, value, fx)


def test_reported_examples_are_refused():
    """The examples of issue 19: each is a one-line error naming its argument."""
    fx = fixtures()
    cases = [
        (lambda: scores.mdce(fx.joint, [0, 1], 1.5), "mask_level"),
        (lambda: scores.mdce(fx.joint, [0, 1], -0.1), "mask_level"),
        (lambda: scores.mdce(fx.joint, [0, 1], math.nan), "mask_level"),
        (lambda: masks.harmonic(2.5), "n"),
        (lambda: masks.harmonic(-3), "n"),
        (lambda: masks.mask_weights(3, upper=2.0), "upper"),
        (lambda: masks.mask_weights(3, upper=math.nan), "upper"),
        (lambda: JointDistribution([[0, 1]], [1.0], n_tokens=2.7), "n_tokens"),
        (lambda: sequences.Alphabet("AB").decode([-1, 0]), "x"),
        (lambda: information.kl(fx.joint, [0, 1]), "noised"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=f"`{name}`"):
            call()


def test_estimation_boundary_examples():
    """Hostile inputs the estimation entries found: each refused by name (they truncated, passed
    through or failed inside NumPy or mpmath), and two valid edges that failed."""
    fx = fixtures()
    cases_ = [
        (lambda: cases.Case("c", fx.joint3, [0, 1, 0], [0.5], [1, 2]), "prompt"),  # was prompt (0,)
        (lambda: cases.dna128(2.7), "index"),  # was row 2
        (lambda: cases.markov_pair(2, seed=2.7, chain=fx.chain), "seed"),  # was seed 2
        (lambda: cases.eos_chain(p_end="0.5"), "p_end"),  # was a TypeError from arithmetic
        (lambda: fx.case.target_mp("nll", dps=0), "dps"),  # was '.0e+0'
        (lambda: fx.iid.moments("ab"), "A2"),  # was NumPy's "could not convert string to float"
        (lambda: fx.blend.moments([fx.A], batch_size=0), "batch_size"),  # was ignored
        (lambda: timelaws.gauss_nodes(0.0, math.nan), "hi"),  # was NaN nodes
        (lambda: replicas.linear_map(math.nan), "eps"),  # was a NaN mean
        (lambda: fx.tmap.nodes(0.5, 0.5), "hi"),  # was NumPy's "need at least one array to concatenate"
        (lambda: replicas.mean_field_rows(fx.case, [2]), "prompt_masks"),  # was a row with token 2 (the mask)
        (lambda: _replica(fx, "TableReplica", recon_eps=math.nan).moments(fx.case), "recon_eps"),  # was mean NaN
        (lambda: _replica(fx, "TableReplica").moments(None), "case"),  # was an AttributeError
    ]
    for call, name in cases_:
        with pytest.raises(ValueError, match=f"`{name}`"):
            call()
    # The i-th pair's generator is child i of SeedSequence([seed, n]) without spawning the i before it:
    # the same rows as spawn(i + 1)[i], and a large index is no work (it spawned 2e6 children, 0.9 GB).
    g = np.random.default_rng(np.random.SeedSequence([2, 3]).spawn(6)[5])
    prompt = fx.chain.sample(4, rng=g)
    answer = fx.chain.sample(3, start=prompt, rng=g)
    pair = cases.markov_pair(3, index=5, prompt_length=4, seed=2, chain=fx.chain)
    assert pair.x.tolist() == np.concatenate([prompt, answer]).tolist()
    assert cases.markov_pair(1, index=10**12, chain=fx.chain).name.endswith(f":1:{10**12}")
    # ε_s = 0 (t from 0, where w = 1/t): the mean against an adaptive quadrature, the variance infinite.
    eps, A = 1e-3, np.asarray(fx.A)

    def row_mean(u: float) -> float:
        lam = (1.0 - eps) * u
        sizes = np.array([bin(M).count("1") for M in range(4)])
        return float(np.sum(lam**sizes * (1.0 - lam) ** (2 - sizes) * A)) / u

    mean, var, infinite = timelaws.TimeLaw(replicas.loglinear_map(eps, 0.0), "iid").moments([A])
    assert mean[0] == pytest.approx(quad(row_mean, 0.0, 1.0, epsabs=1e-14, epsrel=1e-13)[0], rel=1e-12)
    assert infinite[0] and var[0] == math.inf
