"""Hypothesis profiles: ``ci`` (chosen when ``CI`` is set), ``dev`` (the default) and ``thorough``.

Select one explicitly with ``HYPOTHESIS_PROFILE=NAME``.

* ``ci``: derandomized (each test's examples follow from its own name, so a failure in CI fails
  the same way on any machine), no example database (nothing carried between runs), the
  reproduction blob printed with a failure, and no deadline (a test's outcome never depends on
  the machine's load). Hypothesis's default of 100 examples per test, unless a test sets its own
  budget (``ctmc_lab.testing.strategies.budget``).
* ``dev``: 25 random examples, no deadline; failures are remembered in the local database.
* ``thorough``: 500 examples per property (``budget`` scales every test up to it).
"""

import os

from hypothesis import HealthCheck, settings

# pytest-xdist gives its workers COLUMNS=80; a single-process run has none, and the report's
# layout (the verifier's header and table widths) follows COLUMNS, so a worker drops it to see
# what a single-process run sees. Tests of the layout set COLUMNS themselves.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
elif os.environ.get("CI"):
    settings.load_profile("ci")
else:
    settings.load_profile("dev")
