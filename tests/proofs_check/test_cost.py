"""The cost model (:mod:`proofs_check.cost`) predicts the work a check actually does.

A check decides to run, shrink or skip from its predicted work, so a prediction that is off
by a large factor would skip cheap checks or let runaway ones through. Here each prediction,
made from the input sizes before the check runs, is compared with the work the run actually
does, counted by wrapping the library calls the checks are made of (``meter.py``: the number
of quadrature nodes, denoiser rows, dense evaluations, estimator draws and mpmath process
evaluations that really happen), on sizes where that work grows by an order of magnitude.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctmc_lab.sources import datasets
from proofs_check import cost, runner
from proofs_check.framework import REGISTRY, Context

from .meter import metered


def _check(check_id):
    runner.load_checks()
    return next(c for c in REGISTRY if c.id == check_id)


def _measure(check_id, dist, quick=True):
    """(predicted, counted) work of one check on a fresh distribution (nothing cached)."""
    ctx = Context(small=dist, large=dist, quick=quick, user=True, chain=runner.default_chain())
    chk = _check(check_id)
    predicted = chk.predicted_work(ctx)
    with metered() as meter:
        res = runner.run_checks(ctx, [chk], progress=False, jobs=0)
    assert res.n_errors == 0, res.records
    return predicted, meter.units


#: (check, distributions of growing size): dense quadratures (adaptive node counts), dense
#: differences (three generators), denoiser tables over 2^L masks, the mpmath dense twin.
CASES = {
    "thm32.infinite_horizon": lambda: [datasets.dirichlet(n, L, rng=3) for n, L in ((2, 2), (3, 4), (4, 5))],
    "thm31.schedules_pointwise": lambda: [datasets.dirichlet(n, L, rng=4) for n, L in ((2, 2), (20, 2), (40, 2))],
    "thm41.time_free": lambda: [datasets.dirichlet(n, L, rng=5) for n, L in ((2, 4), (3, 7), (4, 8))],
    "mp.thm31": lambda: [datasets.dirichlet(2, L, rng=6) for L in (2, 3, 4)],
}


@pytest.mark.parametrize("check_id", CASES)
def test_predicted_work_tracks_the_counted_work_across_sizes(check_id):
    rows = [_measure(check_id, dist) for dist in CASES[check_id]()]
    for predicted, counted in rows:
        assert counted > 0
        assert 0.5 <= predicted / counted <= 2.0, (check_id, rows)
    # The sizes span at least a factor 2.5 of work, and the prediction follows it.
    assert rows[-1][1] > 2.5 * rows[0][1], rows
    growth = math.log(rows[-1][0] / rows[0][0]) / math.log(rows[-1][1] / rows[0][1])
    assert 0.8 <= growth <= 1.25, (check_id, rows)


@pytest.mark.parametrize("quick", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_estimator_runs_are_predicted_from_samples_and_batches(quick):
    """The Monte Carlo rows: 12 estimator runs of 60000 (quick) or 200000 draws, batches of
    16 for the stratified samplers; the prediction counts the same runs."""
    predicted, counted = _measure("estimators.sampler_law", datasets.dna128_like(7), quick=quick)
    assert 0.5 <= predicted / counted <= 2.0, (quick, predicted, counted)


def test_a_large_alphabet_is_priced_by_its_kernels_and_tables():
    """N = 200: the mdse's (S, S, N) tables and a custom generator's uniformization dominate;
    the prediction puts the generators that would take minutes over their share of the
    default budget, so those parts are skipped by size, whatever the machine."""
    rng = np.random.default_rng(0)
    table = {chr(0x100 + i): float(p) for i, p in enumerate(rng.dirichlet(np.ones(200)))}
    from ctmc_lab.sources.joint import JointDistribution

    dist = JointDistribution.from_dict(table)
    ctx = runner.user_context(dist, quick=True)
    by_id = {c.id: c for c in runner.load_checks()}
    # The Thm 3.2 quadratures need ~1e3 evaluations of ~1e9 units at S = 201: skipped per generator.
    res = runner.run_checks(ctx, [by_id["thm32.infinite_horizon"]], progress=False, jobs=0)
    assert res.records == () and {s.case.split(";")[0] for s in res.skipped} == {"absorbing", "uniform"}
    assert all("of the work budget" in s.reason for s in res.skipped)
    # Every check's prediction stays within the budget (the over-budget parts are skipped inside).
    assert all(c.predicted_work(ctx) <= ctx.budget for c in by_id.values())
    assert cost.seconds(ctx.budget) == pytest.approx(30.0)
