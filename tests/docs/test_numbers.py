"""The numbers the README and the docs quote are the ones the code gives.

Each quoted number is read off the page by a pattern and compared with its source: the
verifier's own report (a quick run, module fixture), the mutant list, the figure registry, the
study grids, the command-line defaults. A page reworded so that a pattern no longer finds its
number fails here too: the number must then be checked again, or no longer quoted.
"""

from __future__ import annotations

import importlib
import json
import re

import pytest

from ctmc_lab.cli import main
from tests.docs.markdown import ROOT, parse

README = (ROOT / "README.md").read_text(encoding="utf-8")
VERIFY = (ROOT / "docs" / "verify.md").read_text(encoding="utf-8")
FIGURES_PAGE = (ROOT / "docs" / "user_guide" / "figures.md").read_text(encoding="utf-8")


def quoted(pattern: str, text: str, where: str) -> list[str]:
    found = re.findall(pattern, text)
    assert found, f"{where} no longer says {pattern!r}: check the number it quotes some other way, or drop it"
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """``ctmc-lab verify --quick --json``: the report a user gets, as JSON."""
    path = tmp_path_factory.mktemp("verify") / "report.json"
    assert main(["verify", "--quick", "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_the_number_of_negative_control_rows(report, capsys):
    capsys.readouterr()
    controls = sum(row["expected_to_fail"] for row in report["checks"])
    assert controls == report["summary"]["expected_failures"]
    assert quoted(r"(\d+) rows are negative\s+controls", README, "README.md") == [str(controls)]


def _matrix(text: str) -> dict:
    """The coverage table of a page: {(theorem, method): "✓" or "n/a"}."""
    tokens = parse(text)
    cells, header, row = {}, None, []
    for k, token in enumerate(tokens):
        if token.type in ("th_open", "td_open"):
            row.append(tokens[k + 1].content.strip())
        elif token.type == "tr_close":
            if row and row[0] == "precision":
                header = row
            elif header and row[0].split()[0] in ("float64", "mpmath", "sympy"):
                cells.update({(theorem, row[0].split()[0]): mark for theorem, mark in zip(header[1:], row[1:])})
            row = []
    return cells


@pytest.mark.parametrize("page", ["README.md", "docs/verify.md"])
def test_the_coverage_matrix(report, page):
    shown = _matrix((ROOT / page).read_text(encoding="utf-8"))
    actual = {
        (cell["theorem"], cell["method"]): "n/a" if cell["not_applicable"] else ("✓" if cell["rows"] else "—")
        for cell in report["coverage"]
    }
    assert shown == actual


def test_the_number_of_mutants():
    from proofs_check.mutants import MUTANTS

    assert quoted(r"plants (\d+) one-line bugs", README, "README.md") == [str(len(MUTANTS))]
    assert quoted(r"plants (\d+) plausible one-line bugs", VERIFY, "docs/verify.md") == [str(len(MUTANTS))]


def test_the_number_of_figures_and_their_csv_columns():
    from ctmc_lab.plotting.figures import FIGURES

    assert quoted(r"the (\d+) figures `ctmc-lab figures` makes", README, "README.md") == [str(len(FIGURES))]
    assert quoted(r"each of the (\d+) figures", FIGURES_PAGE, "docs/user_guide/figures.md") == [str(len(FIGURES))]
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+) \|$", FIGURES_PAGE, re.M))
    assert list(rows) == list(FIGURES)
    for name, cell in rows.items():
        columns = importlib.import_module(f"ctmc_lab.studies.{name}").COLUMNS
        if not isinstance(columns, dict):  # a study at scale: its Column tuple is the documentation
            assert cell == f"the columns of `ctmc_lab.studies.{name}.COLUMNS`"
            continue
        tables = [(name, cell.split(";")[0])] + re.findall(r"`(\w+)\.csv`: (`[^`]+`)", cell)
        assert [t for t, _ in tables] == list(columns), name
        for table, listed in tables:
            shown = [c.strip() for c in listed.strip(" `").split(",")]
            expected = _expanded(name, list(columns[table]))
            # A family of columns, `estimated_nll_n{n}`, is shown by its first and last members.
            for k, column in enumerate(expected):
                if "{n}" in column:
                    stem = column.replace("{n}", "")
                    family = [c for c in shown if c.startswith(stem) or c == "…"]
                    assert family[1] == "…" and all(re.fullmatch(re.escape(stem) + r"\d+", c) for c in family[::2])
                    shown = shown[:k] + [column] + shown[k + len(family) :]
            assert shown == expected, (name, table)


def _expanded(study: str, columns: list[str]) -> list[str]:
    """A study's columns with ``{name}`` (one per compared estimator) written out as the CSV has them."""
    if not any("{name}" in c for c in columns):
        return columns
    unbiased, audited = importlib.import_module(f"ctmc_lab.studies.{study}").compared_estimators()
    out = []
    for column in columns:
        names = unbiased if column.startswith("var_") else audited
        out += [column.replace("{name}", n) for n in names] if "{name}" in column else [column]
    return out


def test_the_study_grids():
    from ctmc_lab.studies import engine

    quoted_cases = dict(re.findall(r"^\| ([a-z-]+) \| (\d+) \|", (ROOT / "docs" / "workloads.md").read_text(), re.M))
    assert list(quoted_cases) == list(engine.STUDIES)
    gallery = (ROOT / "docs" / "gallery.md").read_text(encoding="utf-8")
    for study, module in engine.STUDIES.items():
        n = len(list(importlib.import_module(module).cases("full")))
        assert quoted_cases[study] == str(n)
        assert quoted(rf"`ctmc-lab study {study} --grid full` \((\d+) cases", gallery, "docs/gallery.md") == [str(n)]


def test_the_markov_protocol_defaults():
    from ctmc_lab.cli.markov_protocol import PROTOCOL_DEFAULTS as defaults

    page = (ROOT / "docs" / "user_guide" / "markov.md").read_text(encoding="utf-8")
    (shown,) = quoted(r"The defaults are the paper's: (`[^`]+`)", page, "docs/user_guide/markov.md")
    shown = dict(re.findall(r"--([\w-]+)\s+(\d+)", re.sub(r"\s+", " ", shown)))
    from ctmc_lab.studies.protocol import MC_SAMPLES

    resolved = {**defaults, "mc_samples": defaults["mc_samples"] or MC_SAMPLES}  # None: the study's count
    assert {k.replace("-", "_"): int(v) for k, v in shown.items()} == {
        k: resolved[k] for k in ("prompt_length", "response_length", "pairs", "mc_samples", "seed")
    }
    assert quoted(r"runs (\d+) prompt–response pairs", README, "README.md") == [str(defaults["pairs"])]
    masks = 2 ** defaults["response_length"] - 1
    assert quoted(r"over all ([\d,]+) response masks", README, "README.md") == [f"{masks:,}"]
