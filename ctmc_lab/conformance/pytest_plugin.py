"""A pytest plugin for another project's own tests: its evaluator against the exact denoiser.

Fixtures
--------
``exact_case``
    A :class:`~ctmc_lab.conformance.cases.Case`, parametrised over
    :data:`~ctmc_lab.conformance.cases.DEFAULT_CASES` (a D128 row, MK4 pairs of 1, 4 and 8 answer
    tokens) or over the spec strings of ``@pytest.mark.conformance_cases("mk4:4", "eos:3")``.
``exact_model``
    A factory: ``exact_model(case, kind="hf", backend="torch", **options)`` →
    :func:`~ctmc_lab.conformance.adapters.make_adapter`.
``conformance``
    ``conformance.check(run, case, contract, **options)`` runs
    :func:`~ctmc_lab.conformance.oracle.check` with the command line's runs, seed and α, attaches the
    report to the test (``record_property("conformance", ...)``, and a JSON file per test under
    ``--conformance-report DIR``) and fails the test with the printed report when a contract fails.

Options: ``--conformance-runs N`` (default 200), ``--conformance-seed S`` (0),
``--conformance-alpha A`` (1e-6), ``--conformance-report DIR``. Marker ``conformance`` (deselect
with ``-m "not conformance"``). Loaded by the ``pytest11`` entry point when torch is installed, or
with ``-p ctmc_lab.conformance.pytest_plugin``. Importing this module imports pytest only.
"""

from __future__ import annotations

import re

import pytest

__all__ = ["ConformanceFixture"]


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "ctmc-lab conformance oracle")
    group.addoption("--conformance-runs", type=int, default=None, help="runs of each evaluator (default 200)")
    group.addoption("--conformance-seed", type=int, default=0, help="root seed of the runs (default 0)")
    group.addoption("--conformance-alpha", type=float, default=None, help="level of the verdicts (default 1e-6)")
    group.addoption("--conformance-report", default=None, metavar="DIR", help="write each report as JSON in DIR")


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: checks an evaluator against ctmc-lab's exact denoiser")
    config.addinivalue_line(
        "markers", "conformance_cases(*specs): the exact_case specs of this test (e.g. 'mk4:4', 'dna128:0')"
    )


def pytest_collection_modifyitems(config, items):
    # A test that uses the fixtures is a conformance test even without the marker, so
    # `-m "not conformance"` deselects every one of them.
    for item in items:
        if {"conformance", "exact_case", "exact_model"} & set(getattr(item, "fixturenames", ())):
            item.add_marker("conformance")


def pytest_generate_tests(metafunc):
    if "exact_case" not in metafunc.fixturenames:
        return
    from ctmc_lab.conformance.cases import DEFAULT_CASES

    marker = metafunc.definition.get_closest_marker("conformance_cases")
    specs = tuple(marker.args) if marker and marker.args else DEFAULT_CASES
    metafunc.parametrize("exact_case", specs, indirect=True, ids=list(specs))


@pytest.fixture
def exact_case(request):
    """The case named by this test's parameter (a spec string of ``ctmc_lab.conformance.cases``)."""
    from ctmc_lab.conformance.cases import parse_case

    return parse_case(getattr(request, "param", "dna128:0"))


@pytest.fixture
def exact_model():
    """``exact_model(case, kind="hf", backend="torch", **options)``: an adapter around the exact model."""
    from ctmc_lab.conformance.adapters import make_adapter

    def factory(case, kind: str = "hf", *, backend: str = "torch", **options):
        return make_adapter(case, kind, backend=backend, **options)

    return factory


class ConformanceFixture:
    """The ``conformance`` fixture: ``check`` with the session's options, asserting the verdicts."""

    def __init__(self, config, node, record_property):
        self.runs = config.getoption("conformance_runs")
        self.seed = config.getoption("conformance_seed")
        self.alpha = config.getoption("conformance_alpha")
        self.report_dir = config.getoption("conformance_report")
        self.node = node
        self.record_property = record_property
        self.reports = []

    def check(self, run, case, contract, **options):
        """:func:`ctmc_lab.conformance.oracle.check`; fails the test with the report when a contract fails.

        ``n_runs``, ``seed`` and ``alpha`` default to the command line's options (a value given
        here is overridden by ``--conformance-runs``/``--conformance-alpha`` when those are set).
        """
        from ctmc_lab.conformance.oracle import check

        if self.runs is not None:
            options["n_runs"] = self.runs
        if self.alpha is not None:
            options["alpha"] = self.alpha
        options.setdefault("seed", self.seed)
        report = check(run, case, contract, **options)
        self.reports.append(report)
        self.record_property("conformance", str(report))
        if self.report_dir:
            import os

            os.makedirs(self.report_dir, exist_ok=True)
            stem = re.sub(r"[^\w.-]+", "_", self.node.nodeid)
            report.to_json(os.path.join(self.report_dir, f"{stem}.{len(self.reports)}.json"))
        if not report.passed:
            pytest.fail(str(report), pytrace=False)
        return report


@pytest.fixture
def conformance(request, record_property):
    """``conformance.check(run, case, contract, **options)``: assert that an evaluator keeps its contract."""
    return ConformanceFixture(request.config, request.node, record_property)
