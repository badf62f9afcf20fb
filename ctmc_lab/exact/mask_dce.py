"""The mask DCE A(M) of a model on one sequence, for every mask of a target set (``docs/theory.md`` §3.5).

Fix x0, a target set T of n positions, a context set C (always visible), and let R = [L] minus
(T ∪ C) be marginalised (masked in every model input; Cor. 4.3, §4.2). For a mask M ⊆ T,

    A(M) = sum_{i in M} -log c(x0 masked on M ∪ R)_{i, x0^i},

and the model's (conditional) NLL is sum_{M ⊆ T} B(m, n-m+1) A(M) (Thm 4.1 / Cor. 4.3). Every
estimator of :mod:`ctmc_lab.estimation` draws masks and reads A; every exact moment is a sum over
the table of A. This module computes it: :class:`MaskDCE` from any ``Denoiser`` (cached per
mask), ``mask_dce_table`` its full table, :func:`optimal_mask_dce` the table of the
optimal denoiser c* from subset tables in one vectorised pass, and :func:`exact_nll` the
deterministic enumeration of the NLL.

Masks are int bitmasks over the n target positions (bit j = ``target[j]``, "local" masks).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab._validation import InvalidTypeError, ensure_array, ensure_bool, ensure_tokens, positive_int
from ctmc_lab.masks import bitmask, harmonic, imdce_sum, local_to_global
from ctmc_lab.sequences import as_positions
from ctmc_lab.sources.denoisers import check_denoiser

__all__ = ["DEFAULT_BATCH", "DENSE_CACHE_BITS", "MaskDCE", "mask_dce_table", "optimal_mask_dce", "exact_nll"]

#: Largest target size for which A(M) is cached in a dense table of 2^n floats (8 MiB at n = 20).
DENSE_CACHE_BITS = 20
#: Default number of rows per denoiser call (and of draws per vectorised step of the estimators).
DEFAULT_BATCH = 4096


class MaskDCE:
    """The DCE of a denoiser on x0, per mask over a target set: A(M) and the row-sum defect D(M).

    Parameters
    ----------
    denoiser : Denoiser
    x0 : (L,) int array
        The clean sequence (tokens 0..N-1).
    target : sequence of int or (L,) bool array, optional
        I_1, the positions whose likelihood is estimated (default: all of [L]).
    context : sequence of int or (L,) bool array, optional
        I_2, positions always visible (default: none). Positions in neither set are
        marginalised: masked in every model input (Cor. 4.3; ``docs/theory.md`` §4.2, §8 item 6).
    batch_size : int, default 4096
        Rows per denoiser call.

    Notes
    -----
    For a local mask M ⊆ T (bit j = ``target[j]``), the model input is x0 with mask id N on
    M ∪ R, and

        A(M) = sum_{i in M} -log c(x)_{i, x0^i},     D(M) = sum_{i in M} (sum_v c(x)_{i,v} - 1).

    D is 0 for a normalised denoiser; it is Lemma 3.3's correction term (§3.2) and enters the
    code's ``t_DSE`` loss. For n ≤ 20 every value computed is cached, so repeated masks
    never call the denoiser twice.
    """

    def __init__(self, denoiser, x0, *, target=None, context=None, batch_size: int = DEFAULT_BATCH):
        denoiser = check_denoiser(denoiser)
        length, n_tokens = int(denoiser.length), int(denoiser.n_tokens)
        x0 = ensure_tokens(x0, n_tokens, length, name="x0", ndim=1)
        tgt = np.arange(length) if target is None else as_positions(target, length, "target")
        ctx = np.zeros(0, np.int64) if context is None else as_positions(context, length, "context")
        if tgt.size == 0:
            raise ValueError("`target` must contain at least one position")
        if np.intersect1d(tgt, ctx).size:
            raise ValueError(f"`target` and `context` must be disjoint (both hold {np.intersect1d(tgt, ctx).tolist()})")
        if tgt.size > 62:
            raise ValueError(f"`target` has {tgt.size} positions; at most 62 fit an int64 bitmask")
        self.denoiser = denoiser
        self.x0 = x0.astype(np.int64)
        self.x0.setflags(write=False)
        self.length, self.n_tokens = length, n_tokens
        self.target, self.context = tgt, ctx
        self.n = int(tgt.size)
        self.rest_bits = ((1 << length) - 1) ^ bitmask(tgt) ^ bitmask(ctx)
        self.batch_size = positive_int(batch_size, "batch_size")
        self._dense = self.n <= DENSE_CACHE_BITS
        if self._dense:
            self._A = np.full(1 << self.n, np.nan)
            self._D = np.full(1 << self.n, np.nan)
            self._A[0] = self._D[0] = 0.0

    @property
    def harmonic(self) -> float:
        """H_n, the harmonic number of the target length (Cor. 4.3)."""
        return harmonic(self.n)

    def _local(self, local) -> np.ndarray:
        """Local masks as an int64 array of bitmasks in ``0..2**n - 1``."""
        local = ensure_array(local, "local", dtype=int)
        if local.size and (local.min() < 0 or local.max() >= (1 << self.n)):
            bad = local.min() if local.min() < 0 else local.max()
            raise ValueError(f"`local` masks must lie in 0..2**{self.n} - 1 (got {bad})")
        return local

    def inputs(self, local: np.ndarray) -> np.ndarray:
        """The masked model inputs ``(K, L)`` for local masks ``(K,)``."""
        local = self._local(local)
        if local.ndim != 1:
            raise ValueError(f"`local` must be a (K,) array of masks (got shape {local.shape})")
        glob = local_to_global(local, self.target) | self.rest_bits
        masked = ((glob[:, None] >> np.arange(self.length)) & 1).astype(bool)
        return np.where(masked, self.n_tokens, self.x0)

    def _evaluate(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        A = np.empty(local.size)
        D = np.empty(local.size)
        in_m = ((local[:, None] >> np.arange(self.n)) & 1).astype(bool)  # (K, n)
        for lo in range(0, local.size, self.batch_size):
            sl = slice(lo, lo + self.batch_size)
            out = np.asarray(self.denoiser(self.inputs(local[sl])), dtype=float)
            if out.shape != (local[sl].size, self.length, self.n_tokens):
                raise ValueError(
                    f"the denoiser returned shape {out.shape}, expected {(local[sl].size, self.length, self.n_tokens)}"
                )
            out = out[:, self.target, :]  # (k, n, N)
            logc = out[:, np.arange(self.n), self.x0[self.target]]
            if np.isnan(logc).any():
                raise ValueError("the denoiser returned NaN log-probabilities")
            # -log c = +inf where the model gives x0^i probability 0: A(M) is then infinite.
            A[sl] = np.where(in_m[sl], -logc, 0.0).sum(axis=1)
            with np.errstate(over="ignore"):
                defect = np.exp(out).sum(axis=-1) - 1.0
            D[sl] = np.where(in_m[sl], defect, 0.0).sum(axis=1)
        return A, D

    def preload(self, A, D=None) -> MaskDCE:
        """Fill the cache with an exact table, so draws become lookups.

        Parameters
        ----------
        A : (2**n,) float array
            A(M) for every local mask, e.g. from forward–backward or a subset table (it must
            be the table this denoiser produces; the callers' tests check the routes agree).
        D : (2**n,) float array, optional
            The row-sum defects; 0 (a normalised denoiser) by default.

        Returns
        -------
        MaskDCE
            ``self``.
        """
        if not self._dense:
            raise ValueError(f"a table of 2**{self.n} masks is too large to preload (at most 2**{DENSE_CACHE_BITS})")
        A = ensure_array(A, "A")
        D = np.zeros_like(A) if D is None else ensure_array(D, "D")
        for name, arr in (("A", A), ("D", D)):
            if arr.shape != (1 << self.n,):
                raise ValueError(f"`{name}` must have 2**{self.n} entries (got shape {arr.shape})")
        self._A[:], self._D[:] = A, D
        return self

    def __call__(self, local, *, with_defect: bool = False):
        """A(M) (and D(M)) for an array of local masks, computing each distinct mask once.

        Parameters
        ----------
        local : int array
            Local bitmasks over the target positions, in 0..2^n - 1.
        with_defect : bool, default False
            Also return D(M).
        """
        with_defect = ensure_bool(with_defect, "with_defect")
        local = self._local(local)
        shape = local.shape
        flat = local.ravel()
        if self._dense:
            uniq = np.unique(flat)
            todo = uniq[np.isnan(self._A[uniq])]
            if todo.size:
                self._A[todo], self._D[todo] = self._evaluate(todo)
            A, D = self._A[flat], self._D[flat]
        else:
            uniq, inverse = np.unique(flat, return_inverse=True)
            Au, Du = self._evaluate(uniq)
            A, D = Au[inverse], Du[inverse]
        A, D = A.reshape(shape), D.reshape(shape)
        return (A, D) if with_defect else A

    def table(self, *, with_defect: bool = False):
        """A(M) for all 2^n local masks, indexed by the local bitmask (``A[0] = 0``)."""
        if self.n > 24:
            raise ValueError(f"a full table needs 2**{self.n} masks; use at most 24 target positions")
        return self(np.arange(1 << self.n, dtype=np.int64), with_defect=with_defect)

    @classmethod
    def of(cls, denoiser, x0, *, target=None, context=None, batch_size: int = DEFAULT_BATCH) -> MaskDCE:
        """``denoiser`` itself if it is a MaskDCE (its cache kept across calls), else a new one.

        The estimators accept either; a prepared MaskDCE already fixes its target and context,
        so passing them again is refused. A new one calls the denoiser with at least 256 rows.
        """
        if isinstance(denoiser, MaskDCE):
            if x0 is not None and not np.array_equal(np.asarray(x0), denoiser.x0):
                raise ValueError("`x0` differs from the sequence the MaskDCE `denoiser` was built for")
            if target is not None or context is not None:
                raise ValueError("pass `target`/`context` when building the MaskDCE, not with it")
            return denoiser
        return cls(
            denoiser, x0, target=target, context=context, batch_size=max(positive_int(batch_size, "batch_size"), 256)
        )


def mask_dce_table(denoiser, x0, *, target=None, context=None, batch_size: int = 4096, with_defect: bool = False):
    """A(M) for every mask M of the target set, from any denoiser, in batches (§3.5).

    Parameters
    ----------
    denoiser : Denoiser
    x0 : (L,) int array
    target, context : positions, optional
        The conditional setting of Cor. 4.3 (``docs/theory.md`` §4.2): masks over ``target``,
        ``context`` visible, the rest masked. Default: target = [L].
    batch_size : int
        Rows per denoiser call (65535 masks at n = 16 go through in chunks).
    with_defect : bool
        Also return D(M) = sum_{i in M} (sum_v c_{i,v} - 1) (Lemma 3.3's correction).

    Returns
    -------
    (2**n,) float array, indexed by the local bitmask (bit j = j-th target position)
    """
    return MaskDCE(denoiser, x0, target=target, context=context, batch_size=batch_size).table(with_defect=with_defect)


def optimal_mask_dce(dist, x0, *, target=None, context=None) -> np.ndarray:
    """A(M) of the optimal denoiser c* from subset tables, for a batch of sequences at once.

    A(M) = sum_{j in M} [h(V ∪ {t_j}) - h(V)], V = (T minus M) ∪ C visible, h(U) = -log P0(x0^U)
    (``docs/theory.md`` §3.5; Cor. 4.3 for a context): the source's own
    :meth:`~ctmc_lab.sources.joint.JointDistribution.mask_dce_table`, with the defaults of this
    module (all positions the target, no context). Equals ``mask_dce_table`` of
    ``OptimalDenoiser(dist)`` (tested).

    Parameters
    ----------
    dist : Source
        A source with a subset-table ``mask_dce_table`` (a JointDistribution).
    x0 : (L,) or (B, L) int array or strings
    target, context : positions, optional

    Returns
    -------
    (2**n,) or (B, 2**n) float array
    """
    if not callable(getattr(dist, "mask_dce_table", None)) or not isinstance(getattr(dist, "length", None), int):
        raise InvalidTypeError(
            f"`dist` must be a source of one length with `mask_dce_table` (a JointDistribution; got {type(dist).__name__})"
        )
    target = np.arange(dist.length) if target is None else target
    return dist.mask_dce_table(x0, target, [] if context is None else context)


def exact_nll(denoiser, x0, *, target=None, context=None, batch_size: int = 4096) -> float:
    """The deterministic exact-enumeration NLL of a denoiser: sum over all 2^n - 1 masks.

    -log p_θ(x0^T | x0^C) = sum_{M ⊆ T, M ≠ ∅} B(m, n-m+1) A_θ(M) (Thm 4.1 / Cor. 4.3,
    ``docs/theory.md`` §4.1–4.2). For a model on short sequences this replaces Monte Carlo.

    Examples
    --------
    >>> from ctmc_lab.sources.datasets import dna128
    >>> from ctmc_lab.sources.denoisers import OptimalDenoiser
    >>> p = dna128()
    >>> abs(exact_nll(OptimalDenoiser(p), p.support[0]) - p.nll(p.support[0])) < 1e-12
    True
    """
    return float(imdce_sum(mask_dce_table(denoiser, x0, target=target, context=context, batch_size=batch_size)))
