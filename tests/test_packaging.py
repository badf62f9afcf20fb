"""The package as users meet it.

The public API is cheap to import, gives each name from its one home module, and its glossary
resolves; the version has one source (``ctmc_lab.__version__``) that the installed metadata,
the citation file and ``ctmc-lab --version`` all show; the licence is declared the PEP 639 way.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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


def test_import_ctmc_lab_loads_no_numerics():
    """``import ctmc_lab`` stays cheap: the public names load on first use."""
    code = (
        "import sys, ctmc_lab; print(sorted(m for m in ('numpy', 'scipy', 'sympy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_is_its_home_module_object():
    """Each name of ``ctmc_lab.__all__`` is the object of the one module that defines it."""
    for name in ctmc_lab.__all__:
        if name == "__version__":
            continue
        home = importlib.import_module(ctmc_lab._EXPORTS[name])
        assert getattr(ctmc_lab, name) is getattr(home, name), name
        assert name in home.__all__, f"{name} is not public in {home.__name__}"
    assert ctmc_lab.exact.scores.mdse is ctmc_lab.mdse
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ctmc_lab.nope  # noqa: B018


def test_the_glossary_names_exist():
    """Every ``:func:``/``:class:``/``:data:``/``:mod:`` of the package docstring's glossary resolves."""
    targets = re.findall(r":(?:func|class|data|mod):`~?([\w.]+)`", ctmc_lab.__doc__)
    assert len(targets) >= 25
    for target in targets:
        try:
            importlib.import_module(target)
            continue
        except ImportError:
            pass
        module, _, attr = target.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), target
    for symbol in ("σ̄", "σ(t)", "λ(t)", "K = exp(σ̄ Q)", "p_{t|0}", "c*", "H_n", "A(M)", "mdse", "mdce"):
        assert symbol in ctmc_lab.__doc__, symbol
