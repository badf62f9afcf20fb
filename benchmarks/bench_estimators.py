"""Benchmarks of the likelihood estimators on D128 (``python benchmarks/bench_estimators.py``).

Measures
--------
1. exact moments of the six ``nll --json`` estimators for all 128 D128 sequences
   (target ≤ 2 s), by the subset-table fast path and by the generic denoiser path;
2. Monte Carlo throughput with the optimal denoiser on D128 (target ≥ 10^6 mask draws/s);
3. exact enumeration (2^8 - 1 masks per sequence) against the paper's Monte Carlo protocol
   (2^15 time-free draws per sequence, ``eval_sequence.py``), both with c*: wall time, and
   denoiser rows a model without a cache would evaluate;
4. which unbiased sampler wins where, and how close the pilot-fitted mask-size sampler gets to
   the best mask-size law.

No pytest: these are numbers to record, not pass/fail checks.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from ctmc_lab.estimation import estimators as E
from ctmc_lab.estimation import moments as Mo
from ctmc_lab.estimation.moments import estimator_fields
from ctmc_lab.exact.mask_dce import MaskDCE, exact_nll, optimal_mask_dce
from ctmc_lab.sources.datasets import dna128
from ctmc_lab.sources.denoisers import OptimalDenoiser


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    p = dna128()
    c = OptimalDenoiser(p)
    S = p.support
    print(f"D128: {p.support_size} sequences, L = {p.length}")

    # 1. exact moments of all six estimators for all 128 sequences
    t_fast, _ = best_of(lambda: estimator_fields(p, S))
    t_generic, _ = best_of(lambda: estimator_fields(p, S, denoiser=c), repeat=1)
    print(
        f"[1] exact moments, 6 estimators x 128 sequences: subset-table path {t_fast * 1e3:.1f} ms, "
        f"generic denoiser path {t_generic * 1e3:.0f} ms (target <= 2000 ms)"
    )

    # 2. MC throughput with c*: one sequence, many draws (cache warm after the first batch)
    draws = 1 << 22
    for name in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce"):
        oracle = MaskDCE(c, S[0])
        t, _ = best_of(lambda: E.estimate(name, oracle, n_samples=draws, rng=0, batch_size=1 << 16))
        print(f"[2] {name:<14} {draws / t / 1e6:6.2f} M mask draws/s ({draws} draws, batch 2^16, cached MaskDCE)")
    t, _ = best_of(lambda: E.time_free(c, S[0], n_samples=1 << 20, rng=0, batch_size=1 << 16))
    print(f"[2] time_free from a cold start (builds its MaskDCE): {(1 << 20) / t / 1e6:.2f} M draws/s (2^20 draws)")

    # 3. exact enumeration vs the paper's MC protocol (2^15 draws per sequence)
    t_exact, nll = best_of(lambda: np.array([exact_nll(c, x) for x in S]), repeat=1)
    assert np.max(np.abs(nll - p.nll(S))) < 1e-12
    mc_draws = 1 << 15

    def paper_protocol():
        return [E.time_free(c, x, n_samples=mc_draws, rng=42, batch_size=1 << 15) for x in S]

    t_mc, ests = best_of(paper_protocol, repeat=1)
    err = np.array([e.mean for e in ests]) - p.nll(S)
    # Without the mask cache (a neural network): every draw is one denoiser row.
    x = S[7]
    k = 1 << 12
    rng = np.random.default_rng(0)
    masked = np.where(rng.random((k, p.length)) < 0.5, p.n_tokens, x)
    t_rows, _ = best_of(lambda: c(masked))
    per_row = t_rows / k
    print(
        f"[3] exact enumeration, 128 sequences x 255 masks (generic denoiser path): {t_exact:.3f} s; "
        f"max |exact - (-log p0)| = {np.max(np.abs(nll - p.nll(S))):.1e}"
    )
    print(
        f"[3] paper MC protocol, 128 x 2^15 time-free draws (cached): {t_mc:.3f} s; "
        f"RMS error {np.sqrt(np.mean(err**2)):.4f} nats; time ratio exact/MC = {t_exact / t_mc:.3f}"
    )
    print(
        f"[3] denoiser rows: enumeration 255/sequence, MC 32768/sequence -> {32768 / 255:.0f}x fewer; "
        f"uncached c* rows cost {per_row * 1e6:.1f} us, so the uncached protocol would take "
        f"{128 * 32768 * per_row:.1f} s vs {128 * 255 * per_row:.3f} s enumerated"
    )

    # 4. which sampler wins, and the pilot-fitted mask-size sampler
    A = optimal_mask_dce(p, S)
    winners = Counter()
    factors, fitted_ratio, best_ratio_vs_winner = [], [], []
    for row in range(len(S)):
        cmp_ = Mo.compare_samplers(A[row])
        winners[cmp_.winner] += 1
        factors.append(cmp_.factor_vs_time_free)
        q = Mo.fit_mask_size_weights(c, S[row], pilot_per_size=4, rng=row)
        v_fit = Mo.estimator_moments(A[row], "mask_size_importance", weights=q).variance
        fitted_ratio.append(v_fit / cmp_.best_mask_size_variance)
        best_ratio_vs_winner.append(cmp_.variances[cmp_.winner] / v_fit)
    print(
        f"[4] lowest exact variance among unbiased samplers: {dict(winners)}; winner vs time_free "
        f"variance factor: median {np.median(factors):.2f}, range {min(factors):.2f}-{max(factors):.2f}"
    )
    print(
        f"[4] pilot-fitted mask-size sampler (4 pilot draws per m, 32 rows): Var / Var(best q*) median "
        f"{np.median(fitted_ratio):.2f}, 90% {np.quantile(fitted_ratio, 0.9):.2f}; it beats the best "
        f"unbiased sampler by a median factor {np.median(best_ratio_vs_winner):.1f}"
    )


if __name__ == "__main__":
    main()
