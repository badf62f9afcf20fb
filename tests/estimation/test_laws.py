"""The mask laws and the one draw loop (``ctmc_lab.estimation.laws``) against counts and definitions.

Uniform masks of a size and the draw "m ~ q, then M uniform of size m" are checked by
chi-square tests on their observed frequencies (a wrong offset, a missing level or a skewed cdf
moves thousands of draws); the stratified draw by its exact strata; the oracles and run-size
rules by their contracts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from ctmc_lab.estimation import laws

P_FLOOR = 1e-6  # a chi-square p-value below this fails (a correct sampler fails 1 run in 10^6)


def chi_square_p(observed, expected) -> float:
    keep = expected > 0
    assert observed[~keep].sum() == 0, "a draw of probability zero"
    stat = float((((observed - expected) ** 2)[keep] / expected[keep]).sum())
    return float(chi2.sf(stat, keep.sum() - 1))


@pytest.mark.parametrize("n", [1, 4, 7, 22])
def test_uniform_masks_of_each_size_are_uniform(n):
    """Dense table (n ≤ 20) and random-key ranking (n = 22): every mask of size m equally often."""
    sizes = laws.UniformMasks(n)
    rng = np.random.default_rng(n)
    for m in sorted({0, 1, n // 2, n}):
        draws = sizes.draw(np.full(20_000, m), rng)
        assert np.all(np.bitwise_count(draws.astype(np.uint64)) == m)
        if math.comb(n, m) > 500:  # too many masks to count: check each bit is masked m/n of the time
            freq = ((draws[:, None] >> np.arange(n)) & 1).mean(axis=0)
            assert np.all(np.abs(freq - m / n) < 0.02)
            continue
        _, counts = np.unique(draws, return_counts=True)
        assert counts.size == math.comb(n, m)
        if counts.size > 1:
            assert chi_square_p(counts, np.full(counts.size, draws.size / counts.size)) > P_FLOOR


@pytest.mark.parametrize("law", [laws.time_free_law, laws.k_dce_law, laws.rb_lambda_dce_law, laws.omit_full_mask_law])
def test_sample_draws_each_mask_with_q_m_over_c_n_m(law):
    n = 4
    q, f = laws.validated_law("law", law, n)
    scheme = laws.MaskSizeScheme("law", n, q, f)
    m, local = scheme.sample(60_000, np.random.default_rng(1))
    assert np.array_equal(np.bitwise_count(local.astype(np.uint64)), m)
    observed = np.bincount(local, minlength=1 << n)
    sizes = np.array([bin(M).count("1") for M in range(1 << n)])
    expected = local.size * np.array([q[s] / math.comb(n, s) for s in sizes])
    assert chi_square_p(observed, expected) > P_FLOOR
    np.testing.assert_allclose(scheme.mask_probabilities, expected / local.size, rtol=1e-14)
    np.testing.assert_array_equal(scheme.mask_weights, f[sizes])


def test_stratified_sample_puts_one_draw_in_each_stratum():
    """v_j = (j + u_j)/k: with k = n strata of a uniform law on 1..n, draw j has size j + 1 exactly."""
    n = 5
    scheme = laws.MaskSizeScheme("k", n, *laws.validated_law("k", laws.k_dce_law, n))
    for seed in range(20):
        m, _ = scheme.sample(n, np.random.default_rng(seed), stratified=True)
        assert m.tolist() == list(range(1, n + 1))
    # k = 2n strata: each size exactly twice, in order.
    m, _ = scheme.sample(2 * n, np.random.default_rng(0), stratified=True)
    assert m.tolist() == [s for s in range(1, n + 1) for _ in range(2)]


def test_values_do_not_depend_on_the_denoiser_batch_but_stratified_ones_do():
    A = np.random.default_rng(0).gamma(2.0, 1.0, 1 << 6)
    A[0] = 0.0
    oracle = laws.TableOracle(A)
    scheme = laws.MaskSizeScheme("tf", 6, *laws.validated_law("tf", laws.time_free_law, 6))
    a = scheme.values(oracle, 10_000, np.random.default_rng(3))
    b = scheme.values(oracle, 10_000, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    s8 = scheme.values(oracle, 64, np.random.default_rng(3), batch_size=8)
    s16 = scheme.values(oracle, 64, np.random.default_rng(3), batch_size=16)
    assert not np.array_equal(s8, s16)


def test_table_oracle_reads_the_table_and_refuses_bad_tables():
    A = np.array([0.0, 1.0, 2.0, 4.0])
    D = np.array([0.0, 0.1, 0.2, 0.3])
    oracle = laws.TableOracle(A, D)
    assert oracle.n == 2
    np.testing.assert_array_equal(oracle(np.array([3, 1, 0])), [4.0, 1.0, 0.0])
    a, d = oracle(np.array([2, 3]), with_defect=True)
    np.testing.assert_array_equal(a, [2.0, 4.0])
    np.testing.assert_array_equal(d, [0.2, 0.3])
    assert laws.as_oracle(oracle) is oracle
    assert laws.as_oracle(A).n == 2
    with pytest.raises(ValueError, match="2\\*\\*n"):
        laws.TableOracle(np.zeros(3))
    with pytest.raises(ValueError, match="one table"):
        laws.TableOracle(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        laws.TableOracle(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="`D`"):
        laws.TableOracle(A, np.zeros(2))


def test_level_sums_and_run_sizes():
    A = np.arange(8.0)
    np.testing.assert_array_equal(laws.level_sums(A, 3), [0.0, 1 + 2 + 4, 3 + 5 + 6, 7])
    np.testing.assert_array_equal(laws.level_sums(A, 3, 2), [0.0, 1 + 4 + 16, 9 + 25 + 36, 49])
    with pytest.raises(ValueError, match="infinite"):
        laws.level_sums(np.array([0.0, np.inf]), 1)
    assert laws.check_run(10, 4, stratified=False) == (10, 4)
    assert laws.check_run(8, 4, stratified=True) == (8, 4)
    for bad in ((10, 4), (4, 4)):
        with pytest.raises(ValueError, match="multiple of `batch_size` with at least 2 batches"):
            laws.check_run(*bad, stratified=True)
    with pytest.raises(ValueError, match="n_samples"):
        laws.check_run(0, 4, stratified=False)
    with pytest.raises(ValueError, match="batch_size"):
        laws.check_run(4, 2.5, stratified=False)
    assert [(s.start, s.stop) for s in laws.chunks(10, 4)] == [(0, 4), (4, 8), (8, 10)]


def test_validated_law_names_the_law_and_the_rule():
    with pytest.raises(ValueError, match="the law of 'mine' must give q and f of shape \\(4,\\)"):
        laws.validated_law("mine", lambda n: (np.ones(n), np.ones(n)), 3)
    with pytest.raises(ValueError, match="summing to 1"):
        laws.validated_law("mine", lambda n: (np.full(n + 1, 0.5), np.ones(n + 1)), 3)
    with pytest.raises(ValueError, match="finite value weight"):
        laws.validated_law("mine", lambda n: (np.r_[0.0, np.full(n, 1 / n)], np.full(n + 1, np.inf)), 3)
    with pytest.raises(ValueError, match="`weights` is required"):
        laws.validated_law("imp", laws.importance_law, 3, needs_weights=True)
    q, f = laws.validated_law("imp", laws.importance_law, 3, weights=[1.0, 0.0, 3.0], needs_weights=True)
    np.testing.assert_allclose(q, [0, 0.25, 0, 0.75])
    np.testing.assert_allclose(f, [0, 4.0, 0, 1 / (3 * 0.75)])
    assert not q.flags.writeable and not f.flags.writeable


def test_values_with_an_int_seed_is_one_stream():
    """``MaskSizeScheme.values`` normalises its rng once: an int seed gives the draws of
    ``default_rng(seed)``, not one restarted stream per chunk (which repeated every batch)."""
    n = 5
    scheme = laws.MaskSizeScheme("k_dce", n, *laws.k_dce_law(n))
    A = np.arange(1 << n, dtype=float)
    oracle = laws.TableOracle(A)
    for batch_size in (None, 4):
        by_int = scheme.values(oracle, 64, 7, batch_size=batch_size)
        by_gen = scheme.values(oracle, 64, np.random.default_rng(7), batch_size=batch_size)
        np.testing.assert_array_equal(by_int, by_gen)
    assert len(set(by_int.reshape(16, 4).sum(axis=1))) > 1  # the batches differ


def test_uniform_masks_refuse_sizes_outside_0_to_n_whatever_the_array():
    """The fast path of ``draw`` (an int64 batch and a Generator) refuses what the full check
    refuses: sizes below 0 or above n, in any position of the batch."""
    sizes, rng = laws.UniformMasks(4), np.random.default_rng(0)
    for bad in ([5], [0, 5], [-1, 2], [2, 2, -3]):
        for m in (np.array(bad, dtype=np.int64), bad, np.array(bad, dtype=np.int32)):
            with pytest.raises(ValueError, match="`m` entries"):
                sizes.draw(m, rng)
    ok = np.array([0, 4, 2], dtype=np.int64)
    np.testing.assert_array_equal(
        sizes.draw(ok, np.random.default_rng(1)), sizes.draw(ok.tolist(), np.random.default_rng(1))
    )
