"""The Source protocol (``ctmc_lab.sources.base``): a source defined outside the package runs
through the conditional likelihood and the exact moments with no edit to the library, and the
library's own sources implement the protocol."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctmc_lab.estimation import conditional
from ctmc_lab.estimation import moments as Mo
from ctmc_lab.exact.mask_dce import mask_dce_table
from ctmc_lab.sources.base import NormalisationError, Source
from ctmc_lab.sources.datasets import dna128
from ctmc_lab.sources.joint import JointDistribution
from ctmc_lab.sources.markov import markov4
from tests.sources.user_source import MARGINALS, IIDProduct, make_source

QUERIES = [
    ([0, 1, 2], []),
    ([0, 2], [1]),
    ([1], [0, 2]),
    ([2, 0], []),  # position 1 marginalised, target given out of order
]


def _brute_mass(marginals, x, visible):
    """Brute-force twin of ``log_marginal``: Σ over all of V^L of Π_i p_i(z^i), z agreeing with x on ``visible``."""
    n_pos, n_tok = marginals.shape
    total = 0.0
    for z in itertools.product(range(n_tok), repeat=n_pos):
        if all(z[i] == x[i] for i in visible):
            total += float(np.prod([marginals[i, z[i]] for i in range(n_pos)]))
    return total


def _brute_nll(marginals, x, target, context):
    """Brute-force twin of ``conditional_nll``: -log P(x^{I1 ∪ I2}) / P(x^{I2}) over the full joint."""
    return -np.log(_brute_mass(marginals, x, [*target, *context]) / _brute_mass(marginals, x, context))


def _brute_A(marginals, x, target, context):
    """Brute-force twin of ``conditional_mask_dce``: A(M) = Σ_{t∈M} -log p(x^t | x^{(I1∖M) ∪ I2}) by full sums."""
    target = sorted(target)
    A = np.zeros(1 << len(target))
    for M in range(1, 1 << len(target)):
        visible = [t for j, t in enumerate(target) if not M >> j & 1] + list(context)
        for j, t in enumerate(target):
            if M >> j & 1:
                num = _brute_mass(marginals, x, visible + [t])
                A[M] -= np.log(num / _brute_mass(marginals, x, visible))
    return A


@pytest.mark.parametrize(("target", "context"), QUERIES)
@pytest.mark.parametrize("seq", ["abc", "cba", "bbc"])
def test_user_source_conditional_likelihood_against_brute_force(seq, target, context):
    src = make_source()
    x = src.encode(seq)
    truth = _brute_nll(MARGINALS, x, target, context)
    assert abs(conditional.conditional_nll(src, x, target=target, context=context) - truth) <= 1e-12
    A_ref = _brute_A(MARGINALS, x, target, context)
    for method in ("closed_form", "denoiser"):
        A = conditional.conditional_mask_dce(src, x, target=target, context=context, method=method)
        assert np.max(np.abs(A - A_ref)) <= 1e-12, method
    r = conditional.conditional_likelihood(src, x, target=target, context=context)
    assert r.method == "closed_form" and r.residual <= 1e-12
    # The exact moments on the source's A-table and on the table its denoiser produces.
    A_den = mask_dce_table(src.denoiser(3), x, target=sorted(target), context=context or None)
    assert np.max(np.abs(A_den - A_ref)) <= 1e-12
    for name in Mo.unbiased_samplers():
        for table in (r.mask_dce, A_den):
            m = Mo.estimator_moments(table, name, reference=truth)
            assert abs(m.mean - truth) <= 1e-12, name


def test_user_source_monte_carlo_and_log_ratio():
    src = make_source()
    xp, xm = src.encode("abc"), src.encode("acc")
    est = conditional.conditional_estimate(src, xp, n_samples=2000, rng=0, target=[1, 2], context=[0])
    truth = _brute_nll(MARGINALS, xp, [1, 2], [0])
    assert abs(est.mean - truth) <= 5 * est.stderr + 1e-12
    ratio = conditional.conditional_log_ratio(src, xp, xm, target=[1, 2], context=[0])
    brute = _brute_nll(MARGINALS, xm, [1, 2], [0]) - _brute_nll(MARGINALS, xp, [1, 2], [0])
    assert abs(ratio.exact - brute) <= 1e-12 and abs(ratio.time_free_exact - brute) <= 1e-12


def test_user_source_materialises_to_its_joint():
    src = make_source()
    p = JointDistribution.from_source(src)
    for z in itertools.product(range(3), repeat=3):
        assert abs(p.prob(np.array(z)) - np.prod(MARGINALS[np.arange(3), list(z)])) <= 1e-15
    with pytest.raises(ValueError, match="enumeration limit"):
        JointDistribution.from_source(IIDProduct(np.full((12, 4), 0.25)))
    with pytest.raises(ValueError, match="`length` is required"):
        JointDistribution.from_source(markov4())
    with pytest.raises(NormalisationError, match="normalize=True"):
        JointDistribution.from_source(IIDProduct(MARGINALS * 0.9))


def test_library_sources_implement_the_protocol():
    mk = markov4()
    for src in (dna128(), mk, mk.continuing("ACGTACGT"), make_source()):
        assert isinstance(src, Source)
        assert src.mask_dce_methods == tuple(conditional.mask_dce_methods(src)[:-1])


def test_start_needs_a_source_that_continues_a_prompt():
    with pytest.raises(ValueError, match="MarkovChain source only"):
        conditional.conditional_nll(make_source(), "abc", start="ab")
    with pytest.raises(ValueError, match="`method`"):
        conditional.conditional_mask_dce(make_source(), "abc", method="subset")


def test_user_source_sample_follows_its_marginals():
    """The protocol's sampler on the user source: per-position frequencies within 5σ of p_i."""
    src = make_source()
    x = src.sample(n=20_000, rng=3)
    assert x.shape == (20_000, src.length) and src.sample(rng=3).shape == (src.length,)
    for i in range(src.length):
        freq = np.bincount(x[:, i], minlength=src.n_tokens) / x.shape[0]
        sd = np.sqrt(MARGINALS[i] * (1 - MARGINALS[i]) / x.shape[0])
        assert np.all(np.abs(freq - MARGINALS[i]) <= 5 * sd + 1e-12)
