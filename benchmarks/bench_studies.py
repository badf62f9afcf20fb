"""Study engine benchmarks: 1 → 2 local Dask workers, per-case cost against L, engine overhead per case.

Run ``python benchmarks/bench_studies.py``; prints ratios (no timed assertions anywhere). Targets:
≥ 1.8× from 1 to 2 workers on the atlas, engine overhead ≤ 5% of a median case. The machine's
own bound comes first: what two processes gain on cache-resident and on memory-bound twins,
since the atlas's large cases (subset tables over 4^12 supports) are bound by memory bandwidth.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import numpy as np

from ctmc_lab.studies import engine, sampler_atlas

# The L = 10 and 12 Dirichlet cases of the full atlas (0.4-0.9 s each): enough work that the
# cluster start (about 3 s) is a small part of the 2-worker wall time.
ONLY = "dirichlet/N=2/L=1"


def scaling() -> None:
    walls = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            # force_workers: on a machine with fewer usable cores the engine would cap 2 workers to
            # the cores and this would time the 1-worker run twice, under a 2-worker label.
            res = engine.run_study(
                "sampler-atlas",
                out_dir=out,
                grid="full",
                workers=workers,
                force_workers=True,
                only=ONLY,
                progress=None,
            )
            walls[workers] = time.perf_counter() - start
    print(
        f"scaling, {res.n_cases} atlas cases ({ONLY}*): 1 worker {walls[1]:.2f} s, 2 workers {walls[2]:.2f} s "
        f"(incl. cluster start), speed-up {walls[1] / walls[2]:.2f}x"
    )


def cost_against_length() -> None:
    for L in (3, 6, 8, 10, 12):
        cases = [
            c
            for c in sampler_atlas.cases("full")
            if c.key.startswith(f"dirichlet/N=2/L={L:02d}/alpha=0.5/support=full")
        ]
        times = []
        for case in cases:
            start = time.perf_counter()
            rows = sampler_atlas.run_case(case, rng=engine.case_seed(0, case.key))
            times.append(time.perf_counter() - start)
        print(
            f"cost per case, Dirichlet N=2 L={L:>2}: {statistics.median(times) * 1e3:8.1f} ms "
            f"({len(rows)} sequences, {2**L} masks)"
        )


def overhead() -> None:
    """Engine time per case (seeding, record writing, table) over the median run_case time, serial."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        res = engine.run_study("sampler-atlas", out_dir=out, grid="full", only=ONLY, progress=None)
        wall = time.perf_counter() - start
    per_case = (wall - res.case_seconds.sum()) / res.n_cases
    median = float(np.median(res.case_seconds))
    print(
        f"engine overhead per case: {per_case * 1e3:.2f} ms = {per_case / median:.1%} of a median case "
        f"({median * 1e3:.0f} ms)"
    )


def _compute_twin(_):
    """Cache-resident work: small matrix products and an interpreter loop (scales with cores)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        a = np.random.default_rng(0).random((300, 300))
        total = sum(float((a @ a).sum()) for _ in range(400))
    return total + sum(i * i for i in range(3_000_000))


def _memory_twin(_):
    """Memory-bound work: sums over a 50 MB array, far above the caches (scales with bandwidth)."""
    a = np.ones(50_000_000 // 8)
    return sum(float(a.sum()) for _ in range(60))


def machine_bounds() -> None:
    """What two processes can gain on this machine at all: the physical bound for the engine's speed-up."""
    import multiprocessing as mp

    for name, twin in (("compute-bound", _compute_twin), ("memory-bound", _memory_twin)):
        twin(0)
        start = time.perf_counter()
        twin(0), twin(1)
        serial = time.perf_counter() - start
        with mp.get_context("spawn").Pool(2) as pool:
            pool.map(twin, [0, 1])
            start = time.perf_counter()
            pool.map(twin, [0, 1])
            parallel = time.perf_counter() - start
        print(f"machine bound, {name} twin: 2 processes {serial / parallel:.2f}x faster than 1")


if __name__ == "__main__":
    machine_bounds()
    overhead()
    cost_against_length()
    scaling()
    sys.exit(0)
