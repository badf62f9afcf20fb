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


# ============================================================================ the one --dist table
#: One SPEC of each form, written independently of the table, and the form it must resolve to.
EXAMPLES = {
    "dna128": "dna128",
    "dna128-like:7": "dna128-like:SEED",
    "markov4": "markov4",
    "markov:tables/chain.json": "markov:PATH",
    "markov:chain.json": "markov:PATH",
    USER: "python:MODULE:ATTR",
    "p0.json": "PATH.json",
    "data/p0": "PATH.json",
    "dna128.json": "PATH.json",
}


@pytest.mark.parametrize("spec", list(EXAMPLES))
def test_every_form_is_recognised_first_match_wins(spec):
    """A prefixed form wins over the path form: ``markov:chain.json`` is a chain, not a joint file."""
    assert specs.dist_spec(spec).form == EXAMPLES[spec]
    assert specs.is_markov_spec(spec) == EXAMPLES[spec].startswith("markov")
    assert specs.is_file_spec(spec) == (EXAMPLES[spec] == "PATH.json")
    assert specs.is_python_spec(spec) == (EXAMPLES[spec] == "python:MODULE:ATTR")


def test_the_forms_and_who_takes_them():
    forms = {d.form: set(d.commands) for d in specs.DIST_SPECS}
    joint = {"nll", "estimate", "curve", "verify"}
    assert forms == {
        "dna128": joint,
        "dna128-like:SEED": joint,
        "markov4": {"nll", "verify"},
        "markov:PATH": {"nll", "verify"},
        "python:MODULE:ATTR": joint,
        "PATH.json": joint,
    }


def _dist_help(command: str) -> str:
    from ctmc_lab.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return " ".join(next(a for a in sub._actions if a.dest == "dist").help.split())


@pytest.mark.parametrize("command", ["nll", "estimate", "curve", "verify"])
def test_each_commands_help_lists_exactly_the_forms_it_takes(command):
    """The help of nll, estimate and curve is the table's; verify's is the text ``dist_help`` gives it."""
    from ctmc_lab.cli._common import dist_help

    text = _dist_help(command) if command != "verify" else " ".join(dist_help("verify").split())
    for d in specs.DIST_SPECS:
        assert (f"{d.form} ({d.help})" in text) == (command in d.commands), (command, d.form)


def test_the_docs_table_is_the_spec_table():
    from tests.docs.markdown import ROOT

    assert specs.markdown_table() in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("nll", "--dist", "nonsense"), "use dna128, dna128-like:SEED, markov4, markov:PATH, python:MODULE:ATTR or "),
        (("estimate", "--estimator", "time_free", "--dist", "markov4"), "is not taken by `estimate`"),
        (("curve", "--sequence", "A", "--times", "0.5", "--dist", "markov:x.json"), "is not taken by `curve`"),
        (("verify", "--quick", "--dist", "markov4", "--alphabet", "AB"), "`--alphabet` applies only"),
        (("nll", "--dist", USER, "--alphabet", "abc"), "`--alphabet` applies only"),
    ],
)
def test_a_form_a_command_does_not_take_is_refused_in_one_line(argv, needle):
    status, out, err = run_main(*argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and out == "" and len(lines) == 1 and needle in lines[0], err
