"""``ctmc-lab conform --published``: the table's numbers against independent computations (the
evaluator survey's exact D128 and MK4 numbers, and the twins of test_replicas.py), its JSON fields
documented, bad options refused in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ctmc_lab.conformance import cases
from tests.cli_helpers import assert_refused, run_main
from tests.conformance.test_replicas import TWINS

ROOT = Path(__file__).resolve().parents[2]

#: The survey's exact numbers (docs/published.md cites them): D128 mean bias, 4 decimals.
D128 = {
    "mdlm": -0.0061,
    "mdlm_t1000": -0.0006,
    "sedd_absorb": -0.0061,
    "radd_t_dce": -0.0062,
    "bd3lm_block8_uniform": +0.0050,
    "bd3lm_block4_uniform": +0.0022,
    "bd3lm_block2_uniform": +0.0007,
    "md4": 0.0,
    "llada_harness_b8": 0.0,
    "llada_harness_b16": +0.3608,
    "llada_harness_b32": +0.1804,
    "dream": +0.0050,
}
#: MK4 (16 pairs per length): (replica, n) -> (mean, min, max) of the survey, 3 decimals (min, max may be None).
MK4 = {
    ("llada_harness_b8", 4): (+0.195, -0.135, +0.497),
    ("llada_harness_b8", 12): (+0.263, +0.108, +0.356),
    ("llada_harness_b8", 6): (+0.111, -0.006, +0.192),
    ("llada_harness_b8", 8): (0.0, 0.0, 0.0),
    ("llada_harness_b16", 8): (+0.213, +0.021, +0.335),
    ("llada_harness_b32", 8): (+0.106, None, None),
    ("d1_prompt_visible", 2): (+0.29, None, None),
    ("d1_prompt_visible", 4): (+0.95, None, None),
    ("d1_prompt_visible", 8): (+2.72, None, None),
    ("d1_prompt_visible", 12): (+5.10, None, None),
}


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("pub") / "published.json"
    names = sorted(set(D128) | {r for r, _ in MK4} | {"smdm", "diffucoder"})
    argv = ["conform", "--published", "--json", out]
    for name in names:
        argv += ["--replica", name]
    status, stdout, stderr = run_main(*argv)
    assert status == 0, stderr
    return json.loads(out.read_text()), stdout


def _row(rec, name, kind, n):
    (row,) = [r for r in rec["rows"] if r["replica"] == name and r["case_set"] == kind and r["n"] == n]
    return row


def test_d128_biases_are_the_surveys(record):
    rec, _ = record
    for name, bias in D128.items():
        assert round(_row(rec, name, "dna128", 8)["bias_mean"], 4) == pytest.approx(bias, abs=1e-12), name


def test_mk4_biases_are_the_surveys(record):
    rec, _ = record
    for (name, n), (mean, lo, hi) in MK4.items():
        row = _row(rec, name, "mk4", n)
        digits = 3 if name.startswith("llada") else 2
        assert round(row["bias_mean"], digits) == pytest.approx(mean, abs=1e-12), (name, n)
        if lo is not None:
            assert (round(row["bias_min"], 3), round(row["bias_max"], 3)) == (pytest.approx(lo), pytest.approx(hi))


@pytest.mark.parametrize("name,n", [("llada_harness_b8", 4), ("llada_harness_b32", 5), ("diffucoder", 3), ("smdm", 2)])
def test_mk4_rows_are_the_twins_over_the_pairs(record, name, n):
    rec, _ = record
    twin = TWINS[name][0]
    pairs = [cases.markov_pair(n, index=i) for i in range(16)]
    got = [twin(c) for c in pairs]
    bias = np.array([m - c.cond_nll for (m, _), c in zip(got, pairs)])
    row = _row(rec, name, "mk4", n)
    assert row["bias_mean"] == pytest.approx(bias.mean(), rel=1e-9, abs=1e-11)
    var = np.array([v for _, v in got])
    if np.isinf(var).any():
        assert row["variance_mean"] is None and row["infinite_variance"] == int(np.isinf(var).sum())
    else:
        assert row["variance_mean"] == pytest.approx(var.mean(), rel=1e-8)


def test_the_printed_table_names_every_replica_and_its_code(record):
    rec, stdout = record
    for name, meta in rec["replicas"].items():
        assert re.search(rf"^  {name} ", stdout, re.M), name
        assert meta["code"]["commit"][:7] in stdout


def test_every_json_field_is_documented(record):
    rec, _ = record
    schemas = (ROOT / "docs" / "json_schemas.md").read_text(encoding="utf-8")
    keys = set(rec) | set(rec["settings"]) | {k for r in rec["rows"] for k in r}
    keys |= {k for m in rec["replicas"].values() for k in m} | {k for m in rec["replicas"].values() for k in m["code"]}
    missing = sorted(k for k in keys if f'"{k}"' not in schemas)
    assert not missing, f"--published fields missing from docs/json_schemas.md: {missing}"


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["conform"], "MODULE:CALLABLE is required"),
        (["conform", "--published", "--case", "mk4:4"], "--case"),
        (["conform", "--published", "x.py:f"], "takes no MODULE:CALLABLE"),
        (["conform", "--published", "--replica", "nope"], "unknown replica 'nope'"),
        (["conform", "--published", "--pairs", "0"], "--pairs"),
    ],
)
def test_bad_options_are_refused_in_one_line(argv, needle):
    status, _, stderr = run_main(*argv)
    assert_refused(status, stderr, "conform", needle)
