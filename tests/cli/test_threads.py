"""``--threads N|auto`` and ``CTMC_LAB_THREADS`` set the BLAS threads a command runs with
(default 1). The check reads the thread count the BLAS libraries report from inside the
command, so it fails if the limit is parsed but never applied."""

from __future__ import annotations

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

from ctmc_lab import cli  # noqa: E402
from ctmc_lab.cli import curve  # noqa: E402


def _blas_threads():
    return sorted({p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"})


@pytest.fixture
def seen(monkeypatch):
    """Replace `curve`'s work by a probe of the BLAS thread counts inside the command."""
    record = []

    def probe(args):
        record.append(_blas_threads())
        return 0

    monkeypatch.setattr(curve, "run", probe)
    monkeypatch.delenv("CTMC_LAB_THREADS", raising=False)
    return record


CURVE = ["curve", "--sequence", "AAAACGTC", "--times", "0.5"]


def test_default_is_one_thread(seen):
    if not _blas_threads():
        pytest.skip("no BLAS library reports its threads")
    assert cli.main(CURVE) == 0
    assert seen == [[1]]


@pytest.mark.parametrize("argv", [["--threads", "2", *CURVE], [*CURVE, "--threads", "2"]], ids=["before", "after"])
def test_threads_option_before_or_after_the_command(seen, argv):
    if not _blas_threads():
        pytest.skip("no BLAS library reports its threads")
    assert cli.main(argv) == 0
    assert seen == [[2]]


def test_auto_leaves_the_library_default(seen):
    outside = _blas_threads()
    if not outside:
        pytest.skip("no BLAS library reports its threads")
    assert cli.main(["--threads", "auto", *CURVE]) == 0
    assert seen == [outside]


def test_environment_variable_and_its_precedence(seen, monkeypatch):
    if not _blas_threads():
        pytest.skip("no BLAS library reports its threads")
    monkeypatch.setenv("CTMC_LAB_THREADS", "2")
    assert cli.main(CURVE) == 0
    assert cli.main([*CURVE, "--threads", "1"]) == 0
    assert seen == [[2], [1]]


@pytest.mark.parametrize("bad", ["0", "-1", "two"])
def test_bad_values_are_one_line_errors(seen, monkeypatch, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        cli.main([*CURVE, "--threads", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--threads" in err and "positive integer or 'auto'" in err and "Traceback" not in err
    monkeypatch.setenv("CTMC_LAB_THREADS", bad)
    assert cli.main(CURVE) == 2
    assert "`CTMC_LAB_THREADS` must be a positive integer or 'auto'" in capsys.readouterr().err
    assert seen == []


def test_version_is_the_package_version(capsys):
    import ctmc_lab

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"ctmc-lab {ctmc_lab.__version__}"
