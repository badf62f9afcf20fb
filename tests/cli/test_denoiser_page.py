"""``docs/user_guide/denoiser.md`` runs as written: its Python blocks print what their comments say,
and its ``ctmc-lab`` commands exit 0."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "denoiser.md"


def _numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text)


def test_the_denoiser_page_runs_as_written(tmp_path, monkeypatch):
    text = PAGE.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_model", raising=False)
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own code
        printed = out.getvalue().splitlines()
        expected = [line.split("#", 1)[1] for line in block.splitlines() if line.startswith("print(") and "#" in line]
        assert len(printed) == len(expected), (printed, expected)
        for got, comment in zip(printed, expected):
            for shown, value in zip(_numbers(comment), _numbers(got)):
                digits = shown.rstrip(".")
                assert value.startswith(digits) or float(value) == pytest.approx(float(shown), abs=5e-8), (got, comment)
    commands = [line for block in re.findall(r"```bash\n(.*?)```", text, re.S) for line in block.splitlines()]
    commands = [c for c in commands if c.startswith("ctmc-lab ")]
    assert len(commands) == 2
    for command in commands:
        status, stdout, err = run_main(*shlex.split(command)[1:])
        assert status == 0, (command, err)
    assert "0.096048" in run_main(*shlex.split(commands[0])[1:])[1]
