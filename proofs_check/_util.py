"""Small shared helpers of the check modules: picking sequences, labels, differences, sizes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ctmc_lab.forward import generators
from ctmc_lab.forward.schedules import Cosine, Geometric, Linear, Loglinear
from ctmc_lab.sources.joint import PATTERN_LIMIT, JointDistribution

if TYPE_CHECKING:  # framework imports this module, so the runtime import stays in range_skip
    from .framework import Skip

__all__ = [
    "pick_sequences",
    "label",
    "five_point",
    "fd_step",
    "dense_states",
    "DENSE_LIMIT",
    "QUAD_LIMIT",
    "SCHEDULES",
    "schedule_label",
    "random_generator",
    "worst",
    "prefix_marginal",
    "fit_dense",
    "dist_note",
    "fit_queries",
    "range_skip",
    "share_skip",
]

#: Largest S^L the dense (whole-state-space) float64 derivative checks enumerate (a few
#: dozen evaluations each); beyond it a dense check runs on the longest prefix marginal that
#: fits (D128: 4^7 states under uniform noise, 5^6 under absorbing noise).
DENSE_LIMIT = 20_000
#: Largest S^L of the dense quadrature checks (hundreds of evaluations per sequence).
QUAD_LIMIT = 5_000

#: The schedules every Thm 3.1 / Thm 3.4 check runs under (§1.3), with t-grids inside [0, t_max].
SCHEDULES = {
    "loglinear(1e-3)": Loglinear(1e-3),
    "geometric(1e-4..20, shifted)": Geometric(1e-4, 20.0),
    "linear(rate 1.5)": Linear(1.5),
    "cosine(1e-3)": Cosine(1e-3),
}


#: Prefix marginals already built, by (id of the distribution, length); the distribution is
#: kept alongside so that its id cannot be reused while the entry lives.
_PREFIXES: dict = {}


def prefix_marginal(dist: JointDistribution, length: int) -> JointDistribution:
    """The marginal of positions 0..length-1, an exact distribution on V^length (cached: on a
    large user table every dense check asks for the same few prefixes)."""
    if length >= dist.length:
        return dist
    key = (id(dist), length)
    if key in _PREFIXES and _PREFIXES[key][0] is dist:
        return _PREFIXES[key][1]
    # One base-N code per prefix instead of np.unique over rows: linear in the support.
    codes = np.zeros(dist.support_size, dtype=np.int64)
    for i in range(length):
        codes = codes * dist.n_tokens + dist.support[:, i]
    uniq, inverse = np.unique(codes, return_inverse=True)
    probs = np.bincount(inverse.reshape(-1), weights=dist.probs, minlength=uniq.size)
    keys = np.stack([(uniq // dist.n_tokens ** (length - 1 - i)) % dist.n_tokens for i in range(length)], axis=1)
    out = JointDistribution(
        keys,
        probs,
        n_tokens=dist.n_tokens,
        alphabet=dist.alphabet,
        normalize=True,
        name=f"{dist.name}[positions 0..{length - 1}]",
    )
    if len(_PREFIXES) > 16:
        _PREFIXES.clear()
    _PREFIXES[key] = (dist, out)
    return out


def fit_dense(dist: JointDistribution, n_states: int, limit: int):
    """``dist`` if S^L <= limit, else the marginal of its longest prefix that fits (None if
    even one position does not). The identities hold for every distribution, so a prefix
    marginal keeps a dense check on the user's data instead of skipping it."""
    length = dist.length
    while length > 0 and n_states**length > limit:
        length -= 1
    return prefix_marginal(dist, length) if length > 0 else None


def dist_note(dist: JointDistribution, ctx) -> str:
    """Case prefix naming a prefix marginal (empty for the distribution itself)."""
    return f"{dist.name}; " if dist is not ctx.small else ""


def schedule_label(schedule) -> str:
    for name, sch in SCHEDULES.items():
        if sch == schedule:
            return name
    return repr(schedule)


def pick_sequences(dist: JointDistribution, count: int) -> np.ndarray:
    """Up to ``count`` support sequences, deterministic and spread over the probability range:
    the most probable, the least probable, then quantiles. Returns a (k, L) int array."""
    order = np.argsort(-dist.probs, kind="stable")
    if count >= order.size:
        return dist.support[order]
    picks = [order[0], order[-1]] if count >= 2 else [order[0]]
    if count > 2:
        inner = np.linspace(0, order.size - 1, count)[1:-1].round().astype(int)
        picks += [order[i] for i in inner]
    picks = list(dict.fromkeys(int(p) for p in picks))
    return dist.support[np.array(picks[:count])]


def label(dist: JointDistribution, x) -> str:
    """A sequence as text (alphabet symbols, or comma-separated tokens)."""
    return dist.decode(np.asarray(x))


def share_skip(ctx, case: str, work: float, parts: int):
    """A Skip for one of ``parts`` independent parts of a check (a generator, a kind) whose
    predicted work (:mod:`proofs_check.cost`) exceeds its share of ``ctx.budget``, else None:
    the cheap parts still run, and the decision reads only the input sizes."""
    from . import cost
    from .framework import Skip

    share = ctx.budget / max(1, parts)
    if work <= share:
        return None
    return Skip(
        case,
        f"predicted work {cost.describe(work)} exceeds this part's share {share:.2g} of the "
        f"budget of {ctx.budget:.2g} units (raise it with --budget)",
    )


def range_skip(case: str, err) -> Skip:
    """The skip of a case that float64 cannot represent: ``err`` is the library's own
    :class:`ctmc_lab.forward.process.NumericalRangeError` refusal (p_s or a kernel entry underflows,
    Q too stiff), caught by exactly that type so that any other exception stays an error."""
    from .framework import Skip

    return Skip(case, f"float64 cannot represent this case: {err}")


def five_point(f, x: float, h: float, *, with_scale: bool = False):
    """Five-point central difference f'(x) ≈ [f(x-2h) - 8f(x-h) + 8f(x+h) - f(x+2h)] / 12h.

    With ``with_scale``, returns (f'(x), max |f| over the four nodes): the rounding error of
    the difference is about eps · max|f| / h, so its tolerance scales with that size too."""
    nodes = [f(x - 2 * h), f(x - h), f(x + h), f(x + 2 * h)]
    d = (nodes[0] - 8 * nodes[1] + 8 * nodes[2] - nodes[3]) / (12 * h)
    if not with_scale:
        return d
    return d, np.max(np.abs(np.asarray(nodes, dtype=float)), axis=0)


def fd_step(x: float) -> float:
    """h = min(1e-3, x/500), the step of §10 for 5-point differences near s = 0."""
    return min(1e-3, x / 500)


def dense_states(generator, dist: JointDistribution) -> int:
    return generator.n_states**dist.length


def random_generator(n_tokens: int, rng) -> generators.Generator:
    """A random generic rate matrix on N states: off-diagonal rates U(0.2, 1.2), column sums 0."""
    Q = rng.uniform(0.2, 1.2, size=(n_tokens, n_tokens))
    np.fill_diagonal(Q, 0.0)
    Q -= np.diag(Q.sum(axis=0))
    return generators.custom(Q)


def worst(errors) -> int:
    """Index of the largest error (NaN counts as worst)."""
    e = np.asarray(errors, dtype=float)
    return int(np.argmax(np.where(np.isnan(e), np.inf, e)))


def fit_queries(
    dist: JointDistribution, n_queries: int | None = None, *, max_bytes: float = 3e7, max_support: int | None = None
) -> JointDistribution:
    """``dist``, or its longest prefix marginal on which the optimal denoiser stays cheap:
    either its pattern-marginal table fits ((N+1)^L ≤ 2^22, lookups) or ``n_queries`` masked
    inputs (default 2^L) × |support| × 8 bytes of the support scan fit ``max_bytes``; and,
    if given, at most ``max_support`` support sequences. Estimated before anything is built."""
    length = dist.length
    while length > 1:
        support = min(dist.support_size, dist.n_tokens**length)
        queries = (1 << length) if n_queries is None else n_queries
        cheap = (dist.n_tokens + 1) ** length <= PATTERN_LIMIT or queries * support * 8 <= max_bytes
        if cheap and (max_support is None or support <= max_support):
            break
        length -= 1
    return prefix_marginal(dist, length)
