"""A source's sequences read from strings or integers, and printed back (one rule for every source).

Strings go through the source's alphabet (one character per token, ``?`` the mask), integer
arrays are validated by :func:`~ctmc_lab._validation.ensure_tokens`; without an alphabet a
sequence prints as comma-separated integers.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import ensure_tokens
from ctmc_lab.sequences import Alphabet


def read_tokens(
    x,
    alphabet: Alphabet | None,
    n_tokens: int,
    name: str,
    *,
    length: int | None = None,
    allow_mask: bool = False,
    ndim=range(1, 33),
    owner: str = "distribution",
) -> np.ndarray:
    """``x`` (strings or ints) as an int64 token array, sequences on the last axis; messages name ``name``.

    ``length``, when given, is the required sequence length; ``owner`` names the source in the
    message for a string without an alphabet.
    """
    if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
        if alphabet is None:
            raise ValueError(f"`{name}`: this {owner} has no alphabet: pass integer token arrays")
        x = alphabet.encode(x, allow_mask=allow_mask, name=name)
        if length is not None and x.shape[-1] != length:  # a string's length is not an axis: say so
            raise ValueError(f"sequences must have length {length} (got shape {x.shape})")
    return ensure_tokens(x, n_tokens, length, allow_mask=allow_mask, name=name, ndim=ndim)


def show_tokens(x, alphabet: Alphabet | None, n_tokens: int) -> str | list[str]:
    """Tokens in 0..N (``(L,)`` or ``(B, L)``) as strings; comma-separated integers without an alphabet."""
    if alphabet is not None:
        return alphabet.decode(x)
    x = ensure_tokens(x, n_tokens, allow_mask=True)
    return ",".join(map(str, x)) if x.ndim == 1 else [",".join(map(str, row)) for row in x]
