"""Every notebook runs top to bottom: the jupytext ``.py`` sources are the truth,
their paired ``.ipynb`` files must match them, and each executes through nbclient."""

from __future__ import annotations

import pathlib

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))
#: nbclient's per-cell timeout: a hang guard far above any cell's expected time (each notebook takes
#: seconds of CPU), so that a slow or loaded machine does not fail a notebook that runs. It is not a speed test.
HANG_GUARD_SECONDS = 600


def _code(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def test_the_four_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_i_mdse",
        "02_dse_dce_imdce",
        "03_time_free_and_variance",
        "04_markov_conditional_and_ratios",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_paired_ipynb_is_in_sync(path):
    paired = path.with_suffix(".ipynb")
    assert paired.exists(), f"run `jupytext --to ipynb {path.name}`"
    assert _code(jupytext.read(path)) == _code(nbformat.read(paired, as_version=4)), (
        f"{paired.name} is out of date: run `jupytext --sync {path.name}`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb, timeout=HANG_GUARD_SECONDS, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Figures render as images, not as "<Figure size ...>" text.
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} shows no figure"
