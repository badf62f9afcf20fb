"""Mutation testing of the verifier (``proofs_check.mutants``): every planted one-line bug in
the core must make ``verify --quick`` exit non-zero, with no traceback.

Each mutant is applied in a scratch copy of the package (the working tree is never touched).
About 2.5 minutes on 2 quiet cores (5 under load), so it is ``slow`` (still run by ``pytest`` in CI).
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


@pytest.mark.slow
def test_verify_catches_every_mutant():
    results = mutants.run()
    survivors = [(m.name, note) for m, caught, note in results if not caught]
    assert survivors == []
