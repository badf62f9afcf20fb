"""Per-token rate matrices Q (``docs/theory.md`` §1.2, §1.4).

Column convention: ``Q[a, b]`` is the rate of a jump b -> a; columns sum to 0 and
``d/dt p_t = Q_t p_t``. The state space of one token has ``n_states`` entries, of which
the first ``n_tokens`` are clean symbols (absorbing noise adds the mask state ``N``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["Generator", "absorbing", "uniform", "custom", "validate_generator", "kronecker_sum"]

# Tolerance on column sums of a user Q (relative to the largest rate).
_COLUMN_TOLERANCE = 1e-12
#: Largest per-token state space of a user Q (its kernels are dense S x S matrices).
MAX_STATES = 1024


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def validate_generator(Q) -> np.ndarray:
    """Check a rate matrix in the column convention and return it as a float array.

    Raises
    ------
    ValueError
        If Q is not square and finite, an off-diagonal entry is negative, or a column does
        not sum to 0 (with the offending value).
    """
    if isinstance(Q, np.ndarray):
        if not (np.issubdtype(Q.dtype, np.number) or Q.dtype == bool) or np.iscomplexobj(Q):
            raise ValueError(f"`Q` must hold real numbers (got dtype {Q.dtype})")
    elif not (
        isinstance(Q, (list, tuple))
        and all(isinstance(row, (list, tuple)) and all(_is_number(v) for v in row) for row in Q)
    ):
        raise ValueError(
            "`Q` must be a square matrix given as a list of rows of numbers (got "
            f"{type(Q).__name__}{'' if not isinstance(Q, (list, tuple)) else ' with other entries'})"
        )
    try:
        Q = np.array(Q, dtype=float)
    except ValueError:
        raise ValueError("`Q` rows must all have the same length (a square matrix)") from None
    if Q.ndim == 2 and Q.shape[0] > MAX_STATES:
        raise ValueError(f"`Q` has {Q.shape[0]} states; at most {MAX_STATES} per token are supported")
    if Q.ndim != 2 or Q.shape[0] != Q.shape[1] or Q.shape[0] < 2:
        raise ValueError(f"`Q` must be a square matrix with at least 2 states (got shape {Q.shape})")
    if not np.all(np.isfinite(Q)):
        raise ValueError("`Q` must be finite (got NaN or infinity)")
    off = Q - np.diag(np.diag(Q))
    if off.min() < 0:
        a, b = np.unravel_index(np.argmin(off), Q.shape)
        raise ValueError(f"`Q` off-diagonal rates must be >= 0 (Q[{a}, {b}] = {Q[a, b]:.3g})")
    col = np.abs(Q.sum(axis=0))
    scale = max(1.0, np.abs(Q).max())
    if col.max() > _COLUMN_TOLERANCE * scale:
        raise ValueError(
            f"`Q` columns must sum to 0 (column convention, Q[a, b] = rate b -> a; "
            f"max |sum| = {col.max():.3g}). A row-convention matrix R is passed as R.T"
        )
    if not np.any(off > 0):
        raise ValueError("`Q` has no positive rate: it does not move any state")
    return Q


@dataclass(frozen=True)
class Generator:
    """A validated per-token rate matrix.

    Attributes
    ----------
    Q : (S, S) float array
        Rates in the column convention.
    n_tokens : int
        N, the number of clean symbols (the first N states).
    kind : {"absorbing", "uniform", "custom"}
        Selects the closed-form kernel where one exists.
    """

    Q: np.ndarray = field(repr=False)
    n_tokens: int
    kind: str = "custom"

    @property
    def n_states(self) -> int:
        """S, the size of one token's state space."""
        return self.Q.shape[0]

    @property
    def mask_id(self) -> int | None:
        """The mask state N for absorbing noise, else None."""
        return self.n_tokens if self.kind == "absorbing" else None

    def __repr__(self) -> str:
        return f"Generator(kind={self.kind!r}, n_tokens={self.n_tokens}, n_states={self.n_states})"


def absorbing(n_tokens: int) -> Generator:
    """Absorbing (masking) noise on N symbols plus the mask state N.

    ``Q[M, b] = 1`` and ``Q[b, b] = -1`` for clean b; the mask column is 0 (§1.2).
    """
    n = int(n_tokens)
    Q = np.zeros((n + 1, n + 1))
    Q[n, :n] = 1.0
    Q[np.arange(n), np.arange(n)] = -1.0
    return Generator(Q, n, "absorbing")


def uniform(n_tokens: int) -> Generator:
    """Uniform noise with SEDD normalisation, ``Q = (1/N) 11^T - I`` (§1.2)."""
    n = int(n_tokens)
    if n < 2:
        raise ValueError(f"uniform noise needs at least 2 symbols (got n_tokens={n})")
    return Generator(np.full((n, n), 1.0 / n) - np.eye(n), n, "uniform")


def custom(Q, *, n_tokens: int | None = None) -> Generator:
    """A user rate matrix, validated; the first ``n_tokens`` states are clean (default: all)."""
    Q = validate_generator(Q)
    n_tokens = Q.shape[0] if n_tokens is None else int(n_tokens)
    if n_tokens > Q.shape[0]:
        raise ValueError(
            f"`Q` has {Q.shape[0]} states but must act on {n_tokens} clean symbols: expected an S x S "
            f"matrix with S >= {n_tokens} (the first {n_tokens} states are the clean symbols, in alphabet order)"
        )
    if n_tokens < 1:
        raise ValueError(f"`n_tokens` must be at least 1 (got {n_tokens})")
    return Generator(Q, n_tokens, "custom")


def kronecker_sum(Q, length: int) -> sp.csr_matrix:
    """The sequence generator ``Q^(L) = sum_i I^{⊗i} ⊗ Q ⊗ I^{⊗(L-1-i)}`` (§1.4), sparse.

    For small L and for tests: its dense exponential is the brute-force twin of the
    per-token kernels applied along axes.
    """
    Q = Q.Q if isinstance(Q, Generator) else np.asarray(Q, dtype=float)
    n = Q.shape[0]
    total = sp.csr_matrix((n**length, n**length))
    for i in range(length):
        left = sp.identity(n**i, format="csr")
        right = sp.identity(n ** (length - 1 - i), format="csr")
        total = total + sp.kron(sp.kron(left, sp.csr_matrix(Q)), right, format="csr")
    return total.tocsr()
