"""The resource model against measured work: einsum multiply-adds, tracemalloc peaks, denoiser rows.

Each command refuses a run from its estimate before it starts, so an estimate that over-counts
refuses documented commands (``nll --dist markov4`` at its defaults was refused at 1.4e11 for
what is 2.6e10) and one that under-counts lets a run through to an out-of-memory. The estimates
are compared here with counts measured on the code itself, never with wall-clock time.
"""

from __future__ import annotations

import itertools
import json
import math
import tracemalloc

import numpy as np
import pytest

from ctmc_lab.cli import markov_protocol, nll
from ctmc_lab.cli._budget import WORK_LIMIT, absorbing_marginal_cost, memory_limit
from ctmc_lab.sources.markov import MarkovChain, markov4
from ctmc_lab.studies import protocol
from tests.cli_helpers import assert_refused, run_main

CHAINS = {
    "markov4": markov4,
    "order2_N3": lambda: MarkovChain.from_dirichlet(3, 2, rng=1),
    "order1_N8": lambda: MarkovChain.from_dirichlet(8, 1, rng=2),
    "order3_N2": lambda: MarkovChain.from_dirichlet(2, 3, rng=3),
}


def _measured_pair(chain, prompt_length, response_length, monkeypatch):
    """(einsum multiply-adds, tracemalloc peak bytes) of scoring one pair, as the CLI does."""
    real = np.einsum
    count = [0]

    def counting(subscripts, *operands, **kw):
        extents = {}
        for spec, op in zip(subscripts.split("->")[0].split(","), operands):
            extents.update(zip(spec, np.shape(op)))
        count[0] += math.prod(extents.values())
        return real(subscripts, *operands, **kw)

    monkeypatch.setattr(np, "einsum", counting)
    tracemalloc.start()
    try:
        protocol.score_pair(
            chain,
            np.random.default_rng(0),
            prompt_length=prompt_length,
            response_length=response_length,
            mc_samples=512,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        monkeypatch.setattr(np, "einsum", real)
    return count[0], peak


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("response_length", [8, 10, 12])
def test_protocol_contractions_match_the_counted_einsum_work(name, response_length, monkeypatch):
    """The trie's multiply-adds, predicted from (N, k, P, R), within 10% to 2x of those performed."""
    chain = CHAINS[name]()
    prompt = max(chain.order, 8)
    measured, _ = _measured_pair(chain, prompt, response_length, monkeypatch)
    predicted = markov_protocol.trie_contractions(chain.n_tokens, chain.order, prompt, response_length)
    assert 0.9 <= predicted / measured <= 2.0, (predicted, measured)


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("response_length", [10, 12])
def test_protocol_memory_matches_the_traced_peak(name, response_length, monkeypatch):
    chain = CHAINS[name]()
    prompt = max(chain.order, 8)
    _, peak = _measured_pair(chain, prompt, response_length, monkeypatch)
    predicted, _ = markov_protocol.pair_cost(chain.n_tokens, chain.order, prompt, response_length, 512)
    assert 0.7 <= predicted / peak <= 3.0, (predicted, peak)


def test_the_documented_markov4_defaults_fit_the_budget():
    """64 pairs, response 16, 8192 draws (Fig. 1b): 2.6e10 counted operations and 0.3 GB, under the limits.

    The old model counted every mask x every position x N^(k+1) (1.4e11) and refused it.
    """
    memory, work = markov_protocol.pair_cost(4, 4, 16, 16, protocol.MC_SAMPLES, 6)
    assert 64 * work == pytest.approx(2.6e10, rel=0.1)
    assert 64 * work < WORK_LIMIT
    assert memory == pytest.approx(2.8e8, rel=0.1)
    # The contraction part is the sum the trie performs: checked above on smaller R, and it
    # scales as 2**R (R = 12 -> 16 multiplies it by 16 up to the prompt's fixed share).
    c12 = markov_protocol.trie_contractions(4, 4, 16, 12)
    c16 = markov_protocol.trie_contractions(4, 4, 16, 16)
    assert 16 <= c16 / c12 <= 22


@pytest.mark.slow
def test_nll_markov4_runs_at_its_documented_defaults(tmp_path):
    """``ctmc-lab nll --dist markov4`` as documented (about 40 s on 2 cores)."""
    out = tmp_path / "mk.json"
    status, stdout, err = run_main("nll", "--dist", "markov4", "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())
    assert rec["protocol"]["pairs"] == 64 and rec["protocol"]["response_length"] == 16
    assert rec["protocol"]["mc_samples"] == 8192
    assert rec["protocol"]["max_abs_true_minus_time_free"] < 1e-9
    assert len(rec["pairs"]) == 64


def _write_chain(path, n_symbols: str, order: int, rng):
    table = {}
    for ctx in itertools.product(n_symbols, repeat=order):
        w = rng.random(len(n_symbols)) + 0.1
        table["".join(ctx)] = dict(zip(n_symbols, (w / w.sum()).tolist()))
    path.write_text(json.dumps(table))
    return path


def test_an_order_8_chain_is_refused_with_numbers_not_out_of_memory(tmp_path):
    """4^8 = 65,536 contexts: the dense lifted matrix of π alone is 34 GB (two copies: 68 GiB)."""
    path = _write_chain(tmp_path / "mk8.json", "ATGC", 8, np.random.default_rng(0))
    status, stdout, err = run_main("nll", "--dist", f"markov:{path}", "--pairs", "1", "--response-length", "4")
    line = assert_refused(status, err, "nll", "order-8 chain over 4 symbols", "65,536 contexts", "GiB of memory")
    assert "a lower order" in line and stdout == ""


def test_stationary_cost_counts_the_dense_lifted_matrix():
    """Against the allocation itself: the lifted matrix of an order-9 binary chain is (512, 512)."""
    chain = MarkovChain.from_dirichlet(2, 9, rng=0)
    tracemalloc.start()
    try:
        chain.stationary_distribution()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    predicted, _ = markov_protocol.stationary_cost(2, 9)
    assert 0.5 <= predicted / peak <= 3.0, (predicted, peak)


def _alphabet_file(path, n_symbols: int, length: int):
    symbols = [chr(0x100 + i) for i in range(n_symbols)]
    path.write_text(json.dumps({s * length: 1 / n_symbols for s in symbols}, ensure_ascii=False), encoding="utf-8")
    return path, symbols[0] * length


def test_absorbing_marginal_memory_counts_the_kronecker_factor():
    """The Kronecker factor K ⊗ K of ``absorbing_marginal`` is ((N+1)^2, N^2): 12 GiB at N = 200."""
    memory, work = absorbing_marginal_cost(200, 2)
    assert memory >= 8 * (201 * 200) ** 2
    assert work >= 200**2 * 201**2
    # Measured at a small N: the traced peak of one p_s is within the estimate's range.
    from ctmc_lab.forward.marginals import absorbing_marginal

    n, length = 12, 3
    p0 = np.random.default_rng(0).random((n,) * length)
    p0 /= p0.sum()
    tracemalloc.start()
    try:
        absorbing_marginal(p0, 0.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    predicted, _ = absorbing_marginal_cost(n, length)
    assert 0.5 <= predicted / peak <= 3.0, (predicted, peak)


def test_a_200_symbol_alphabet_is_refused_with_numbers(tmp_path, monkeypatch):
    """``curve`` and ``nll``'s absorbing column need the 3 x 12 GiB factor: refused (curve), skipped (nll)."""
    monkeypatch.setattr("ctmc_lab.cli._budget.available_memory", lambda: 8 << 30)
    path, seq = _alphabet_file(tmp_path / "a200.json", 200, 2)
    status, stdout, err = run_main("curve", "--dist", path, "--sequence", seq, "--times", "0.5")
    assert_refused(status, err, "curve", "201^2 noisy states", "GiB of memory", "fewer symbols")
    assert stdout == ""


@pytest.mark.slow
def test_a_200_symbol_alphabet_skips_the_absorbing_column_with_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr("ctmc_lab.cli._budget.available_memory", lambda: 8 << 30)
    path, seq = _alphabet_file(tmp_path / "a200.json", 200, 2)
    out = tmp_path / "n.json"
    status, stdout, err = run_main("nll", "--dist", path, "--sequence", seq, "--json", out)
    assert status == 0, err
    rec = json.loads(out.read_text())["sequences"][0]
    assert rec["decompositions"]["absorbing_mdse_integral"] is None
    assert "GiB of memory" in rec["decomposition_reasons"]["absorbing_mdse_integral"]
    assert rec["decompositions"]["time_free"] == pytest.approx(math.log(200), abs=1e-12)


def test_memory_limit_is_half_of_what_is_available(monkeypatch):
    monkeypatch.setattr("ctmc_lab.cli._budget.available_memory", lambda: 10 << 30)
    assert memory_limit() == 5 << 30


@pytest.mark.parametrize("scan", [False, True])
def test_nll_counts_the_denoiser_rows_it_evaluates(monkeypatch, scan):
    """The time-free column sends every masked input of each sequence through c*: the model's row
    term (2^L rows per sequence at its per-row cost) is the rows evaluated, counted, at that cost."""
    from ctmc_lab.cli._budget import optimal_row_cost
    from ctmc_lab.sequences import all_sequences
    from ctmc_lab.sources import joint

    if scan:  # the support scan instead of the pattern table
        monkeypatch.setattr(joint, "PATTERN_LIMIT", 100)
    rng = np.random.default_rng(0)
    support = all_sequences(3, 5)[rng.choice(3**5, size=40, replace=False)]
    dist = joint.JointDistribution(support, rng.random(40), n_tokens=3, normalize=True)
    rows = [0]
    real = joint.JointDistribution.conditional_log_probs

    def counting(self, x):
        rows[0] += np.asarray(x).shape[0]
        return real(self, x)

    monkeypatch.setattr(joint.JointDistribution, "conditional_log_probs", counting)
    nll.compute(dist, dist.support[:3])
    per_input, build = optimal_row_cost(dist.n_tokens, dist.length, dist.support_size)
    assert (build == 0) == scan
    assert 3 * (2**dist.length - 1) <= rows[0] <= 3 * 2**dist.length
    _, work = nll.sequence_cost(dist, 3)
    row_term = 3 * 2**dist.length * per_input
    assert row_term <= work - build
    assert rows[0] * per_input == pytest.approx(row_term, rel=0.05)  # the empty mask is not evaluated


@pytest.mark.parametrize("n_tokens, length", [(4, 6), (3, 8), (12, 3)])
@pytest.mark.parametrize("process", ["absorbing", "uniform"])
def test_curve_memory_matches_the_traced_peak(n_tokens, length, process):
    from ctmc_lab.cli import curve
    from ctmc_lab.forward.generators import NOISE_PROCESSES
    from ctmc_lab.sequences import all_sequences
    from ctmc_lab.sources.joint import JointDistribution

    rng = np.random.default_rng(0)
    size = min(200, n_tokens**length)
    support = all_sequences(n_tokens, length)[rng.choice(n_tokens**length, size=size, replace=False)]
    dist = JointDistribution(support, rng.random(size), n_tokens=n_tokens, normalize=True)
    tracemalloc.start()
    try:
        curve.compute(dist, support[0], process, "loglinear", [0.5])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    predicted, _ = curve.curve_cost(NOISE_PROCESSES[process].generator(n_tokens), length, 1)
    assert 0.7 <= predicted / peak <= 3.0, (predicted, peak)
