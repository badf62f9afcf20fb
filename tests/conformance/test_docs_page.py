"""Every code block of docs/user_guide/conformance.md runs: Python blocks in order in one
namespace, ``# file: PATH`` blocks written into a scratch project, ``$`` commands of console
blocks run there (``ctmc-lab`` and ``pytest`` through this interpreter) and must exit 0. Blocks that
import torch, and commands that use them, need torch."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "user_guide" / "conformance.md"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def blocks():
    text = PAGE.read_text(encoding="utf-8")
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def test_the_page_is_in_the_user_guide():
    index = (ROOT / "docs" / "user_guide" / "index.md").read_text(encoding="utf-8")
    assert "\nconformance\n" in index
    kinds = [kind for kind, _ in blocks()]
    assert kinds.count("python") >= 6 and kinds.count("console") == 2


def test_every_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # One torch thread: idle intra-op threads spin against the run on a small machine.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)]), "OMP_NUM_THREADS": "1"}
    namespace: dict = {"__name__": "__docs__"}
    torch_files = set()
    ran = 0
    for kind, body in blocks():
        first = body.splitlines()[0]
        if kind == "python" and first.startswith("# file: "):
            path = tmp_path / first.removeprefix("# file: ").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            if "import torch" in body:
                torch_files.add(path.name)
            continue
        if kind == "python":
            if "import torch" in body and not HAS_TORCH:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(body, f"{PAGE.name} block", "exec"), namespace)
            ran += 1
            continue
        assert kind == "console"
        for line in body.splitlines():
            command = line.removeprefix("$ ").split()
            if any(Path(word.split(":")[0]).name in torch_files for word in command) and not HAS_TORCH:
                continue
            runner = {"ctmc-lab": [sys.executable, "-m", "ctmc_lab.cli"], "pytest": [sys.executable, "-m", "pytest"]}
            out = subprocess.run(
                runner[command[0]] + command[1:], capture_output=True, text=True, env=env, cwd=tmp_path
            )
            assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
            assert "Traceback" not in out.stderr
            ran += 1
    assert ran >= 5
    # What the text says the blocks show.
    assert namespace["report"].verdicts[0].nearest.startswith("matches LLaDA's rule at b = 8")
    assert not namespace["report"].verdicts[0].passed
    assert (tmp_path / "report.json").exists()
