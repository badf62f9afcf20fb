"""The exact model behind a project's vocabulary: log c*(x) for any masked batch, in the project's ids.

:class:`ExactModel` holds a case, its exact denoiser (c* of the case's source, Prop. 3.1,
``docs/theory.md`` §3.1, or any other ``Denoiser`` for the ELBO of a non-optimal model) and the
conventions of the project whose evaluator is checked:

* ``token_map`` (the project's id of each source token), ``mask_id``, ``vocab_size`` (channels
  that are no source token get ``fill_value``, default ``-inf``);
* a row layout: the source's L positions, optionally after a BOS id and before an EOS id and
  padding to ``row_length``. A filler position holds its id; masked, its c* is the point mass on
  that id, so its loss is 0;
* ``shift``: the logit at position i predicts token i + 1 (Dream's convention); the output is
  rolled by one position, so an evaluator that shifts back reads c*;
* ``precision``: the returned values are c* rounded to float64, float32 or bfloat16, so a
  precision effect is told apart from the estimator's own bias;
* ``on_impossible``: a row whose visible pattern has probability 0 (a prompt token changed, a
  wrong filler, a token no source holds) has no conditional; its masked positions get the uniform
  law (``"uniform"``), NaN (``"nan"``) or the call fails (``"raise"``); each is counted.

Every call is checked (shape, ids) and recorded in ``ExactModel.log``
(:class:`~ctmc_lab.conformance.calllog.CallLog`). The call shapes of projects are the adapters of
:mod:`ctmc_lab.conformance.adapters`; this module is numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctmc_lab.conformance.calllog import CallLog

__all__ = ["PRECISIONS", "IMPOSSIBLE_POLICIES", "ExactModel", "CaseView", "round_bfloat16", "DEFAULT_MAX_BYTES"]

#: Precisions the returned values are rounded to.
PRECISIONS = ("float64", "float32", "bfloat16")
#: What a row of probability 0 gets at its masked positions.
IMPOSSIBLE_POLICIES = ("uniform", "nan", "raise")
#: Largest output of one call (B × L × V values), in bytes: a larger one is refused with its size.
DEFAULT_MAX_BYTES = 1 << 30
#: Memory for the exact rows already computed (c* of each distinct source row, float64).
CACHE_BYTES = 64 << 20


def round_bfloat16(values) -> np.ndarray:
    """Round to the nearest bfloat16 (ties to even), returned as float32 holding those values.

    bfloat16 keeps the upper 16 bits of a float32; infinities and NaN pass through.

    Examples
    --------
    >>> float(round_bfloat16(np.float32(1.0 + 2**-8)))      # halfway between 1 and 1 + 2**-7: to even
    1.0
    >>> float(round_bfloat16(np.float32(1.0 + 3 * 2**-9)))
    1.0078125
    """
    a = np.asarray(values, dtype=np.float32)
    bits = np.ascontiguousarray(a.reshape(-1)).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    out = rounded.astype(np.uint32).view(np.float32).reshape(a.shape)
    return np.where(np.isfinite(a), out, a)


@dataclass(frozen=True, eq=False)
class CaseView:
    """A case in a model's ids: what ``ctmc-lab conform`` hands a user's evaluator.

    Attributes
    ----------
    prompt, answer : (P,), (n,) int arrays
        The prompt's and the answer's tokens in the model's ids (tensors for the torch backend).
    input_ids : (L_row,) int array
        The whole clean row, fillers included.
    prompt_positions, answer_positions : tuple of int
        Their positions in the row.
    mask_id : int
    targets : dict
        The exact targets of the case (``nll``, ``joint_nll``, ``cond_nll``, ``cond_nll_rest``).
    case : Case
    """

    prompt: object
    answer: object
    input_ids: object
    prompt_positions: tuple[int, ...]
    answer_positions: tuple[int, ...]
    mask_id: int
    targets: dict
    case: object

    @property
    def name(self) -> str:
        return self.case.name

    @property
    def target(self) -> float:
        """-log p0(answer | prompt) (``cond_nll``)."""
        return self.targets["cond_nll"]


def _ids(values, name: str) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)) or (a.size and a.min() < 0):
        raise ValueError(f"`{name}` must be a sequence of non-negative integer ids")
    return a.astype(np.int64)


class ExactModel:
    """log c*(x) of a case's source, for masked batches in a project's ids (numpy).

    Parameters
    ----------
    case : Case
    denoiser : Denoiser, optional
        The model to serve (default ``case.denoiser()``, the optimal c*). A non-optimal one
        (``TemperedDenoiser``, ``MixedDenoiser``) gives the ELBO of that model.
    token_map : sequence of int, optional
        The model id of each source token 0..N-1 (default the identity).
    mask_id : int, optional
        The mask token (default N).
    vocab_size : int, optional
        Output channels V (default one past the largest id in use).
    fill_value : float, default -inf
        The value of channels that are no token of the position's law (the mask channel, ids the
        source never holds).
    bos_id, eos_id : int, optional
        A filler before the source positions and one after them.
    pad_id : int, optional
        The filler that pads the row to ``row_length``.
    row_length : int, optional
        The row length the evaluator uses (default: the source positions and the fillers given).
    shift : bool, default False
        Return the law of position i + 1 at position i (the last position gets position 0's).
    precision : {"float64", "float32", "bfloat16"}
    on_impossible : {"uniform", "nan", "raise"}
    max_bytes : int
        Largest output of one call.

    Notes
    -----
    At a masked source position i the output is log c*(x)_{i,v} at channel ``token_map[v]``
    (``docs/theory.md`` §3.1); at a visible one the point mass on its token; at a filler the
    point mass on the filler. The exact loss of a row, recorded in the log, is computed in
    float64 before any rounding.

    Examples
    --------
    >>> from ctmc_lab.conformance import cases
    >>> m = ExactModel(cases.dna128(0), token_map=[5, 6, 7, 8], mask_id=9, bos_id=1)
    >>> row = m.view().input_ids.copy(); row[3] = 9          # mask source position 2
    >>> out = m.log_probs(row[None])
    >>> out.shape, float(np.exp(out[0, 3, 5:9]).sum().round(12))
    ((1, 9, 10), 1.0)
    """

    def __init__(
        self,
        case,
        *,
        denoiser=None,
        token_map=None,
        mask_id: int | None = None,
        vocab_size: int | None = None,
        fill_value: float = -np.inf,
        bos_id: int | None = None,
        eos_id: int | None = None,
        pad_id: int | None = None,
        row_length: int | None = None,
        shift: bool = False,
        precision: str = "float64",
        on_impossible: str = "uniform",
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        self.case = case
        self.denoiser = case.denoiser() if denoiser is None else denoiser
        N, L = case.n_tokens, case.length
        if int(self.denoiser.n_tokens) != N or int(self.denoiser.length) != L:
            raise ValueError(
                f"`denoiser` has (n_tokens, length) = ({self.denoiser.n_tokens}, {self.denoiser.length}), "
                f"expected ({N}, {L}) like the case"
            )
        self.token_map = np.arange(N) if token_map is None else _ids(token_map, "token_map")
        if self.token_map.size != N or len(set(self.token_map.tolist())) != N:
            raise ValueError(f"`token_map` must give {N} distinct ids, one per source token")
        self.mask_id = N if mask_id is None else int(mask_id)
        fillers = {k: v for k, v in (("bos_id", bos_id), ("eos_id", eos_id), ("pad_id", pad_id)) if v is not None}
        used = [*self.token_map.tolist(), self.mask_id, *fillers.values()]
        if min(used) < 0:
            raise ValueError("ids (`token_map`, `mask_id`, fillers) must be non-negative")
        if self.mask_id in self.token_map.tolist():
            raise ValueError(f"`mask_id` {self.mask_id} is also the id of a source token in `token_map`")
        for key, value in fillers.items():
            if value in self.token_map.tolist() or value == self.mask_id:
                raise ValueError(f"`{key}` {value} is also a source token's id or the mask id")
        self.vocab_size = max(used) + 1 if vocab_size is None else int(vocab_size)
        if self.vocab_size <= max(used):
            raise ValueError(f"`vocab_size` must exceed every id in use (largest {max(used)}; got {vocab_size})")
        self.fill_value = float(fill_value)
        if np.isnan(self.fill_value) or self.fill_value == np.inf:
            raise ValueError(f"`fill_value` must be a number or -inf (got {fill_value!r})")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown `precision` {precision!r}; choose one of {list(PRECISIONS)}")
        if on_impossible not in IMPOSSIBLE_POLICIES:
            raise ValueError(f"unknown `on_impossible` {on_impossible!r}; choose one of {list(IMPOSSIBLE_POLICIES)}")
        self.precision, self.on_impossible, self.shift = precision, on_impossible, bool(shift)
        self.max_bytes = int(max_bytes)
        # The row: [BOS] source positions [EOS] [PAD ...].
        head = [] if bos_id is None else [int(bos_id)]
        tail = [] if eos_id is None else [int(eos_id)]
        natural = len(head) + L + len(tail)
        self.row_length = natural if row_length is None else int(row_length)
        if self.row_length < natural:
            raise ValueError(f"`row_length` must be at least {natural} (the source positions and fillers)")
        if self.row_length > natural and pad_id is None:
            raise ValueError(f"`row_length` {self.row_length} > {natural} needs a `pad_id` to fill the row")
        tail += [] if pad_id is None else [int(pad_id)] * (self.row_length - natural)
        self.source_slots = np.arange(len(head), len(head) + L)
        self.filler_slots = np.array([*range(len(head)), *range(len(head) + L, self.row_length)], dtype=np.int64)
        self.filler_ids = np.array(head + tail, dtype=np.int64)
        # Model id -> source token (N = mask); -1 for any other id.
        self._source_of = np.full(self.vocab_size, -1, dtype=np.int64)
        self._source_of[self.token_map] = np.arange(N)
        self._source_of[self.mask_id] = N
        answer = np.asarray(case.answer, dtype=np.int64)
        self._answer_bit = np.zeros(L, dtype=np.int64)
        self._answer_bit[answer] = 1 << np.arange(answer.size, dtype=np.int64)
        self._is_prompt = np.zeros(L, dtype=bool)
        self._is_prompt[list(case.prompt)] = True
        self.log = CallLog()
        self._cache: dict[bytes, np.ndarray] = {}

    # ------------------------------------------------------------------------------ layout
    def encode_row(self, x_source) -> np.ndarray:
        """A clean source row ``(L,)`` (or ``(B, L)``) as the model's row of ids, fillers included."""
        x = np.asarray(x_source, dtype=np.int64)
        out = np.empty(x.shape[:-1] + (self.row_length,), dtype=np.int64)
        out[..., self.source_slots] = np.where(
            x == self.case.n_tokens, self.mask_id, self.token_map[np.minimum(x, self.case.n_tokens - 1)]
        )
        out[..., self.filler_slots] = self.filler_ids
        return out

    def view(self, to_array=None) -> CaseView:
        """The case in this model's ids (``to_array`` converts each id array, e.g. to a tensor)."""
        conv = (lambda a: a) if to_array is None else to_array
        case = self.case
        row = self.encode_row(case.x)
        return CaseView(
            conv(self.token_map[case.prompt_tokens]),
            conv(self.token_map[case.answer_tokens]),
            conv(row),
            tuple(int(self.source_slots[i]) for i in case.prompt),
            tuple(int(self.source_slots[i]) for i in case.answer),
            self.mask_id,
            {name: case.target(name) for name in ("nll", "joint_nll", "cond_nll", "cond_nll_rest")},
            case,
        )

    @property
    def dtype(self) -> str:
        return self.precision

    # ------------------------------------------------------------------------------ calls
    def _validate(self, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.shape[1] != self.row_length:
            raise self.log.fail(
                f"the evaluator called the model with shape {tuple(ids.shape)}, expected (B, {self.row_length})"
            )
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise self.log.fail(f"the evaluator called the model with {ids.dtype} inputs, expected integer token ids")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = np.argwhere((ids < 0) | (ids >= self.vocab_size))[0]
            raise self.log.fail(
                f"the evaluator called the model with token id {int(ids[tuple(bad)])} at row {int(bad[0])}, "
                f"position {int(bad[1])}, outside the vocabulary 0..{self.vocab_size - 1}"
            )
        budget = ids.shape[0] * self.row_length * self.vocab_size * (8 if self.precision == "float64" else 4)
        if budget > self.max_bytes:
            raise self.log.fail(
                f"one call of {ids.shape[0]} rows × {self.row_length} positions × {self.vocab_size} channels "
                f"needs {budget / 2**20:.0f} MiB, above the budget of {self.max_bytes / 2**20:.0f} MiB (`max_bytes`)"
            )
        return ids.astype(np.int64, copy=False)

    def _read(self, ids: np.ndarray):
        """Source rows (mask id N), which rows are impossible, and which agree with the case."""
        N = self.case.n_tokens
        src = self._source_of[ids[:, self.source_slots]]  # -1: an id no source position can hold
        fill = ids[:, self.filler_slots]
        bad_filler = np.any((fill != self.filler_ids) & (fill != self.mask_id), axis=1)
        impossible = np.any(src < 0, axis=1) | bad_filler
        src = np.where(src < 0, N, src)
        visible = src != N
        on_case = ~impossible & ~np.any(visible & (src != self.case.x), axis=1)
        return src, impossible, on_case

    def exact_log_probs(self, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """c* of the source positions of validated rows, in float64, and the row bookkeeping.

        Returns
        -------
        (log_c, src, impossible, on_case)
            ``(B, L, N)`` log c* (uniform, NaN per ``on_impossible`` on impossible rows), the source
            rows, and two ``(B,)`` bool arrays.
        """
        src, impossible, on_case = self._read(ids)
        N = self.case.n_tokens
        log_c = np.full(src.shape + (N,), -np.log(N))
        live = np.flatnonzero(~impossible)
        if live.size:
            uniq, inverse = np.unique(src[live], axis=0, return_inverse=True)
            out = self._denoise(uniq)[inverse.ravel()]
            masked = src[live] == N
            with np.errstate(invalid="ignore"):
                dead = np.any(masked & ~np.isfinite(np.logaddexp.reduce(out, axis=-1)), axis=1)
            log_c[live] = out
            impossible[live[dead]] = True
            on_case[live[dead]] = False
            log_c[live[dead]] = -np.log(N)
        if impossible.any():
            if self.on_impossible == "raise":
                b = int(np.flatnonzero(impossible)[0])
                raise self.log.fail(
                    f"row {b} of the call has a visible pattern of probability 0 under the source "
                    f"(ids {ids[b].tolist()}); `on_impossible='raise'`"
                )
            if self.on_impossible == "nan":
                log_c[impossible] = np.nan
        return log_c, src, impossible, on_case

    def _denoise(self, rows: np.ndarray) -> np.ndarray:
        """c* of distinct source rows, each computed once per model (evaluators repeat masks:
        an answer of n tokens has 2**n of them), within a cache of ``CACHE_BYTES``."""
        keys = [r.tobytes() for r in rows]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            fresh = np.asarray(self.denoiser(rows[todo]), dtype=float)
            if fresh.shape != (len(todo), self.case.length, self.case.n_tokens):
                raise ValueError(f"the denoiser returned shape {fresh.shape} for {len(todo)} rows")
            room = CACHE_BYTES // max(fresh[0].nbytes, 1)
            if len(self._cache) + len(todo) > room:
                self._cache.clear()
            for i, value in zip(todo, fresh):
                self._cache[keys[i]] = value
            if len(todo) == len(keys):
                return fresh
        return np.stack([self._cache[k] for k in keys])

    def _loss(self, log_c, src, on_case) -> np.ndarray:
        """A(M) of each row: Σ over masked answer positions of -log c*(row) at the case's token."""
        answer = list(self.case.answer)
        picked = np.take_along_axis(log_c[:, answer, :], self.case.answer_tokens[None, :, None], axis=2)[..., 0]
        masked = src[:, answer] == self.case.n_tokens
        loss = np.where(masked, -picked, 0.0).sum(axis=1)
        return np.where(on_case, loss, np.nan)

    def _round(self, values: np.ndarray) -> np.ndarray:
        if self.precision == "float64":
            return values
        if self.precision == "float32":
            return values.astype(np.float32)
        return round_bfloat16(values)

    def _record(self, kind, ids, src, impossible, on_case, log_c, sigma=None):
        N = self.case.n_tokens
        masked = src == N
        self.log.record(
            kind=kind,
            ids=ids.copy(),
            answer_masks=(masked * self._answer_bit).sum(axis=1),
            prompt_masked=(masked & self._is_prompt).sum(axis=1),
            on_case=on_case,
            loss=self._loss(log_c, src, on_case),
            impossible=impossible,
            sigma=None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=float), (ids.shape[0],)).copy(),
        )

    def _layout(self, per_position: np.ndarray, src: np.ndarray) -> np.ndarray:
        """Place ``(B, L, N)`` values of the source positions in ``(B, L_row, V)`` channels."""
        B = src.shape[0]
        dtype = np.float64 if self.precision == "float64" else np.float32
        out = np.full((B, self.row_length, self.vocab_size), self._round(np.float64(self.fill_value)), dtype=dtype)
        slots = out[:, self.source_slots, :]
        slots[..., self.token_map] = self._round(per_position)
        out[:, self.source_slots, :] = slots
        if self.filler_slots.size:
            fill = out[:, self.filler_slots, :]
            fill[..., self.token_map] = -np.inf
            fill[:, np.arange(self.filler_slots.size), self.filler_ids] = 0.0
            out[:, self.filler_slots, :] = fill
        return np.roll(out, -1, axis=1) if self.shift else out

    def log_probs(self, ids, *, kind: str = "core", sigma=None) -> np.ndarray:
        """``(B, L_row, V)`` log-probabilities (valid logits) of a batch of rows of model ids.

        Masked source positions carry log c*; visible ones and fillers their point mass; other
        channels ``fill_value``. Rounded to ``precision``; rolled by one position with ``shift``.
        """
        ids = self._validate(ids)
        log_c, src, impossible, on_case = self.exact_log_probs(ids)
        self._record(kind, ids, src, impossible, on_case, log_c, sigma)
        N = self.case.n_tokens
        visible = (src != N)[..., None]
        point = np.where(np.arange(N) == np.where(src == N, 0, src)[..., None], 0.0, -np.inf)
        return self._layout(np.where(visible, point, log_c), src)

    def log_scores(self, ids, sigma, *, kind: str = "score") -> np.ndarray:
        """SEDD's absorbing log-scores (:func:`ctmc_lab.conformance.scores.absorbing_log_scores`):
        log c*(v) - log(e^σ̄ - 1) at a masked position, 0 on the mask channel and on a visible
        position's own token."""
        from ctmc_lab.conformance.scores import absorbing_log_scores

        return absorbing_log_scores(self, ids, sigma, kind=kind)

    def uniform_log_scores(self, ids, sigma, *, kind: str = "score") -> np.ndarray:
        """SEDD's uniform-graph log-scores log p_s(x^{i←v}) - log p_s(x)
        (:func:`ctmc_lab.conformance.scores.uniform_log_scores`)."""
        from ctmc_lab.conformance.scores import uniform_log_scores

        return uniform_log_scores(self, ids, sigma, kind=kind)

    def __repr__(self) -> str:
        return (
            f"ExactModel({self.case.name}, row_length={self.row_length}, vocab_size={self.vocab_size}, "
            f"mask_id={self.mask_id}, precision={self.precision!r}, shift={self.shift})"
        )
