"""Source conformance: a source's own methods against the joint enumerated from its ``log_prob``
(``docs/theory.md`` §1.4, §3.1, §4.2).

A source that is not a joint table (a Markov chain, a user's ``python:MODULE:ATTR`` class
implementing :class:`ctmc_lab.sources.base.Source`) answers every exact query by its own code:
marginals, the optimal denoiser c*, the table A(M) of Cor. 4.3 and its sampler. The theorem rows
run on the joint *enumerated from its* ``log_prob`` and never call those methods, so here each
of them is compared with the same quantity summed over the enumeration twin

    p(x) = exp(source.log_prob(x)) for every x ∈ V^L,   P(x^U) = Σ_{z : z^U = x^U} p(z),

built in this module from base-N digits (nothing of the library's enumeration is used):

* ``sources.normalisation`` — Σ_x p(x) = 1 on each window, and, for a source over windows of any
  length, Σ_v p(x v) = p(x): its windows are marginals of one process;
* ``sources.marginals`` — ``log_marginal`` on random masked windows (and the fully visible and
  fully masked ones) against log P(x^U);
* ``sources.denoiser`` — ``denoiser(L)`` on random masked windows against
  c*(x̃)_{i,v} = P(x̃ with x_i = v) / P(x̃^U) (Prop. 3.1), in probabilities;
* ``sources.mask_dce_table`` — ``mask_dce_table`` by each of its ``mask_dce_methods``, with the
  default context and with a context that leaves positions marginalised, against
  A(M) = Σ_{t∈M} [log P(x^V) − log P(x^{V ∪ {t}})], V = (I1 ∖ M) ∪ I2 (Cor. 4.3);
* ``sources.sample_law`` — a seeded ``sample`` against p: χ² over the windows (cells with an
  expected count below 5 pooled) below its 1 − 1e-6 quantile, no draw of a window of probability
  0, and the same seed giving the same draws (SPEC 7).

The sources under test are ``ctx.source`` (the user's source, ``--dist python:``) and
``ctx.chain`` (``--dist markov4`` / ``markov:PATH``, else the default chain). A source with a
length is checked on that length; a source over windows of any length on L = 1, 2, … while
N^L ≤ :data:`WINDOW_LIMIT`, the scope each row's case states. Each window's work is predicted
from N, L and the number of queries (:mod:`proofs_check.cost`); the first window over the
budget is a skip row with the prediction, never a silent omission.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import chdtri

from . import cost
from .framework import TOL_ENUM, Result, Skip, check, difference, scaled_tolerance

__all__ = ["WINDOW_LIMIT", "sources_under_test", "enumerate_windows"]

#: Largest number of windows N^L a source over windows of any length is enumerated on.
WINDOW_LIMIT = 4096
#: Longest window of such a source (an alphabet of one symbol never reaches the limit).
MAX_LENGTH = 12
#: p-value below which the sampling law's χ² statistic fails.
LAW_P = 1e-6
#: Cells of the χ² with an expected count below this are pooled into one.
MIN_EXPECTED = 5.0
#: One NumPy call on small arrays (its fixed cost, ~10 µs), in work units.
_NUMPY = 1e4
#: Targets of the A(M) rows: at most this many (2^n masks, each a sum over the windows).
MAX_TARGETS = 4


def sources_under_test(ctx) -> list:
    """The non-joint sources of a run: the user's source (``ctx.source``, if the context has
    one), the Markov chain of the Markov rows and, when it has one, its source of windows
    continuing a prompt (``continuing``, §5.4), the prompt drawn from the chain."""
    out = [getattr(ctx, "source", None), ctx.chain]
    if ctx.chain is not None and hasattr(ctx.chain, "continuing"):
        key = (id(ctx.chain), ctx.seed)
        if key not in _CONTINUED or _CONTINUED[key][0] is not ctx.chain:
            prompt = ctx.chain.sample(ctx.chain.order + 1, rng=np.random.default_rng([ctx.seed, 86]))
            _CONTINUED[key] = (ctx.chain, ctx.chain.continuing(prompt))
        out.append(_CONTINUED[key][1])
    return [s for s in out if s is not None]


#: The prompt-continuing source of a chain, by (id of the chain, seed), built once: the plan
#: (work prediction) and the rows must see the same object.
_CONTINUED: dict = {}


def _name(source) -> str:
    return str(getattr(source, "name", None) or type(source).__name__)


def enumerate_windows(n: int, length: int) -> np.ndarray:
    """All N^L windows as a ``(N^L, L)`` int array, row r holding r's base-N digits (most
    significant first)."""
    codes = np.arange(n**length, dtype=np.int64)
    return (codes[:, None] // n ** np.arange(length - 1, -1, -1, dtype=np.int64)) % n


def _codes(x: np.ndarray, n: int) -> np.ndarray:
    """Base-N index of each row (the row of :func:`enumerate_windows` holding it)."""
    out = np.zeros(x.shape[0], dtype=np.int64)
    for j in range(x.shape[1]):
        out = out * n + x[:, j]
    return out


#: Enumeration twins by (id of the source, L); the source is kept so its id is not reused.
_TWINS: dict = {}


def _twin(source, length: int):
    """(windows, p) with p = exp(source.log_prob(windows)), computed once per source and length."""
    key = (id(source), length)
    if key not in _TWINS or _TWINS[key][0] is not source:
        n = int(source.n_tokens)
        wins = enumerate_windows(n, length)
        lp = np.asarray(source.log_prob(wins), dtype=float)
        if lp.shape != (wins.shape[0],):
            raise ValueError(f"log_prob of {wins.shape[0]} windows returned shape {lp.shape}")
        if len(_TWINS) > 64:
            _TWINS.clear()
        _TWINS[key] = (source, wins, np.exp(lp))
    return _TWINS[key][1], _TWINS[key][2]


def _masked_draws(source, length: int, count: int, rng, *, extra: bool = True) -> np.ndarray:
    """``count`` windows drawn from the twin with each position masked (id N) with probability
    1/2; with ``extra``, the fully masked window appended."""
    wins, p = _twin(source, length)
    n = int(source.n_tokens)
    x = wins[rng.choice(len(wins), size=count, p=p / p.sum())].copy()
    x[rng.random(x.shape) < 0.5] = n
    if extra:
        x = np.vstack([x, np.full((1, length), n, dtype=np.int64)])
    return x


def _match(wins: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """``(B, W)``: whether window w agrees with row b of ``x`` on its visible positions."""
    return np.all((wins[None] == x[:, None]) | (x[:, None] == n), axis=-1)


# ------------------------------------------------------------------------------ the plan
def _n_queries(ctx) -> int:
    """Masked windows per window length of the marginal and denoiser rows."""
    return 12 if ctx.quick else 40


def _n_samples(ctx) -> int:
    return 4000 if ctx.quick else 20000


def _source_elems(source) -> float:
    """Elements one position of one query touches in the source's own route: its (or its
    chain's) transition table when it has one (forward–backward over every context), else N."""
    table = getattr(source, "table", getattr(getattr(source, "chain", None), "table", None))
    return float(np.size(table)) if table is not None else float(source.n_tokens)


def _twin_work(source, n: int, L: int) -> float:
    """The N^L windows, their log_prob (priced as a few passes over them) and p."""
    return cost.CALL + 4 * cost.ELEM * float(n) ** L * L


def _plan(ctx, per_window):
    """[(source, lengths, skip)]: the window lengths of each source whose predicted work
    (``per_window(source, n, L, ctx)`` plus the twin), summed over the sources, fits
    ``ctx.budget``; ``skip`` is the Skip of the first window the budget leaves out (None if
    none is). A source over windows of any length stops at N^L > :data:`WINDOW_LIMIT` (or at
    :data:`MAX_LENGTH`), the scope its rows' cases state."""
    plan, total = [], 0.0
    for source in sources_under_test(ctx):
        n = int(source.n_tokens)
        fixed = getattr(source, "length", None)
        candidates = [int(fixed)] if fixed is not None else range(1, MAX_LENGTH + 1)
        lengths, skip = [], None
        for L in candidates:
            if fixed is None and n**L > WINDOW_LIMIT:
                break
            work = _twin_work(source, n, L) + per_window(source, n, L, ctx)
            if total + work > ctx.budget:
                skip = Skip(
                    f"{_name(source)}; L={L}" + ("" if fixed is not None else " and longer windows"),
                    f"predicted work {cost.describe(total + work)} exceeds the budget of "
                    f"{ctx.budget:.2g} units per check (raise it with --budget)",
                )
                break
            lengths.append(L)
            total += work
        plan.append((source, lengths, skip))
    return plan


def _scope(source, lengths, skip) -> str:
    """The windows a row covers, as its case says: the source's length, or for a source over
    windows of any length the lengths run and the limit that ends them (the budget's skip row
    says it instead when the budget ended them)."""
    span = f"L={lengths[0]}" if len(lengths) == 1 else f"L={lengths[0]}..{lengths[-1]}"
    if getattr(source, "length", None) is not None:
        return f"window {span}"
    if skip is not None:
        return f"windows {span}"
    limit = f"N^L ≤ {WINDOW_LIMIT}" if lengths[-1] < MAX_LENGTH else f"L ≤ {MAX_LENGTH}"
    return f"windows {span} (every L with {limit})"


def _plan_work(per_window):
    def work(ctx) -> float:
        return sum(
            _twin_work(s, int(s.n_tokens), L) + per_window(s, int(s.n_tokens), L, ctx)
            for s, lengths, _ in _plan(ctx, per_window)
            for L in lengths
        )

    return work


def _worst(cases, base: float):
    """The case with the largest error relative to its scaled tolerance (ties, such as every
    error 0, go to the largest |lhs| / |rhs|: the χ² statistic nearest its limit): ``cases``
    are (case, lhs, rhs, error, scale, terms) tuples."""

    def rank(c):
        tol = scaled_tolerance(base, c[1], c[2], c[4], terms=c[5]) if base > 0 else 0.0
        err = c[3] if math.isfinite(c[3]) else math.inf
        ratio = err / tol if tol > 0 else (math.inf if err > 0 else 0.0)
        near = abs(float(c[1])) / abs(float(c[2])) if float(c[2]) != 0 and math.isfinite(float(c[1])) else 0.0
        return (ratio, near)

    return max(cases, key=rank)


def _rows(ctx, per_window, rows_of, base: float):
    """Run ``rows_of(source, L, ctx)`` (a dict quantity -> case tuple) on every planned window;
    yield, per source and quantity, the worst window as one Result, then the source's skip."""
    for source, lengths, skip in _plan(ctx, per_window):
        found: dict = {}
        for L in lengths:
            for what, case in rows_of(source, L, ctx).items():
                found.setdefault(what, []).append(case)
        for what, cases in found.items():
            text, lhs, rhs, err, scale, terms = _worst(cases, base)
            yield Result(
                f"{_name(source)}; {_scope(source, lengths, skip)}; {what}; worst {text}",
                lhs,
                rhs,
                err,
                scale=max(abs(float(lhs)), abs(float(rhs)), scale) if math.isfinite(err) else scale,
                terms=terms,
            )
        if skip is not None:
            yield skip


# -------------------------------------------------------------------- normalisation
def _normalisation_work(source, n, L, ctx) -> float:
    return cost.ELEM * float(n) ** L * 2


def _normalisation_cases(source, L, ctx) -> dict:
    """The source's ``log_prob`` sums to 1 on the window and, over windows of any length, the
    window's law is the marginal of the next one's."""
    wins, p = _twin(source, L)
    out = {"Σ_x exp(log_prob(x)) = 1": (f"L={L}", float(p.sum()), 1.0, abs(float(p.sum()) - 1.0), 1.0, p.size)}
    if getattr(source, "length", None) is None and L >= 2:
        n = int(source.n_tokens)
        shorter = _twin(source, L - 1)[1]
        folded = p.reshape(-1, n).sum(axis=1)  # Σ_v p(x v), x the first L-1 symbols
        k = int(np.argmax(np.abs(folded - shorter)))
        out["Σ_v p_L(x v) = p_{L-1}(x)"] = (
            f"L={L}, x={_decode(source, wins[k * n, : L - 1])}",
            float(folded[k]),
            float(shorter[k]),
            float(np.max(np.abs(folded - shorter))),
            1.0,
            n,
        )
    return out


def _decode(source, x) -> str:
    try:
        return str(source.decode(np.asarray(x)))
    except Exception:  # a source's decode is not under test here
        return ",".join(str(int(v)) for v in np.asarray(x))


# -------------------------------------------------------------------------- marginals
def _marginals_work(source, n, L, ctx) -> float:
    B = _n_queries(ctx) + 2
    # The (B, W, L) agreement test: two comparisons, an or and an all.
    return 2 * cost.CALL + 3 * cost.ELEM * B * float(n) ** L * L + cost.ELEM * B * L * _source_elems(source)


def _marginals_cases(source, L, ctx) -> dict:
    """The source's marginals log P(x^U) on random masked windows (with the fully masked and
    the most probable one) against sums of the twin."""
    n = int(source.n_tokens)
    wins, p = _twin(source, L)
    rng = np.random.default_rng([ctx.seed, 81, L])
    x = np.vstack([_masked_draws(source, L, _n_queries(ctx), rng), wins[np.argmax(p)][None]])
    with np.errstate(divide="ignore"):
        ref = np.log(_match(wins, x, n) @ p)
    got = np.asarray(source.log_marginal(x), dtype=float).reshape(-1)
    if got.shape != ref.shape:
        return {"log_marginal": (f"L={L}: shape {got.shape} for {x.shape[0]} rows", math.nan, 0.0, math.inf, 0.0, 1)}
    d = np.array([difference(a, b) for a, b in zip(got, ref)])  # -inf = -inf agrees
    k = int(np.argmax(d))
    fin = np.isfinite(ref)
    scale = float(np.max(np.abs(ref[fin]))) if fin.any() else 0.0
    return {
        f"log P(x^U) on {x.shape[0]} masked windows": (
            f"L={L}, x̃={_decode(source, x[k])}",
            float(got[k]),
            float(ref[k]),
            float(d[k]),
            scale,
            p.size,
        )
    }


# --------------------------------------------------------------------------- denoiser
def _denoiser_work(source, n, L, ctx) -> float:
    B = _n_queries(ctx) + 1
    W = float(n) ** L
    return 2 * cost.CALL + cost.ELEM * B * W * L * (n + 1) + cost.ELEM * B * L * _source_elems(source)


def _denoiser_cases(source, L, ctx) -> dict:
    """The source's own optimal denoiser c* (Prop. 3.1) on random masked windows (and the
    fully masked one) against ratios of sums of the twin, entry by entry in probabilities."""
    n = int(source.n_tokens)
    wins, p = _twin(source, L)
    rng = np.random.default_rng([ctx.seed, 82, L])
    x = _masked_draws(source, L, _n_queries(ctx), rng)
    weights = _match(wins, x, n) * p  # (B, W): p(z) on the windows agreeing with x̃
    onehot = (wins[:, :, None] == np.arange(n)).astype(float)  # (W, L, N)
    ref = np.einsum("bw,wln->bln", weights, onehot) / weights.sum(axis=1)[:, None, None]
    got = np.asarray(source.denoiser(L)(x), dtype=float)
    if got.shape != ref.shape:
        return {"c*": (f"L={L}: shape {got.shape}, expected {ref.shape}", math.nan, 0.0, math.inf, 0.0, 1)}
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(np.exp(got) - ref)
    diff = np.where(np.isnan(diff), np.inf, diff)
    b, i, v = np.unravel_index(int(np.argmax(diff)), diff.shape)
    return {
        f"c*(x̃)_(i,v) on {x.shape[0]} masked windows (probabilities)": (
            f"L={L}, x̃={_decode(source, x[b])}, i={i}, v={v}",
            float(np.exp(got[b, i, v])),
            float(ref[b, i, v]),
            float(diff[b, i, v]),
            1.0,
            p.size,
        )
    }


# --------------------------------------------------------------------- mask-DCE table
def _layouts(L: int):
    """(label, target, context) of the A(M) rows: the last min(L, 4) positions with every
    other one visible; for L ≥ 3 also position 0 as the context and the last min(L-2, 3) as
    targets, the positions between them marginalised."""
    out = [("default context", list(range(L - min(L, MAX_TARGETS), L)), None)]
    if L >= 3:
        out.append(("context {0}, the middle marginalised", list(range(L - min(L - 2, 3), L)), [0]))
    return out


def _methods(source) -> list:
    return list(getattr(source, "mask_dce_methods", ()) or (None,))


def _mask_dce_work(source, n, L, ctx) -> float:
    W = float(n) ** L
    work = 0.0
    for _, target, _ in _layouts(L):
        t = len(target)
        # Per visible set J: a few NumPy calls over the W windows; per mask M: t Python steps.
        twin = cost.ELEM * W * (L + t) + (1 << t) * (3 * _NUMPY + cost.ELEM * W * (t + 2) + 2 * t * cost.STEP)
        own = len(_methods(source)) * (cost.CALL + cost.ELEM * (1 << t) * L * _source_elems(source))
        work += 2 * (twin + own)  # two windows x
    return work


def _twin_table(wins, p, x, target, context, n) -> np.ndarray:
    """A(M) from log P of the visible sets, by sums over the twin (bit t = t-th target)."""
    L = wins.shape[1]
    context = [i for i in range(L) if i not in target] if context is None else list(context)
    base = p * np.all(wins[:, context] == x[context], axis=1) if context else p.copy()
    eq = wins[:, target] == x[target]  # (W, t)
    t = len(target)
    with np.errstate(divide="ignore"):
        logP = np.array(
            [np.log(np.sum(base * np.all(eq[:, [j for j in range(t) if J >> j & 1]], axis=1))) for J in range(1 << t)]
        )
    full = (1 << t) - 1
    A = np.zeros(1 << t)
    for M in range(1, 1 << t):
        V = full ^ M
        A[M] = sum(logP[V] - logP[V | 1 << j] for j in range(t) if M >> j & 1)
    return A


def _mask_dce_cases(source, L, ctx) -> dict:
    """The source's own A(M) table (Cor. 4.3) by each of its methods, with the default context
    and with marginalised positions, against differences of log-marginals of the twin."""
    n = int(source.n_tokens)
    wins, p = _twin(source, L)
    rng = np.random.default_rng([ctx.seed, 83, L])
    xs = [wins[int(np.argmax(p))], wins[rng.choice(len(wins), p=p / p.sum())]]
    out = {}
    for label, target, context in _layouts(L):
        refs = [_twin_table(wins, p, x, target, context, n) for x in xs]
        for method in _methods(source):
            cases = []
            for x, ref in zip(xs, refs):
                kwargs = {} if method is None else {"method": method}
                got = np.asarray(source.mask_dce_table(x, target, context, **kwargs), dtype=float)
                if got.shape != ref.shape:
                    cases.append((f"L={L}: shape {got.shape}, expected {ref.shape}", math.nan, 0.0, math.inf, 0.0, 1))
                    continue
                d = np.abs(got - ref)
                d = np.where(np.isnan(d), np.inf, d)
                k = int(np.argmax(d))
                cases.append(
                    (
                        f"L={L}, x={_decode(source, x)}, targets {target}, M={k:0{len(target)}b}",
                        float(got[k]),
                        float(ref[k]),
                        float(d[k]),
                        float(np.max(np.abs(ref))),
                        len(target),
                    )
                )
            name = f"A(M), {label}" + ("" if method is None else f", method={method}")
            out[name] = _worst(cases, TOL_ENUM)
    return out


# ------------------------------------------------------------------------- sampling law
def _sample_work(source, n, L, ctx) -> float:
    S = _n_samples(ctx) + 128
    # A sampler step per position over the S draws (a cdf lookup and compare, N wide), the codes.
    return 3 * cost.CALL + cost.ELEM * S * L * (3 * n + 4) + cost.ELEM * float(n) ** L * 4


def _chi2(observed: np.ndarray, expected: np.ndarray):
    """(statistic, limit at p = LAW_P, cells): cells with an expected count below
    MIN_EXPECTED pooled into one (dropped if the pool itself is below it)."""
    small = expected < MIN_EXPECTED
    obs = list(observed[~small])
    exp = list(expected[~small])
    if expected[small].sum() >= MIN_EXPECTED:
        obs.append(observed[small].sum())
        exp.append(expected[small].sum())
    obs, exp = np.asarray(obs, dtype=float), np.asarray(exp, dtype=float)
    if obs.size < 2:
        return 0.0, 0.0, obs.size
    stat = float(np.sum((obs - exp) ** 2 / exp))
    return stat, float(chdtri(obs.size - 1, LAW_P)), obs.size


def _sample_cases(source, L, ctx) -> dict:
    """A seeded run of the source's sampler against the twin: the χ² statistic of the drawn
    windows below its 1 − 1e-6 quantile (error = excess plus the draws of windows of
    probability 0), and two runs with the same seed drawing the same windows."""
    n = int(source.n_tokens)
    wins, p = _twin(source, L)
    S = _n_samples(ctx)
    draws = np.asarray(source.sample(L, n=S, rng=np.random.default_rng([ctx.seed, 84, L])))
    if draws.shape != (S, L) or draws.dtype.kind not in "iu" or draws.min() < 0 or draws.max() >= n:
        bad = f"shape {draws.shape}, dtype {draws.dtype}"
        return {"draws": (f"L={L}: {bad}, expected ({S}, {L}) tokens in 0..{n - 1}", math.nan, 0.0, math.inf, 0.0, 1)}
    observed = np.bincount(_codes(draws.astype(np.int64), n), minlength=wins.shape[0]).astype(float)
    impossible = float(observed[p == 0].sum())
    stat, limit, cells = _chi2(observed, S * p / p.sum())
    again = [np.asarray(source.sample(L, n=64, rng=np.random.default_rng([ctx.seed, 85, L]))) for _ in range(2)]
    differ = float(np.sum(again[0] != again[1])) if again[0].shape == again[1].shape else math.inf
    return {
        f"χ² of {S} draws over the windows (p = {LAW_P:g})": (
            f"L={L}: {cells} cells, {int(impossible)} draws of probability 0",
            stat,
            limit,
            max(0.0, stat - limit) + impossible,
            0.0,
            1,
        ),
        "same seed, same draws (64 windows twice)": (f"L={L}: entries that differ", differ, 0.0, differ, 0.0, 1),
    }


def _register(id, *, theorem, statement, tolerance, per_window, cases) -> None:
    """Register one row of every source: ``cases(source, L, ctx)`` on each planned window,
    priced by ``per_window`` (:func:`_plan`); one worker runs them all, sharing the twins."""

    def rows(ctx):
        yield from _rows(ctx, per_window, cases, tolerance)

    rows.__doc__ = cases.__doc__
    check(
        id,
        theorem=theorem,
        statement=statement,
        method="float64",
        tolerance=tolerance,
        work=_plan_work(per_window),
        group="sources",
    )(rows)


_register(
    "sources.normalisation",
    theorem="Denoiser c* (§3.4)",
    statement="Σ exp(log_prob) = 1; windows are marginals of one process",
    tolerance=TOL_ENUM,
    per_window=_normalisation_work,
    cases=_normalisation_cases,
)
_register(
    "sources.marginals",
    theorem="Denoiser c* (§3.4)",
    statement="source.log_marginal = log Σ_{z^U = x^U} p(z)",
    tolerance=TOL_ENUM,
    per_window=_marginals_work,
    cases=_marginals_cases,
)
_register(
    "sources.denoiser",
    theorem="Denoiser c* (§3.4)",
    statement="source.denoiser(L) = P(x̃, x_i = v) / P(x̃^U) by enumeration",
    tolerance=TOL_ENUM,
    per_window=_denoiser_work,
    cases=_denoiser_cases,
)
_register(
    "sources.mask_dce_table",
    theorem="Cor 4.3",
    statement="source.mask_dce_table = Σ_{t∈M} −log p(x^t | x^V) by enumeration",
    tolerance=TOL_ENUM,
    per_window=_mask_dce_work,
    cases=_mask_dce_cases,
)
_register(
    "sources.sample_law",
    theorem="Denoiser c* (§3.4)",
    statement="source.sample draws p (χ², p = 1e-6); same seed, same draws",
    tolerance=0.0,
    per_window=_sample_work,
    cases=_sample_cases,
)
