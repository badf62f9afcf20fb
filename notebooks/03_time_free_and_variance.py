# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The time-free likelihood and the variance of its estimators
#
# Expanding $\int_0^1 \mathrm{mdce}(x_0,\lambda)/\lambda\,d\lambda$ mask by mask removes time
# altogether (**Theorem 4.1**):
#
# $$-\log p_0(x_0) = H_L\;\mathbb E_{I\sim p(I)}\Big[\sum_{i\notin I} -\log p_0(x_0^i\mid x_0^I)\Big],
# \qquad p(I) = \frac{B(L-|I|,\,|I|+1)}{H_L},$$
#
# with $H_L$ the $L$-th harmonic number and $I$ the *unmasked* set. One Monte Carlo draw masks
# $M = [L]\setminus I$ and scores $H_L\,A(M)$, where $A(M)$ is the denoiser's cross-entropy on the
# masked positions. This notebook computes the weights, runs the estimators, and computes their
# variances **exactly** (`docs/theory.md` §4.1, §6), including the one that is infinite.

# %%
# %matplotlib inline
# %config InlineBackend.figure_format = "retina"
import numpy as np
from scipy.special import beta, comb

from ctmc_lab.estimation import estimators, moments, registry
from ctmc_lab.exact.mask_dce import optimal_mask_dce
from ctmc_lab.masks import harmonic
from ctmc_lab.plotting import figures
from ctmc_lab.plotting.style import COLORS, new_figure, style
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import OptimalDenoiser

# %% [markdown]
# ## 1. The harmonic weights
#
# $\binom Lk B(L-k, k+1) = \frac1{L-k}$, so the weights of all subsets of size $k$ add up to
# $\frac{1}{(L-k)H_L}$ and the total is $\sum_{m=1}^L \frac1m / H_L = 1$. In words: draw the number
# of masked tokens $m$ with $P(m)\propto 1/m$, then a uniform mask of that size. The fully masked
# sequence ($m = L$) is included; the LLaDA and text8 evaluation scripts drop it (§8).

# %%
L = 8
for k in range(L):
    assert abs(comb(L, k) * beta(L - k, k + 1) - 1 / (L - k)) < 1e-15
print("H_8 =", harmonic(L), "= 761/280 =", 761 / 280)
m = np.arange(1, L + 1)
laws = {
    "time-free (paper): P(m) ∝ 1/m, value H_L A(M)": (1 / m) / harmonic(L),
    "k-DCE: m uniform on 1..L, value (L/m) A(M)": np.full(L, 1 / L),
    "RB λ-DCE: m uniform on 0..L, value (L+1)/m A(M)": np.full(L, 1 / (L + 1)),
}
with style():
    fig, ax = new_figure(width="column", height=2.2)
    for j, (label, q) in enumerate(laws.items()):
        ax.bar(
            m + (j - 1) * 0.27,
            q,
            width=0.27,
            label=label,
            color=[COLORS["time_free"], COLORS["k_dce"], COLORS["rb_lambda_dce"]][j],
        )
    ax.set_xlabel("number of masked tokens m")
    ax.set_ylabel("P(m)")
    ax.set_xticks(m)
    ax.set_ylim(0, 0.55)
    ax.legend(fontsize=5.5, loc="upper right")
    ax.set_title("three unbiased ways to draw a mask, L = 8")
fig

# %% [markdown]
# ## 2. Four unbiased estimators on a D128 sequence
#
# With the optimal denoiser of the paper's D128 table (`OptimalDenoiser`), each estimator's
# mean is exactly $-\log p_0(x_0)$. λ-DCE is the time-integral baseline: $\lambda\sim U(0,1)$, each
# token masked with probability $\lambda$, value $A(M)/\lambda$. `moments.all_moments` gives the exact
# mean and single-draw variance by enumerating the $2^L$ masks; the Monte Carlo runs below
# should agree within a few standard errors.

# %%
p0 = datasets.dna128()
den = OptimalDenoiser(p0)
A_all = optimal_mask_dce(p0, p0.support)
singles = A_all[:, 1 << np.arange(L)]
no_neighbour = np.flatnonzero(~(singles > 0).any(axis=1))
print(f"{len(no_neighbour)} of 128 sequences have no Hamming-1 neighbour in the support (every a_i = 0)")
j = int(no_neighbour[0])
x0, A = p0.support[j], A_all[j]
nll = p0.nll(x0)
exact = moments.all_moments(A, names=("time_free", "k_dce", "rb_lambda_dce", "lambda_dce"), reference=nll)
print(f"x0 = {p0.decode(x0)},  -log p0 = {nll:.6f}\n")
print(f"{'estimator':>15} {'MC mean (4096)':>15} {'± se':>7} {'z':>6} {'exact Var':>10} {'sample Var':>11}")
for k, name in enumerate(exact):
    est = estimators.estimate(name, den, x0, n_samples=4096, rng=k, return_values=True)
    z = (est.mean - nll) / est.stderr
    print(
        f"{name:>15} {est.mean:15.6f} {est.stderr:7.4f} {z:6.2f} {exact[name].variance:10.3f} "
        f"{est.values.var(ddof=1):11.3f}"
    )

# %% [markdown]
# The paper's sampler is **not** the one with the smallest variance here. Its $P(m)\propto 1/m$
# undersamples large masks, while $A(M)$ grows roughly like $m$: k-DCE, whose value $(L/m)A(M)$
# is nearly constant when $A$ is nearly additive, wins on every D128 sequence. Importance
# sampling over $m$ with $q^\star_m\propto\sqrt{\mathbb E[A^2\mid m]}/m$ does better still, and
# $P^\star(M)\propto B(m, L-m+1)A(M)$ would have zero variance (§6.5).

# %%
comp = moments.compare_samplers(A)
print("exact single-draw variances:", {k: round(v, 3) for k, v in comp.variances.items()})
print(
    f"winner: {comp.winner}, {comp.factor_vs_time_free:.2f}x below time-free; "
    f"optimal q*(m): {comp.best_mask_size_variance:.3f}"
)
figures.make_figure("sampler_comparison", n_windows=64).figure

# %% [markdown]
# ### Your own mask-size law
#
# Any law $q_m$ over mask sizes with value weight $f_m = 1/(m\,q_m)$ is unbiased
# ($q_m f_m = 1/m$, Theorem 4.1). Registering it (`ctmc_lab.estimation.registry`) is the only
# step: Monte Carlo by name, exact moments, `ctmc-lab estimate --estimator` and `verify` read the
# registry. Here $q_m \propto m^{-1/2}$, between time-free ($\propto 1/m$) and k-DCE (uniform).


# %%
def sqrt_law(n):
    m = np.arange(1, n + 1, dtype=float)
    q = np.r_[0.0, m**-0.5 / np.sum(m**-0.5)]
    return q, np.r_[0.0, 1.0 / (m * q[1:])]


registry.register_estimator(registry.EstimatorSpec("sqrt_mask_size", "√m law", "mask", law=sqrt_law))
mine = moments.estimator_moments(A, "sqrt_mask_size", reference=nll)
est = estimators.estimate("sqrt_mask_size", den, x0, n_samples=4096, rng=0)
print(f"exact: mean {mine.mean:.6f} (bias {mine.bias:+.1e}), variance {mine.variance:.4f}")
print(f"Monte Carlo: {est.mean:.4f} ± {est.stderr:.4f}; NLL {nll:.6f}")
print("compare_samplers now ranks it too:", moments.compare_samplers(A).winner)
registry.unregister_estimator("sqrt_mask_size")

# %% [markdown]
# ## 3. The infinite variance of λ-DCE
#
# For λ-DCE, $\mathbb E[g^2] = \sum_{M} A(M)^2\int_0^1 \lambda^{|M|-2}(1-\lambda)^{L-|M|}\,d\lambda$, and the
# integral diverges at $|M| = 1$. So the variance is **infinite** as soon as one singleton term
# $a_i = A(\{i\}) = -\log p_0(x_0^i\mid x_0^{[L]\setminus i})$ is positive, i.e. as soon as some
# token is not determined by the others (§6.3). Cutting the integral at $\lambda\ge\delta$ shows
# the growth: $\mathbb E[g^2;\lambda\ge\delta] = (\sum_i a_i^2)(\log\frac1\delta - H_{L-1}) + C + o(1)$.

# %%
k = int(np.argmax((singles**2).sum(axis=1)))
A_k = A_all[k]
print(f"x0 = {p0.decode(p0.support[k])}: a_i = {np.round(singles[k], 4)}, Σ a_i² = {(singles[k] ** 2).sum():.4f}")
print(moments.estimator_moments(A_k, "lambda_dce"))
for delta in (1e-2, 1e-4, 1e-8, 1e-12):
    tr = moments.lambda_dce_truncation(A_k, delta)
    print(f"δ = {delta:7.0e}: E[g²; λ ≥ δ] = {tr.second_moment:10.5f}   law: {tr.asymptote:10.5f}")

# %% [markdown]
# The tail index is exactly 2 ($P(g>u)\approx \sum_i a_i^2/(2u^2)$): the mean is finite and
# the Monte Carlo mean still converges, but the sample variance of $n$ draws keeps growing like
# $\frac12\sum_i a_i^2\ln n$. Below, a stationary window of the paper's order-4 Markov chain (every
# $a_i>0$) against a D128 sequence with every $a_i = 0$. `make_figure` runs the study with its
# settings replaced by reduced sizes (16 runs of up to $2^{16}$ draws; `ctmc-lab figures` makes the
# full version, 32 runs of $2^{18}$). The dashed prediction is the exact truncated second moment
# $\mathbb E[g^2;\lambda\ge n^{-1/2}] - \mathrm{NLL}^2$; with 16 runs the median sample variance is
# still noisy at small $n$, so the slope fitted over all $n$ can differ from $\frac12\sum_i a_i^2$
# (both are printed).

# %%
res = figures.make_figure("heavy_tail", n_max=2**16, repeats=16)
print(res.summary)
res.figure

# %% [markdown]
# ## 4. What the paper's Table 1a measures
#
# Table 1a compares the variance of repeated time-integral and time-free estimates at 128, 256
# and 512 samples. Its analogue here, with the optimal denoiser: on D128 sequences with finite
# λ-DCE variance, and on MK4 prompt–response pairs where it is infinite. With $c^\star$ the
# ordering of the paper does **not** appear: λ-DCE's finite-sample variance is smaller. The
# comparison depends on the denoiser and the data, and where λ-DCE's variance is infinite the
# ratios of finite-sample variances are not stable quantities.

# %%
res = figures.make_figure("variance_vs_samples", repeats=24, n_sequences=10)
print(res.summary)
res.figure
