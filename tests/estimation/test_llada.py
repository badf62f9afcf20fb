"""LLaDA's evaluator: the count rule against torch's output, exact moments against brute force,
Monte Carlo against the exact means, first-order-chain losses against forward–backward."""

import itertools
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctmc_lab import masks
from ctmc_lab.estimation import conditional, estimators, llada, moments
from ctmc_lab.exact import mask_dce
from ctmc_lab.sources.datasets import dna128, dna128_like
from ctmc_lab.sources.denoisers import OptimalDenoiser
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies.protocol import sample_pair

DATA = Path(__file__).parent.parent / "data"


def exact_rule(n, b, k, *, fixed=False):
    """Row counts in exact rationals: round_half_even(k + j n/b) (or k + floor(j n/b)), then mod n."""
    out = []
    for j in range(b):
        v = Fraction(k) + Fraction(j * n, b)
        fl = v.numerator // v.denominator
        frac = v - fl
        r = fl if fixed or frac < Fraction(1, 2) else fl + 1 if frac > Fraction(1, 2) else fl + fl % 2
        out.append((r - 1) % n + 1)
    return out


def integer_rule(n, b, *, fixed=False):
    """:func:`exact_rule` for every k at once, in integers: k + j n/b = (k b + j n)/b exactly."""
    k, j = np.arange(1, n + 1)[:, None], np.arange(b)[None, :]
    fl, rem = np.divmod(k * b + j * n, b)
    r = fl if fixed else fl + np.where(2 * rem > b, 1, np.where(2 * rem < b, 0, fl % 2))
    return (r - 1) % n + 1


# ================================================================================ the count rule
def test_counts_equal_the_torch_oracle_table_everywhere():
    table = json.loads((DATA / "llada_mask_counts.json").read_text())["counts"]
    assert len(table) == 64 * 7
    for key, rows in table.items():
        n, b = map(int, key.split(","))
        np.testing.assert_array_equal(llada.llada_counts(n, b), np.array(rows), err_msg=key)


def test_counts_equal_torch_float32_for_every_batch_size_up_to_64():
    """All b ≤ 64: the exact-rational rule except where torch's float32 linspace lands off a half."""
    exc = json.loads((DATA / "llada_float32_exceptions.json").read_text())["exceptions"]
    patch = {}
    for n, b, k, j, c in exc:
        patch.setdefault((n, b), []).append((k, j, c))
    assert sum(map(len, patch.values())) == 3302
    for n in range(1, 65):
        for b in range(1, 65):
            want = integer_rule(n, b)
            for k, j, c in patch.get((n, b), []):
                want[k - 1, j] = c
            np.testing.assert_array_equal(llada.llada_counts(n, b), want, err_msg=f"n={n}, b={b}")


def test_integer_twin_equals_the_rational_rule():
    for n, b in [(1, 1), (2, 4), (5, 6), (8, 16), (13, 40), (64, 64)]:
        ks = range(1, n + 1)
        assert np.array_equal(integer_rule(n, b), [exact_rule(n, b, k) for k in ks])
        assert np.array_equal(integer_rule(n, b, fixed=True), [exact_rule(n, b, k, fixed=True) for k in ks])


def test_fixed_rule_is_the_integer_rule_and_uniform_for_every_n_b():
    for n in range(1, 65):
        for b in range(1, 65):
            x = llada.llada_counts(n, b, rule="fixed")
            assert np.array_equal(x, integer_rule(n, b, fixed=True))
            # every column is a permutation of 1..n: each row's count is uniform
            assert np.array_equal(np.sort(x, axis=0), np.broadcast_to(np.arange(1, n + 1)[:, None], x.shape))


def test_which_count_laws_are_not_uniform():
    grid = [(n, b) for n in range(1, 65) for b in (1, 2, 4, 8, 16, 32, 64)]
    bad = [(n, b) for n, b in grid if np.abs(llada.count_deviation(n, b)).max() > 1e-12]
    assert len(bad) == 315
    assert {n for n, b in bad if b == 16} == {n for n in range(2, 65) if n % 16}
    assert np.abs(llada.count_deviation(9, 16)).max() == pytest.approx(1 / 16, abs=1e-14)
    assert np.abs(llada.count_deviation(24, 16)).max() == pytest.approx(1 / 2, abs=1e-14)
    # per row: a row whose j n/b ends in ½ only ever gets even k + j n/b ± ½
    w = llada.count_law(8, 16)
    assert np.allclose(w[1], np.tile([0.0, 0.25], 4))


def test_sign_of_the_bias_for_increasing_per_token_losses():
    """Σ δ(m) ℓ_m ≥ 0 for every nondecreasing ℓ iff every tail sum Σ_{m≥t} δ(m) ≥ 0 (Abel summation)."""
    kinds = {"up": 0, "down": 0, "mixed": 0}
    for n in range(1, 65):
        for b in range(1, 65):
            d = llada.count_deviation(n, b)
            if np.abs(d).max() < 1e-12:
                continue
            tail = np.cumsum(d[::-1])[::-1]
            kinds["up" if (tail > -1e-12).all() else "down" if (tail < 1e-12).all() else "mixed"] += 1
    assert kinds == {"up": 380, "down": 925, "mixed": 24}
    assert np.all(np.cumsum(llada.count_deviation(24, 16)[::-1]) > -1e-12)  # n ≡ 8 (mod 16): upward


def test_count_law_sums_and_deviation_sum_to_zero():
    for n, b in [(1, 1), (3, 7), (8, 16), (13, 64)]:
        w = llada.count_law(n, b)
        assert w.shape == (b, n) and np.allclose(w.sum(axis=1), 1.0)
        assert abs(llada.count_deviation(n, b).sum()) < 1e-12


# ================================================================================ exact moments
def brute_batch(A, n, b, *, fixed=False):
    """E and Var of one batch mean by enumerating k and every tuple of row masks (no formula)."""
    masks = {m: [M for M in range(1 << n) if bin(M).count("1") == m] for m in range(1, n + 1)}
    first = second = 0.0
    for k in range(1, n + 1):
        counts = exact_rule(n, b, k, fixed=fixed)
        tuples = list(itertools.product(*[masks[c] for c in counts]))
        vals = np.array([np.mean([n / c * A[M] for c, M in zip(counts, t)]) for t in tuples])
        first += vals.mean() / n
        second += (vals**2).mean() / n
    return first, second - first**2


@pytest.mark.parametrize("n,b", [(2, 4), (3, 2), (3, 3), (4, 2), (4, 3), (2, 6)])
@pytest.mark.parametrize("fixed", [False, True])
def test_batch_moments_equal_brute_force(n, b, fixed):
    rng = np.random.default_rng([n, b])
    A = np.concatenate([[0.0], rng.exponential(size=(1 << n) - 1)])
    mean, var = brute_batch(A, n, b, fixed=fixed)
    got = llada.llada_moments(A, batch_size=b, mc_num=3 * b, rule="fixed" if fixed else "llada")
    assert abs(got.mean - mean) <= 1e-12 and abs(got.batch_variance - var) <= 1e-12
    assert got.variance_of_mean == pytest.approx(var / 3, rel=1e-12)
    assert abs(got.bias - (mean - masks.imdce_sum(A))) <= 1e-12
    if fixed:
        assert abs(got.bias) <= 1e-12


@pytest.mark.parametrize("n,b", [(3, 2), (4, 2), (3, 4), (4, 6), (2, 3), (1, 3)])
def test_balanced_remainder_moments_equal_brute_force(n, b):
    """Every r-subset of remainder counts, then every tuple of row masks: no formula."""
    rng = np.random.default_rng([n, b, 1])
    A = np.concatenate([[0.0], rng.exponential(size=(1 << n) - 1)])
    masks = {m: [M for M in range(1 << n) if bin(M).count("1") == m] for m in range(1, n + 1)}
    q, r = divmod(b, n)
    subsets = list(itertools.combinations(range(1, n + 1), r))
    first = second = 0.0
    for extra in subsets:
        counts = [m for m in range(1, n + 1) for _ in range(q)] + list(extra)
        vals = np.array(
            [np.mean([n / c * A[M] for c, M in zip(counts, t)]) for t in itertools.product(*[masks[c] for c in counts])]
        )
        first += vals.mean() / len(subsets)
        second += (vals**2).mean() / len(subsets)
    got = llada.balanced_moments(A, batch_size=b, mc_num=2 * b)
    assert abs(got.mean - first) <= 1e-12 and abs(got.bias) <= 1e-12
    assert abs(got.batch_variance - (second - first**2)) <= 1e-12
    assert got.variance_of_mean == pytest.approx(got.batch_variance / 2, rel=1e-14)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), b=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_bias_formula_equals_mean_minus_nll(n, b, seed):
    mu = np.cumsum(np.random.default_rng(seed).exponential(size=n))  # any per-count means
    s = llada.LevelStats(mu)
    m = llada.llada_moments(s, batch_size=b, mc_num=b)
    direct = m.mean - float(s.nll)
    assert abs(m.bias - direct) <= 1e-12 * max(1.0, abs(m.mean))
    assert abs(m.bias - llada.llada_bias(mu, b)) <= 1e-13 * max(1.0, abs(m.mean))
    assert m.batch_variance is None and m.variance_of_mean is None


def test_constant_per_token_loss_means_no_bias():
    mu = 0.7 * np.arange(1, 12)
    assert all(abs(llada.llada_bias(mu, b)) < 1e-12 for b in range(1, 65))


def test_d128_bias_at_the_defaults():
    p = dna128()
    A = mask_dce.optimal_mask_dce(p, p.support)
    nll = p.nll(p.support)
    bias = np.array([m.bias for m in llada.llada_moments(A, reference=nll)])
    assert bias.min() == pytest.approx(0.27827, abs=1e-5) and bias.max() == pytest.approx(0.44838, abs=1e-5)
    assert bias.mean() == pytest.approx(0.36080, abs=1e-5)
    for b in (1, 2, 4, 8):
        assert max(abs(m.bias) for m in llada.llada_moments(A, batch_size=b, reference=nll)) < 1e-12


def test_bad_arguments():
    with pytest.raises(ValueError, match="`rule`"):
        llada.llada_counts(4, 2, rule="torch")
    with pytest.raises(ValueError, match="`mc_num`"):
        llada.llada_moments(llada.LevelStats(np.ones(3)), batch_size=16, mc_num=8)
    with pytest.raises(ValueError, match="`batch_size`"):
        llada.llada_counts(4, 0)
    with pytest.raises(ValueError, match="`k`"):
        llada.llada_counts(4, 2, k=[5])
    p = dna128()
    with pytest.raises(ValueError, match="multiple of `batch_size`"):
        estimators.estimate("llada_stratified", OptimalDenoiser(p), p.support[0], n_samples=100, batch_size=16)


# ================================================================================ Monte Carlo
@pytest.mark.parametrize("name", ["llada_stratified", "llada_stratified_fixed"])
def test_monte_carlo_mean_within_5_standard_errors(name):
    p = dna128()
    rule = "llada" if name == "llada_stratified" else "fixed"
    for idx in (0, 17):
        x0 = p.support[idx]
        exact = llada.llada_moments(mask_dce.optimal_mask_dce(p, x0), rule=rule)
        est = estimators.estimate(name, OptimalDenoiser(p), x0, n_samples=16 * 4000, batch_size=16, rng=idx)
        assert est.estimator == name
        assert abs(est.mean - exact.mean) < 5 * est.stderr
        # the batch-mean standard error agrees with the exact Var Ḡ / R
        assert est.stderr == pytest.approx(np.sqrt(exact.batch_variance / 4000), rel=0.1)
    if rule == "llada":
        assert exact.bias > 0.25 and abs(est.mean - p.nll(x0)) > 20 * est.stderr


def test_monte_carlo_conditional_mk4_pair():
    chain = markov4()
    prompt, answer = sample_pair(chain, prompt_length=8, response_length=6, rng=5)
    x = np.concatenate([prompt, answer])
    target, context = list(range(8, 14)), list(range(8))
    A = conditional.conditional_mask_dce(chain, x, target=target, context=context)
    truth = conditional.conditional_nll(chain, x, target=target, context=context)
    exact = llada.llada_moments(A, batch_size=4, reference=truth)
    est = conditional.conditional_estimate(
        chain,
        x,
        estimator="llada_stratified",
        n_samples=4 * 8000,
        rng=1,
        target=target,
        context=context,
        table=A,
        batch_size=4,
    )
    assert abs(est.mean - exact.mean) < 5 * est.stderr
    assert abs(exact.bias - (exact.mean - truth)) < 1e-12 and exact.bias != 0.0


def test_same_seed_same_bits():
    p = dna128()
    a = estimators.estimate(
        "llada_stratified", OptimalDenoiser(p), p.support[3], n_samples=64, rng=9, return_values=True
    )
    b = estimators.estimate(
        "llada_stratified", OptimalDenoiser(p), p.support[3], n_samples=64, rng=9, return_values=True
    )
    assert np.array_equal(a.values, b.values) and a.n_samples == 64


# ======================================================================= first-order chain losses
@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_markov1_level_means_equal_forward_backward(n):
    chain = MarkovChain.from_softmax(4, 1, rng=n)
    x = chain.sample(3 + n, rng=np.random.default_rng(n))
    target, context = list(range(3, 3 + n)), list(range(3))
    A = conditional.conditional_mask_dce(chain, x, target=target, context=context)
    got = llada.markov1_level_means(chain.table, x[3:], left=x[2])
    np.testing.assert_allclose(got, llada.level_stats(A).mean, rtol=0, atol=1e-12)
    truth = conditional.conditional_nll(chain, x, target=target, context=context)
    assert abs(float(llada.LevelStats(got).nll) - truth) < 1e-12


def test_markov1_long_answer_is_the_chain_rule_nll():
    chain = MarkovChain.from_softmax(4, 1, rng=0)
    y = chain.sample(64, start=[2], rng=np.random.default_rng(1))
    mu = llada.markov1_level_means(chain.table, y, left=2)
    assert abs(float(llada.LevelStats(mu).nll) - chain.nll(y, start=[2])) < 1e-10
    assert abs(llada.llada_bias(mu, 16)) < 1e-12  # 64 is a multiple of 16
    mu56 = llada.markov1_level_means(chain.table, y[:56], left=2)  # 56 ≡ 8 (mod 16): half the rows skip odd counts
    assert llada.llada_bias(mu56, 16) > 0


def test_dna128_like_level_stats_match_the_denoiser_route():
    p = dna128_like(3, n_sequences=16, length=5)
    x0 = p.support[2]
    fast = llada.level_stats(mask_dce.optimal_mask_dce(p, x0))
    slow = llada.level_stats(mask_dce.mask_dce_table(OptimalDenoiser(p), x0))
    np.testing.assert_allclose(fast.mean, slow.mean, atol=1e-12)
    np.testing.assert_allclose(fast.second, slow.second, atol=1e-12)


# ==================================================================== the first-order stand-in
def test_first_order_projection_keeps_bigrams():
    mk = markov4()
    p1 = llada.first_order_projection(mk)
    pair = np.zeros((4, 4))
    for c in range(256):
        pair[c % 4] += mk.stationary[c] * mk.table[c]
    assert np.allclose(p1.stationary[:, None] * p1.table, pair, atol=1e-14)


# ========================================================================================= CLI
def test_cli_estimate_and_nll_json(tmp_path):
    from ctmc_lab.cli import main

    p = dna128()
    x0 = p.support[5]
    seq = p.decode(x0)
    out = tmp_path / "e.json"
    assert (
        main(
            [
                "estimate",
                "--estimator",
                "llada_stratified",
                "--dist",
                "dna128",
                "--sequence",
                seq,
                "--samples",
                str(16 * 2000),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    rec = json.loads(out.read_text())
    assert rec["batch_size"] == 16
    exact = llada.llada_moments(mask_dce.optimal_mask_dce(p, x0), mc_num=16 * 2000, reference=p.nll(x0))
    got = rec["sequences"][0]
    assert abs(got["estimate"] - exact.mean) < 5 * got["stderr"]
    assert got["stderr"] == pytest.approx(np.sqrt(exact.variance_of_mean), rel=0.15)
    assert main(["nll", "--dist", "dna128", "--sequence", seq, "--json", str(out)]) == 0
    est = json.loads(out.read_text())["sequences"][0]["estimators"]
    ref = llada.llada_moments(mask_dce.optimal_mask_dce(p, x0), reference=p.nll(x0))
    assert est["llada_stratified"]["bias"] == pytest.approx(ref.bias, abs=1e-12) and ref.bias > 0.2
    assert est["llada_stratified"]["variance_of_mean"] == pytest.approx(ref.variance_of_mean, rel=1e-12)
    assert est["llada_stratified"]["variance"] == pytest.approx(16 * ref.batch_variance, rel=1e-12)
    assert abs(est["llada_stratified_fixed"]["bias"]) < 1e-12
    assert (
        main(["estimate", "--estimator", "llada_stratified", "--dist", "dna128", "--sequence", seq, "--samples", "100"])
        == 2
    )


def test_estimator_moments_names_llada():
    p = dna128()
    A = mask_dce.optimal_mask_dce(p, p.support[:3])
    nll = p.nll(p.support[:3])
    got = moments.estimator_moments(A, "llada_stratified", reference=nll)
    ref = llada.llada_moments(A, reference=nll)
    for g, r in zip(got, ref):
        assert g.mean == r.mean and abs(g.bias - r.bias) < 1e-12
        assert g.variance == pytest.approx(16 * r.batch_variance, rel=1e-14)
    assert all(abs(m.bias) < 1e-12 for m in moments.estimator_moments(A, "llada_stratified_fixed", reference=nll))
