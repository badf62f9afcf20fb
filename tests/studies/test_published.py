"""The published table against the twins of tests/conformance/test_replicas.py, case by case, and its figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctmc_lab.estimation.replica_registry import get_replica
from ctmc_lab.plotting import figures
from ctmc_lab.studies import engine
from ctmc_lab.studies import published as P
from tests.conformance.test_replicas import TWINS

SMALL = dict(mk4_lengths=3, mk4_pairs=2, eos_lengths=2, eos_pairs=2, d128_rows=[5, 58])
CHOSEN = ("llada_harness_b8", "smdm", "mdlm", "d1", "d1_prompt_visible", "dream", "radd_k_dce", "bd3lm_block4")


@pytest.fixture(scope="module")
def study():
    return P.published(replicas=CHOSEN, **SMALL)


def test_columns_are_documented(study):
    assert list(study.table) == [c.name for c in P.COLUMNS]
    assert set(study.meta) == set(CHOSEN)


def test_every_row_is_the_aggregate_of_the_twins(study):
    T = study.table
    groups = P.case_sets(**SMALL)
    for i in range(T["replica"].size):
        name, key = T["replica"][i], (T["case_set"][i], int(T["n"][i]))
        twin = TWINS[name][0]
        r = get_replica(name)
        members = [c for c in groups[key] if not r.applies(c) and not r.slow(c, variance=False)]
        assert T["cases"][i] == len(members) and T["skipped"][i] == len(groups[key]) - len(members)
        if not members:
            continue
        pairs = [twin(c) for c in members]
        bias = np.array([m - r.target(c) for (m, _), c in zip(pairs, members)])
        var = np.array([v for _, v in pairs])
        assert T["bias_mean"][i] == pytest.approx(bias.mean(), rel=1e-9, abs=1e-11)
        assert T["bias_min"][i] == pytest.approx(bias.min(), rel=1e-9, abs=1e-11)
        assert T["bias_max"][i] == pytest.approx(bias.max(), rel=1e-9, abs=1e-11)
        assert T["infinite_variance"][i] == int(np.isinf(var).sum())
        if np.isinf(var).any():
            assert math.isinf(T["variance_mean"][i])
        else:
            assert T["variance_mean"][i] == pytest.approx(var.mean(), rel=1e-8)


def test_verdicts_read_the_numbers(study):
    T = study.table
    verdicts = {(T["replica"][i], T["case_set"][i], int(T["n"][i])): T["verdict"][i] for i in range(T["n"].size)}
    assert verdicts["llada_harness_b8", "dna128", 8] == "unbiased"  # n = 8 is a multiple of b
    assert verdicts["llada_harness_b8", "mk4", 2].startswith("LLaDA's round(linspace) count rule")
    assert verdicts["smdm", "dna128", 8] == "unbiased, infinite variance"  # row 58 has a positive singleton loss
    assert verdicts["radd_k_dce", "mk4", 3] == "unbiased"
    assert verdicts["mdlm", "dna128", 8].startswith("t truncated")
    assert verdicts["d1", "mk4", 1] == "not computed"  # 2^16 prompt masks: slow, skipped when quick


def test_quick_skips_only_what_is_slow():
    quick = P.published(replicas=["sedd_uniform"], mk4_lengths=1, mk4_pairs=1, eos_lengths=0, d128_rows=[5])
    full = P.published(replicas=["sedd_uniform"], mk4_lengths=1, mk4_pairs=1, eos_lengths=0, d128_rows=[5], quick=False)
    for res, known in ((quick, 0), (full, 1)):
        d128 = res.table["case_set"] == "dna128"
        assert res.table["cases"][d128][0] == 1 and res.table["variance_known"][d128][0] == known
        assert res.table["skipped"][~d128][0] == 1  # a whole-row uniform-noise loss: no prompt cases
    assert quick.table["bias_mean"][0] == full.table["bias_mean"][0]


def test_engine_runs_the_grid_and_the_figure_draws_it(tmp_path):
    """The study shape: the engine's small grid gives the table ``published()`` gives, and it draws."""
    small = P.SETTINGS["small"]
    tables = engine.run_cases(P, P.cases("small"))
    direct = P.published(**{**small, "d128_rows": range(small["d128_rows"])}).table
    table = tables[engine.MAIN_TABLE]
    for col in P.COLUMNS:
        if col.kind == "float":
            np.testing.assert_allclose(table[col.name], direct[col.name], rtol=1e-12, equal_nan=True)
        else:
            assert list(table[col.name]) == list(direct[col.name]), col.name
    assert P.summarize(table).startswith("published: ")
    fig = figures.draw(P, table)
    assert len(fig.axes) == 4
    assert sum(len(ax.lines) for ax in fig.axes) > 8
