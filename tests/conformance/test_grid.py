"""sweep: one check per grid cell and case, Holm over the whole table, each cell's numbers its own report's."""

from __future__ import annotations

import pytest

from ctmc_lab.conformance import cases
from ctmc_lab.conformance import references as R
from ctmc_lab.conformance.adapters import make_adapter
from ctmc_lab.conformance.grid import sweep
from tests.conformance import evaluators as E


def test_llada_rule_over_batch_sizes_and_answer_lengths():
    """b = 4 divides n = 4 (the rule is exact there), b = 8 does not (+0.18 nats on this pair);
    n = 2 at b = 2 is unbiased too."""

    def factory(case, batch_size, answer_length):
        model = make_adapter(case, "hf", backend="numpy")
        view = model.view()
        return (lambda s: E.llada(model, view, s, batch_size=batch_size, mc_num=4 * batch_size)), model

    table = sweep(
        factory,
        lambda answer_length, **_: cases.markov_pair(answer_length),
        {"batch_size": [2, 8], "answer_length": [2, 4]},
        contract="unbiased:cond_nll",
        reference=lambda batch_size, **_: R.llada_rule(batch_size, 4 * batch_size),
        n_runs=150,
    )
    assert [(r["batch_size"], r["answer_length"], r["case"]) for r in table.rows] == [
        (2, 2, "mk4:2:0"),
        (2, 4, "mk4:4:0"),
        (8, 2, "mk4:2:0"),
        (8, 4, "mk4:4:0"),
    ]
    for row, report in zip(table.rows, table.reports):
        case = cases.markov_pair(row["answer_length"])
        exact = R.llada_rule(row["batch_size"], 4 * row["batch_size"]).moments(case).mean
        assert row["target"] == pytest.approx(case.cond_nll)
        assert row["exact_mean"] == pytest.approx(exact)
        assert row["bias"] == pytest.approx(report.mc_mean - case.cond_nll)
        assert all(v.p_holm >= v.p_value for v in report.verdicts)
    assert [r["passed"] for r in table.rows] == [True, True, True, False]
    assert table.rows[3]["exact_mean"] - table.rows[3]["target"] == pytest.approx(0.181, abs=2e-3)
    text = str(table)
    assert "batch_size" in text.splitlines()[0] and len(text.splitlines()) == 5


def test_a_planted_offset_fails_only_its_cells():
    def factory(case, offset):
        return lambda s: case.cond_nll + offset

    table = sweep(
        factory, [cases.dna128(0), cases.dna128(1)], {"offset": [0.0, 1e-3]}, contract="exact:cond_nll", n_runs=2
    )
    assert [r["passed"] for r in table.rows] == [True, True, False, False]
    assert table.to_json()["rows"][2]["bias"] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="must be a list"):
        sweep(factory, [cases.dna128(0)], {"offset": 0.1})
