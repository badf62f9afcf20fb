"""Mutation testing of the verifier: plausible one-line bugs in the core that ``verify --quick`` must catch.

Each :class:`Mutant` replaces one exact line fragment of one ``ctmc_lab`` module. :func:`run`
copies the package tree (``ctmc_lab`` and ``proofs_check``) to a scratch directory, applies
one mutant there (the working tree is never touched), runs ``python -m proofs_check --quick``
with that copy first on ``PYTHONPATH``, and records whether it exited non-zero without a
Python traceback. The mutation score is the fraction caught.

Run all of them with ``python -m proofs_check.mutants`` (prints one line per mutant and the
score; exit 1 if any survives), a subset with ``--only`` (substrings of the names or the
areas, or the paths they target), the list with ``--list``. ``tests/proofs_check/test_mutants.py``
runs them in CI (``slow``). :data:`HELD_OUT` is a second list, of bugs across the whole package,
scored by ``benchmarks/mutation_score.py`` (verify alone, and verify with the tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mutant", "MUTANTS", "HELD_OUT", "apply", "select", "run", "main"]


@dataclass(frozen=True)
class Mutant:
    """One planted bug: in ``path`` (relative to the repository root), ``old`` -> ``new``.

    ``caught_by`` names the checks (``verify --only`` terms) that fail on it: a targeted run
    (:func:`run` with ``targeted=True``) verifies only those, so the test suite shows each bug
    caught by the check meant to catch it in seconds, where the whole ``--quick`` suite per
    mutant takes minutes for the list. They were read off full runs (the failing rows of
    ``verify --quick --json`` on each mutant), never chosen to make a mutant pass.
    """

    name: str
    area: str
    path: str
    old: str
    new: str
    caught_by: str | None = None


MUTANTS = (
    # ---------------------------------------------------------------- kernels
    Mutant(
        "absorbing kernel: mask row gets e^{-s}",
        "kernels",
        "ctmc_lab/forward/generators.py",
        "    K[n, :n] = jump\n",
        "    K[n, :n] = decay\n",
        caught_by="cor36.dense_process,kernels.twin",
    ),
    Mutant(
        "uniform kernel: jump spread over N+1",
        "kernels",
        "ctmc_lab/forward/generators.py",
        "    return decay * np.eye(n) + jump / n\n",
        "    return decay * np.eye(n) + jump / (n + 1)\n",
        caught_by="kernels.twin,scores.mdse_methods",
    ),
    Mutant(
        "absorbing marginal: deferred scale e^s, not e^s - 1",
        "kernels",
        "ctmc_lab/forward/marginals.py",
        "        final = (scale, scale * float(np.expm1(s)))\n",
        "        final = (scale, scale * float(np.exp(s)))\n",
        caught_by="cor36.dense_process,cor37.process",
    ),
    Mutant(
        "uniform generator: 1/(N-1) normalisation",
        "kernels",
        "ctmc_lab/forward/generators.py",
        "    return np.full((n, n), 1.0 / n) - np.eye(n)\n",
        "    return np.full((n, n), 1.0 / (n - 1)) - np.eye(n)\n",
        caught_by="kernels.twin,scores.mdse_methods",
    ),
    # ---------------------------------------------------------------- schedules
    Mutant(
        "loglinear σ(t) missing (1-ε)",
        "schedules",
        "ctmc_lab/forward/schedules.py",
        "        return (1 - self.eps) / (1 - (1 - self.eps) * self._check_t(t))\n",
        "        return 1.0 / (1 - (1 - self.eps) * self._check_t(t))\n",
        caught_by="schedules.consistency,schedules.registry_inverses",
    ),
    Mutant(
        "geometric σ(t) squared log-ratio",
        "schedules",
        "ctmc_lab/forward/schedules.py",
        "        return self._raw(t) * self._log_ratio\n",
        "        return self._raw(t) * self._log_ratio**2\n",
        caught_by="schedules.consistency,schedules.registry_inverses",
    ),
    Mutant(
        "cosine σ̄ = λ instead of -log(1-λ)",
        "schedules",
        "ctmc_lab/forward/schedules.py",
        "        return -np.log1p(-self._lam(self._check_t(t)))\n",
        "        return self._lam(self._check_t(t))\n",
        caught_by="schedules.consistency,schedules.registry_inverses",
    ),
    # ---------------------------------------------------------------- scores, K(a), orientation
    Mutant(
        "K(a) = a log a (no -a)",
        "scores",
        "ctmc_lab/exact/scores.py",
        "    return xlogy(a, a) - a\n",
        "    return xlogy(a, a)\n",
        caught_by="lemma33.normalised,lemma33.unnormalised",
    ),
    Mutant(
        "DSE weight Q[v, x^i] (orientation)",
        "orientation",
        "ctmc_lab/exact/scores.py",
        "    w = Q[x]  # (B, L, S): Q[x^i, v], the rate v -> x^i\n",
        "    w = Q[:, x].transpose(1, 2, 0)  # (B, L, S): Q[v, x^i]\n",
        caught_by="thm31.control.dse_orientation,lemma33.normalised",
    ),
    Mutant(
        "DSE ratio a inverted",
        "scores",
        "ctmc_lab/exact/scores.py",
        "    a = ky / kx[:, :, None]\n",
        "    a = kx[:, :, None] / ky\n",
        caught_by="lemma33.normalised,lemma33.unnormalised",
    ),
    Mutant(
        "KL cross term sign",
        "information",
        "ctmc_lab/exact/information.py",
        "    value = np.where(infinite, 0.0, neg_entropy - cross)\n",
        "    value = np.where(infinite, 0.0, neg_entropy - 0.5 * cross)\n",
        caught_by="cor36.dense_process,thm31.control.dse_orientation",
    ),
    # ---------------------------------------------------------------- harmonic and Beta weights
    Mutant(
        "harmonic number H_{n-1}",
        "harmonic",
        "ctmc_lab/masks.py",
        "    return float(np.sum(1.0 / np.arange(1, int(n) + 1)))\n",
        "    return float(np.sum(1.0 / np.arange(1, int(n))))\n",
        caught_by="llada.designs,ratios.coupled_decoupled_moments",
    ),
    Mutant(
        "Beta weight B(m, L-m) in mask_weights",
        "beta",
        "ctmc_lab/masks.py",
        "    full_beta = np.exp(betaln(m[nz], length - m[nz] + 1))\n",
        "    full_beta = np.exp(betaln(m[nz], length - m[nz] + 2))\n",
        caught_by="algebra.cor37_beta,conditional.helpers",
    ),
    Mutant(
        "moments: λ-DCE second-moment weight B(m-1, n-m+2)",
        "moments",
        "ctmc_lab/estimation/families.py",
        "    w2 = np.where(m >= 2, np.exp(betaln(np.maximum(m - 1, 1), n - m + 1)), 0.0)\n",
        "    w2 = np.where(m >= 2, np.exp(betaln(np.maximum(m - 1, 1), n - m + 2)), 0.0)\n",
        caught_by="moments.variances",
    ),
    # ---------------------------------------------------------------- the denoiser
    Mutant(
        "denoiser: numerator digit at v+1",
        "denoiser",
        "ctmc_lab/sources/joint.py",
        "        moved = index[:, None, None] + (np.arange(n)[None, None, :] - x[:, :, None]) * place[None, :, None]\n",
        "        moved = index[:, None, None] + (np.arange(n)[None, None, :] - x[:, :, None]) * place[None, ::-1, None]\n",
        caught_by="thm35.minimiser,cor43.control.whole_length_harmonic",
    ),
    Mutant(
        "denoiser: visible position not a point mass",
        "denoiser",
        "ctmc_lab/sources/joint.py",
        "        out = np.where(visible, point, out)\n",
        "        out = out\n",
        caught_by="denoisers.mixed_tempered,denoiser.brute_force",
    ),
    # ---------------------------------------------------------------- forward–backward
    Mutant(
        "backward pass forgets the emissions",
        "forward-backward",
        "ctmc_lab/sources/markov/inference.py",
        "        b, _ = _normalise(_absorb(b.reshape(cr, n, batch) * e[j][None], P3))\n",
        "        b, _ = _normalise(_absorb(b.reshape(cr, n, batch), P3))\n",
        caught_by="markov.cor43_prompt_response,markov.forward_backward",
    ),
    Mutant(
        "forward pass starts uniform, not at π",
        "forward-backward",
        "ctmc_lab/sources/markov/inference.py",
        "    a = np.repeat(np.asarray(initial, dtype=float)[:, None], batch, axis=1)\n",
        "    a = np.full((n_ctx, batch), 1.0 / n_ctx)\n",
        caught_by="markov.forward_backward,sources.marginals",
    ),
    # ---------------------------------------------------------------- samplers
    Mutant(
        "k-DCE draws m on 0..n",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "    q[1:] = 1.0 / n\n    return q, n * _inv_m(n)\n",
        "    q[:] = 1.0 / (n + 1)\n    return q, n * _inv_m(n)\n",
        caught_by="registry.stratification,ratios.coupled_decoupled_moments",
    ),
    Mutant(
        "mask-size cdf without the m = 0 slot",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "        cdf = np.cumsum(self.q)\n",
        "        cdf = np.cumsum(self.q[1:])\n",
        caught_by="registry.stratification,estimators.conditional_and_ratio",
    ),
    Mutant(
        "time-free value weight H_{n-1}",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "    return q, np.full(n + 1, h_n)\n",
        "    return q, np.full(n + 1, harmonic(n - 1))\n",
        caught_by="ratios.coupled_decoupled_moments,estimators.exact_mean",
    ),
    Mutant(
        "λ-DCE masks with probability 1-λ",
        "samplers",
        "ctmc_lab/estimation/families.py",
        "            m = rng.binomial(oracle.n, lam)\n            out[sl] = oracle(sizes.draw(m, rng)) / lam\n",
        "            m = rng.binomial(oracle.n, 1.0 - lam)\n            out[sl] = oracle(sizes.draw(m, rng)) / lam\n",
        caught_by="estimators.monte_carlo",
    ),
    Mutant(
        "uniform masks of a size: offset off by one",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "            return self.sorted[self.offsets[m] + rng.integers(0, self.counts[m])]\n",
        "            return self.sorted[np.minimum(self.offsets[m] + rng.integers(0, self.counts[m]) + 1, "
        "self.sorted.size - 1)]\n",
        caught_by="registry.stratification,estimators.conditional_and_ratio",
    ),
    Mutant(
        "MaskDCE masks position j+1",
        "samplers",
        "ctmc_lab/exact/mask_dce.py",
        "        masked = ((glob[:, None] >> np.arange(self.length)) & 1).astype(bool)\n",
        "        masked = ((glob[:, None] >> (np.arange(self.length) + 1) % self.length) & 1).astype(bool)\n",
        caught_by="decompositions.nll_routes,estimators.exact_mean",
    ),
    # ---------------------------------------------------------------- moments
    Mutant(
        "scheme moments: probability of M ignores C(n, m)",
        "moments",
        "ctmc_lab/estimation/laws.py",
        "        return self.q[m] / comb(self.n, m)\n",
        "        return self.q[m] / (self.n + 1)\n",
        caught_by="ratios.coupled_decoupled_moments,estimators.exact_mean",
    ),
    Mutant(
        "t-estimator moments: weight without 1/(1-ε)",
        "moments",
        "ctmc_lab/estimation/families.py",
        "    vals = vals.reshape(5, n + 1) / (1.0 - eps_s)\n",
        "    vals = vals.reshape(5, n + 1)\n",
        caught_by="moments.t_variance,moments.variances",
    ),
    Mutant(
        "scheme variance: |dev| instead of dev²",
        "moments",
        "ctmc_lab/estimation/families.py",
        "        var = np.where(inf_mean, np.inf, dev**2 @ P)\n",
        "        var = np.where(inf_mean, np.inf, np.abs(dev) @ P)\n",
        caught_by="moments.variances,cli.nll_records",
    ),
    Mutant(
        "reported stderr 4× too large",
        "samplers",
        "ctmc_lab/estimation/records.py",
        "        stderr = float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else np.inf\n",
        "        stderr = float(values.std(ddof=1) / np.sqrt(n) * 4) if n > 1 else np.inf\n",
        caught_by="estimators.monte_carlo",
    ),
    Mutant(
        "stratified k-DCE grid over k+1 strata",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "            v = (np.arange(k) + rng.random(k)) / k\n",
        "            v = (np.arange(k) + rng.random(k)) / (k + 1)\n",
        caught_by="registry.stratification,estimators.monte_carlo",
    ),
    Mutant(
        "stratified λ-DCE grid over k+1 strata",
        "samplers",
        "ctmc_lab/estimation/families.py",
        "        lam = (np.arange(k) + 1.0 - u) / k if stratified else 1.0 - u\n",
        "        lam = (np.arange(k) + 1.0 - u) / (k + 1) if stratified else 1.0 - u\n",
        caught_by="estimators.monte_carlo,estimators.sampler_law",
    ),
    Mutant(
        "coupled log-ratio sign",
        "samplers",
        "ctmc_lab/estimation/laws.py",
        "            out[sl] = scheme.f[m] * (den(local) - num(local))\n",
        "            out[sl] = scheme.f[m] * (num(local) - den(local))\n",
        caught_by="estimators.conditional_and_ratio",
    ),
    Mutant(
        "LLaDA counts: round half up, not half to even",
        "samplers",
        "ctmc_lab/estimation/llada.py",
        "x = np.rint(_linspace32(n, b, k)).astype(np.int64)",
        "x = np.floor(_linspace32(n, b, k) + 0.5).astype(np.int64)",
        caught_by="llada.designs,estimators.count_rule_library",
    ),
    Mutant(
        "LLaDA rows weighted n/(x+1)",
        "samplers",
        "ctmc_lab/estimation/llada.py",
        "out[lo : lo + batch_size] = (n / m) * oracle",
        "out[lo : lo + batch_size] = (n / (m + 1)) * oracle",
        caught_by="estimators.monte_carlo,estimators.sampler_law",
    ),
    Mutant(
        "LLaDA batch variance without its between-k term",
        "moments",
        "ctmc_lab/estimation/llada.py",
        "        var = list(within + between)\n",
        "        var = list(within)\n",
        caught_by="llada.designs,estimators.count_rule_library",
    ),
    Mutant(
        "forward–backward: visible positions not a point mass",
        "forward-backward",
        "ctmc_lab/sources/markov/inference.py",
        "    logp = np.where(visible[..., None], point, logp)\n",
        "    logp = logp\n",
        caught_by="markov.forward_backward,sources.denoiser",
    ),
)


#: A held-out set of plausible one-line bugs across the whole package (issue 20, "What will be
#: checked"): the command line's JSON, seed streams, rate factors, ratio and time-sampled moments,
#: conditional tables with a context, subset-table block and zero-probability paths, dataset
#: recipes, the Markov source, the mixed and tempered denoisers, LLaDA's designs, the registry's
#: flags, schedule inverses and study statistics. They are scored by
#: ``benchmarks/mutation_score.py`` (verify --quick alone, then with the tests that import the
#: mutated module) and are not run by ``tests/proofs_check/test_mutants.py``; the ones that
#: verify kills were never used to tune a row's tolerance.
HELD_OUT = (
    # ------------------------------------------------------------ the command line's JSON
    Mutant(
        "nll: record index advances on sequences outside the support",
        "cli-json",
        "ctmc_lab/cli/nll.py",
        "        k += int(ok)\n",
        "        k += 1\n",
    ),
    Mutant(
        "nll: NLL read from the in-support index",
        "cli-json",
        "ctmc_lab/cli/nll.py",
        '            "nll": json_float(0.0 - np.log(p_x)) if ok else None,\n',
        '            "nll": json_float(0.0 - np.log(prob[k])) if ok else None,\n',
    ),
    Mutant(
        "estimate: one stream shared by every sequence",
        "seeds",
        "ctmc_lab/cli/estimate.py",
        "            rng = np.random.default_rng([args.seed, int(key)])\n",
        "            rng = np.random.default_rng(args.seed)\n",
    ),
    Mutant(
        "estimate: sequence index little-endian",
        "seeds",
        "ctmc_lab/cli/estimate.py",
        "    keys = flat_index(x0, dist.n_tokens)\n",
        "    keys = flat_index(x0[:, ::-1], dist.n_tokens)\n",
    ),
    Mutant(
        "curve: kl_rate without the rate factor σ(t)",
        "curve",
        "ctmc_lab/cli/curve.py",
        '        "kl_rate": json_float(rate * information.kl_rate(noised, x0)) if finite else None,\n',
        '        "kl_rate": json_float(information.kl_rate(noised, x0)) if finite else None,\n',
    ),
    Mutant(
        "curve: mdse_marginal without the rate factor σ(t)",
        "curve",
        "ctmc_lab/cli/curve.py",
        '        "mdse_marginal": json_float(rate * scores.marginal_mdse(noised)),\n',
        '        "mdse_marginal": json_float(scores.marginal_mdse(noised)),\n',
    ),
    Mutant(
        "curve: rate factor σ̄(t) instead of σ(t)",
        "curve",
        "ctmc_lab/cli/curve.py",
        "    rate = float(schedule.sigma(t))\n",
        "    rate = float(schedule.sigma_bar(t))\n",
    ),
    # ------------------------------------------------------------ log-ratio moments and draws
    Mutant(
        "ratio moments: covariance term without its factor 2",
        "ratio-moments",
        "ctmc_lab/estimation/moments.py",
        "    cov2 = 2.0 * (P @ ((gx - mx) * (gy - my)))\n",
        "    cov2 = P @ ((gx - mx) * (gy - my))\n",
    ),
    Mutant(
        "ratio moments: coupled second moment, not variance",
        "ratio-moments",
        "ctmc_lab/estimation/moments.py",
        "    var_c = P @ ((gy - gx) - (my - mx)) ** 2\n",
        "    var_c = P @ (gy - gx) ** 2\n",
    ),
    Mutant(
        "ratio moments: Var(f A_den) centred at the other mean",
        "ratio-moments",
        "ctmc_lab/estimation/moments.py",
        "    var_x, var_y = P @ (gx - mx) ** 2, P @ (gy - my) ** 2\n",
        "    var_x, var_y = P @ (gx - mx) ** 2, P @ (gy - mx) ** 2\n",
    ),
    Mutant(
        "decoupled log-ratio: second mask weighted by the first mask's f_m",
        "ratio-draws",
        "ctmc_lab/estimation/laws.py",
        "            out[sl] = scheme.f[m] * den(local) - scheme.f[m2] * num(local2)\n",
        "            out[sl] = scheme.f[m] * den(local) - scheme.f[m] * num(local2)\n",
    ),
    # ------------------------------------------------------------ time-sampled estimators
    Mutant(
        "t-estimator second moment: cross term without its 2",
        "t-moments",
        "ctmc_lab/estimation/families.py",
        "        second += 2 * (mm * S1) @ vals[3] + (C * mm**2) @ vals[4]\n",
        "        second += (mm * S1) @ vals[3] + (C * mm**2) @ vals[4]\n",
    ),
    Mutant(
        "t-estimator weight σ/e^σ̄ instead of σ/(e^σ̄ - 1)",
        "t-moments",
        "ctmc_lab/estimation/families.py",
        "        w = sig / np.expm1(sb)\n        ell",
        "        w = sig / np.exp(sb)\n        ell",
    ),
    # ------------------------------------------------------------ conditional tables, context
    Mutant(
        "subset-table A: context bits dropped",
        "context",
        "ctmc_lab/sources/_support_tables.py",
        "    ctx_bits = int(np.sum(np.left_shift(1, ctx))) if ctx.size else 0\n",
        "    ctx_bits = 0\n",
    ),
    Mutant(
        "Markov A-table: context positions hidden too",
        "context",
        "ctmc_lab/sources/markov/chain.py",
        "    hidden = np.setdiff1d(np.arange(x.shape[-1]), np.union1d(tgt, ctx))\n",
        "    hidden = np.setdiff1d(np.arange(x.shape[-1]), tgt)\n",
    ),
    Mutant(
        "conditional_mask_dce: context not passed to the source",
        "context",
        "ctmc_lab/estimation/conditional.py",
        "    return source.mask_dce_table(x, tgt, ctx, method=method)\n",
        "    return source.mask_dce_table(x, tgt, method=method)\n",
    ),
    Mutant(
        "conditional_nll: marginalised positions kept visible in the context term",
        "context",
        "ctmc_lab/estimation/conditional.py",
        "    given = _with_mask(x, split.target + split.marginalised, n)\n",
        "    given = _with_mask(x, split.target, n)\n",
    ),
    # ------------------------------------------------------------ subset-table paths
    Mutant(
        "mask_dce: undefined conditional (zero-probability context) set to 0",
        "subset-zero",
        "ctmc_lab/masks.py",
        "            term = np.where(np.isnan(term), np.inf, term)\n",
        "            term = np.where(np.isnan(term), 0.0, term)\n",
    ),
    Mutant(
        "mask_kl: infinite h with positive weight dropped",
        "subset-zero",
        "ctmc_lab/masks.py",
        '    return np.einsum("...u,ku->...k", np.where(np.isinf(h), 0, h), w) + _inf_part(h, w)\n',
        '    return np.einsum("...u,ku->...k", np.where(np.isinf(h), 0, h), w)\n',
    ),
    Mutant(
        "subset_table: block rows restart at 0",
        "subset-blocks",
        "ctmc_lab/sources/_support_tables.py",
        "        rows = np.arange(lo, lo + agree.shape[0])[:, None] * n_sub\n",
        "        rows = np.arange(agree.shape[0])[:, None] * n_sub\n",
    ),
    Mutant(
        "marginal: visible positions of the first block reused",
        "subset-blocks",
        "ctmc_lab/sources/_support_tables.py",
        "        xb, vb = x[lo : lo + step, None, :], visible[lo : lo + step, None, :]\n",
        "        xb, vb = x[lo : lo + step, None, :], visible[: min(step, x.shape[0] - lo), None, :]\n",
    ),
    # ------------------------------------------------------------ denoisers
    Mutant(
        "mixed denoiser: base not down-weighted by 1 - w",
        "mixed",
        "ctmc_lab/sources/denoisers.py",
        "        mixed = np.logaddexp(np.log1p(-self.weight) + log_c, np.log(self.weight) + log_r)\n",
        "        mixed = np.logaddexp(log_c, np.log(self.weight) + log_r)\n",
    ),
    Mutant(
        "mixed denoiser: 'marginals' read on a clean input",
        "mixed",
        "ctmc_lab/sources/denoisers.py",
        "                self._marginals = np.asarray(self.base(np.full((1, self.length), self.n_tokens)))[0]\n",
        "                self._marginals = np.asarray(self.base(np.full((1, self.length), 0)))[0]\n",
    ),
    Mutant(
        "tempered denoiser: logits times T",
        "mixed",
        "ctmc_lab/sources/denoisers.py",
        "        scaled = log_c / self.temperature\n",
        "        scaled = log_c * self.temperature\n",
    ),
    # ------------------------------------------------------------ LLaDA's designs
    Mutant(
        "balanced design: remainder b // n",
        "llada-designs",
        "ctmc_lab/estimation/llada.py",
        "    r = b % n\n",
        "    r = b // n\n",
    ),
    Mutant(
        "balanced design: without-replacement factor n, not n - 1",
        "llada-designs",
        "ctmc_lab/estimation/llada.py",
        "spread / ((n - 1) * b**2)",
        "spread / (n * b**2)",
    ),
    Mutant(
        "LLaDA record: variance_of_mean is Var Ḡ",
        "llada-designs",
        "ctmc_lab/estimation/llada.py",
        '            "variance_of_mean": num(self.variance_of_mean),\n',
        '            "variance_of_mean": num(self.batch_variance),\n',
    ),
    # ------------------------------------------------------------ registry flags
    Mutant(
        "registry: k_dce_stratified not stratified",
        "registry-flags",
        "ctmc_lab/estimation/registry.py",
        "MaskSize(laws.k_dce_law, stratified=True, batch_moments=stratified_k_dce_moments)",
        "MaskSize(laws.k_dce_law, stratified=False, batch_moments=stratified_k_dce_moments)",
    ),
    Mutant(
        "registry: lambda_dce_stratified not stratified",
        "registry-flags",
        "ctmc_lab/estimation/registry.py",
        "        LambdaDCE(stratified=True),\n",
        "        LambdaDCE(stratified=False),\n",
    ),
    # ------------------------------------------------------------ schedule inverses
    Mutant(
        "cosine t(σ̄) without the (1 - ε)",
        "schedule-inverse",
        "ctmc_lab/forward/schedules.py",
        "        return (2 / np.pi) * np.arccos(1 - lam / (1 - self.eps))\n",
        "        return (2 / np.pi) * np.arccos(1 - lam)\n",
    ),
    Mutant(
        "loglinear t(σ̄) without the 1/(1 - ε)",
        "schedule-inverse",
        "ctmc_lab/forward/schedules.py",
        "        return -np.expm1(-self._check_sigma_bar(sigma_bar)) / (1 - self.eps)\n",
        "        return -np.expm1(-self._check_sigma_bar(sigma_bar))\n",
    ),
    Mutant(
        "geometric t(σ̄) shifts the unshifted schedule too",
        "schedule-inverse",
        "ctmc_lab/forward/schedules.py",
        "        raw = self._check_sigma_bar(sigma_bar) + (self.sigma_min if self.shifted else 0.0)\n",
        "        raw = self._check_sigma_bar(sigma_bar) + self.sigma_min\n",
    ),
    # ------------------------------------------------------------ the Markov source
    Mutant(
        "entropy rate: uniform average over contexts, not π",
        "markov",
        "ctmc_lab/sources/markov/inference.py",
        "    return float(stationary @ entr(table).sum(axis=1))\n",
        "    return float(entr(table).sum(axis=1).mean())\n",
    ),
    Mutant(
        "prompt: the chain starts from the prompt's first k symbols",
        "markov",
        "ctmc_lab/sources/markov/chain.py",
        "        out[flat_index(self._prompt(start)[-self.order :], self.n_tokens)] = 1.0\n",
        "        out[flat_index(self._prompt(start)[: self.order], self.n_tokens)] = 1.0\n",
    ),
    # ------------------------------------------------------------ dataset recipes
    Mutant(
        "dna128-like: logits times the temperature",
        "datasets",
        "ctmc_lab/sources/datasets.py",
        "    logits = rng.random(n_sequences) / temperature\n",
        "    logits = rng.random(n_sequences) * temperature\n",
    ),
    Mutant(
        "dirichlet: alpha ignored",
        "datasets",
        "ctmc_lab/sources/datasets.py",
        "    probs = rng.dirichlet(np.full(size, float(alpha)))\n",
        "    probs = rng.dirichlet(np.full(size, 1.0))\n",
    ),
    # ------------------------------------------------------------ study statistics and seeds
    Mutant(
        "studies: every spawned generator is the same stream",
        "study-seeds",
        "ctmc_lab/studies/_common.py",
        "    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]\n",
        "    return [np.random.default_rng(seed) for _ in range(n)]\n",
    ),
    Mutant(
        "studies: case seed ignores the case key",
        "study-seeds",
        "ctmc_lab/studies/engine.py",
        "    return np.random.SeedSequence([int(study_seed), *(int(w) for w in words)])\n",
        "    return np.random.SeedSequence([int(study_seed)])\n",
    ),
    Mutant(
        "variance_vs_samples: sample variance with ddof 0",
        "study-stats",
        "ctmc_lab/studies/variance_vs_samples.py",
        "    return float(est.values.reshape(repeats, n).mean(axis=1).var(ddof=1))\n",
        "    return float(est.values.reshape(repeats, n).mean(axis=1).var(ddof=0))\n",
    ),
    Mutant(
        "coupled_vs_decoupled: sample variance with ddof 0",
        "study-stats",
        "ctmc_lab/studies/coupled_vs_decoupled.py",
        "                v.append(g.reshape(repeats, n).mean(axis=1).var(ddof=1))\n",
        "                v.append(g.reshape(repeats, n).mean(axis=1).var(ddof=0))\n",
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


def _one(mutant: Mutant, work: Path, timeout: float, args, targeted: bool = False) -> tuple[Mutant, bool, str]:
    if targeted:
        if not mutant.caught_by:
            raise ValueError(f"mutant {mutant.name!r} names no `caught_by` checks for a targeted run")
        args = (*args, "--only", mutant.caught_by)
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
    # Exit 1 is a failed verification; 2 (a usage error, e.g. `--only` selecting nothing) is not a catch.
    caught = proc.returncode == 1 and not traceback_seen
    summary = next(
        (line for line in reversed(proc.stdout.splitlines()) if line.startswith("verify")),
        proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "",
    )
    shutil.rmtree(work, ignore_errors=True)
    return mutant, caught, ("traceback; " if traceback_seen else "") + f"exit {proc.returncode}: {summary}"


def run(mutants=MUTANTS, *, timeout: float = 240.0, args=("--quick",), jobs: int = 2, targeted: bool = False):
    """Run ``verify`` on each mutant in a scratch copy, ``jobs`` at a time; return a list of
    (mutant, caught, note) in the order of ``mutants``. ``targeted`` verifies only each
    mutant's ``caught_by`` checks (a ``ValueError`` for a mutant without them)."""
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory(prefix="ctmc-mutants-") as tmp:
        base = Path(tmp)
        with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
            futures = [
                pool.submit(_one, mutant, base / f"m{k}", timeout, args, targeted) for k, mutant in enumerate(mutants)
            ]
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
    """``python -m proofs_check.mutants [--held-out] [--only TERMS] [--list] [--jobs J] [--timeout S]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m proofs_check.mutants", description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="TERMS", help="comma-separated substrings of mutant names, areas or paths")
    parser.add_argument("--list", action="store_true", help="list the selected mutants and exit")
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="the held-out list (HELD_OUT) instead of MUTANTS; benchmarks/mutation_score.py scores it with the tests too",
    )
    parser.add_argument(
        "--targeted", action="store_true", help="verify only each mutant's caught_by checks (what the tests run)"
    )
    parser.add_argument("--jobs", type=int, default=2, metavar="J", help="mutants run side by side (default: 2)")
    parser.add_argument("--timeout", type=float, default=240.0, metavar="S", help="seconds per mutant (default: 240)")
    args = parser.parse_args(argv)
    try:
        chosen = select(args.only, HELD_OUT if args.held_out else MUTANTS)
    except ValueError as err:
        parser.error(str(err))
    if args.list:
        for m in chosen:
            print(f"[{m.area}] {m.name}: {m.path}")
        return 0
    results = run(chosen, timeout=args.timeout, jobs=args.jobs, targeted=args.targeted)
    for mutant, caught, note in results:
        print(f"{'caught  ' if caught else 'SURVIVED'} [{mutant.area}] {mutant.name}: {note}")
    caught = sum(c for _, c, _ in results)
    print(f"mutation score: {caught}/{len(results)} caught")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
