"""Reference laws of the batch-stratified count rules (LLaDA's evaluator and its fix), in exact rationals.

A batch of b rows draws one k ~ U{1..n}; row j (j = 0..b-1) masks x_j(k) uniform positions of
the n target positions and carries the value (n/x_j) A(M_j). Two rules:

* ``llada_stratified`` (LLaDA's ``get_log_likelihood.py``): the j-th point of
  ``linspace(k, k + (b-1) n/b, b)`` is k + j n/b; it is rounded half to even (``torch.round``),
  then x_j = ((x - 1) mod n) + 1;
* ``llada_stratified_fixed``: x_j = ((k - 1 + floor(j n/b)) mod n) + 1 in integers.

Here every point is the exact rational (k b + j n)/b, rounded half to even in integer
arithmetic (``divmod``), and the laws are integer counts over k (``count_table``) or
``fractions.Fraction`` (``count_law``), so nothing is shared with the float32 replica in
:mod:`ctmc_lab.estimation.llada`.

Where exact rationals equal torch's float32: when b is a power of two and 2 n b ≤ 2^24. Then
n/b and (b-1) n/b are dyadic with at most log2(b) fractional bits; the end point
k + (b-1) n/b < 2n, the step ((b-1) n/b)/(b-1) = n/b (an exactly representable quotient, so the
correctly rounded division returns it) and every start + i·step or end - (b-1-i)·step are
representable in float32's 24 bits, so every float32 operation is exact and the points, their
ties ½ included, are the rationals k + j n/b. For other b, n/b is not dyadic, a point meant to be
a tie can land a rounding step either side of it, and only the float32 replica says which
(LLaDA's default b = 16 on D128's n = 8 is in the exact case).
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

__all__ = ["RULES", "float32_is_exact", "counts", "count_table", "count_law", "batch_law"]


def _llada(n: int, b: int, k: int, j: int) -> int:
    # The point k + j n/b = (k b + j n)/b, rounded half to even (as torch.round) in integers.
    q, r = divmod(k * b + j * n, b)
    x = q + (1 if 2 * r > b or (2 * r == b and q % 2) else 0)
    return (x - 1) % n + 1


def _fixed(n: int, b: int, k: int, j: int) -> int:
    return (k - 1 + (j * n) // b) % n + 1


#: Registered estimator name -> its count rule x_j(k) = rule(n, b, k, j).
RULES = {"llada_stratified": _llada, "llada_stratified_fixed": _fixed}


def float32_is_exact(n: int, b: int) -> bool:
    """True where the rational points equal torch's float32 ``linspace`` (see the module docstring)."""
    return b >= 1 and b & (b - 1) == 0 and 2 * n * b <= 1 << 24


@cache
def counts(name: str, n: int, b: int) -> tuple[tuple[int, ...], ...]:
    """x_j(k): row k-1 (k = 1..n), column j (j = 0..b-1)."""
    rule = RULES[name]
    return tuple(tuple(rule(n, b, k, j) for j in range(b)) for k in range(1, n + 1))


@cache
def count_table(name: str, n: int, b: int) -> tuple[tuple[int, ...], ...]:
    """#{k : x_j(k) = m}: row j, column m-1 (the count law times n, in integers)."""
    c = [[0] * n for _ in range(b)]
    for row in counts(name, n, b):
        for j, m in enumerate(row):
            c[j][m - 1] += 1
    return tuple(tuple(r) for r in c)


def count_law(name: str, n: int, b: int) -> list[list[Fraction]]:
    """w_j(m) = #{k : x_j(k) = m}/n exactly: row j, column m-1."""
    return [[Fraction(c, n) for c in row] for row in count_table(name, n, b)]


def batch_law(name: str, n: int, b: int) -> list[Fraction]:
    """w̄(m) = (1/b) Σ_j w_j(m): the law of the count of a row drawn at random from a batch."""
    w = count_law(name, n, b)
    return [sum((w[j][m] for j in range(b)), Fraction(0)) / b for m in range(n)]
