"""Reusable hypothesis strategies: distributions, generators, schedules, masks, JSON inputs.

Sizes stay small (at most a few hundred noisy states) so that property tests can afford
brute-force twins. Every strategy draws its randomness through hypothesis, so failures
shrink and replay.

The strategies reach the hard regions on purpose: probabilities down to 1e-12 (the paper's
Markov table has 1.6e-8), sparse custom generators with unreachable and extra (non-clean)
states, noise levels down to 1e-8 (the uniform log singularity), and, on request, stiff
but valid rates (``kinds=(..., "stiff")``: rates spread over six decades).

:func:`budget` gives a test its example count: the count written in the test under the
default and CI profiles (cheap), and at least the active profile's ``max_examples`` under a
larger profile, so ``HYPOTHESIS_PROFILE=thorough`` really runs about 500 examples per property.
"""

from __future__ import annotations

import inspect

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from ctmc_lab._validation import InvalidTypeError, ensure_bool, ensure_choice, ensure_int, ensure_real, positive_int
from ctmc_lab.forward import generators, schedules
from ctmc_lab.sources.joint import JointDistribution

__all__ = [
    "distributions",
    "generators_for",
    "schedules_",
    "noise_levels",
    "masks",
    "probability_vectors",
    "budget",
    "json_values",
    "THOROUGH_EXAMPLES",
]

#: Profiles with at least this many examples per test override the per-test budgets.
THOROUGH_EXAMPLES = 500


def budget(n: int, **options) -> settings:
    """``settings`` with ``n`` examples, scaled up to the active profile's count when it is larger.

    Under a profile whose ``max_examples`` is at least :data:`THOROUGH_EXAMPLES`, every test runs
    that many; under the cheaper profiles it runs ``n``. Other options pass through (e.g.
    ``deadline=None``), and the profile's remaining settings are inherited.
    """
    n = positive_int(n, "n")
    known = [p for p in inspect.signature(settings.__init__).parameters if p not in ("self", "parent", "max_examples")]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"`{unknown[0]}` is not a hypothesis setting budget passes on; choose from {known}")
    active = settings.default.max_examples
    examples = max(n, active) if active >= THOROUGH_EXAMPLES else n
    return settings(max_examples=examples, **options)


def probability_vectors(size: int, *, min_value: float = 1e-12):
    """A strictly positive probability vector whose entries reach down to about ``min_value``.

    Weights are drawn on a log scale as well as uniformly, so tiny probabilities are common,
    not a 1e-12 chance.
    """
    size = positive_int(size, "size")
    min_value = ensure_real(min_value, "min_value", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    low = float(np.log10(min_value))
    weight = st.one_of(st.floats(1e-3, 1.0), st.floats(low, 0.0).map(lambda e: 10.0**e))
    return st.lists(weight, min_size=size, max_size=size).map(lambda w: np.asarray(w) / np.sum(w))


def distributions(
    *,
    n_tokens=(2, 3, 4),
    max_length: int = 4,
    max_states: int = 256,
    sparse: bool | None = None,
    min_probability: float = 1e-12,
):
    """A JointDistribution with N in ``n_tokens``, L <= ``max_length``, N^L <= ``max_states``.

    ``sparse`` forces (True) or forbids (False) a support smaller than V^L; None draws it.
    Probabilities reach down to about ``min_probability``.
    """
    if isinstance(n_tokens, (str, bytes)) or not hasattr(n_tokens, "__iter__"):
        raise InvalidTypeError(f"`n_tokens` must be a sequence of alphabet sizes (got {n_tokens!r})")
    n_tokens = tuple(ensure_int(n, "n_tokens", minimum=1) for n in n_tokens)
    max_length = ensure_int(max_length, "max_length", minimum=1, maximum=64)
    max_states = positive_int(max_states, "max_states", minimum=max(n_tokens, default=1))
    if not n_tokens:
        raise ValueError("`n_tokens` must offer at least one alphabet size")
    if sparse is not None:
        sparse = ensure_bool(sparse, "sparse")
    min_probability = ensure_real(min_probability, "min_probability", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    return _distributions(n_tokens, max_length, max_states, sparse, min_probability)


@st.composite
def _distributions(draw, n_tokens, max_length, max_states, sparse, min_probability):
    n = draw(st.sampled_from(n_tokens))
    lengths = [L for L in range(1, max_length + 1) if n**L <= max_states]
    length = draw(st.sampled_from(lengths))
    n_all = n**length
    is_sparse = draw(st.booleans()) if sparse is None else sparse
    size = draw(st.integers(1, max(1, n_all - 1))) if is_sparse and n_all > 1 else n_all
    keys = np.sort(draw(st.permutations(range(n_all)))[:size])
    probs = draw(probability_vectors(size, min_value=min_probability))
    support = np.stack(np.unravel_index(keys, (n,) * length), axis=1)
    return JointDistribution(support, probs, n_tokens=n, normalize=True)


def _as_generator(rates: np.ndarray, n_tokens: int):
    Q = rates.copy()
    np.fill_diagonal(Q, 0.0)
    Q -= np.diag(Q.sum(axis=0))
    return generators.custom(Q, n_tokens=n_tokens)


@st.composite
def _sparse_custom(draw, n_tokens: int):
    """A custom Q with some zero rates (states unreachable from some others) and 0-2 extra states.

    Extra states are noise states beyond the N clean ones (like a mask); at least one clean
    state can move, so Q is a valid generator with a non-trivial kernel.
    """
    extra = draw(st.integers(0, 2))
    size = n_tokens + extra
    rates = np.asarray(draw(st.lists(st.floats(0.05, 2.0), min_size=size * size, max_size=size * size)))
    keep = np.asarray(draw(st.lists(st.booleans(), min_size=size * size, max_size=size * size)))
    rates = (rates * keep).reshape(size, size)
    np.fill_diagonal(rates, 0.0)
    if not rates[:, :n_tokens].any():
        rates[(1 if size > 1 else 0), 0] = 1.0
    return _as_generator(rates, n_tokens)


@st.composite
def _stiff_custom(draw, n_tokens: int):
    """A dense custom Q whose rates span 1e-3 .. 1e3 (stiff but well within float64's reach)."""
    exps = np.asarray(draw(st.lists(st.floats(-3.0, 3.0), min_size=n_tokens**2, max_size=n_tokens**2)))
    return _as_generator((10.0**exps).reshape(n_tokens, n_tokens), n_tokens)


def _defined_on(kind: str, n_tokens: int) -> bool:
    if kind in generators.NOISE_PROCESSES:
        return n_tokens >= generators.NOISE_PROCESSES[kind].min_tokens
    return n_tokens >= 2 or kind == "sparse"


def generators_for(n_tokens: int, *, kinds=("absorbing", "uniform", "custom", "sparse")):
    """A generator on N clean symbols, of a kind drawn from ``kinds``.

    A kind is the name of a registered noise process
    (:data:`~ctmc_lab.forward.generators.NOISE_PROCESSES`), or ``"custom"`` (dense random
    rates), ``"sparse"`` (some zero rates, 0-2 extra states) or ``"stiff"`` (rates over six
    decades). Kinds not defined on N symbols are left out (absorbing noise if none is left).
    """
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1, maximum=generators.MAX_STATES - 3)
    if isinstance(kinds, (str, bytes)) or not hasattr(kinds, "__iter__"):
        raise InvalidTypeError(f"`kinds` must be a sequence of generator kinds (got {kinds!r})")
    known = [*generators.NOISE_PROCESSES, "custom", "sparse", "stiff"]
    kinds = tuple(ensure_choice(k, "kinds", known) for k in kinds)
    return _generators_for(n_tokens, kinds)


@st.composite
def _generators_for(draw, n_tokens: int, kinds):
    allowed = [k for k in kinds if _defined_on(k, n_tokens)]
    kind = draw(st.sampled_from(allowed or ["absorbing"]))
    if kind in generators.NOISE_PROCESSES:
        return generators.NOISE_PROCESSES[kind].generator(n_tokens)
    if kind == "sparse":
        return draw(_sparse_custom(n_tokens))
    if kind == "stiff":
        return draw(_stiff_custom(n_tokens))
    rates = draw(st.lists(st.floats(0.05, 2.0), min_size=n_tokens**2, max_size=n_tokens**2))
    return _as_generator(np.asarray(rates).reshape(n_tokens, n_tokens), n_tokens)


def schedules_():
    """Every schedule with sigma_bar(0) = 0, with drawn parameters."""
    return st.one_of(
        st.floats(1e-4, 0.1).map(lambda e: schedules.Loglinear(eps=e)),
        st.tuples(st.floats(1e-5, 1e-2), st.floats(2.0, 30.0)).map(lambda p: schedules.Geometric(*p)),
        st.floats(0.2, 5.0).map(lambda r: schedules.Linear(rate=r)),
        st.floats(1e-4, 0.1).map(lambda e: schedules.Cosine(eps=e)),
    )


def noise_levels(min_value: float = 1e-8, max_value: float = 5.0):
    """A unit-rate noise level s > 0, log-uniform as well as uniform so that tiny s are common."""
    min_value = ensure_real(min_value, "min_value", lo=0.0, lo_open=True)
    max_value = ensure_real(max_value, "max_value", lo=min_value)
    lo, hi = float(np.log10(min_value)), float(np.log10(max_value))
    return st.one_of(st.floats(min_value, max_value), st.floats(lo, hi).map(lambda e: float(10.0**e))).map(
        lambda s: min(max(s, min_value), max_value)
    )


def masks(length: int):
    """A non-empty mask as a (L,) bool array."""
    length = positive_int(length, "length")
    return st.lists(st.booleans(), min_size=length, max_size=length).filter(any).map(np.array)


def json_values(max_leaves: int = 30):
    """Arbitrary JSON documents (as Python objects), with numbers at the edges of float64."""
    max_leaves = positive_int(max_leaves, "max_leaves")
    numbers = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**400), 10**400),
        st.sampled_from([0, 1, -1, 1e-300, 1e308, 5e-324, 0.5]),
    )
    scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=6))
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5), st.dictionaries(st.text(max_size=6), children, max_size=5)
        ),
        max_leaves=max_leaves,
    )
