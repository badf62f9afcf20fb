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
# # 01 · I-MDSE on a tiny state space
#
# *Information-Theoretic Discrete Diffusion* (Jeon, Shin, Jeon & No, NeurIPS 2025) proves the
# discrete analogue of the I-MMSE identity. For a clean sequence $x_0$ and a forward CTMC
# $\frac{d}{dt}p_t = Q_t p_t$,
#
# $$\frac{d}{dt}\,D_{\rm KL}\big(p_{t|0}(\cdot\mid x_0)\,\|\,p_t\big) = -\,\mathrm{mdse}(x_0, t)
# \qquad\text{(Theorem 3.1)},$$
#
# where mdse is the denoising score entropy of the *optimal* score $s^\star_t(x)_y = p_t(y)/p_t(x)$.
# Integrating gives an exact likelihood (Theorem 3.2): $-\log p_0(x_0) = \int_0^\infty \mathrm{mdse}(x_0,t)\,dt$.
#
# This notebook walks from the generator to the curves on a space small enough to print, and
# ends with a symbolic proof for one token. Conventions are those of `docs/theory.md` §0: rate
# matrices in the column convention ($Q[a,b]$ is the rate of the jump $b\to a$), mask id $N$,
# noise level $s = \bar\sigma(t)$ at unit rate.

# %%
# %matplotlib inline
# %config InlineBackend.figure_format = "retina"
import numpy as np
import scipy.linalg
import sympy as sp

from ctmc_lab.exact import information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution, token_kernel
from ctmc_lab.plotting import imdse_curves as imdse_plot
from ctmc_lab.plotting.style import style
from ctmc_lab.sources import datasets
from ctmc_lab.studies import imdse_curves

np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. The generators and their kernels
#
# Each token evolves independently. The **absorbing** generator sends a clean symbol to the
# mask at rate 1; the **uniform** generator (SEDD's normalisation) jumps to a uniformly chosen
# symbol. Their kernels $K_s = e^{sQ}$ have closed forms (§1.2), which we check against
# `scipy.linalg.expm`.

# %%
N = 2
absorbing, uniform = generators.absorbing(N), generators.uniform(N)
print("absorbing Q (columns sum to 0):\n", absorbing.Q)
print("uniform Q:\n", uniform.Q)
s = 0.7
for g in (absorbing, uniform):
    closed = token_kernel(g, s)
    print(g.kind, "max |closed form - expm| =", np.abs(closed - scipy.linalg.expm(s * g.Q)).max())

# %% [markdown]
# ## 2. A tiny data distribution and the KL along the noise
#
# Take $N = 2$ symbols and length $L = 3$ (8 clean sequences) with random probabilities. The
# noised marginal $p_s$ is $p_0$ pushed through $K_s$ on every axis; the KL of the
# conditional path $p_{s|0}(\cdot|x_0)$ from it starts at $-\log p_0(x_0)$ and decays to 0.

# %%
p0 = datasets.dirichlet(2, 3, alpha=1.0, rng=np.random.default_rng(7), alphabet="AB")
for seq, prob in zip(p0.decode(p0.support), p0.probs):
    print(seq, f"{prob:.4f}")
x0 = p0.encode("ABA")
print("\n-log p0(ABA) =", p0.nll(x0), "   H(p0) =", p0.entropy())

# %% [markdown]
# Theorem 3.1 at a few noise levels: the exact derivative of the KL (no finite differences,
# `information.kl_rate`) against $-\mathrm{mdse}_s$ (`scores.mdse`, the DSE sum with the
# optimal score), and a central finite difference as a third opinion.

# %%
h = 1e-5
print(f"{'kind':>9} {'s':>5} {'KL':>10} {'dKL/ds':>12} {'-mdse':>12} {'finite diff':>12}")
for g in (absorbing, uniform):
    for s in (0.05, 0.5, 2.0):
        nd = NoisedDistribution.at_noise_level(p0, g, s)
        fd = (
            information.kl(NoisedDistribution.at_noise_level(p0, g, s + h), x0)
            - information.kl(NoisedDistribution.at_noise_level(p0, g, s - h), x0)
        ) / (2 * h)
        print(
            f"{g.kind:>9} {s:5.2f} {information.kl(nd, x0):10.6f} {information.kl_rate(nd, x0):12.8f} "
            f"{-scores.mdse(nd, x0):12.8f} {fd:12.8f}"
        )

# %% [markdown]
# ## 3. The curves
#
# `ctmc_lab.studies.imdse_curves` tabulates the same identities along the schedule
# loglinear($\varepsilon=0$), for which $\lambda(t) = t$ and the process is fully noised at
# $t = 1$: `curves(p0, x0, n_points)` gives one row per (process, t) and `areas(p0, x0)` the
# areas of Theorem 3.2 by quadrature; `ctmc_lab.plotting.imdse_curves.draw` draws both. Panel (a): the KL and the mutual information $I(x_0; x_t) = \mathbb E_{p_0}\,\mathrm{KL}$,
# starting at $-\log p_0(x_0)$ and $H(p_0)$. Panel (b): their exact rates and $-$mdse, pointwise
# and marginal. Panel (c): the area under mdse, which is $-\log p_0(x_0)$ (Theorem 3.2); for
# uniform noise mdse has an integrable $\log(1/s)$ singularity at $t\to 0$ (§2.5).

# %%
table = imdse_curves.curves(p0, x0, n_points=29)
areas = imdse_curves.areas(p0, x0)
print(imdse_curves.summarize(table, areas=areas))
with style():
    fig = imdse_plot.draw(table, areas=areas)
fig

# %% [markdown]
# ## 4. A symbolic proof for one token
#
# For $L = 1$ everything is explicit. With $q = K_s[:, x_0]$ and $p_s = K_s p_0$,
#
# $$F(s) = \sum_x q(x)\log\frac{q(x)}{p_s(x)},\qquad
# \mathrm{mdse}_s = \sum_x q(x)\sum_{y\ne x} Q(x,y)\Big[s^\star_y - a_y\log s^\star_y + K(a_y)\Big],$$
#
# with $a_y = q(y)/q(x)$, $s^\star_y = p_s(y)/p_s(x)$ and $K(a) = a(\log a - 1)$. We build both
# with a **symbolic** $p_0 = (p, 1-p)$ and symbolic $s$, keep every logarithm as the log of one
# probability, replace each by a fresh symbol and $e^{-s}$ by $u$: what remains of
# $F'(s) + \mathrm{mdse}_s$ is a rational function, and `sympy.cancel` decides exactly that it is 0.

# %%
s_, p_ = sp.symbols("s p", positive=True)


def one_token(kind, x0):
    if kind == "uniform":
        Q = sp.ones(2, 2) / 2 - sp.eye(2)
        K = sp.exp(-s_) * sp.eye(2) + (1 - sp.exp(-s_)) / 2 * sp.ones(2, 2)
        p_init = sp.Matrix([p_, 1 - p_])
    else:  # absorbing: states A, B, mask
        Q = sp.Matrix([[-1, 0, 0], [0, -1, 0], [1, 1, 0]])
        K = sp.Matrix([[sp.exp(-s_), 0, 0], [0, sp.exp(-s_), 0], [1 - sp.exp(-s_), 1 - sp.exp(-s_), 1]])
        p_init = sp.Matrix([p_, 1 - p_, 0])
    q, ps = K[:, x0], K * p_init
    logq = [sp.log(v) if v != 0 else 0 for v in q]
    logp = [sp.log(v) for v in ps]
    F = sum(q[x] * (logq[x] - logp[x]) for x in range(len(q)) if q[x] != 0)
    mdse = 0
    for x in range(len(q)):
        for y in range(len(q)):
            if x == y or q[x] == 0 or Q[x, y] == 0:  # Q(x, y): the rate of y -> x
                continue
            star, log_star = ps[y] / ps[x], logp[y] - logp[x]
            if q[y] == 0:
                mdse += q[x] * Q[x, y] * star
            else:
                a = q[y] / q[x]
                mdse += q[x] * Q[x, y] * (star - a * log_star + a * (logq[y] - logq[x] - 1))
    return sp.diff(F, s_), mdse


def exactly_zero(expr):
    logs = sorted(expr.atoms(sp.log), key=sp.default_sort_key)
    z = sp.symbols(f"z0:{len(logs)}")
    u = sp.Symbol("u", positive=True)
    rational = expr.xreplace(dict(zip(logs, z))).subs(sp.exp(-s_), u).subs(sp.exp(s_), 1 / u)
    return sp.cancel(sp.together(rational))


for kind in ("absorbing", "uniform"):
    for x0_sym in (0, 1):
        dF, m = one_token(kind, x0_sym)
        print(f"{kind:>9}, x0 = {'AB'[x0_sym]}:  dF/ds + mdse_s  ->  {exactly_zero(dF + m)}")

# %% [markdown]
# The residual is identically 0 for both generators and both starting symbols, for every
# $p\in(0,1)$ and $s>0$. The general-$N$ version, together with a negative control that flips
# the orientation of $Q(x,y)$ (and fails), is in `proofs_check/symbolic.py`
# (`ctmc-lab verify` runs it).
