"""The recorded runs of the public evaluators' own code (ctmc_lab/conformance/data/published_evidence.json).

The Monte Carlo side is recorded evidence (their code, run outside this repository); what is
checked here is everything it is compared with: the exact side of every row is recomputed now from
the registered replica on the rebuilt case (a change to a replica's law, its settings or a case
builder moves it), the z arithmetic, agreement within sampling error, that a biased replica's bias
is visible in their outputs, the citations, and that docs/published.md shows this table.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from ctmc_lab.conformance import cases
from ctmc_lab.conformance.published import format_evidence, load_evidence
from ctmc_lab.estimation.replica_registry import get_replica

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = load_evidence()
RUNS = EVIDENCE["runs"]


def _case(run):
    """The case of a run: its spec, with the builder's extra arguments (Dream's EOS rows have no padding)."""
    if not run["case_options"]:
        return cases.parse_case(run["case"])
    kind, n, index = run["case"].split(":")
    assert kind == "eos", run["case"]
    return cases.eos_pair(int(n), index=int(index), **run["case_options"])


def _replica(run):
    replica = get_replica(run["replica"])
    return dataclasses.replace(replica, **run["replica_options"]) if run["replica_options"] else replica


def _id(run):
    return f"{run['evaluator']}@{run['case']}"


def _params(runs):
    """The runs as parameters; one whose exact moments the replica calls slow (d1's 2^16 prompt masks) is slow."""
    return [
        pytest.param(r, id=_id(r), marks=[pytest.mark.slow] if _replica(r).slow(_case(r), variance=False) else [])
        for r in runs
    ]


@pytest.mark.parametrize("run", _params(RUNS))
def test_the_exact_side_is_the_replica_now(run):
    """Exact mean, variance and target of each row equal the registered replica's on the rebuilt case."""
    case, replica = _case(run), _replica(run)
    m = replica.moments(case)
    assert m.mean == pytest.approx(run["exact_mean"], rel=1e-10, abs=1e-12)
    assert replica.target(case) == pytest.approx(run["target"], rel=1e-12)
    assert case.cond_nll == pytest.approx(run["target"], rel=1e-12)  # every row claims -log p(answer | prompt)
    assert math.isinf(m.variance) == run["exact_variance_infinite"]
    if not run["exact_variance_infinite"]:
        assert m.variance == pytest.approx(run["exact_variance"], rel=1e-8)


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_their_outputs_agree_with_the_replica(run):
    """z = (their mean - exact mean)/se with se = sqrt(sample variance / runs), |z| < 4; an evaluator of
    exact variance 0 (d1 on a source without a prompt) gives the exact mean every run, to float32."""
    assert run["n_runs"] >= 400
    if run["exact_variance"] == 0:
        assert run["mc_se"] == 0 and run["z"] is None
        assert run["mc_mean"] == pytest.approx(run["exact_mean"], rel=1e-6)
        return
    assert run["mc_se"] == pytest.approx(math.sqrt(run["sample_variance"] / run["n_runs"]), rel=1e-6)
    assert run["z"] == pytest.approx((run["mc_mean"] - run["exact_mean"]) / run["mc_se"], rel=1e-12)
    assert run["z_target"] == pytest.approx((run["mc_mean"] - run["target"]) / run["mc_se"], rel=1e-12)
    assert abs(run["z"]) < 4


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_a_bias_the_replica_predicts_is_seen_in_their_outputs(run):
    """Where the exact bias is many se, their mean is off the target by as much; where it is 0, it is not."""
    if run["mc_se"] == 0:
        assert run["mc_mean"] - run["target"] == pytest.approx(run["exact_mean"] - run["target"], abs=1e-5)
        return
    bias = (run["exact_mean"] - run["target"]) / run["mc_se"]
    if abs(bias) > 8:
        assert abs(run["z_target"]) > 4 and math.copysign(1, run["z_target"]) == math.copysign(1, bias)
    elif abs(bias) < 0.5:
        assert abs(run["z_target"]) < 4


def test_the_verdicts_the_runs_confirm():
    """The findings of docs/published.md, each backed by a run of the project's own code."""
    by = {(r["replica"], r["case"]): r for r in RUNS}
    llada = by["llada_harness_b8", "mk4:4:8"]  # LLaDA's rule at the b lm-eval hands over: biased
    assert llada["z_target"] > 50 and abs(llada["z"]) < 4
    assert abs(by["llada_harness_b1", "mk4:4:8"]["exact_mean"] - by["llada_harness_b1", "mk4:4:8"]["target"]) < 1e-9
    dream = by["dream", "eos:4:0"]  # EOS kept visible after the answer: about n log(1 - p_end) below the NLL
    assert dream["exact_mean"] - dream["target"] == pytest.approx(4 * math.log(0.8), abs=0.02)
    assert dream["z_target"] < -20
    assert by["radd_lambda_dce", "dna128:120"]["exact_variance_infinite"]  # λ reaching 0: flagged
    assert by["smdm", "mk4:4:8"]["exact_variance_infinite"]
    d1 = by["d1", "dna128:7"]  # one-pass mean-field proxy: the same number every run, nats above the NLL
    assert d1["mc_se"] == 0 and d1["mc_mean"] - d1["target"] > 5
    for name in ("mdlm", "sedd_absorb", "radd_t_dce"):  # documented truncation, negative and small
        bias = by[name, "dna128:7"]["exact_mean"] - by[name, "dna128:7"]["target"]
        assert -0.01 < bias < -0.004


@pytest.mark.parametrize("run", RUNS, ids=_id)
def test_citations_are_the_registry(run):
    code = get_replica(run["replica"]).code
    assert (run["project"], run["file"], run["function"], run["commit"]) == (
        code.repo,
        code.path,
        code.function,
        code.commit,
    )


def test_lm_eval_hands_llada_the_batch_size():
    """The plumbing claim: --batch_size 8 reaches LLaDA's harness as b = 8; without it, b = 1."""
    p = EVIDENCE["lm_eval_plumbing"]
    assert p["lm_eval"] == "0.4.8"
    assert p["batch_size_reaching_constructor"]["--batch_size 8"] == "8"
    assert p["batch_size_reaching_constructor"]["no --batch_size"] == 1
    assert p["llada_harness_self_batch_size"] == {"--batch_size 8": 8, "no --batch_size": 1}


def test_the_docs_show_this_table():
    page = (ROOT / "docs" / "published.md").read_text(encoding="utf-8")
    assert format_evidence(EVIDENCE) in page
