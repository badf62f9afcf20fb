"""BLAS threads against wall time for each ``ctmc-lab`` command at its typical size.

``python benchmarks/threads.py [--repeats R] [--busy B] [--out PATH]`` runs every command
below as a child process with ``--threads 1`` and ``--threads 2`` (the CLI's own option, so the
measurement also exercises it), first on the machine as it is and then with ``B`` CPU burners
running (default 2: one per core of the 2-core reference machine), and prints the median wall
time of each. It is a development measurement, not a test: the numbers belong to the machine
and to whatever else runs on it, which the printed load averages record.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (label, argv after ``ctmc-lab``) at the sizes the README runs them.
COMMANDS = [
    ("verify", ["verify"]),
    ("nll (D128)", ["nll"]),
    ("nll --dist markov4", ["nll", "--dist", "markov4"]),
    (
        "curve (uniform, 8 times)",
        [
            "curve",
            "--sequence",
            "{seq}",
            "--process",
            "uniform",
            "--schedule",
            "linear",
            "--times",
            "0.01,0.05,0.1,0.2,0.5,1,2,5",
        ],
    ),
    ("estimate (time_free, 2^12)", ["estimate", "--estimator", "time_free", "--samples", "4096", "--seed", "0"]),
    (
        "figures (fig1a, imdse, csv)",
        ["figures", "--only", "fig1a_dna128_nll,imdse_curves", "--formats", "csv", "--out", "{tmp}"],
    ),
]


def _burn(stop) -> None:  # pragma: no cover - runs in a child process
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _run(argv: list[str], threads: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ctmc_lab.cli", "--threads", str(threads), *argv],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def measure(repeats: int, busy: int) -> list[dict]:
    from ctmc_lab.sources import datasets

    seq = datasets.dna128().decode(datasets.dna128().support[:1])[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for condition, n_burn in (("as is", 0), (f"{busy} burners", busy)):
            stop = mp.Event()
            burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(n_burn)]
            for b in burners:
                b.start()
            try:
                for label, argv in COMMANDS:
                    argv = [a.format(seq=seq, tmp=tmp) for a in argv]
                    load0 = os.getloadavg()[0]
                    times = {n: [] for n in (1, 2)}
                    for _ in range(repeats):  # interleaved, so a drift in load hits both alike
                        for n in (1, 2):
                            times[n].append(_run(argv, n))
                    row = {
                        "condition": condition,
                        "command": label,
                        "load_average": load0,
                        **{f"threads_{n}_s": statistics.median(t) for n, t in times.items()},
                        "times_s": {str(n): t for n, t in times.items()},
                    }
                    rows.append(row)
                    print(
                        f"{condition:<10} {label:<30} 1 thread {row['threads_1_s']:7.2f} s   2 threads "
                        f"{row['threads_2_s']:7.2f} s   2/1 = {row['threads_2_s'] / row['threads_1_s']:.2f}   "
                        f"(load {load0:.2f})",
                        flush=True,
                    )
            finally:
                stop.set()
                for b in burners:
                    b.join(timeout=5)
                    if b.is_alive():
                        b.terminate()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/threads.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per command and thread count (default: 2)")
    parser.add_argument("--busy", type=int, default=2, help="CPU burners for the busy condition (default: 2)")
    parser.add_argument("--out", default="-", help="also write the rows as JSON here (default: '-', do not)")
    args = parser.parse_args(argv)
    rows = measure(args.repeats, args.busy)
    if args.out != "-":
        Path(args.out).write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
