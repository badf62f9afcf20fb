"""The exact model against independent computation: c* by summing the support, the layout
(token map, fillers, shift), the precisions, rows of probability 0, and SEDD's scores against
the concrete score p_t(y)/p_t(x) of the absorbing-noised distribution enumerated by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ctmc_lab.conformance import cases
from ctmc_lab.conformance.adapters import make_adapter
from ctmc_lab.conformance.calllog import ModelCallError
from ctmc_lab.conformance.exact_model import ExactModel, round_bfloat16
from ctmc_lab.sources.denoisers import OptimalDenoiser
from tests import bruteforce


def _brute_c(dist, x, i, mask):
    """p0(x^i = v | visible x) for v = 0..N-1 by sums over the support."""
    visible = x != mask
    den = bruteforce.marginal_prob(dist, x, visible)
    out = []
    for v in range(dist.n_tokens):
        y = x.copy()
        y[i] = v
        vis = visible.copy()
        vis[i] = True
        out.append(bruteforce.marginal_prob(dist, y, vis) / den)
    return np.array(out)


@pytest.fixture(scope="module")
def d128():
    return cases.dna128(5)


def _random_rows(case, rng, count):
    x = np.repeat(case.x[None], count, 0)
    x[rng.random(x.shape) < 0.5] = case.n_tokens
    return x


def test_log_probs_equal_the_optimal_denoiser_after_map_fillers_and_shift(d128):
    rng = np.random.default_rng(0)
    tmap = [7, 3, 9, 5]
    model = ExactModel(d128, token_map=tmap, mask_id=2, vocab_size=12, bos_id=0, eos_id=1, pad_id=11, row_length=12)
    src = _random_rows(d128, rng, 6)
    ids = model.encode_row(src)
    assert ids.shape == (6, 12) and (ids[:, 0] == 0).all() and (ids[:, 9] == 1).all() and (ids[:, 10:] == 11).all()
    ids[1, 0] = ids[2, 10] = 2  # masked fillers: point masses, loss 0
    out = model.log_probs(ids)
    c = OptimalDenoiser(d128.source)(src)
    for b in range(6):
        for i in range(8):
            row = out[b, 1 + i]
            if src[b, i] == 4:
                np.testing.assert_allclose(row[tmap], c[b, i], rtol=0, atol=1e-12)
                np.testing.assert_allclose(np.exp(row[tmap]), _brute_c(d128.source, src[b], i, 4), atol=1e-12)
                assert np.all(np.delete(row, tmap) == -np.inf)
            else:
                assert row[tmap[src[b, i]]] == 0.0 and np.isneginf(np.delete(row, tmap[src[b, i]])).all()
        for slot, filler in ((0, 0), (9, 1), (10, 11), (11, 11)):
            assert out[b, slot, filler] == 0.0 and np.isneginf(np.delete(out[b, slot], filler)).all()
    shifted = ExactModel(
        d128, token_map=tmap, mask_id=2, vocab_size=12, bos_id=0, eos_id=1, pad_id=11, row_length=12, shift=True
    )
    np.testing.assert_array_equal(shifted.log_probs(ids)[:, :-1], out[:, 1:])
    assert np.all(np.isfinite(model.log.calls[0].loss))


def test_fill_value_and_vocab_size(d128):
    model = ExactModel(d128, vocab_size=9, fill_value=-30.0)
    row = d128.x.copy()
    row[:5] = 4
    out = model.log_probs(row[None])
    assert out.shape == (1, 8, 9)
    assert np.all(out[0, :, 4:] == -30.0)
    np.testing.assert_allclose(np.logaddexp.reduce(out[0, :, :4], axis=-1), 0.0, atol=1e-12)
    assert np.isfinite(out[0, :5, :4]).sum() > 5


@pytest.mark.parametrize("precision, rounding", [("float32", np.float32), ("bfloat16", round_bfloat16)])
def test_precisions_are_the_float64_values_rounded(d128, precision, rounding):
    rng = np.random.default_rng(1)
    ids = _random_rows(d128, rng, 5)
    exact = ExactModel(d128).log_probs(ids)
    out = ExactModel(d128, precision=precision).log_probs(ids)
    assert out.dtype == np.float32
    finite = np.isfinite(exact)
    expect = rounding(exact.astype(np.float32)) if precision == "bfloat16" else exact.astype(np.float32)
    np.testing.assert_array_equal(out[finite], np.asarray(expect)[finite])
    if precision == "bfloat16":  # 8 significant bits: every value a multiple of 2^(e-7)
        m, e = np.frexp(out[finite].astype(np.float64))
        assert np.all(m * 2**8 == np.round(m * 2**8))


def test_bfloat16_rounding_matches_torch():
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(2).standard_normal(20000) * 50).astype(np.float32)
    expect = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(round_bfloat16(x), expect)


def test_impossible_rows_follow_the_policy_and_are_counted(d128):
    row = d128.x.copy()
    row[:4] = 4
    bad = row.copy()
    bad[5] = (bad[5] + 1) % 4  # a visible pattern off the support of D128 (checked below)
    assert bruteforce.marginal_prob(d128.source, bad, bad != 4) == 0
    ids = np.stack([row, bad])
    uniform = ExactModel(d128)
    out = uniform.log_probs(ids)
    np.testing.assert_allclose(out[1, :4, :4], -np.log(4), atol=1e-15)
    assert uniform.log.n_impossible == 1 and uniform.log.calls[0].impossible.tolist() == [False, True]
    assert np.isnan(uniform.log.calls[0].loss[1]) and not uniform.log.calls[0].on_case[1]
    nan = ExactModel(d128, on_impossible="nan").log_probs(ids)
    assert np.isnan(nan[1, :4, :4]).all() and not np.isnan(nan[0]).any()
    with pytest.raises(ModelCallError, match="probability 0"):
        ExactModel(d128, on_impossible="raise").log_probs(ids)
    filler = ExactModel(d128, bos_id=6)
    wrong = filler.encode_row(row)
    wrong[0] = 0  # a source token where the BOS filler belongs
    filler.log_probs(wrong[None])
    assert filler.log.n_impossible == 1


@pytest.mark.parametrize(
    "ids, needle",
    [
        (np.zeros((2, 7), int), "shape (2, 7), expected (B, 8)"),
        (np.zeros(8, int), "shape (8,), expected (B, 8)"),
        (np.full((1, 8), 5), "token id 5 at row 0, position 0, outside the vocabulary 0..4"),
        (np.zeros((1, 8)), "float64 inputs"),
    ],
)
def test_wrong_calls_are_one_line_errors_and_logged(d128, ids, needle):
    model = ExactModel(d128)
    with pytest.raises(ModelCallError) as err:
        model.log_probs(ids)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert model.log.error.startswith(str(err.value))


def test_memory_budget_refuses_before_allocating(d128):
    model = ExactModel(d128, vocab_size=126464, mask_id=126336, max_bytes=1 << 20)
    with pytest.raises(ModelCallError, match=r"4 rows × 8 positions × 126464 channels needs 31 MiB"):
        model.log_probs(model.encode_row(np.repeat(d128.x[None], 4, 0)))


def test_row_loss_is_the_mask_dce_of_the_case():
    case = cases.markov_pair(4, index=1)
    model = ExactModel(case)
    A = case.mask_dce_table()
    masks = np.arange(16)
    rows = np.repeat(case.x[None], 16, 0)
    for k, M in enumerate(masks):
        for t in range(4):
            if M >> t & 1:
                rows[k, 16 + t] = 4
    model.log_probs(rows)
    np.testing.assert_allclose(model.log.calls[0].loss, A[masks], atol=1e-12)
    assert model.log.calls[0].answer_masks.tolist() == masks.tolist()


def test_absorbing_scores_are_concrete_score_ratios(d128):
    """log s(x)_{i,v} = log p_t(x^{i<-v}) - log p_t(x), p_t enumerated over the support with the
    absorbing kernel K(v|z) = e^{-σ}[v = z], K(mask|z) = 1 - e^{-σ}."""
    sigma = 0.7
    model = ExactModel(d128, vocab_size=6, fill_value=-50.0)
    rng = np.random.default_rng(3)
    x = _random_rows(d128, rng, 3)
    out = model.log_scores(x, np.full(3, sigma))
    support, probs = d128.source.support, d128.source.probs

    def p_t(y):
        k = np.where(y[None] == 4, 1 - np.exp(-sigma), np.where(support == y[None], np.exp(-sigma), 0.0))
        return float(np.sum(probs * np.prod(k, axis=1)))

    for b, i in itertools.product(range(3), range(8)):
        if x[b, i] != 4:
            assert out[b, i, x[b, i]] == 0.0
            continue
        for v in range(4):
            y = x[b].copy()
            y[i] = v
            expect = np.log(p_t(y)) - np.log(p_t(x[b])) if p_t(y) > 0 else -np.inf
            assert out[b, i, v] == pytest.approx(expect, abs=1e-11)
        assert out[b, i, 4] == 0.0 and out[b, i, 5] == -50.0


def test_adapters_have_the_call_shapes_numpy():
    case = cases.dna128(0)
    view = make_adapter(case, "hf", backend="numpy").view()
    row = view.input_ids[None]
    hf = make_adapter(case, "hf", backend="numpy")
    raw = make_adapter(case, "raw", backend="numpy", output="logprobs")
    bb = make_adapter(case, "backbone", backend="numpy")
    sc = make_adapter(case, "score", backend="numpy")
    base = hf(row).logits
    assert hf(input_ids=row, attention_mask=np.ones_like(row)).logits.shape == base.shape
    assert hf(row)[0] is not None and hf.eval() is hf and hf.to("cpu") is hf
    np.testing.assert_array_equal(raw(row), base)
    np.testing.assert_array_equal(bb(row, np.array([0.3])), base)
    assert bb.log.calls[0].sigma.tolist() == [0.3]
    assert sc(row, np.array([1.0])).shape == base.shape
    with pytest.raises(ValueError, match="unknown adapter"):
        make_adapter(case, "jax")


def test_torch_adapters_return_tensors_of_the_models_dtype():
    torch = pytest.importorskip("torch")
    case = cases.markov_pair(3)
    for precision, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float64", torch.float64)):
        model = make_adapter(
            case, "hf", precision=precision, mask_id=126336, vocab_size=126464, token_map=[65, 84, 71, 67]
        )
        view = model.view()
        assert isinstance(view.prompt, torch.Tensor) and view.answer.dtype == torch.int64
        row = view.input_ids.clone()[None]
        row[0, 17] = model.mask_id
        out = model(row).logits
        assert out.dtype == dtype == model.dtype and out.shape == (1, 19, 126464)
        ref = ExactModel(case, precision=precision).log_probs(np.where(row.numpy() == 126336, 4, case.x[None]))
        np.testing.assert_array_equal(out[0, 17, [65, 84, 71, 67]].float().numpy(), ref[0, 17, :4].astype(np.float32))


def test_uniform_scores_against_the_dense_kronecker_expm():
    """SEDD's uniform graph: p_s(x^{i<-v}) / p_s(x) from expm of the product generator on S^L."""
    from ctmc_lab.forward.generators import uniform
    from ctmc_lab.sequences import flat_index
    from ctmc_lab.sources.datasets import dirichlet

    p = dirichlet(3, 3, alpha=0.7, support_size=15, rng=5)
    case = cases.from_source(p, p.support[2], name="small")
    sc = make_adapter(case, "score", backend="numpy", graph="uniform", vocab_size=5, fill_value=-7.0)
    rows = np.array([[0, 1, 2], [2, 2, 0], [1, 0, 1]])
    for s in (0.3, 1.7):
        _, ps, _ = bruteforce.dense_state(p, uniform(3), s)
        out = sc(rows, np.full(3, s))
        for b, i, v in itertools.product(range(3), range(3), range(3)):
            y = rows[b].copy()
            y[i] = v
            expect = np.log(ps[flat_index(y, 3)]) - np.log(ps[flat_index(rows[b], 3)])
            assert out[b, i, v] == pytest.approx(expect, abs=1e-12)
        assert np.all(out[:, :, 3:] == -7.0)
    with pytest.raises(ModelCallError, match="has no mask"):
        sc(np.array([[0, 3, 1]]), [0.5])
