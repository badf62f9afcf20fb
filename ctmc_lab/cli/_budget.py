"""The commands' resource model: estimate memory and work before spending them, refuse with numbers.

Each command states, from its inputs (N, L, support size, samples, pairs), the peak memory
of its largest arrays and its work in elementary array operations, and calls :func:`require`
before it allocates anything. The limits are the machine's available memory (half of it,
so the run leaves room for the rest of the system) and :data:`WORK_LIMIT` operations.

An operation is one element of one array pass (a comparison, a product, a copy) or one
multiply-add of a contraction; each command's model counts them from its code path (the
functions and tests name which) rather than from a rule of thumb.

Calibration (the project's 2-core machine): the vectorised paths sustain 5e8 (a support scan)
to 3e9 (the Markov trie's contractions) counted operations per CPU second, so WORK_LIMIT is a
minute or two at worst. ``ctmc-lab nll --dist markov4`` at its documented defaults counts
2.6e10 (10 s of CPU, 90 s of wall time on a machine shared with seven other jobs), so it runs;
``ctmc-lab nll`` of one sequence against a full 4^10 table counts 8.6e10 (143 s measured with
the old model), over the limit, so it is refused.
"""

from __future__ import annotations

import os

__all__ = [
    "WORK_LIMIT",
    "MEMORY_FRACTION",
    "available_memory",
    "memory_limit",
    "over_budget",
    "require",
    "fmt_bytes",
    "absorbing_marginal_cost",
    "optimal_row_cost",
]

#: Largest work accepted, in counted operations (about a minute or two here).
WORK_LIMIT = 5e10
#: Fraction of the available memory one command may plan to use.
MEMORY_FRACTION = 0.5


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable`` on Linux; else physical memory; else 4 GiB)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def memory_limit() -> int:
    """Bytes one command may plan to allocate."""
    return int(MEMORY_FRACTION * available_memory())


def fmt_bytes(n: float) -> str:
    """``n`` bytes with a binary unit and 3 significant digits (``fmt_bytes(3 << 30) == '3 GiB'``)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def over_budget(*, memory: float = 0.0, work: float = 0.0) -> str | None:
    """Why ``memory`` bytes and ``work`` operations exceed the machine, or None if they fit."""
    limit = memory_limit()
    if memory > limit:
        return f"needs about {fmt_bytes(memory)} of memory, more than the {fmt_bytes(limit)} allowed (half of what is available)"
    if work > WORK_LIMIT:
        return f"needs about {work:.2g} array operations, more than the limit {WORK_LIMIT:.0e} (minutes of work)"
    return None


def absorbing_marginal_cost(n_tokens: int, length: int) -> tuple[float, float]:
    """(bytes, operations) of one p_s under absorbing noise (``ctmc_lab.forward.marginals.absorbing_marginal``).

    Besides the (N+1)^L output and the axis steps over it (L passes), the last two axes are
    applied as one Kronecker factor K ⊗ K of shape ((N+1)^2, N^2), a dense matrix product:
    N^L (N+1)^2 multiply-adds and three copies of 8 (N(N+1))^2 bytes, which dominate for a
    large alphabet (3 x 12 GiB at N = 200).
    """
    n, L = float(n_tokens), int(length)
    inner = min(2, L)
    states = (n + 1) ** L
    # The output, an intermediate of its size, and the factor three times: np.kron's broadcast
    # product, its reshaped result and the contiguous transpose handed to the matrix product.
    memory = 8.0 * (2 * states + 3 * (n * (n + 1)) ** inner)
    work = states * L + n**L * (n + 1) ** inner
    return memory, work


def optimal_row_cost(n_tokens: int, length: int, support_size: int) -> tuple[float, float]:
    """(operations per masked input, one-off operations) of the optimal denoiser c* of a joint table.

    ``JointDistribution.conditional_log_probs``: with the (N+1)^L pattern table (up to
    ``PATTERN_LIMIT`` entries, built once by L passes) an input costs L N lookups and a few
    passes over them; beyond it, a scan of the support: the (S, L) comparison and mass (4 S L)
    and the (S, L N) product (S L N).
    """
    from ctmc_lab.sources.joint import PATTERN_LIMIT

    patterns = (n_tokens + 1.0) ** length
    if patterns <= PATTERN_LIMIT:
        return 8.0 * length * n_tokens, length * patterns
    return float(support_size) * length * (4.0 + n_tokens), 0.0


def require(what: str, *, memory: float = 0.0, work: float = 0.0, lower: str) -> None:
    """Raise ``ValueError`` if ``what`` would exceed the machine; ``lower`` says which option lowers it."""
    reason = over_budget(memory=memory, work=work)
    if reason:
        raise ValueError(f"{what} {reason}; {lower}")
