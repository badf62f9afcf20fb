"""Mutation testing of the verifier (``proofs_check.mutants``): every planted one-line bug in
the core must make ``verify --quick`` exit non-zero, with no traceback.

Each mutant is applied in a scratch copy of the package (the working tree is never touched)
and verified by the checks it names as catching it (``caught_by``): a few seconds each, where
the whole ``--quick`` suite per mutant took ten minutes for the list under load. The whole
suite on every mutant is ``python -m proofs_check.mutants`` (and benchmarks/mutation_score.py).
"""

from __future__ import annotations

import pytest

from proofs_check import mutants


def test_every_mutant_fragment_occurs_exactly_once():
    """A fragment that no longer matches would silently test nothing."""
    root = mutants._root()
    assert len(mutants.MUTANTS) >= 20
    for m in mutants.MUTANTS:
        assert (root / m.path).read_text().count(m.old) == 1, m.name
        assert m.old != m.new, m.name
    areas = {m.area for m in mutants.MUTANTS}
    assert areas >= {
        "kernels",
        "schedules",
        "scores",
        "orientation",
        "harmonic",
        "beta",
        "denoiser",
        "forward-backward",
        "samplers",
        "moments",
    }


def test_the_unmutated_tree_passes():
    """The baseline: the scratch copy without a mutant verifies (exit 0), so a caught
    mutant is caught by its bug, not by the copy."""
    baseline = mutants.Mutant("none", "baseline", "ctmc_lab/masks.py", "def harmonic(", "def harmonic(")
    [(_, caught, note)] = mutants.run([baseline], jobs=1)
    assert not caught and "exit 0" in note, note


def test_every_mutant_names_checks_that_exist():
    """A ``caught_by`` term that selects no registered check would make its run verify nothing."""
    from ctmc_lab.cli import _checks  # noqa: F401  (the rows on the commands' JSON, as `verify` loads them)
    from proofs_check.runner import load_checks, select_checks

    checks = load_checks()
    for m in mutants.MUTANTS:
        assert m.caught_by, m.name
        for term in m.caught_by.split(","):
            assert select_checks(checks, only=term), (m.name, term)


@pytest.mark.slow
def test_verify_catches_every_mutant():
    results = mutants.run(targeted=True)
    survivors = [(m.name, note) for m, caught, note in results if not caught]
    assert survivors == []
