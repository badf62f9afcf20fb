"""The call log: every row an exact model is shown, with the masks it holds and its exact loss.

An :class:`~ctmc_lab.conformance.exact_model.ExactModel` appends one :class:`Call` per call of
the evaluator; :func:`ctmc_lab.conformance.oracle.check` marks where each run starts, so the log
knows which calls belong to which run. From the log come the realised mask law (compared with a
declared one in :mod:`ctmc_lab.conformance.masklaw`), the number of calls, rows and impossible
contexts, and the plug-in exact value of a run: with the exact denoiser the loss of a row is a
deterministic function of its mask, A(M) = Σ_{i∈M} -log c*(row)_{i, x^i} (``docs/theory.md`` §3.5),
so an evaluator that weights its rows by a declared rule has a known output given its masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ctmc_lab.sequences import popcount

__all__ = ["Call", "CallLog", "ModelCallError"]


class ModelCallError(Exception):
    """The evaluator called an exact model in a way the model cannot answer: a wrong shape, a
    token id outside the vocabulary, a visible pattern of probability 0 under ``on_impossible="raise"``,
    or an output larger than the memory budget. The message is one line naming what happened."""


@dataclass(frozen=True, eq=False)
class Call:
    """One call of the evaluator.

    Attributes
    ----------
    run : int
        The run it belongs to (-1 before the first run).
    index : int
        Its position in the log.
    kind : str
        The call shape: ``hf``, ``raw``, ``backbone``, ``score`` or ``core``.
    ids : (B, L) int array
        The rows as the model received them (model ids).
    answer_masks : (B,) int array
        Bitmask over the answer positions (bit t = t-th answer position) masked in each row.
    prompt_masked : (B,) int array
        Number of masked prompt positions per row.
    on_case : (B,) bool array
        The row agrees with the case at every visible position (its clean tokens, fillers).
    loss : (B,) float array
        A(M) of the row from the exact float64 model: Σ over masked answer positions of
        -log c*(row) at the case's token; NaN for a row off the case.
    impossible : (B,) bool array
        The row's visible pattern has probability 0 (handled by ``on_impossible``).
    sigma : (B,) float array or None
        The noise level σ̄ passed with the rows (``backbone``/``score`` shapes).
    """

    run: int
    index: int
    kind: str
    ids: np.ndarray = field(repr=False)
    answer_masks: np.ndarray = field(repr=False)
    prompt_masked: np.ndarray = field(repr=False)
    on_case: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    impossible: np.ndarray = field(repr=False)
    sigma: np.ndarray | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return int(self.ids.shape[0])


class CallLog:
    """The calls of one exact model, grouped by run.

    Attributes
    ----------
    calls : list of Call
    error : str or None
        The first ``ModelCallError`` raised to the evaluator (it may have caught it).
    """

    def __init__(self):
        self.calls: list[Call] = []
        self.error: str | None = None
        self._run = -1

    def begin_run(self, run: int) -> None:
        """Calls from now on belong to run ``run``."""
        self._run = int(run)

    def clear(self) -> None:
        self.calls.clear()
        self.error = None
        self._run = -1

    def record(self, **fields) -> Call:
        call = Call(run=self._run, index=len(self.calls), **fields)
        self.calls.append(call)
        return call

    def fail(self, message: str) -> ModelCallError:
        """Remember the first error raised to the evaluator and return it, to be raised."""
        if self.error is None:
            self.error = f"{message} (run {self._run})" if self._run >= 0 else message
        return ModelCallError(message)

    # --------------------------------------------------------------------------- summaries
    def runs(self) -> dict[int, list[Call]]:
        """``{run: [calls]}`` in call order."""
        out: dict[int, list[Call]] = {}
        for call in self.calls:
            out.setdefault(call.run, []).append(call)
        return out

    @property
    def n_calls(self) -> int:
        return len(self.calls)

    @property
    def n_rows(self) -> int:
        return int(sum(c.rows for c in self.calls))

    @property
    def n_impossible(self) -> int:
        return int(sum(int(c.impossible.sum()) for c in self.calls))

    @property
    def n_off_case(self) -> int:
        return int(sum(int((~c.on_case).sum()) for c in self.calls))

    @property
    def n_prompt_masked_rows(self) -> int:
        return int(sum(int((c.prompt_masked > 0).sum()) for c in self.calls))

    def summary(self) -> dict:
        """Counts for the report: calls, rows, rows per call, impossible and off-case rows."""
        sizes = [c.rows for c in self.calls]
        return {
            "calls": self.n_calls,
            "rows": self.n_rows,
            "rows_per_call": sorted(set(sizes)),
            "impossible_rows": self.n_impossible,
            "off_case_rows": self.n_off_case,
            "prompt_masked_rows": self.n_prompt_masked_rows,
            "kinds": sorted({c.kind for c in self.calls}),
        }

    def plugin_values(self, weight, n: int, *, scale: float = 1.0) -> dict[int, float]:
        """The exact output of each run given the masks it drew, for an evaluator whose value is
        the mean over its rows of f_m A(M) (``weight(n)`` gives f_m, m = 0..n), times ``scale``.

        Rows off the case make the value NaN (the loss of such a row is not the case's).
        """
        f = np.asarray(weight(n), dtype=float)
        out = {}
        for run, calls in self.runs().items():
            if run < 0:
                continue
            masks = np.concatenate([c.answer_masks for c in calls])
            loss = np.concatenate([c.loss for c in calls])
            sizes = np.asarray(popcount(masks), dtype=np.int64)
            with np.errstate(invalid="ignore"):
                values = np.where(sizes > 0, f[sizes] * loss, 0.0)
            out[run] = float(scale * values.mean()) if values.size else float("nan")
        return out
