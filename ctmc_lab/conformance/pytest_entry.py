"""The ``pytest11`` entry point of ctmc-lab: loads :mod:`ctmc_lab.conformance.pytest_plugin` only
when the ``conformance`` extra (torch) is installed, so ctmc-lab adds no fixtures to the test
runs of environments that did not ask for it. ``pytest -p ctmc_lab.conformance.pytest_plugin``
loads the plugin whatever is installed (it is registered once either way: pytest skips a
plugin name it already holds).
"""

from __future__ import annotations

import importlib.util


def _has_torch() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as none
        return False


#: Read by pytest when it registers this module (``pytest_plugins`` of a plugin module).
pytest_plugins = ["ctmc_lab.conformance.pytest_plugin"] if _has_torch() else []
