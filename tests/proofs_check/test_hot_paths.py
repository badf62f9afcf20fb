"""The verifier's fast paths against their plain forms: the same values, bit for bit.

The mpmath twin runs its sums on raw mpf tuples and skips zero terms; the Thm 3.2 quadratures
reuse noised marginals by node. Each is compared with the plain computation it replaces, so a
change of rounding, a dropped nonzero term or a node served for the wrong generator fails.
"""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest

from ctmc_lab.exact import scores
from ctmc_lab.forward.generators import NOISE_PROCESSES
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.sources.datasets import dirichlet
from proofs_check import highprec, thm32_nll


def _plain_apply_axes(proc, vec, M):
    """(⊗_i M) vec with mpmath's operators over every b."""
    for i, st in enumerate(proc.strides):
        out = [mpmath.mpf(0)] * len(vec)
        for idx, x in enumerate(proc.states):
            base = idx - x[i] * st
            out[idx] = mpmath.fsum(M[x[i]][b] * vec[base + b * st] for b in range(proc.S) if vec[base + b * st])
        vec = out
    return vec


def _plain_mdse(proc, q, p, x0):
    """mdse_s of the definition with mpmath's operators, every state and rate visited."""
    K = proc.kernel_cache
    total = []
    for idx, x in enumerate(proc.states):
        if not q[idx]:
            continue
        inner = []
        for i, st in enumerate(proc.strides):
            col = [K[a][int(x0[i])] for a in range(proc.S)]
            base = idx - x[i] * st
            for b in range(proc.S):
                w = proc.Q[x[i]][b] if b != x[i] else 0
                if not w or not col[x[i]]:
                    continue
                y = base + b * st
                alpha = col[b] / col[x[i]] if col[b] else 0
                k_term = w * alpha * (mpmath.log(alpha) - 1) if alpha else 0
                inner.append(w * p[y] / p[idx] + k_term)
                if alpha:
                    inner.append(-w * alpha * (mpmath.log(p[y]) - mpmath.log(p[idx])))
        total.append(q[idx] * mpmath.fsum(inner))
    return mpmath.fsum(total)


@pytest.mark.parametrize("kind", ["absorbing", "uniform"])
def test_mp_twin_fast_sums_equal_the_operator_sums(kind):
    dist = dirichlet(3, 2, alpha=0.5, rng=4)
    with mpmath.workdps(40):
        proc = highprec.MpProcess(dist, kind)
        for s_text, x0 in itertools.product(("1e-3", "0.7", "4"), dist.support[:2]):
            s = mpmath.mpf(s_text)
            q, p = proc.at(s, x0)
            assert p == _plain_apply_axes(proc, proc.p0, proc.kernel(s))
            assert q == [mpmath.fprod(proc.kernel(s)[x[i]][int(x0[i])] for i in range(proc.L)) for x in proc.states]
            assert proc.mdse(q, p, x0) == _plain_mdse(proc, q, p, x0)


def test_cached_nodes_serve_their_own_generator_and_sequence():
    dist = dirichlet(3, 2, alpha=0.5, rng=5)
    gens = [NOISE_PROCESSES[k].generator(3) for k in ("absorbing", "uniform")]
    for s, gen, x0 in itertools.product((0.3, 2.0), gens * 2, dist.support[:2]):
        direct = float(scores.mdse(NoisedDistribution.at_noise_level(dist, gen, s), x0[None])[0])
        assert thm32_nll._mdse_s(dist, gen, x0, s) == direct
    # A second generator object with the same rates and process is the same node.
    twin = NOISE_PROCESSES["uniform"].generator(3)
    assert thm32_nll._noised(dist, twin, 0.3)[0] is thm32_nll._noised(dist, gens[1], 0.3)[0]
    assert thm32_nll._noised(dist, gens[0], 0.3)[0] is not thm32_nll._noised(dist, gens[1], 0.3)[0]
    np.testing.assert_array_equal(
        thm32_nll._noised(dist, gens[0], 2.0)[0].p, NoisedDistribution.at_noise_level(dist, gens[0], 2.0).p
    )
