"""Mutation testing of the verifier: plausible one-line bugs in the core that ``verify --quick`` must catch.

Each :class:`Mutant` replaces one exact line fragment of one ``ctmc_lab`` module. :func:`run`
copies the package tree (``ctmc_lab`` and ``proofs_check``) to a scratch directory, applies
one mutant there (the working tree is never touched), runs ``python -m proofs_check --quick``
with that copy first on ``PYTHONPATH``, and records whether it exited non-zero without a
Python traceback. The mutation score is the fraction caught.

Run all of them with ``python -m proofs_check.mutants`` (prints one line per mutant and the
score; exit 1 if any survives), a subset with ``--only`` (substrings of the names or the
areas, or the paths they target), the list with ``--list``. ``tests/proofs_check/test_mutants.py``
runs them in CI (``slow``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mutant", "MUTANTS", "apply", "select", "run", "main"]


@dataclass(frozen=True)
class Mutant:
    """One planted bug: in ``path`` (relative to the repository root), ``old`` -> ``new``."""

    name: str
    area: str
    path: str
    old: str
    new: str


MUTANTS = (
    # ---------------------------------------------------------------- kernels
    Mutant(
        "absorbing kernel: mask row gets e^{-s}",
        "kernels",
        "ctmc_lab/forward/generators.py",
        "    K[n, :n] = jump\n",
        "    K[n, :n] = decay\n",
    ),
    Mutant(
        "uniform kernel: jump spread over N+1",
        "kernels",
        "ctmc_lab/forward/generators.py",
        "    return decay * np.eye(n) + jump / n\n",
        "    return decay * np.eye(n) + jump / (n + 1)\n",
    ),
    Mutant(
        "absorbing marginal: deferred scale e^s, not e^s - 1",
        "kernels",
        "ctmc_lab/forward/marginals.py",
        "        final = (scale, scale * float(np.expm1(s)))\n",
        "        final = (scale, scale * float(np.exp(s)))\n",
    ),
    Mutant(
        "uniform generator: 1/(N-1) normalisation",
        "kernels",
        "ctmc_lab/forward/generators.py",
        "    return np.full((n, n), 1.0 / n) - np.eye(n)\n",
        "    return np.full((n, n), 1.0 / (n - 1)) - np.eye(n)\n",
    ),
    # ---------------------------------------------------------------- schedules
    Mutant(
        "loglinear σ(t) missing (1-ε)",
        "schedules",
        "ctmc_lab/forward/schedules.py",
        "        return (1 - self.eps) / (1 - (1 - self.eps) * self._check_t(t))\n",
        "        return 1.0 / (1 - (1 - self.eps) * self._check_t(t))\n",
    ),
    Mutant(
        "geometric σ(t) squared log-ratio",
        "schedules",
        "ctmc_lab/forward/schedules.py",
        "        return self._raw(t) * self._log_ratio\n",
        "        return self._raw(t) * self._log_ratio**2\n",
    ),
    Mutant(
        "cosine σ̄ = λ instead of -log(1-λ)",
        "schedules",
        "ctmc_lab/forward/schedules.py",
        "        return -np.log1p(-self._lam(self._check_t(t)))\n",
        "        return self._lam(self._check_t(t))\n",
    ),
    # ---------------------------------------------------------------- scores, K(a), orientation
    Mutant(
        "K(a) = a log a (no -a)",
        "scores",
        "ctmc_lab/exact/scores.py",
        "    return xlogy(a, a) - a\n",
        "    return xlogy(a, a)\n",
    ),
    Mutant(
        "DSE weight Q[v, x^i] (orientation)",
        "orientation",
        "ctmc_lab/exact/scores.py",
        "    w = Q[x]  # (B, L, S): Q[x^i, v], the rate v -> x^i\n",
        "    w = Q[:, x].transpose(1, 2, 0)  # (B, L, S): Q[v, x^i]\n",
    ),
    Mutant(
        "DSE ratio a inverted",
        "scores",
        "ctmc_lab/exact/scores.py",
        "    a = ky / kx[:, :, None]\n",
        "    a = kx[:, :, None] / ky\n",
    ),
    Mutant(
        "KL cross term sign",
        "information",
        "ctmc_lab/exact/information.py",
        "    value = np.where(infinite, 0.0, neg_entropy - cross)\n",
        "    value = np.where(infinite, 0.0, neg_entropy - 0.5 * cross)\n",
    ),
    # ---------------------------------------------------------------- harmonic and Beta weights
    Mutant(
        "harmonic number H_{n-1}",
        "harmonic",
        "ctmc_lab/masks.py",
        "    return float(np.sum(1.0 / np.arange(1, int(n) + 1)))\n",
        "    return float(np.sum(1.0 / np.arange(1, int(n))))\n",
    ),
    Mutant(
        "Beta weight B(m, L-m) in mask_weights",
        "beta",
        "ctmc_lab/masks.py",
        "    full_beta = np.exp(betaln(m[nz], length - m[nz] + 1))\n",
        "    full_beta = np.exp(betaln(m[nz], length - m[nz] + 2))\n",
    ),
    Mutant(
        "moments: λ-DCE second-moment weight B(m-1, n-m+2)",
        "moments",
        "ctmc_lab/estimation/families.py",
        "    w2 = np.where(m >= 2, np.exp(betaln(np.maximum(m - 1, 1), n - m + 1)), 0.0)\n",
        "    w2 = np.where(m >= 2, np.exp(betaln(np.maximum(m - 1, 1), n - m + 2)), 0.0)\n",
    ),
    # ---------------------------------------------------------------- the denoiser
    Mutant(
        "denoiser: numerator digit at v+1",
        "denoiser",
        "ctmc_lab/sources/joint.py",
        "        moved = index[:, None, None] + (np.arange(n)[None, None, :] - x[:, :, None]) * place[None, :, None]\n",
        "        moved = index[:, None, None] + (np.arange(n)[None, None, :] - x[:, :, None]) * place[None, ::-1, None]\n",
    ),
    Mutant(
        "denoiser: visible position not a point mass",
        "denoiser",
        "ctmc_lab/sources/joint.py",
        "        out = np.where(visible, point, out)\n",
        "        out = out\n",
    ),
    # ---------------------------------------------------------------- forward–backward
    Mutant(
        "backward pass forgets the emissions",
        "forward-backward",
        "ctmc_lab/sources/markov/inference.py",
        "        b, _ = _normalise(_absorb(b.reshape(cr, n, batch) * e[j][None], P3))\n",
        "        b, _ = _normalise(_absorb(b.reshape(cr, n, batch), P3))\n",
    ),
    Mutant(
        "forward pass starts uniform, not at π",
        "forward-backward",
        "ctmc_lab/sources/markov/inference.py",
        "    a = np.repeat(np.asarray(initial, dtype=float)[:, None], batch, axis=1)\n",
        "    a = np.full((n_ctx, batch), 1.0 / n_ctx)\n",
    ),
    # ---------------------------------------------------------------- samplers
    Mutant(
        "k-DCE draws m on 0..n",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "    q[1:] = 1.0 / n\n    return q, n * _inv_m(n)\n",
        "    q[:] = 1.0 / (n + 1)\n    return q, n * _inv_m(n)\n",
    ),
    Mutant(
        "mask-size cdf without the m = 0 slot",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "        cdf = np.cumsum(self.q)\n",
        "        cdf = np.cumsum(self.q[1:])\n",
    ),
    Mutant(
        "time-free value weight H_{n-1}",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "    return q, np.full(n + 1, h_n)\n",
        "    return q, np.full(n + 1, harmonic(n - 1))\n",
    ),
    Mutant(
        "λ-DCE masks with probability 1-λ",
        "samplers",
        "ctmc_lab/estimation/families.py",
        "            m = rng.binomial(oracle.n, lam)\n            out[sl] = oracle(sizes.draw(m, rng)) / lam\n",
        "            m = rng.binomial(oracle.n, 1.0 - lam)\n            out[sl] = oracle(sizes.draw(m, rng)) / lam\n",
    ),
    Mutant(
        "uniform masks of a size: offset off by one",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "            return self.sorted[self.offsets[m] + rng.integers(0, self.counts[m])]\n",
        "            return self.sorted[np.minimum(self.offsets[m] + rng.integers(0, self.counts[m]) + 1, "
        "self.sorted.size - 1)]\n",
    ),
    Mutant(
        "MaskDCE masks position j+1",
        "samplers",
        "ctmc_lab/exact/mask_dce.py",
        "        masked = ((glob[:, None] >> np.arange(self.length)) & 1).astype(bool)\n",
        "        masked = ((glob[:, None] >> (np.arange(self.length) + 1) % self.length) & 1).astype(bool)\n",
    ),
    # ---------------------------------------------------------------- moments
    Mutant(
        "scheme moments: probability of M ignores C(n, m)",
        "moments",
        "ctmc_lab/estimation/laws.py",
        "        return self.q[m] / comb(self.n, m)\n",
        "        return self.q[m] / (self.n + 1)\n",
    ),
    Mutant(
        "t-estimator moments: weight without 1/(1-ε)",
        "moments",
        "ctmc_lab/estimation/families.py",
        "    vals = vals.reshape(5, n + 1) / (1.0 - eps_s)\n",
        "    vals = vals.reshape(5, n + 1)\n",
    ),
    Mutant(
        "scheme variance: |dev| instead of dev²",
        "moments",
        "ctmc_lab/estimation/families.py",
        "        var = np.where(inf_mean, np.inf, dev**2 @ P)\n",
        "        var = np.where(inf_mean, np.inf, np.abs(dev) @ P)\n",
    ),
    Mutant(
        "reported stderr 4× too large",
        "samplers",
        "ctmc_lab/estimation/records.py",
        "        stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf\n",
        "        stderr = float(values.std(ddof=1) / np.sqrt(n) * 4) if n > 1 else np.inf\n",
    ),
    Mutant(
        "stratified k-DCE grid over k+1 strata",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "            v = (np.arange(k) + rng.random(k)) / k\n",
        "            v = (np.arange(k) + rng.random(k)) / (k + 1)\n",
    ),
    Mutant(
        "stratified λ-DCE grid over k+1 strata",
        "samplers",
        "ctmc_lab/estimation/families.py",
        "        lam = (np.arange(k) + 1.0 - u) / k if stratified else 1.0 - u\n",
        "        lam = (np.arange(k) + 1.0 - u) / (k + 1) if stratified else 1.0 - u\n",
    ),
    Mutant(
        "coupled log-ratio sign",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "            out[sl] = scheme.f[m] * (den(local) - num(local))\n",
        "            out[sl] = scheme.f[m] * (num(local) - den(local))\n",
    ),
    Mutant(
        "LLaDA counts: round half up, not half to even",
        "samplers",
        "ctmc_lab/estimation/llada.py",
        "x = np.rint(_linspace32(n, b, k)).astype(np.int64)",
        "x = np.floor(_linspace32(n, b, k) + 0.5).astype(np.int64)",
    ),
    Mutant(
        "LLaDA rows weighted n/(x+1)",
        "samplers",
        "ctmc_lab/estimation/llada.py",
        "out[lo : lo + batch_size] = (n / m) * oracle",
        "out[lo : lo + batch_size] = (n / (m + 1)) * oracle",
    ),
    Mutant(
        "LLaDA batch variance without its between-k term",
        "moments",
        "ctmc_lab/estimation/llada.py",
        "        var = list(within + between)\n",
        "        var = list(within)\n",
    ),
    Mutant(
        "forward–backward: visible positions not a point mass",
        "forward-backward",
        "ctmc_lab/sources/markov/inference.py",
        "    logp = np.where(visible[..., None], point, logp)\n",
        "    logp = logp\n",
    ),
)


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


def apply(mutant: Mutant, root: Path) -> None:
    """Apply ``mutant`` to the copy under ``root`` (the fragment must occur exactly once)."""
    target = root / mutant.path
    text = target.read_text()
    if text.count(mutant.old) != 1:
        raise ValueError(f"mutant {mutant.name!r}: the fragment occurs {text.count(mutant.old)} times in {mutant.path}")
    target.write_text(text.replace(mutant.old, mutant.new))


def _copy_tree(dest: Path) -> None:
    src = _root()
    for pkg in ("ctmc_lab", "proofs_check"):
        shutil.copytree(src / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))


def _one(mutant: Mutant, work: Path, timeout: float, args) -> tuple[Mutant, bool, str]:
    _copy_tree(work)
    apply(mutant, work)
    # One BLAS thread per run: the runs go side by side on the cores instead.
    env = dict(
        os.environ,
        PYTHONPATH=str(work),
        PYTHONDONTWRITEBYTECODE="1",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "proofs_check", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return mutant, False, f"timed out after {timeout:g} s"
    traceback_seen = "Traceback (most recent call last)" in proc.stdout + proc.stderr
    caught = proc.returncode != 0 and not traceback_seen
    summary = next(
        (line for line in reversed(proc.stdout.splitlines()) if line.startswith("verify")),
        proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "",
    )
    shutil.rmtree(work, ignore_errors=True)
    return mutant, caught, ("traceback; " if traceback_seen else "") + f"exit {proc.returncode}: {summary}"


def run(mutants=MUTANTS, *, timeout: float = 240.0, args=("--quick",), jobs: int = 2):
    """Run ``verify`` on each mutant in a scratch copy, ``jobs`` at a time; return a list of
    (mutant, caught, note) in the order of ``mutants``."""
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="ctmc-mutants-") as tmp:
        base = Path(tmp)
        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            futures = [pool.submit(_one, mutant, base / f"m{k}", timeout, args) for k, mutant in enumerate(mutants)]
            return [f.result() for f in futures]


def select(only: str | None, mutants=MUTANTS) -> tuple[Mutant, ...]:
    """The mutants whose name, area or path contains one of the comma-separated ``only`` terms."""
    if not only:
        return tuple(mutants)
    terms = [t.strip().lower() for t in only.split(",") if t.strip()]
    chosen = tuple(m for m in mutants if any(t in f"{m.name}\0{m.area}\0{m.path}".lower() for t in terms))
    if not chosen:
        raise ValueError(f"`--only` {only!r} selects no mutant; areas: {', '.join(sorted({m.area for m in mutants}))}")
    return chosen


def main(argv=None) -> int:
    """``python -m proofs_check.mutants [--only TERMS] [--list] [--jobs J] [--timeout S]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m proofs_check.mutants", description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="TERMS", help="comma-separated substrings of mutant names, areas or paths")
    parser.add_argument("--list", action="store_true", help="list the selected mutants and exit")
    parser.add_argument("--jobs", type=int, default=2, metavar="J", help="mutants run side by side (default: 2)")
    parser.add_argument("--timeout", type=float, default=240.0, metavar="S", help="seconds per mutant (default: 240)")
    args = parser.parse_args(argv)
    try:
        chosen = select(args.only)
    except ValueError as err:
        parser.error(str(err))
    if args.list:
        for m in chosen:
            print(f"[{m.area}] {m.name}: {m.path}")
        return 0
    results = run(chosen, timeout=args.timeout, jobs=args.jobs)
    for mutant, caught, note in results:
        print(f"{'caught  ' if caught else 'SURVIVED'} [{mutant.area}] {mutant.name}: {note}")
    caught = sum(c for _, c, _ in results)
    print(f"mutation score: {caught}/{len(results)} caught")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
