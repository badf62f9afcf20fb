"""``ctmc-lab study``: a run writes the table, summary and figure; bad options are one-line errors."""

from __future__ import annotations

from tests.cli_helpers import assert_refused, run_main


def test_study_writes_table_summary_and_figure(tmp_path):
    status, out, err = run_main("study", "length-scaling", "--out", tmp_path, "--only", "binary-k2")
    assert status == 0, err
    base = tmp_path / "length-scaling"
    assert "fitted growth" in out and (base / "length-scaling.csv").exists()
    assert (base / "length-scaling.png").exists() and (base / "summary.txt").exists()
    assert "3/3 done, 0 running, 0 failed" in err
    # A second run into the same directory must say --resume.
    status, _, err = run_main("study", "length-scaling", "--out", tmp_path, "--only", "binary-k2")
    assert_refused(status, err, "study", "--resume")
    status, out, _ = run_main(
        "study", "length-scaling", "--out", tmp_path, "--only", "binary-k2", "--resume", "--quiet"
    )
    assert status == 0 and "0 run now" in out


def test_bad_options_are_refused(tmp_path):
    for argv, needle in (
        (("study", "nope"), "unknown study"),
        (("study", "coupling", "--grid", "huge"), "unknown grid"),
        (("study", "coupling", "--workers", "0"), "`--workers` must be a positive integer"),
        (("study", "coupling", "--budget", "1e-9", "--grid", "full"), "over the budget"),
        (("study", "coupling", "--only", "zzz"), "matches no case"),
    ):
        status, _, err = run_main(*argv, "--out", tmp_path / "o")
        assert_refused(status, err, "study", needle)
