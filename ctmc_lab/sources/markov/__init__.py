"""k-th order Markov sources and their exact conditionals by forward–backward (``docs/theory.md`` §1.1, §5.4).

* :mod:`~ctmc_lab.sources.markov.chain`: the :class:`~ctmc_lab.sources.markov.chain.MarkovChain` object (validation,
  constructors, encoding, sampling), :class:`~ctmc_lab.sources.markov.chain.ContinuedChain` (windows after a prompt), its
  optimal denoiser :class:`~ctmc_lab.sources.markov.chain.MarkovDenoiser` and the paper's chain :func:`~ctmc_lab.sources.markov.chain.markov4`;
* :mod:`~ctmc_lab.sources.markov.inference`: pure functions of the transition table, the
  lifted-chain algebra (π, entropy rate) and the batched forward–backward pass;
* :mod:`~ctmc_lab.sources.markov.trie`: the mask-trie engine, every mask of a target set at once.
"""

from ctmc_lab.sources.markov.chain import MASK_DCE_METHODS, ContinuedChain, MarkovChain, MarkovDenoiser, markov4
from ctmc_lab.sources.markov.inference import (
    ForwardBackward,
    entropy_rate,
    forward_backward,
    is_irreducible,
    lifted_matrix,
    stationary_distribution,
)
from ctmc_lab.sources.markov.trie import subset_log_evidence, target_conditionals, trie_mask_dce

__all__ = [
    "MarkovChain",
    "ContinuedChain",
    "MarkovDenoiser",
    "markov4",
    "MASK_DCE_METHODS",
    "ForwardBackward",
    "forward_backward",
    "lifted_matrix",
    "is_irreducible",
    "stationary_distribution",
    "entropy_rate",
    "subset_log_evidence",
    "target_conditionals",
    "trie_mask_dce",
]
