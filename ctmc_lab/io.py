"""Files in and out: users' JSON read with errors that say why, outputs written atomically, one float encoding.

* :func:`read_json`: a user's JSON file is read only if it is a regular file of at most
  :data:`MAX_FILE_BYTES` (so ``/dev/zero`` or a pipe is refused at once). The parser refuses what
  JSON permits but a table of numbers cannot mean: a key given twice, integers too large for a
  float, and nesting too deep to parse.

* :func:`json_float` / :func:`to_json_value`: JSON has no NaN or infinity, so every float
  goes through one rule: a finite float is kept, ``inf``/``-inf``/NaN become ``null``.
  Numpy scalars and arrays are converted on the way; nothing else is silently coerced.
* :func:`write_json` / :func:`write_text` / :func:`write_bytes`: the content is produced in memory first, written to a
  temporary file in the target's directory, flushed to disk and moved over the target with
  ``os.replace``. A run that fails or is interrupted leaves either the old file or none,
  never a truncated one.
* :func:`check_writable`: fails early (before a long run) when the target cannot be written.
* :class:`Progress` / :func:`eprint`: what a long run shows on stderr, so that stdout carries only
  results (a table, or JSON piped on).

Errors are ``ValueError`` naming the option and the reason, for the command line's one-line
``error:`` message.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from os import PathLike

import numpy as np

from ctmc_lab._validation import InvalidTypeError, ensure_int, ensure_str

__all__ = [
    "read_json",
    "MAX_FILE_BYTES",
    "json_float",
    "to_json_value",
    "dumps",
    "write_json",
    "write_text",
    "write_bytes",
    "check_writable",
    "Progress",
    "eprint",
]


def json_float(x):
    """A float for JSON: ``None`` stays ``None``; infinities and NaN become ``None``.

    Examples
    --------
    >>> json_float(0.5), json_float(float("inf")), json_float(np.float64("nan"))
    (0.5, None, None)
    """
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise InvalidTypeError(f"`x` must be None or a real number (got {type(x).__name__})")
    try:
        x = float(x)
    except OverflowError:  # an int beyond float64
        return None
    return x if math.isfinite(x) else None


def to_json_value(obj):
    """``obj`` with every float through :func:`json_float` and numpy types made plain.

    Raises
    ------
    TypeError
        For an object JSON cannot carry (a programming error, not a user's).
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return json_float(obj)
    if isinstance(obj, np.ndarray):
        return to_json_value(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_value(v) for v in obj]
    raise InvalidTypeError(f"`obj` holds a {type(obj).__name__}, which JSON cannot carry")


def dumps(payload) -> str:
    """The JSON text of ``payload`` (indented, newline-terminated), floats by :func:`json_float`."""
    return json.dumps(to_json_value(payload), indent=2, allow_nan=False) + "\n"


def _path(path, what: str) -> str:
    """``path`` as a ``str``: a non-empty str or ``os.PathLike`` without NUL characters."""
    what = ensure_str(what, "what")
    name = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(name, str):
        raise InvalidTypeError(f"`path` for {what} must be a str or os.PathLike file path (got {path!r})")
    if not name or "\x00" in name:
        raise ValueError(f"`path` for {what} must be a non-empty file path without NUL characters (got {name!r})")
    return ensure_str(name, "path")


def check_writable(path, *, what: str = "`--json`") -> None:
    """Refuse early a ``path`` that cannot be written: a directory, or a missing/unwritable parent.

    Raises
    ------
    ValueError
        Naming ``what`` and the reason.
    """
    path = _path(path, what)
    if os.path.isdir(path):
        raise ValueError(f"{what} {path!r} is a directory, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{what} {path!r}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path!r}: directory {parent!r} is not writable")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{what} {path!r} exists and is not a regular file")


def write_text(path, text: str, *, what: str = "`--json`") -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: see :func:`write_bytes`."""
    text = ensure_str(text, "text", allow_empty=True)
    write_bytes(path, text.encode("utf-8"), what=what)


def write_bytes(path, data: bytes, *, what: str = "`--json`") -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory, then rename).

    The old file, if any, stays in place until the new one is complete on disk.
    """
    path = _path(path, what)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidTypeError(f"`data` must be bytes (got {type(data).__name__})")
    check_writable(path, what=what)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = None, None
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fd = None
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if os.path.exists(path):
            # Keep the permissions of the file being replaced (mkstemp creates it 0600).
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise ValueError(f"cannot write {what} file {path!r}: {err.strerror or err}") from None
    finally:
        if fd is not None:
            os.close(fd)
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path, payload, *, what: str = "`--json`") -> None:
    """Write ``payload`` as JSON to ``path`` atomically; NaN and infinities become ``null``.

    The text is built completely before the file is touched, so an encoding error leaves
    no partial file.
    """
    write_text(path, dumps(payload), what=what)


#: Largest input file read (64 MiB: a dense 4^10 table as JSON is about 30 MiB).
MAX_FILE_BYTES = 64 << 20


def _parse_int(digits: str) -> float:
    if len(digits.lstrip("-")) > 309:  # beyond 1.8e308, and before int() spends time on it
        raise OverflowError(digits[:20])
    return float(int(digits))


def _unique_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _DuplicateKey(Exception):
    pass


def read_json(path: str | PathLike, *, what: str):
    """Parse a JSON file; any failure becomes a ``ValueError`` naming ``what`` and the path.

    Integers are read as floats (every reader wants numbers), so ``1`` and ``1.0`` agree.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file should hold, for the message (e.g. ``"distribution file"``).
    """
    name = _path(path, what)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{what} {name!r} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(
                f"{what} {name!r} has {info.st_size / 2**20:.1f} MiB; at most {MAX_FILE_BYTES >> 20} MiB are read"
            )
        with open(path, encoding="utf-8") as fh:
            text = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        raise ValueError(f"cannot read {what} {name!r}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{what} {name!r} is not UTF-8 text: {err.reason}") from None
    if len(text) > MAX_FILE_BYTES:
        raise ValueError(f"{what} {name!r} grew past {MAX_FILE_BYTES >> 20} MiB while being read")
    try:
        return json.loads(text, parse_int=_parse_int, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} {name!r} is not valid JSON: {err}") from None
    except OverflowError:
        raise ValueError(f"{what} {name!r} holds an integer too large for a float (above 1.8e308)") from None
    except _DuplicateKey as err:
        raise ValueError(f"{what} {name!r} gives the key {err.args[0]!r} twice; each key must appear once") from None
    except RecursionError:
        raise ValueError(f"{what} {name!r} nests arrays or objects too deeply to be a table") from None


def eprint(*args) -> None:
    """``print`` to stderr: messages that must not mix with the results on stdout."""
    print(*args, file=sys.stderr)


class Progress:
    """A minimal progress indicator on stderr, shown only on a terminal.

    Use as ``with Progress(total, "label") as bar: ... bar.update(k)``. On a pipe or a file it
    writes nothing, so a captured stderr holds only messages.

    Parameters
    ----------
    total : int
        Units of work in the whole run (at least 1 is shown).
    label : str
        What is being computed, shown before the bar.
    stream : file-like, optional
        Where to draw (default ``sys.stderr``); drawn only if ``stream.isatty()``.
    """

    def __init__(self, total: int, label: str, *, stream=None):
        self.total = max(ensure_int(total, "total", minimum=0), 1)
        self.label = ensure_str(label, "label", allow_empty=True)
        if stream is not None and not callable(getattr(stream, "write", None)):
            raise InvalidTypeError(f"`stream` must be None or a file-like object with `write` (got {stream!r})")
        self.stream = stream or sys.stderr
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self._start = time.perf_counter()
        self._last = 0.0

    def __enter__(self):
        return self

    def stage(self, label: str) -> None:
        """Show what is being computed now, keeping the count."""
        label = ensure_str(label, "label", allow_empty=True)
        if label != self.label:
            self.label = label
            self._last = 0.0
            self.update(0)

    def update(self, k: int = 1) -> None:
        """Count ``k`` more units done; redraw at most every 0.2 s (and at the end, or on a new stage)."""
        self.done += ensure_int(k, "k", minimum=0)
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.2 or self.done >= self.total or k == 0):
            self._last = now
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            self.stream.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {now - self._start:5.1f}s")
            self.stream.flush()

    def __exit__(self, *exc):
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + 60) + "\r")
            self.stream.flush()
        return False
