"""The hypothesis profiles of ``tests/conftest.py``: CI runs are derandomized, so a failure there replays anywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Loads the conftest's profiles as pytest would, then reports the active settings and the
#: examples one property draws, as JSON.
PROBE = """
import json
from hypothesis import given, settings, strategies as st
import tests.conftest  # noqa: F401 - registers and loads the profile

drawn = []

@given(st.integers(0, 10**9))
def prop(x):
    drawn.append(x)

prop()
s = settings.default
print(json.dumps({"derandomize": s.derandomize, "database": repr(s.database), "deadline": repr(s.deadline),
                  "print_blob": s.print_blob, "max_examples": s.max_examples, "drawn": drawn}))
"""


def _probe(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_ci_profile_is_derandomized_without_database_or_deadline():
    ci = _probe(CI="true")
    assert ci["derandomize"] is True and ci["database"] == "None" and ci["deadline"] == "None"
    assert ci["print_blob"] is True
    # Same examples in a second process: a CI failure is reproducible from the test alone.
    assert _probe(CI="true")["drawn"] == ci["drawn"]


def test_dev_profile_is_the_default_and_random():
    dev = _probe()
    assert dev["derandomize"] is False and dev["max_examples"] == 25 and dev["deadline"] == "None"
    assert _probe(HYPOTHESIS_PROFILE="thorough")["max_examples"] == 500
