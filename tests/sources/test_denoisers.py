"""Denoisers: the optimal c*, the mixed and tempered models, and the checked callable wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.sources.datasets import dirichlet, dna128
from ctmc_lab.sources.denoisers import CallableDenoiser, Denoiser, MixedDenoiser, OptimalDenoiser, TemperedDenoiser
from ctmc_lab.testing.strategies import budget


@pytest.fixture(scope="module")
def small():
    return dirichlet(3, 3, alpha=0.5, rng=4)


def random_masked(p, k, rng):
    x = p.support[rng.integers(0, p.support_size, k)].copy()
    x[rng.random(x.shape) < 0.5] = p.n_tokens
    return x


def test_all_denoisers_satisfy_the_protocol(small):
    c = OptimalDenoiser(small)
    for d in (
        c,
        MixedDenoiser(c, weight=0.1),
        TemperedDenoiser(c, temperature=2.0),
        CallableDenoiser(c, small.n_tokens, small.length),
    ):
        assert isinstance(d, Denoiser)
        assert (d.n_tokens, d.length) == (3, 3)


@pytest.mark.parametrize("mix_with", ["uniform", "marginals", "denoiser"])
def test_mixed_rows_are_the_convex_combination(small, mix_with):
    c = OptimalDenoiser(small)
    other = TemperedDenoiser(c, temperature=3.0)
    w = 0.3
    mixed = MixedDenoiser(c, other if mix_with == "denoiser" else mix_with, weight=w)
    x = random_masked(small, 50, np.random.default_rng(0))
    masked = x == small.n_tokens
    if mix_with == "uniform":
        r = np.full(x.shape + (3,), 1 / 3)
    elif mix_with == "marginals":
        # p0(x^i = v), summed straight from the support (independent of the denoiser path)
        marg = np.zeros((3, 3))
        for z, pz in zip(small.support, small.probs):
            marg[np.arange(3), z] += pz
        r = np.broadcast_to(marg, x.shape + (3,))
    else:
        r = np.exp(other(x))
    want = (1 - w) * np.exp(c(x)) + w * r
    got = np.exp(mixed(x))
    assert np.max(np.abs(got[masked] - want[masked])) <= 1e-14
    assert np.array_equal(mixed(x)[~masked], c(x)[~masked])
    assert np.max(np.abs(got[masked].sum(-1) - 1)) <= 1e-14
    assert np.array_equal(MixedDenoiser(c, mix_with="uniform", weight=0.0)(x), c(x))


def test_tempered_at_one_is_the_base_and_rows_normalised(small):
    c = OptimalDenoiser(small)
    x = random_masked(small, 40, np.random.default_rng(1))
    masked = x == small.n_tokens
    t1 = TemperedDenoiser(c, temperature=1.0)(x)
    finite = np.isfinite(c(x))
    assert np.max(np.abs(t1[finite] - c(x)[finite])) <= 1e-14
    for temp in (0.5, 2.0):
        out = np.exp(TemperedDenoiser(c, temperature=temp)(x))
        assert np.max(np.abs(out[masked].sum(-1) - 1)) <= 1e-14
        # zero-probability entries stay zero
        assert np.all(out[np.exp(c(x)) == 0] == 0)


def test_tempered_zero_probability_context_is_minus_inf_not_nan():
    p = dna128()
    x = p.encode(["AAAAAAAA"]).copy()
    x[0, 0] = 4
    out = TemperedDenoiser(OptimalDenoiser(p), temperature=2.0)(x)
    assert not np.isnan(out).any()


def test_callable_validates_shape_values_and_normalisation():
    n, L = 4, 3
    good = lambda x: np.full(x.shape + (n,), -np.log(n))  # noqa: E731
    d = CallableDenoiser(good, n, L)
    x = np.array([[4, 0, 4], [1, 4, 2]])
    assert d(x).shape == (2, 3, 4)

    with pytest.raises(ValueError, match=r"shape .* expected"):
        CallableDenoiser(lambda x: np.zeros((len(x), L, n + 1)), n, L)(x)

    def with_nan(x):
        out = good(x)
        out[1, 2, 0] = np.nan
        return out

    with pytest.raises(ValueError, match="batch row 1, position 2"):
        CallableDenoiser(with_nan, n, L)(x)

    def plus_inf(x):
        out = good(x)
        out[0, 0, 0] = np.inf
        return out

    with pytest.raises(ValueError, match=r"\+inf"):
        CallableDenoiser(plus_inf, n, L)(x)

    def one_hot(x):  # -inf entries are legal: zero probabilities
        out = np.full(x.shape + (n,), -np.inf)
        out[..., 0] = 0.0
        return out

    assert np.isneginf(CallableDenoiser(one_hot, n, L)(x)[..., 1:]).all()

    def unnormalised(x):
        out = good(x)
        out[:, :, 0] += 1e-6
        return out

    with pytest.raises(ValueError, match="sum to 1 within 1e-09"):
        CallableDenoiser(unnormalised, n, L)(x)
    # visible positions are not checked; opting out of the check is possible
    CallableDenoiser(unnormalised, n, L, check_normalisation=False)(x)
    tiny = lambda x: good(x) + 1e-11  # noqa: E731
    CallableDenoiser(tiny, n, L)(x)

    with pytest.raises(ValueError, match="`x` must have shape"):
        d(np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="tokens"):
        d(np.array([[5, 0, 0]]))
    with pytest.raises(ValueError, match="`fn` must be callable"):
        CallableDenoiser(3, n, L)
    with pytest.raises(ValueError, match="`length`"):
        CallableDenoiser(good, n, 0)


def test_mixed_argument_errors(small):
    c = OptimalDenoiser(small)
    with pytest.raises(ValueError, match="weight"):
        MixedDenoiser(c, weight=1.5)
    with pytest.raises(ValueError, match="mix_with"):
        MixedDenoiser(c, "gaussian", weight=0.1)
    with pytest.raises(ValueError, match="mix_with"):
        MixedDenoiser(c, OptimalDenoiser(dna128()), weight=0.1)
    with pytest.raises(ValueError, match="temperature"):
        TemperedDenoiser(c, temperature=0.0)


@budget(30, deadline=None)
@given(seed=st.integers(0, 10**6), weight=st.floats(0.0, 1.0), temp=st.floats(0.2, 5.0))
def test_property_models_are_normalised_where_masked(seed, weight, temp):
    p = dirichlet(2, 3, alpha=0.4, rng=seed)
    rng = np.random.default_rng(seed)
    x = random_masked(p, 20, rng)
    masked = x == p.n_tokens
    base = OptimalDenoiser(p)
    for d in (MixedDenoiser(base, "marginals", weight=weight), TemperedDenoiser(base, temperature=temp)):
        wrapped = CallableDenoiser(d, p.n_tokens, p.length)  # raises if a masked row is off 1 by > 1e-9
        out = wrapped(x)
        assert np.max(np.abs(np.exp(out[masked]).sum(-1) - 1)) <= 1e-12
