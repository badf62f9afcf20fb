"""Hypothesis strategies and parameter lists that draw from the registries (issue 20, item 2).

A test of an identity that holds for every noise process draws its generator here, so a noise
process registered later (``ctmc_lab.forward.generators.register_noise_process``) is drawn too,
with no edit to the test.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ctmc_lab.forward import generators
from ctmc_lab.testing.strategies import generators_for

__all__ = ["process_names", "process_generator", "any_generator"]

#: The kinds of user rate matrix drawn beside the registered processes (``generators_for``).
USER_KINDS = ("custom", "sparse")


def process_names(*, closed_form: bool = False) -> list[str]:
    """Every registered noise process, in registry order (only those with a closed-form kernel
    with ``closed_form``): a ``pytest.mark.parametrize`` list, read at collection."""
    return [name for name, p in generators.NOISE_PROCESSES.items() if p.kernel is not None or not closed_form]


def process_generator(name: str, n_tokens: int) -> generators.Generator:
    """The generator of the registered process ``name`` on at least ``n_tokens`` symbols (its ``min_tokens``)."""
    process = generators.noise_process(name)
    return process.generator(max(n_tokens, process.min_tokens))


def any_generator(n_tokens: int, *, user_kinds=USER_KINDS):
    """A generator on N clean symbols: any registered noise process defined on N (read when the
    test draws, so one registered at run time is included) or a user Q of ``user_kinds``."""
    return st.deferred(lambda: generators_for(n_tokens, kinds=(*generators.NOISE_PROCESSES, *user_kinds)))
