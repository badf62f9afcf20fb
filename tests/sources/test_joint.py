import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.sequences import Alphabet, all_sequences, subset_members
from ctmc_lab.sources import datasets
from ctmc_lab.sources.joint import JointDistribution
from ctmc_lab.testing.strategies import distributions
from tests import bruteforce


def test_alphabet_roundtrip_and_errors():
    a = Alphabet("ATGC")
    x = a.encode(["GATT", "CC?A"], allow_mask=True)
    assert x.tolist() == [[2, 0, 1, 1], [3, 3, 4, 0]]
    assert a.decode(x) == ["GATT", "CC?A"]
    with pytest.raises(ValueError, match="not in the alphabet"):
        a.encode("GAXT")
    with pytest.raises(ValueError, match="one length"):
        a.encode(["GA", "GAT"])
    with pytest.raises(ValueError, match="distinct"):
        Alphabet("AA")


def test_dna128_table():
    p = datasets.dna128()
    assert (p.n_tokens, p.length, p.support_size, str(p.alphabet)) == (4, 8, 128, "ATGC")
    raw = json.loads(datasets.data_path("dna128.json").read_text())
    for seq in list(raw)[:10]:
        assert p.prob(seq) == pytest.approx(raw[seq], rel=1e-15)
    assert abs(p.probs.sum() - 1) < 1e-15


def test_dna128_like_recipe():
    p = datasets.dna128_like(3)
    assert p.support_size == 128 and p.length == 8
    assert p.probs.max() / p.probs.min() <= np.exp(2) + 1e-12  # softmax(u/0.5), u in [0,1)
    q = datasets.dna128_like(3)
    assert np.array_equal(p.support, q.support) and np.array_equal(p.probs, q.probs)


def test_iid_product_closed_forms():
    marg = np.array([[0.1, 0.9], [0.5, 0.5], [0.3, 0.7]])
    p = datasets.iid_product(marg)
    x = all_sequences(2, 3)
    expected = -np.log(marg[np.arange(3), x]).sum(axis=1)
    np.testing.assert_allclose(p.nll(x), expected, rtol=1e-14)
    H = -(marg * np.log(marg)).sum()
    assert p.entropy() == pytest.approx(H, rel=1e-14)
    # every conditional equals the marginal at that position
    masked = np.array([[2, 1, 2]])
    np.testing.assert_allclose(np.exp(p.conditional_log_probs(masked))[0, 0], marg[0], rtol=1e-13)


@given(distributions(max_length=3))
def test_marginals_and_subset_table_against_loops(p):
    x0 = p.support[0]
    table = p.subset_table(x0)
    for u, visible in enumerate(subset_members(p.length)):
        assert table[u] == pytest.approx(bruteforce.marginal_prob(p, x0, visible), abs=1e-14)
        assert p.marginal(x0, visible) == pytest.approx(table[u], abs=1e-14)
    assert table[-1] == pytest.approx(p.prob(x0), abs=1e-15)


@given(distributions(max_length=3), st.data())
def test_optimal_denoiser_is_the_true_conditional(p, data):
    x0 = p.support[data.draw(st.integers(0, p.support_size - 1))]
    masked = np.array(data.draw(st.lists(st.booleans(), min_size=p.length, max_size=p.length)))
    x = np.where(masked, p.mask_id, x0)[None]
    logc = p.conditional_log_probs(x)[0]
    base = bruteforce.marginal_prob(p, x0, ~masked)
    for i in np.flatnonzero(masked):
        for v in range(p.n_tokens):
            z = x0.copy()
            z[i] = v
            vis = ~masked
            vis[i] = True
            expected = bruteforce.marginal_prob(p, z, vis) / base
            assert np.exp(logc[i, v]) == pytest.approx(expected, abs=1e-13)
    np.testing.assert_allclose(np.exp(logc).sum(axis=1), 1.0, atol=1e-13)


def test_out_of_support_is_inf_not_nan():
    p = JointDistribution.from_dict({"AT": 0.5, "TA": 0.5})
    assert p.nll("AA") == np.inf and p.prob("AA") == 0.0
    out = p.conditional_log_probs(np.array([[0, 2]]))  # context A at 0, T at 1 masked... AA context
    assert not np.isnan(out).any()


@pytest.mark.parametrize(
    "mapping, kwargs, message",
    [
        ({"AT": 0.5, "TAT": 0.5}, {}, "one length"),
        ({"AT": 0.5, "TX": 0.5}, {"alphabet": "AT"}, "not in the alphabet"),
        ({"AT": -0.5, "TA": 1.5}, {}, "non-negative"),
        ({"AT": float("nan"), "TA": 0.5}, {}, "finite"),
        ({"AT": float("inf"), "TA": 0.5}, {}, "finite"),
        ({"AT": 0.5, "TA": 0.4}, {}, "sum to 1"),
        ({"AT": 0.0, "TA": 0.0}, {"normalize": True}, "empty"),
        ({}, {}, "non-empty"),
    ],
)
def test_bad_input_is_rejected(mapping, kwargs, message):
    with pytest.raises(ValueError, match=message):
        JointDistribution.from_dict(mapping, **kwargs)


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"AT": NaN, "TA": 0.5}', "the probability of 'AT' must be finite \\(got nan\\)"),
        ('{"AT": 0.5, "TA": Infinity}', "the probability of 'TA' must be finite \\(got inf\\)"),
        ('{"AT": -0.5, "TA": 1.5}', "the probability of 'AT' must be non-negative \\(got -0.5\\)"),
        ('{"\\ud800T": 0.5, "TA": 0.5}', "sequence key '\\\\ud800T' holds a lone surrogate \\(U\\+D800\\)"),
        ("{}", "must hold a non-empty JSON object"),
    ],
)
def test_a_bad_file_is_refused_at_load_naming_the_key(tmp_path, text, message):
    """A value or a key the table cannot hold is refused by from_json with the sequence key named.

    A lone surrogate key (JSON can spell one) is no character: it used to load and then fail half
    way through printing a table.
    """
    path = tmp_path / "dist.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        JointDistribution.from_json(path)


class _WindowSource:
    """A source over windows of any length (no ``length``), uniform over V^L."""

    n_tokens = 2
    alphabet = None

    def log_prob(self, x):
        return np.full(np.shape(x)[0], -np.shape(x)[1] * np.log(2.0))


def test_from_source_names_a_missing_length_or_member():
    with pytest.raises(ValueError, match="`length` is required: the source _WindowSource has no `length` attribute"):
        JointDistribution.from_source(_WindowSource())
    uniform = JointDistribution.from_source(_WindowSource(), 3)
    assert np.allclose(uniform.probs, 1 / 8) and uniform.support_size == 8
    with pytest.raises(TypeError, match="`source` must be a Source with `n_tokens` and `log_prob`"):
        JointDistribution.from_source(object(), 2)
    fixed = JointDistribution.from_dict({"AT": 0.5, "TA": 0.5})
    with pytest.raises(ValueError, match="`length` must be the source's own length 2 \\(got 3\\)"):
        JointDistribution.from_source(fixed, 3)

    class Broken(_WindowSource):
        def log_prob(self, x):
            return np.full(np.shape(x)[0], np.nan)

    with pytest.raises(
        ValueError, match="`source.log_prob` must be -inf or finite \\(got nan for sequence \\[0, 0\\]\\)"
    ):
        JointDistribution.from_source(Broken(), 2)


def test_normalize_rescales():
    p = JointDistribution.from_dict({"AT": 2.0, "TA": 6.0}, normalize=True)
    assert p.prob("TA") == pytest.approx(0.75)


def test_dense_roundtrip():
    p = datasets.dirichlet(3, 2, rng=0)
    q = JointDistribution.from_dense(p.dense())
    np.testing.assert_array_equal(p.support, q.support)
    np.testing.assert_allclose(p.probs, q.probs, rtol=1e-15)


@given(distributions(max_length=4), st.integers(0, 2**32 - 1))
def test_pattern_route_of_the_optimal_denoiser_equals_the_support_scan(p, seed):
    """Two routes to c*: lookups in the (N+1)^L pattern marginals vs scanning the support."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, p.n_tokens, size=(64, p.length))
    x[:32] = p.support[rng.integers(0, p.support_size, size=32)]  # contexts of positive mass
    x = np.where(rng.random(x.shape) < 0.5, p.mask_id, x)
    fast, slow = p._conditionals_from_patterns(x), p._conditionals_from_support(x)
    finite = np.isfinite(slow)
    np.testing.assert_array_equal(np.isfinite(fast), finite)
    np.testing.assert_array_equal(fast[~finite], slow[~finite])
    assert np.abs(fast[finite] - slow[finite]).max(initial=0.0) <= 1e-12


def test_pattern_marginals_hold_every_marginal():
    p = datasets.dirichlet(3, 3, rng=4, support_size=10)
    table = p.pattern_marginals()
    assert table.shape == (4, 4, 4)
    x0 = p.support[0]
    for visible in subset_members(3):
        idx = tuple(np.where(visible, x0, 3))
        assert table[idx] == pytest.approx(bruteforce.marginal_prob(p, x0, visible), abs=1e-15)


def test_sample_draws_from_p0_and_refuses_another_length():
    """JointDistribution.sample against its probabilities (5σ per support point), seeded reproducibly."""
    p = JointDistribution([[0, 0], [0, 1], [1, 1]], [0.5, 0.3, 0.2], n_tokens=2)
    x = p.sample(2, n=50_000, rng=7)
    freq = np.array([np.mean(np.all(x == s, axis=1)) for s in p.support])
    assert np.all(np.abs(freq - p.probs) <= 5 * np.sqrt(p.probs * (1 - p.probs) / 50_000))
    assert np.array_equal(x, p.sample(n=50_000, rng=7))
    with pytest.raises(ValueError, match="`length` must be the distribution's length 2"):
        p.sample(3, n=1)
