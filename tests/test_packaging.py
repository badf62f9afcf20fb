"""The version has one source (``ctmc_lab.__version__``) that the installed metadata, the
citation file and ``ctmc-lab --version`` all show; the licence is declared the PEP 639 way."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import ctmc_lab

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_reads_the_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "ctmc_lab.__version__"
    assert project["project"]["license"] == "MIT" and project["project"]["license-files"] == ["LICENSE"]


def test_installed_metadata_matches_the_package():
    meta = importlib.metadata.metadata("ctmc-lab")
    assert meta["Version"] == ctmc_lab.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+|\.dev\d+)?", ctmc_lab.__version__)


def test_citation_file_cites_this_version_and_the_paper():
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(rf"^version: {re.escape(ctmc_lab.__version__)}$", text, re.M), (
        "CITATION.cff `version:` must equal ctmc_lab.__version__"
    )
    assert "cff-version: 1.2.0" in text and "preferred-citation:" in text
    assert "arXiv:2510.24088" in text and "Information-Theoretic Discrete Diffusion" in text
    assert re.search(r"^license: MIT$", text, re.M)


def test_licence_file_is_mit():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
