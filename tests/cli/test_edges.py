"""Edges of the command line: what loads at parse time, closed streams, users' Python objects,
exact values in messages, hostile numbers and names, and nothing printed before a failure."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.cli_helpers import assert_refused, run_cli, run_main

#: Subcommand modules this check covers: ``verify`` (imports ``proofs_check``) and ``study`` (reads
#: the study engine in ``add_parser``) still load NumPy when their parsers are built.
LIGHT = [
    "ctmc_lab.cli.nll",
    "ctmc_lab.cli.curve",
    "ctmc_lab.cli.estimate",
    "ctmc_lab.cli.figures",
    "ctmc_lab.cli.bench",
]


def _loaded_after(code: str) -> list[str]:
    probe = code + "\nimport sys\nprint(','.join(m for m in ('numpy', 'scipy', 'ctmc_lab.io') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in done.stdout.strip().split(",") if m]


def test_building_the_parser_loads_no_numpy():
    """A work count, not a timing: the modules that start the interpreter's slowest imports."""
    code = textwrap.dedent(
        f"""
        import ctmc_lab.cli as cli
        cli.SUBCOMMANDS[:] = {LIGHT!r}
        parser = cli.build_parser()
        parser.parse_args(["curve", "--sequence", "A", "--times", "1"])
        parser.parse_args(["nll", "--dist", "markov4"])
        """
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize(
    "module", [*LIGHT, "ctmc_lab.cli._common", "ctmc_lab.cli.specs", "ctmc_lab.cli.markov_protocol"]
)
def test_owned_cli_modules_import_no_numpy(module):
    assert _loaded_after(f"import {module}") == []


def test_lazy_choices_are_the_registries():
    from ctmc_lab.cli import build_parser
    from ctmc_lab.estimation.estimators import ESTIMATORS
    from ctmc_lab.forward.schedules import SCHEDULES

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    est = next(a for a in sub["estimate"]._actions if a.dest == "estimator")
    sch = next(a for a in sub["curve"]._actions if a.dest == "schedule")
    assert list(est.choices) == sorted(ESTIMATORS) and list(sch.choices) == sorted(SCHEDULES)
    text = sub["estimate"].format_help() + sub["curve"].format_help()
    assert ", ".join(sorted(ESTIMATORS)) in " ".join(text.split())
    assert "{" + ",".join(sorted(SCHEDULES)) + "}" in text


def test_bench_options_are_added_when_bench_is_parsed():
    from ctmc_lab.cli import documented_parser

    parser = documented_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    assert {"--only", "--repeats", "--out"} <= {o for a in sub["bench"]._actions for o in a.option_strings}
    assert sub["bench"]._actions[-1].option_strings == ["--threads"]  # still last, as before


@pytest.mark.parametrize(
    "argv",
    [["nll", "--sequence", "AGCTTGCA"], ["curve", "--sequence", "AGCTTGCA", "--times", "1"], ["verify", "--quick"]],
)
def test_a_closed_stdout_is_a_one_line_error(argv):
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m ctmc_lab.cli {' '.join(argv)} >&-"], capture_output=True, text=True
    )
    assert_refused(done.returncode, done.stderr, argv[0], "cannot write to standard output: it is closed")


SOURCES = textwrap.dedent(
    """
    import numpy as np

    class NoLength:
        n_tokens, alphabet = 2, None
        def log_prob(self, x):
            return np.full(len(x), -np.log(4.0))

    class Bare:
        pass

    class Raises:
        n_tokens, length, alphabet = 2, 2, None
        def log_prob(self, x):
            raise RuntimeError("boom")

    def factory_fails():
        raise RuntimeError("nope")
    """
)


@pytest.mark.parametrize(
    "attr, needles",
    [
        ("NoLength", ["is not a Source: it has no `length`"]),
        ("Bare", ["it has no `n_tokens`, `length`, `log_prob`, `alphabet`"]),
        ("Raises", ["enumerating the source raised RuntimeError: boom"]),
        ("factory_fails", ["calling it raised RuntimeError: nope"]),
    ],
)
def test_a_python_source_missing_attributes_is_one_line(tmp_path, monkeypatch, attr, needles):
    (tmp_path / "user_sources.py").write_text(SOURCES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "user_sources", raising=False)
    status, stdout, err = run_main("nll", "--dist", f"python:user_sources:{attr}")
    assert_refused(status, err, "nll", f"`--dist` 'python:user_sources:{attr}'", *needles)
    assert stdout == ""


@pytest.mark.parametrize(
    "times, needle",
    [
        ("1e-400", "got 1e-400 (0 in float64)"),
        ("0.5,1e400", "got 1e400 (inf in float64)"),
        ("nan", "got nan"),
        ("-0.0", "got -0.0"),
        ("0.5,1.0000000000000002", "(got 1.0000000000000002)"),
        ("", "at least one time (got '')"),
    ],
)
def test_times_are_quoted_as_given(times, needle):
    status, stdout, err = run_main("curve", "--sequence", "GGATTTTT", "--times", times)
    assert_refused(status, err, "curve", needle)
    assert stdout == ""


@pytest.mark.parametrize("command", [["nll"], ["estimate", "--estimator", "time_free", "--samples", "10"]])
def test_an_unprintable_sequence_prints_nothing_before_the_error(tmp_path, command, monkeypatch):
    """A lone surrogate key: the whole table is rendered and checked before the first line is printed."""
    path = tmp_path / "s.json"
    path.write_text('{"\\ud800B": 0.5, "AB": 0.5}')
    import io

    class Strict(io.StringIO):
        encoding, errors = "utf-8", "strict"

    out = Strict()
    monkeypatch.setattr(sys, "stdout", out)
    from ctmc_lab.cli import main

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    status = main([*command, "--dist", str(path)])
    assert out.getvalue() == ""
    assert_refused(status, err.getvalue(), command[0], "lone surrogate", "not a character")


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["nll", "--dist", "markov4", "--pairs", "0"], ["`--pairs` must be at least 1 (got 0)"]),
        (["nll", "--dist", "markov4", "--seed", "-1"], ["`--seed` must be at least 0 (got -1)"]),
        (["nll", "--dist", "markov4", "--pairs", "1000000000000"], ["1000000000000 pairs", "array operations"]),
        (["nll", "--dist", "markov4", "--response-length", "100"], ["response length 100", "of memory"]),
        (["nll", "--dist", ""], ["`--dist` '' is not known"]),
        (["nll", "--sequence", ""], ["`--sequence` must hold at least one token"]),
        (["nll", "--json", "/nonexistent-dir/x.json"], ["`--json`", "does not exist"]),
        (["curve", "--sequence", "GGATTTTT", "--times", "0.5", "--process", "nope"], ["`--process` 'nope'"]),
        (["estimate", "--estimator", "time_free", "--samples", "-3"], ["`--samples` must be a positive integer"]),
        (["estimate", "--estimator", "time_free", "--samples", "99999999999999999999"], ["TiB of memory"]),
        (["figures", "--formats", "", "--out", "{tmp}/f"], ["`--formats` ''"]),
        (["figures", "--only", "nope", "--out", "{tmp}/f"], ["`--only` 'nope'"]),
        (["bench", "--only", "W1", "--out", "/nonexistent-dir/b.json"], ["`--out`", "does not exist"]),
    ],
)
def test_hostile_arguments_end_in_one_line(tmp_path, argv, needles):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    status, stdout, err = run_main(*argv)
    assert_refused(status, err, argv[0], *needles)
    assert stdout == ""


@pytest.mark.parametrize(
    "argv",
    [["curve", "--sequence", "GGATTTTT", "--times", "0.5", "--schedule", "nope"], ["estimate", "--estimator", "nope"]],
)
def test_unknown_registry_names_are_usage_errors(argv):
    """The lazy choices still refuse an unknown name, listing the registry's names."""
    done = run_cli(*argv)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "invalid choice: 'nope' (choose from" in done.stderr and done.stdout == ""


@pytest.mark.parametrize("content", ["[]", "", '"x"', "{}"])
@pytest.mark.parametrize(
    "command", [["nll"], ["estimate", "--estimator", "time_free"], ["curve", "--sequence", "A", "--times", "1"]]
)
def test_distribution_files_that_are_not_tables(tmp_path, content, command):
    path = tmp_path / "d.json"
    path.write_text(content)
    status, stdout, err = run_main(*command, "--dist", path)
    assert_refused(status, err, command[0])
    assert stdout == ""


def test_json_output_is_unchanged_by_the_model_option(tmp_path):
    """The default records have exactly the fields they had (the model fields only with --model)."""
    out = tmp_path / "n.json"
    status, _, err = run_main("nll", "--sequence", "AGCTTGCA", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())
    assert set(rec) == {"distribution", "sequences", "summary"}
    assert "model_nll" not in rec["sequences"][0]


def test_the_cli_reference_renders_registry_names_not_objects():
    """``docs/cli.md`` (sphinx-argparse) formats each help with the action's raw attributes."""
    parser_mod = pytest.importorskip("sphinxarg.parser", reason="sphinx-argparse is in the docs extra")
    from ctmc_lab.cli import documented_parser
    from ctmc_lab.estimation.estimators import ESTIMATORS

    data = parser_mod.parse_parser(documented_parser())
    helps = {
        (c["name"], o["name"][0]): o["help"] for c in data["children"] for g in c["action_groups"] for o in g["options"]
    }
    assert helps[("estimate", "--estimator")] == "one of: " + ", ".join(sorted(ESTIMATORS))
    assert "cosine (0 < t <= 1)" in helps[("curve", "--schedule")]
    assert "8192" in helps[("nll", "--mc-samples")]
    assert ("bench", "--only") in helps
