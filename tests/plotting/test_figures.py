"""The figure registry: every figure draws and writes its files on reduced sizes; style, CSV and CLI."""

from __future__ import annotations

import argparse

import matplotlib as mpl
import numpy as np
import pytest

from ctmc_lab import plotting
from ctmc_lab.cli import figures as cli_figures
from ctmc_lab.plotting import figures
from tests.figure_oracles import read_csv

#: Reduced sizes per figure: every drawing function runs on a table of the shape it draws.
SMALL = {
    "fig1a_dna128_nll": {"n_samples": 64},
    "fig1b_markov_conditional": {"pairs": 3, "response_length": 4, "mc_samples": 64},
    "imdse_curves": {"n_points": 5},
    "dse_dce_equivalence": {"n_points": 8},
    "variance_vs_samples": {"n_list": (8, 16), "repeats": 3, "n_sequences": 2, "response_length": 4},
    "heavy_tail": {"n_max": 2**8, "repeats": 3},
    "coupled_vs_decoupled": {"n_triplets": 3, "n_list": (5, 10), "repeats": 3},
    "sampler_comparison": {"n_windows": 8},
    "ood_detection": {"n_per_group": 10, "budgets": (1, 4)},
    "llada_audit": {"n_max": 8, "dna_lengths": 3, "mk4_lengths": 3, "mk4_pairs": 2, "mk1_pairs": 2},
    # The studies at scale run their small grids (seconds each).
    "sampler_atlas": {},
    "conditional_balance": {},
    "length_scaling": {},
    "coupling": {},
}


@pytest.mark.parametrize("name", list(SMALL))
def test_every_figure_draws_and_writes(tmp_path, name):
    res = figures.FIGURES[name](seed=1, **SMALL[name])
    assert res.name == name and res.seconds > 0
    assert res.figure.axes, "the drawing made axes"
    paths = res.write(tmp_path)
    for ext in ("pdf", "png"):
        f = tmp_path / f"{name}.{ext}"
        assert f.exists() and f.stat().st_size > 5000, f
    for stem, table in res.tables.items():
        rows = read_csv(tmp_path / f"{stem}.csv")
        assert list(rows[0]) == list(table) and len(rows) == len(next(iter(table.values())))
    assert len(paths) == 2 + len(res.tables)


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


def test_registry_and_make_figures(tmp_path):
    assert list(figures.FIGURES) == [
        "fig1a_dna128_nll",
        "fig1b_markov_conditional",
        "imdse_curves",
        "dse_dce_equivalence",
        "variance_vs_samples",
        "heavy_tail",
        "coupled_vs_decoupled",
        "sampler_comparison",
        "ood_detection",
        "llada_audit",
        "sampler_atlas",
        "conditional_balance",
        "length_scaling",
        "coupling",
    ]
    with pytest.raises(ValueError, match="unknown figure"):
        figures.make_figures(tmp_path, only="fig9")
    out = figures.make_figures(
        tmp_path, only="dse_dce_equivalence", formats=("png", "csv"), options={"dse_dce_equivalence": {"n_points": 8}}
    )
    assert sorted(p.rsplit("/", 1)[-1] for p in out["dse_dce_equivalence"][1]) == [
        "dse_dce_equivalence.csv",
        "dse_dce_equivalence.png",
    ]


def test_cli_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ctmc-lab")
    cli_figures.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["figures", "--out", str(tmp_path / "o"), "--only", "dse_dce_equivalence", "--formats", "png,csv"]
    )
    assert args.func(args) == 0
    assert sorted(f.name for f in (tmp_path / "o").iterdir()) == ["dse_dce_equivalence.csv", "dse_dce_equivalence.png"]
    assert "dse_dce_equivalence" in capsys.readouterr().out
    for bad in (["--only", "nope"], ["--formats", "gif"]):
        args = parser.parse_args(["figures", "--out", str(tmp_path / "p"), *bad])
        with pytest.raises(ValueError):
            args.func(args)


@pytest.mark.parametrize(
    "fn, kwargs, match",
    [
        (figures.fig1a_dna128_nll, {"n_samples": 1}, "n_samples"),
        (figures.fig1b_markov_conditional, {"prompt_length": 3}, "prompt_length"),
        (figures.variance_vs_samples, {"n_list": (256, 128)}, "n_list"),
        (figures.heavy_tail, {"n_max": 1000}, "power of 2"),
        (figures.coupled_vs_decoupled, {"repeats": 1}, "repeats"),
        (figures.dse_dce_equivalence, {"mix_weight": 0.0}, "mix_weight"),
        (figures.ood_detection, {"temperature": -1.0}, "temperature"),
        (figures.imdse_curves, {"x0": "AAAA"}, "length"),
    ],
)
def test_bad_arguments_name_themselves(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)
