"""Reading users' JSON files, with errors that say which file and why.

A file is read only if it is a regular file of at most :data:`MAX_FILE_BYTES` (so ``/dev/zero``
or a pipe is refused at once, not read until memory runs out). The parser refuses what JSON
permits but a table of numbers cannot mean: a key given twice (which would otherwise keep
the last value silently), integers too large for a float, and nesting too deep to parse.
"""

from __future__ import annotations

import json
import os
import stat
from os import PathLike

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
    name = str(path)
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
