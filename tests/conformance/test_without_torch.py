"""The oracle's core without torch: in a subprocess whose import hook makes `import torch` fail,
cases, the numpy adapters, check, the plugin's entry point and `ctmc-lab conform --backend numpy`
run; asking for the torch backend is a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK = textwrap.dedent(
    """
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError("torch is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTorch())
    """
)

SCRIPT = BLOCK + textwrap.dedent(
    """
    import contextlib, io
    import numpy as np
    from ctmc_lab import conformance as cf
    from ctmc_lab.conformance import cases
    import ctmc_lab.conformance.pytest_entry as entry

    case = cases.parse_case("mk4:3")
    model = cf.make_adapter(case, "hf", backend="numpy")
    view = model.view()

    def ar(seed):
        row = view.input_ids.copy()
        row[list(view.answer_positions)] = model.mask_id
        total = 0.0
        for p in view.answer_positions:
            total -= model(row[None]).logits[0, p, case.x[p]]
            row[p] = case.x[p]
        return total

    report = cf.check(ar, case, ["exact:cond_nll", "unbiased:cond_nll"], n_runs=3, model=model)
    assert report.passed, report
    try:
        cf.make_adapter(case, "hf")
    except ValueError as err:
        print("REFUSED:", err)
    from ctmc_lab.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["conform", "x.py:f", "--case", "dna128:0"])
    print("CLI:", status, err.getvalue().strip())
    print("torch" in sys.modules, entry.pytest_plugins)
    """
)


def test_core_runs_with_torch_blocked(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("REFUSED: the torch backend needs torch: pip install 'ctmc-lab[conformance]'")
    assert lines[1].startswith("CLI: 2 ctmc-lab conform: error: `--backend torch` needs torch")
    assert lines[2] == "False []"
