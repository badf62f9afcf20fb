"""Fuzz the command line's JSON readers: any file ends in a result or a one-line error, exit 0 or 2.

Hypothesis writes arbitrary JSON documents (numbers at the edges of float64, huge integers,
NaN and infinities, nesting, strings) as a distribution file, a Markov table and a rate
matrix, plus the hand-written hostile cases of the reliability issue. No exception may
escape ``ctmc_lab.cli.main`` and no traceback may be printed.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from ctmc_lab.testing.strategies import budget, json_values
from tests.cli_helpers import run_main

HOSTILE = [
    '{"AT": 1' + "0" * 400 + ', "TA": 0.5}',
    "[" * 100_000,
    "{" * 50_000,
    '{"AT": 0.5, "AT": 0.5}',
    '{"a": 1}',
    "[[-1, 1" + "0" * 400 + "], [1, -1]]",
    "[[-1e308, 1e308], [1e308, -1e308]]",
    '{"AT": NaN, "TA": 0.5}',
    '{"AT": -Infinity, "TA": 0.5}',
    '{"AA BB": 0.5, "CC DD": 0.5}',
    '{"A": {"A": 0.5, "T": 0.5}, "T": {"A": 1e-320, "T": 1}}',
    '{"AT": 1e-320, "TA": 1}',
    "",
    "null",
    "\ufeff{}",
]


def _check(path, argv_of):
    for argv in argv_of(path):
        status, _, err = run_main(*argv)
        assert status in (0, 2), (argv, status, err)
        assert "Traceback" not in err
        if status == 2:
            errors = [line for line in err.splitlines() if line.startswith(f"ctmc-lab {argv[0]}: error: ")]
            assert len(errors) == 1, err


def _readers(path):
    return [
        ["nll", "--dist", str(path), "--normalize"],
        [
            "nll",
            "--dist",
            f"markov:{path}",
            "--pairs",
            "1",
            "--response-length",
            "2",
            "--prompt-length",
            "4",
            "--mc-samples",
            "16",
        ],
        ["curve", "--sequence", "GGATTTTT", "--times", "0.5", "--process", str(path)],
    ]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_files_end_cleanly(tmp_path, text):
    path = tmp_path / "in.json"
    path.write_text(text, encoding="utf-8")
    _check(path, _readers)


@budget(40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=json_values(), as_table=st.booleans())
def test_generated_json_ends_cleanly(tmp_path, doc, as_table):
    """Arbitrary documents, and documents shaped like a table ({str: number} or a list of rows)."""
    if as_table and isinstance(doc, dict):
        doc = {str(k)[:4] or "A": v for k, v in doc.items()}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    _check(path, _readers)


@budget(30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.lists(st.one_of(st.floats(allow_nan=True), st.integers(-(10**330), 10**330)), min_size=1, max_size=5),
        min_size=1,
        max_size=5,
    )
)
def test_generated_rate_matrices_end_cleanly(tmp_path, rows):
    path = tmp_path / "q.json"
    path.write_text(json.dumps(rows, allow_nan=True), encoding="utf-8")
    _check(
        path,
        lambda p: [
            ["curve", "--sequence", "AT", "--dist", str(tmp_path / "d.json"), "--times", "0.5,1", "--process", str(p)]
        ],
    )


@pytest.fixture(autouse=True)
def _two_symbol_distribution(tmp_path):
    (tmp_path / "d.json").write_text('{"AT": 0.5, "TA": 0.5}')
