"""The paper-style figures (issue 6): every figure runs on reduced sizes, writes its files, and
the exact columns of its CSV match independent computations.

The references here do not go through ctmc_lab's subset tables or moment code: D128
probabilities are read from the JSON file, MK4 probabilities are rebuilt from its JSON table
(with the stationary law from numpy's eigensolver), pattern marginals are explicit sums over
the support, and the estimator moments are the textbook sums over all masks.
"""

from __future__ import annotations

import argparse
import csv
import functools
import itertools
import json
import math

import matplotlib as mpl
import numpy as np
import pytest
from scipy.special import beta as beta_fn

from ctmc_lab import plotting
from ctmc_lab.cli import figures as cli_figures
from ctmc_lab.forward import generators
from ctmc_lab.sources import datasets
from ctmc_lab.studies import figures
from ctmc_lab.studies.protocol import run_protocol
from tests import bruteforce

DNA = "ATGC"


# ============================================================================ independent oracles
def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def col(rows, name, kind=float):
    return np.array([kind(r[name]) for r in rows])


def H(n):
    return sum(1.0 / j for j in range(1, n + 1))


@pytest.fixture(scope="module")
def d128_table():
    with open(datasets.data_path("dna128.json"), encoding="utf-8") as fh:
        return json.load(fh)


class MK4:
    """The order-4 chain rebuilt from the JSON table, with numpy's stationary eigenvector."""

    def __init__(self):
        with open(datasets.data_path("markov4.json"), encoding="utf-8") as fh:
            raw = json.load(fh)
        self.P = {ctx: np.array([row[c] for c in DNA]) / sum(row.values()) for ctx, row in raw.items()}
        ctxs = ["".join(t) for t in itertools.product(DNA, repeat=4)]
        idx = {c: i for i, c in enumerate(ctxs)}
        T = np.zeros((256, 256))
        for c in ctxs:
            for v, sym in enumerate(DNA):
                T[idx[c], idx[c[1:] + sym]] += self.P[c][v]
        w, V = np.linalg.eig(T.T)
        pi = np.real(V[:, np.argmin(np.abs(w - 1))])
        self.pi = {c: p for c, p in zip(ctxs, pi / pi.sum())}

    def cond_nll(self, prompt: str, response: str) -> float:
        s = prompt + response
        return -sum(math.log(self.P[s[j - 4 : j]][DNA.index(s[j])]) for j in range(len(prompt), len(s)))

    def window_prob(self, w: str) -> float:
        p = self.pi[w[:4]]
        for j in range(4, len(w)):
            p *= self.P[w[j - 4 : j]][DNA.index(w[j])]
        return p


@pytest.fixture(scope="module")
def mk4():
    return MK4()


def pattern_prob(table: dict, x0: str, visible) -> float:
    """P0(x0^U) as an explicit sum over the support."""
    return _pattern_prob(tuple(table.items()), x0, tuple(sorted(visible)))


@functools.cache
def _pattern_prob(items, x0, visible):
    return sum(p for z, p in items if all(z[i] == x0[i] for i in visible))


def brute_A(table: dict, x0: str) -> dict:
    """A(M) = sum_{i in M} -log P0(x0^{U+i}) / P0(x0^U) for every mask M (a frozenset)."""
    L = len(x0)
    out = {}
    for m in range(L + 1):
        for M in itertools.combinations(range(L), m):
            U = [i for i in range(L) if i not in M]
            base = pattern_prob(table, x0, U)
            out[frozenset(M)] = sum(-math.log(pattern_prob(table, x0, U + [i]) / base) for i in M)
    return out


def brute_variances(A: dict, L: int) -> dict:
    """Exact single-draw variances of the unbiased samplers, textbook sums over masks."""
    nll = sum(beta_fn(len(M), L - len(M) + 1) * a for M, a in A.items() if M)
    out = {}
    e2 = sum(H(L) * beta_fn(len(M), L - len(M) + 1) * a**2 for M, a in A.items() if M)
    out["time_free"] = e2 - nll**2
    e2 = sum((L / len(M)) ** 2 * a**2 / (L * math.comb(L, len(M))) for M, a in A.items() if M)
    out["k_dce"] = e2 - nll**2
    e2 = sum(((L + 1) / len(M)) ** 2 * a**2 / ((L + 1) * math.comb(L, len(M))) for M, a in A.items() if M)
    out["rb_lambda_dce"] = e2 - nll**2
    if any(a > 0 for M, a in A.items() if len(M) == 1):
        out["lambda_dce"] = math.inf
    else:
        e2 = sum(a**2 * beta_fn(len(M) - 1, L - len(M) + 1) for M, a in A.items() if len(M) >= 2)
        out["lambda_dce"] = e2 - nll**2
    mean_omit = sum(H(L) * a / (len(M) * H(L - 1) * math.comb(L, len(M))) for M, a in A.items() if 0 < len(M) < L)
    out["bias_omit_full_mask"] = mean_omit - nll
    out["nll"] = nll
    return out


def written(tmp_path, res):
    paths = res.write(tmp_path)
    for ext in ("pdf", "png"):
        f = tmp_path / f"{res.name}.{ext}"
        assert f.exists() and f.stat().st_size > 5000, f
    for stem in res.tables:
        assert (tmp_path / f"{stem}.csv").exists()
    assert len(paths) == 2 + len(res.tables)
    return read_csv(tmp_path / f"{res.name}.csv")


# ================================================================================== the figures
def test_fig1a(tmp_path, d128_table):
    res = figures.fig1a_dna128_nll(n_samples=256, seed=3)
    rows = written(tmp_path, res)
    assert len(rows) == 128
    seqs = [r["sequence"] for r in rows]
    true = np.array([-math.log(d128_table[s]) for s in seqs])
    np.testing.assert_allclose(col(rows, "true_nll"), true, rtol=0, atol=1e-13)
    np.testing.assert_allclose(col(rows, "exact_time_free"), true, rtol=0, atol=1e-12)
    assert np.all(np.diff(true) >= 0), "rows are sorted by the true NLL"
    z = (col(rows, "mc_mean") - true) / col(rows, "mc_stderr")
    np.testing.assert_allclose(col(rows, "z_score"), z, atol=1e-9)
    assert np.all(col(rows, "mc_samples", int) == 256)
    # 128 roughly normal z-scores: a broken estimator would drift far beyond this.
    assert np.mean(np.abs(z) < 1.96) > 0.85 and np.abs(z).max() < 5


def test_fig1b_matches_protocol_and_chain_rule(tmp_path, mk4):
    res = figures.fig1b_markov_conditional(pairs=3, response_length=6, mc_samples=256, seed=5)
    rows = written(tmp_path, res)
    true = np.array([mk4.cond_nll(r["prompt"], r["response"]) for r in rows])
    np.testing.assert_allclose(col(rows, "true_nll"), true, rtol=0, atol=1e-11)
    np.testing.assert_allclose(col(rows, "exact_time_free"), true, rtol=0, atol=1e-10)
    # The same pairs, and the same Monte Carlo draws, as the issue-5 protocol.
    proto = run_protocol(figures.markov4(), response_length=6, pairs=3, mc_samples=256, seed=5)
    by_prompt = {p.prompt + p.response: p for p in proto.pairs}
    for r in rows:
        p = by_prompt[r["prompt"] + r["response"]]
        assert abs(float(r["mc_mean"]) - p.mc.mean) < 1e-10


def test_imdse_curves(tmp_path):
    dist = datasets.dirichlet(2, 3, alpha=1.0, rng=np.random.default_rng(7), alphabet="AB")
    res = figures.imdse_curves(dist=dist, n_points=5)
    rows = written(tmp_path, res)
    x0 = dist.encode(res.summary["sequence"])
    assert abs(res.summary["neg_log_p0"] - dist.nll(x0)) < 1e-15
    for kind in ("absorbing", "uniform"):
        gen = generators.absorbing(2) if kind == "absorbing" else generators.uniform(2)
        sub = [r for r in rows if r["process"] == kind]
        assert len(sub) == 5
        for r in sub[1::3]:
            s = float(r["sigma_bar"])
            assert abs(float(r["kl"]) - bruteforce.kl(dist, gen, s, x0)) < 1e-12
            mi = sum(p * bruteforce.kl(dist, gen, s, x) for x, p in zip(dist.support, dist.probs))
            assert abs(float(r["mutual_information"]) - mi) < 1e-12
            assert abs(float(r["mdse"]) - float(r["sigma"]) * bruteforce.mdse(dist, gen, s, x0)) < 1e-10
        # Theorem 3.1 in t: the exact rate is -mdse, pointwise and marginally.
        assert np.max(np.abs(col(sub, "kl_rate") + col(sub, "mdse"))) < 1e-10
        assert np.max(np.abs(col(sub, "mutual_information_rate") + col(sub, "mdse_marginal"))) < 1e-10
        # Theorem 3.2: the shaded areas are -log p0(x0) and H(p0).
        assert abs(res.summary[f"{kind}_area_pointwise"] - dist.nll(x0)) < 1e-9
        assert abs(res.summary[f"{kind}_area_marginal"] - dist.entropy()) < 1e-9


def test_dse_dce_equivalence(tmp_path):
    dist = datasets.dirichlet(3, 3, alpha=1.0, rng=np.random.default_rng(11), alphabet="ABC")
    res = figures.dse_dce_equivalence(dist=dist, n_points=9, mix_weight=0.25)
    rows = written(tmp_path, res)
    table = dict(zip(dist.decode(dist.support), dist.probs))
    x0 = dist.decode(dist.support[np.argmax(dist.probs)])
    # c* at x = x0 masked on {0, 2}: each masked site conditioned on the visible site 1 only.
    cond = {i: pattern_prob(table, x0, [1, i]) / pattern_prob(table, x0, [1]) for i in (0, 2)}
    dce_opt = -sum(math.log(c) for c in cond.values())
    dce_mix = -sum(math.log(0.75 * c + 0.25 / 3) for c in cond.values())
    eps = 1e-3
    for r in rows:
        want = dce_opt if r["denoiser"].startswith("optimal") else dce_mix
        assert abs(float(r["dce"]) - want) < 1e-12
        t = float(r["t"])
        sb = -math.log(1 - (1 - eps) * t)
        sig = (1 - eps) / (1 - (1 - eps) * t)
        assert abs(float(r["scaled_dce"]) - sig / math.expm1(sb) * want) < 1e-10 * (1 + sig / math.expm1(sb))
        assert float(r["rel_residual"]) < 1e-12  # Lemma 3.3
        # The control with sigma_bar in place of sigma differs by orders of magnitude at small t.
    small = [r for r in rows if float(r["t"]) < 1e-2]
    assert all(float(r["scaled_dce_wrong_factor"]) < 0.1 * float(r["dse"]) for r in small)


def test_variance_vs_samples(tmp_path, d128_table):
    res = figures.variance_vs_samples(n_list=(16, 32), repeats=6, n_sequences=2, response_length=4, seed=1)
    rows = written(tmp_path, res)
    seqs = read_csv(tmp_path / "variance_vs_samples_sequences.csv")
    d128 = [r for r in seqs if r["panel"] == "a"]
    assert len(d128) == 2
    refs = []
    for r in d128:
        v = brute_variances(brute_A(d128_table, r["sequence"]), 8)
        assert math.isfinite(v["lambda_dce"]), "panel a holds sequences with finite λ-DCE variance"
        assert abs(float(r["exact_variance_time_free"]) - v["time_free"]) < 1e-9
        assert abs(float(r["exact_variance_lambda_dce"]) - v["lambda_dce"]) < 1e-9
        refs.append(v)
    for r in rows:
        n = int(r["n_samples"])
        if r["panel"] == "a":
            want = np.mean([v[r["estimator"]] for v in refs]) / n
            assert abs(float(r["exact_variance"]) - want) < 1e-10
        elif r["estimator"] == "lambda_dce":
            assert r["exact_variance"] == "inf"  # MK4: every a_i > 0
        assert float(r["sampled_variance"]) > 0
    assert {r["panel"] for r in seqs} == {"a", "b"}
    assert all(r["exact_variance_lambda_dce"] == "inf" for r in seqs if r["panel"] == "b")


def test_heavy_tail(tmp_path, d128_table, mk4):
    res = figures.heavy_tail(n_max=2**10, repeats=4, seed=2)
    rows = written(tmp_path, res)
    a_rows = [r for r in rows if r["panel"] == "a" and r["estimator"] == "lambda_dce"]
    window = a_rows[0]["sequence"]
    assert len(window) == 8
    p = mk4.window_prob(window)
    a = [-math.log(p / sum(mk4.window_prob(window[:i] + v + window[i + 1 :]) for v in DNA)) for i in range(8)]
    assert abs(float(a_rows[0]["predicted_slope"]) - 0.5 * sum(x * x for x in a)) < 1e-10
    assert all(r["exact_variance"] == "inf" for r in a_rows)
    ctrl = [r for r in rows if r["panel"] == "b"]
    seq = ctrl[0]["sequence"]
    v = brute_variances(brute_A(d128_table, seq), 8)
    for r in ctrl:
        assert abs(float(r["exact_variance"]) - v[r["estimator"]]) < 1e-9
    grid = sorted({int(r["n"]) for r in rows})
    assert grid[0] == 16 and grid[-1] == 2**10


def test_coupled_vs_decoupled(tmp_path, d128_table, mk4):
    res = figures.coupled_vs_decoupled(n_triplets=4, n_list=(5, 10), repeats=4, seed=4)
    rows = written(tmp_path, res)
    for r in rows:
        want = mk4.cond_nll(r["prompt"], r["response_minus"]) - mk4.cond_nll(r["prompt"], r["response_plus"])
        assert abs(float(r["log_ratio_true"]) - want) < 1e-10
        assert abs(float(r["log_ratio_time_free_exact"]) - want) < 1e-10
        cov = float(r["variance_decoupled"]) - float(r["variance_coupled"])
        assert abs(cov - float(r["covariance_term"])) < 1e-9
        assert (r["coupling_helps"] == "true") == (cov >= 0)
    # D128 pairs against the covariance route of docs/theory.md §6.4, from brute-force tables.
    pairs = read_csv(tmp_path / "coupled_vs_decoupled_d128_pairs.csv")
    assert len(pairs) == 128 * 127 // 2
    pick = [pairs[k] for k in (0, 77, 4000, 8127)]
    L, h = 8, H(8)
    for r in pick:
        Ai, Aj = brute_A(d128_table, r["sequence_i"]), brute_A(d128_table, r["sequence_j"])
        P = {M: beta_fn(len(M), L - len(M) + 1) / h for M in Ai if M}
        mi = sum(P[M] * h * Ai[M] for M in P)
        mj = sum(P[M] * h * Aj[M] for M in P)
        vi = sum(P[M] * (h * Ai[M] - mi) ** 2 for M in P)
        vj = sum(P[M] * (h * Aj[M] - mj) ** 2 for M in P)
        cij = sum(P[M] * (h * Ai[M] - mi) * (h * Aj[M] - mj) for M in P)
        assert abs(float(r["variance_decoupled"]) - (vi + vj)) < 1e-8
        assert abs(float(r["variance_coupled"]) - (vi + vj - 2 * cij)) < 1e-8
    by_n = read_csv(tmp_path / "coupled_vs_decoupled_by_n.csv")
    mean_c = np.mean(col(rows, "variance_coupled"))
    for r in by_n:
        if r["mode"] == "coupled":
            assert abs(float(r["exact_variance"]) - mean_c / int(r["n_samples"])) < 1e-10


def test_sampler_comparison(tmp_path, d128_table):
    res = figures.sampler_comparison(n_windows=8, seed=0)
    rows = written(tmp_path, res)
    d = [r for r in rows if r["source"] == "d128"]
    assert len(d) == 128
    for r in d[::25]:
        v = brute_variances(brute_A(d128_table, r["sequence"]), 8)
        assert abs(float(r["true_nll"]) + math.log(d128_table[r["sequence"]])) < 1e-13
        for name in ("time_free", "k_dce", "rb_lambda_dce"):
            assert abs(float(r[f"var_{name}"]) - v[name]) < 1e-9
        if math.isinf(v["lambda_dce"]):
            assert r["var_lambda_dce"] == "inf"
        else:
            assert abs(float(r["var_lambda_dce"]) - v["lambda_dce"]) < 1e-9
        assert abs(float(r["bias_omit_full_mask"]) - v["bias_omit_full_mask"]) < 1e-10
        finite = {k: v[k] for k in ("time_free", "k_dce", "rb_lambda_dce", "lambda_dce")}
        assert r["winner"] == min(finite, key=finite.get)
        assert float(r["var_importance"]) <= min(finite.values()) + 1e-9
        # The code's t-DCE is nearly unbiased: truncation at 1e-3 and the missing 1/(1-ε_s).
        assert -0.05 < float(r["bias_t_dce"]) < 0
    assert any(r["source"] == "mk4" for r in rows)


def test_ood_detection(tmp_path, mk4):
    res = figures.ood_detection(n_per_group=30, budgets=(1, 8), seed=9)
    rows = written(tmp_path, res)
    exact = np.array([-math.log(mk4.window_prob(r["sequence"])) for r in rows])
    np.testing.assert_allclose(col(rows, "exact_nll"), exact, rtol=0, atol=1e-11)
    label = col(rows, "label", int)
    assert (label == 0).sum() == (label == 1).sum() == 30

    def pairwise(neg, pos):
        return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))

    auc = {r["nll"]: float(r["auroc"]) for r in read_csv(tmp_path / "ood_detection_auroc.csv")}
    assert abs(auc["exact"] - pairwise(exact[label == 0], exact[label == 1])) < 1e-12
    for n in (1, 8):
        est = col(rows, f"estimated_nll_n{n}")
        assert abs(auc[f"estimated_n{n}"] - pairwise(est[label == 0], est[label == 1])) < 1e-12


# ====================================================================== helpers, style, CLI
def test_auroc_and_roc_against_pairwise():
    rng = np.random.default_rng(0)
    neg = rng.integers(0, 6, 40).astype(float)  # many ties
    pos = rng.integers(2, 9, 30).astype(float)
    want = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert abs(figures.auroc(neg, pos) - want) < 1e-15
    fpr, tpr = figures.roc_curve(neg, pos)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert abs(np.trapezoid(tpr, fpr) - want) < 1e-12  # trapezoids count ties as halves
    with pytest.raises(ValueError, match="scores_in"):
        figures.auroc([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        figures.auroc([1.0], [np.nan])


def test_style_is_scoped_and_csv_round_trips(tmp_path):
    before = dict(mpl.rcParams)
    with plotting.style():
        assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][0].lower() == "#0072b2"
        assert mpl.rcParams["text.usetex"] is False
        fig, ax = plotting.new_figure()
        ax.plot([0, 1], [0, 1])
    assert dict(mpl.rcParams) == before
    vals = np.array([0.1, 1 / 3, np.inf, 1e-300])
    path = plotting.write_csv(str(tmp_path / "t.csv"), {"x": vals, "name": np.array(["a", "b", "c", "d"])})
    back = read_csv(path)
    assert [float(r["x"]) for r in back] == vals.tolist()  # exact float64 round trip
    with pytest.raises(ValueError, match="equal lengths"):
        plotting.write_csv(str(tmp_path / "u.csv"), {"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="width"):
        plotting.new_figure(width="poster")


def test_registry_and_make_figures(tmp_path):
    assert list(figures.FIGURES) == [
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
    ]
    with pytest.raises(ValueError, match="unknown figure"):
        figures.make_figures(tmp_path, only="fig9")
    out = figures.make_figures(
        tmp_path, only="dse_dce_equivalence", formats=("png", "csv"), options={"dse_dce_equivalence": {"n_points": 8}}
    )
    assert sorted(p.rsplit("/", 1)[-1] for p in out["dse_dce_equivalence"][1]) == [
        "dse_dce_equivalence.csv",
        "dse_dce_equivalence.png",
    ]


def test_cli_subcommand(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ctmc-lab")
    cli_figures.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["figures", "--out", str(tmp_path / "o"), "--only", "dse_dce_equivalence", "--formats", "png,csv"]
    )
    assert args.func(args) == 0
    assert sorted(f.name for f in (tmp_path / "o").iterdir()) == ["dse_dce_equivalence.csv", "dse_dce_equivalence.png"]
    assert "dse_dce_equivalence" in capsys.readouterr().out
    for bad in (["--only", "nope"], ["--formats", "gif"]):
        args = parser.parse_args(["figures", "--out", str(tmp_path / "p"), *bad])
        with pytest.raises(ValueError):
            args.func(args)


@pytest.mark.parametrize(
    "fn, kwargs, match",
    [
        (figures.fig1a_dna128_nll, {"n_samples": 1}, "n_samples"),
        (figures.fig1b_markov_conditional, {"prompt_length": 3}, "prompt_length"),
        (figures.variance_vs_samples, {"n_list": (256, 128)}, "n_list"),
        (figures.heavy_tail, {"n_max": 1000}, "power of 2"),
        (figures.coupled_vs_decoupled, {"repeats": 1}, "repeats"),
        (figures.dse_dce_equivalence, {"mix_weight": 0.0}, "mix_weight"),
        (figures.ood_detection, {"temperature": -1.0}, "temperature"),
        (figures.imdse_curves, {"x0": "AAAA"}, "length"),
    ],
)
def test_bad_arguments_name_themselves(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)
