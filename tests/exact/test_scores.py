"""DSE, mdse and mdce against their definitions and brute-force twins (§2, §3)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab import masks
from ctmc_lab.exact import scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.sources import datasets
from ctmc_lab.testing.strategies import distributions
from tests import bruteforce


@pytest.fixture(scope="module")
def small():
    return datasets.dirichlet(3, 3, rng=1, support_size=12)


@given(distributions(max_length=3), st.floats(0.02, 0.98))
def test_absorbing_closed_forms_match_sums_over_noisy_states(p, lam):
    """F2: KL_λ from the subset table; mdce from the table vs looping over masks; F3."""
    gen = generators.absorbing(p.n_tokens)
    s = -np.log1p(-lam)
    x0 = p.support[0]
    h = masks.subset_entropy(p.subset_table(x0))
    assert masks.mask_kl(h, lam)[0] == pytest.approx(bruteforce.kl(p, gen, s, x0), abs=1e-12)
    mdce = scores.mdce(p, x0, lam)[0]
    assert mdce == pytest.approx(bruteforce.absorbing_mdce(p, x0, lam), abs=1e-12)
    # F3: mdse_s = (1-λ)/λ mdce at unit rate
    noised = NoisedDistribution.at_noise_level(p, gen, s)
    assert scores.mdse(noised, x0, method="contract") == pytest.approx((1 - lam) / lam * mdce, abs=1e-11)
    # Cor 3.6: dKL/dλ = -mdce/λ, exactly (polynomial derivative)
    assert masks.mask_kl_rate(h, lam)[0] == pytest.approx(-mdce / lam, abs=1e-11)


def test_uniform_log_singularity_coefficient():
    """§2.5: mdse_s + (n1/N) log s tends to a constant as s -> 0 (n1 Hamming-1 neighbours)."""
    p = datasets.dirichlet(3, 2, rng=5)  # full support: n1 = L (N-1) = 4
    gen = generators.uniform(3)
    x0 = p.support[0]
    vals = [scores.mdse(NoisedDistribution.at_noise_level(p, gen, s), x0) + (4 / 3) * np.log(s) for s in (1e-7, 1e-9)]
    assert vals[0] == pytest.approx(vals[1], abs=1e-5)


def test_dse_pointwise_matches_generic_definition(small):
    gen = generators.uniform(3)
    noised = NoisedDistribution.at_noise_level(small, gen, 0.4)
    rng = np.random.default_rng(0)
    x0 = small.support[:3]
    x = rng.integers(0, 3, size=x0.shape)
    score = scores.concrete_score(noised, x)
    val = scores.dse(gen, noised.K, x0, x, score)
    # E_x over the kernel of the pointwise loss at s* is mdse: spot-check one state by hand
    K = noised.K
    for b in range(3):
        total = 0.0
        for i in range(3):
            for v in range(3):
                if v == x[b, i]:
                    continue
                a = K[v, x0[b, i]] / K[x[b, i], x0[b, i]]
                total += gen.Q[x[b, i], v] * (score[b, i, v] - a * np.log(score[b, i, v]) + a * np.log(a) - a)
        assert val[b] == pytest.approx(total, abs=1e-13)
