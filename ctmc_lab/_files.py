"""Reading users' JSON files, with errors that say which file and why."""

from __future__ import annotations

import json
from os import PathLike


def read_json(path: str | PathLike, *, what: str):
    """Parse a JSON file; any failure becomes a ``ValueError`` naming ``what`` and the path.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file should hold, for the message (e.g. ``"distribution file"``).
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as err:
        raise ValueError(f"cannot read {what} {str(path)!r}: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON: {err}") from None
