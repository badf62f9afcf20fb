"""Every field ``nll``, ``estimate`` and ``curve`` write with ``--json``, on a small case, against
an independent computation written here (support scans, mask enumeration, dense expm).

The distribution: five sequences over {A, B}^3, so that requested sequences can lie outside
the support between sequences inside it (the record of each must stay with its sequence).
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import integrate

from ctmc_lab.forward.generators import NOISE_PROCESSES
from proofs_check import count_rules
from tests import bruteforce
from tests.cli_helpers import run_main

TABLE = {"AAA": 0.3, "ABA": 0.2, "BBA": 0.25, "BAB": 0.15, "BBB": 0.1}
SYMBOLS = "AB"
L = 3


@pytest.fixture
def dist_file(tmp_path):
    path = tmp_path / "dist.json"
    path.write_text(json.dumps(TABLE))
    return path


def _json(tmp_path, *argv):
    out = tmp_path / "out.json"
    status, _, err = run_main(*argv, "--json", out)
    assert status == 0, err
    return json.loads(out.read_text())


def prob(seq: str, visible=range(L)) -> float:
    """P0(x^U): the mass of the table's sequences equal to ``seq`` on ``visible``."""
    return sum(p for z, p in TABLE.items() if all(z[i] == seq[i] for i in visible))


def a_table(seq: str) -> dict:
    """A(M) for every mask M ⊆ {0..L-1} (a frozenset): Σ_{i∈M} -log P(x^i | x^{not M})."""
    out = {}
    for r in range(L + 1):
        for M in itertools.combinations(range(L), r):
            vis = [i for i in range(L) if i not in M]
            out[frozenset(M)] = sum(-math.log(prob(seq, vis + [i]) / prob(seq, vis)) for i in M)
    return out


def law(name: str):
    """(q, f) of a mask-size estimator, from the paper (Thm 4.1, §6.1–6.2, §8)."""
    n, H = L, sum(1 / k for k in range(1, L + 1))
    H1 = sum(1 / k for k in range(1, L))
    q = {
        "time_free": lambda m: 1 / (m * H) if m else 0.0,
        "k_dce": lambda m: 1 / n if m else 0.0,
        "rb_lambda_dce": lambda m: 1 / (n + 1),
        "omit_full_mask": lambda m: 1 / (m * H1) if 0 < m < n else 0.0,
        "omit_full_mask_token_mean": lambda m: 1 / (m * H1) if 0 < m < n else 0.0,
    }[name]
    f = {
        "time_free": lambda m: H,
        "k_dce": lambda m: n / m if m else 0.0,
        "rb_lambda_dce": lambda m: (n + 1) / m if m else 0.0,
        "omit_full_mask": lambda m: H,
        "omit_full_mask_token_mean": lambda m: H / m if m else 0.0,
    }[name]
    return q, f


def scheme_moments(A: dict, name: str):
    q, f = law(name)
    draws = [(q(len(M)) / math.comb(L, len(M)), f(len(M)) * a) for M, a in A.items()]
    mean = sum(p * g for p, g in draws)
    return mean, sum(p * (g - mean) ** 2 for p, g in draws)


def lambda_dce_second(A: dict) -> float:
    """E[(A(M)/λ)²] with λ ~ U(0,1), M ~ Bernoulli(λ)^L, by quadrature."""

    def integrand(lam):
        return sum(lam ** len(M) * (1 - lam) ** (L - len(M)) * a * a for M, a in A.items()) / lam**2

    return integrate.quad(integrand, 0, 1, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def llada_moments(A: dict, name: str, b: int = 16):
    """(E Ḡ, Var Ḡ) of one batch of LLaDA's evaluator by total variance over k (counts: the rational twin)."""
    levels = {m: [a for M, a in A.items() if len(M) == m] for m in range(1, L + 1)}
    e = {m: L / m * np.mean(v) for m, v in levels.items()}
    var = {m: (L / m) ** 2 * np.var(v) for m, v in levels.items()}
    rows = count_rules.counts(name, L, b)
    given_k = [sum(e[x] for x in row) / b for row in rows]
    mean = sum(given_k) / L
    within = sum(sum(var[x] for x in row) / b**2 for row in rows) / L
    between = sum((g - mean) ** 2 for g in given_k) / L
    return mean, within + between


def test_nll_records_keep_their_sequences_and_every_field(tmp_path, dist_file):
    seqs = ["ABB", "AAA", "AAB", "BBA", "BBB"]  # ABB and AAB lie outside the support
    data = _json(tmp_path, "nll", "--dist", dist_file, "--sequence", *seqs)
    assert data["distribution"] == {
        "name": str(dist_file),
        "alphabet": "AB",
        "n_tokens": 2,
        "length": 3,
        "support_size": 5,
    }
    records = data["sequences"]
    assert [r["sequence"] for r in records] == seqs
    worst, infinite = 0.0, 0
    for seq, rec in zip(seqs, records):
        p = prob(seq)
        assert rec["probability"] == pytest.approx(p, abs=1e-15)
        assert rec["in_support"] is (p > 0)
        if p == 0:
            assert rec["nll"] is None and rec["estimators"] is None
            assert rec["decompositions"] == dict.fromkeys(rec["decompositions"]) and rec["decomposition_reasons"] == {}
            continue
        truth = -math.log(p)
        assert rec["nll"] == pytest.approx(truth, abs=1e-13)
        assert set(rec["decompositions"]) == {
            "absorbing_mdse_integral",
            "uniform_mdse_integral",
            "mdce_integral",
            "time_free",
        }
        for value in rec["decompositions"].values():
            assert value == pytest.approx(truth, abs=1e-10)
            worst = max(worst, abs(value - rec["nll"]))
        assert rec["decomposition_reasons"] == {}
        A = a_table(seq)
        est = rec["estimators"]
        for name in ("time_free", "k_dce", "rb_lambda_dce", "omit_full_mask", "omit_full_mask_token_mean"):
            mean, var = scheme_moments(A, name)
            assert est[name]["mean"] == pytest.approx(mean, abs=1e-12), name
            assert est[name]["bias"] == pytest.approx(mean - truth, abs=1e-12), name
            assert est[name]["variance"] == pytest.approx(var, rel=1e-12, abs=1e-13), name
            assert est[name]["variance_is_infinite"] is False and est[name]["infinite_because"] is None
        singles = [i for i in range(L) if A[frozenset([i])] > 0]
        lam = est["lambda_dce"]
        assert lam["mean"] == pytest.approx(truth, abs=1e-12) and lam["bias"] == pytest.approx(0.0, abs=1e-12)
        assert lam["variance_is_infinite"] is bool(singles)
        assert lam["infinite_because"] == (singles or None)
        if singles:
            assert lam["variance"] is None
        else:
            assert lam["variance"] == pytest.approx(lambda_dce_second(A) - truth**2, rel=1e-9)
        infinite += int(any(e["variance_is_infinite"] for e in est.values()))
        for name in ("llada_stratified", "llada_stratified_fixed"):
            mean, var = llada_moments(A, name)
            rec_l = est[name]
            assert rec_l["batch_size"] == 16 and rec_l["mc_num"] == 128
            assert rec_l["mean"] == pytest.approx(mean, abs=1e-12)
            assert rec_l["bias"] == pytest.approx(mean - truth, abs=1e-12)
            assert rec_l["variance"] == pytest.approx(16 * var, rel=1e-12)
            assert rec_l["variance_of_mean"] == pytest.approx(var / 8, rel=1e-12)
            assert rec_l["variance_is_infinite"] is False and rec_l["infinite_because"] is None
    assert data["summary"]["sequences"] == len(seqs)
    assert data["summary"]["in_support"] == sum(prob(s) > 0 for s in seqs)
    assert data["summary"]["max_abs_deviation"] == pytest.approx(worst, abs=1e-15)
    assert data["summary"]["infinite_variance"] == infinite


def test_nll_sequence_outside_the_support_alone(tmp_path, dist_file):
    data = _json(tmp_path, "nll", "--dist", dist_file, "--sequence", "ABB")
    [rec] = data["sequences"]
    assert (rec["sequence"], rec["probability"], rec["nll"], rec["in_support"]) == ("ABB", 0.0, None, False)
    assert data["summary"] == {"sequences": 1, "in_support": 0, "max_abs_deviation": None, "infinite_variance": 0}


def _index(seq: str) -> int:
    return sum(SYMBOLS.index(c) * 2 ** (L - 1 - i) for i, c in enumerate(seq))


@pytest.mark.parametrize("estimator", ["time_free", "k_dce_stratified"])
def test_estimate_records_use_one_stream_per_sequence(tmp_path, dist_file, estimator):
    """Each record equals a run of that sequence alone under default_rng([S, idx]), in any order."""
    from ctmc_lab.estimation.estimators import estimate
    from ctmc_lab.sources.joint import JointDistribution

    dist = JointDistribution.from_dict(TABLE, alphabet=SYMBOLS)
    denoiser = dist.denoiser()
    seqs = ["BBA", "AAA", "BAB"]
    base = ["estimate", "--dist", dist_file, "--estimator", estimator, "--samples", 64, "--seed", 5, "--sequence"]
    runs = [_json(tmp_path, *base, *order) for order in (seqs, seqs[::-1], seqs[1:2])]
    for order, data in zip((seqs, seqs[::-1], seqs[1:2]), runs):
        assert (data["command"], data["estimator"], data["seed"], data["samples"]) == ("estimate", estimator, 5, 64)
        assert data["distribution"]["support_size"] == 5
        assert data["batch_size"] == (4096 if estimator == "time_free" else 32)
        assert [r["sequence"] for r in data["sequences"]] == order
        for seq, rec in zip(order, data["sequences"]):
            ref = estimate(
                estimator,
                denoiser,
                dist.encode(seq),
                n_samples=64,
                rng=np.random.default_rng([5, _index(seq)]),
                batch_size=data["batch_size"],
            )
            assert (rec["estimate"], rec["stderr"], rec["samples"]) == (ref.mean, ref.stderr, 64)
            assert rec["nll"] == pytest.approx(-math.log(prob(seq)), abs=1e-13)
    by_seq = [{r["sequence"]: r["estimate"] for r in d["sequences"]} for d in runs]
    assert by_seq[0] == by_seq[1] and by_seq[2]["AAA"] == by_seq[0]["AAA"]


@pytest.mark.parametrize(("process", "schedule"), [("absorbing", "loglinear"), ("uniform", "linear")])
def test_curve_columns_against_dense_expm(tmp_path, dist_file, process, schedule):
    """σ̄ and σ written out per schedule; KL, mdse and I by dense expm on S^L (tests/bruteforce.py)."""
    from ctmc_lab.sources.joint import JointDistribution

    dist = JointDistribution.from_dict(TABLE, alphabet=SYMBOLS)
    times = [0.2, 0.6]
    data = _json(
        tmp_path,
        "curve",
        "--dist",
        dist_file,
        "--sequence",
        "BBA",
        "--process",
        process,
        "--schedule",
        schedule,
        "--times",
        "0.2,0.6",
    )
    assert (data["sequence"], data["process"], data["schedule"], data["in_support"]) == ("BBA", process, schedule, True)
    gen = NOISE_PROCESSES[process].generator(2)
    eps = 1e-3
    for t, pt in zip(times, data["points"]):
        assert list(pt) == [
            "t",
            "sigma_bar",
            "mask_level",
            "kl",
            "kl_rate",
            "mdse",
            "mutual_information",
            "mdse_marginal",
        ]
        if schedule == "loglinear":
            sbar, rate = -math.log(1 - (1 - eps) * t), (1 - eps) / (1 - (1 - eps) * t)
        else:
            sbar, rate = t, 1.0
        assert pt["t"] == t
        assert pt["sigma_bar"] == pytest.approx(sbar, rel=1e-14)
        if process == "absorbing":
            assert pt["mask_level"] == pytest.approx(-math.expm1(-sbar), rel=1e-14)
        else:
            assert pt["mask_level"] is None
        x0 = dist.encode("BBA")
        kl = bruteforce.kl(dist, gen, sbar, x0)
        mdse = bruteforce.mdse(dist, gen, sbar, x0)
        mi = sum(p * bruteforce.kl(dist, gen, sbar, z) for z, p in zip(dist.support, dist.probs))
        marginal = sum(p * bruteforce.mdse(dist, gen, sbar, z) for z, p in zip(dist.support, dist.probs))
        assert pt["kl"] == pytest.approx(kl, rel=1e-10)
        assert pt["mdse"] == pytest.approx(rate * mdse, rel=1e-9)
        assert pt["kl_rate"] == pytest.approx(-rate * mdse, rel=1e-9)
        assert pt["mutual_information"] == pytest.approx(mi, rel=1e-10)
        assert pt["mdse_marginal"] == pytest.approx(rate * marginal, rel=1e-9)
