"""The commands' resource model: estimate memory and work before spending them, refuse with numbers.

Each command states, from its inputs (N, L, support size, samples, pairs), the peak memory
of its largest arrays and its work in elementary array operations, and calls :func:`require`
before it allocates anything. The limits are the machine's available memory (half of it,
so the run leaves room for the rest of the system) and :data:`WORK_LIMIT` operations.

Calibration (the 2-core machine of ``benchmarks/run.py``): NumPy sustains about 1e8 of
these operations per second on the hot paths, so WORK_LIMIT is of the order of a minute
or two; ``ctmc-lab nll`` on a full 4^10 table was measured at 143 s for one sequence at
about 1e10 operations, which the model refuses.
"""

from __future__ import annotations

import os

__all__ = ["WORK_LIMIT", "MEMORY_FRACTION", "available_memory", "memory_limit", "over_budget", "require", "fmt_bytes"]

#: Largest work accepted, in elementary array operations (about a minute or two here).
WORK_LIMIT = 1e10
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


def require(what: str, *, memory: float = 0.0, work: float = 0.0, lower: str) -> None:
    """Raise ``ValueError`` if ``what`` would exceed the machine; ``lower`` says which option lowers it."""
    reason = over_budget(memory=memory, work=work)
    if reason:
        raise ValueError(f"{what} {reason}; {lower}")
