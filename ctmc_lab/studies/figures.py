"""Paper-style validation figures: exact computations plus seeded Monte Carlo (issue 6).

Each ``fig_*``-style function below builds one figure and returns a :class:`FigureResult`:
the data tables behind it (written as CSV), the :class:`matplotlib.figure.Figure` (written as
PDF and PNG), and a few headline numbers. ``FIGURES`` maps the figure names used by
``ctmc-lab figures --only NAME`` to the functions; :func:`make_figures` writes them all.

=========================== ===================================================================
name                        content (``docs/theory.md`` section)
=========================== ===================================================================
fig1a_dna128_nll            Fig. 1a: true NLL, exact time-free enumeration and MC at 2^15 draws
                            for all 128 D128 sequences (Thm 4.1, §4.1, §7)
fig1b_markov_conditional    Fig. 1b: the 64-pair MK4 prompt–response protocol (Cor. 4.3, §4.2)
imdse_curves                Thm 3.1/3.2: KL and I(x0; x_t), their exact rates against -mdse,
                            and the area under mdse (§2.4, §2.5)
dse_dce_equivalence         Lemma 3.3: pointwise DSE = σ(t)(1-λ)/λ · DCE (§3.2)
variance_vs_samples         Table 1a analogue: λ-DCE vs time-free variance at 128/256/512 (§6)
heavy_tail                  λ-DCE sample variance grows like ½ Σ a_i² ln n (§6.3)
coupled_vs_decoupled        Table 1b analogue: coupled vs decoupled log-ratio variance (§6.4)
sampler_comparison          exact variance of each unbiased sampler; bias of audited ones (§6.5, §8)
ood_detection               NLL histograms, ROC and AUROC, exact vs estimated (§7 Fig. 2)
llada_audit                 LLaDA's evaluator: where its mask-count law is not uniform, its exact
                            bias on D128-like sources, MK4 pairs and a first-order chain, and the
                            variance of the fix (:mod:`ctmc_lab.estimation.llada`)
=========================== ===================================================================

Every random draw comes from ``np.random.SeedSequence(seed)`` spawned per task (SPEC 7): the
same seed gives the same CSVs bit for bit. Sizes default to the paper's settings where the
paper has them; the tests pass smaller ones.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import comb

from ctmc_lab import masks
from ctmc_lab.estimation import conditional, estimators, moments
from ctmc_lab.exact import decompositions, information, scores
from ctmc_lab.forward import generators
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.forward.schedules import Loglinear
from ctmc_lab.plotting.style import COLORS, new_figure, note, panel_label, save_figure, style, write_csv
from ctmc_lab.sources import datasets
from ctmc_lab.sources.denoisers import MixedDenoiser, OptimalDenoiser
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies.protocol import MC_SAMPLES, sample_pair

__all__ = [
    "FigureResult",
    "FIGURES",
    "make_figures",
    "auroc",
    "roc_curve",
    "fig1a_dna128_nll",
    "fig1b_markov_conditional",
    "imdse_curves",
    "dse_dce_equivalence",
    "variance_vs_samples",
    "heavy_tail",
    "coupled_vs_decoupled",
    "sampler_comparison",
    "ood_detection",
    "llada_audit",
    "tempered_chain",
]


# ===================================================================================== records
@dataclass(frozen=True, eq=False)
class FigureResult:
    """One figure, the data behind it, and its headline numbers.

    Attributes
    ----------
    name : str
        The figure's name (file stem).
    tables : dict
        ``{file stem: {column: 1-D array}}``; the main table has the figure's own name.
    figure : matplotlib.figure.Figure
    summary : dict
        Scalars worth printing (e.g. maximal residuals, AUROCs).
    seconds : float
        Wall time to compute and draw.
    """

    name: str
    tables: dict
    figure: object = field(repr=False)
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def table(self) -> dict:
        """The main table (named like the figure)."""
        return self.tables[self.name]

    def write(self, out_dir, *, formats=("pdf", "png", "csv")) -> list[str]:
        """Write the figure (``pdf``/``png``/``svg``) and its tables (``csv``) into ``out_dir``."""
        formats = tuple(formats)
        unknown = set(formats) - {"pdf", "png", "svg", "csv"}
        if unknown:
            raise ValueError(f"unknown output format(s) {sorted(unknown)}; choose from csv, pdf, png, svg")
        paths = save_figure(self.figure, out_dir, self.name, formats=[f for f in formats if f != "csv"])
        if "csv" in formats:
            for stem, table in self.tables.items():
                paths.append(write_csv(os.path.join(out_dir, f"{stem}.csv"), table))
        return paths


def _log_ticks(ax, axis: str = "y") -> None:
    """Readable ticks on a log axis spanning less than a decade or two: 1, 2, 5 × 10^k as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _positive(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"`{name}` must be an integer ≥ {minimum} (got {value!r})")
    return int(value)


def _sizes(name: str, values, *, minimum: int = 1) -> tuple[int, ...]:
    """A non-empty increasing tuple of integers ≥ ``minimum`` (sample budgets)."""
    try:
        out = tuple(_positive(name, v, minimum=minimum) for v in values)
    except TypeError:
        raise ValueError(f"`{name}` must be a sequence of integers (got {values!r})") from None
    if not out or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"`{name}` must be non-empty and increasing (got {values!r})")
    return out


def _seeds(seed, n: int) -> list[np.random.Generator]:
    """``n`` independent generators spawned from ``SeedSequence(seed)`` (or from a Generator)."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(n)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _timed(fn):
    def run(*args, **kwargs):
        start = time.perf_counter()
        with style():
            res = fn(*args, **kwargs)
        return FigureResult(res.name, res.tables, res.figure, res.summary, time.perf_counter() - start)

    run.__name__, run.__doc__, run.__wrapped__ = fn.__name__, fn.__doc__, fn
    return run


# ================================================================================== ROC / AUROC
def roc_curve(scores_in, scores_out) -> tuple[np.ndarray, np.ndarray]:
    """ROC of the detector "flag as out-of-distribution when the score is high".

    Parameters
    ----------
    scores_in, scores_out : 1-D float arrays
        Scores (NLLs) of in-distribution (negative) and shifted (positive) samples.

    Returns
    -------
    fpr, tpr : 1-D float arrays
        From (0, 0) to (1, 1), one point per distinct threshold (ties move both at once).
    """
    neg, pos = _check_scores(scores_in, scores_out)
    thresholds = np.unique(np.concatenate([neg, pos]))[::-1]
    # Flag score >= threshold; counts via sorted search, so ties are handled exactly.
    neg_s, pos_s = np.sort(neg), np.sort(pos)
    fp = neg.size - np.searchsorted(neg_s, thresholds, side="left")
    tp = pos.size - np.searchsorted(pos_s, thresholds, side="left")
    fpr = np.concatenate([[0.0], fp / neg.size])
    tpr = np.concatenate([[0.0], tp / pos.size])
    return fpr, tpr


def auroc(scores_in, scores_out) -> float:
    """Area under the ROC: P(score_out > score_in) + ½ P(score_out = score_in).

    The Mann–Whitney form with mid-ranks, so it is exact (no trapezoid error) and handles
    ties. 1 means the shifted samples always score higher (higher NLL).

    Examples
    --------
    >>> auroc([1.0, 2.0], [3.0, 2.0])
    0.875
    """
    neg, pos = _check_scores(scores_in, scores_out)
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([neg, pos]))
    u = ranks[neg.size :].sum() - pos.size * (pos.size + 1) / 2.0
    return float(u / (neg.size * pos.size))


def _check_scores(scores_in, scores_out):
    neg = np.asarray(scores_in, dtype=float).ravel()
    pos = np.asarray(scores_out, dtype=float).ravel()
    for name, arr in (("scores_in", neg), ("scores_out", pos)):
        if arr.size == 0:
            raise ValueError(f"`{name}` must be non-empty")
        if np.isnan(arr).any():
            raise ValueError(f"`{name}` contains NaN")
    return neg, pos


# ======================================================================================= Fig 1a
def _nll_panels(fig_axes, true, exact, mc_mean, mc_se, *, what: str, n_samples: int):
    """Top: true NLL line, exact enumeration, MC ± 1.96 se; bottom: z-scores."""
    ax, az = fig_axes
    rank = np.arange(1, true.size + 1)
    ax.errorbar(
        rank,
        mc_mean,
        yerr=1.96 * mc_se,
        fmt="o",
        ms=1.8,
        lw=0.5,
        color=COLORS["mc"],
        label=f"time-free MC, {n_samples:,} draws (±1.96 se)",
        zorder=2,
    )
    ax.plot(
        rank,
        exact,
        "s",
        ms=2.6,
        mfc="none",
        mew=0.5,
        color=COLORS["exact"],
        label="exact: all $2^n-1$ masks (Thm 4.1 / Cor 4.3)",
        zorder=3,
    )
    ax.plot(rank, true, "-", color=COLORS["true"], lw=0.9, label=f"true {what}", zorder=4)
    ax.set_ylabel(f"{what} (nats)")
    ax.legend(loc="upper left")
    z = (mc_mean - true) / mc_se
    az.axhspan(-1.96, 1.96, color="#eeeeee", lw=0)
    az.plot(rank, z, "o", ms=1.6, color=COLORS["mc"])
    az.axhline(0, color=COLORS["true"], lw=0.6)
    az.set_ylabel("(MC − true)/se")
    az.set_xlabel("sequence, sorted by true NLL" if "cond" not in what else "pair, sorted by true NLL")
    lim = max(3.5, float(np.ceil(np.abs(z).max() + 0.5)))
    az.set_ylim(-lim, lim)
    ax.set_xlim(0, true.size + 1)
    resid = float(np.max(np.abs(exact - true)))
    note(
        ax,
        f"max |exact − true| = {resid:.1e} nats\n{np.mean(np.abs(z) < 1.96):.0%} of MC within ±1.96 se",
        loc="lower right",
    )
    return z, resid


@_timed
def fig1a_dna128_nll(*, dist=None, n_samples: int = 2**15, seed: int = 0) -> FigureResult:
    """Paper Fig. 1a: NLL of every D128 sequence, true vs time-free MC vs exact enumeration.

    The time-free estimator (Thm 4.1, Eq. 15; ``docs/theory.md`` §4.1) runs with the optimal
    denoiser c* (:class:`~ctmc_lab.sources.denoisers.OptimalDenoiser`) at ``n_samples`` draws per
    sequence (2^15 as in the paper and ``eval_sequence.py``). "Exact" evaluates
    H_L Σ_I p(I) Σ_{i∉I} -log c*(x0^I) over all 2^L - 1 masks through the same denoiser
    (:func:`~ctmc_lab.exact.decompositions.time_free_exact`); "true" is -log p0(x0) from the table.

    Parameters
    ----------
    dist : JointDistribution, optional
        Default: the paper's D128 table.
    n_samples : int
    seed : int
        Sequence j uses the j-th generator spawned from ``SeedSequence(seed)``.

    Returns
    -------
    FigureResult
    """
    n_samples = _positive("n_samples", n_samples, minimum=2)
    p = datasets.dna128() if dist is None else dist
    X = p.support
    true = p.nll(X)
    den = OptimalDenoiser(p)
    exact = decompositions.time_free_exact(den, X)
    mc = [estimators.time_free(den, x, n_samples=n_samples, rng=g) for x, g in zip(X, _seeds(seed, len(X)))]
    mean = np.array([e.mean for e in mc])
    se = np.array([e.stderr for e in mc])
    order = np.argsort(true, kind="stable")
    fig, (ax, az) = new_figure(2, 1, width="column", height=3.3, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    z, resid = _nll_panels((ax, az), true[order], exact[order], mean[order], se[order], what="NLL", n_samples=n_samples)
    ax.set_title(f"{p.name}: L = {p.length}, {p.support_size} sequences, optimal denoiser")
    table = {
        "rank": np.arange(1, len(X) + 1),
        "sequence": np.array(p.decode(X[order])),
        "probability": p.probs[order],
        "true_nll": true[order],
        "exact_time_free": exact[order],
        "mc_mean": mean[order],
        "mc_stderr": se[order],
        "mc_samples": np.full(len(X), n_samples),
        "z_score": z,
    }
    summary = {
        "max_abs_exact_minus_true": resid,
        "fraction_within_1.96se": float(np.mean(np.abs(z) < 1.96)),
        "max_abs_z": float(np.abs(z).max()),
    }
    return FigureResult("fig1a_dna128_nll", {"fig1a_dna128_nll": table}, fig, summary)


# ======================================================================================= Fig 1b
@_timed
def fig1b_markov_conditional(
    *,
    chain: MarkovChain | None = None,
    pairs: int = 64,
    prompt_length: int = 16,
    response_length: int = 16,
    mc_samples: int = MC_SAMPLES,
    seed: int = 0,
) -> FigureResult:
    """Paper Fig. 1b: conditional NLL -log p(y | prompt) on the MK4 prompt–response protocol.

    The pairs are those of :func:`ctmc_lab.studies.protocol.run_protocol` with the same ``seed``
    (pair j from the j-th spawned generator: a stationary prompt, then the response). "True"
    is the chain rule Σ_j -log P(y_j | context_j); "exact" is Cor. 4.3 over all 2^R - 1
    response masks with H_R (``docs/theory.md`` §4.2), its A-table computed from the subset
    log-evidence (a route independent of the protocol's forward–backward tries); the MC
    estimate is the time-free estimator with ``mc_samples`` draws (2^13, the code's MC_NUM)
    drawn with the same generator as the protocol's.

    Parameters
    ----------
    chain : MarkovChain, optional
        Default: the paper's MK4 table.
    pairs, prompt_length, response_length : int
        64, 16 and 16 in the paper (``prompt_length`` ≥ the chain's order).
    mc_samples : int
        Time-free draws per pair.
    seed : int

    Returns
    -------
    FigureResult
    """
    ch = markov4() if chain is None else chain
    pairs = _positive("pairs", pairs)
    prompt_length = _positive("prompt_length", prompt_length, minimum=ch.order)
    response_length = _positive("response_length", response_length)
    mc_samples = _positive("mc_samples", mc_samples, minimum=2)
    target = list(range(prompt_length, prompt_length + response_length))
    context = list(range(prompt_length))
    rows = []
    for g in _seeds(seed, pairs):
        prompt, response = sample_pair(ch, prompt_length=prompt_length, response_length=response_length, rng=g)
        x = np.concatenate([prompt, response])
        true = ch.nll(response, start=prompt)
        A = conditional.conditional_mask_dce(ch, x, target=target, context=context, method="subset")
        est = conditional.conditional_estimate(
            ch, x, estimator="time_free", n_samples=mc_samples, rng=g, target=target, context=context, table=A
        )
        rows.append((ch.decode(prompt), ch.decode(response), true, float(masks.imdce_sum(A)), est.mean, est.stderr))
    prompt_s, response_s, true, exact, mean, se = (np.array(c) for c in zip(*rows))
    true, exact, mean, se = (a.astype(float) for a in (true, exact, mean, se))
    order = np.argsort(true, kind="stable")
    fig, (ax, az) = new_figure(2, 1, width="column", height=3.3, sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    z, resid = _nll_panels(
        (ax, az), true[order], exact[order], mean[order], se[order], what="cond. NLL", n_samples=mc_samples
    )
    ax.set_title(f"MK4: prompt {prompt_length} + response {response_length}, {pairs} pairs, $H_{{{response_length}}}$")
    table = {
        "rank": np.arange(1, pairs + 1),
        "pair": order,
        "prompt": prompt_s[order],
        "response": response_s[order],
        "true_nll": true[order],
        "exact_time_free": exact[order],
        "mc_mean": mean[order],
        "mc_stderr": se[order],
        "mc_samples": np.full(pairs, mc_samples),
        "z_score": z,
    }
    summary = {
        "max_abs_exact_minus_true": resid,
        "fraction_within_1.96se": float(np.mean(np.abs(z) < 1.96)),
        "max_abs_z": float(np.abs(z).max()),
    }
    return FigureResult("fig1b_markov_conditional", {"fig1b_markov_conditional": table}, fig, summary)


# ================================================================================ I-MDSE curves
def _tiny_distribution(seed, n_tokens=3, length=3):
    return datasets.dirichlet(n_tokens, length, alpha=1.0, rng=np.random.default_rng(seed), alphabet="ABCD"[:n_tokens])


@_timed
def imdse_curves(*, dist=None, x0=None, n_points: int = 49, seed: int = 0) -> FigureResult:
    """Theorem 3.1 and 3.2 as curves, for absorbing and uniform noise.

    With the schedule loglinear(ε = 0) (λ(t) = t, σ̄(1) = ∞, so the forward process ends
    at its stationary law at t = 1) and one x0 of a small random p0 (``x0``; default: the
    sequence of median probability):

    * KL(p_{t|0}(·|x0) ‖ p_t) decays from -log p0(x0) to 0, and I(x0; x_t) from H(p0) to 0;
    * their exact t-derivatives (``information.kl_rate`` times σ(t), no finite differences)
      coincide with -mdse(x0, t) and -mdse(t) (Thm 3.1, ``docs/theory.md`` §2.4);
    * the area under mdse(x0, t) is -log p0(x0) and under mdse(t) it is H(p0) (Thm 3.2, §2.5),
      computed by quadrature over noise levels (:func:`~ctmc_lab.exact.decompositions.mdse_integral`).

    Parameters
    ----------
    dist : JointDistribution, optional
        Default: Dirichlet(1) over 3 symbols and length 3, drawn with ``seed``.
    x0 : str or (L,) int array, optional
    n_points : int
        Interior times on (0, 1).
    seed : int

    Returns
    -------
    FigureResult
    """
    n_points = _positive("n_points", n_points, minimum=2)
    p = _tiny_distribution(seed) if dist is None else dist
    if x0 is None:
        # A sequence of median probability: neither the mode nor a rare one.
        x0 = p.support[np.argsort(p.probs)[p.support_size // 2]]
    x0 = np.asarray(p.encode(x0))
    if x0.ndim != 1 or not p.prob(x0) > 0:
        raise ValueError("`x0` must be one sequence of the support (its NLL is finite)")
    sched = Loglinear(0.0)
    t = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    sig_bar, sig = np.asarray(sched.sigma_bar(t)), np.asarray(sched.sigma(t))
    cols = {
        k: []
        for k in (
            "process",
            "t",
            "sigma_bar",
            "sigma",
            "kl",
            "kl_rate",
            "mdse",
            "mutual_information",
            "mutual_information_rate",
            "mdse_marginal",
        )
    }
    summary = {"sequence": p.decode(x0), "neg_log_p0": float(p.nll(x0)), "entropy": float(p.entropy())}
    kinds = ("absorbing", "uniform")
    fig, axes = new_figure(2, 3, width="page", height=4.1)
    for row, kind in enumerate(kinds):
        gen = generators.absorbing(p.n_tokens) if kind == "absorbing" else generators.uniform(p.n_tokens)
        vals = []
        for s, r in zip(sig_bar, sig):
            nd = NoisedDistribution.at_noise_level(p, gen, float(s))
            kl_all = information.kl(nd, p.support)
            rate_all = information.kl_rate(nd, p.support) * r
            mdse_all = scores.mdse(nd, p.support) * r
            i0 = int(np.flatnonzero((p.support == x0).all(axis=1))[0])
            vals.append(
                (kl_all[i0], rate_all[i0], mdse_all[i0], p.probs @ kl_all, p.probs @ rate_all, p.probs @ mdse_all)
            )
        kl_, rate, md, mi, mi_rate, md_marg = (np.array(v) for v in zip(*vals))
        for k, v in zip(
            ("kl", "kl_rate", "mdse", "mutual_information", "mutual_information_rate", "mdse_marginal"),
            (kl_, rate, md, mi, mi_rate, md_marg),
        ):
            cols[k].append(v)
        cols["process"].append(np.full(t.size, kind))
        cols["t"].append(t)
        cols["sigma_bar"].append(sig_bar)
        cols["sigma"].append(sig)
        area = float(decompositions.mdse_integral(p, gen, x0[None]).value[0])
        area_marg = float(p.probs @ decompositions.mdse_integral(p, gen, p.support).value)
        resid = float(max(np.max(np.abs(rate + md)), np.max(np.abs(mi_rate + md_marg))))
        summary[f"{kind}_area_pointwise"] = area
        summary[f"{kind}_area_marginal"] = area_marg
        summary[f"{kind}_max_abs_rate_plus_mdse"] = resid

        a, b, c = axes[row]
        tt = np.concatenate([[0.0], t, [1.0]])
        a.plot(
            tt,
            np.concatenate([[p.nll(x0)], kl_, [0.0]]),
            color=COLORS["exact"],
            label=r"KL$(p_{t|0}(\cdot|x_0)\,\|\,p_t)$",
        )
        a.plot(tt, np.concatenate([[p.entropy()], mi, [0.0]]), color=COLORS["k_dce"], ls="--", label=r"$I(x_0; x_t)$")
        a.plot([0], [p.nll(x0)], "o", color=COLORS["exact"], ms=3)
        a.plot([0], [p.entropy()], "o", color=COLORS["k_dce"], ms=3)
        a.set_ylabel(f"{kind}\nnats")
        a.legend(loc="upper right")
        b.plot(t, rate, color=COLORS["exact"], label=r"$\frac{d}{dt}$KL (exact)")
        b.plot(t[::2], -md[::2], "o", ms=2.6, mfc="none", mew=0.6, color=COLORS["mc"], label=r"$-$mdse$(x_0,t)$")
        b.plot(t, mi_rate, color=COLORS["k_dce"], ls="--", label=r"$\frac{d}{dt}I$ (exact)")
        b.plot(
            t[1::2],
            -md_marg[1::2],
            "^",
            ms=2.6,
            mfc="none",
            mew=0.6,
            color=COLORS["rb_lambda_dce"],
            label=r"$-$mdse$(t)$",
        )
        b.set_ylabel("nats per unit t")
        b.legend(loc="lower right", ncol=2, fontsize=5.8)
        note(b, f"max |rate + mdse| = {resid:.0e}", loc="upper left")
        c.fill_between(t, md, color=COLORS["shade"], alpha=0.45, lw=0)
        c.plot(t, md, color=COLORS["exact"], label=r"mdse$(x_0,t)$")
        c.plot(t, md_marg, color=COLORS["k_dce"], ls="--", label=r"mdse$(t)$")
        c.set_ylabel("nats per unit t")
        c.legend(loc="upper right")
        note(
            c,
            f"shaded area = {area:.6f}\n−log p0(x0) = {p.nll(x0):.6f}\n"
            f"area under mdse(t) = {area_marg:.6f}\nH(p0) = {p.entropy():.6f}",
            loc="lower center" if kind == "absorbing" else "center right",
            fontsize=5.8,
        )
        top = max(md.max(), md_marg.max())
        c.set_ylim(0, top * 1.08)
        for ax in (a, b, c):
            ax.set_xlim(0, 1)
        if row == 1:
            for ax in (a, b, c):
                ax.set_xlabel(r"t   (loglinear, $\lambda = t$)")
    axes[0, 0].set_title(f"KL and I(x0; x_t), x0 = {p.decode(x0)}")
    axes[0, 1].set_title("Thm 3.1: exact rate = −mdse")
    axes[0, 2].set_title("Thm 3.2: area under mdse")
    for ax, lab in zip(axes[0], "abc"):
        panel_label(ax, lab)
    table = {k: np.concatenate(v) for k, v in cols.items()}
    return FigureResult("imdse_curves", {"imdse_curves": table}, fig, summary)


# ======================================================================= DSE ≡ DCE (Lemma 3.3)
@_timed
def dse_dce_equivalence(*, dist=None, n_points: int = 60, mix_weight: float = 0.3, seed: int = 0) -> FigureResult:
    """Lemma 3.3: ℓ_DSE(x0, x, t, s_t) = σ(t)(1-λ)/λ · ℓ_DCE(x0, x, c), pointwise.

    For one x0 of a small random p0 (N = 3, L = 4), the noisy state x masking positions 0 and
    2, and two normalised denoisers (c* and the non-optimal mixture (1-w) c* + w/N), the
    corresponding score s_t = (1-λ)/λ c is put into the generic DSE sum
    (:func:`~ctmc_lab.exact.scores.dse`, paper Eq. 3) at each t of loglinear(10^-3), and compared
    with the scaled DCE (:func:`~ctmc_lab.exact.scores.dce`). The factor uses the rate σ(t); with
    σ̄(t) in its place (the misprint of a third-party summary, ``docs/theory.md`` §3.2) the
    identity fails, drawn dashed as a control.

    Parameters
    ----------
    dist : JointDistribution, optional
        Default: Dirichlet(1) over 3 symbols and length 4, drawn with ``seed``; length ≥ 3.
    n_points : int
        Times, log-spaced on [1e-4, 1].
    mix_weight : float in (0, 1]
        w of the non-optimal denoiser.
    seed : int

    Returns
    -------
    FigureResult
    """
    n_points = _positive("n_points", n_points, minimum=2)
    if not 0.0 < float(mix_weight) <= 1.0:
        raise ValueError(f"`mix_weight` must lie in (0, 1] (got {mix_weight!r})")
    p = _tiny_distribution(seed, 3, 4) if dist is None else dist
    if p.length < 3:
        raise ValueError(f"`dist` must have length ≥ 3 (positions 0 and 2 are masked; got {p.length})")
    n = p.n_tokens
    x0 = p.support[np.argmax(p.probs)]
    x = x0.copy()
    x[[0, 2]] = n
    gen = generators.absorbing(n)
    sched = Loglinear(1e-3)
    t = np.geomspace(1e-4, 1.0, n_points)
    base = OptimalDenoiser(p)
    dens = {"optimal c*": base, f"mixture, w = {mix_weight}": MixedDenoiser(base, weight=mix_weight)}
    cols = {
        k: []
        for k in (
            "denoiser",
            "t",
            "sigma",
            "sigma_bar",
            "mask_level",
            "dse",
            "dce",
            "scaled_dce",
            "abs_residual",
            "rel_residual",
            "scaled_dce_wrong_factor",
        )
    }
    kernels = [NoisedDistribution.at_noise_level(p, gen, float(s)) for s in sched.sigma_bar(t)]
    for label, den in dens.items():
        logc = den(x[None])  # (1, L, N)
        dce = float(scores.dce(x0[None], x[None], logc, mask_id=n)[0])
        dse = []
        for nd, tt in zip(kernels, t):
            lam = float(sched.mask_level(tt))
            score = np.ones((1, p.length, n + 1))
            score[:, :, :n] = (1 - lam) / lam * np.exp(logc)
            dse.append(float(scores.dse(nd.generator, nd.K, x0[None], x[None], score, rate=float(sched.sigma(tt)))[0]))
        dse = np.array(dse)
        sig, sb = np.asarray(sched.sigma(t)), np.asarray(sched.sigma_bar(t))
        factor = sig / np.expm1(sb)
        scaled = factor * dce
        cols["denoiser"].append(np.full(t.size, label))
        cols["t"].append(t)
        cols["sigma"].append(sig)
        cols["sigma_bar"].append(sb)
        cols["mask_level"].append(np.asarray(sched.mask_level(t)))
        cols["dse"].append(dse)
        cols["dce"].append(np.full(t.size, dce))
        cols["scaled_dce"].append(scaled)
        cols["abs_residual"].append(np.abs(dse - scaled))
        cols["rel_residual"].append(np.abs(dse - scaled) / dse)
        cols["scaled_dce_wrong_factor"].append(sb / np.expm1(sb) * dce)
    table = {k: np.concatenate(v) for k, v in cols.items()}
    fig, (ax, ax2) = new_figure(2, 1, width="column", height=3.3, sharex=True, gridspec_kw={"height_ratios": [2.4, 1]})
    colors = [COLORS["exact"], COLORS["k_dce"]]
    k = t.size
    floor = 1e-17
    for j, label in enumerate(dens):
        sl = slice(j * k, (j + 1) * k)
        ax.plot(t, table["dse"][sl], color=colors[j], label=r"$\ell_{\rm DSE}$, " + label)
        ax.plot(
            t[j::4],
            table["scaled_dce"][sl][j::4],
            "o",
            ms=3,
            mfc="none",
            mew=0.6,
            color=colors[j],
            label=r"$\sigma\,\frac{1-\lambda}{\lambda}\,\ell_{\rm DCE}$, " + label,
        )
        rel = table["rel_residual"][sl]
        ax2.plot(
            t, np.maximum(rel, floor), "o" if j == 0 else "^", ms=2.2, mfc="none", mew=0.5, color=colors[j], label=label
        )
    ax.plot(
        t,
        table["scaled_dce_wrong_factor"][:k],
        color=COLORS["residual"],
        ls="--",
        lw=0.8,
        label=r"$\bar\sigma\,\frac{1-\lambda}{\lambda}\,\ell_{\rm DCE}$, c* (wrong factor)",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("loss (nats per unit t)")
    ax.set_title(f"Lemma 3.3: x0 = {p.decode(x0)}, x = {p.decode(x).replace('?', '·')} (· masked)")
    ax.legend(loc="upper right", fontsize=5.6)
    ax2.set_yscale("log")
    ax2.set_ylim(floor / 3, 1e-12)
    ax2.set_ylabel("|DSE − scaled DCE|\n/ DSE")
    ax2.set_xlabel("t   (loglinear, ε = 1e-3)")
    note(ax2, f"max {table['rel_residual'].max():.1e}; exact 0 drawn at {floor:.0e}", loc="upper right")
    summary = {
        "max_rel_residual": float(table["rel_residual"].max()),
        "max_abs_residual": float(table["abs_residual"].max()),
    }
    return FigureResult("dse_dce_equivalence", {"dse_dce_equivalence": table}, fig, summary)


# ===================================================================== shared A-table sources
def _d128_tables(p):
    A = moments.optimal_mask_dce(p, p.support)
    singles = A[:, 1 << np.arange(p.length)]
    return A, singles


def _mk4_pairs(chain, n_pairs, prompt_length, response_length, seed):
    """Prompt–response pairs and their A-tables (Cor. 4.3), seeded per pair."""
    target = list(range(prompt_length, prompt_length + response_length))
    context = list(range(prompt_length))
    xs, tables = [], []
    for g in _seeds(seed, n_pairs):
        prompt, response = sample_pair(chain, prompt_length=prompt_length, response_length=response_length, rng=g)
        x = np.concatenate([prompt, response])
        xs.append(x)
        tables.append(conditional.conditional_mask_dce(chain, x, target=target, context=context))
    return np.array(xs), np.array(tables), target, context


def _repeat_variance(oracle, name, n, repeats, rng):
    """Sample variance (ddof=1) over ``repeats`` independent n-draw estimates."""
    est = estimators.estimate(name, oracle, None, n_samples=repeats * n, rng=rng, return_values=True)
    return float(est.values.reshape(repeats, n).mean(axis=1).var(ddof=1))


# ============================================================ variance vs samples (Table 1a)
@_timed
def variance_vs_samples(
    *, n_list=(128, 256, 512), repeats: int = 64, n_sequences: int = 30, response_length: int = 8, seed: int = 0
) -> FigureResult:
    """Table 1a analogue: variance of repeated estimates, time-integral (λ-DCE) vs time-free.

    Two settings, each averaged over ``n_sequences`` sequences (the paper: 30 sequences, 15
    repeats): (a) D128 sequences with no Hamming-1 neighbour in the support, where every
    singleton term a_i is 0 and λ-DCE has a finite variance; (b) MK4 prompt–response pairs
    (prompt 16, response ``response_length``), where every a_i > 0 and the exact λ-DCE
    variance is infinite (``docs/theory.md`` §6.3). Markers: sample variance over ``repeats``
    estimates of n draws; lines: exact Var(g)/n (§6.1–6.3).

    Parameters
    ----------
    n_list : increasing sequence of int
        Draws per estimate (the paper: 128, 256, 512).
    repeats : int
        Independent estimates per sequence and n (≥ 2).
    n_sequences : int
        Sequences per setting.
    response_length : int
        MK4 response length (its 2^R masks are enumerated).
    seed : int

    Returns
    -------
    FigureResult
    """
    n_list = _sizes("n_list", n_list)
    repeats = _positive("repeats", repeats, minimum=2)
    n_sequences = _positive("n_sequences", n_sequences)
    response_length = _positive("response_length", response_length)
    rngs = iter(_seeds(seed, 4 * n_sequences * len(n_list) + 2))
    p = datasets.dna128()
    A_d, singles = _d128_tables(p)
    finite = np.flatnonzero(~(singles > 0).any(axis=1))
    pick = np.sort(next(rngs).choice(finite, size=min(n_sequences, finite.size), replace=False))
    ch = markov4()
    X_m, A_m, target, context = _mk4_pairs(ch, n_sequences, 16, response_length, next(rngs))
    settings = [
        ("a", "D128, no Hamming-1 neighbour (every $a_i$ = 0)", [(p, p.support[i], A_d[i], None, None) for i in pick]),
        (
            "b",
            f"MK4 prompt 16 + response {response_length} (every $a_i$ > 0)",
            [(ch, x, A, target, context) for x, A in zip(X_m, A_m)],
        ),
    ]
    cols = {
        k: []
        for k in (
            "panel",
            "setting",
            "estimator",
            "n_samples",
            "sampled_variance",
            "exact_variance",
            "repeats",
            "n_sequences",
        )
    }
    per_seq = {
        k: [] for k in ("panel", "sequence", "target_start", "exact_variance_time_free", "exact_variance_lambda_dce")
    }
    fig, axes = new_figure(1, 2, width="page", height=2.5)
    summary = {}
    for ax, (panel, label, items) in zip(axes, settings):
        texts = []
        per_seq["panel"].append(np.full(len(items), panel))
        per_seq["sequence"].append(np.array([src.decode(x) for src, x, *_ in items]))
        per_seq["target_start"].append(np.array([0 if tg is None else tg[0] for *_, tg, _c in items]))
        for name, marker in (("lambda_dce", "o"), ("time_free", "s")):
            exact_one = np.array([moments.estimator_moments(A, name).variance for *_, A, _t, _c in items])
            per_seq[f"exact_variance_{name}"].append(exact_one)
            sampled = []
            for n in n_list:
                v = [
                    _repeat_variance(
                        conditional.mask_dce_oracle(src, x, table=A, target=tg, context=cx),
                        name,
                        n,
                        repeats,
                        next(rngs),
                    )
                    for src, x, A, tg, cx in items
                ]
                sampled.append(float(np.mean(v)))
            exact = np.array([float(np.mean(exact_one)) / n for n in n_list])
            for n, s, e in zip(n_list, sampled, exact):
                for k, v in zip(cols, (panel, label, name, n, s, e, repeats, len(items))):
                    cols[k].append(v)
            color = COLORS[name]
            nice = "λ-DCE (time-integral)" if name == "lambda_dce" else "time-free"
            ax.plot(n_list, sampled, marker, color=color, ms=4, mfc="none", mew=0.8, label=f"{nice}: sampled")
            if np.all(np.isfinite(exact)):
                ax.plot(n_list, exact, "-", color=color, lw=0.9, label=f"{nice}: exact Var/n")
            else:
                texts.append("exact λ-DCE variance = ∞\n(some $a_i$ > 0: Var grows ∝ ln n)")
            summary[f"{panel}_{name}_sampled_at_{n_list[0]}"] = sampled[0]
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_ticks(ax)
        ax.set_xticks(list(n_list), [str(n) for n in n_list])
        ax.minorticks_off()
        ax.set_xlabel("MC samples n")
        ax.set_ylabel("variance of the estimate (nats²)")
        ax.set_title(label)
        ax.legend(loc="lower left")
        r = summary[f"{panel}_time_free_sampled_at_{n_list[0]}"] / summary[f"{panel}_lambda_dce_sampled_at_{n_list[0]}"]
        summary[f"{panel}_ratio_time_free_over_lambda_dce"] = r
        texts.append(f"sampled time-free / λ-DCE at n = {n_list[0]}: {r:.2f}")
        note(ax, "\n".join(texts), loc="upper right")
        panel_label(ax, panel)
    table = {k: np.array(v) for k, v in cols.items()}
    seq_table = {k: np.concatenate(v) for k, v in per_seq.items()}
    return FigureResult(
        "variance_vs_samples", {"variance_vs_samples": table, "variance_vs_samples_sequences": seq_table}, fig, summary
    )


# ================================================================================= heavy tail
def _prefix_variances(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Sample variance (ddof=1) of the first n values, for each n in ``grid``; values (R, n_max)."""
    c1 = np.cumsum(values, axis=1)[:, grid - 1]
    c2 = np.cumsum(values**2, axis=1)[:, grid - 1]
    return (c2 - c1**2 / grid) / (grid - 1)


@_timed
def heavy_tail(*, n_max: int = 2**18, repeats: int = 32, seed: int = 0) -> FigureResult:
    """The infinite variance of λ-DCE, seen: sample variance against ln n (``docs/theory.md`` §6.3).

    (a) An MK4 window of length 8 (stationary; all a_i > 0): the median over ``repeats`` runs
    of the sample variance of the first n λ-DCE draws grows like ½ Σ_i a_i² ln n, the tail
    index-2 law (P(g > u) ≈ Σ a_i²/(2u²)), while the time-free sample variance stays at its
    exact value. The dashed curve is E[g²; λ ≥ n^{-1/2}] - NLL², from the exact truncated
    second moment (:func:`~ctmc_lab.estimation.moments.lambda_dce_truncation`), whose slope in ln n is
    ½ Σ a_i². (b) Control: a D128 sequence with every a_i = 0, where both stay flat.

    Parameters
    ----------
    n_max : int
        Draws per run, a power of 2 (≥ 2^6); the grid is n = 16, 32, ..., n_max.
    repeats : int
        Independent runs (the median and quartiles are over runs).
    seed : int

    Returns
    -------
    FigureResult
    """
    n_max = _positive("n_max", n_max, minimum=64)
    if n_max & (n_max - 1):
        raise ValueError(f"`n_max` must be a power of 2 (got {n_max})")
    repeats = _positive("repeats", repeats)
    g_seq, *rngs = _seeds(seed, 2 * 2 * repeats + 1)
    ch = markov4()
    joint = ch.joint(8)
    cand = ch.sample(8, n=32, rng=g_seq)
    A_c = moments.optimal_mask_dce(joint, cand)
    s2 = (A_c[:, 1 << np.arange(8)] ** 2).sum(axis=1)
    # The window of median Σ a_i² among 32 stationary draws: typical, not cherry-picked.
    j = int(np.argsort(s2)[len(s2) // 2])
    p = datasets.dna128()
    A_d, singles = _d128_tables(p)
    k = int(np.flatnonzero(~(singles > 0).any(axis=1))[0])
    cases = [
        ("a", f"MK4 window {joint.decode(cand[j])}: $\\Sigma_i a_i^2$ = {s2[j]:.2f}", joint, cand[j], A_c[j]),
        ("b", f"D128 {p.decode(p.support[k])}: every $a_i$ = 0 (control)", p, p.support[k], A_d[k]),
    ]
    grid = 2 ** np.arange(4, int(np.log2(n_max)) + 1)
    rngs = iter(rngs)
    cols = {
        k_: []
        for k_ in (
            "panel",
            "setting",
            "sequence",
            "estimator",
            "n",
            "median_sample_variance",
            "q25",
            "q75",
            "exact_variance",
            "predicted",
            "predicted_slope",
        )
    }
    fig, axes = new_figure(1, 2, width="page", height=2.9)
    summary = {}
    for ax, (panel, label, src, x, A) in zip(axes, cases):
        oracle = conditional.mask_dce_oracle(src, x, table=A)
        texts = []
        nll = float(masks.imdce_sum(A))
        slope = 0.5 * float((A[1 << np.arange(len(x))] ** 2).sum())
        for name in ("lambda_dce", "time_free"):
            vals = np.stack(
                [
                    estimators.estimate(
                        name, oracle, None, n_samples=n_max, rng=next(rngs), batch_size=1 << 16, return_values=True
                    ).values
                    for _ in range(repeats)
                ]
            )
            pv = _prefix_variances(vals, grid)
            med, q25, q75 = (np.quantile(pv, q, axis=0) for q in (0.5, 0.25, 0.75))
            exact = moments.estimator_moments(A, name).variance
            if name == "lambda_dce":
                pred = np.array([moments.lambda_dce_truncation(A, n**-0.5).second_moment - nll**2 for n in grid])
            else:
                pred = np.full(grid.size, exact)
            for row in zip(
                *(
                    np.broadcast_to(v, grid.shape)
                    for v in (
                        panel,
                        label,
                        src.decode(x),
                        name,
                        grid,
                        med,
                        q25,
                        q75,
                        exact,
                        pred,
                        slope if name == "lambda_dce" else 0.0,
                    )
                )
            ):
                for key, v in zip(cols, row):
                    cols[key].append(v)
            color = COLORS[name]
            nice = "λ-DCE" if name == "lambda_dce" else "time-free"
            ax.fill_between(grid, q25, q75, color=color, alpha=0.18, lw=0)
            ax.plot(
                grid,
                med,
                "o-",
                ms=2.5,
                lw=0.8,
                color=color,
                label=f"{nice}: median sample variance over {repeats} runs (IQR shaded)",
            )
            if name == "lambda_dce" and slope > 0:
                ax.plot(grid, pred, "--", color=color, lw=0.9, label=r"E[g²; λ ≥ n$^{-1/2}$] − NLL²  (slope ½Σa$_i^2$)")
                # The growth law is asymptotic: fit the upper half of the grid (at least 2 points).
                big = np.arange(grid.size) >= min(grid.size // 2, grid.size - 2)
                fit = float(np.polyfit(np.log(grid[big]), med[big], 1)[0])
                summary[f"{panel}_fitted_slope"] = fit
                summary[f"{panel}_predicted_slope"] = slope
                texts.append(f"slope in ln n: fitted {fit:.2f}, predicted ½Σa$_i^2$ = {slope:.2f}")
                texts.append("exact λ-DCE variance = ∞")
            else:
                ax.axhline(exact, color=color, lw=0.7, ls=":", label="exact variance (finite)")
                texts.append(f"exact {nice} variance = {exact:.1f}")
        ax.set_xscale("log", base=np.e)
        ax.set_xticks(
            np.exp(np.arange(3, int(np.log(n_max)) + 1, 2)),
            [f"{int(v)}" for v in np.arange(3, int(np.log(n_max)) + 1, 2)],
        )
        ax.minorticks_off()
        ax.set_xlabel("ln n   (n = number of draws)")
        ax.set_ylabel("sample variance of one draw (nats²)")
        ax.set_title(label)
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.3 * (hi - lo))
        note(ax, "\n".join(texts), loc="upper left")
        panel_label(ax, panel)
    # One legend for both panels, below them: the panels' upper corners hold the numbers.
    handles, labels = axes[0].get_legend_handles_labels()
    h2, l2 = axes[1].get_legend_handles_labels()
    for h, lab in zip(h2, l2):
        if lab not in labels:
            handles.append(h)
            labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", ncol=3)
    table = {k_: np.array(v) for k_, v in cols.items()}
    return FigureResult("heavy_tail", {"heavy_tail": table}, fig, summary)


# ======================================================= coupled vs decoupled ratios (Table 1b)
def _ratio_draws(A_num, A_den, scheme, n, coupled, rng):
    """Single draws of the log-ratio estimator from exact A-tables (the laws of
    :func:`ctmc_lab.estimation.estimators.log_ratio`: shared or independent masks)."""
    nb = int(np.log2(A_num.size))
    sch = estimators.mask_size_scheme(scheme, nb)
    masks = np.arange(1 << nb)
    sizes = np.bitwise_count(masks.astype(np.uint64)).astype(int)
    by_size = [masks[sizes == m] for m in range(nb + 1)]

    def draw():
        m = rng.choice(nb + 1, size=n, p=sch.q)
        return np.array([by_size[k][i] for k, i in zip(m, rng.integers(0, comb(nb, m).astype(np.int64)))]), m

    M1, m1 = draw()
    if coupled:
        return sch.f[m1] * (A_den[M1] - A_num[M1])
    M2, m2 = draw()
    return sch.f[m1] * A_den[M1] - sch.f[m2] * A_num[M2]


@_timed
def coupled_vs_decoupled(
    *, n_triplets: int = 200, n_list=(5, 10, 15, 20), repeats: int = 8, response_length: int = 8, seed: int = 0
) -> FigureResult:
    """Table 1b analogue: variance of the log-ratio estimator, coupled vs decoupled masks.

    Triplets (prompt, y⁺, y⁻) of MK4: a stationary prompt of 16 and two responses of
    ``response_length`` drawn from it (as the BeaverTails experiment pairs a safe and an
    unsafe response to one prompt). (a) Mean over triplets of the sample variance over
    ``repeats`` estimates with n draws (8 repeats, as the paper), against the exact
    Var/n (``docs/theory.md`` §6.4, :func:`~ctmc_lab.estimation.moments.ratio_moments`). (b) The exact
    single-draw variances of every triplet, coupled against decoupled: below the diagonal
    coupling hurts (2 H_n² Cov(A⁺, A⁻) < 0); every D128 pair is drawn in grey for contrast.
    The same triplets scored with k-DCE weights show that coupling is not guaranteed to help.

    Parameters
    ----------
    n_triplets : int
    n_list : increasing sequence of int
        Draws per estimate (the paper: 5, 10, 15, 20).
    repeats : int
        Estimates per triplet and n (≥ 2; the paper: 8).
    response_length : int
    seed : int

    Returns
    -------
    FigureResult
    """
    n_triplets = _positive("n_triplets", n_triplets)
    n_list = _sizes("n_list", n_list)
    repeats = _positive("repeats", repeats, minimum=2)
    response_length = _positive("response_length", response_length)
    g_pairs, g_y, g_mc = _seeds(seed, 3)
    ch = markov4()
    P = 16
    target = list(range(P, P + response_length))
    context = list(range(P))
    trip = []
    for g in _seeds(g_pairs, n_triplets):
        prompt, y1 = sample_pair(ch, prompt_length=P, response_length=response_length, rng=g)
        y2 = ch.sample(response_length, start=prompt, rng=g)
        A1 = conditional.conditional_mask_dce(ch, np.concatenate([prompt, y1]), target=target, context=context)
        A2 = conditional.conditional_mask_dce(ch, np.concatenate([prompt, y2]), target=target, context=context)
        trip.append(
            (
                ch.decode(prompt),
                ch.decode(y1),
                ch.decode(y2),
                A1,
                A2,
                ch.nll(y2, start=prompt) - ch.nll(y1, start=prompt),
            )
        )
    rm = [moments.ratio_moments(A1, A2) for *_, A1, A2, _ in trip]
    var_c = np.array([r.variance_coupled for r in rm])
    var_d = np.array([r.variance_decoupled for r in rm])
    cov = np.array([r.covariance_term for r in rm])
    # With k-DCE weights g = (n/m) A(M) is nearly flat in m, so what is left of its fluctuation
    # is within a mask size, where the two responses can move against each other.
    rk = [moments.ratio_moments(A1, A2, scheme="k_dce") for *_, A1, A2, _ in trip]
    kvar_c = np.array([r.variance_coupled for r in rk])
    kvar_d = np.array([r.variance_decoupled for r in rk])
    # Sampled (Table 1b): mean over triplets of the variance across repeats.
    sampled = {}
    for mode in ("coupled", "decoupled"):
        for n in n_list:
            v = []
            for _, _, _, A1, A2, _ in trip:
                draws = _ratio_draws(A1, A2, "time_free", repeats * n, mode == "coupled", g_mc)
                v.append(draws.reshape(repeats, n).mean(axis=1).var(ddof=1))
            sampled[mode, n] = float(np.mean(v))
    # D128 all pairs (exact only), by the covariance route of §6.4.
    p = datasets.dna128()
    A_d, _ = _d128_tables(p)
    iu = np.triu_indices(p.support_size, 1)
    d128 = [moments.ratio_moments(A_d[i], A_d[j]) for i, j in zip(*iu)]
    d_c = np.array([r.variance_coupled for r in d128])
    d_d = np.array([r.variance_decoupled for r in d128])

    fig, (ax, bx) = new_figure(1, 2, width="page", height=2.6)
    for mode, marker in (("coupled", "o"), ("decoupled", "s")):
        exact_mean = (var_c if mode == "coupled" else var_d).mean()
        ax.plot(
            n_list,
            [sampled[mode, n] for n in n_list],
            marker,
            ms=4,
            mfc="none",
            mew=0.8,
            color=COLORS[mode],
            label=f"{mode}: sampled ({repeats} repeats)",
        )
        ax.plot(n_list, [exact_mean / n for n in n_list], "-", color=COLORS[mode], lw=0.9, label=f"{mode}: exact Var/n")
    ax.set_xticks(list(n_list))
    ax.set_xlabel("MC samples n")
    ax.set_ylabel("variance of the log-ratio estimate (nats²)")
    ax.set_yscale("log")
    _log_ticks(ax)
    ax.set_title(f"MK4: {n_triplets} (prompt, y⁺, y⁻), responses of {response_length}")
    ax.legend(loc="upper right")
    ratio = var_d.mean() / var_c.mean()
    note(ax, f"mean Var_d / mean Var_c = {ratio:.1f}", loc="lower left")
    panel_label(ax, "a")
    hurt, d_hurt, k_hurt = var_c > var_d, d_c > d_d, kvar_c > kvar_d
    bx.semilogx(
        d_c, d_d / d_c, ".", ms=1.0, color="#b0b0b0", label=f"D128 pairs, time-free ({len(d_c):,})", rasterized=True
    )
    bx.semilogx(
        var_c,
        var_d / var_c,
        "o",
        ms=2.2,
        mfc="none",
        mew=0.5,
        color=COLORS["coupled"],
        label="MK4 triplets, time-free (paper)",
    )
    bx.semilogx(
        kvar_c,
        kvar_d / kvar_c,
        "^",
        ms=2.2,
        mfc="none",
        mew=0.5,
        color=COLORS["k_dce"],
        label="MK4 triplets, k-DCE weights",
    )
    bad_c = np.concatenate([var_c[hurt], kvar_c[k_hurt]])
    bad_r = np.concatenate([(var_d / var_c)[hurt], (kvar_d / kvar_c)[k_hurt]])
    bx.semilogx(bad_c, bad_r, "x", ms=3.5, mew=0.8, color=COLORS["decoupled"], label="coupling hurts (Cov < 0)")
    bx.axhline(1.0, color=COLORS["true"], lw=0.6)
    bx.set_yscale("log")
    _log_ticks(bx)
    bx.set_xlabel("exact Var of one coupled draw (nats²)")
    bx.set_ylabel("Var decoupled / Var coupled")
    bx.set_title("exact single-draw variances per pair")
    ratios = np.concatenate([d_d / d_c, var_d / var_c, kvar_d / kvar_c])
    bx.set_ylim(min(ratios.min(), 1.0) * 0.6, ratios.max() * 4)
    bx.legend(loc="upper right", fontsize=5.6)
    note(
        bx,
        "coupling hurts (ratio < 1):\n"
        f"time-free: MK4 {hurt.sum()}/{hurt.size}, D128 {d_hurt.sum()}/{d_hurt.size}\n"
        f"k-DCE: MK4 {k_hurt.sum()}/{k_hurt.size}",
        loc="lower left",
        fontsize=5.6,
    )
    panel_label(bx, "b")
    t_main = {
        "triplet": np.arange(n_triplets),
        "prompt": np.array([t[0] for t in trip]),
        "response_plus": np.array([t[1] for t in trip]),
        "response_minus": np.array([t[2] for t in trip]),
        "log_ratio_true": np.array([t[5] for t in trip]),
        "log_ratio_time_free_exact": np.array([r.mean for r in rm]),
        "variance_coupled": var_c,
        "variance_decoupled": var_d,
        "covariance_term": cov,
        "coupling_helps": ~hurt,
        "k_dce_variance_coupled": kvar_c,
        "k_dce_variance_decoupled": kvar_d,
        "k_dce_coupling_helps": ~k_hurt,
    }
    t_n = {
        "mode": np.repeat(["coupled", "decoupled"], len(n_list)),
        "n_samples": np.tile(n_list, 2),
        "sampled_variance": np.array([sampled[m, n] for m in ("coupled", "decoupled") for n in n_list]),
        "exact_variance": np.array(
            [(var_c if m == "coupled" else var_d).mean() / n for m in ("coupled", "decoupled") for n in n_list]
        ),
        "repeats": np.full(2 * len(n_list), repeats),
        "n_triplets": np.full(2 * len(n_list), n_triplets),
    }
    t_d = {
        "i": iu[0],
        "j": iu[1],
        "sequence_i": np.array(p.decode(p.support[iu[0]])),
        "sequence_j": np.array(p.decode(p.support[iu[1]])),
        "variance_coupled": d_c,
        "variance_decoupled": d_d,
    }
    summary = {
        "mk4_hurt": int(hurt.sum()),
        "d128_hurt": int(d_hurt.sum()),
        "mk4_k_dce_hurt": int(k_hurt.sum()),
        "mean_ratio_d_over_c": float(ratio),
    }
    return FigureResult(
        "coupled_vs_decoupled",
        {"coupled_vs_decoupled": t_main, "coupled_vs_decoupled_by_n": t_n, "coupled_vs_decoupled_d128_pairs": t_d},
        fig,
        summary,
    )


# ========================================================================= sampler comparison
def _t_dce_means(A: np.ndarray, schedule) -> np.ndarray:
    """Exact mean of the code's t-DCE for a batch of tables, by linearity in the level sums.

    E[g] = c_0 + Σ_m c_m S1_m(A), with S1_m the sum of A over masks of size m; the
    coefficients come from :func:`~ctmc_lab.estimation.moments.t_estimator_moments` on n + 1 basis
    tables (one quadrature each instead of one per sequence).
    """
    nb = int(np.log2(A.shape[-1]))
    sizes = np.bitwise_count(np.arange(1 << nb).astype(np.uint64)).astype(int)
    zero = np.zeros(1 << nb)
    c0 = moments.t_estimator_moments(zero, schedule=schedule).mean
    coef = np.zeros(nb + 1)
    for m in range(1, nb + 1):
        basis = (sizes == m).astype(float)
        coef[m] = (moments.t_estimator_moments(basis, schedule=schedule).mean - c0) / basis.sum()
    return c0 + A @ coef[sizes]


@_timed
def sampler_comparison(*, n_windows: int = 128, seed: int = 0) -> FigureResult:
    """Exact single-draw variance of each unbiased sampler, and the bias of the audited variants.

    Unbiased (``docs/theory.md`` §4.1, §6.1–6.3, §6.5): time-free (P(m) ∝ 1/m, the paper), k-DCE
    (m uniform), Rao–Blackwellised λ-DCE, λ-DCE (infinite where some a_i > 0), and the
    variance-optimal mask-size importance law q*_m ∝ sqrt(E[A² | m])/m. Audited (§8): the
    samplers of ``eval_llada.py`` (m = L never drawn) and ``eval_text8.py`` (also per-token
    means), and the code's t-DCE (truncated at ε_s = 1e-3, score log, loglinear(1e-3)).
    Rows: the D128 table, and ``n_windows`` stationary MK4 windows of length 8.

    Parameters
    ----------
    n_windows : int
        MK4 windows drawn (duplicates are dropped).
    seed : int

    Returns
    -------
    FigureResult
    """
    n_windows = _positive("n_windows", n_windows)
    p = datasets.dna128()
    A_d, _ = _d128_tables(p)
    ch = markov4()
    joint = ch.joint(8)
    W = np.unique(ch.sample(8, n=n_windows, rng=np.random.default_rng(seed)), axis=0)
    A_w = moments.optimal_mask_dce(joint, W)
    sources = [("D128 (c*)", p, p.support, A_d), (f"MK4 windows, L = 8 ({len(W)} distinct)", joint, W, A_w)]
    unbiased = ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce")
    audited = ("omit_full_mask", "omit_full_mask_token_mean", "t_dce")
    nice = {
        "time_free": "time-free (paper)",
        "k_dce": "k-DCE",
        "rb_lambda_dce": "RB λ-DCE",
        "lambda_dce": "λ-DCE",
        "importance": "optimal q*(m)",
        "omit_full_mask": "no full mask (eval_llada)",
        "omit_full_mask_token_mean": "no full mask, token mean (eval_text8)",
        "t_dce": "code t-DCE (ε_s = 1e-3)",
    }
    cols = {
        k: []
        for k in (
            "source",
            "sequence",
            "true_nll",
            *(f"var_{u}" for u in unbiased),
            "var_importance",
            "winner",
            *(f"bias_{a}" for a in audited),
        )
    }
    fig, axes = new_figure(2, 2, width="page", height=4.6)
    summary = {}
    sched = Loglinear(1e-3)
    for row, (label, dist, X, A) in enumerate(sources):
        true = dist.nll(X)
        mom = {u: moments.all_moments(A, names=(u,), reference=true) for u in unbiased + audited[:2]}
        var = {u: np.array([m[u].variance for m in mom[u]]) for u in unbiased}
        comp = [moments.compare_samplers(a) for a in A]
        var_is = np.array([c.best_mask_size_variance for c in comp])
        winner = np.array([c.winner for c in comp])
        bias = {a: np.array([m[a].bias for m in mom[a]]) for a in audited[:2]}
        bias["t_dce"] = _t_dce_means(A, sched) - true
        order = np.argsort(true, kind="stable")
        rank = np.arange(1, len(X) + 1)
        ax, bx = axes[row]
        for u, mk in zip(unbiased, ("o", "s", "^", "v")):
            v = var[u][order]
            fin = np.isfinite(v)
            ax.plot(rank[fin], v[fin], mk, ms=2.0, mew=0.4, mfc="none", color=COLORS[u], label=nice[u])
        ax.plot(rank, var_is[order], "-", lw=0.7, color=COLORS["importance"], label=nice["importance"])
        inf = ~np.isfinite(var["lambda_dce"][order])
        finite_all = np.concatenate([var[u][np.isfinite(var[u])] for u in unbiased])
        top = float(finite_all.max())
        if inf.any():
            ax.plot(
                rank[inf], np.full(inf.sum(), top * 3), "v", ms=3, color=COLORS["lambda_dce"], label="λ-DCE: Var = ∞"
            )
        ax.set_yscale("log")
        ax.set_ylim(top=top * 8)
        ax.set_ylabel("exact Var of one draw (nats²)")
        ax.set_title(label)
        counts = {u: int((winner == u).sum()) for u in unbiased}
        note(
            ax,
            "lowest variance: " + ", ".join(f"{nice[u]} {c}" for u, c in counts.items() if c),
            loc="lower right",
            fontsize=5.6,
        )
        ax.legend(loc="upper left", ncol=3, fontsize=5.5)
        for a, mk in zip(audited, ("o", "s", "^")):
            bx.plot(
                rank,
                bias[a][order],
                mk,
                ms=2.0,
                mew=0.4,
                mfc="none",
                color=[COLORS["lambda_dce"], COLORS["rb_lambda_dce"], COLORS["k_dce"]][audited.index(a)],
                label=nice[a],
            )
        bx.axhline(0, color=COLORS["true"], lw=0.6)
        note(
            bx,
            f"mean bias: t-DCE {np.mean(bias['t_dce']):+.4f}, eval_llada {np.mean(bias['omit_full_mask']):+.2f}",
            loc="center right",
            fontsize=5.6,
        )
        bx.set_ylabel("bias E[g] − NLL (nats)")
        bx.set_title(f"audited variants, {label.split(' (')[0].split(',')[0]}")
        bx.legend(loc="lower left", fontsize=5.6)
        for axx in (ax, bx):
            axx.set_xlim(0, len(X) + 1)
            if row == 1:
                axx.set_xlabel("sequence, sorted by true NLL")
        src = "d128" if row == 0 else "mk4"
        summary[f"{src}_winners"] = counts
        summary[f"{src}_mean_bias"] = {a: float(np.mean(bias[a])) for a in audited}
        for key, val in (
            ("source", np.full(len(X), src)),
            ("sequence", np.array(dist.decode(X))),
            ("true_nll", true),
            *((f"var_{u}", var[u]) for u in unbiased),
            ("var_importance", var_is),
            ("winner", winner),
            *((f"bias_{a}", bias[a]) for a in audited),
        ):
            cols[key].append(np.asarray(val)[order])
    for ax, lab in zip(axes.ravel(), "abcd"):
        panel_label(ax, lab)
    table = {k: np.concatenate(v) for k, v in cols.items()}
    return FigureResult("sampler_comparison", {"sampler_comparison": table}, fig, summary)


# ============================================================================== OOD detection
def tempered_chain(chain: MarkovChain, temperature: float) -> MarkovChain:
    """Rows P(·|c)^(1/T), renormalised: T > 1 flattens the chain (a shifted source)."""
    w = chain.table ** (1.0 / temperature)
    return MarkovChain(
        w / w.sum(axis=1, keepdims=True),
        order=chain.order,
        alphabet=chain.alphabet,
        name=f"{chain.name}, tempered T={temperature}",
    )


@_timed
def ood_detection(
    *, n_per_group: int = 500, budgets=(1, 4, 16, 64, 256), temperature: float = 3.0, length: int = 8, seed: int = 0
) -> FigureResult:
    """Out-of-distribution detection by NLL, exact and estimated (paper Fig. 2, made quantitative).

    In-distribution: stationary MK4 windows of length ``length``. Shifted: windows of the
    same chain with every row tempered, P^(1/T) (T = 3 flattens it). The detector flags a
    high NLL under MK4 (the model is the true chain, scored by its optimal denoiser). The
    NLL is either exact (chain rule) or the time-free estimate (Thm 4.1) with a budget of n
    draws; the ROC and AUROC (Mann–Whitney, :func:`auroc`) show what a budget costs. Each
    budget uses its own disjoint block of draws of one seeded run per sequence.

    Parameters
    ----------
    n_per_group : int
    budgets : increasing sequence of int
        Time-free draws per sequence.
    temperature : float > 0
        T of the shifted source (T = 1 is no shift).
    length : int
        Window length L (4^L windows are enumerated for the joint; L ≤ 10).
    seed : int

    Returns
    -------
    FigureResult
    """
    n_per_group = _positive("n_per_group", n_per_group, minimum=2)
    budgets = _sizes("budgets", budgets)
    if not float(temperature) > 0:
        raise ValueError(f"`temperature` must be positive (got {temperature!r})")
    length = _positive("length", length)
    if length > 10:
        raise ValueError(f"`length` must be at most 10: the exact joint has 4^L windows (got {length})")
    g_in, g_out, *g_mc = _seeds(seed, 2 + 2 * n_per_group)
    ch = markov4()
    shifted = tempered_chain(ch, temperature)
    X = np.concatenate([ch.sample(length, n=n_per_group, rng=g_in), shifted.sample(length, n=n_per_group, rng=g_out)])
    label = np.repeat([0, 1], n_per_group)
    exact = ch.nll(X)
    joint = ch.joint(length)
    A = moments.optimal_mask_dce(joint, X)
    draws = np.stack(
        [
            conditional.conditional_estimate(
                joint, x, estimator="time_free", n_samples=int(sum(budgets)), rng=g, table=a, return_values=True
            ).values
            for x, a, g in zip(X, A, g_mc)
        ]
    )
    edges = np.concatenate([[0], np.cumsum(budgets)])
    est = {n: draws[:, lo:hi].mean(axis=1) for n, lo, hi in zip(budgets, edges[:-1], edges[1:])}
    au = {"exact": auroc(exact[label == 0], exact[label == 1])}
    for n in budgets:
        au[n] = auroc(est[n][label == 0], est[n][label == 1])
    fig, (ax, bx, cx) = new_figure(1, 3, width="page", height=2.5)
    show = budgets[min(2, len(budgets) - 1)]
    bins = np.linspace(min(exact.min(), est[show].min()), max(exact.max(), np.percentile(est[show], 99.5)), 40)
    for grp, name in ((0, "in: MK4"), (1, f"shifted: T = {temperature}")):
        col = COLORS["in" if grp == 0 else "out"]
        ax.hist(exact[label == grp], bins=bins, density=True, color=col, alpha=0.35, label=f"{name}, exact")
        ax.hist(
            est[show][label == grp],
            bins=bins,
            density=True,
            histtype="step",
            color=col,
            lw=0.9,
            label=f"{name}, MC n = {show}",
        )
    ax.set_xlabel("NLL under MK4 (nats)")
    ax.set_ylabel("density")
    ax.set_title(f"NLL, {n_per_group} in + {n_per_group} shifted, L = {length}")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.45)
    ax.legend(loc="upper right", fontsize=5.6)
    fpr, tpr = roc_curve(exact[label == 0], exact[label == 1])
    bx.plot(fpr, tpr, color=COLORS["true"], lw=1.2, label=f"exact NLL: AUROC {au['exact']:.3f}")
    palette = [
        COLORS["mc"],
        COLORS["rb_lambda_dce"],
        COLORS["k_dce"],
        COLORS["importance"],
        COLORS["shade"],
        COLORS["exact"],
    ]
    for n, col in zip(budgets, palette):
        f, t_ = roc_curve(est[n][label == 0], est[n][label == 1])
        bx.plot(f, t_, color=col, lw=0.8, label=f"MC n = {n}: {au[n]:.3f}")
    bx.plot([0, 1], [0, 1], color="#bbbbbb", lw=0.5, ls="--")
    bx.set_xlabel("false positive rate")
    bx.set_ylabel("true positive rate")
    bx.set_title("ROC: flag high NLL as shifted")
    bx.set_aspect("equal")
    bx.set_xlim(0, 1)
    bx.set_ylim(0, 1)
    bx.legend(loc="lower right", fontsize=5.6)
    cx.plot(list(budgets), [au[n] for n in budgets], "o-", color=COLORS["mc"], ms=3.5, label="time-free MC")
    cx.axhline(au["exact"], color=COLORS["true"], lw=0.9, label="exact NLL")
    cx.set_xscale("log", base=2)
    cx.set_xticks(list(budgets), [str(n) for n in budgets])
    cx.minorticks_off()
    cx.set_xlabel("MC draws per sequence")
    cx.set_ylabel("AUROC")
    cx.set_title("AUROC against the budget")
    cx.legend(loc="lower right")
    for axx, lab in zip((ax, bx, cx), "abc"):
        panel_label(axx, lab)
    table = {
        "group": np.where(label == 0, "in", "shifted"),
        "label": label,
        "sequence": np.array(ch.decode(X)),
        "exact_nll": exact,
        **{f"estimated_nll_n{n}": est[n] for n in budgets},
    }
    t_auc = {
        "nll": ["exact", *[f"estimated_n{n}" for n in budgets]],
        "n_samples": [0, *budgets],
        "auroc": [au["exact"], *[au[n] for n in budgets]],
    }
    t_auc = {k: np.array(v) for k, v in t_auc.items()}
    summary = {"auroc_exact": au["exact"], **{f"auroc_n{n}": au[n] for n in budgets}}
    return FigureResult("ood_detection", {"ood_detection": table, "ood_detection_auroc": t_auc}, fig, summary)


# =================================================================================== registry
#: Figure name -> function, in the order ``ctmc-lab figures`` makes them.
# ========================================================================== LLaDA's evaluator
@_timed
def llada_audit(
    *,
    n_max: int = 64,
    dna_lengths: int = 12,
    mk4_lengths: int = 12,
    mk4_pairs: int = 16,
    mk1_pairs: int = 8,
    prompt_length: int = 16,
    seed: int = 0,
) -> FigureResult:
    """LLaDA's ``get_log_likelihood``: the exact count law, bias and variance over (n, b).

    (a) max_m |n w̄(m) - 1| of the batch-averaged count law for n ≤ ``n_max``, b = 1..64 (0: unbiased
    for every source); (b) exact bias at the default b = 16 against answer length on D128-like
    sources (c*, every support sequence), MK4 prompt–response pairs and a first-order chain
    (the paper's softmax recipe at k = 1; exact at any n by :func:`ctmc_lab.estimation.llada.markov1_level_means`);
    (c) D128's bias against b, mean and range over its 128 sequences, and the fix at 0; (d) exact
    variance per draw on D128 (mean over sequences) of LLaDA's rule, the fix, a balanced multiset
    of counts with a random remainder, plain k-DCE and stratified k-DCE. Every number is exact (bias (★) and the batch moments of :mod:`ctmc_lab.estimation.llada`).

    Parameters
    ----------
    n_max : int
        Largest answer length of the count-law grid and of the first-order chain.
    dna_lengths, mk4_lengths : int
        Answer lengths 1.. of the D128-like sources and the MK4 pairs (all 2^n masks enumerated).
    mk4_pairs, mk1_pairs : int
        Prompt–response pairs per answer length.
    prompt_length : int
    seed : int

    Returns
    -------
    FigureResult
        Tables ``llada_audit`` (bias per source, n, b), ``llada_audit_counts`` (count law per n, b)
        and ``llada_audit_variance`` (D128 variances per b).
    """
    from ctmc_lab.estimation import llada

    n_max = _positive("n_max", n_max)
    bs = np.arange(1, 65)
    counts = llada.count_audit(n_max, bs)
    p = datasets.dna128()
    A_d, _ = _d128_tables(p)
    nll_d = p.nll(p.support)
    stats_d = llada.level_stats(A_d)
    tables = [llada.bias_table({8: stats_d.mean}, bs, source="dna128")]
    tables.append(
        llada.bias_table(
            {
                n: llada.dna128_like_level_stats(n, seed=seed)[0].mean
                for n in range(1, _positive("dna_lengths", dna_lengths) + 1)
            },
            bs,
            source="dna128_like",
        )
    )
    mk4 = markov4()
    tables.append(
        llada.bias_table(
            {
                n: llada.mk4_pair_level_stats(
                    mk4, n, pairs=_positive("mk4_pairs", mk4_pairs), prompt_length=prompt_length, seed=seed
                )[0].mean
                for n in range(1, _positive("mk4_lengths", mk4_lengths) + 1)
            },
            bs,
            source="mk4_pairs",
        )
    )
    mk1 = MarkovChain.from_softmax(4, 1, temperature=0.5, rng=seed)
    tables.append(
        llada.bias_table(
            {
                n: llada.markov1_pair_level_means(mk1, n, pairs=_positive("mk1_pairs", mk1_pairs), seed=seed)
                for n in range(1, n_max + 1)
            },
            bs,
            source="mk1_pairs",
        )
    )
    table = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    # D128 variances per draw (b · Var of one batch mean), mean over the support
    var = {
        k: []
        for k in (
            "b",
            "bias_llada",
            "var_llada",
            "var_fixed",
            "var_balanced",
            "var_k_dce",
            "var_k_dce_stratified",
            "mse_llada_default",
        )
    }
    plain = np.array([m.variance for m in moments.estimator_moments(A_d, "k_dce")])
    for b in bs:
        lm = llada.llada_moments(stats_d, batch_size=int(b), mc_num=max(128, int(b)), reference=nll_d)
        fx = llada.llada_moments(stats_d, batch_size=int(b), mc_num=max(128, int(b)), rule="fixed")
        bal = llada.balanced_moments(stats_d, batch_size=int(b), mc_num=max(128, int(b)))
        _, strat = moments.stratified_k_dce_moments(A_d, int(b))
        for key, val in (
            ("b", b),
            ("bias_llada", np.mean([m.bias for m in lm])),
            ("var_llada", np.mean([m.per_draw_variance for m in lm])),
            ("var_fixed", np.mean([m.per_draw_variance for m in fx])),
            ("var_balanced", np.mean([m.per_draw_variance for m in bal])),
            ("var_k_dce", plain.mean()),
            ("var_k_dce_stratified", np.mean(strat)),
            ("mse_llada_default", np.mean([m.bias**2 + m.variance_of_mean for m in lm])),
        ):
            var[key].append(val)
    var = {k: np.array(v) for k, v in var.items()}

    fig, axes = new_figure(2, 2, width="page", height=5.0)
    ax = axes[0, 0]
    grid = counts["max_deviation"].reshape(n_max, bs.size)
    im = ax.imshow(
        np.where(grid > 1e-12, grid, np.nan).T,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        extent=(0.5, n_max + 0.5, 0.5, 64.5),
        vmin=0,
        vmax=max(float(grid.max()), 1e-12),
    )
    ax.axhline(16, color=COLORS["mc"], lw=0.6, ls="--")
    cb = fig.colorbar(im, ax=ax, pad=0.02)
    cb.set_label("max |n w̄(m) − 1|")
    ax.set_xlabel("answer length n")
    ax.set_ylabel("batch size b")
    n_bad = int((~counts["uniform"]).sum())
    ax.set_title(f"non-uniform count law: {n_bad} of {grid.size} (n, b); white = uniform")
    bx = axes[0, 1]
    at16 = table["b"] == 16
    styles = {
        "dna128_like": ("o", COLORS["time_free"], "D128-like (c*, min(128, 4^n) seqs)"),
        "mk4_pairs": ("s", COLORS["lambda_dce"], f"MK4 pairs ({mk4_pairs}/n)"),
        "mk1_pairs": ("^", COLORS["k_dce"], f"first-order chain pairs ({mk1_pairs}/n)"),
    }
    for src, (mk, col, lab) in styles.items():
        sel = at16 & (table["source"] == src)
        bx.plot(table["n"][sel], table["bias_mean"][sel], mk + "-", ms=2.2, lw=0.5, mfc="none", color=col, label=lab)
        bx.fill_between(table["n"][sel], table["bias_min"][sel], table["bias_max"][sel], color=col, alpha=0.15, lw=0)
    sel = at16 & (table["source"] == "dna128")
    bx.plot(table["n"][sel], table["bias_mean"][sel], "*", ms=6, color=COLORS["true"], label="D128")
    bx.axhline(0, color=COLORS["true"], lw=0.5)
    bx.set_xlabel("answer length n")
    bx.set_ylabel("bias at b = 16 (nats)")
    bx.set_title("exact bias of get_log_likelihood at its defaults")
    bx.legend(loc="upper right", fontsize=5.6)
    cx = axes[1, 0]
    sel = table["source"] == "dna128"
    cx.fill_between(
        table["b"][sel],
        table["bias_min"][sel],
        table["bias_max"][sel],
        color=COLORS["shade"],
        alpha=0.5,
        lw=0,
        label="range over 128 sequences",
    )
    cx.plot(
        table["b"][sel], table["bias_mean"][sel], "o", ms=2.0, mfc="none", mew=0.5, color=COLORS["exact"], label="mean"
    )
    cx.axhline(0, color=COLORS["k_dce"], lw=0.8, ls="--", label="fixed rule (0 at every b)")
    cx.axvline(16, color=COLORS["mc"], lw=0.5, ls=":")
    cx.set_xlabel("batch size b")
    cx.set_ylabel("bias on D128, n = 8 (nats)")
    cx.set_title("D128 (n = 8): bias against b")
    cx.legend(loc="upper right", fontsize=5.6)
    dx = axes[1, 1]
    for key, col, ls, lab in (
        ("var_k_dce", COLORS["true"], "-", "plain k-DCE (i.i.d.)"),
        ("var_k_dce_stratified", COLORS["rb_lambda_dce"], "-", "stratified k-DCE"),
        ("var_balanced", COLORS["importance"], ":", "balanced + random remainder"),
        ("var_fixed", COLORS["k_dce"], "-", "fixed rule"),
        ("var_llada", COLORS["lambda_dce"], "--", "LLaDA rule"),
    ):
        dx.plot(var["b"], var[key], ls, lw=0.8, color=col, label=lab)
    dx.set_yscale("log")
    dx.set_xlabel("batch size b")
    dx.set_ylabel("b · Var(batch mean), D128 mean (nats²)")
    dx.set_title("exact variance per draw, D128")
    dx.legend(loc="center right", fontsize=5.6)
    for axx, lab in zip(axes.ravel(), "abcd"):
        panel_label(axx, lab)
    d16 = table["source"] == "dna128"
    summary = {
        "nonuniform_pairs": n_bad,
        "dna128_bias_b16_mean": float(table["bias_mean"][d16 & at16][0]),
        "dna128_bias_b16_range": [float(table["bias_min"][d16 & at16][0]), float(table["bias_max"][d16 & at16][0])],
        "mk4_max_mean_bias_b16": float(table["bias_mean"][at16 & (table["source"] == "mk4_pairs")].max()),
    }
    return FigureResult(
        "llada_audit", {"llada_audit": table, "llada_audit_counts": counts, "llada_audit_variance": var}, fig, summary
    )


FIGURES = {
    "fig1a_dna128_nll": fig1a_dna128_nll,
    "fig1b_markov_conditional": fig1b_markov_conditional,
    "imdse_curves": imdse_curves,
    "dse_dce_equivalence": dse_dce_equivalence,
    "variance_vs_samples": variance_vs_samples,
    "heavy_tail": heavy_tail,
    "coupled_vs_decoupled": coupled_vs_decoupled,
    "sampler_comparison": sampler_comparison,
    "ood_detection": ood_detection,
    "llada_audit": llada_audit,
}


def make_figures(
    out_dir, *, only=None, formats=("pdf", "png", "csv"), seed: int = 0, progress=None, options=None
) -> dict:
    """Make figures and write them into ``out_dir``.

    Parameters
    ----------
    out_dir : path
    only : str or list of str, optional
        Figure names (keys of ``FIGURES``); all by default.
    formats : iterable of {"pdf", "png", "svg", "csv"}
    seed : int
        Passed to every figure.
    progress : callable, optional
        Called as ``progress(name, result)`` after each figure.
    options : dict, optional
        ``{name: {keyword: value}}`` overrides per figure (e.g. reduced sizes).

    Returns
    -------
    dict
        ``{name: (FigureResult, [paths written])}``.
    """
    names = list(FIGURES) if only is None else ([only] if isinstance(only, str) else list(only))
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure name(s) {unknown}; choose from {list(FIGURES)}")
    options = options or {}
    out = {}
    for name in names:
        res = FIGURES[name](seed=seed, **options.get(name, {}))
        paths = res.write(out_dir, formats=formats)
        # Free the figure's memory at once: nine figures of this size add up.
        res.figure.clear()
        out[name] = (res, paths)
        if progress is not None:
            progress(name, res)
    return out
