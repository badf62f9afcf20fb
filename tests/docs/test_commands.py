"""Every command and every Python block of the README and the docs runs as written.

Each page (README.md, CONTRIBUTING.md, docs/**/*.md, found by glob) runs in a scratch
directory, its steps in document order (:mod:`tests.docs.runner`): a command must exit 0, a
Python block must not raise, a value or output the page shows must be what the code gives.
Nothing is skipped silently; the tables below are the only exceptions, each with its reason:

* :data:`SLOW`: documented commands too large for CI, each replaced by a stated smaller one;
* :data:`NOT_RUN`: commands not meant to run inside the test suite (installing, building the
  docs, the test suite itself, tools that rewrite tracked files);
* :data:`NOT_RUN_PYTHON`: Python blocks that need what the project does not install;
* :data:`KNOWN_BROKEN`: pages that fail on main today and are being fixed elsewhere; they
  still run, must fail with the error named, and fail the test once they pass (so the entry
  is removed when the fix lands).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, pages
from tests.docs.runner import normalise, run_command, run_python, steps, tokens, transcript_problems

#: Documented command -> (why it does not run as written in CI, the smaller command run instead).
SLOW = {
    "ctmc-lab verify": (
        "the full verifier, every check at all precisions (row W6 of the README's table); "
        "tests/proofs_check/test_runner.py runs every check in quick mode",
        "ctmc-lab verify --quick --only 'Thm 4.1'",
    ),
    "CTMC_LAB_THREADS=auto ctmc-lab verify": (
        "the full verifier, as above; the thread setting is what the page shows",
        "CTMC_LAB_THREADS=auto ctmc-lab verify --quick --only 'Thm 4.1'",
    ),
    "ctmc-lab verify --dist my.json": (
        "every check on the user's table at all precisions",
        "ctmc-lab verify --dist my.json --quick --only 'Thm 4.1,Cor 4.3'",
    ),
    "ctmc-lab nll --dist markov4": (
        "the paper's Fig. 1b protocol, 64 pairs × 65,535 masks and 8192 draws each (about 10 s of "
        "CPU, minutes on a loaded machine); tests/cli/test_budget.py runs these defaults as written",
        "ctmc-lab nll --dist markov4 --pairs 2 --mc-samples 1024",
    ),
    "ctmc-lab --threads 2 nll": (
        "all 128 D128 sequences with two BLAS threads, several times slower than one on a busy machine",
        "ctmc-lab --threads 2 nll --sequence AAAACGTC",
    ),
    "ctmc-lab bench": (
        "every benchmark workload, repeated (minutes)",
        "ctmc-lab bench --only W1 --repeats 1",
    ),
    "ctmc-lab bench --out /tmp/bench.json": (
        "every benchmark workload, repeated (minutes)",
        "ctmc-lab bench --only W1 --repeats 1 --out bench.json",
    ),
    "ctmc-lab figures --out docs/figures --formats png": (
        "all 14 figures",
        "ctmc-lab figures --out docs/figures --formats png --only imdse_curves",
    ),
    "ctmc-lab study sampler-atlas --grid full --workers 2 --out results": (
        "the full grid, 664 cases",
        "ctmc-lab study sampler-atlas --grid small --workers 2 --out results",
    ),
    "ctmc-lab study sampler-atlas --grid full --out results --resume": (
        "the full grid, 664 cases",
        "ctmc-lab study sampler-atlas --grid small --out results --resume",
    ),
}

#: Program or exact command -> why a page shows it but the test suite does not run it.
NOT_RUN = {
    "pip": "installs the package; the tests run on the installed checkout",
    "pytest": "the test suite itself",
    "sphinx-build": "builds the docs: CI runs it after pytest (.ci/run), with -W -n and the dead-link check",
    "jupyter": "opens JupyterLab or re-executes a notebook; tests/test_notebooks.py executes all four",
    "pre-commit": "installs git hooks",
    "ruff": "the linters: CI runs them after pytest (.ci/run)",
    "python benchmarks/run.py --readme README.md": (
        "a full benchmark run that rewrites the tracked README table and benchmarks/results.json; "
        "tests/cli/test_bench.py runs the same path on stub workloads"
    ),
    "python benchmarks/threads.py": (
        "times every command at one and two BLAS threads, with CPU burners on every core (minutes, "
        "and it loads the machine); it has no smaller size"
    ),
}

#: (page, first line of the block) -> why the Python block is not run.
NOT_RUN_PYTHON = {
    ("docs/user_guide/studies.md", "from dask_jobqueue import SLURMCluster"): (
        "starts a SLURM cluster through dask-jobqueue, which the project does not install"
    ),
}

#: Page -> (owner, the error it stops with on main today). The lead empties this table after
#: merging the owners' branches; a page listed here that runs clean fails the test.
KNOWN_BROKEN: dict[str, tuple[str, str]] = {}

PAGES = [str(p.relative_to(ROOT)) for p in pages()]


def _program(command: str) -> str:
    words = [w for w in tokens(command) if "=" not in w or w.startswith("-")]
    return words[0] if words else ""


def plan(command: str) -> str | None:
    """The command to run for a documented one: itself, its smaller stand-in, or None."""
    key = normalise(command)
    for name in NOT_RUN:
        if key == normalise(name) or (" " not in name and _program(key) == name):
            return None
    for name, (_, smaller) in SLOW.items():
        if key == normalise(name):
            return smaller
    return command


def run_page(path, cwd, page: str) -> list[str]:
    """Every failure of the steps of the page at ``path`` (called ``page`` in messages), run in
    ``cwd``, as "page:line: what went wrong"."""
    namespace = {"__name__": "__docs__"}
    failures = []
    for step in steps(path):
        where = f"{page}:{step.line}"
        if step.kind == "file":
            target = Path(cwd) / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        if step.kind == "python":
            first = step.text.strip().splitlines()[0]
            if (page, first) in NOT_RUN_PYTHON:
                continue
            try:
                problems, output = run_python(step.text, namespace, page, step.line, cwd)
            except Exception as err:  # the block raised: report it as a reader would see it
                failures.append(f"{where}: the Python block raises {type(err).__name__}: {err}")
                break
            failures += problems
        else:
            command = plan(step.text)
            if command != step.text and step.transcript is not None:
                failures.append(
                    f"{where}: the output shown after `{step.text}` cannot be checked: it does not run as written"
                )
            if command is None:
                continue
            status, output, err = run_command(command, cwd)
            if status != 0:
                failures.append(f"{where}: `{command}` exits {status}: {(err or output).strip()[-800:]}")
                continue
        if step.transcript is not None and (step.kind == "python" or command == step.text):
            for line in transcript_problems(step.transcript, output):
                failures.append(f"{page}:{step.transcript_line}: the output shown has {line.strip()!r}, not printed")
    return failures


def _child(conn, path, cwd, page):
    conn.send(run_page(path, cwd, page))
    conn.close()


def run_page_alone(path, cwd, page: str) -> list[str]:
    """:func:`run_page` in a fresh interpreter, as a reader runs a page in a new session: what a
    page registers (an estimator, a noise process) or imports does not reach the next page."""
    if not steps(path):
        return []
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(send, path, cwd, page))
    child.start()
    send.close()
    try:
        failures = receive.recv() if receive.poll(PAGE_TIMEOUT) else [f"{page}: no answer in {PAGE_TIMEOUT} s"]
    except EOFError:  # the child died before answering
        child.join()
        failures = [f"{page}: the runner's process died with exit status {child.exitcode}"]
    child.join(10)
    if child.is_alive():
        child.kill()
    return failures


#: Seconds a page may take before its run counts as hung.
PAGE_TIMEOUT = 1800


@pytest.mark.slow  # every page's commands: minutes in all (CI runs it)
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_written(page, tmp_path):
    failures = run_page_alone(ROOT / page, tmp_path, page)
    if page in KNOWN_BROKEN:
        owner, error = KNOWN_BROKEN[page]
        assert failures, f"{page} runs clean now: remove it from KNOWN_BROKEN ({owner})"
        assert any(error in f for f in failures), f"{page} fails, but not as KNOWN_BROKEN says: {failures}"
        pytest.xfail(f"known broken, owner: {owner}: {error}")
    assert not failures, "\n".join(failures)


def _documented() -> tuple[set[str], set[tuple[str, str]]]:
    commands, blocks = set(), set()
    for page in PAGES:
        for step in steps(ROOT / page):
            if step.kind == "shell":
                commands.add(normalise(step.text))
            else:
                blocks.add((page, step.text.strip().splitlines()[0]))
    return commands, blocks


def test_every_table_entry_names_something_documented():
    commands, blocks = _documented()
    programs = {_program(c) for c in commands}
    stale = [c for c in SLOW if normalise(c) not in commands]
    stale += [c for c in NOT_RUN if (normalise(c) not in commands if " " in c else c not in programs)]
    stale += [f"{page}: {first}" for page, first in NOT_RUN_PYTHON if (page, first) not in blocks]
    stale += [page for page in KNOWN_BROKEN if page not in PAGES]
    assert not stale, f"entries that match nothing in the docs (remove or update them): {stale}"


def test_the_smaller_commands_are_smaller_versions_of_the_documented_ones():
    for command, (_, smaller) in SLOW.items():
        assert _program(smaller) == _program(command)
        assert tokens(command)[:2] == tokens(smaller)[:2], (command, smaller)


def test_the_paper_defaults_of_the_markov_protocol_stay_documented():
    commands, _ = _documented()
    assert "ctmc-lab nll --dist markov4" in commands


PLANTED = """# A page with one mistake of each kind

```bash
ctmc-lab nll --dist nosuch.json
ctmc-lab curve --sequence AAAACGTC --times 0.5
```

```python
import numpy as np
np.arange(3)            # array([0, 1, 3])
print(np.pi)
# 3.14159
print("a b")
```

```text
a c
```

```python
1 / 0
```

```python
never = "reached"
```
"""


def test_the_runner_reports_every_kind_of_failure(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PLANTED, encoding="utf-8")
    failures = run_page(page, tmp_path, "page.md")
    assert len(failures) == 4, failures
    assert failures[0].startswith("page.md:4: `ctmc-lab nll --dist nosuch.json` exits 2: ctmc-lab nll: error:")
    assert failures[1] == "page.md:10: `np.arange(3)` gives 'array([0, 1, 2])', the page says 'array([0, 1, 3])'"
    assert failures[2] == "page.md:16: the output shown has 'a c', not printed"
    assert failures[3] == "page.md:21: the Python block raises ZeroDivisionError: division by zero"
