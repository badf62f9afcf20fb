"""Mutation score of the held-out bugs: ``verify --quick`` alone, then with the test suite.

``python -m benchmarks.mutation_score [--jobs J] [--only TERMS] [--tests all|not-slow] [--json PATH]``

Each mutant of :data:`proofs_check.mutants.HELD_OUT` is planted, one at a time, in a scratch
copy of the repository (the working tree is never touched):

(a) ``python -m proofs_check --quick`` runs on the copy (:func:`proofs_check.mutants.run`);
    the mutant is killed when it exits non-zero without a traceback;
(b) for each survivor of (a), pytest runs on the copy, restricted to the test files that
    import the mutated module (its dotted name, ``from PARENT import NAME``, or, for a
    command-line module ``ctmc_lab/cli/X.py``, the test files that call the command ``"X"``),
    by default without the ``slow`` tests (``--tests all`` includes them). The mutant is killed
    when a selected test fails. A mutant no test file imports is counted as a survivor of (b).

The report gives both scores with counts, and lists every survivor. Exit status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from proofs_check import mutants

ROOT = Path(__file__).resolve().parent.parent
_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".ruff_cache", ".pytest_cache", "*.egg-info")


def module_name(path: str) -> str:
    """``ctmc_lab/cli/nll.py`` -> ``ctmc_lab.cli.nll``."""
    return path[: -len(".py")].replace("/", ".")


def selected_tests(path: str, root: Path = ROOT) -> list[str]:
    """The test files (relative paths) that import the module at ``path``."""
    dotted = module_name(path)
    parent, _, name = dotted.rpartition(".")
    patterns = [re.escape(dotted) + r"\b", rf"from {re.escape(parent)} import [^\n]*\b{re.escape(name)}\b"]
    if parent == "ctmc_lab.cli":
        patterns.append(rf"[\"']{re.escape(name)}[\"']")
    found = []
    for test in sorted((root / "tests").rglob("test_*.py")):
        text = test.read_text()
        if any(re.search(p, text) for p in patterns):
            found.append(str(test.relative_to(root)))
    return found


def _pytest(mutant: mutants.Mutant, work: Path, tests: list[str], marker: str | None, timeout: float):
    shutil.copytree(ROOT, work, ignore=_IGNORE)
    mutants.apply(mutant, work)
    env = dict(os.environ, PYTHONPATH=str(work), PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
    if marker:
        cmd += ["-m", marker]
    try:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        shutil.rmtree(work, ignore_errors=True)
        return False, f"pytest timed out after {timeout:g} s"
    shutil.rmtree(work, ignore_errors=True)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:]
    # 1: some test failed; 5 would be "no test selected", which kills nothing.
    return proc.returncode == 1, f"pytest exit {proc.returncode}: {last}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation_score", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run side by side (default 2)")
    parser.add_argument("--only", help="comma-separated substrings of mutant names, areas or paths")
    parser.add_argument("--tests", choices=("not-slow", "all"), default="not-slow", help="which selected tests run")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per verify or pytest run")
    parser.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    chosen = mutants.select(args.only, mutants.HELD_OUT)
    verify = mutants.run(chosen, timeout=args.timeout, jobs=args.jobs)
    survivors = [(m, note) for m, caught, note in verify if not caught]
    marker = None if args.tests == "all" else "not slow"
    with tempfile.TemporaryDirectory(prefix="ctmc-score-") as tmp, ThreadPoolExecutor(max(1, args.jobs)) as pool:
        jobs = {}
        for k, (m, _) in enumerate(survivors):
            tests = selected_tests(m.path)
            if tests:
                jobs[m.name] = (tests, pool.submit(_pytest, m, Path(tmp) / f"t{k}", tests, marker, args.timeout))
        by_tests = {name: (tests, *fut.result()) for name, (tests, fut) in jobs.items()}
    rows = []
    for m, caught, note in verify:
        tests, killed, test_note = by_tests.get(m.name, ([], False, "no test file imports this module"))
        rows.append(
            {
                "name": m.name,
                "area": m.area,
                "path": m.path,
                "verify_quick": caught,
                "verify_note": note,
                "tests": tests if not caught else None,
                "tests_kill": killed if not caught else None,
                "tests_note": test_note if not caught else None,
            }
        )
    n = len(rows)
    a = sum(r["verify_quick"] for r in rows)
    b = a + sum(bool(r["tests_kill"]) for r in rows)
    for r in rows:
        if r["verify_quick"]:
            print(f"verify  [{r['area']}] {r['name']}")
        elif r["tests_kill"]:
            print(f"tests   [{r['area']}] {r['name']}: {r['tests_note']}")
        else:
            print(f"SURVIVED [{r['area']}] {r['name']}: {r['verify_note']}; {r['tests_note']}")
    print(f"killed by verify --quick: {a}/{n} ({100 * a / n:.0f}%)")
    print(f"killed by verify --quick + tests ({args.tests}, files importing the module): {b}/{n} ({100 * b / n:.0f}%)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"mutants": rows, "verify_quick": [a, n], "with_tests": [b, n], "tests": args.tests}, fh, indent=1
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
