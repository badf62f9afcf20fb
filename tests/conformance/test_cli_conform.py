"""``ctmc-lab conform``: a user's evaluator from a file or a module, verdicts as exit status, every
failure of the evaluator in one line, bad options refused with status 2, JSON written atomically."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.cli_helpers import assert_refused, run_main

EVALUATORS = textwrap.dedent(
    """
    import time
    import numpy as np

    def kdce(model, case, seed, mc=16, offset=0.0):
        rng = np.random.default_rng(seed)
        row, pos = np.asarray(case.input_ids), np.asarray(case.answer_positions)
        n = pos.size
        m = rng.integers(1, n + 1, size=mc)
        batch = np.repeat(row[None], mc, 0)
        for j in range(mc):
            batch[j, pos[rng.permutation(n)[: m[j]]]] = case.mask_id
        logp = np.asarray(model(batch).logits, dtype=float)
        tok = np.take_along_axis(logp, np.repeat(row[None, :, None], mc, 0), 2)[..., 0]
        loss = np.where(batch == case.mask_id, -tok, 0.0)[:, pos].sum(1)
        return float(np.mean(loss * n / m)) + offset

    def offset(model, case, seed):
        return kdce(model, case, seed, mc=64, offset=0.5)

    def raises(model, case, seed):
        return {}["missing"]

    def nan(model, case, seed):
        return float("nan")

    def hangs(model, case, seed):
        time.sleep(30)

    def wrong_shape(model, case, seed):
        return float(model(np.asarray(case.input_ids)[None, 1:]).logits.sum())

    def wrong_id(model, case, seed):
        row = np.asarray(case.input_ids).copy()
        row[0] = 1000
        return float(model(row[None]).logits.sum())

    not_callable = 3
    """
)


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("project") / "myeval.py"
    path.write_text(EVALUATORS)
    return path


def _conform(user_file, name, *extra):
    return run_main("conform", f"{user_file}:{name}", "--backend", "numpy", "--case", "dna128:2", *extra)


def test_an_unbiased_evaluator_passes_and_writes_json(user_file, tmp_path):
    out = tmp_path / "r.json"
    status, stdout, stderr = _conform(
        user_file,
        "kdce",
        "--runs",
        "60",
        "--contract",
        "unbiased:cond_nll",
        "--contract",
        "mask_law:k_dce",
        "--reference",
        "k_dce:16",
        "--json",
        out,
    )
    assert status == 0, stdout + stderr
    assert "PASS  unbiased for cond_nll" in stdout and stdout.strip().splitlines()[-1].startswith("conform: PASS")
    record = json.loads(out.read_text())
    assert (
        record["passed"]
        and record["reports"][0]["n_runs"] == 60
        and record["reports"][0]["reference"] == "k_dce(n_samples=16)"
    )
    assert len(record["reports"][0]["verdicts"]) == 3


def test_a_biased_evaluator_fails_with_status_1(user_file):
    status, stdout, _ = _conform(user_file, "offset", "--runs", "200")
    assert status == 1 and "FAIL  unbiased for cond_nll" in stdout
    assert stdout.strip().splitlines()[-1].startswith("conform: FAIL (1 of 1 contracts)")


@pytest.mark.parametrize(
    "name, needle",
    [
        ("raises", "the evaluator raised KeyError: 'missing' (run 0"),
        ("nan", "the evaluator returned nan (run 0"),
        ("hangs", "the evaluator did not return within 0.5 s (run 0"),
        ("wrong_shape", "the evaluator called the model with shape (1, 7), expected (B, 8) (run 0"),
        ("wrong_id", "token id 1000 at row 0, position 0, outside the vocabulary 0..4 (run 0"),
    ],
)
def test_evaluator_failures_are_one_line_verdicts(user_file, name, needle):
    status, stdout, stderr = _conform(user_file, name, "--runs", "5", "--timeout", "0.5")
    assert status == 1
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("conform: FAIL — ") and needle in last
    assert "Traceback" not in stdout + stderr


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["nosuchmodule_xyz:f"], "cannot import 'nosuchmodule_xyz': ModuleNotFoundError"),
        (["{file}:absent"], "has no callable 'absent'"),
        (["{file}:not_callable"], "has no callable 'not_callable'"),
        (["justaname"], "must be MODULE:CALLABLE"),
        (["{file}:kdce", "--case", "mk9:3"], "unknown `--case` 'mk9:3'"),
        (["{file}:kdce", "--contract", "unbiased:entropy"], "unknown target 'entropy'"),
        (["{file}:kdce", "--runs", "1"], "`--runs` must be at least 2"),
        (["{file}:kdce", "--reference", "llada:x"], "`--reference` 'llada:x' must be"),
        (["{file}:kdce", "--token-map", "1,2,x"], "`--token-map` must be comma-separated integers"),
        (["{file}:kdce", "--mask-id", "0"], "`mask_id` 0 is also the id of a source token"),
    ],
)
def test_bad_options_are_refused(user_file, argv, needle):
    argv = [a.format(file=user_file) for a in argv]
    status, _, stderr = run_main("conform", *argv, "--backend", "numpy")
    assert_refused(status, stderr, "conform", needle)


def test_a_torch_adapter_with_a_remapped_vocabulary():
    pytest.importorskip("torch")
    code = textwrap.dedent(
        """
        import torch
        import torch.nn.functional as F

        def ar(model, case, seed):
            row = case.input_ids.clone()[None]
            pos = list(case.answer_positions)
            row[0, pos] = case.mask_id
            total = 0.0
            for p in pos:
                logits = model(row).logits[0, p].double()
                total -= F.log_softmax(logits, -1)[case.input_ids[p]].item()
                row[0, p] = case.input_ids[p]
            return total
        """
    )
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "tev.py"
        path.write_text(code)
        status, stdout, _ = run_main(
            "conform",
            f"{path}:ar",
            "--case",
            "mk4:3",
            "--contract",
            "exact:cond_nll:1e-6",
            "--runs",
            "2",
            "--token-map",
            "10,11,12,13",
            "--mask-id",
            "3",
            "--vocab-size",
            "20",
            "--bos-id",
            "1",
            "--dtype",
            "float32",
        )
    assert status == 0, stdout
    assert "PASS  exact for cond_nll" in stdout


def test_conform_module_adds_no_import_to_the_command_line():
    """`ctmc-lab --help` builds every subcommand's parser: conform's module brings in nothing but itself."""
    code = (
        "import sys, ctmc_lab.cli; before = set(sys.modules); import ctmc_lab.cli.conform; "
        "print(sorted(set(sys.modules) - before), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['ctmc_lab.cli.conform'] False"


def test_module_name_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "cwd_eval_mod.py").write_text(EVALUATORS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    status, stdout, _ = run_main(
        "conform", "cwd_eval_mod:kdce", "--backend", "numpy", "--case", "dna128:0", "--runs", "20"
    )
    assert status == 0, stdout


def test_every_json_field_is_documented(user_file, tmp_path):
    out = tmp_path / "r.json"
    status, _, _ = _conform(
        user_file,
        "kdce",
        "--runs",
        "30",
        "--contract",
        "unbiased:per_token_cond_nll:10",
        "--contract",
        "mask_law:k_dce",
        "--reference",
        "k_dce:16",
        "--mpmath",
        "--json",
        out,
    )
    assert status == 0
    schemas = (Path(__file__).resolve().parents[2] / "docs" / "json_schemas.md").read_text(encoding="utf-8")
    section = schemas[schemas.index("## `ctmc-lab conform --json PATH`") :].split("\n## ")[0]

    def keys(obj, found):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if not k.isdigit():  # variance_by_runs is keyed by run counts
                    found.add(k)
                if k not in ("targets", "target_values", "z_target"):  # keyed by target names
                    keys(v, found)
        elif isinstance(obj, list):
            for v in obj:
                keys(v, found)
        return found

    missing = sorted(
        k for k in keys(json.loads(out.read_text()), set()) if f'"{k}"' not in section and f"`{k}`" not in section
    )
    assert not missing
