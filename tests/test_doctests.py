"""The Examples sections of the docstrings run and print what they claim."""

import doctest
import importlib
import pkgutil

import pytest

import ctmc_lab

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(ctmc_lab.__path__, prefix="ctmc_lab.")
    if not name.startswith("ctmc_lab.cli") and name != "ctmc_lab.testing.strategies"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
