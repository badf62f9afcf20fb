"""Independent references for the figure studies (twins of what ``ctmc_lab.studies`` tabulates).

They do not go through ctmc_lab's subset tables or moment code: MK4 probabilities are rebuilt
from its JSON table (with the stationary law from numpy's eigensolver), pattern marginals are
explicit sums over the support, and the estimator moments are the textbook sums over all masks.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import math

import numpy as np
from scipy.special import beta as beta_fn

from ctmc_lab.plotting.style import write_csv
from ctmc_lab.sources import datasets

DNA = "ATGC"


def d128_probabilities() -> dict:
    """The D128 table read straight from its JSON file."""
    with open(datasets.data_path("dna128.json"), encoding="utf-8") as fh:
        return json.load(fh)


def tabled(tmp_path, res, columns):
    """Write every table of a StudyResult as CSV, check its schema against ``columns``, read the main one back."""
    assert set(res.tables) == set(columns)
    for stem, table in res.tables.items():
        want = [c for c in columns[stem] if "{" not in c]
        assert [c for c in table if c in want] == want, stem
        write_csv(str(tmp_path / f"{stem}.csv"), table)
    return read_csv(tmp_path / f"{res.name}.csv")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def col(rows, name, kind=float):
    return np.array([kind(r[name]) for r in rows])


def H(n):
    return sum(1.0 / j for j in range(1, n + 1))


class MK4:
    """The order-4 chain rebuilt from the JSON table, with numpy's stationary eigenvector."""

    def __init__(self):
        with open(datasets.data_path("markov4.json"), encoding="utf-8") as fh:
            raw = json.load(fh)
        self.P = {ctx: np.array([row[c] for c in DNA]) / sum(row.values()) for ctx, row in raw.items()}
        ctxs = ["".join(t) for t in itertools.product(DNA, repeat=4)]
        idx = {c: i for i, c in enumerate(ctxs)}
        T = np.zeros((256, 256))
        for c in ctxs:
            for v, sym in enumerate(DNA):
                T[idx[c], idx[c[1:] + sym]] += self.P[c][v]
        w, V = np.linalg.eig(T.T)
        pi = np.real(V[:, np.argmin(np.abs(w - 1))])
        self.pi = {c: p for c, p in zip(ctxs, pi / pi.sum())}

    def cond_nll(self, prompt: str, response: str) -> float:
        s = prompt + response
        return -sum(math.log(self.P[s[j - 4 : j]][DNA.index(s[j])]) for j in range(len(prompt), len(s)))

    def window_prob(self, w: str) -> float:
        p = self.pi[w[:4]]
        for j in range(4, len(w)):
            p *= self.P[w[j - 4 : j]][DNA.index(w[j])]
        return p


def pattern_prob(table: dict, x0: str, visible) -> float:
    """P0(x0^U) as an explicit sum over the support."""
    return _pattern_prob(tuple(table.items()), x0, tuple(sorted(visible)))


@functools.cache
def _pattern_prob(items, x0, visible):
    return sum(p for z, p in items if all(z[i] == x0[i] for i in visible))


def brute_A(table: dict, x0: str) -> dict:
    """A(M) = sum_{i in M} -log P0(x0^{U+i}) / P0(x0^U) for every mask M (a frozenset)."""
    L = len(x0)
    out = {}
    for m in range(L + 1):
        for M in itertools.combinations(range(L), m):
            U = [i for i in range(L) if i not in M]
            base = pattern_prob(table, x0, U)
            out[frozenset(M)] = sum(-math.log(pattern_prob(table, x0, U + [i]) / base) for i in M)
    return out


def brute_variances(A: dict, L: int) -> dict:
    """Exact single-draw variances of the unbiased samplers, textbook sums over masks."""
    nll = sum(beta_fn(len(M), L - len(M) + 1) * a for M, a in A.items() if M)
    out = {}
    e2 = sum(H(L) * beta_fn(len(M), L - len(M) + 1) * a**2 for M, a in A.items() if M)
    out["time_free"] = e2 - nll**2
    e2 = sum((L / len(M)) ** 2 * a**2 / (L * math.comb(L, len(M))) for M, a in A.items() if M)
    out["k_dce"] = e2 - nll**2
    e2 = sum(((L + 1) / len(M)) ** 2 * a**2 / ((L + 1) * math.comb(L, len(M))) for M, a in A.items() if M)
    out["rb_lambda_dce"] = e2 - nll**2
    if any(a > 0 for M, a in A.items() if len(M) == 1):
        out["lambda_dce"] = math.inf
    else:
        e2 = sum(a**2 * beta_fn(len(M) - 1, L - len(M) + 1) for M, a in A.items() if len(M) >= 2)
        out["lambda_dce"] = e2 - nll**2
    mean_omit = sum(H(L) * a / (len(M) * H(L - 1) * math.comb(L, len(M))) for M, a in A.items() if 0 < len(M) < L)
    out["bias_omit_full_mask"] = mean_omit - nll
    out["nll"] = nll
    return out
