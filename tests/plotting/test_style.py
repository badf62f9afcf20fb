"""Estimator colours by role: the registry names a role, the style maps it to a colour."""

from __future__ import annotations

import numpy as np
import pytest

from ctmc_lab.estimation import registry
from ctmc_lab.plotting.style import COLORS, ESTIMATOR_ROLES, estimator_color, estimator_style


def law(n):
    q = np.r_[0.0, np.full(n, 1.0 / n)]
    return q, np.r_[0.0, n / np.arange(1, n + 1)]


def test_every_colour_role_has_a_colour_and_every_spec_uses_its_role():
    assert set(ESTIMATOR_ROLES) == set(registry.COLOR_ROLES)
    for spec in registry.estimator_specs():
        if spec.color is not None:
            assert estimator_color(spec.name) == ESTIMATOR_ROLES[spec.color]
            assert COLORS[spec.color] == ESTIMATOR_ROLES[spec.color] == COLORS[spec.name]
    # The paper's sampler and its baselines differ in colour wherever they share an axes.
    unbiased = [s.name for s in registry.estimator_specs() if s.compare and not s.biased and s.by_name]
    assert len({estimator_color(e) for e in unbiased}) == len(unbiased)


@pytest.fixture
def two_plain_specs():
    names = ("plain_a", "plain_b")
    for name in names:
        registry.register_estimator(registry.EstimatorSpec(name, name, "mask", law=law, marker="X", filled=True))
    yield names
    for name in names:
        registry.unregister_estimator(name)


def test_a_spec_without_a_role_gets_a_spare_colour_of_its_own(two_plain_specs):
    a, b = (estimator_color(n) for n in two_plain_specs)
    assert a != b
    assert {a, b}.isdisjoint(ESTIMATOR_ROLES[r] for r in ("paper", "uniform_size", "time_integral"))
    kw = estimator_style("plain_a", size=2.5)
    assert kw["marker"] == "X" and kw["mfc"] is None and kw["ms"] == pytest.approx(2.0)
    assert kw["label"] == "plain_a" and kw["color"] == a
    open_kw = estimator_style("time_free", size=2.5)
    assert open_kw["mfc"] == "none" and open_kw["ms"] == 2.5 and open_kw["marker"] == "o"
