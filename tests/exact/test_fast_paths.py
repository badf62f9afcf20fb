"""Every optimised path against its naive twin, to 1e-12 (the benchmarks time them; this checks them).

The fast paths: the cache-blocked absorbing marginal (W3), the wide-GEMM axis steps and the
leave-one-out contractions behind the factored mdse and kl_rate (W2, W4), and the time-free
sum read off the subset table (W1). The twins are the plain per-axis sweeps, the original
L^2 contractions, the ``contract``/``enumerate`` mdse and the denoiser route. No timings here.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.exact import decompositions, information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import (
    NoisedDistribution,
    absorbing_marginal,
    apply_along_axes,
    leave_one_out,
    token_kernel,
)
from ctmc_lab.sequences import flat_index
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import OptimalDenoiser
from ctmc_lab.testing.strategies import budget, distributions, noise_levels
from tests.strategies import any_generator

TOL = 1e-12


def _einsum_axis(tensor, K, ax):
    """The textbook twin of one axis step: moveaxis, contract, move back."""
    moved = np.moveaxis(tensor, ax, 0)
    return np.moveaxis(np.tensordot(K, moved, axes=([1], [0])), 0, ax)


def _close(a, b, tol=TOL):
    """|a - b| <= tol * max(1, |b|) elementwise, with equal infinities."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isinf(a), np.isinf(b)) and np.array_equal(a[np.isinf(a)], b[np.isinf(b)])
    fin = np.isfinite(b)
    scale = np.maximum(1.0, np.abs(b[fin]))
    assert np.all(np.abs(a[fin] - b[fin]) <= tol * scale), np.max(np.abs(a[fin] - b[fin]) / scale)


# ------------------------------------------------------------------- W3: absorbing marginal
@budget(60)
@given(
    n=st.integers(1, 4),
    length=st.integers(1, 6),
    s=st.sampled_from([0.0, 1e-9, 0.3, 2.0, 40.0, 200.0]),
    block=st.sampled_from([1, 7, 30, 1 << 19]),
    seed=st.integers(0, 2**32 - 1),
)
def test_absorbing_marginal_matches_generic_sweep(n, length, s, block, seed):
    if (n + 1) ** length > 20_000:
        length = 3
    rng = np.random.default_rng(seed)
    T = rng.dirichlet(np.ones(n**length)).reshape((n,) * length)
    K = token_kernel(generators.absorbing(n), s)[:, :n]
    twin = T
    for ax in range(length):
        twin = _einsum_axis(twin, K, ax)
    got = absorbing_marginal(T, s, block=block)
    assert got.shape == (n + 1,) * length
    np.testing.assert_allclose(got, twin, rtol=0, atol=TOL)
    # Into a caller's buffer: the same values, and the buffer is what comes back.
    buf = np.full((n + 1,) * length, np.nan)
    assert absorbing_marginal(T, s, out=buf, block=block) is buf
    np.testing.assert_array_equal(buf, got)


@pytest.mark.parametrize("s", [0.8, 90.0], ids=["deferred-scaling", "direct-weights"])
@pytest.mark.parametrize(("n", "length", "block"), [(4, 8, 5**6), (4, 8, 5**5), (3, 9, 4**6), (2, 12, 3**7)])
def test_absorbing_marginal_leading_axes_in_place(n, length, block, s):
    """Sizes where the leading axes' intermediates live inside `out` (the W3 layout), with
    the deferred e^{-sL} scaling (s L <= 600) and with the direct weights (s L > 600)."""
    T = np.random.default_rng(length).dirichlet(np.ones(n**length)).reshape((n,) * length)
    K = token_kernel(generators.absorbing(n), s)[:, :n]
    twin = T
    for ax in range(length):
        twin = _einsum_axis(twin, K, ax)
    np.testing.assert_allclose(absorbing_marginal(T, s, block=block), twin, rtol=0, atol=TOL)
    buf = np.full((n + 1,) * length, np.nan)
    np.testing.assert_allclose(absorbing_marginal(T, s, out=buf, block=block), twin, rtol=0, atol=TOL)


def test_absorbing_marginal_closed_form_entries():
    """p_λ(x) = (1-λ)^|U| λ^(L-|U|) P0(x^U) on the unmasked set U (§1.4), checked entry by entry."""
    p = datasets.dirichlet(3, 4, rng=3, support_size=40)
    lam = 0.37
    s = -np.log1p(-lam)
    got = absorbing_marginal(p.dense(), s)
    for x in np.ndindex(*got.shape):
        x = np.array(x)
        vis = x < 3
        expected = (1 - lam) ** vis.sum() * lam ** (~vis).sum() * p.marginal(np.where(vis, x, 0), vis)
        assert got[tuple(x)] == pytest.approx(expected, abs=TOL)


def test_noised_absorbing_uses_the_same_values_as_expm():
    p = datasets.dna128()
    for s in (0.05, 0.7, 6.0):
        closed = NoisedDistribution.at_noise_level(p, generators.absorbing(4), s)
        generic = NoisedDistribution.at_noise_level(p, generators.absorbing(4), s, method="expm")
        np.testing.assert_allclose(closed.p, generic.p, rtol=0, atol=TOL)


def test_absorbing_marginal_rejects_bad_input():
    with pytest.raises(ValueError, match="`s`"):
        absorbing_marginal(np.ones((2, 2)), -1.0)
    with pytest.raises(ValueError, match="`s`"):
        absorbing_marginal(np.ones((2, 2)), np.nan)
    with pytest.raises(ValueError, match="`tensor`"):
        absorbing_marginal(np.ones((2, 3)), 0.1)
    with pytest.raises(ValueError, match="`out`"):
        absorbing_marginal(np.ones((2, 2)), 0.1, out=np.empty((2, 2)))


# ------------------------------------------------------------- axis steps and leave-one-out
@pytest.mark.parametrize("shape", [(4, 4, 4, 4), (3, 5, 2, 4, 3), (16, 1, 4), (2,) * 9], ids=str)
def test_apply_along_axes_every_axis_matches_tensordot(shape):
    """Covers the wide-GEMM path (trailing size 1..4) and the batched matmul path."""
    rng = np.random.default_rng(len(shape))
    T = rng.random(shape)
    for ax in range(len(shape)):
        K = rng.random((3, shape[ax]))
        np.testing.assert_allclose(apply_along_axes(T, K, axes=[ax]), _einsum_axis(T, K, ax), rtol=TOL, atol=0)


@given(n=st.integers(1, 4), n_out=st.integers(1, 5), length=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_leave_one_out_matches_direct_contractions(n, n_out, length, seed):
    rng = np.random.default_rng(seed)
    T = rng.random((n,) * length)
    K = rng.random((n_out, n))
    got = dict(leave_one_out(T, K))
    assert sorted(got) == list(range(length))
    for i in range(length):
        twin = T
        for j in range(length):
            if j != i:
                twin = _einsum_axis(twin, K, j)
        np.testing.assert_allclose(got[i], twin, rtol=TOL, atol=0)


# ----------------------------------------------------------------- mdse and kl_rate (W2, W4)
def _kl_rate_twin(noised, x0):
    """kl_rate with the original L^2 contractions (one full expectation per position)."""
    Q, K = noised.generator.Q, noised.K
    n = noised.dist.n_tokens
    QK = (Q @ K)[:, :n]
    Kc = noised.clean_kernel
    idx = flat_index(x0, n)
    first = information._self_term(QK, Kc, x0)
    for i in range(noised.dist.length):
        first = first - noised.expect_over_start(noised.log_p, kernels={i: QK}).reshape(-1)[idx]
    drift = sum(apply_along_axes(noised.p, Q, axes=[i]) for i in range(noised.dist.length))
    ratio = np.divide(drift, noised.p, out=np.zeros_like(drift), where=noised.p > 0)
    second = noised.expect_over_start(ratio).reshape(-1)[idx]
    unreachable = noised.unreachable_mass(x0) > 0
    return np.where(unreachable, -np.inf, first - second)


@budget(40)
@given(distributions(), st.data(), noise_levels(1e-8, 6.0))
def test_factored_mdse_and_fast_kl_rate_match_their_twins(p, data, s):
    gen = data.draw(any_generator(p.n_tokens))
    noised = NoisedDistribution.at_noise_level(p, gen, s)
    x0 = p.support
    contract = scores.mdse(noised, x0, method="contract")
    _close(scores.mdse(noised, x0, method="factored"), contract)
    _close(scores.mdse(noised, x0, method="enumerate"), contract)
    _close(information.kl_rate(noised, x0), _kl_rate_twin(noised, x0))


def test_factored_mdse_on_d128_all_generators():
    p = datasets.dna128()
    x0 = p.support
    rng = np.random.default_rng(5)
    R = rng.random((4, 4)) * (1 - np.eye(4))
    for gen in (generators.uniform(4), generators.absorbing(4), generators.custom(R - np.diag(R.sum(0)))):
        noised = NoisedDistribution.at_noise_level(p, gen, 0.45)
        _close(scores.mdse(noised, x0, method="factored"), scores.mdse(noised, x0, method="contract"))
        _close(information.kl_rate(noised, x0), _kl_rate_twin(noised, x0))


def test_full_support_imdse_check_small_length():
    """The W4 check at a size the twins afford: kl_rate = -mdse (Thm 3.1), all 4^6 x0."""
    p = datasets.dirichlet(4, 6, rng=6)
    noised = NoisedDistribution.at_noise_level(p, generators.uniform(4), 0.5)
    x0 = p.support
    m = scores.mdse(noised, x0, method="factored")
    _close(m, scores.mdse(noised, x0, method="contract"))
    np.testing.assert_allclose(information.kl_rate(noised, x0), -m, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- time-free (W1)
def test_time_free_subset_matches_denoiser_route_on_d128():
    p = datasets.dna128()
    x0 = p.support
    fast = decompositions.time_free_exact(p, x0, method="subset")
    _close(fast, decompositions.time_free_exact(p, x0, method="denoiser"))
    _close(decompositions.time_free_exact(OptimalDenoiser(p), x0, method="subset"), fast)
    np.testing.assert_allclose(fast, p.nll(x0), rtol=0, atol=TOL)


@given(distributions(max_length=5), st.data())
def test_time_free_subset_matches_denoiser_route(p, data):
    rows = data.draw(
        st.lists(st.lists(st.integers(0, p.n_tokens - 1), min_size=p.length, max_size=p.length), min_size=1, max_size=4)
    )
    x0 = np.vstack([p.support[:3], np.array(rows)])
    fast = decompositions.time_free_exact(p, x0, method="subset")
    _close(fast, decompositions.time_free_exact(p, x0, method="denoiser"))
    _close(fast, p.nll(x0))  # inf outside the support, -log p0 inside


def test_time_free_subset_needs_a_joint_distribution():
    chain_like = OptimalDenoiser(datasets.dna128())
    chain_like.source = object()  # not a JointDistribution: no subset table
    with pytest.raises(ValueError, match="subset"):
        decompositions.time_free_exact(chain_like, datasets.dna128().support[:1], method="subset")
    with pytest.raises(ValueError, match="method"):
        decompositions.time_free_exact(datasets.dna128(), datasets.dna128().support[:1], method="fast")


# ------------------------------------------------------------------------ the bench runner
def test_bench_runner_writes_the_results_schema(tmp_path, capsys):
    """``ctmc-lab bench --only W1`` prints the table and writes the issue's JSON fields
    (no timing is asserted: the numbers belong to the machine)."""
    import argparse
    import json

    from ctmc_lab.cli import bench

    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "results.json"
    args = parser.parse_args(["bench", "--only", "w1", "--repeats", "1", "--output", str(out)])
    assert args.func(args) == 0
    assert "W1" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert {"cpu_count", "numpy", "load_average_start"} <= set(doc["machine"])
    (row,) = doc["workloads"]
    assert {"id", "name", "median_s", "peak_mib", "target", "ratio_vs_naive", "ratio_vs_bound", "met"} <= set(row)
    assert row["id"] == "W1" and row["median_s"] > 0 and isinstance(row["met"], bool)
    assert row["details"]["max_abs_error"] <= TOL
    bad = parser.parse_args(["bench", "--only", "W99", "--output", "-"])
    with pytest.raises(ValueError, match="W99"):
        bad.func(bad)
