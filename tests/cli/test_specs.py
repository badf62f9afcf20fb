"""``ctmc_lab.cli.specs``: the ``--dist`` SPEC strings, including a Source defined outside the package
(``python:MODULE:ATTR``) run through ``nll`` and ``verify`` with no edit to the library."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ctmc_lab.cli import specs
from tests.cli_helpers import run_main
from tests.sources.user_source import MARGINALS

USER = "python:tests.sources.user_source:make_source"


def test_builtin_and_file_specs(tmp_path):
    assert specs.load_joint("dna128").support_size == 128
    assert specs.load_joint("dna128-like:3").name == "dna128-like:3"
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"AT": 0.5, "TA": 0.4}))
    with pytest.raises(ValueError, match="rescale them with `--normalize`"):
        specs.load_joint(str(path))
    assert abs(specs.load_joint(str(path), normalize=True).prob("AT") - 5 / 9) <= 1e-15
    with pytest.raises(ValueError, match="non-negative integer"):
        specs.load_joint("dna128-like:x")
    with pytest.raises(ValueError, match="is not known"):
        specs.load_joint("nonsense")


def test_markov_specs(tmp_path):
    assert specs.is_markov_spec("markov4") and specs.is_markov_spec("markov:x.json")
    assert not specs.is_markov_spec("dna128") and not specs.is_file_spec(USER)
    assert specs.load_markov("markov4").order == 4
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"x": {"x": 0.5, "y": 0.4}, "y": {"x": 0.5, "y": 0.5}}))
    with pytest.raises(ValueError, match="rescale them with `--normalize`"):
        specs.load_markov(f"markov:{path}")
    assert specs.load_markov(f"markov:{path}", normalize=True).table[0, 1] == pytest.approx(4 / 9, abs=1e-15)
    with pytest.raises(ValueError, match="cannot read"):
        specs.load_markov(f"markov:{tmp_path / 'missing.json'}")
    with pytest.raises(ValueError, match="needs a path"):
        specs.load_markov("markov:")
    with pytest.raises(ValueError, match="not a Markov source"):
        specs.load_markov("dna128")


@pytest.mark.parametrize("attr", ["make_source", "SOURCE", "IIDProduct"])
def test_python_spec_materialises_the_full_length_joint(attr):
    if attr == "IIDProduct":  # a class that needs arguments is not a zero-argument callable
        with pytest.raises(ValueError, match="zero-argument"):
            specs.load_joint(f"python:tests.sources.user_source:{attr}")
        return
    p = specs.load_joint(f"python:tests.sources.user_source:{attr}")
    assert (p.n_tokens, p.length, p.support_size) == (3, 3, 27)
    assert abs(p.prob("bca") - MARGINALS[0, 1] * MARGINALS[1, 2] * MARGINALS[2, 0]) <= 1e-15


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("python:tests.sources.user_source:too_large", "enumeration limit"),
        ("python:tests.sources.user_source", "python:MODULE:ATTR"),
        ("python:no_such_module_xyz:f", "does not import"),
        ("python:tests.sources.user_source:missing", "has no attribute 'missing'"),
        ("python:tests.sources.user_source:MARGINALS", "is not a Source"),
        ("python:ctmc_lab.sources.markov:markov4", "`length` is required"),
    ],
)
def test_python_spec_errors_are_one_line(spec, needle):
    status, _, err = run_main("nll", "--dist", spec)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err


def test_nll_and_verify_run_on_a_user_source(tmp_path):
    out = tmp_path / "nll.json"
    status, _, err = run_main("nll", "--dist", USER, "--sequence", "abc", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())
    truth = -np.log(MARGINALS[0, 0] * MARGINALS[1, 1] * MARGINALS[2, 2])
    assert abs(rec["sequences"][0]["nll"] - truth) <= 1e-12
    status, stdout, err = run_main("verify", "--quick", "--dist", USER, "--only", "thm41")
    assert status == 0, err
    assert f"ctmc-lab verify on {USER} (N=3, L=3, |support|=27)" in stdout and "verify OK" in stdout
    status, _, err = run_main("nll", "--dist", USER, "--normalize")
    assert status == 2 and "`--normalize` applies only" in err
