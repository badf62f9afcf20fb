"""The defaults of a verification run, importable without NumPy (the command line's help reads them).

* :data:`DEFAULT_SEED` — seed of the default distributions and of every random choice of the
  checks (``--seed``);
* :data:`DEFAULT_BUDGET` — work units one check may spend (``--budget``; the unit is defined
  in :mod:`proofs_check.cost`);
* :func:`default_jobs` — worker processes of a run (``--jobs``).
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_SEED", "DEFAULT_BUDGET", "MAX_JOBS", "default_jobs"]

#: Seed of the default distributions and of every random choice of the checks (``--seed``).
DEFAULT_SEED = 20251024
#: Work units one check may spend (``--budget``): about 30 s of one core of the reference
#: machine nominally (:data:`proofs_check.cost.RATE`). Every check fits it on the built-in
#: distributions; on a larger source a check predicted over it runs on a prefix marginal where
#: it can, or is skipped with the prediction as the reason.
DEFAULT_BUDGET = 3e10
#: Most worker processes a run starts by default.
MAX_JOBS = 8


def default_jobs() -> int:
    """Worker processes of a run: the cores this process may use, at most :data:`MAX_JOBS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_JOBS, cores))
