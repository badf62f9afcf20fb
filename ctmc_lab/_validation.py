"""Validators and tolerances shared by every layer.

Each validator returns the checked value in canonical form or raises ``ValueError`` with one
line naming the argument and the rule it breaks, which the command line prints as its
``error:`` message (exit status 2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SUM_TOLERANCE", "positive_int", "subset_table_length"]

#: Tolerance on a sum that must be 1 (a distribution's probabilities, a transition row, a
#: denoiser's masked-position row): DESIGN.md's "a sum off 1 by more than 1e-9 is refused".
#: Also the slack under which a negative KL or variance is float rounding, clamped to 0.
SUM_TOLERANCE = 1e-9


def positive_int(value, name: str, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` ≥ ``minimum``; bools, floats and strings are refused.

    Examples
    --------
    >>> positive_int(3, "n_samples")
    3
    >>> positive_int(0, "n_samples")
    Traceback (most recent call last):
    ...
    ValueError: `n_samples` must be a positive integer (got 0)
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        rule = "a positive integer" if minimum == 1 else f"an integer ≥ {minimum}"
        raise ValueError(f"`{name}` must be {rule} (got {value!r})")
    return int(value)


def subset_table_length(n_entries: int, name: str = "A", *, minimum: int = 0) -> int:
    """L for a table indexed by the 2**L subsets (bitmasks) of ``[L]``.

    Examples
    --------
    >>> subset_table_length(8)
    3
    >>> subset_table_length(6)
    Traceback (most recent call last):
    ...
    ValueError: `A` must have 2**n entries on its last axis, n ≥ 0 (got 6)
    """
    length = int(n_entries).bit_length() - 1
    if n_entries < 1 or 1 << length != n_entries or length < minimum:
        raise ValueError(f"`{name}` must have 2**n entries on its last axis, n ≥ {minimum} (got {n_entries})")
    return length
