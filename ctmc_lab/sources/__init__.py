"""Sources: the distributions p0 over V^L that the forward process noises.

A source hands out exact marginals of visible positions, its optimal denoiser for a length,
its mask-DCE table A(M) and samples; :class:`~ctmc_lab.sources.joint.JointDistribution` holds a
full table, :mod:`ctmc_lab.sources.markov` a k-th order chain, :mod:`ctmc_lab.sources.datasets`
the paper's data sets.
"""
