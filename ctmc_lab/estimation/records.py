"""What an estimator returns: a Monte Carlo :class:`~ctmc_lab.estimation.records.Estimate` and the exact :class:`~ctmc_lab.estimation.records.Moments` of one draw.

Both are built here and nowhere else, so the standard error rule (i.i.d. draws or batch means,
``docs/theory.md`` §6) and the JSON form of an exact record (``ctmc-lab nll --json``) are
written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ctmc_lab._validation import ensure_array, ensure_bool, ensure_mask_table, ensure_str, positive_int

__all__ = ["Estimate", "estimate_record", "Moments", "moments_records"]


@dataclass(frozen=True, eq=False)
class Estimate:
    """A Monte Carlo estimate of an NLL (or log-ratio) in nats.

    Attributes
    ----------
    estimator : str
        The estimator's name (a key of :mod:`ctmc_lab.estimation.registry`).
    mean : float
        The sample mean of the single-draw values g.
    stderr : float
        Its standard error: ``std(g, ddof=1)/sqrt(n)`` for i.i.d. draws; for batch-stratified
        samplers (``EstimatorSpec.stratified``) the standard deviation of the batch means over
        sqrt(number of batches), since draws within a batch are dependent.
    n_samples : int
        Number of draws.
    values : (n_samples,) float array or None
        The per-draw values, when requested with ``return_values=True`` (read-only).
    """

    estimator: str
    mean: float
    stderr: float
    n_samples: int
    values: np.ndarray | None = field(default=None, repr=False)


def estimate_record(name: str, values, *, batch_size: int | None, return_values: bool) -> Estimate:
    """The :class:`Estimate` of ``values``: i.i.d. draws (``batch_size=None``) or whole stratified batches."""
    name = ensure_str(name, "name")
    values = ensure_array(values, "values", ndim=1, allow_empty=False)
    return_values = ensure_bool(return_values, "return_values")
    if batch_size is not None and values.size % positive_int(batch_size, "batch_size"):
        raise ValueError(f"`values` must be whole batches of `batch_size` {batch_size} (got {values.size} values)")
    n = values.size
    mean = float(values.mean())
    if not np.isfinite(mean):
        stderr = np.inf if mean == np.inf else np.nan
    elif batch_size is None:
        stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf
    else:
        means = values.reshape(-1, batch_size).mean(axis=1)
        stderr = float(means.std(ddof=1) / np.sqrt(means.size))
    if return_values:
        values.setflags(write=False)
    return Estimate(name, mean, float(stderr), n, values if return_values else None)


@dataclass(frozen=True)
class Moments:
    """Exact moments of one draw g of an estimator at one sequence.

    Attributes
    ----------
    estimator : str
    mean : float
        E[g]; ``inf`` if the model gives x0 probability 0 on a mask of positive probability.
    bias : float
        E[g] minus the reference NLL (by default the model's exact NLL, sum_M B(m,n-m+1) A(M);
        for the optimal denoiser this is -log p0(x0)). NaN when both are infinite.
    variance : float
        Var[g], ``inf`` when infinite (never a large finite stand-in). For a batch-stratified
        design, the per-draw variance B · Var(batch mean), comparable with i.i.d. draws.
    variance_is_infinite : bool
    infinite_because : tuple of int or None
        For an infinite variance, the positions i whose singleton term a_i = A({i}) =
        -log c(x0 masked at i only)_{i, x0^i} is positive (λ-DCE, ``docs/theory.md`` §6.3), or
        for an infinite mean every position with a_i = +inf. None when the variance is finite.
    """

    estimator: str
    mean: float
    bias: float
    variance: float
    variance_is_infinite: bool
    infinite_because: tuple[int, ...] | None

    def stderr(self, n_samples: int) -> float:
        """Standard error of the mean of ``n_samples`` i.i.d. draws (``inf`` if the variance is)."""
        n_samples = positive_int(n_samples, "n_samples")
        return float(np.sqrt(self.variance / n_samples))

    def as_json(self) -> dict:
        """The CLI record: ``variance`` is None when infinite, ``infinite_because`` a list or None."""

        def num(x):
            return float(x) if np.isfinite(x) else None

        return {
            "mean": num(self.mean),
            "bias": num(self.bias),
            "variance": None if self.variance_is_infinite else num(self.variance),
            "variance_is_infinite": bool(self.variance_is_infinite),
            "infinite_because": None if self.infinite_because is None else list(self.infinite_because),
        }


def _reason(singles_row: np.ndarray, positions: np.ndarray, mean_is_inf: bool):
    pick = np.isinf(singles_row) if mean_is_inf and np.isinf(singles_row).any() else singles_row > 0
    return tuple(int(p) for p in positions[pick])


def moments_records(name: str, A2, mean, var, infinite, *, reference, positions) -> list[Moments]:
    """One :class:`Moments` per table of ``A2`` ``(B, 2**n)`` from the family's (mean, var, infinite) arrays.

    The bias is ``mean - reference``; an infinite variance names the positions of its cause
    (the singleton terms a_i = A({i}) > 0, or a_i = inf for an infinite mean).
    """
    name = ensure_str(name, "name")
    A2 = ensure_mask_table(A2, "A2", ndim=2, min_length=1)
    positions = ensure_array(positions, "positions", dtype=int, ndim=1, lo=0)
    n = positions.size
    if A2.shape[1] != 1 << n:
        raise ValueError(f"`positions` must name the {A2.shape[1].bit_length() - 1} target positions of `A2`")
    mean, var, infinite = (
        ensure_array(a, key, dtype=dtype, shape=(A2.shape[0],))
        for key, a, dtype in (("mean", mean, float), ("var", var, float), ("infinite", infinite, bool))
    )
    reference = ensure_array(reference, "reference", ndim=(0, 1))
    singles = A2[:, 1 << np.arange(n)]
    with np.errstate(invalid="ignore"):
        bias = mean - reference
    out = []
    for b in range(A2.shape[0]):
        inf_b = bool(infinite[b])
        out.append(
            Moments(
                name,
                float(mean[b]),
                float(bias[b]),
                float(var[b]),
                inf_b,
                _reason(singles[b], positions, bool(np.isinf(mean[b]))) if inf_b else None,
            )
        )
    return out
