"""The mask-DCE tables A(M) against their slow twins (``docs/theory.md`` §3.5, Thm 4.1, Cor. 4.3)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from ctmc_lab.exact.mask_dce import exact_nll, mask_dce_table, optimal_mask_dce
from ctmc_lab.masks import mask_dce, subset_entropy
from ctmc_lab.sources.datasets import dirichlet, dna128
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser


def brute_A(denoiser, x0, target=None, context=None):
    """A(M) by an explicit loop over subsets, one denoiser call per mask: the slow twin of
    :class:`ctmc_lab.exact.mask_dce.MaskDCE` and :func:`~ctmc_lab.exact.mask_dce.optimal_mask_dce`."""
    L = denoiser.length
    target = list(range(L)) if target is None else list(target)
    context = [] if context is None else list(context)
    rest = [i for i in range(L) if i not in target and i not in context]
    n = len(target)
    out = np.zeros(1 << n)
    for local in range(1 << n):
        M = [target[j] for j in range(n) if local >> j & 1]
        x = np.array(x0).copy()
        x[M + rest] = denoiser.n_tokens
        logc = denoiser(x[None])[0]
        out[local] = sum(-logc[i, x0[i]] for i in M)
    return out


def test_optimal_table_matches_denoiser_and_subset_formula():
    d128 = dna128()
    A128 = optimal_mask_dce(d128, d128.support)
    c = OptimalDenoiser(d128)
    via_absorbing = mask_dce(subset_entropy(d128.subset_table(d128.support)))
    assert np.max(np.abs(A128 - via_absorbing)) <= 1e-12
    for row in (0, 58, 127):
        generic = mask_dce_table(c, d128.support[row])
        assert np.max(np.abs(generic - A128[row])) <= 1e-12


def test_generic_table_matches_brute_loop_conditional():
    p = dirichlet(3, 4, alpha=0.7, rng=3)
    c = MixedDenoiser(OptimalDenoiser(p), "marginals", weight=0.2)
    x0 = p.support[17]
    for target, context in [(None, None), ([2, 3], [0]), ([1, 3], None), ([0], [1, 2, 3])]:
        fast = mask_dce_table(c, x0, target=target, context=context, batch_size=3)
        assert np.max(np.abs(fast - brute_A(c, x0, target, context))) <= 1e-13
        if target is not None:
            opt = optimal_mask_dce(p, x0, target=target, context=context)
            assert np.max(np.abs(opt - brute_A(OptimalDenoiser(p), x0, target, context))) <= 1e-13


def test_exact_nll_is_the_true_nll_for_c_star_and_cor43_conditional():
    p = dirichlet(3, 4, alpha=0.5, rng=11)
    c = OptimalDenoiser(p)
    for row in (0, 40, 80):
        x0 = p.support[row]
        assert abs(exact_nll(c, x0) - p.nll(x0)) <= 1e-12
        # Cor. 4.3: target {2,3}, context {0}, position 1 marginalised (docs/theory.md H1).
        joint = p.marginal(x0, np.array([1, 0, 1, 1], bool))
        ctx = p.marginal(x0, np.array([1, 0, 0, 0], bool))
        truth = -math.log(joint / ctx)
        assert abs(exact_nll(c, x0, target=[2, 3], context=[0]) - truth) <= 1e-12


def test_exact_nll_of_a_model_is_its_any_order_autoregressive_nll():
    """Independent twin: average over all L! orders of the model's chain-rule NLL (§4.1)."""
    p = dirichlet(3, 4, alpha=1.0, rng=5)
    c = MixedDenoiser(OptimalDenoiser(p), "uniform", weight=0.3)
    x0 = p.support[33]
    L = 4
    total = 0.0
    for order in itertools.permutations(range(L)):
        x = np.full(L, 3)
        for i in order:
            total += -c(x[None])[0, i, x0[i]]
            x[i] = x0[i]
    assert abs(exact_nll(c, x0) - total / math.factorial(L)) <= 1e-12
