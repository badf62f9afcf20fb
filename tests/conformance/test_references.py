"""References: the exact mean and variance they report against an independent enumeration of
the evaluator's randomness (every k, every mask, with A(M) from sums over the source's support),
and a LLaDA-style evaluator written in torch, as LLaDA writes it, run against them."""

from __future__ import annotations

import math
from math import comb

import numpy as np
import pytest

from ctmc_lab.conformance import cases
from ctmc_lab.conformance import references as R
from ctmc_lab.conformance.adapters import make_adapter
from ctmc_lab.conformance.oracle import check
from tests import bruteforce


def _brute_A(case):
    """A(M) for every mask of the answer of a prompt-free joint case, by sums over the support."""
    dist, x, n = case.source, case.x, case.n
    A = np.zeros(1 << n)
    for M in range(1, 1 << n):
        visible = np.array([not (M >> i & 1) for i in range(n)])
        den = bruteforce.marginal_prob(dist, x, visible)
        total = 0.0
        for i in range(n):
            if M >> i & 1:
                vis = visible.copy()
                vis[i] = True
                total -= np.log(bruteforce.marginal_prob(dist, x, vis) / den)
        A[M] = total
    return A


@pytest.fixture(scope="module")
def small():
    """A 5-position joint table, so every mask and every k can be enumerated by hand."""
    from ctmc_lab.sources.datasets import dirichlet

    p = dirichlet(3, 5, alpha=0.8, rng=4)
    return cases.from_source(p, p.support[17], name="dirichlet"), None


def _level(A, n):
    sizes = np.array([bin(M).count("1") for M in range(1 << n)])
    mean = np.array([A[sizes == m].mean() for m in range(n + 1)])
    second = np.array([(A[sizes == m] ** 2).mean() for m in range(n + 1)])
    return mean, second


def test_k_dce_reference_against_enumeration(small):
    case, _ = small
    n = case.n
    A = _brute_A(case)
    sizes = np.array([bin(M).count("1") for M in range(1 << n)])
    prob = np.where(sizes > 0, 1.0 / (n * np.array([comb(n, int(m)) for m in sizes])), 0.0)
    g = np.where(sizes > 0, n / np.maximum(sizes, 1), 0.0) * A
    mean = prob @ g
    var = prob @ (g - mean) ** 2
    m = R.estimator("k_dce", n_samples=10).moments(case)
    assert m.mean == pytest.approx(mean, abs=1e-12) == pytest.approx(case.cond_nll, abs=1e-12)
    assert m.variance == pytest.approx(var / 10, rel=1e-12)


@pytest.mark.parametrize("b", [2, 4, 8])
def test_llada_reference_against_enumeration_of_k_and_masks(small, b):
    """E and Var of one batch mean: enumerate k, and within a batch the rows' independent uniform
    masks of the sizes the float32 linspace rule gives (round half to even)."""
    case, _ = small
    n = case.n
    A = _brute_A(case)
    mu, second = _level(A, n)
    batch_means, batch_vars = [], []
    for k in range(1, n + 1):
        x = np.rint(np.linspace(np.float32(k), np.float32(k + (b - 1) * (n / b)), b, dtype=np.float32)).astype(int)
        x = (x - 1) % n + 1
        e = (n / x) * mu[x]
        v = (n / x) ** 2 * (second[x] - mu[x] ** 2)
        batch_means.append(e.mean())
        batch_vars.append(v.sum() / b**2)
    mean = np.mean(batch_means)
    var = np.mean(batch_vars) + np.var(batch_means)
    m = R.llada_rule(b, 4 * b).moments(case)
    assert m.mean == pytest.approx(mean, abs=1e-12)
    assert m.variance == pytest.approx(var / 4, rel=1e-10)


def test_truncated_lambda_reference_against_quadrature(small):
    from scipy.integrate import quad

    case, _ = small
    n = case.n
    A = _brute_A(case)
    S = np.bincount([bin(M).count("1") for M in range(1 << n)], weights=A)
    g = lambda lam: sum(S[m] * lam**m * (1 - lam) ** (n - m) for m in range(1, n + 1))
    for eps in (0.05, 0.3):
        tail, _ = quad(lambda lam: g(lam) / lam, eps, 1, epsabs=1e-13, epsrel=1e-12)
        assert R.truncated_lambda(eps).moments(case).mean == pytest.approx(tail / (1 - eps), rel=1e-10)
        assert R.truncated_lambda(eps, correct=True).moments(case).mean == pytest.approx(tail, rel=1e-10)


def test_scaled_and_as_reference(small):
    case, _ = small
    base = R.estimator("k_dce", n_samples=4)
    half = R.scaled(base, -0.5)
    assert half.moments(case).mean == pytest.approx(-0.5 * base.moments(case).mean)
    assert half.moments(case).variance == pytest.approx(0.25 * base.moments(case).variance)
    assert R.as_reference("time_free").moments(case).mean == pytest.approx(case.cond_nll, abs=1e-12)
    with pytest.raises(ValueError, match="batch_size"):
        R.estimator("k_dce_stratified", n_samples=8)
    with pytest.raises(ValueError, match="batch_size"):
        R.estimator("llada_stratified", n_samples=8)
    with pytest.raises(ValueError, match="weights"):
        R.estimator("mask_size_importance", n_samples=8)


def test_estimator_reads_every_family_object():
    """``estimator`` asks the family: LLaDA's count rule by name equals llada_rule, and the code's
    t-DCE (TimeSampled: quad_vec and the vdm excess) equals RADD's replica (TimeLaw: level sums on
    Gauss–Legendre nodes), two implementations sharing no quadrature."""
    from ctmc_lab.conformance.replicas import reference

    case = cases.markov_pair(4, index=8)
    by_name = R.estimator("llada_stratified", n_samples=128, batch_size=8).moments(case)
    rule = R.llada_rule(8, 128).moments(case)
    assert by_name.mean == pytest.approx(rule.mean, rel=1e-12)
    assert by_name.variance == pytest.approx(rule.variance, rel=1e-10)
    d128 = cases.dna128(5)
    t_dce = R.estimator("t_dce", n_samples=16, batch_size=16).moments(d128)
    radd = reference("radd_t_dce").moments(d128)  # 1024 batches of 16
    assert t_dce.mean == pytest.approx(radd.mean, rel=1e-11)
    assert t_dce.variance == pytest.approx(1024 * radd.variance, rel=1e-8)
    lam = R.estimator("lambda_dce_stratified", n_samples=16, batch_size=16).moments(cases.dna128(58))
    assert lam.mean == pytest.approx(cases.dna128(58).cond_nll, rel=1e-12) and math.isinf(lam.variance)


def get_log_likelihood_torch(model, prompt, answer, *, mc_num=32, batch_size=8, mask_id):
    """LLaDA's get_log_likelihood.py (forward_process and the loop), written as LLaDA writes it."""
    import torch
    import torch.nn.functional as F

    seq = torch.cat([prompt, answer])[None, :]
    seq = seq.repeat((batch_size, 1)).to(model.device)
    prompt_index = torch.arange(seq.shape[1], device=model.device) < len(prompt)
    loss_ = []
    for _ in range(mc_num // batch_size):
        b, l = seq.shape
        target_len = (l - prompt_index.sum()).item()
        k = torch.randint(1, target_len + 1, (), device=seq.device)
        x = torch.round(torch.linspace(float(k), k + (b - 1) * (target_len / b), steps=b, device=seq.device)).long()
        x = ((x - 1) % target_len) + 1
        indices = torch.arange(target_len, device=seq.device).repeat(b, 1)
        is_mask = indices < x.unsqueeze(1)
        for i in range(b):
            is_mask[i] = is_mask[i][torch.randperm(target_len)]
        is_mask = torch.cat((torch.zeros(b, prompt_index.sum(), dtype=torch.bool, device=seq.device), is_mask), dim=1)
        perturbed = torch.where(is_mask, mask_id, seq)
        p_mask = (x / target_len).unsqueeze(1).repeat(1, l)
        mask_index = perturbed == mask_id
        logits = model(perturbed).logits
        loss = F.cross_entropy(logits[mask_index], seq[mask_index], reduction="none") / p_mask[mask_index]
        loss_.append((loss.sum() / batch_size).item())
    return -sum(loss_) / len(loss_)


def test_torch_llada_evaluator_meets_its_reference_and_fails_unbiased():
    torch = pytest.importorskip("torch")
    case = cases.markov_pair(4)
    model = make_adapter(case, "hf", mask_id=99, vocab_size=128, token_map=[65, 84, 71, 67], precision="float32")
    view = model.view()

    def run(seed):
        torch.manual_seed(seed)
        return -get_log_likelihood_torch(model, view.prompt, view.answer, mask_id=99)

    report = check(
        run, case, ["unbiased:cond_nll", "mask_law:llada:8"], n_runs=80, model=model, reference=R.llada_rule(8, 32)
    )
    unbiased, law, ref = report.verdicts
    assert law.passed and ref.passed and not unbiased.passed, report
    assert report.calls["rows_per_call"] == [8] and report.versions["torch"].startswith("2.")
    assert report.plugin["max_abs_difference"] < 1e-4  # float32 logits
