"""The deterministic cost model of the checks: predicted work from the input sizes, never a clock.

A verification result must be a function of its inputs, so a check decides to run, to shrink
to a prefix marginal or to skip by the work it *predicts* from N, L, the support size, the
number of masks, sequences, quadrature nodes and samples, against ``--budget``
(:attr:`proofs_check.framework.Context.budget`), and never by how long it has run.

**Unit.** One work unit is one element operation: a float64 operation on one element of an
array (a few flops with their memory traffic). Fixed per-call costs are converted to units
by the constants below:

* :data:`CALL` — one library evaluation on small arrays (Python and NumPy call overhead);
* :data:`STEP` — one step of a Python loop over scalars;
* :data:`MP_OP` — one mpmath operation at 50 digits;
* :data:`SAMPLE` / :data:`BATCH` — one Monte Carlo draw / one sampler step of a batch.

The constants were calibrated once (CPU time of each primitive at several sizes) so that
:data:`RATE` = 1e9 units take about one second of one core of the reference machine (a
2-core x86-64 VM, NumPy with OpenBLAS). That rate is used only to print a nominal time and to
set the hang guard of the runner far above the expected time; no decision reads a clock.

The primitives are the costs of the library calls the checks are made of; each check's
``work`` function (registered with :func:`proofs_check.framework.check`) multiplies them by
the number of calls it makes, from the same sizing rules the check applies.
``tests/proofs_check/test_cost.py`` counts the calls a run actually makes (the primitives
wrapped) and requires the prediction to track them across sizes.
"""

from __future__ import annotations

import math

__all__ = [
    "RATE",
    "CALL",
    "STEP",
    "ELEM",
    "MP_OP",
    "SAMPLE",
    "BATCH",
    "QUAD_NODES",
    "seconds",
    "CUSTOM_KERNEL",
    "kernel",
    "noised",
    "kl",
    "mdse",
    "reach",
    "rates",
    "process",
    "uses_patterns",
    "pattern_table",
    "queries",
    "masked_queries",
    "marginals",
    "subset_tables",
    "mp_dense",
    "mp_table",
    "monte_carlo",
    "describe",
]

#: Nominal work units per second of one core of the reference machine (hang guard and display only).
RATE = 1e9
#: One library evaluation on small arrays: the fixed Python/NumPy cost of a call (~100 µs).
CALL = 1e5
#: One step of a Python-level loop over scalars (a few arithmetic operations).
STEP = 1e3
#: One element of a contraction over the dense state space (a few flops and their memory traffic).
ELEM = 4.0
#: One mpmath operation at 50 digits (multiplications ~1 µs, logarithms ~5 µs).
MP_OP = 2e3
#: One Monte Carlo draw (the mask, its lookup and the value), beyond the per-batch cost.
SAMPLE = 200.0
#: One sampler step of a batch (the per-batch Python and NumPy calls of a library sampler).
BATCH = 3e4
#: Nodes an adaptive ``scipy.integrate.quad`` of a check spends on one integral, at most
#: (measured 300–1500 on the dense checks).
QUAD_NODES = 1500


def seconds(work: float) -> float:
    """Nominal seconds of ``work`` units on the reference machine (display and hang guard only)."""
    return float(work) / RATE


#: One token kernel of a generator without a closed form at small S: uniformization (a
#: Poisson series of S×S products, at least S - 1 terms) checked against ``scipy.linalg.expm``
#: (measured ~9 ms at S = 4, ~4 s at S = 200).
CUSTOM_KERNEL = 9e6


def kernel(generator) -> float:
    """One token kernel exp(sQ): the closed form of absorbing and uniform noise (S² entries,
    validated), else uniformization checked against expm (:data:`CUSTOM_KERNEL` plus about
    S + 40 products of S×S matrices)."""
    S = float(generator.n_states)
    if generator.has_closed_form:
        return CALL + 100 * S * S
    return CUSTOM_KERNEL + 3 * (S + 40) * S**3


def noised(generator, length: int) -> float:
    """One noised marginal p_s = K^{⊗L} p0 over S^L states (L axis contractions) and its kernel."""
    S = generator.n_states
    return kernel(generator) + ELEM * float(S) ** length * length * S


def kl(n_states: int, length: int, batch: int = 1) -> float:
    """KL(p_{s|0}‖p_s) of ``batch`` sequences, given the noised marginal."""
    return CALL + ELEM * batch * float(n_states) ** length


def reach(generator) -> int:
    """States reachable from one clean symbol (2 under absorbing noise, S under uniform)."""
    import numpy as np

    Q = np.asarray(generator.Q)
    return int(min(np.max(np.sum(Q != 0, axis=0)), Q.shape[0]))


def rates(generator) -> int:
    """Off-diagonal positive rates of Q (the rate pairs an mdse summation loops over)."""
    import numpy as np

    Q = np.asarray(generator.Q)
    return int(np.count_nonzero((Q > 0) & ~np.eye(Q.shape[0], dtype=bool)))


def mdse(generator, length: int, batch: int = 1, method: str = "auto") -> float:
    """mdse_s of ``batch`` sequences given the noised marginal, by
    :func:`ctmc_lab.exact.scores.mdse`'s methods: ``enumerate`` visits the reach^L states of
    each sequence with their L S neighbours (about 50 element steps each); ``factored`` makes
    (3 + log2 L) L axis steps over S^L for the whole batch, plus per-symbol (S, S, N) tables
    (about 100 units per entry: several temporaries, memory-bound; 0.8 s at S = 201);
    ``contract`` loops over positions and rate pairs, L-1 axis steps over S^(L-1) each;
    ``auto`` picks as the library does (its own operation counts), then costs as above."""
    S, L = float(generator.n_states), length
    enumerate_ = 50.0 * batch * float(reach(generator)) ** L * L * S
    steps = (3.0 + math.log2(max(L, 1))) * L * S**L
    if method == "auto":  # the library's own choice (scores._cheaper_mdse_method)
        method = "enumerate" if enumerate_ < steps else "factored"
    work = {
        "enumerate": ELEM * enumerate_,
        "factored": ELEM * steps * S + 100 * S * S * generator.n_tokens,
        "contract": ELEM * L * rates(generator) * (max(L - 1, 1) * S**L + batch),
    }[method]
    return 2 * CALL + work


def process(generator, dist, *, kl_batch: int = 0, mdse_batch: int = 0, method: str = "auto") -> float:
    """One noised marginal of ``dist`` under ``generator`` with a KL of ``kl_batch`` and an
    mdse (``method``) of ``mdse_batch`` sequences on it (either may be 0)."""
    out = noised(generator, dist.length)
    if kl_batch:
        out += kl(generator.n_states, dist.length, kl_batch)
    if mdse_batch:
        out += mdse(generator, dist.length, mdse_batch, method)
    return out


def uses_patterns(dist) -> bool:
    """True where the optimal denoiser answers from the (N+1)^L pattern table, not a support scan."""
    from ctmc_lab.sources.joint import PATTERN_LIMIT

    return (dist.n_tokens + 1) ** dist.length <= PATTERN_LIMIT


def pattern_table(dist) -> float:
    """The (N+1)^L pattern-marginal table of the optimal denoiser, built once per distribution."""
    return ELEM * dist.length * float(dist.n_tokens + 1) ** dist.length if uses_patterns(dist) else 0.0


def queries(rows: float, dist) -> float:
    """``rows`` optimal-denoiser queries on ``dist``: two lookups per output entry in the
    pattern table where it exists (:func:`pattern_table`, counted separately), else a scan of
    the support per row."""
    per_row = dist.length * dist.n_tokens
    if uses_patterns(dist):
        return CALL + ELEM * rows * per_row
    return CALL + ELEM * rows * (dist.support_size * dist.length + per_row)


def masked_queries(dist, seqs: float, masks: float) -> float:
    """The optimal denoiser on every one of ``masks`` masked inputs of ``seqs`` sequences
    (``masked_dce``): the pattern table, the queries and the picked log-probabilities."""
    rows = float(seqs) * masks
    return pattern_table(dist) + queries(rows, dist) + ELEM * rows * dist.length


def marginals(dist, rows: float) -> float:
    """``rows`` pattern marginals P0(x^U) by a scan of the support each."""
    return CALL + ELEM * rows * dist.support_size * dist.length


def subset_tables(count: float, dist) -> float:
    """``count`` subset tables h(U) = -log P0(x0^U): a support scan and a zeta transform each."""
    return CALL + ELEM * count * (dist.support_size * dist.length + (1 << dist.length) * dist.length)


def mp_dense(states: float, length: int, n_states: int) -> float:
    """One mpmath evaluation of the dense process (p_s by L axis sums over S^L, q, the KL or
    mdse): about L S operations per state and axis."""
    return MP_OP * states * length * n_states


def mp_table(support: int, length: int) -> float:
    """One mpmath subset table P0(x0^U) over 2^L sets by direct sums over the support."""
    return MP_OP * support * float(1 << length)


def monte_carlo(samples: float, batch: int) -> float:
    """A seeded estimator run of ``samples`` draws in batches of ``batch`` rows."""
    return samples * SAMPLE + math.ceil(samples / batch) * BATCH


def describe(work: float) -> str:
    """``2.3e+10 units (~23 s nominal)``: a prediction as it appears in a skip reason."""
    return f"{work:.2g} units (~{seconds(work):.2g} s nominal)"
