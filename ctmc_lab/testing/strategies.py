"""Reusable hypothesis strategies: distributions, generators, schedules, masks.

Sizes stay small (at most a few hundred noisy states) so that property tests can afford
brute-force twins. Every strategy draws its randomness through hypothesis, so failures
shrink and replay.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import generators, schedules
from ..distributions import JointDistribution

__all__ = ["distributions", "generators_for", "schedules_", "noise_levels", "masks", "probability_vectors"]


def probability_vectors(size: int, *, min_value: float = 1e-3):
    """A strictly positive probability vector of the given size."""
    return st.lists(st.floats(min_value, 1.0), min_size=size, max_size=size).map(
        lambda w: np.asarray(w) / np.sum(w)
    )


@st.composite
def distributions(draw, *, n_tokens=(2, 3, 4), max_length: int = 4, max_states: int = 256,
                  sparse: bool | None = None):
    """A JointDistribution with N in ``n_tokens``, L <= ``max_length``, N^L <= ``max_states``.

    ``sparse`` forces (True) or forbids (False) a support smaller than V^L; None draws it.
    """
    n = draw(st.sampled_from(n_tokens))
    lengths = [L for L in range(1, max_length + 1) if n**L <= max_states]
    length = draw(st.sampled_from(lengths))
    n_all = n**length
    is_sparse = draw(st.booleans()) if sparse is None else sparse
    size = draw(st.integers(1, max(1, n_all - 1))) if is_sparse and n_all > 1 else n_all
    keys = np.sort(draw(st.permutations(range(n_all)))[:size])
    probs = draw(probability_vectors(size))
    support = np.stack(np.unravel_index(keys, (n,) * length), axis=1)
    return JointDistribution(support, probs, n_tokens=n, normalize=True)


@st.composite
def generators_for(draw, n_tokens: int, *, kinds=("absorbing", "uniform", "custom")):
    """An absorbing, uniform or random custom generator on N clean symbols."""
    kind = draw(st.sampled_from([k for k in kinds if not (k == "uniform" and n_tokens < 2)] or ["absorbing"]))
    if kind == "absorbing":
        return generators.absorbing(n_tokens)
    if kind == "uniform":
        return generators.uniform(n_tokens)
    if n_tokens < 2:
        return generators.absorbing(n_tokens)
    rates = draw(st.lists(st.floats(0.05, 2.0), min_size=n_tokens**2, max_size=n_tokens**2))
    Q = np.asarray(rates).reshape(n_tokens, n_tokens)
    np.fill_diagonal(Q, 0.0)
    Q -= np.diag(Q.sum(axis=0))
    return generators.custom(Q)


def schedules_():
    """Every schedule with sigma_bar(0) = 0, with drawn parameters."""
    return st.one_of(
        st.floats(1e-4, 0.1).map(lambda e: schedules.Loglinear(eps=e)),
        st.tuples(st.floats(1e-5, 1e-2), st.floats(2.0, 30.0)).map(lambda p: schedules.Geometric(*p)),
        st.floats(0.2, 5.0).map(lambda r: schedules.Linear(rate=r)),
        st.floats(1e-4, 0.1).map(lambda e: schedules.Cosine(eps=e)),
    )


def noise_levels(min_value: float = 1e-3, max_value: float = 5.0):
    """A unit-rate noise level s > 0."""
    return st.floats(min_value, max_value)


def masks(length: int):
    """A non-empty mask as a (L,) bool array."""
    return st.lists(st.booleans(), min_size=length, max_size=length).filter(any).map(np.array)
