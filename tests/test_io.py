"""``ctmc_lab.io``: atomic writes, one float encoding, progress on stderr only on a terminal."""

from __future__ import annotations

import io as stdio
import json
import os

import numpy as np
import pytest

from ctmc_lab import io


class _Terminal(stdio.StringIO):
    def isatty(self):
        return True


def _write(path, text):
    path.write_text(text)
    return path


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    out = _write(tmp_path / "o.json", "old\n")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.write_json(out, {"new": 1})
    assert out.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["o.json"]


def test_an_unencodable_payload_writes_nothing(tmp_path):
    out = tmp_path / "o.json"
    with pytest.raises(TypeError):
        io.write_json(out, {"x": object()})
    assert not out.exists() and os.listdir(tmp_path) == []


def test_one_float_encoder_writes_null_for_nan_and_infinities(tmp_path):
    out = tmp_path / "o.json"
    io.write_json(
        out,
        {
            "a": float("nan"),
            "b": [np.inf, np.float64(-np.inf), np.float32(0.5)],
            "c": np.array([1.0, np.nan]),
            "d": (np.int64(3), np.bool_(True)),
        },
    )
    assert json.loads(out.read_text()) == {"a": None, "b": [None, None, 0.5], "c": [1.0, None], "d": [3, True]}


def test_write_json_replaces_the_file_and_keeps_its_permissions(tmp_path):
    out = _write(tmp_path / "o.json", "old\n")
    os.chmod(out, 0o640)
    io.write_json(out, {"b": [1, 2.5], "a": None})
    assert out.read_text() == '{\n  "b": [\n    1,\n    2.5\n  ],\n  "a": null\n}\n'
    assert os.stat(out).st_mode & 0o777 == 0o640 and os.listdir(tmp_path) == ["o.json"]


@pytest.mark.parametrize(
    "target, needle", [("missing/x.json", "does not exist"), (".", "is a directory")], ids=["no dir", "a dir"]
)
def test_check_writable_names_the_option_and_the_reason(tmp_path, target, needle):
    with pytest.raises(ValueError, match=needle) as err:
        io.check_writable(tmp_path / target, what="`--out`")
    assert str(err.value).startswith("`--out`")


def test_progress_draws_on_a_terminal_and_clears_its_line():
    stream = _Terminal()
    with io.Progress(4, "work", stream=stream) as bar:
        bar.update(2)
        bar.stage("second stage")
        bar.update(2)
    shown = stream.getvalue()
    assert "work [" in shown and "second stage [" + "#" * 30 + "] 4/4" in shown
    assert shown.endswith("\r") and "\n" not in shown  # the bar leaves the line empty, not a new line


def test_progress_writes_nothing_to_a_pipe_or_file():
    stream = stdio.StringIO()
    with io.Progress(3, "work", stream=stream) as bar:
        bar.update(3)
    assert stream.getvalue() == ""


def test_eprint_writes_to_stderr_only(capsys):
    io.eprint("a message", 3)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "a message 3\n"


def test_json_float_and_dumps_carry_no_nan():
    assert [io.json_float(x) for x in (0.25, np.float32(-2), float("nan"), -np.inf, None)] == [
        0.25,
        -2.0,
        None,
        None,
        None,
    ]
    text = io.dumps({"x": [np.nan, 1]})
    assert "NaN" not in text and json.loads(text) == {"x": [None, 1]}
