"""Cases: their exact targets against routes that share no algebra with the source's marginals
(chain rules, sums over the support, enumeration of continuations), and the spec strings."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctmc_lab.conformance import cases
from ctmc_lab.estimation.llada import markov1_level_means
from ctmc_lab.studies.llada_audit import mk4_pair_level_stats


def test_dna128_targets_are_the_table_nll():
    case = cases.parse_case("dna128:7")
    p = case.source
    assert case.answer == tuple(range(8)) and case.prompt == ()
    expect = -np.log(p.probs[7])
    for name in cases.TARGETS:
        assert case.target(name) == pytest.approx(expect, abs=1e-12)
    assert float(case.target_mp("cond_nll")) == pytest.approx(expect, abs=1e-12)


def test_markov_pairs_are_the_llada_audits_pairs_and_their_chain_rule():
    stats, truth, xs = mk4_pair_level_stats(cases.markov_pair(1).source, 3, pairs=3)
    for i in range(3):
        case = cases.markov_pair(3, index=i)
        np.testing.assert_array_equal(case.x, xs[i])
        chain = case.source
        # chain rule from the prompt's last 4 symbols, written out
        ctx = list(case.x[12:16])
        manual = 0.0
        for y in case.answer_tokens:
            c = int(np.dot(ctx, 4 ** np.arange(3, -1, -1)))
            manual -= np.log(chain.table[c, y])
            ctx = ctx[1:] + [int(y)]
        assert case.cond_nll == pytest.approx(manual, abs=1e-12) == pytest.approx(truth[i], abs=1e-12)
        assert case.cond_nll_rest == case.cond_nll  # nothing after the answer
        assert case.joint_nll == pytest.approx(case.nll, abs=1e-12)
        np.testing.assert_allclose(case.level_stats().mean, stats.mean[i], atol=1e-12)


def test_eos_case_targets_by_enumerating_continuations():
    case = cases.parse_case("eos:3:1")
    chain = case.source.chain
    start = int(case.source.start[-1])
    P = chain.table
    row = case.x
    assert row[-3:].tolist() == [4, 5, 5] and case.rest == (11, 12, 13)

    def path(tokens, prev):
        out = 1.0
        for t in tokens:
            out *= P[prev, t]
            prev = t
        return out

    prompt, answer = row[:8].tolist(), row[8:11].tolist()
    p_x = path(prompt, start)
    p_xy = p_x * path(answer, prompt[-1])
    assert case.cond_nll == pytest.approx(-np.log(p_xy / p_x), abs=1e-12)
    # P(x, y, rest) and P(x, rest): sum over every answer of 3 symbols of the 6.
    p_rest = sum(p_x * path(list(y) + [4, 5, 5], prompt[-1]) for y in itertools.product(range(6), repeat=3))
    p_all = p_x * path(answer + [4, 5, 5], prompt[-1])
    assert case.cond_nll_rest == pytest.approx(-np.log(p_all / p_rest), abs=1e-12)
    assert abs(case.cond_nll_rest - case.cond_nll) > 0.1  # the EOS offset the harnesses plant


def test_first_order_pairs_have_level_means_past_the_table_limit():
    long = cases.parse_case("mk1:20:2")
    assert long.n == 20 and long.prompt == (0,)
    stats = long.level_stats()
    assert stats.second is None and stats.nll == pytest.approx(long.cond_nll, abs=1e-10)
    with pytest.raises(ValueError, match="A-tables are built up to 16"):
        long.mask_dce_table()
    short = cases.markov1_pair(5, index=2)  # the A-table route and the first-order route agree
    routed = markov1_level_means(short.source.table, short.answer_tokens, left=int(short.x[0]))
    np.testing.assert_allclose(short.level_stats().mean, routed, atol=1e-12)


def test_from_file_and_from_source(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"AAB": 0.5, "ABA": 0.25, "BBA": 0.25}')
    case = cases.parse_case(f"file:{path}@1")
    assert case.n == 3 and case.cond_nll == pytest.approx(np.log(4))
    prompt = cases.from_file(path, index=0, prompt_length=1)
    assert prompt.prompt == (0,) and prompt.cond_nll == pytest.approx(-np.log(0.5 / 0.75))
    src = cases.from_source(case.source, "BBA", prompt=[0])
    assert src.answer == (1, 2) and src.cond_nll == pytest.approx(-np.log(0.25 / 0.25))


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("nope:1", "unknown `--case`"),
        ("dna128:999", "row index must lie in 0..127"),
        ("mk4:x", "are not all integers"),
        ("mk4:0", "`answer_length` must be a positive integer"),
        ("dna128-like:1", "expected 2 to 2"),
        ("file:", "needs a path"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, needle):
    with pytest.raises(ValueError, match=None) as err:
        cases.parse_case(spec)
    assert needle in str(err.value)
