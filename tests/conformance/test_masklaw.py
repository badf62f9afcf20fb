"""Mask-law tests on logs of masks drawn from known laws: calibrated under the declared law,
decisive against a wrong one, and the dependence tests tell independent, stratified and shared
rows apart."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import comb

from ctmc_lab.conformance import cases, masklaw
from ctmc_lab.conformance.calllog import CallLog
from ctmc_lab.estimation.llada import llada_counts


def _log(batches, n):
    """A call log holding the given answer masks, one call per batch."""
    log = CallLog()
    log.begin_run(0)
    for masks in batches:
        masks = np.asarray(masks, dtype=np.int64)
        k = masks.size
        log.record(
            kind="core",
            ids=np.zeros((k, n), int),
            answer_masks=masks,
            prompt_masked=np.zeros(k, int),
            on_case=np.ones(k, bool),
            loss=np.zeros(k),
            impossible=np.zeros(k, bool),
        )
    return log


def _uniform_of_size(rng, n, m):
    return int(np.sum(1 << rng.permutation(n)[:m]))


def _draw(rng, n, sizes):
    return [_uniform_of_size(rng, n, int(m)) for m in sizes]


N = 6


def test_k_dce_law_is_calibrated_and_rejects_time_free_sizes():
    law = masklaw.estimator_law("k_dce")
    p_values = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        log = _log([_draw(rng, N, rng.integers(1, N + 1, 8)) for _ in range(100)], N)
        tests = masklaw.law_tests(log, law, N)
        p_values += [tests[k]["p_value"] for k in ("sizes", "uniform", "dependence")]
    p_values = np.array(p_values)
    assert np.mean(p_values < 0.05) < 0.05 + 3 * np.sqrt(0.05 * 0.95 / p_values.size)
    rng = np.random.default_rng(0)
    q = 1 / np.arange(1, N + 1)
    wrong = _log([_draw(rng, N, rng.choice(np.arange(1, N + 1), 8, p=q / q.sum())) for _ in range(100)], N)
    assert masklaw.law_tests(wrong, law, N)["sizes"]["p_value"] < 1e-12


def test_positions_given_sizes_reject_a_favoured_position():
    rng = np.random.default_rng(1)
    batches = []
    for _ in range(200):  # sizes uniform on 1..N, but position 0 is always among the masked
        m = rng.integers(1, N + 1, 8)
        batches.append([1 | int(np.sum(1 << (1 + rng.permutation(N - 1)[: k - 1]))) for k in m])
    masks = np.concatenate([np.asarray(b) for b in batches])
    assert masklaw._position_test(masks, N)[1] < 1e-12
    fair = np.array(_draw(rng, N, rng.integers(1, N + 1, 1600)))
    assert masklaw._position_test(fair, N)[1] > 1e-4


def test_dependence_tells_stratified_and_shared_from_independent():
    rng = np.random.default_rng(2)
    law = masklaw.estimator_law("k_dce")
    strat = _log([_draw(rng, N, 1 + (np.arange(6) + rng.integers(6)) % 6) for _ in range(100)], N)
    shared = _log([[_uniform_of_size(rng, N, int(rng.integers(1, N + 1)))] * 6 for _ in range(100)], N)
    free = _log([_draw(rng, N, rng.integers(1, N + 1, 6)) for _ in range(100)], N)
    assert masklaw.law_tests(strat, law, N)["dependence"]["p_value"] < 1e-12
    assert masklaw.law_tests(shared, law, N)["dependence"]["p_value"] < 1e-12
    assert masklaw.law_tests(free, law, N)["dependence"]["p_value"] > 1e-4
    assert masklaw.detect(strat, N)["stratified_p"] < 1e-12 and masklaw.detect(shared, N)["shared_p"] < 1e-12
    found = masklaw.detect(free, N)
    assert found["stratified_p"] > 1e-4 and found["shared_p"] > 1e-4


@pytest.mark.parametrize("b", [4, 8])
def test_llada_law_rows_accept_the_rule_and_reject_its_fix(b):
    n = 5
    rng = np.random.default_rng(3)
    law = masklaw.llada_law(b)

    def calls(rule):
        table = llada_counts(n, b, rule=rule)
        return _log([_draw(rng, n, table[rng.integers(n)]) for _ in range(400)], n)

    assert masklaw.law_tests(calls("llada"), law, n)["rows"]["p_value"] > 1e-4
    assert masklaw.law_tests(calls("fixed"), law, n)["rows"]["p_value"] < 1e-12


def test_lambda_law_sizes_are_the_beta_binomial_integral():
    from scipy.integrate import quad

    n, eps = 4, 0.3
    sizes = masklaw.lambda_law(eps).sizes(n)
    for m in range(n + 1):
        expect = comb(n, m) * quad(lambda lam: lam**m * (1 - lam) ** (n - m), eps, 1)[0] / (1 - eps)
        assert sizes[m] == pytest.approx(expect, abs=1e-13)
    np.testing.assert_allclose(masklaw.lambda_law().sizes(n), 1 / (n + 1))


def test_a_drawn_size_of_probability_zero_fails_outright():
    law = masklaw.estimator_law("k_dce")  # m ≥ 1
    log = _log([[0, 1, 2, 3]] * 30, N)
    assert masklaw.law_tests(log, law, N)["sizes"]["p_value"] == 0.0


def test_plugin_values_are_the_declared_weighting_of_the_logged_losses():
    case = cases.dna128(0)
    log = CallLog()
    log.begin_run(0)
    log.record(
        kind="core",
        ids=np.zeros((2, 8), int),
        answer_masks=np.array([0b1, 0b1011]),
        prompt_masked=np.zeros(2, int),
        on_case=np.ones(2, bool),
        loss=np.array([0.5, 2.0]),
        impossible=np.zeros(2, bool),
    )
    law = masklaw.estimator_law("k_dce")
    assert log.plugin_values(law.weight, case.n) == {0: pytest.approx((8 * 0.5 + 8 / 3 * 2.0) / 2)}


def test_a_declared_shared_law_tests_one_row_per_call():
    rng = np.random.default_rng(4)
    base = masklaw.estimator_law("k_dce")
    shared = masklaw.MaskLaw("k_dce shared", sizes=base.sizes, weight=base.weight, dependence="shared")
    log = _log([[_uniform_of_size(rng, N, int(rng.integers(1, N + 1)))] * 16 for _ in range(60)], N)
    tests = masklaw.law_tests(log, shared, N)
    assert tests["dependence"]["p_value"] == 1.0
    assert tests["sizes"]["p_value"] > 1e-4 and tests["uniform"]["p_value"] > 1e-4
    assert masklaw.law_tests(log, base, N)["dependence"]["p_value"] < 1e-12


def _skewed_law(n=4):
    """Sizes concentrated on m = 0, with cells expected far below once in a few thousand rows."""
    q = np.array([0.985, 0.0135, 0.0012, 0.00025, 0.00005])
    return masklaw.MaskLaw("skewed", sizes=lambda n, q=q: q[: n + 1]), q


def test_one_draw_in_a_rare_size_cell_does_not_reject_the_declared_law():
    # 4000 rows in the law's proportions but one of size 4, whose cell is expected 0.2 times: an
    # unpooled χ² adds (1 - 0.2)²/0.2 and, for the size-3 and size-4 cells together expected 1.2
    # times, nothing unusual happened. With a cell expected 0.004 times (q = 1e-6) one draw adds 250.
    q = np.array([0.9, 0.0999, 0.0000990, 0.0000010, 0.0])
    q[0] = 1 - q[1:].sum()
    law = masklaw.MaskLaw("skewed", sizes=lambda n: q[: n + 1])
    sizes = np.repeat(np.arange(3), np.round(4000 * q[:3]).astype(int))
    sizes[-1] = 3
    rng = np.random.default_rng(3)
    log = _log([_draw(rng, 4, sizes[i : i + 8]) for i in range(0, sizes.size, 8)], 4)
    assert masklaw.law_tests(log, law, 4)["sizes"]["p_value"] > 0.01


def test_within_call_dispersion_is_calibrated_for_a_skewed_independent_law():
    # Independent rows of a skewed law: the summed Pearson statistic has heavy tails, so referring it
    # to a χ² flags "clumped" far more often than α; its exact mean and variance (Haldane) do not.
    law, q = _skewed_law()
    law = masklaw.MaskLaw("skewed", sizes=law.sizes, dependence="independent")
    p_values = []
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        sizes = rng.choice(5, size=800, p=q)
        log = _log([_draw(rng, 4, sizes[i : i + 8]) for i in range(0, 800, 8)], 4)
        p_values.append(masklaw.law_tests(log, law, 4)["dependence"]["p_value"])
    assert np.mean(np.array(p_values) < 0.05) <= 0.10
    # and it still sees stratification: evenly spread sizes in every call
    rng = np.random.default_rng(7)
    even = [_draw(rng, 4, [0, 0, 0, 0, 0, 0, 1, 0]) for _ in range(300)]
    assert masklaw.law_tests(_log(even, 4), law, 4)["dependence"]["p_value"] < 1e-6
