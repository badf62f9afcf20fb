"""Running the command line in tests: in-process with captured streams, or as a subprocess."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

from ctmc_lab.cli import main


def run_main(*argv):
    """``ctmc-lab ARGV`` in-process: (exit status, stdout, stderr). Any exception propagates (a test failure)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


def run_cli(*argv, **kw):
    """``ctmc-lab ARGV`` as a user runs it, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "ctmc_lab.cli", *map(str, argv)], capture_output=True, text=True, **kw)


def assert_refused(status, stderr, command, *needles, output=None):
    """Exit status 2, one ``ctmc-lab COMMAND: error: ...`` line containing every needle, no traceback,
    and no output file left behind (``output``, if given, must not exist)."""
    assert status == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(f"ctmc-lab {command}: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    if output is not None:
        assert not output.exists(), f"{output} was written by a refused run"
    return errors[0]
