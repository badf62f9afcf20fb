"""Declared mask laws, and the tests of the masks an evaluator really drew (from its call log).

A :class:`MaskLaw` states how an evaluator draws the masks of the answer: the law of the mask
size m (pooled, or per row of a call for a stratified design such as LLaDA's count rule), masks
uniform given their size, and how the rows of one call depend on each other (``independent``,
``stratified`` or ``shared``). Its optional ``weight`` f_m says what the evaluator makes of a mask:
the value f_m A(M) of the estimators of ``docs/theory.md`` §6 (then the log gives a plug-in exact
output per run).

:func:`law_tests` compares the log with a declared law by χ² tests (as ``ctmc-lab verify`` tests
the library's own samplers), and :func:`detect` reports, with no declared law, whether rows of a
call share masks or are stratified against the pooled empirical law. Each test is a p-value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import comb
from scipy.stats import chi2, norm, poisson

from ctmc_lab.estimation.families import LambdaDCE
from ctmc_lab.estimation.llada import count_law
from ctmc_lab.estimation.registry import get_estimator
from ctmc_lab.sequences import popcount

__all__ = [
    "DEPENDENCE",
    "MaskLaw",
    "estimator_law",
    "llada_law",
    "lambda_law",
    "law_tests",
    "detect",
    "call_masks",
]

#: How the rows of one call may depend on each other.
DEPENDENCE = ("independent", "stratified", "shared")


@dataclass(frozen=True, eq=False)
class MaskLaw:
    """How an evaluator declares it draws answer masks.

    Attributes
    ----------
    name : str
    sizes : callable
        ``sizes(n)`` → ``(n+1,)`` P(|M| = m), m = 0..n, pooled over rows.
    rows : callable or None
        ``rows(n, b)`` → ``(b, n+1)``: the law of row j's size in a call of b rows (stratified designs).
    weight : callable or None
        ``weight(n)`` → ``(n+1,)`` f_m: the evaluator's value is the mean over its rows of f_m A(M).
    dependence : {"independent", "stratified", "shared"}
    uniform_given_size : bool
        Masks of one size are uniform among the C(n, m) of that size.
    """

    name: str
    sizes: Callable
    rows: Callable | None = None
    weight: Callable | None = None
    dependence: str = "independent"
    uniform_given_size: bool = True

    def __post_init__(self):
        if self.dependence not in DEPENDENCE:
            raise ValueError(f"unknown `dependence` {self.dependence!r}; choose one of {list(DEPENDENCE)}")


def estimator_law(name: str) -> MaskLaw:
    """The declared law of a registered estimator of the ``mask`` or ``lambda`` family.

    A mask-size scheme's (q, f) is its registered law (``EstimatorSpec.mask_size_law``); λ-DCE
    draws λ ~ U(0, 1) and M ~ Bern(λ)^n, so P(m) = 1/(n+1) on 0..n, and its value A(M)/λ is no
    function of M alone (no weight).
    """
    spec = get_estimator(name)
    if isinstance(spec.family, LambdaDCE):
        return lambda_law()
    if not spec.family.draws_mask_sizes or spec.needs_weights:
        raise ValueError(f"estimator {name!r} has no mask law by name (family {spec.family.kind!r})")
    dependence = "stratified" if spec.stratified else "independent"
    return MaskLaw(
        name,
        sizes=lambda n: np.asarray(spec.mask_size_law(n)[0], dtype=float),
        weight=lambda n: np.asarray(spec.mask_size_law(n)[1], dtype=float),
        dependence=dependence,
    )


def lambda_law(eps: float = 0.0) -> MaskLaw:
    """λ ~ U(ε, 1), M ~ Bern(λ)^n: P(m) = C(n,m) ∫_ε^1 λ^m (1-λ)^{n-m} dλ / (1-ε) (ε = 0: 1/(n+1))."""
    from scipy.special import betainc

    eps = float(eps)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"`eps` must lie in [0, 1) (got {eps!r})")

    def sizes(n):
        m = np.arange(n + 1)
        upper = 1.0 / (n + 1)  # C(n,m) B(m+1, n-m+1) = 1/(n+1)
        return upper * (1.0 - betainc(m + 1, n - m + 1, eps)) / (1.0 - eps)

    return MaskLaw("lambda_dce" if eps == 0 else f"lambda_dce(eps={eps:g})", sizes=sizes)


def llada_law(batch_size: int, *, rule: str = "llada") -> MaskLaw:
    """LLaDA's count rule (or its fix) for calls of ``batch_size`` rows: row j's count has the law
    w_j(m) of :func:`ctmc_lab.estimation.llada.count_law`; value (n/m) A(M)."""
    b = int(batch_size)

    def rows(n, calls_b=b):
        w = count_law(n, calls_b, rule=rule)
        return np.concatenate([np.zeros((calls_b, 1)), w], axis=1)

    return MaskLaw(
        f"{'llada' if rule == 'llada' else 'llada_fixed'}(b={b})",
        sizes=lambda n: rows(n).mean(axis=0),
        rows=rows,
        weight=lambda n: np.concatenate([[0.0], n / np.arange(1, n + 1)]),
        dependence="stratified",
    )


# ================================================================================= the tests
def call_masks(log, *, runs=None) -> list[np.ndarray]:
    """The answer masks of each call (runs ≥ 0, or those in ``runs``), one ``(B,)`` array per call."""
    return [c.answer_masks for c in log.calls if c.run >= 0 and (runs is None or c.run in runs)]


#: Cells whose expected count is below this are pooled into one before a χ² test (the χ²
#: approximation fails for small expected counts: one draw in a cell of expected count 0.004 adds 250).
MIN_EXPECTED = 5.0


def _chi2_p(observed, expected) -> tuple[float, float, int]:
    """χ² statistic, p-value and degrees of freedom; a draw in a cell of probability 0 gives p = 0.

    Cells expected fewer than :data:`MIN_EXPECTED` times are pooled into one cell first.
    """
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    live = expected > 1e-300
    if np.any(observed[~live] > 0):
        return float("inf"), 0.0, int(live.sum()) - 1
    small = live & (expected < MIN_EXPECTED)
    if small.any():
        keep = live & ~small
        observed = np.append(observed[keep], observed[small].sum())
        expected = np.append(expected[keep], expected[small].sum())
        live = np.ones(observed.size, dtype=bool)
    dof = int(live.sum()) - 1
    if dof < 1:
        return 0.0, 1.0, 0
    stat = float(np.sum((observed[live] - expected[live]) ** 2 / expected[live]))
    return stat, float(chi2.sf(stat, dof)), dof


def _position_test(masks: np.ndarray, n: int) -> tuple[float, float, int]:
    """Masks uniform given their size: the inclusion count of each answer position against
    Σ m/n, with the exact covariance of drawing m of n positions without replacement
    (a χ² with n - 1 degrees of freedom)."""
    if n < 2 or masks.size == 0:
        return 0.0, 1.0, 0
    inc = ((masks[:, None] >> np.arange(n)) & 1).astype(float)
    m = inc.sum(axis=1)
    p = m / n
    dev = inc.sum(axis=0) - p.sum()
    # Cov of the indicators of one row: p(1-p) on the diagonal, p(m-1)/(n-1) - p² off it.
    off = (p * (m - 1) / (n - 1) - p**2).sum()
    diag = (p * (1 - p)).sum()
    cov = np.full((n, n), off) + np.eye(n) * (diag - off)
    stat = float(dev @ np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ dev)
    dof = n - 1 if diag - off > 1e-12 else 0
    return stat, float(chi2.sf(stat, dof)) if dof else 1.0, dof


def law_tests(log, law: MaskLaw, n: int) -> dict:
    """p-values of the log against a declared law: ``sizes`` (pooled χ²), ``rows`` (row j's size
    per position in the call, stratified laws), ``uniform`` (positions given sizes),
    ``dependence`` (within-call dispersion of the sizes for independent rows, identical masks for
    shared ones).

    Returns
    -------
    dict
        ``{test: {"statistic", "p_value", "dof", "what"}}`` and ``"rows_tested"``.
    """
    per_call = call_masks(log)
    out: dict = {"law": law.name, "rows_tested": int(sum(m.size for m in per_call))}
    if not per_call:
        return out
    # Rows of a call that share one mask are one draw: the sizes and positions are tested on one
    # row per call, so the shared rows do not count as independent evidence.
    masks = np.array([m[0] for m in per_call]) if law.dependence == "shared" else np.concatenate(per_call)
    sizes = popcount(masks)
    q = np.asarray(law.sizes(n), dtype=float)
    if q.shape != (n + 1,):
        raise ValueError(f"the law {law.name!r} gave sizes of shape {q.shape}, expected ({n + 1},)")
    widths = {m.size for m in per_call}
    if law.rows is not None and len(widths) == 1:
        b = widths.pop()
        w = np.asarray(law.rows(n, b), dtype=float)
        obs = np.zeros((b, n + 1))
        for m in per_call:
            np.add.at(obs, (np.arange(b), popcount(m)), 1.0)
        # Rows of one call share the draw that sets their sizes (LLaDA's k), so their χ² are
        # dependent: Bonferroni over the rows, valid whatever the dependence.
        stats = [_chi2_p(obs[j], w[j] * obs[j].sum()) for j in range(b)]
        worst = min(range(b), key=lambda j: stats[j][1])
        stat, p_min, dof = stats[worst]
        out["rows"] = {
            "statistic": stat,
            "p_value": min(1.0, b * p_min),
            "dof": dof,
            "what": f"row j's size in calls of {b} rows (worst row {worst}, Bonferroni over rows)",
        }
        q = w.mean(axis=0)
    stat, p, dof = _chi2_p(np.bincount(sizes, minlength=n + 1)[: n + 1], q * sizes.size)
    out["sizes"] = {"statistic": stat, "p_value": p, "dof": dof, "what": "mask sizes, pooled"}
    if law.uniform_given_size:
        stat, p, dof = _position_test(masks, n)
        out["uniform"] = {"statistic": stat, "p_value": p, "dof": dof, "what": "positions given sizes"}
    if law.dependence == "independent":
        out["dependence"] = _independence(per_call, q, n)
    elif law.dependence == "shared":
        split = sum(int(np.unique(m).size > 1) for m in per_call)
        out["dependence"] = {
            "statistic": float(split),
            "p_value": 0.0 if split else 1.0,
            "dof": 0,
            "what": "calls whose rows do not all share one mask",
        }
    return out


def _collision(q: np.ndarray, n: int) -> float:
    """Σ_M P(M)² under sizes q and uniform masks given size: Σ_m q_m² / C(n, m)."""
    return float(np.sum(q**2 / comb(n, np.arange(n + 1))))


#: Size cells of probability below this are pooled into one for the within-call dispersion test.
POOL_PROBABILITY = 0.01


def _within_calls(per_call, q, n) -> tuple[float, int, float, float]:
    """The Pearson statistic of the sizes within each call, summed over calls, against the size law q:
    (statistic, degrees of freedom, P(lower), P(upper)).

    Cells of q below :data:`POOL_PROBABILITY` are pooled. Each call's statistic has, for
    independent rows, mean k - 1 and variance 2(k - 1) + (Σ_i 1/p_i - k² - 2k + 2)/b (k cells,
    b rows; Haldane), exact whatever the expected counts, so the sum over calls is referred to the
    normal law with those moments rather than to a χ² (wrong when cells are expected well below once).
    """
    live = q > 0
    small = live & (q < POOL_PROBABILITY)
    keep = live & ~small
    p = np.append(q[keep], q[small].sum()) if small.any() else q[keep]
    stat = mean = var = 0.0
    for m in per_call:
        counts = np.bincount(popcount(m), minlength=n + 1)[: n + 1]
        obs = np.append(counts[keep], counts[small].sum()) if small.any() else counts[keep]
        b, k = m.size, p.size
        stat += float(np.sum((obs - b * p) ** 2 / (b * p)))
        mean += k - 1
        var += 2 * (k - 1) + (np.sum(1.0 / p) - k * k - 2 * k + 2) / b
    if var <= 0:
        return stat, int(mean), 1.0, 1.0
    z = (stat - mean) / np.sqrt(var)
    return stat, int(mean), float(norm.cdf(z)), float(norm.sf(z))


def _independence(per_call, q, n) -> dict:
    """Two-sided test that rows of a call are independent draws of the size law q: the dispersion of
    the sizes within each call (:func:`_within_calls`; too small: stratified; too large: clumped),
    and the number of identical mask pairs within calls against its Poisson expectation (shared masks)."""
    wide = [m for m in per_call if m.size >= 2]
    if not wide:
        return {"statistic": 0.0, "p_value": 1.0, "dof": 0, "what": "no call with two rows"}
    stat, dof, low, high = _within_calls(wide, q, n)
    pairs = sum(_duplicate_pairs(m) for m in wide)
    expected = _collision(q, n) * sum(m.size * (m.size - 1) / 2 for m in wide)
    p_dup = float(poisson.sf(pairs - 1, expected)) if pairs else 1.0
    p = min(1.0, 3 * min(low, high, p_dup))  # Bonferroni over the three one-sided tests
    kind = "stratified (too even)" if low < high else "clumped (too uneven)"
    return {
        "statistic": stat,
        "p_value": p,
        "dof": dof,
        "what": f"rows of a call independent: size dispersion {kind}; {pairs} identical pairs, {expected:.3g} expected",
    }


def _duplicate_pairs(masks: np.ndarray) -> int:
    _, counts = np.unique(masks, return_counts=True)
    return int(np.sum(counts * (counts - 1) // 2))


def detect(log, n: int) -> dict:
    """Shared masks and stratification, against the pooled empirical law of the log (no declared law).

    ``shared``: identical mask pairs within calls against Σ_M p̂(M)² per pair (Poisson upper tail);
    ``stratified``: the within-call size χ² against the pooled empirical size law (lower tail);
    ``repeated_calls``: calls of a run that repeat an earlier call's masks row for row.

    Returns
    -------
    dict
        ``{"shared_p", "stratified_p", "identical_pairs", "expected_pairs", "repeated_calls",
        "repeated_calls_p"}`` (p-values of one-sided tests; small means detected).
    """
    repeated = _repeated_calls(log)
    per_call = [m for m in call_masks(log) if m.size >= 2]
    if not per_call:
        return {"shared_p": 1.0, "stratified_p": 1.0, "identical_pairs": 0, "expected_pairs": 0.0, **repeated}
    masks = np.concatenate(per_call)
    _, counts = np.unique(masks, return_counts=True)
    p_hat = counts / counts.sum()
    pairs = sum(_duplicate_pairs(m) for m in per_call)
    expected = float(np.sum(p_hat**2)) * sum(m.size * (m.size - 1) / 2 for m in per_call)
    shared_p = float(poisson.sf(pairs - 1, expected)) if pairs else 1.0
    q = np.bincount(popcount(masks), minlength=n + 1)[: n + 1] / masks.size
    stratified_p = _within_calls(per_call, q, n)[2]
    return {
        "shared_p": shared_p,
        "stratified_p": stratified_p,
        "identical_pairs": int(pairs),
        "expected_pairs": expected,
        **repeated,
    }


def _repeated_calls(log) -> dict:
    """Calls of one run that repeat another call's masks row for row (an evaluator that reseeds
    its mask generator per batch): the count, against its Poisson expectation under independent
    draws from the pooled empirical law, Σ over call pairs of (Σ_M p̂(M)²)^B."""
    masks = call_masks(log)
    if not masks:
        return {"repeated_calls": 0, "repeated_calls_p": 1.0}
    pooled = np.concatenate(masks)
    _, counts = np.unique(pooled, return_counts=True)
    collide = float(np.sum((counts / counts.sum()) ** 2))
    found, expected = 0, 0.0
    for calls in log.runs().values():
        seen: dict = {}
        for c in calls:
            if c.run < 0:
                continue
            key = c.answer_masks.tobytes()
            found += seen.get(key, 0)
            seen[key] = seen.get(key, 0) + 1
        sizes = [c.rows for c in calls if c.run >= 0]
        expected += sum(collide ** sizes[i] for i in range(len(sizes)) for j in range(i) if sizes[j] == sizes[i])
    p = float(poisson.sf(found - 1, expected)) if found else 1.0
    return {"repeated_calls": int(found), "repeated_calls_p": p}
