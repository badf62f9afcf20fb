"""ctmc-lab: exact verification of the information theory of discrete diffusion.

The quantities of *Information-Theoretic Discrete Diffusion* (Jeon, Shin, Jeon & No, NeurIPS
2025) computed exactly on state spaces small enough to enumerate. The main names are
importable from here (``from ctmc_lab import JointDistribution, mdse``); each lives in one
module of a layer (imports run only downward):

``sequences``, ``masks``, ``io`` → ``sources`` → ``forward`` → ``exact`` → ``estimation``
→ ``studies`` → ``plotting`` → ``cli``.

They are loaded on first use, so ``import ctmc_lab`` costs no NumPy, SciPy, SymPy or
Matplotlib import: the command line and :mod:`ctmc_lab.io` start quickly.

**Glossary.** Paper symbols and the code that holds them (conventions in ``docs/theory.md`` §0);
the functions and classes named are also importable from ``ctmc_lab`` itself:

======================================  ==============================================================
paper                                   code
======================================  ==============================================================
V, N, mask M = N                        ``JointDistribution.n_tokens``, ``.mask_id``
x_0, p_0                                a ``(L,)`` int array; :class:`~ctmc_lab.sources.joint.JointDistribution` (``.prob``)
σ(t), rate                              ``Schedule.sigma`` (:mod:`ctmc_lab.forward.schedules`)
σ̄(t) = ∫σ, noise level s                ``Schedule.sigma_bar``; ``s`` of :class:`~ctmc_lab.forward.process.NoisedDistribution`
λ(t) = 1 − e^{−σ̄}, mask level            ``Schedule.mask_level``, ``mask_level`` arguments
Q (column convention), Q_t = σ(t) Q     ``Generator.Q`` (:mod:`ctmc_lab.forward.generators`)
K = exp(σ̄ Q), p_{t|0}(a|b) = K[a, b]     :func:`~ctmc_lab.forward.process.token_kernel`, ``NoisedDistribution.K``, ``ForwardProcess.kernel``, ``ForwardProcess.p_t_given_0``
p_t = p_s                               ``NoisedDistribution.p`` (:class:`~ctmc_lab.forward.process.NoisedDistribution`)
s*(x)_y = p_t(y)/p_t(x) (Eq. 4)         :func:`~ctmc_lab.exact.scores.concrete_score`
ℓ_DSE (Eq. 3), ℓ_DCE                    :func:`~ctmc_lab.exact.scores.dse`, :func:`~ctmc_lab.exact.scores.dce`
K(a) = a(log a − 1)                     :func:`ctmc_lab.exact.scores.entropy_term`
mdse(x_0, t), mdce(x_0, λ)              :func:`~ctmc_lab.exact.scores.mdse`, :func:`~ctmc_lab.exact.scores.mdce`
c* (optimal denoiser), c^θ              :class:`~ctmc_lab.sources.denoisers.OptimalDenoiser`; any :class:`~ctmc_lab.sources.denoisers.Denoiser`
D_KL(p_{t|0} ‖ p_t), its rate           :func:`~ctmc_lab.exact.information.kl`, :func:`~ctmc_lab.exact.information.kl_rate` (Thm 3.1)
I(x_0; x_t)                             :func:`~ctmc_lab.exact.information.mutual_information`
h(U) = −log P_0(x_0^U)                  ``JointDistribution.subset_table``, :func:`~ctmc_lab.masks.subset_entropy`
A(M) (optimal DCE of mask M)            :func:`~ctmc_lab.masks.mask_dce`
B(Λ; m, L−m+1), Σ_M B·A(M)              :func:`~ctmc_lab.masks.mask_weights`, :func:`~ctmc_lab.masks.imdce_sum` (Cor 3.7, Thm 4.1)
H_n = Σ_{j≤n} 1/j                       :func:`~ctmc_lab.masks.harmonic`
the estimators of −log p_0 (Eq. 15)     :data:`~ctmc_lab.estimation.estimators.ESTIMATORS`, :func:`~ctmc_lab.estimation.estimators.estimate` (Monte Carlo),
                                        :func:`~ctmc_lab.estimation.moments.estimator_moments` (exact mean and variance)
−log p_0(x^{I2} | x^{I1}) (Cor 4.3)     :func:`~ctmc_lab.estimation.conditional.conditional_likelihood`
k-th order Markov source (Fig. 1b)      :class:`~ctmc_lab.sources.markov.chain.MarkovChain`, :func:`~ctmc_lab.sources.markov.chain.markov4`
D128 (the paper's DNA table)            :func:`~ctmc_lab.sources.datasets.dna128`
======================================  ==============================================================
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Public name -> the module that defines it (one home per name; imported on first access).
_EXPORTS = {
    # sources
    "Alphabet": "ctmc_lab.sequences",
    "JointDistribution": "ctmc_lab.sources.joint",
    "MarkovChain": "ctmc_lab.sources.markov",
    "markov4": "ctmc_lab.sources.markov",
    "Denoiser": "ctmc_lab.sources.denoisers",
    "OptimalDenoiser": "ctmc_lab.sources.denoisers",
    "dna128": "ctmc_lab.sources.datasets",
    "dirichlet": "ctmc_lab.sources.datasets",
    "Source": "ctmc_lab.sources.base",
    # masks
    "harmonic": "ctmc_lab.masks",
    "subset_entropy": "ctmc_lab.masks",
    "mask_dce": "ctmc_lab.masks",
    "mask_weights": "ctmc_lab.masks",
    "imdce_sum": "ctmc_lab.masks",
    # forward
    "Generator": "ctmc_lab.forward.generators",
    "NoiseProcess": "ctmc_lab.forward.generators",
    "register_noise_process": "ctmc_lab.forward.generators",
    "Loglinear": "ctmc_lab.forward.schedules",
    "Geometric": "ctmc_lab.forward.schedules",
    "Linear": "ctmc_lab.forward.schedules",
    "Cosine": "ctmc_lab.forward.schedules",
    "token_kernel": "ctmc_lab.forward.process",
    "NoisedDistribution": "ctmc_lab.forward.process",
    "ForwardProcess": "ctmc_lab.forward.process",
    # exact
    "kl": "ctmc_lab.exact.information",
    "kl_rate": "ctmc_lab.exact.information",
    "mutual_information": "ctmc_lab.exact.information",
    "concrete_score": "ctmc_lab.exact.scores",
    "dse": "ctmc_lab.exact.scores",
    "dce": "ctmc_lab.exact.scores",
    "mdse": "ctmc_lab.exact.scores",
    "mdce": "ctmc_lab.exact.scores",
    # estimation
    "ESTIMATORS": "ctmc_lab.estimation.estimators",
    "estimate": "ctmc_lab.estimation.estimators",
    "estimator_moments": "ctmc_lab.estimation.moments",
    "EstimatorSpec": "ctmc_lab.estimation.registry",
    "register_estimator": "ctmc_lab.estimation.registry",
    "conditional_likelihood": "ctmc_lab.estimation.conditional",
}

#: Subpackages and modules reachable as attributes (``ctmc_lab.exact.scores`` after ``import ctmc_lab``).
_SUBMODULES = frozenset(
    {
        "io",
        "sequences",
        "masks",
        "sources",
        "forward",
        "exact",
        "estimation",
        "studies",
        "plotting",
        "conformance",
        "testing",
    }
)

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    import importlib  # here, not at the top: `import ctmc_lab` alone stays as cheap as its version

    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
