"""Draw paper Fig. 1b from the table of :mod:`ctmc_lab.studies.fig1b_markov_conditional`."""

from __future__ import annotations

from ctmc_lab.plotting.fig1a_dna128_nll import nll_figure

__all__ = ["draw"]


def draw(table: dict):
    """The Fig. 1a layout with conditional NLLs per pair."""
    prompt, response = len(table["prompt"][0]), len(table["response"][0])
    title = f"MK4: prompt {prompt} + response {response}, {len(table['rank'])} pairs, $H_{{{response}}}$"
    return nll_figure(table, what="cond. NLL", title=title)
