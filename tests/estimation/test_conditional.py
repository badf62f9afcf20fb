"""Conditional likelihood (Thm 4.2, Cor. 4.3), the coupled log-ratio and the Fig. 1b protocol.

References are computed here from the definitions: marginals summed over the support with
explicit position masks, conditionals as ratios of those marginals, and Cor. 4.3's weights
as p(J) = B(n-|J|, |J|+1)/H_n over J ⊊ I1, one mask at a time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.cli.markov_protocol import run_protocol
from ctmc_lab.cli.specs import is_markov_spec, load_markov
from ctmc_lab.estimation.conditional import (
    conditional_estimate,
    conditional_likelihood,
    conditional_log_ratio,
    conditional_mask_dce,
    conditional_nll,
    model_likelihood,
    split_positions,
    theorem42_integral,
)
from ctmc_lab.masks import imdce_sum
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser, TemperedDenoiser
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies.protocol import run_protocol as protocol_run
from ctmc_lab.testing.strategies import budget


# ------------------------------------------------------------------------------ references
def marginal(dist, x, visible):
    """P0(x^U) by summing the support with an explicit agreement mask."""
    agree = np.all((dist.support == x) | ~np.asarray(visible), axis=1)
    return float(dist.probs[agree].sum())


def _beta(a, b):
    return math.gamma(a) * math.gamma(b) / math.gamma(a + b)


def brute_cor43(dist, x, target, context):
    """(true NLL, H_n E_J[Σ_{i∈I1∖J} -log p(x^i | x^{J∪I2})]) by loops over J ⊊ I1."""
    length = dist.length
    n = len(target)
    ctx_vis = np.isin(np.arange(length), context)
    tgt_vis = ctx_vis | np.isin(np.arange(length), target)
    true = -math.log(marginal(dist, x, tgt_vis)) + math.log(marginal(dist, x, ctx_vis))
    h_n = sum(1.0 / j for j in range(1, n + 1))
    total = 0.0
    for k in range(n):
        for J in itertools.combinations(target, k):
            vis = ctx_vis.copy()
            vis[list(J)] = True
            base = marginal(dist, x, vis)
            s = 0.0
            for i in set(target) - set(J):
                v2 = vis.copy()
                v2[i] = True
                s -= math.log(marginal(dist, x, v2) / base)
            total += _beta(n - k, k + 1) / h_n * s
    return true, h_n * total


# ------------------------------------------------------------------------ JointDistribution
@pytest.mark.parametrize(
    "target, context",
    [([0, 1, 2, 3, 4, 5, 6, 7], []), ([0, 2, 5], [1, 7]), ([3, 4], [0, 1, 2, 5, 6, 7]), ([6], [])],
)
def test_cor43_on_dna128_with_marginalised_positions(target, context):
    p = datasets.dna128()
    for x in p.support[[0, 17, 99]]:
        r = conditional_likelihood(p, x, target=target, context=context)
        true, tf = brute_cor43(p, x, target, context)
        assert r.split.n == len(target) and abs(r.harmonic - sum(1 / j for j in range(1, len(target) + 1))) < 1e-15
        assert abs(r.true_nll - true) <= 1e-12
        assert abs(r.time_free_exact - true) <= 1e-12 and abs(tf - true) <= 1e-12
        assert abs(theorem42_integral(r.mask_dce) - true) <= 1e-10
        den = conditional_mask_dce(p, x, target=target, context=context, method="denoiser")
        assert np.max(np.abs(den - r.mask_dce)) <= 1e-12


def test_harmonic_of_target_length_not_sequence_length():
    p = datasets.dna128()
    x = p.support[5]
    target, context = [2, 3, 4, 5], [0, 7]  # 1 and 6 marginalised
    r = conditional_likelihood(p, x, target=target, context=context)
    assert r.true_nll > 1.0
    # Negative control: the paper's weights with H_L (L = 8) instead of H_n (n = 4) miss.
    est = conditional_estimate(p, x, n_samples=4000, rng=0, target=target, context=context, return_values=True)
    values = np.unique(np.round(est.values / r.harmonic, 12))
    assert np.all(np.isin(values, np.round(r.mask_dce, 12)))
    wrong = est.mean * (sum(1 / j for j in range(1, 9)) / r.harmonic)
    assert abs(est.mean - r.true_nll) < 5 * est.stderr < abs(wrong - r.true_nll)


def test_marginalised_is_not_conditioned_on():
    p = datasets.dna128()
    x = p.support[11]
    # Marginalising positions 4..7 differs from conditioning on them (a control).
    marg = conditional_nll(p, x, target=[0, 1], context=[2, 3])
    cond = conditional_nll(p, x, target=[0, 1], context=[2, 3, 4, 5, 6, 7])
    assert abs(marg - cond) > 1e-3
    assert split_positions(8, [0, 1], [2, 3]).marginalised == (4, 5, 6, 7)


@budget(30, deadline=None)
@given(
    n_tokens=st.integers(2, 3),
    length=st.integers(2, 5),
    seed=st.integers(0, 2**31),
    roles=st.lists(st.sampled_from("tcr"), min_size=5, max_size=5),
)
def test_cor43_property_random_distributions(n_tokens, length, seed, roles):
    if n_tokens**length > 256:
        n_tokens = 2
    rng = np.random.default_rng(seed)
    p = datasets.dirichlet(n_tokens, length, alpha=0.5, rng=rng)
    roles = roles[:length]
    target = [i for i, r in enumerate(roles) if r == "t"] or [0]
    context = [i for i, r in enumerate(roles) if r == "c" and i not in target]
    x = p.support[rng.integers(p.support_size)]
    r = conditional_likelihood(p, x, target=target, context=context)
    true, tf = brute_cor43(p, x, target, context)
    assert abs(r.true_nll - true) <= 1e-12 * max(1.0, abs(true))
    assert abs(r.time_free_exact - true) <= 1e-12 * max(1.0, abs(true))
    assert abs(theorem42_integral(r.mask_dce) - true) <= 1e-10 * max(1.0, abs(true))


# ------------------------------------------------------------------------------- Markov
@pytest.mark.parametrize("order, n", [(1, 3), (2, 2), (3, 2), (4, 4)])
def test_markov_conditional_methods_agree_with_brute_force(order, n):
    rng = np.random.default_rng(order)
    chain = MarkovChain.from_dirichlet(n, order, alpha=0.5, rng=rng)
    length = 6
    joint = chain.joint(length)
    x = joint.support[rng.choice(joint.support_size, p=joint.probs)]
    target, context = [1, 3, 4], [0, 5]  # position 2 marginalised
    true, tf = brute_cor43(joint, x, target, context)
    tables = {}
    for method in ("forward_backward", "subset", "denoiser"):
        r = conditional_likelihood(chain, x, target=target, context=context, method=method)
        assert abs(r.true_nll - true) <= 1e-12 and abs(r.time_free_exact - true) <= 1e-12
        tables[method] = r.mask_dce
    ref = conditional_mask_dce(joint, x, target=target, context=context)
    for table in tables.values():
        assert np.max(np.abs(table - ref)) <= 1e-12
    assert abs(tf - true) <= 1e-12


@budget(25, deadline=None)
@given(
    order=st.integers(1, 3),
    n=st.integers(2, 3),
    length=st.integers(2, 6),
    seed=st.integers(0, 2**31),
    roles=st.lists(st.sampled_from("tcr"), min_size=6, max_size=6),
    use_start=st.booleans(),
)
def test_markov_conditional_property(order, n, length, seed, roles, use_start):
    if n**length > 256:
        n = 2
    rng = np.random.default_rng(seed)
    chain = MarkovChain.from_dirichlet(n, order, alpha=0.7, rng=rng)
    start = rng.integers(0, n, size=order) if use_start else None
    joint = chain.joint(length, start=start)  # the core JointDistribution as the twin
    x = joint.support[rng.choice(joint.support_size, p=joint.probs)]
    roles = roles[:length]
    target = [i for i, r in enumerate(roles) if r == "t"] or [length - 1]
    context = [i for i, r in enumerate(roles) if r == "c" and i not in target]
    true, _ = brute_cor43(joint, x, target, context)
    r = conditional_likelihood(chain, x, target=target, context=context, start=start)
    assert abs(r.true_nll - true) <= 1e-12 * max(1.0, true)
    assert abs(r.time_free_exact - true) <= 1e-12 * max(1.0, true)
    ref = conditional_mask_dce(joint, x, target=target, context=context)
    assert np.max(np.abs(r.mask_dce - ref)) <= 1e-12 * max(1.0, np.max(ref))


def test_markov_prompt_start_equals_stationary_window_with_prompt_context():
    mk = markov4()
    rng = np.random.default_rng(4)
    prompt = mk.sample(16, rng=rng)
    resp = mk.sample(10, start=prompt, rng=rng)
    x = np.concatenate([prompt, resp])
    a = conditional_likelihood(mk, x, target=range(16, 26), context=range(16))
    b = conditional_likelihood(mk, resp, start=prompt)
    chain_rule = -sum(math.log(mk.table[mk.context_index(x[j - 4 : j]), x[j]]) for j in range(16, 26))
    assert abs(a.true_nll - chain_rule) <= 1e-12 and abs(b.true_nll - chain_rule) <= 1e-12
    assert np.max(np.abs(a.mask_dce - b.mask_dce)) <= 1e-12
    assert abs(a.time_free_exact - chain_rule) <= 1e-12


def test_sixteen_token_response_all_masks():
    mk = markov4()
    rng = np.random.default_rng(5)
    prompt = mk.sample(16, rng=rng)
    resp = mk.sample(16, start=prompt, rng=rng)
    x = np.concatenate([prompt, resp])
    r = conditional_likelihood(mk, x, target=range(16, 32), context=range(16))
    assert r.mask_dce.shape == (65536,) and r.mask_dce[0] == 0.0
    assert abs(r.time_free_exact - mk.nll(resp, start=prompt)) <= 1e-9
    sub = conditional_mask_dce(mk, x, target=range(16, 32), context=range(16), method="subset")
    assert np.max(np.abs(sub - r.mask_dce)) <= 1e-11


def test_monte_carlo_routes_agree_and_cover_truth():
    mk = markov4()
    rng = np.random.default_rng(6)
    prompt = mk.sample(8, rng=rng)
    resp = mk.sample(8, start=prompt, rng=rng)
    x = np.concatenate([prompt, resp])
    opts = dict(target=range(8, 16), context=range(8))
    r = conditional_likelihood(mk, x, **opts)
    fast = conditional_estimate(mk, x, n_samples=3000, rng=1, table=r.mask_dce, **opts)
    slow = conditional_estimate(mk, x, n_samples=3000, rng=1, **opts)  # calls the denoiser
    assert abs(fast.mean - slow.mean) <= 1e-12 and abs(fast.stderr - slow.stderr) <= 1e-12
    assert abs(fast.mean - r.true_nll) < 5 * fast.stderr
    for name in ("k_dce", "rb_lambda_dce", "lambda_dce"):
        e = conditional_estimate(mk, x, estimator=name, n_samples=3000, rng=2, table=r.mask_dce, **opts)
        assert abs(e.mean - r.true_nll) < 5 * e.stderr or name == "lambda_dce"
    m = r.moments()
    assert m["lambda_dce"].variance_is_infinite and m["lambda_dce"].infinite_because == tuple(range(8, 16))
    assert abs(m["time_free"].bias) <= 1e-12 and m["omit_full_mask"].bias < 0


def test_exact_variance_matches_brute_force():
    mk = markov4()
    rng = np.random.default_rng(8)
    resp = mk.sample(5, start="ACGT", rng=rng)
    r = conditional_likelihood(mk, resp, start="ACGT")
    n = 5
    h = sum(1 / j for j in range(1, n + 1))
    second = 0.0
    for M in range(1, 1 << n):
        m = bin(M).count("1")
        second += _beta(m, n - m + 1) / h * (h * r.mask_dce[M]) ** 2
    var = second - r.true_nll**2
    assert abs(r.moments()["time_free"].variance - var) <= 1e-10 * var


# ------------------------------------------------------------------------------ log ratio
def test_coupled_and_decoupled_log_ratio():
    mk = markov4()
    rng = np.random.default_rng(10)
    prompt = mk.sample(8, rng=rng)
    y1, y2 = mk.sample(8, start=prompt, rng=rng), mk.sample(8, start=prompt, rng=rng)
    xp, xm = np.concatenate([prompt, y1]), np.concatenate([prompt, y2])
    opts = dict(target=range(8, 16), context=range(8))
    res = conditional_log_ratio(mk, xp, xm, n_samples=4000, rng=3, **opts)
    exact = mk.log_prob(y1, start=prompt) - mk.log_prob(y2, start=prompt)
    assert abs(res.exact - exact) <= 1e-12 and abs(res.time_free_exact - exact) <= 1e-12
    # Brute-force variances over the masks with p(M) = B(m, n-m+1)/H_n.
    Ap = conditional_likelihood(mk, xp, **opts).mask_dce
    Am = conditional_likelihood(mk, xm, **opts).mask_dce
    n = 8
    h = sum(1 / j for j in range(1, n + 1))
    P = np.array([_beta(bin(M).count("1"), n - bin(M).count("1") + 1) / h if M else 0.0 for M in range(1 << n)])
    d = h * (Am - Ap)
    var_c = P @ (d - P @ d) ** 2
    var_d = P @ (h * Ap - P @ (h * Ap)) ** 2 + P @ (h * Am - P @ (h * Am)) ** 2
    assert abs(res.moments.variance_coupled - var_c) <= 1e-10 * var_c
    assert abs(res.moments.variance_decoupled - var_d) <= 1e-10 * var_d
    for est in (res.coupled, res.decoupled):
        assert abs(est.mean - exact) < 5 * est.stderr
    with pytest.raises(ValueError, match="agree on the context"):
        conditional_log_ratio(mk, xp, np.concatenate([y2, y1]), **opts)


# ------------------------------------------------------------------------------ protocol
def test_protocol_quick():
    mk = markov4()
    res = protocol_run(mk, prompt_length=16, response_length=10, pairs=4, mc_samples=2048, seed=3)
    for p in res.pairs:
        prompt, resp = mk.alphabet.encode(p.prompt), mk.alphabet.encode(p.response)
        assert abs(p.true_nll - mk.nll(resp, start=prompt)) <= 1e-12
        assert abs(p.true_nll - p.time_free_exact) <= 1e-9
        assert abs(p.mc.mean - p.true_nll) < 5 * p.mc.stderr and p.mc.n_samples == 2048
        assert set(p.moments) == {
            "time_free",
            "k_dce",
            "rb_lambda_dce",
            "lambda_dce",
            "omit_full_mask",
            "omit_full_mask_token_mean",
        }
    # Seeded, and pair i does not depend on the number of pairs.
    again = protocol_run(mk, prompt_length=16, response_length=10, pairs=2, mc_samples=2048, seed=3)
    assert [(p.prompt, p.response, p.mc.mean) for p in again.pairs] == [
        (p.prompt, p.response, p.mc.mean) for p in res.pairs[:2]
    ]
    with pytest.raises(ValueError, match="prompt_length"):
        protocol_run(mk, prompt_length=3)


@pytest.mark.slow
def test_protocol_full_paper_settings():
    res = protocol_run(markov4(), prompt_length=16, response_length=16, pairs=64, seed=0)
    assert len(res.pairs) == 64 and res.max_residual <= 1e-9 and res.max_abs_z < 5


def test_cli_protocol_json(tmp_path, capsys):
    out = tmp_path / "p.json"
    args = argparse.Namespace(dist="markov4", prompt_length=16, response_length=8, pairs=2, seed=1, json=str(out))
    assert run_protocol(args) == 0
    assert "max |true - time-free exact|" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["distribution"]["name"] == "markov4"
    rec = data["pairs"][0]
    assert set(rec) == {
        "prompt",
        "response",
        "true_nll",
        "time_free_exact",
        "mc_estimate",
        "mc_stderr",
        "mc_samples",
        "estimators",
    }
    assert rec["mc_samples"] == 2**13 and abs(rec["true_nll"] - rec["time_free_exact"]) <= 1e-9
    lam = rec["estimators"]["lambda_dce"]
    assert lam["variance"] is None and lam["variance_is_infinite"] and lam["infinite_because"] == list(range(16, 24))
    assert set(rec["estimators"]["time_free"]) == {
        "mean",
        "bias",
        "variance",
        "variance_is_infinite",
        "infinite_because",
    }
    assert is_markov_spec("markov4") and is_markov_spec("markov:x.json") and not is_markov_spec("dna128")
    assert load_markov("markov4").order == 4


def test_input_validation():
    p = datasets.dna128()
    x = p.support[0]
    with pytest.raises(ValueError, match="disjoint"):
        conditional_likelihood(p, x, target=[0, 1], context=[1])
    with pytest.raises(ValueError, match="at least one"):
        conditional_likelihood(p, x, target=[], context=[0])
    with pytest.raises(ValueError, match="0..7"):
        conditional_likelihood(p, x, target=[8])
    with pytest.raises(ValueError, match="`method`"):
        conditional_likelihood(p, x, method="forward_backward")
    with pytest.raises(ValueError, match="MarkovChain source only"):
        conditional_nll(p, x, start="AAAA")
    with pytest.raises(ValueError, match="probability 0"):
        conditional_nll(p, p.encode("AAAAAAAA"), target=[0], context=[1, 2, 3, 4, 5, 6, 7])
    den = OptimalDenoiser(p)
    r = model_likelihood(den, x, target=[0, 1, 2])
    assert abs(r.true_nll - conditional_nll(p, x, target=[0, 1, 2])) <= 1e-12
    assert float(imdce_sum(r.mask_dce)) == r.time_free_exact


# ------------------------------------------------------------------ A(M) mask by mask, with a context
def brute_table(dist, x, target, context, *, model=None):
    """A(M) by definition, M ⊆ I1 by local bitmask: the sum over i ∈ M of -log c_i(x^i), where
    c_i(v) = P(x^i = v | x^{(I1∖M) ∪ I2}) from marginals of the support (positions outside
    I1 ∪ I2 are summed out), and ``model(row, v, i)`` turns that conditional row into the model's
    probability of v at position i (default: the row itself, c*)."""
    model = model or (lambda row, v, i: row[v])
    positions = np.arange(dist.length)
    out = np.zeros(1 << len(target))
    for local in range(1, 1 << len(target)):
        masked = [t for j, t in enumerate(target) if local >> j & 1]
        vis = np.isin(positions, context) | (np.isin(positions, target) & ~np.isin(positions, masked))
        base = marginal(dist, x, vis)
        for i in masked:
            row = np.array(
                [marginal(dist, np.where(positions == i, v, x), vis | (positions == i)) for v in range(dist.n_tokens)]
            )
            out[local] -= math.log(model(row / base, x[i], i))
    return out


@pytest.mark.parametrize("target, context", [([0, 2, 3], [4]), ([1, 4], [0, 2]), ([3], [0, 1, 2, 4])])
def test_conditional_table_with_a_context_mask_by_mask(target, context):
    """Each route's A(M) (subset tables, the optimal denoiser) against the definition: the
    context stays visible in every input, the marginalised positions are summed out."""
    p = datasets.dirichlet(3, 5, alpha=0.6, rng=4)
    x = p.support[17]
    want = brute_table(p, x, target, context)
    for method in ("subset", "denoiser"):
        got = conditional_mask_dce(p, x, target=target, context=context, method=method)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # Dropping the context is a different quantity: the check can see it.
    assert np.max(np.abs(conditional_mask_dce(p, x, target=target) - want)) > 1e-6


def test_markov_table_with_a_context_mask_by_mask():
    chain = MarkovChain.from_dirichlet(2, 2, alpha=0.5, rng=6)
    joint = chain.joint(6)
    x = joint.support[np.argmax(joint.probs)]
    target, context = [2, 3, 5], [0, 1]
    want = brute_table(joint, x, target, context)
    for method in ("forward_backward", "subset", "denoiser"):
        got = conditional_mask_dce(chain, x, target=target, context=context, method=method)
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


# ------------------------------------------------------------------ non-optimal models (§3.4)
@pytest.mark.parametrize("mix_with", ["uniform", "marginals"])
def test_mixed_denoiser_table_is_the_mixture_of_the_conditionals(mix_with):
    """A_θ(M) of c = (1-w) c* + w r against the mixture written out on the exact conditionals;
    every a_i > 0 (§6.3), and the model's time-free value is its own NLL (Cor. 4.3)."""
    p = datasets.dirichlet(3, 4, alpha=0.5, rng=12)
    x, w = p.support[9], 0.15
    target, context = [0, 1, 3], [2]
    positions = np.arange(4)

    def reference(v, i):
        if mix_with == "uniform":
            return 1.0 / 3
        return marginal(p, np.where(positions == i, v, x), positions == i)  # p0(x^i = v)

    want = brute_table(p, x, target, context, model=lambda row, v, i: (1 - w) * row[v] + w * reference(v, i))
    r = model_likelihood(MixedDenoiser(OptimalDenoiser(p), mix_with, weight=w), x, target=target, context=context)
    np.testing.assert_allclose(r.mask_dce, want, rtol=1e-12, atol=1e-13)
    assert np.all(r.mask_dce[1 << np.arange(3)] > 0)
    assert r.true_nll == pytest.approx(imdce_sum(want), rel=1e-12)


def test_tempered_denoiser_table_is_the_tempered_conditionals():
    """c_T ∝ c*^{1/T} on the exact conditionals; a one-hot row stays one-hot, so a_i = 0 stays 0."""
    p = datasets.dna128()
    x = p.support[40]
    T = 1.7

    def tempered(row, v, i):
        powered = row ** (1 / T)
        return powered[v] / powered.sum()

    target, context = [1, 4, 6], [0, 7]
    want = brute_table(p, x, target, context, model=tempered)
    r = model_likelihood(TemperedDenoiser(OptimalDenoiser(p), temperature=T), x, target=target, context=context)
    np.testing.assert_allclose(r.mask_dce, want, rtol=1e-12, atol=1e-13)
    exact = conditional_mask_dce(p, x, target=target, context=context)
    singles = 1 << np.arange(3)
    assert np.array_equal(exact[singles] == 0, r.mask_dce[singles] == 0)
