"""Brute-force twins for the tests: dense Kronecker-sum generators and explicit sums.

Nothing here is clever: every quantity is the textbook definition evaluated on the full
state space S^L with scipy.linalg.expm of the product generator.
"""

import itertools

import numpy as np
import scipy.linalg

from ctmc_lab.forward.generators import kronecker_sum
from ctmc_lab.sequences import flat_index


def dense_state(dist, generator, s):
    """(P_s, p_s, Q^(L)) on S^L by dense expm of the Kronecker-sum generator."""
    S, L = generator.n_states, dist.length
    QL = kronecker_sum(generator, L).toarray()
    P = scipy.linalg.expm(s * QL)
    p0 = np.zeros(S**L)
    p0[flat_index(dist.support, S)] = dist.probs
    return P, P @ p0, QL


def kl(dist, generator, s, x0):
    P, ps, _ = dense_state(dist, generator, s)
    q = P[:, flat_index(x0, generator.n_states)]
    m = q > 0
    if np.any(ps[m] == 0):
        return np.inf
    return float(np.sum(q[m] * np.log(q[m] / ps[m])))


def mdse(dist, generator, s, x0):
    """E_{x ~ q} sum_{y != x} Q(x, y)[s*_y - a_y log s*_y + K(a_y)], looping over states."""
    P, ps, QL = dense_state(dist, generator, s)
    q = P[:, flat_index(x0, generator.n_states)]
    total = 0.0
    for x in np.flatnonzero(q > 0):
        for y in np.flatnonzero(QL[x]):
            if y == x:
                continue
            a = q[y] / q[x]
            star = ps[y] / ps[x]
            ka = a * np.log(a) - a if a > 0 else 0.0
            total += q[x] * QL[x, y] * (star - (a * np.log(star) if a > 0 else 0.0) + ka)
    return total


def marginal_prob(dist, x, visible):
    """P0(x^U) by a loop over the support."""
    return sum(p for z, p in zip(dist.support, dist.probs) if all(z[i] == x[i] for i in range(len(x)) if visible[i]))


def absorbing_mdce(dist, x0, lam):
    """E over Bernoulli(λ) masks of sum_{i masked} -log p0(x0^i | visible), by looping masks."""
    L = dist.length
    total = 0.0
    for masked in itertools.product([False, True], repeat=L):
        masked = np.array(masked)
        m = masked.sum()
        if m == 0:
            continue
        w = lam**m * (1 - lam) ** (L - m)
        vis = ~masked
        base = marginal_prob(dist, x0, vis)
        for i in np.flatnonzero(masked):
            v2 = vis.copy()
            v2[i] = True
            total += w * -np.log(marginal_prob(dist, x0, v2) / base)
    return total
