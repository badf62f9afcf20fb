"""Closed-form marginals p_s = K_s^{⊗L} p0 of masking noise (``docs/theory.md`` §1.2, §1.4).

:func:`absorbing_marginal` is the fast path behind absorbing noise in the noise-process registry
(:data:`ctmc_lab.forward.generators.NOISE_PROCESSES`): it writes each output element once instead
of streaming the tensor through memory once per axis, which dominates the cost of p_s on the
largest tables. Its twin is the generic per-axis sweep
:func:`ctmc_lab.forward.process.apply_all_axes` with the absorbing kernel.
"""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab._validation import InvalidTypeError, ensure_int, ensure_real

__all__ = ["absorbing_marginal"]

# Elements of one in-cache block of :func:`absorbing_marginal` (4 MiB of float64, well inside
# the L3 cache, so the intermediate axis steps of a block never go to main memory).
_ABSORBING_BLOCK = 1 << 19


def _absorb_step(x: np.ndarray, pre: int, n: int, post: int, decay: float, jump: float, out=None) -> np.ndarray:
    """One axis of the absorbing kernel in closed form: (pre, n, post) -> (pre, n+1, post).

    ``out[:, b] = e^{-s} x[:, b]`` for clean b and ``out[:, n] = (1 - e^{-s}) sum_b x[:, b]``:
    the rows of K restricted to clean columns (§1.2), without multiplying by its zeros.
    Requires n >= 1.
    """
    x3 = x.reshape(pre, n, post)
    y = np.empty((pre, n + 1, post)) if out is None else out.reshape(pre, n + 1, post)
    # The clean block of each output row is one contiguous run of n * post elements; with
    # decay = 1 (the deferred scaling of absorbing_marginal) a copy, faster than a multiply.
    clean = y.reshape(pre, (n + 1) * post)[:, : n * post]
    if decay == 1.0:
        np.copyto(clean, x.reshape(pre, n * post))
    else:
        np.multiply(x.reshape(pre, n * post), decay, out=clean)
    # The masked slab jump * sum_b x[:, b] as one (1, n) @ (n, post) product per leading
    # index: measured 1.5-4x faster than n - 1 strided adds and a scaling pass.
    np.matmul(np.full((1, n), jump), x3, out=y[:, n : n + 1])
    return y


def _absorb_axes(x: np.ndarray, shape: list, axes, n: int, decay: float, jump: float, out=None, scratch=(), last=None):
    """Apply :func:`_absorb_step` along ``axes`` in order; the last step writes into ``out``.

    ``scratch`` (two flat buffers) takes the intermediate steps in turn: a fresh array per
    step would be a new mapping whose page faults cost more than the arithmetic. ``last``
    optionally gives other ``(decay, jump)`` weights for the last step.
    """
    axes = list(axes)
    for j, ax in enumerate(axes):
        pre = math.prod(shape[:ax])
        post = math.prod(shape[ax + 1 :])
        weights = (decay, jump)
        if j == len(axes) - 1:
            dest = out
            weights = last or weights
        elif scratch:
            dest = scratch[j % 2][: pre * (n + 1) * post]
        else:
            dest = None
        x = _absorb_step(x, pre, n, post, *weights, out=dest)
        shape[ax] = n + 1
    return x, shape


def absorbing_marginal(
    tensor: np.ndarray, s: float, *, out: np.ndarray | None = None, block: int = _ABSORBING_BLOCK
) -> np.ndarray:
    """p_s = K_s^{⊗L} p0 for absorbing noise, in closed form and cache-blocked (§1.2, §1.4).

    The same result as ``apply_all_axes(tensor, token_kernel(absorbing(N), s)[:, :N])`` (its
    twin in the tests, to 1e-12), computed so that the output is written to memory once.

    Parameters
    ----------
    tensor : (N,) * L float array
        p0 (or any tensor) over clean sequences.
    s : float
        Noise level sigma_bar >= 0; each token is masked with probability λ = 1 - e^{-s}.
    out : (N+1,) * L float array, optional
        Buffer for the result (reusing one avoids the page faults of a fresh allocation).
    block : int
        Largest number of output elements handled as one in-cache row.

    Returns
    -------
    (N+1,) * L float array
        ``p_s(x) = e^{-s|U|} (1-e^{-s})^{L-|U|} P0(x^U)`` with U the unmasked positions of x.

    Notes
    -----
    Axis by axis, every step reads an array 0.8 times the size of the one it writes, so a
    plain sweep moves about 4.5 output sizes through main memory, which bounds its speed. Here the
    leading axes are applied first, to the small input, with their results kept inside
    ``out``; then each leading index (a contiguous row of the output, at most ``block``
    elements) is finished in cache: its two innermost axes in one small matrix product
    with ``K ⊗ K`` (short rows are slow as strided NumPy steps), its middle axes by
    closed-form steps into two reused scratch buffers, and only the last step writes to
    ``out``. The steps before it weigh (clean, mask) by (1, e^s - 1), so their clean part
    is a copy, and the last multiplies by e^{-sL} (when s L <= 600; otherwise every step
    uses (e^{-s}, 1 - e^{-s})). Measured on the 2-core machine of ``benchmarks/run.py``:
    about 6-8x a streaming sum over the output at L = 10, 11, against about 50x for a
    tensordot sweep.
    """
    tensor = np.asarray(tensor)
    if tensor.dtype.kind not in "fiu":
        raise InvalidTypeError(f"`tensor` must be a real array (got dtype {tensor.dtype})")
    tensor = tensor.astype(float, copy=False)
    s = ensure_real(s, "s", lo=0.0)
    block = ensure_int(block, "block", minimum=1)
    n, length = (tensor.shape[0], tensor.ndim) if tensor.ndim else (0, 0)
    if length == 0 or any(d != n for d in tensor.shape):
        raise ValueError(f"`tensor` must have shape (N,) * L with L >= 1 (got {tensor.shape})")
    shape_out = (n + 1,) * length
    if out is None:
        out = np.empty(shape_out)
    elif out.shape != shape_out or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"`out` must be a C-contiguous float64 array of shape {shape_out} (got {out.shape})")
    decay, jump = float(np.exp(-s)), float(-np.expm1(-s))
    # Deferred scaling: every step but the last of each row weighs clean symbols by 1 and
    # the mask by e^s - 1 (a copy instead of a multiply for 80% of each step), and the last
    # step multiplies by e^{-sL}: e^{-s(L-m)} (1-e^{-s})^m = e^{-sL} (e^s - 1)^m. Both factors
    # stay normal floats for s L <= 600; beyond that the direct weights are used throughout.
    final = None
    if s * length <= 600.0:
        scale = float(np.exp(-s * length))
        final = (scale, scale * float(np.expm1(s)))
        decay, jump = 1.0, float(np.expm1(s))
    head = 0
    while head < length - 1 and (n + 1) ** (length - head) > block:
        head += 1
    tail = length - head
    flat_out = out.reshape(-1)
    # The leading axes' results live inside `out` (the last at its very end): row r of the
    # output only overwrites input rows < r, which are consumed already, and `out`'s pages
    # are faulted in once instead of once more for fresh intermediates.
    sizes = [(n + 1) ** (k + 1) * n ** (length - k - 1) for k in range(head)]
    tail_start = flat_out.size - (sizes[-1] if sizes else 0)
    front = max(sizes[:-1], default=0)
    if head and 2 * front <= tail_start:
        x, shape = tensor.reshape(-1), [n] * length
        for k in range(head):
            dest = flat_out[tail_start:] if k == head - 1 else flat_out[(k % 2) * front : (k % 2) * front + sizes[k]]
            x, shape = _absorb_axes(x, shape, [k], n, decay, jump, out=dest)
    else:
        x, _ = _absorb_axes(tensor.reshape(-1), [n] * length, range(head), n, decay, jump)
    inner = min(2, tail)
    middle = tail - inner
    K = np.zeros((n + 1, n))
    K[np.arange(n), np.arange(n)] = decay
    K[n] = jump
    wide = K if inner == 1 else np.kron(K, K)  # ((n+1)^inner, n^inner)
    if final is not None and middle == 0:
        wide = wide * final[0]  # the product is the last step: it carries e^{-sL}
    rows = x.reshape((n + 1) ** head, -1)
    dest = out.reshape((n + 1) ** head, -1)
    row_shape = [n] * middle + [(n + 1) ** inner]
    wide_t = np.ascontiguousarray(wide.T)
    first = np.empty((rows.shape[1] // n**inner, (n + 1) ** inner))
    scratch = (np.empty(dest.shape[1]), np.empty(dest.shape[1]))
    for r in range(rows.shape[0]):
        src = rows[r].reshape(-1, n**inner)
        if middle == 0:
            np.matmul(src, wide_t, out=dest[r].reshape(-1, (n + 1) ** inner))
            continue
        np.matmul(src, wide_t, out=first)
        # Middle axes innermost first, so the last step (the one writing to `out`) has the
        # longest contiguous runs; the others stay in the two reused scratch buffers.
        _absorb_axes(
            first.reshape(-1),
            list(row_shape),
            range(middle - 1, -1, -1),
            n,
            decay,
            jump,
            out=dest[r],
            scratch=scratch,
            last=final,
        )
    return out
