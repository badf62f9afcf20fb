"""check(): verdicts right for unbiased evaluators and for each planted bug, false alarms at most α
over many seeds, and every way an evaluator can fail to run ending in one line."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats

from ctmc_lab.conformance import cases, masklaw
from ctmc_lab.conformance import contracts as C
from ctmc_lab.conformance import references as R
from ctmc_lab.conformance.adapters import make_adapter
from ctmc_lab.conformance.oracle import check, hill_tail_index, holm
from ctmc_lab.sources.denoisers import TemperedDenoiser
from tests.conformance import evaluators as E


def _setup(spec, **options):
    case = cases.parse_case(spec)
    model = make_adapter(case, "hf", backend="numpy", **options)
    return case, model, model.view()


@pytest.fixture(scope="module")
def d128():
    return _setup("dna128:3")


def test_unbiased_k_dce_passes_every_contract(d128):
    case, model, view = d128
    report = check(
        lambda s: E.k_dce(model, view, s),
        case,
        ["unbiased:cond_nll", C.DeclaredLaw(masklaw.estimator_law("k_dce")), "finite_variance"],
        n_runs=300,
        model=model,
        reference=R.estimator("k_dce", n_samples=8),
    )
    assert report.passed, report
    assert report.calls["rows"] == 300 * 8 and report.calls["impossible_rows"] == 0
    assert report.plugin["max_abs_difference"] < 1e-12  # the outputs are the declared weighting of the masks
    assert abs(report.variance_ratio - 1) < 0.3 and not report.heavy_tail
    assert "matches k_dce(n_samples=8)" in [v.contract for v in report.verdicts]


def test_false_alarms_stay_below_alpha_over_many_seeds(d128):
    """An unbiased evaluator, 200 independent checks of 30 runs each: at α = 0.05 at most
    0.05 + 3 sd of the binomial fail, the p-values are uniform, and at the default α none fails."""
    case, model, view = d128
    p = []
    for seed in range(200):
        report = check(lambda s: E.k_dce(model, view, s, mc=4), case, "unbiased:cond_nll", n_runs=30, seed=seed)
        p.append(report.verdicts[0].p_value)
        assert report.passed
    p = np.array(p)
    assert np.mean(p < 0.05) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / p.size)
    assert stats.kstest(p, "uniform").pvalue > 1e-3


def test_constant_offset_is_caught_and_its_bias_named(d128):
    case, model, view = d128
    report = check(
        lambda s: E.k_dce(model, view, s, mc=64, offset=0.25),
        case,
        ["unbiased:cond_nll", "biased:cond_nll:0.25"],
        n_runs=400,
    )
    unbiased, biased = report.verdicts
    assert not unbiased.passed and biased.passed
    assert report.mc_mean - report.targets["cond_nll"] == pytest.approx(0.25, abs=6 * report.mc_se)


def test_wrong_mask_law_is_caught_by_the_law_and_the_mean(d128):
    case, model, view = d128
    report = check(
        lambda s: E.k_dce(model, view, s, sizes="time_free"),
        case,
        ["unbiased:cond_nll", C.DeclaredLaw(masklaw.estimator_law("k_dce"))],
        n_runs=300,
        model=model,
    )
    assert [v.passed for v in report.verdicts] == [False, False]
    assert report.mask_law["sizes"]["p_value"] < 1e-12
    assert report.plugin["max_abs_difference"] < 1e-12  # the weights are k-DCE's: only the sizes are wrong


def test_shared_masks_declared_independent_are_detected(d128):
    case, model, view = d128
    report = check(
        lambda s: E.k_dce(model, view, s, shared=True),
        case,
        ["unbiased:cond_nll", C.DeclaredLaw(masklaw.estimator_law("k_dce"))],
        n_runs=200,
        model=model,
    )
    unbiased, law = report.verdicts
    assert unbiased.passed and not law.passed  # still unbiased; not the declared independence
    assert report.detected["shared_p"] < 1e-12 and report.mask_law["dependence"]["p_value"] < 1e-12


def test_independent_rows_are_not_called_shared_or_stratified(d128):
    case, model, view = d128
    report = check(lambda s: E.k_dce(model, view, s, mc=16), case, "unbiased:cond_nll", n_runs=200, model=model)
    assert report.detected["shared_p"] > 1e-4 and report.detected["stratified_p"] > 1e-4


def test_eos_offset_is_caught_and_the_nearest_contract_is_the_eos_conditional():
    case, model, view = _setup("eos:3:1")
    keep_eos = max(view.answer_positions) + 1
    report = check(
        lambda s: E.k_dce(model, view, s, mc=16, keep_visible=(keep_eos,)), case, "unbiased:cond_nll", n_runs=300
    )
    assert not report.passed
    assert report.verdicts[0].nearest.startswith("unbiased for cond_nll_rest")
    honest = check(lambda s: E.k_dce(model, view, s, mc=16), case, "unbiased:cond_nll", n_runs=300)
    assert honest.passed, honest


def test_time_truncation_is_caught_and_named():
    case, model, view = _setup("mk4:3:0")
    report = check(lambda s: E.lambda_dce(model, view, s, mc=32, eps=0.2), case, "unbiased:cond_nll", n_runs=400)
    assert not report.passed
    assert "λ-DCE truncated at ε = 0.2" in report.verdicts[0].nearest


def test_llada_rule_at_b8_matches_its_reference_and_the_fix_is_unbiased():
    case, model, view = _setup("mk4:4:0")
    report = check(
        lambda s: E.llada(model, view, s, batch_size=8, mc_num=32),
        case,
        ["unbiased:cond_nll", C.DeclaredLaw(masklaw.llada_law(8))],
        n_runs=200,
        model=model,
        reference=R.llada_rule(8, 32),
    )
    unbiased, law, ref = report.verdicts
    assert not unbiased.passed and law.passed and ref.passed
    assert "LLaDA's rule at b = 8" in unbiased.nearest
    assert report.exact_mean - case.cond_nll == pytest.approx(0.181, abs=2e-3)
    fixed = check(
        lambda s: E.llada(model, view, s, batch_size=8, mc_num=32, rule="fixed"), case, "unbiased:cond_nll", n_runs=200
    )
    assert fixed.passed


def test_exact_upper_bound_elbo_and_log_ratio():
    case = cases.parse_case("mk4:3:1")
    exact = make_adapter(case, "hf", backend="numpy")
    warm = make_adapter(case, "hf", backend="numpy", denoiser=TemperedDenoiser(case.denoiser(), temperature=1.6))
    ar = check(lambda s: E.chain_rule(exact, exact.view(), s), case, "exact:cond_nll", n_runs=3)
    assert ar.passed and ar.sample_variance < 1e-24
    # k-DCE on a non-optimal model: unbiased for its own NELBO, an upper bound on cond_nll, not equal to it.
    on_warm = check(
        lambda s: E.k_dce(warm, warm.view(), s),
        case,
        [C.Unbiased(C.elbo(warm)), C.UpperBound("cond_nll")],
        n_runs=300,
    )
    assert on_warm.passed, on_warm
    assert C.elbo(warm)(case) > case.cond_nll + 0.05
    not_exact = check(lambda s: E.k_dce(warm, warm.view(), s), case, "unbiased:cond_nll", n_runs=300)
    assert not not_exact.passed
    ratio = C.log_ratio(exact, warm)
    both = check(
        lambda s: E.k_dce(warm, warm.view(), s) - E.k_dce(exact, exact.view(), s), case, C.Unbiased(ratio), n_runs=300
    )
    assert both.passed and ratio(case) == pytest.approx(C.elbo(warm)(case) - case.cond_nll, abs=1e-12)


def test_finite_variance_exact_from_the_reference(d128):
    """λ-DCE has infinite variance when a singleton loss is positive (MK4), finite when every
    position is determined by the others (this D128 row): the verdict follows the reference."""
    ref = R.estimator("lambda_dce", n_samples=8)
    case, model, view = _setup("mk4:3:0")
    report = check(lambda s: E.lambda_dce(model, view, s), case, "finite_variance", n_runs=20, reference=ref)
    assert not report.verdicts[0].passed and report.exact_variance == np.inf
    case, model, view = d128
    report = check(lambda s: E.lambda_dce(model, view, s), case, "finite_variance", n_runs=20, reference=ref)
    assert report.verdicts[0].passed and 0 < report.exact_variance < np.inf


def test_hill_tail_index():
    rng = np.random.default_rng(0)
    pareto = rng.pareto(1.2, 4000) + 1
    alpha, p = hill_tail_index(pareto)
    assert alpha == pytest.approx(1.2, rel=0.25) and p < 1e-6
    alpha, p = hill_tail_index(rng.standard_normal(4000))
    assert alpha > 3 and p > 0.5


def test_holm_against_its_definition():
    rng = np.random.default_rng(1)
    p = rng.random(7) ** 3
    order = np.argsort(p)
    expect = np.empty(7)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (7 - rank) * p[i]))
        expect[i] = running
    np.testing.assert_allclose(holm(p), expect)


def _raise(seed):
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    "run, needle",
    [
        (_raise, "the evaluator raised RuntimeError: boom (run 0"),
        (lambda s: float("nan"), "the evaluator returned nan (run 0"),
        (lambda s: np.zeros(3), "returned an array of shape (3,), not a number"),
        (lambda s: "4.2", "returned str, not a number"),
        (lambda s: time.sleep(5), "did not return within 0.2 s (run 0"),
    ],
)
def test_failures_end_in_one_line(d128, run, needle):
    case, model, _ = d128
    report = check(run, case, "unbiased:cond_nll", n_runs=5, timeout=0.2, model=model)
    assert not report.passed and needle in report.failure and "\n" not in report.failure
    assert all(not v.passed and needle in v.detail for v in report.verdicts)
    assert "FAILED TO RUN" in str(report)


def test_a_caught_model_error_is_still_the_verdict(d128):
    case, model, view = d128

    def sloppy(seed):
        try:
            model(np.zeros((1, 3), dtype=int))
        except Exception:
            pass
        return 1.0

    report = check(sloppy, case, "unbiased:cond_nll", n_runs=3, model=model)
    assert "shape (1, 3), expected (B, 8)" in report.failure and "caught the error" in report.failure


def test_json_record(tmp_path, d128):
    case, model, view = d128
    report = check(
        lambda s: E.k_dce(model, view, s), case, "unbiased:cond_nll", n_runs=20, model=model, precision="mpmath"
    )
    record = report.to_json(tmp_path / "r.json")
    assert (
        record["passed"] and len(record["values"]) == 20 and float(record["target_mp"]) == pytest.approx(case.cond_nll)
    )
    assert (tmp_path / "r.json").read_text().startswith("{")


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(n_runs=1), "`n_runs` must be at least 2"),
        (dict(alpha=0), "`alpha` must lie in (0, 1)"),
        (dict(contract="mask_law:k_dce"), "needs the model's call log"),
        (dict(contract="fair"), "unknown `--contract`"),
        (dict(contract="unbiased:entropy"), "unknown target"),
    ],
)
def test_bad_arguments(d128, kwargs, needle):
    case = d128[0]
    kwargs = {"contract": "unbiased:cond_nll", **kwargs}
    with pytest.raises(ValueError) as err:
        check(lambda s: 0.0, case, kwargs.pop("contract"), **kwargs)
    assert needle in str(err.value)


def test_reseeded_batches_and_coupled_models_are_detected(d128):
    """An evaluator that reseeds its masks per batch (d1's set_seed(mask_seed)) repeats calls; two
    models scored with one set of masks (VRPO) share every row's mask."""
    case, model, view = d128

    def reseeded(seed):
        return float(np.mean([E.k_dce(model, view, seed % 7) for _ in range(3)]))

    report = check(reseeded, case, "unbiased:cond_nll", n_runs=30, model=model)
    assert report.detected["repeated_calls"] >= 30 * 3 and report.detected["repeated_calls_p"] < 1e-12
    fresh = check(lambda s: E.k_dce(model, view, s), case, "unbiased:cond_nll", n_runs=30, model=model)
    assert fresh.detected["repeated_calls_p"] > 1e-4
    other = make_adapter(case, "hf", backend="numpy")
    coupled = check(
        lambda s: E.k_dce(model, view, s) - E.k_dce(other, other.view(), s),
        case,
        C.Exact(C.expression(lambda c: 0.0, "zero")),
        n_runs=10,
        model=[model, other],
    )
    assert coupled.calls["shared_across_models"] == 1.0 and coupled.passed
    apart = check(
        lambda s: E.k_dce(model, view, s) - E.k_dce(other, other.view(), s + 1),
        case,
        "finite_variance",
        n_runs=20,
        model=[model, other],
    )
    assert apart.calls["shared_across_models"] < 0.5
