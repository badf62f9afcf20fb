"""coupling rows against ratio_moments and a brute-force enumeration of the shared and independent masks."""

from __future__ import annotations

import numpy as np
import pytest

from ctmc_lab.estimation import moments
from ctmc_lab.studies import coupling, engine


def bf_coupled_decoupled(A_x, A_y):
    """Twin of Eq. 18 for the time-free scheme: enumerate masks (coupled) and mask pairs (decoupled)
    under P(M) = 1/(m H_n C(n, m)), g = H_n A(M), and take the variances of the differences."""
    n = int(np.log2(len(A_x)))
    H = sum(1 / k for k in range(1, n + 1))
    from math import comb

    P = np.array([0.0 if M == 0 else 1 / (bin(M).count("1") * H * comb(n, bin(M).count("1"))) for M in range(1 << n)])
    gx, gy = H * A_x, H * A_y
    d = gy - gx
    var_c = P @ (d - P @ d) ** 2
    D = gy[None, :] - gx[:, None]  # independent masks: (M for x, M' for y)
    W = P[:, None] * P[None, :]
    var_d = np.sum(W * (D - np.sum(W * D)) ** 2)
    return float(var_c), float(var_d)


def test_rows_match_ratio_moments_and_brute_force():
    key = "mk4/N=4/L=06/d=03/seed=0"
    case = next(c for c in coupling.cases("small") if c.key == key)
    rows = coupling.run_case(case, rng=np.random.default_rng(engine.case_seed(0, key)))
    rng = np.random.default_rng(engine.case_seed(0, key))
    source = coupling._source(case.params, rng)
    X, Y = coupling._pairs(source, case.params, rng)
    assert np.all(np.sum(X != Y, axis=1) == 3)
    tf = [r for r in rows if r["scheme"] == "time_free"]
    for x, y, row in zip(X, Y, tf):
        A_x = source.mask_dce_table(x, list(range(6)))
        A_y = source.mask_dce_table(y, list(range(6)))
        r = moments.ratio_moments(A_x, A_y, scheme="time_free")
        assert row["var_coupled"] == r.variance_coupled and row["var_decoupled"] == r.variance_decoupled
        var_c, var_d = bf_coupled_decoupled(A_x, A_y)
        assert row["var_coupled"] == pytest.approx(var_c, rel=1e-10)
        assert row["var_decoupled"] == pytest.approx(var_d, rel=1e-10)
        assert row["log_ratio"] == pytest.approx(float(source.nll(y) - source.nll(x)), rel=1e-10, abs=1e-12)
        # ρ > 0 exactly when coupling helps (Var_d - Var_c = 2 Cov).
        assert (row["correlation"] > 0) == (row["gain"] > 1)
