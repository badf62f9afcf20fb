"""``ctmc-lab bench`` writes where ``--out`` says, never merges rows of two machines or
source trees, and regenerates the README's table in one command. The workloads are replaced
by a stub: what is tested is the bookkeeping, not the timings."""

from __future__ import annotations

import json

import pytest

from ctmc_lab.cli import bench, main


@pytest.fixture
def runner(monkeypatch):
    module = bench._runner()

    def stub(repeats):
        long = "a note long enough to need wrapping at a hundred columns, " * 4
        return [module.Row("W1", "stub workload", 0.25, 1.0, "≤ 1 s", 4.0, None, True, repeats, notes=long)]

    monkeypatch.setitem(module.WORKLOADS, "W1", stub)
    monkeypatch.setitem(
        module.WORKLOADS, "W2", lambda r: [module.Row("W2", "other", 2.0, 3.0, "≤ 30 s", 5.9, None, True, r)]
    )
    monkeypatch.setattr(module, "WORKLOADS", {k: module.WORKLOADS[k] for k in ("W1", "W2")})
    return module


def test_default_output_is_the_current_directory(runner, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    tracked = runner.README_RECORD.read_bytes()
    assert main(["bench", "--only", "W1", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any("stub workload" in line for line in printed) and max(map(len, printed)) <= 100
    doc = json.loads((tmp_path / "bench_results.json").read_text())
    assert [r["id"] for r in doc["workloads"]] == ["W1"]
    assert {"git_commit", "git_dirty", "blas_threads", "cpu_count"} <= set(doc["machine"])
    assert runner.README_RECORD.read_bytes() == tracked  # the checkout's record is untouched


def test_partial_run_merges_only_with_the_same_machine_and_tree(runner, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bench", "--only", "W1", "--repeats", "1", "--out", str(out)]) == 0
    assert main(["bench", "--only", "W2", "--repeats", "1", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["id"] for r in doc["workloads"]] == ["W1", "W2"]
    assert doc["machine"]["merged_runs"] == 2

    # The same file as if measured elsewhere, or on another commit: refused, file unchanged.
    for key, value in (("cpu_model", "another CPU"), ("git_commit", "0" * 40), ("git_diff_sha1", "f" * 40)):
        forged = json.loads(out.read_text())
        forged["machine"][key] = value
        out.write_text(json.dumps(forged))
        capsys.readouterr()
        assert main(["bench", "--only", "W1", "--repeats", "1", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "refusing to add rows" in err and key in err and "Traceback" not in err
        assert json.loads(out.read_text()) == forged

    # A full run replaces the file whatever it held.
    assert main(["bench", "--repeats", "1", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert "merged_runs" not in doc["machine"] and doc["machine"]["cpu_model"] != "another CPU"


def test_readme_table_regenerated_between_markers(runner, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{runner.README_START}\nstale table 97.6\n{runner.README_END}\nafter\n")
    record = tmp_path / "results.json"
    assert main(["bench", "--repeats", "1", "--readme", str(readme), "--out", str(record)]) == 0
    text = readme.read_text()
    assert "stale" not in text and text.startswith("# x\n\nbefore\n") and text.endswith(f"{runner.README_END}\nafter\n")
    assert "| W1 | stub workload | 250.0 ms | 1 | 4.0 | - | ≤ 1 s | yes |" in text
    assert "| W2 | other | 2.00 s |" in text and "machine: " in text
    assert [r["id"] for r in json.loads(record.read_text())["workloads"]] == ["W1", "W2"]

    capsys.readouterr()
    assert main(["bench", "--only", "W1", "--readme", str(readme)]) == 2
    assert "full run" in capsys.readouterr().err
    readme.write_text("no markers\n")
    assert main(["bench", "--readme", str(readme), "--out", "-"]) == 2
    assert "markers" in capsys.readouterr().err


def test_the_readme_has_the_markers():
    text = (bench.RUNNER.parents[1] / "README.md").read_text(encoding="utf-8")
    module = bench._runner()
    assert module.README_START in text and module.README_END in text


def test_verify_and_help_rows_are_ratios_to_baselines_of_the_same_run(monkeypatch):
    """W8 (``verify --quick``) and W9 (``--help``) time child commands interleaved with their
    baselines; with the children replaced by fixed timings, the rows say what they compare:
    W8 the one-worker run over the default run, W9 the start-up beyond ``python -c pass``."""
    module = bench._runner()
    seen = []

    def fake_child(argv):
        seen.append(argv[1:])
        if "--help" in argv:
            return 0.45, 0.4, 0, "usage"
        if argv[1:] == ["-c", "pass"]:
            return 0.05, 0.04, 0, ""
        if argv[1:] == ["-c", "import numpy"]:
            return 0.15, 0.1, 0, ""
        if "--list" in argv:
            return 1.2, 1.1, 0, ""
        if "--jobs" in argv:
            return 8.0, 7.5, 0, "verify OK"
        return 4.0, 8.0, 0, "verify OK: 250 passed"

    monkeypatch.setattr(module, "_child", fake_child)
    [w9] = module.w9(3)
    assert w9.median_s == pytest.approx(0.40) and w9.ratio_vs_bound == pytest.approx(9.0) and not w9.met
    assert seen[:3] == [["-m", "ctmc_lab.cli", "--help"], ["-c", "pass"], ["-c", "import numpy"]]  # interleaved
    [w8] = module.w8(2)
    assert w8.median_s == 4.0 and w8.ratio_vs_naive == pytest.approx(2.0) and w8.met
    assert w8.details["exit_codes"] == [0, 0] and "verify OK" in w8.notes
    assert {"W8", "W9"} <= set(module.WORKLOADS) and set(module.REPEATS) == set(module.WORKLOADS)
