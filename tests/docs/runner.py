"""Running a Markdown page as a reader would: its shell commands and Python blocks, in order.

A page is read into :class:`Step` objects in document order:

* every line of a ```` ```bash ````/``shell``/``sh`` fence is a command (``$ `` lines of a
  ``console`` fence; a trailing ``\\`` continues a line); ``&&`` separates commands;
* every ```` ```python ```` fence is a block, run in one namespace per page, like a doctest
  session; an expression statement followed by a comment that reads as its value
  (``p0.nll(x0)   # array([0.9, 1.6])``, on the line or right below it, a comment line
  indented after its ``#`` continuing it), or a ``print(...)`` followed by what it prints
  (``# mean 1.0123``: any comment right below a print is its output, so a remark after a print
  needs a blank line first), is checked against what the code gives (:func:`same_output`);
* a ```` ```text ```` fence right after a code fence (nothing but blank lines between) is that
  code's output: every line of it must appear, in order, in what the code printed
  (:func:`transcript_problems`; a line ``...`` skips output, a line ending in ``...`` is a prefix);
* a ```` ```python ```` fence whose first line is ``# file: PATH`` is a file the reader saves,
  not code to run: it is written to ``PATH`` for the commands after it.

Commands run in a scratch directory, ``ctmc-lab`` in-process through :func:`ctmc_lab.cli.main`
(the console script and ``python -m ctmc_lab.cli`` are the same function), ``python`` in a
subprocess of this interpreter, anything else (``echo ... > file``) through ``bash``.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

from tests.docs.markdown import ROOT, SHELL, fences, parse

#: Shell operators that need a real shell.
OPERATORS = {">", ">>", "<", "|", ";", "&", ">&", "<&", "||"}


@dataclass
class Step:
    """One thing a reader runs: a shell command or a Python block, with the output shown after it."""

    kind: str  # "shell" or "python"
    line: int  # where it starts on the page (1-based)
    text: str  # the command (comment stripped) or the block's source
    transcript: str | None = None  # the ```text fence that follows, if any
    transcript_line: int = 0
    path: str = ""  # where a "file" step is saved


#: The first line of a Python fence that is a file to save, not code to run.
_FILE = re.compile(r"\A\s*# file: (\S+)\s*\n")


def tokens(command: str) -> list[str]:
    """A command's words as the shell splits them (quotes removed, ``#`` comments dropped)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def commands(line: str) -> list[str]:
    """The commands of one shell line, split at ``&&``, each as a normalised string."""
    out, current = [], []
    for word in tokens(line):
        if word == "&&":
            out.append(current)
            current = []
        else:
            current.append(word)
    out.append(current)
    return [_join(words) for words in out if words]


def _join(words: list[str]) -> str:
    return " ".join(w if w in OPERATORS else shlex.quote(w) for w in words)


def normalise(command: str) -> str:
    """One spelling of a command, so that a table key matches however the page quotes it."""
    (only,) = commands(command)
    return only


def _shell_lines(fence) -> list[tuple[int, str]]:
    lines, pending, start = [], "", 0
    for k, raw in enumerate(fence.content.splitlines()):
        if fence.info == "console":
            if not raw.startswith("$ "):
                continue
            raw = raw[2:]
        if not pending:
            start = fence.line + 1 + k
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        text = (pending + raw).strip()
        pending = ""
        if text and not text.startswith("#"):
            lines.append((start, text))
    return lines


def steps(page: Path) -> list[Step]:
    """The shell commands and Python blocks of ``page`` in document order, with their transcripts."""
    text = page.read_text(encoding="utf-8")
    source = text.splitlines()
    out: list[Step] = []
    previous = None
    for fence in fences(parse(text)):
        follows = previous is not None and all(not s.strip() for s in source[previous.end - 1 : fence.line - 1])
        if fence.info == "text" and follows and out and out[-1].line >= previous.line:
            out[-1].transcript, out[-1].transcript_line = fence.content, fence.line
        elif fence.info in SHELL:
            for line, command in _shell_lines(fence):
                out += [Step("shell", line, c) for c in commands(command)]
        elif fence.info == "python" and (saved := _FILE.match(fence.content)):
            out.append(Step("file", fence.line + 1, fence.content, path=saved.group(1)))
        elif fence.info == "python":
            out.append(Step("python", fence.line + 1, fence.content))
        previous = fence
    return out


# ---------------------------------------------------------------- comparing outputs

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?\binf\b|\bnan\b")
#: A comment that reads as a value, not as prose.
_VALUE = re.compile(r"^(array\(|[A-Z]\w*\(|[-+]?\d|[\[{(]|True\b|False\b|None\b|'|\")")


def _split(text: str) -> tuple[list[str], list[str]]:
    numbers = _NUMBER.findall(text)
    words = ["".join(part.split()) for part in _NUMBER.split(text)]
    return numbers, words


def _close(shown: str, actual: str) -> bool:
    """A number as printed against the value: within half a unit of its last printed digit,
    or 1e-12 relative (so a rounding-level residual such as ``5.3e-15`` is any residual that
    small, whatever the platform's last bits)."""
    if shown.lstrip("+-") in ("inf", "nan") or actual.lstrip("+-") in ("inf", "nan"):
        return shown.lstrip("+") == actual.lstrip("+")
    a, b = float(shown), float(actual)
    mantissa, _, exponent = shown.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - decimals)
    return abs(a - b) <= max(0.5 * unit * (1 + 1e-9), 1e-12 * max(1.0, abs(a)))


def same_output(shown: str, actual: str) -> bool:
    """``actual`` reads as ``shown``: the same text between numbers (whitespace ignored) and
    each number within :func:`_close` of the one shown."""
    (shown_numbers, shown_words), (numbers, words) = _split(shown), _split(actual)
    if shown_words != words or len(shown_numbers) != len(numbers):
        return False
    return all(_close(s, a) for s, a in zip(shown_numbers, numbers))


def transcript_problems(transcript: str, output: str) -> list[str]:
    """Lines of a documented transcript that the output does not contain, in order."""
    actual = output.splitlines()
    k = 0
    missing = []
    for line in transcript.splitlines():
        if not line.strip() or line.strip() in ("...", "…"):
            continue
        prefix = line.rstrip().endswith("...")
        want = line.rstrip()[:-3].rstrip() if prefix else line
        for j in range(k, len(actual)):
            if same_output(want, _prefix(actual[j], want) if prefix else actual[j]):
                k = j + 1
                break
        else:
            missing.append(line)
    return missing


def _prefix(line: str, want: str) -> str:
    """The start of ``line`` holding as many non-space characters as ``want`` does."""
    needed, seen = len("".join(want.split())), 0
    for end, char in enumerate(line):
        seen += not char.isspace()
        if seen == needed:
            return line[: end + 1]
    return line


# ---------------------------------------------------------------- running


def _env(extra: dict) -> dict:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_command(command: str, cwd: Path) -> tuple[int, str, str]:
    """Run one documented command in ``cwd``: (exit status, stdout, stderr)."""
    words = tokens(command)
    env = {}
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if any(w in OPERATORS for w in words) or words[0] not in ("ctmc-lab", "python"):
        done = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=_env({}), capture_output=True, text=True, timeout=900
        )
        return done.returncode, done.stdout, done.stderr
    if words[0] == "python":
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=900
        )
        return done.returncode, done.stdout, done.stderr
    from ctmc_lab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _chdir_env(cwd, env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(words[1:])
        except SystemExit as stop:  # argparse's usage errors
            status = stop.code if isinstance(stop.code, int) else 2
    return status, out.getvalue(), err.getvalue()


@contextlib.contextmanager
def _chdir_env(cwd: Path, env: dict):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.chdir(cwd):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _comments(source: str) -> dict[int, tuple[str, bool]]:
    """Line number -> (comment text, whether the line holds code too)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            code = tok.line[: tok.start[1]].strip()
            out[tok.start[0]] = (tok.string[1:], bool(code))
    return out


def _is_print(stmt: ast.stmt) -> bool:
    return isinstance(stmt.value, ast.Call) and getattr(stmt.value.func, "id", None) == "print"


def claimed_output(stmt: ast.stmt, comments) -> str | None:
    """The value a comment claims for an expression statement: its inline comment, or the
    comment lines right below it (a line whose text is indented continues the one above)."""
    if not isinstance(stmt, ast.Expr):
        return None
    # What print() writes is text of any shape; any other value reads as a repr.
    reads = (lambda text: True) if _is_print(stmt) else _VALUE.match
    inline = comments.get(stmt.end_lineno)
    if inline and inline[1]:
        text = inline[0].strip()
        return text if reads(text) else None
    below = comments.get(stmt.end_lineno + 1)
    if not below or below[1] or not reads(below[0].strip()):
        return None
    lines, k = [below[0].strip()], stmt.end_lineno + 2
    while k in comments and not comments[k][1] and comments[k][0].startswith("  "):
        lines.append(comments[k][0].strip())
        k += 1
    return " ".join(lines)


def run_python(source: str, namespace: dict, filename: str, first_line: int, cwd: Path) -> tuple[list[str], str]:
    """Run a block statement by statement in ``namespace``: (claims that do not hold, stdout)."""
    tree = ast.parse(source, filename)
    comments = _comments(source)
    problems = []
    out = io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out):
        for stmt in tree.body:
            claim = claimed_output(stmt, comments)
            where = f"{filename}:{first_line + stmt.lineno - 1}"
            if claim is None:
                module = ast.Module([stmt], type_ignores=[])
                ast.increment_lineno(module, first_line - 1)
                exec(compile(module, filename, "exec"), namespace)
                continue
            is_print = _is_print(stmt)
            expr = ast.Expression(stmt.value)
            ast.increment_lineno(expr, first_line - 1)
            before = out.tell()
            value = eval(compile(expr, filename, "eval"), namespace)
            actual = out.getvalue()[before:].rstrip("\n") if is_print else repr(value)
            if not same_output(claim, actual):
                problems.append(f"{where}: `{ast.unparse(stmt)}` gives {actual!r}, the page says {claim!r}")
    return problems, out.getvalue()
