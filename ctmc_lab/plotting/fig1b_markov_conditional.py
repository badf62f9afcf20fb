"""Draw paper Fig. 1b from :func:`ctmc_lab.studies.fig1b_markov_conditional.fig1b_markov_conditional`."""

from __future__ import annotations

from ctmc_lab.plotting import fig1a_dna128_nll

__all__ = ["draw"]


def draw(study):
    """The Fig. 1a layout with conditional NLLs per pair."""
    return fig1a_dna128_nll.draw(study, what="cond. NLL")
