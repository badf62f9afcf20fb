"""Per-token rate matrices Q and the registry of noise processes (``docs/theory.md`` §1.2, §1.4).

A noise process (:class:`NoiseProcess`) is registered once in ``NOISE_PROCESSES``, with its
rates, its closed-form kernel exp(sQ), whether it has a mask token and an optional fast
marginal; its :class:`Generator` carries it, so every layer above reads those facts from the
generator instead of comparing process names.

Column convention: ``Q[a, b]`` is the rate of a jump b -> a; columns sum to 0 and
``d/dt p_t = Q_t p_t``. The state space of one token has ``n_states`` entries, of which
the first ``n_tokens`` are clean symbols (absorbing noise adds the mask state ``N``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ctmc_lab._validation import (
    InvalidTypeError,
    ensure_bool,
    ensure_callable,
    ensure_int,
    ensure_real,
    ensure_size,
    ensure_str,
    positive_int,
    power,
)
from ctmc_lab.forward.marginals import absorbing_marginal

__all__ = [
    "Generator",
    "NoiseProcess",
    "NOISE_PROCESSES",
    "register_noise_process",
    "noise_process",
    "absorbing",
    "uniform",
    "custom",
    "absorbing_rates",
    "absorbing_kernel",
    "uniform_rates",
    "uniform_kernel",
    "validate_generator",
    "kronecker_sum",
]

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
class NoiseProcess:
    """A named noise process: everything the library needs to know about one family of Q.

    Registered in ``NOISE_PROCESSES`` (by :func:`register_noise_process`), a process is
    picked up by name everywhere a process is chosen: ``noise_process``,
    :class:`~ctmc_lab.forward.process.NoisedDistribution` (its closed-form kernel and fast
    marginal), ``ctmc-lab curve --process`` and the hypothesis strategy
    :func:`ctmc_lab.testing.strategies.generators_for`.

    Attributes
    ----------
    name : str
        The name used on the command line and in ``NOISE_PROCESSES``.
    rates : callable
        ``rates(N) -> (S, S) float array``: Q on N clean symbols, column convention (§1.2).
    kernel : callable or None
        ``kernel(N, s) -> (S, S) float array``: the closed form of ``exp(sQ)`` at noise
        level s >= 0, or None when there is none (then the kernel is computed numerically
        and cross-checked, as for a user Q).
    has_mask : bool
        Whether state N (after the N clean symbols) is the mask token of masking noise;
        then S = N + 1, else S = N.
    min_tokens : int
        Smallest N on which the process is defined.
    marginal : callable or None
        ``marginal(p0, s) -> (S,) * L float array``: p_s = K_s^{⊗L} p0 from p0 as an
        ``(N,) * L`` tensor, a fast path equal to the generic per-axis sweep with ``kernel``.
    """

    name: str
    rates: Callable[[int], np.ndarray] = field(repr=False)
    kernel: Callable[[int, float], np.ndarray] | None = field(default=None, repr=False)
    has_mask: bool = False
    min_tokens: int = 1
    marginal: Callable[[np.ndarray, float], np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self):
        ensure_str(self.name, "name")
        ensure_callable(self.rates, "rates")
        for name in ("kernel", "marginal"):
            if getattr(self, name) is not None:
                ensure_callable(getattr(self, name), name)
        object.__setattr__(self, "has_mask", ensure_bool(self.has_mask, "has_mask"))
        object.__setattr__(self, "min_tokens", ensure_int(self.min_tokens, "min_tokens", minimum=1))

    def n_states(self, n_tokens: int) -> int:
        """S, the size of one token's state space: N + 1 with a mask token, else N."""
        return ensure_int(n_tokens, "n_tokens", minimum=1) + int(self.has_mask)

    def generator(self, n_tokens: int) -> Generator:
        """The validated :class:`Generator` of this process on ``n_tokens`` clean symbols.

        Raises
        ------
        ValueError
            If N is below ``min_tokens``, or ``rates(N)`` is not a valid rate matrix of
            :meth:`n_states` states (``validate_generator``).
        """
        n = ensure_int(n_tokens, "n_tokens", minimum=1)
        if n < self.min_tokens:
            plural = "s" if self.min_tokens != 1 else ""
            raise ValueError(
                f"{self.name} noise needs at least {self.min_tokens} symbol{plural} (got `n_tokens` = {n})"
            )
        Q = validate_generator(self.rates(n))
        if Q.shape[0] != self.n_states(n):
            raise ValueError(
                f"noise process {self.name!r}: rates({n}) has {Q.shape[0]} states, expected {self.n_states(n)} "
                f"(N clean symbols{' plus the mask' if self.has_mask else ''})"
            )
        return Generator(Q, n, self)


@dataclass(frozen=True)
class Generator:
    """A validated per-token rate matrix, with the noise process it belongs to.

    Attributes
    ----------
    Q : (S, S) float array
        Rates in the column convention.
    n_tokens : int
        N, the number of clean symbols (the first N states).
    process : NoiseProcess or None
        The registered process Q comes from (its closed-form kernel, mask and fast
        marginal), or None for a user Q (``custom``).
    """

    Q: np.ndarray = field(repr=False)
    n_tokens: int
    process: NoiseProcess | None = None

    def __post_init__(self):
        # Built directly by a user too: Q is re-validated (S x S work), and stored as a float array.
        object.__setattr__(self, "Q", validate_generator(self.Q))
        object.__setattr__(self, "n_tokens", ensure_int(self.n_tokens, "n_tokens", minimum=1, maximum=self.Q.shape[0]))
        if self.process is not None and not isinstance(self.process, NoiseProcess):
            raise InvalidTypeError(f"`process` must be a NoiseProcess or None (got {type(self.process).__name__})")

    @property
    def kind(self) -> str:
        """The process name, or ``"custom"`` for a user Q."""
        return "custom" if self.process is None else self.process.name

    @property
    def n_states(self) -> int:
        """S, the size of one token's state space."""
        return self.Q.shape[0]

    @property
    def mask_id(self) -> int | None:
        """The mask state N of masking noise, else None."""
        return self.n_tokens if self.process is not None and self.process.has_mask else None

    @property
    def has_closed_form(self) -> bool:
        """Whether :meth:`closed_form_kernel` exists (a registered process with a ``kernel``)."""
        return self.process is not None and self.process.kernel is not None

    def closed_form_kernel(self, s: float) -> np.ndarray:
        """exp(sQ) by the process's closed form (§1.2), e.g. ``absorbing_kernel``.

        Raises
        ------
        ValueError
            For a user Q or a process registered without a closed form.
        """
        if not self.has_closed_form:
            raise ValueError(
                f"no closed-form kernel for a {self.kind!r} generator; use method='expm' or 'uniformization'"
            )
        return self.process.kernel(self.n_tokens, _noise_level(s))

    def __repr__(self) -> str:
        return f"Generator(kind={self.kind!r}, n_tokens={self.n_tokens}, n_states={self.n_states})"


def _noise_level(s) -> float:
    """A noise level s as a finite float ≥ 0."""
    return ensure_real(s, "s", lo=0.0)


def _symbols(n_tokens) -> int:
    """N as an int in 1..MAX_STATES - 1 (a closed-form kernel is a dense (N+1) x (N+1) matrix)."""
    return ensure_int(n_tokens, "n_tokens", minimum=1, maximum=MAX_STATES - 1)


def absorbing_rates(n_tokens: int) -> np.ndarray:
    """Absorbing Q on N symbols plus the mask state N: ``Q[N, b] = 1``, ``Q[b, b] = -1`` (§1.2, A1).

    The mask column is 0: a masked token stays masked.
    """
    n_tokens = _symbols(n_tokens)
    Q = np.zeros((n_tokens + 1, n_tokens + 1))
    Q[n_tokens, :n_tokens] = 1.0
    Q[np.arange(n_tokens), np.arange(n_tokens)] = -1.0
    return Q


def absorbing_kernel(n_tokens: int, s: float) -> np.ndarray:
    """exp(sQ) of absorbing noise: e^{-s} on the clean diagonal, 1 - e^{-s} into the mask (§1.2, A1).

    ``-expm1(-s)`` keeps the masking probability accurate for small s.
    """
    n, s = _symbols(n_tokens), _noise_level(s)
    decay, jump = np.exp(-s), -np.expm1(-s)
    K = np.zeros((n + 1, n + 1))
    K[np.arange(n), np.arange(n)] = decay
    K[n, :n] = jump
    K[n, n] = 1.0
    return K


def uniform_rates(n_tokens: int) -> np.ndarray:
    """Uniform Q with SEDD normalisation, ``Q = (1/N) 11^T - I`` (§1.2, A2)."""
    n = _symbols(n_tokens)
    return np.full((n, n), 1.0 / n) - np.eye(n)


def uniform_kernel(n_tokens: int, s: float) -> np.ndarray:
    """exp(sQ) of uniform noise, ``e^{-s} I + (1 - e^{-s}) 11^T / N`` (§1.2, A2)."""
    n, s = _symbols(n_tokens), _noise_level(s)
    decay, jump = np.exp(-s), -np.expm1(-s)
    return decay * np.eye(n) + jump / n


#: Registered noise processes by name (DESIGN.md principle 6: one table, read by every caller).
NOISE_PROCESSES: dict[str, NoiseProcess] = {}

#: Noise levels and sizes at which :func:`register_noise_process` checks a closed form against expm.
_CHECK_LEVELS = (1e-3, 0.4, 3.0)
_CHECK_TOLERANCE = 1e-12


def register_noise_process(process: NoiseProcess, *, replace: bool = False, check: bool = True) -> NoiseProcess:
    """Add ``process`` to ``NOISE_PROCESSES``, so that every caller can choose it by name.

    Parameters
    ----------
    process : NoiseProcess
    replace : bool
        Allow replacing a registered process of the same name.
    check : bool
        Build the generator for N = ``min_tokens`` and ``min_tokens + 1`` and compare the
        closed-form kernel (when given) with ``scipy.linalg.expm(s Q)`` at a few noise levels,
        so that a wrong formula is refused at registration rather than found in a result.

    Returns
    -------
    NoiseProcess
        ``process``, for use as ``absorbing = register_noise_process(NoiseProcess(...))``.

    Raises
    ------
    ValueError
        On a name already taken (without ``replace``), the reserved name ``"custom"``, or a
        failed check (naming N, s and the gap).
    """
    if not isinstance(process, NoiseProcess):
        raise InvalidTypeError(f"`process` must be a NoiseProcess (got {type(process).__name__})")
    replace, check = ensure_bool(replace, "replace"), ensure_bool(check, "check")
    if process.name == "custom" or not process.name:
        raise ValueError(f"`process` name {process.name!r} is reserved for user rate matrices")
    if process.name in NOISE_PROCESSES and not replace:
        raise ValueError(f"noise process {process.name!r} is already registered (pass replace=True)")
    if check:
        for n in (process.min_tokens, process.min_tokens + 1):
            g = process.generator(n)
            for s in _CHECK_LEVELS if process.kernel is not None else ():
                gap = float(np.abs(g.closed_form_kernel(s) - scipy.linalg.expm(s * g.Q)).max())
                if not gap <= _CHECK_TOLERANCE:
                    raise ValueError(
                        f"noise process {process.name!r}: closed-form kernel differs from expm(sQ) by "
                        f"{gap:.3g} at N = {n}, s = {s:g} (tolerance {_CHECK_TOLERANCE:g})"
                    )
    NOISE_PROCESSES[process.name] = process
    return process


def noise_process(name: str) -> NoiseProcess:
    """The registered process called ``name``; an unknown name lists the registered ones."""
    if not isinstance(name, str):
        raise InvalidTypeError(
            f"`name` must be the name of a noise process, one of {sorted(NOISE_PROCESSES)} (got {name!r})"
        )
    try:
        return NOISE_PROCESSES[name]
    except KeyError:
        raise ValueError(f"unknown noise process {name!r}; choose one of {sorted(NOISE_PROCESSES)}") from None


# The built-in closed forms are checked by the tests and the verifier (sympy, mpmath), not at import.
ABSORBING = register_noise_process(
    NoiseProcess(
        "absorbing", absorbing_rates, absorbing_kernel, has_mask=True, min_tokens=1, marginal=absorbing_marginal
    ),
    check=False,
)
UNIFORM = register_noise_process(NoiseProcess("uniform", uniform_rates, uniform_kernel, min_tokens=2), check=False)


def absorbing(n_tokens: int) -> Generator:
    """Absorbing (masking) noise on N symbols plus the mask state N (§1.2, A1); see :func:`absorbing_rates`."""
    return ABSORBING.generator(n_tokens)


def uniform(n_tokens: int) -> Generator:
    """Uniform noise with SEDD normalisation, ``Q = (1/N) 11^T - I`` (§1.2, A2); N >= 2."""
    return UNIFORM.generator(n_tokens)


def custom(Q, *, n_tokens: int | None = None) -> Generator:
    """A user rate matrix, validated (``validate_generator``); the first ``n_tokens`` states are clean.

    Parameters
    ----------
    Q : (S, S) array-like
        Rates in the column convention, ``Q[a, b]`` the rate b -> a.
    n_tokens : int, optional
        N, the number of clean symbols (default: all S states).

    Returns
    -------
    Generator
        With ``process=None``: its kernel is computed numerically (uniformization, checked
        against expm).
    """
    Q = validate_generator(Q)
    n_tokens = Q.shape[0] if n_tokens is None else positive_int(n_tokens, "n_tokens")
    if n_tokens > Q.shape[0]:
        raise ValueError(
            f"`Q` has {Q.shape[0]} states but must act on {n_tokens} clean symbols: expected an S x S "
            f"matrix with S >= {n_tokens} (the first {n_tokens} states are the clean symbols, in alphabet order)"
        )
    return Generator(Q, n_tokens)


def kronecker_sum(Q, length: int) -> sp.csr_matrix:
    """The sequence generator ``Q^(L) = sum_i I^{⊗i} ⊗ Q ⊗ I^{⊗(L-1-i)}`` (§1.4), sparse.

    For small L and for tests: its dense exponential is the brute-force twin of the
    per-token kernels applied along axes.
    """
    Q = Q.Q if isinstance(Q, Generator) else validate_generator(Q)
    length = ensure_int(length, "length", minimum=1)
    n = Q.shape[0]
    ensure_size(
        power(n, length) * length * n, f"`length` = {length}: the Kronecker sum of {length} copies of a {n}-state Q"
    )
    total = sp.csr_matrix((n**length, n**length))
    for i in range(length):
        left = sp.identity(n**i, format="csr")
        right = sp.identity(n ** (length - 1 - i), format="csr")
        total = total + sp.kron(sp.kron(left, sp.csr_matrix(Q)), right, format="csr")
    return total.tocsr()
