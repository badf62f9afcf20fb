"""Evaluators written for the tests as a project would write them (numpy, against the HF call
shape), each with a knob that plants one bug. They know nothing of ctmc-lab beyond the adapter's
call; the oracle must tell the good ones from the planted ones."""

from __future__ import annotations

import numpy as np


def _scores(model, batch, row, pos):
    """Per-row summed -log softmax(logits) of the row's tokens at the masked answer positions ``pos``."""
    logits = np.asarray(model(batch).logits, dtype=np.float64)
    logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    tok = np.take_along_axis(logp, np.repeat(row[None, :, None], len(batch), 0), 2)[..., 0]
    with np.errstate(invalid="ignore"):
        return np.where(batch == model.mask_id, -tok, 0.0)[:, pos].sum(axis=1)


def k_dce(model, view, seed, *, mc=8, offset=0.0, sizes="k_dce", shared=False, keep_visible=()):
    """RADD's k-DCE on the answer: m ~ U{1..n}, M uniform of size m, value (n/m) A(M).

    Planted bugs: ``offset`` (a constant added), ``sizes="time_free"`` (sizes drawn ∝ 1/m but
    still weighted n/m: a wrong mask law), ``shared`` (one mask for every row of the call),
    ``keep_visible`` (row positions never masked, e.g. an appended EOS, at the end of the row).
    """
    rng = np.random.default_rng(seed)
    row = np.asarray(view.input_ids)
    pos = np.asarray(view.answer_positions)
    n = pos.size
    if sizes == "k_dce":
        m = rng.integers(1, n + 1, size=mc)
    else:
        q = 1.0 / np.arange(1, n + 1)
        m = rng.choice(np.arange(1, n + 1), size=mc, p=q / q.sum())
    if shared:
        m[:] = m[0]
    batch = np.repeat(row[None], mc, 0)
    first = rng.permutation(n)
    for j in range(mc):
        batch[j, pos[(first if shared else rng.permutation(n))[: m[j]]]] = model.mask_id
    # Positions past the answer (an end symbol, padding) are masked unless kept visible.
    for p in range(int(pos.max()) + 1, row.size):
        if p not in keep_visible:
            batch[:, p] = model.mask_id
    return float(np.mean(_scores(model, batch, row, pos) * n / m)) + offset


def lambda_dce(model, view, seed, *, mc=8, eps=0.0):
    """λ-DCE (SMDM, RADD): λ ~ U(ε, 1), M ~ Bern(λ)^n, value A(M)/λ; ε > 0 is a time truncation."""
    rng = np.random.default_rng(seed)
    row = np.asarray(view.input_ids)
    pos = np.asarray(view.answer_positions)
    lam = eps + (1.0 - eps) * rng.random(mc)
    batch = np.repeat(row[None], mc, 0)
    hit = rng.random((mc, pos.size)) < lam[:, None]
    for j in range(mc):
        batch[j, pos[hit[j]]] = model.mask_id
    return float(np.mean(_scores(model, batch, row, pos) / lam))


def llada(model, view, seed, *, batch_size=8, mc_num=32, rule="llada"):
    """LLaDA's get_log_likelihood, in numpy: one k per batch, row counts round(linspace) (float32)."""
    rng = np.random.default_rng(seed)
    row = np.asarray(view.input_ids)
    pos = np.asarray(view.answer_positions)
    n, b = pos.size, batch_size
    out = []
    for _ in range(mc_num // b):
        k = int(rng.integers(1, n + 1))
        if rule == "llada":
            x = np.rint(np.linspace(np.float32(k), np.float32(k + (b - 1) * (n / b)), b, dtype=np.float32)).astype(int)
        else:
            x = k + (np.arange(b) * n) // b
        x = (x - 1) % n + 1
        batch = np.repeat(row[None], b, 0)
        for j in range(b):
            batch[j, pos[rng.permutation(n)[: x[j]]]] = model.mask_id
        out.append(np.mean(_scores(model, batch, row, pos) * n / x))
    return float(np.mean(out))


def chain_rule(model, view, seed):
    """Left-to-right chain rule over the answer with the prompt visible: exact for c*, zero variance."""
    clean = np.asarray(view.input_ids)
    row = clean.copy()
    pos = list(view.answer_positions)
    row[pos] = model.mask_id
    total = 0.0
    for p in pos:
        logits = np.asarray(model(row[None]).logits, dtype=np.float64)[0, p]
        total -= logits[clean[p]] - np.logaddexp.reduce(logits)
        row[p] = clean[p]
    return float(total)
