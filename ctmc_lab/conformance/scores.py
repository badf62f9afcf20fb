"""SEDD's score-model outputs of an exact model: concrete scores under absorbing and uniform noise.

:meth:`ExactModel.log_scores <ctmc_lab.conformance.exact_model.ExactModel.log_scores>` and
:meth:`~ctmc_lab.conformance.exact_model.ExactModel.uniform_log_scores` call these with the
model: they read its ids, layout and call log the same way its ``log_probs`` does
(``docs/theory.md`` §1.2, §3.1–3.2, Eq. 4).
"""

from __future__ import annotations

import numpy as np

__all__ = ["absorbing_log_scores", "uniform_log_scores"]


def absorbing_log_scores(model, ids, sigma, *, kind: str = "score") -> np.ndarray:
    """SEDD's absorbing log-scores: at a masked position log c*(v) - log(e^σ̄ - 1) on the source
    channels and 0 on the mask channel (the score of staying); at a visible position 0 on its
    own token (an absorbing loss never reads the rest, which gets ``fill_value``).

    Notes
    -----
    With absorbing noise at level σ̄, p_t(x^{i←v}) / p_t(x) = c*(x)_{i,v} / (e^σ̄ - 1) for a
    masked position i (``docs/theory.md`` §3.1–3.2): the concrete score of Eq. 4.
    """
    ids = model._validate(ids)
    sig = np.broadcast_to(np.asarray(sigma, dtype=float).reshape(-1), (ids.shape[0],))
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise model.log.fail("the evaluator passed a noise level σ̄ that is not positive and finite")
    log_c, src, impossible, on_case = model.exact_log_probs(ids)
    model._record(kind, ids, src, impossible, on_case, log_c, sig)
    N = model.case.n_tokens
    score = log_c - np.log(np.expm1(sig))[:, None, None]
    out = model._layout(np.where((src == N)[..., None], score, model.fill_value), src)
    rows, cols = np.nonzero(src == N)
    out_slots = model.source_slots if not model.shift else (model.source_slots - 1) % model.row_length
    out[rows, out_slots[cols], model.mask_id] = 0.0
    vis_rows, vis_cols = np.nonzero(src != N)
    out[vis_rows, out_slots[vis_cols], model.token_map[src[vis_rows, vis_cols]]] = 0.0
    return out


def uniform_log_scores(model, ids, sigma, *, kind: str = "score") -> np.ndarray:
    """SEDD's uniform-graph log-scores: log p_s(x^{i←v}) - log p_s(x) for every position and
    source token (0 at the row's own token), p_s the source noised by uniform noise at level
    σ̄ = s, K = e^{-s} I + (1 - e^{-s}) 11ᵀ/N (SEDD's normalisation, ``docs/theory.md`` §1.2, Eq. 4).

    p_s(y) = Σ_z p0(z) Π_i K[y_i, z_i] over the source's support: rows of a source whose
    N**L sequences can be enumerated (``JointDistribution.from_source``). Rows are clean
    noisy sequences (no mask id); fillers must hold their ids.
    """
    from ctmc_lab.forward.generators import uniform_kernel

    ids = model._validate(ids)
    sig = np.broadcast_to(np.asarray(sigma, dtype=float).reshape(-1), (ids.shape[0],))
    if not np.all(np.isfinite(sig)) or np.any(sig <= 0):
        raise model.log.fail("the evaluator passed a noise level σ̄ that is not positive and finite")
    src, impossible, on_case = model._read(ids)
    N = model.case.n_tokens
    if np.any(src == N):
        raise model.log.fail("the uniform graph has no mask: a row holds the mask id")
    support, log_p0 = _support(model)
    scores = np.empty(src.shape + (N,))
    for b in range(src.shape[0]):
        log_k = np.log(uniform_kernel(N, float(sig[b])))  # [a, z]: P(x_s = a | x_0 = z)
        terms = log_k[src[b][None, :], support]  # (S, L)
        base = log_p0 + terms.sum(axis=1)  # log p0(z) + log p(y | z)
        total = np.logaddexp.reduce(base)
        moved = base[:, None, None] - terms[:, :, None] + log_k[:, support].transpose(1, 2, 0)  # (S, L, N)
        scores[b] = np.logaddexp.reduce(moved, axis=0) - total
    scores[np.arange(src.shape[0])[:, None], np.arange(src.shape[1]), src] = 0.0
    loss = np.full(src.shape[0], np.nan)
    model.log.record(
        kind=kind,
        ids=ids.copy(),
        answer_masks=np.zeros(src.shape[0], dtype=np.int64),
        prompt_masked=np.zeros(src.shape[0], dtype=np.int64),
        on_case=on_case,
        loss=loss,
        impossible=impossible,
        sigma=sig.copy(),
    )
    return model._layout(scores, src)


def _support(model):
    """The source's support and log-probabilities, enumerated once (``JointDistribution.from_source``)."""
    if getattr(model, "_support_cache", None) is None:
        from ctmc_lab.sources.joint import JointDistribution

        joint = JointDistribution.from_source(model.case.source, model.case.length)
        model._support_cache = (np.asarray(joint.support), np.log(np.asarray(joint.probs)))
    return model._support_cache
