"""The rows of issue 20 item 5 (log-ratio moments, conditional tables with a context, LLaDA's
designs, mixed/tempered denoisers, subset-table paths, Markov summaries, named schedules, the
command line's JSON): they pass on the library, fail on a planted bug, and the held-out mutant
list stays applicable."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks import mutation_score
from proofs_check import mutants
from tests.cli_helpers import run_main

ROWS = (
    "ratios.,conditional.context,llada.designs,denoisers.,subset_tables.,markov.entropy,schedules.registry,"
    "moments.t_variance,datasets.,registry.stratification,studies.,cli."
)


def test_rows_pass_on_the_library():
    status, out, err = run_main("verify", "--quick", "--only", ROWS, "--jobs", "0")
    assert status == 0, out[-3000:] + err
    assert "Command line (JSON)" in out and " 0 failed" in out


def _unstratified(spec):
    """k_dce_stratified's spec with its family's ``stratified`` flag off; other specs unchanged."""
    if spec.name != "k_dce_stratified":
        return spec
    return dataclasses.replace(spec, family=dataclasses.replace(spec.family, stratified=False))


@pytest.mark.parametrize(
    ("target", "attr", "wrap", "only"),
    [
        # The curve's kl_rate column without its rate factor σ(t).
        ("ctmc_lab.exact.information", "kl_rate", lambda f: lambda *a, **k: 1.5 * f(*a, **k), "cli.curve"),
        # A decoupled variance that forgets one of its two terms.
        # A registry that forgets a design's stratification.
        (
            "ctmc_lab.estimation.registry",
            "get_estimator",
            lambda f: lambda name, *a, **k: _unstratified(f(name, *a, **k)),
            "registry.stratification",
        ),
        (
            "ctmc_lab.estimation.moments",
            "ratio_moments",
            lambda f: lambda *a, **k: dataclasses.replace(f(*a, **k), variance_decoupled=f(*a, **k).variance_coupled),
            "ratios.",
        ),
    ],
)
def test_rows_fail_on_a_planted_bug(monkeypatch, target, attr, wrap, only):
    import importlib

    module = importlib.import_module(target)
    monkeypatch.setattr(module, attr, wrap(getattr(module, attr)))
    status, out, _ = run_main("verify", "--quick", "--only", only, "--jobs", "0")
    assert status == 1, out[-2000:]


def test_held_out_fragments_apply_once_and_are_new():
    root = mutants._root()
    assert len(mutants.HELD_OUT) >= 30
    known = {(m.path, m.old) for m in mutants.MUTANTS}
    for m in mutants.HELD_OUT:
        assert (root / m.path).read_text().count(m.old) == 1, m.name
        assert m.old != m.new and (m.path, m.old) not in known, m.name
    assert {m.area for m in mutants.HELD_OUT} >= {
        "cli-json",
        "seeds",
        "curve",
        "ratio-moments",
        "t-moments",
        "context",
        "subset-zero",
        "subset-blocks",
        "datasets",
        "markov",
        "mixed",
        "llada-designs",
        "registry-flags",
        "schedule-inverse",
        "study-stats",
        "study-seeds",
    }


def test_score_selects_the_tests_that_import_a_module():
    assert "tests/cli/test_json_fields.py" in mutation_score.selected_tests("ctmc_lab/cli/curve.py")
    chosen = mutation_score.selected_tests("ctmc_lab/estimation/llada.py")
    assert chosen and all(t.startswith("tests/") for t in chosen)
