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
# # 02 · DSE ≡ DCE, Theorem 3.4 at finite T, and I-MDCE
#
# Under **absorbing** (masking) noise, a score network can be replaced by a *denoiser*
# $c(x)_{i,v}\approx p_0(x^i = v\mid x^{\rm visible})$ that does not depend on time. The paper
# shows that nothing is lost: with the correspondence $s_t(x)_{(i,v)} = \frac{1-\lambda}{\lambda}\,c(x)_{i,v}$,
#
# * **Lemma 3.3** (pointwise): $\ell_{\rm DSE}(x_0, x, t, s_t) = \sigma(t)\,\frac{1-\lambda}{\lambda}\,\ell_{\rm DCE}(x_0, x, c)$,
#   with $\ell_{\rm DCE} = \sum_{i\ \rm masked} -\log c(x)_{i, x_0^i}$ and $\lambda = 1-e^{-\bar\sigma(t)}$;
# * **Theorem 3.4**: $\int_0^T \mathbb E\,\ell_{\rm DSE}\,dt = \int_0^\Lambda \frac1\lambda\,\mathbb E\,\ell_{\rm DCE}\,d\lambda$
#   at **every finite** $T$ (with $\Lambda = \lambda(T)$), for **any** normalised $c$, optimal or not;
# * **Corollaries 3.6–3.7** (I-MDCE): $\frac{d}{d\lambda}D_{\rm KL}(p_{\lambda|0}\|p_\lambda) = -\,\mathrm{mdce}(x_0,\lambda)/\lambda$,
#   hence $-\log p_0(x_0) = \int_0^\Lambda \frac{\mathrm{mdce}}{\lambda}\,d\lambda + D_{\rm KL}(p_{\Lambda|0}\|p_\Lambda)$.
#
# (`docs/theory.md` §3.) Note the factor: it is the **rate** $\sigma(t)$, not $\bar\sigma(t)$ as a
# third-party summary prints it.

# %%
# %matplotlib inline
# %config InlineBackend.figure_format = "retina"
import numpy as np
from scipy.integrate import quad

from ctmc_lab import masks as mask_sums
from ctmc_lab.exact import decompositions, scores
from ctmc_lab.exact.mask_dce import mask_dce_table
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Geometric, Linear, Loglinear
from ctmc_lab.plotting import dse_dce_equivalence as dse_plot
from ctmc_lab.plotting.style import COLORS, new_figure, style
from ctmc_lab.sequences import subset_members
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser
from ctmc_lab.studies import dse_dce_equivalence

p0 = datasets.dirichlet(3, 3, alpha=1.0, rng=np.random.default_rng(3), alphabet="ABC")
x0 = p0.encode("CAB")
N, L = p0.n_tokens, p0.length
gen = generators.absorbing(N)
optimal = OptimalDenoiser(p0)
model = MixedDenoiser(optimal, weight=0.3)  # a normalised but non-optimal denoiser
print(f"-log p0({p0.decode(x0)}) = {p0.nll(x0):.12f}")

# %% [markdown]
# ## 1. Lemma 3.3, one state at a time
#
# Every noisy state reachable from $x_0$ is $x_0$ with some positions masked. For each of them,
# at a few times of the code's loglinear schedule, we put the score $s_t = \frac{1-\lambda}{\lambda}c$
# into the generic DSE sum (paper Eq. 3, `scores.dse`) and compare with the scaled DCE.

# %%
sched = Loglinear(1e-3)
masks = subset_members(L)  # (2^L, L) booleans: every mask, bit i = position i
X = np.where(masks, N, x0)  # all noisy states reachable from x0
X0 = np.broadcast_to(x0, X.shape)


def dse_and_scaled_dce(den, t, factor="sigma"):
    s, rate, lam = float(sched.sigma_bar(t)), float(sched.sigma(t)), float(sched.mask_level(t))
    nd = NoisedDistribution.at_noise_level(p0, gen, s)
    logc = den(X)
    score = np.ones(X.shape + (N + 1,))
    score[..., :N] = (1 - lam) / lam * np.exp(logc)
    dse = scores.dse(nd.generator, nd.K, X0, X, score, rate=rate)
    f = rate if factor == "sigma" else s
    return dse, f * (1 - lam) / lam * scores.dce(X0, X, logc, mask_id=N)


for t in (0.01, 0.3, 0.9):
    d, c = dse_and_scaled_dce(model, t)
    d2, c2 = dse_and_scaled_dce(model, t, factor="sigma_bar")
    print(
        f"t = {t:4}: max |DSE - σ(1-λ)/λ DCE| = {np.abs(d - c).max():.1e}   "
        f"(with σ̄ in place of σ: {np.abs(d2 - c2).max():.1e})"
    )

# %% [markdown]
# The figure below (`dse_dce_equivalence.equivalence_table`) follows one noisy state across four
# decades of $t$: $x_0$ the mode of $p_0$ with positions 0 and 2 masked. The two sides agree to a
# relative $10^{-15}$ for the optimal and for a mixed denoiser, while the misprinted factor
# $\bar\sigma$ is off by orders of magnitude.

# %%
table = dse_dce_equivalence.equivalence_table(p0, n_points=40, mix_weight=0.3)
print(dse_dce_equivalence.summarize(table))
with style():
    fig = dse_plot.draw(table)
fig

# %% [markdown]
# ## 2. Theorem 3.4 at finite T, for a non-optimal denoiser
#
# Left: the time integral of the expected DSE up to $T$, by adaptive quadrature in $t$ with the
# expectation over all $2^L$ masks. Right: the DCE side in closed form,
# $\int_0^\Lambda \frac1\lambda\,\mathbb E\,\ell_{\rm DCE}\,d\lambda = \sum_{M\ne\varnothing} A_\theta(M)\,B(\Lambda; |M|, L-|M|+1)$,
# where $A_\theta(M)$ is the model's DCE with $M$ masked (`docs/theory.md` §3.5). RADD had the
# equality only as $T\to\infty$.

# %%
A_model = mask_dce_table(model, x0)  # A_θ(M) for every mask, by local bitmask
m_of = masks.sum(axis=1)


def expected_dse(t, schedule):
    s, rate, lam = float(schedule.sigma_bar(t)), float(schedule.sigma(t)), float(schedule.mask_level(t))
    if lam <= 0:
        return 0.0
    nd = NoisedDistribution.at_noise_level(p0, gen, s)
    logc = model(X)
    score = np.ones(X.shape + (N + 1,))
    score[..., :N] = (1 - lam) / lam * np.exp(logc)
    weights = lam**m_of * (1 - lam) ** (L - m_of)  # p_{t|0}(x | x0) for each reachable x
    return float(weights @ scores.dse(nd.generator, nd.K, X0, X, score, rate=rate))


print(f"{'schedule':>22} {'T':>4} {'Λ':>8} {'∫ E DSE dt':>16} {'Σ A B(Λ;·)':>16} {'difference':>11}")
for schedule, T in ((Loglinear(1e-3), 0.8), (Geometric(1e-4, 20.0), 0.6), (Linear(2.0), 0.5)):
    lhs, _ = quad(expected_dse, 0.0, T, args=(schedule,), epsabs=1e-13, epsrel=1e-12, limit=200)
    Lam = float(schedule.mask_level(T))
    rhs = float(mask_sums.imdce_sum(A_model, Lam))
    print(f"{type(schedule).__name__:>22} {T:4} {Lam:8.5f} {lhs:16.12f} {rhs:16.12f} {abs(lhs - rhs):11.1e}")
# At Λ = 1 the model's integral is its own likelihood bound. Pointwise it may fall below the
# true NLL (docs/theory.md §2.6); averaged over p0 it cannot fall below H(p0) (Thm 3.5).
A_all = np.array([mask_dce_table(model, x) for x in p0.support])
model_nll = mask_sums.imdce_sum(A_all, 1.0)
print(
    f"\nat Λ = 1, x0 = {p0.decode(x0)}: model {float(mask_sums.imdce_sum(A_model, 1.0)):.6f} "
    f"vs -log p0(x0) = {p0.nll(x0):.6f}"
)
print(f"averaged over p0: model {p0.probs @ model_nll:.6f} >= H(p0) = {p0.entropy():.6f}")

# %% [markdown]
# ## 3. I-MDCE: the KL against the mask level
#
# With the optimal denoiser everything is a polynomial in $\lambda$ built from the subset table
# $h(U) = -\log P_0(x_0^U)$: $D_{\rm KL}(p_{\lambda|0}\|p_\lambda) = \sum_U (1-\lambda)^{|U|}\lambda^{L-|U|}h(U)$
# and $\mathrm{mdce}(x_0,\lambda) = \sum_{M\ne\varnothing}\lambda^{|M|}(1-\lambda)^{L-|M|}A(M)$ (§3.5).
# Corollary 3.6 is then a polynomial identity; Corollary 3.7 splits $-\log p_0(x_0)$ at any $\Lambda$.

# %%
h = mask_sums.subset_entropy(p0.subset_table(x0[None]))[0]
lam = np.linspace(0.0, 1.0, 201)[1:-1]
kl = mask_sums.mask_kl(h, lam)
rate = mask_sums.mask_kl_rate(h, lam)
mdce = scores.mdce(p0, x0, lam)
print("Cor 3.6: max |dKL/dλ + mdce/λ| =", np.abs(rate + mdce / lam).max())
for Lam in (0.3, 0.7, 1.0):
    integral = float(decompositions.mdce_integral(p0, x0[None], upper=Lam)[0])
    end = float(mask_sums.mask_kl(h, Lam)[0])
    print(
        f"Cor 3.7 at Λ = {Lam}: ∫ mdce/λ = {integral:.12f}  + KL(Λ) = {end:.12f}  ->  "
        f"{integral + end:.12f}  (-log p0 = {p0.nll(x0):.12f})"
    )

# The same object seen through the score: mdse_s = (1-λ)/λ mdce at unit rate (docs/theory.md F3).
s = 0.8
nd = NoisedDistribution.at_noise_level(p0, gen, s)
lam_s = -np.expm1(-s)
mdce_s = float(scores.mdce(p0, x0, lam_s)[0])
print("F3: mdse_s - (1-λ)/λ mdce =", scores.mdse(nd, x0) - (1 - lam_s) / lam_s * mdce_s)

# %%
with style():
    fig, (a, b) = new_figure(1, 2, width="page", height=2.4)
    a.plot(lam, kl, color=COLORS["exact"], label=r"KL$(p_{\lambda|0}\,\|\,p_\lambda)$")
    a.axhline(p0.nll(x0), color=COLORS["true"], lw=0.6, ls=":", label=r"$-\log p_0(x_0)$")
    a.set_xlabel(r"mask level $\lambda$")
    a.set_ylabel("nats")
    a.set_title("(a) the KL decays from −log p0 to 0")
    a.legend()
    b.fill_between(lam, mdce / lam, color=COLORS["shade"], alpha=0.45, lw=0)
    b.plot(lam, mdce / lam, color=COLORS["exact"], label=r"mdce$(x_0,\lambda)/\lambda$")
    b.plot(lam[::10], -rate[::10], "o", ms=3, mfc="none", color=COLORS["mc"], label=r"$-\frac{d}{d\lambda}$KL")
    b.set_xlabel(r"mask level $\lambda$")
    b.set_ylabel(r"nats per unit $\lambda$")
    b.set_title(f"(b) shaded area = {float(decompositions.mdce_integral(p0, x0[None])[0]):.6f} = −log p0")
    b.legend(loc="lower left", frameon=True, facecolor="white", edgecolor="none")
fig

# %% [markdown]
# All three statements hold to rounding error. For a non-optimal denoiser Theorem 3.4 still
# holds exactly at every $T$; what changes is the value at $\Lambda = 1$, which is the model's
# own likelihood: pointwise it can even fall below $-\log p_0(x_0)$, but its $p_0$-average
# exceeds $H(p_0)$. `proofs_check` repeats these checks at 50 digits with mpmath and
# symbolically with sympy.
