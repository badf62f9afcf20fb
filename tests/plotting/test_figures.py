"""The figures: every study is run by the engine and drawn by the one entry point; files, style, CSV and CLI."""

from __future__ import annotations

import argparse

import matplotlib as mpl
import numpy as np
import pytest

from ctmc_lab import plotting
from ctmc_lab.cli import figures as cli_figures
from ctmc_lab.plotting import figures
from ctmc_lab.studies import engine
from tests.figure_oracles import read_csv


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_every_figure_draws_and_writes(tmp_path, name):
    """Each study's small grid, run by the engine: a drawn figure, and a CSV per table of the study."""
    res = figures.make_figure(name, seed=1, grid="small")
    assert res.name == name and res.seconds > 0 and res.summary.startswith(figures.FIGURES[name])
    assert res.figure.axes, "the drawing made axes"
    paths = res.write(tmp_path)
    for ext in ("pdf", "png"):
        f = tmp_path / f"{name}.{ext}"
        assert f.exists() and f.stat().st_size > 5000, f
    study = engine.study_module(figures.FIGURES[name])
    stems = [name, *(f"{name}_{t}" for t in getattr(study, "TABLES", {}))]
    assert list(res.tables) == stems and len(paths) == 2 + len(stems)
    one_case = study.NAME in engine.PAPER_STUDIES  # one case per table
    for stem, columns in zip(stems, engine.study_tables(study).values()):
        rows = read_csv(tmp_path / f"{stem}.csv")
        names = [c.name for c in columns]
        assert list(rows[0]) == (names if one_case else ["case", *names])
        assert len(rows) == len(res.tables[stem][names[0]])


def test_style_is_scoped_and_csv_round_trips(tmp_path):
    before = dict(mpl.rcParams)
    with plotting.style():
        assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][0].lower() == "#0072b2"
        assert mpl.rcParams["text.usetex"] is False
        fig, ax = plotting.new_figure()
        ax.plot([0, 1], [0, 1])
    assert dict(mpl.rcParams) == before
    vals = np.array([0.1, 1 / 3, np.inf, 1e-300])
    path = plotting.write_csv(str(tmp_path / "t.csv"), {"x": vals, "name": np.array(["a", "b", "c", "d"])})
    back = read_csv(path)
    assert [float(r["x"]) for r in back] == vals.tolist()  # exact float64 round trip
    with pytest.raises(ValueError, match="equal lengths"):
        plotting.write_csv(str(tmp_path / "u.csv"), {"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="width"):
        plotting.new_figure(width="poster")


def test_every_study_is_a_figure_in_order():
    """One registry: the paper's studies, then those at scale, each a figure named with underscores."""
    assert list(figures.FIGURES.values()) == [*engine.PAPER_STUDIES, *engine.STUDIES]
    assert list(figures.FIGURES) == [s.replace("-", "_") for s in figures.FIGURES.values()]
    assert {engine.figure_grid(s) for s in engine.PAPER_STUDIES} == {"full"}
    assert {engine.figure_grid(s) for s in engine.STUDIES} == {"small"}


def test_make_figures_writes_what_it_is_asked(tmp_path):
    with pytest.raises(ValueError, match="unknown figure"):
        figures.make_figures(tmp_path, only="fig9")
    out = figures.make_figures(tmp_path, only="dse_dce_equivalence", formats=("png", "csv"), grid="small")
    assert sorted(p.rsplit("/", 1)[-1] for p in out["dse_dce_equivalence"][1]) == [
        "dse_dce_equivalence.csv",
        "dse_dce_equivalence.png",
    ]
    with pytest.raises(ValueError, match="unknown output format"):
        out["dse_dce_equivalence"][0].write(tmp_path, formats=("gif",))


def test_the_figure_csv_is_the_engine_table_without_its_one_key(tmp_path):
    """``ctmc-lab study`` and ``ctmc-lab figures`` run the same engine: the same rows and values."""
    run = engine.run_study("heavy-tail", out_dir=tmp_path, seed=2, progress=None, notes=None)
    table = engine.read_table(run.table_path, "heavy-tail")
    res = figures.make_figure("heavy_tail", seed=2, grid="small")
    assert set(table["case"]) == {"heavy_tail"}
    assert list(res.table) == list(table)[1:]
    for column, values in res.table.items():
        assert np.array_equal(values, table[column]), column


def test_a_failed_case_is_an_error_not_a_figure(monkeypatch):
    from ctmc_lab.studies import dse_dce_equivalence

    def broken(case, *, rng):
        raise ArithmeticError("planted")

    monkeypatch.setattr(dse_dce_equivalence, "run_case", broken)
    with pytest.raises(ValueError, match="ArithmeticError: planted"):
        figures.make_figure("dse_dce_equivalence", grid="small")


def test_cli_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ctmc-lab")
    cli_figures.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "figures",
            "--out",
            str(tmp_path / "o"),
            "--only",
            "dse_dce_equivalence",
            "--formats",
            "png,csv",
            "--grid",
            "small",
        ]
    )
    assert args.func(args) == 0
    assert sorted(f.name for f in (tmp_path / "o").iterdir()) == ["dse_dce_equivalence.csv", "dse_dce_equivalence.png"]
    assert "dse_dce_equivalence" in capsys.readouterr().out
    for bad in (["--only", "nope"], ["--formats", "gif"]):
        args = parser.parse_args(["figures", "--out", str(tmp_path / "p"), *bad])
        with pytest.raises(ValueError):
            args.func(args)


def test_settings_replace_those_of_the_grid():
    res = figures.make_figure("heavy_tail", grid="small", n_max=2**8, repeats=3)
    assert res.table["n"].max() == 2**8
    with pytest.raises(ValueError, match="heavy-tail has no setting 'n_samples'"):
        figures.make_figure("heavy_tail", n_samples=3)


@pytest.mark.parametrize(
    "name, settings, match",
    [
        ("fig1a_dna128_nll", {"n_samples": 1}, "n_samples"),
        ("fig1b_markov_conditional", {"prompt_length": 3}, "prompt_length"),
        ("variance_vs_samples", {"n_list": (256, 128)}, "n_list"),
        ("heavy_tail", {"n_max": 1000}, "power of 2"),
        ("coupled_vs_decoupled", {"repeats": 1}, "repeats"),
        ("dse_dce_equivalence", {"mix_weight": 0.0}, "mix_weight"),
        ("ood_detection", {"temperature": -1.0}, "temperature"),
        ("ood_detection", {"length": 11}, "at most 10"),
    ],
)
def test_bad_settings_name_themselves(name, settings, match):
    with pytest.raises(ValueError, match=match):
        figures.make_figure(name, grid="small", **settings)
