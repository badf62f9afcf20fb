"""Source conformance in ``verify`` (issue 20, item 4): a source's own methods against the joint
enumerated from its ``log_prob`` (:mod:`proofs_check.sources_check`).

The source under test is an i.i.d. product written here (in a module made on the fly, so the
command line imports it as ``python:MODULE:ATTR``), implementing the
:class:`ctmc_lab.sources.base.Source` protocol by its own formulas: a correct one passes, and a
bug planted in one of its methods (A(M) × 1.01, the denoiser's logits + 0.05, a marginal off,
a sampler drawing another law) fails the row of that method and no other. Markov chains (the
library's) pass.
"""

from __future__ import annotations

import io
import json
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctmc_lab.cli import main
from ctmc_lab.sources.markov import MarkovChain
from ctmc_lab.testing.strategies import budget
from proofs_check import runner, sources_check, verifier

#: An i.i.d. product p0(x) = Π_i π(x_i) on V^L, each method written from that formula, with
#: switches that plant one bug each.
PRODUCT_MODULE = textwrap.dedent(
    '''
    import numpy as np


    class ProductSource:
        """p0(x) = Π_i π(x_i) over V^L: a Source by its own formulas."""

        alphabet = None
        mask_dce_methods = ()

        def __init__(self, pi, length, *, a_scale=1.0, logit_shift=0.0, marginal_shift=0.0, sample_pi=None):
            self.pi = np.asarray(pi, dtype=float)
            self.log_pi = np.log(self.pi)
            self.n_tokens, self.length = self.pi.size, length
            self.a_scale, self.logit_shift, self.marginal_shift = a_scale, logit_shift, marginal_shift
            self.sample_pi = self.pi if sample_pi is None else np.asarray(sample_pi, dtype=float)
            self.name = "product"

        def encode(self, x):
            return np.asarray(x, dtype=np.int64)

        def decode(self, x):
            return ",".join(str(int(v)) for v in np.asarray(x))

        def log_prob(self, x):
            out = self.log_pi[np.asarray(x)].sum(axis=-1)
            return float(out) if np.ndim(out) == 0 else out

        def nll(self, x):
            return -self.log_prob(x)

        def log_marginal(self, x):
            x = np.atleast_2d(x)
            visible = x < self.n_tokens
            terms = np.where(visible, self.log_pi[np.minimum(x, self.n_tokens - 1)], 0.0)
            return terms.sum(axis=1) + self.marginal_shift * visible.any(axis=1)

        def sample(self, length=None, *, n=None, rng=None):
            rng = np.random.default_rng(rng)
            x = rng.choice(self.n_tokens, size=(1 if n is None else n, self.length), p=self.sample_pi)
            return x[0] if n is None else x

        def denoiser(self, length):
            def c(x):
                x = np.asarray(x)
                out = np.broadcast_to(self.log_pi + self.logit_shift, x.shape + (self.n_tokens,)).copy()
                visible = x < self.n_tokens
                with np.errstate(divide="ignore"):
                    point = np.log(np.arange(self.n_tokens) == x[..., None])
                out[visible] = point[visible]
                return out

            c.n_tokens, c.length = self.n_tokens, length
            return c

        def mask_dce_table(self, x, target, context=None, *, method=None):
            # Independent positions: -log p0(x^t | anything) = -log π(x_t).
            cost = -self.log_pi[np.asarray(x)[list(target)]]
            masks = np.arange(1 << len(target))
            bits = (masks[:, None] >> np.arange(len(target))) & 1
            return self.a_scale * (bits @ cost)


    PI = [0.5, 0.3, 0.2]
    correct = ProductSource(PI, 4)
    scaled_table = ProductSource(PI, 4, a_scale=1.01)
    shifted_logits = ProductSource(PI, 4, logit_shift=0.05)
    wrong_marginal = ProductSource(PI, 4, marginal_shift=0.01)
    wrong_sampler = ProductSource(PI, 4, sample_pi=[0.45, 0.35, 0.2])
    '''
)

#: The class above, for tests that build their own instances.
_NAMESPACE: dict = {}
exec(PRODUCT_MODULE, _NAMESPACE)
ProductSource = _NAMESPACE["ProductSource"]

SOURCE_ROWS = (
    "sources.normalisation",
    "sources.marginals",
    "sources.denoiser",
    "sources.mask_dce_table",
    "sources.sample_law",
)


@pytest.fixture
def product(tmp_path, monkeypatch):
    """The module above, importable as ``h12_product_source`` (fresh for each test)."""
    (tmp_path / "h12_product_source.py").write_text(PRODUCT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "h12_product_source", raising=False)
    import h12_product_source

    yield h12_product_source
    sys.modules.pop("h12_product_source", None)


def _rows(source=None, *, chain=None, budget=None, quick=True):
    """{check id: [records]} and the skips of the source rows on ``source`` / ``chain``."""
    result = runner.run_checks(
        _context(source, chain=chain, budget=budget, quick=quick),
        [c for c in runner.load_checks() if c.id in SOURCE_ROWS],
        progress=False,
        jobs=0,
    )
    rows: dict = {}
    for r in result.records:
        rows.setdefault(r.id, []).append(r)
    return rows, result.skipped


def _context(source, *, chain=None, budget=None, quick=True):
    from ctmc_lab.sources.joint import JointDistribution

    dist = JointDistribution.from_source(source) if source is not None else runner.markov_window(chain)
    return runner.user_context(dist, quick=quick, budget=budget, chain=chain, source=source)


def _failed(rows) -> set:
    return {id for id, records in rows.items() if not all(r.ok for r in records)}


def test_a_correct_product_source_passes_every_row(product):
    rows, skipped = _rows(product.correct)
    assert set(rows) == set(SOURCE_ROWS)
    assert _failed(rows) == set(), rows
    mine = [r for records in rows.values() for r in records if r.case.startswith("product;")]
    assert {r.id for r in mine} == set(SOURCE_ROWS)  # every row ran on the user's source itself
    assert not [s for s in skipped if s.case.startswith("product")]  # its one window fits


@pytest.mark.parametrize(
    "attr, row",
    [
        ("scaled_table", "sources.mask_dce_table"),
        ("shifted_logits", "sources.denoiser"),
        ("wrong_marginal", "sources.marginals"),
        ("wrong_sampler", "sources.sample_law"),
    ],
)
def test_a_bug_in_one_method_fails_that_row_only(product, attr, row):
    rows, _ = _rows(getattr(product, attr))
    assert _failed(rows) == {row}
    bad = [r for r in rows[row] if not r.ok]
    assert all(r.case.startswith("product;") and r.crashed is None for r in bad)


def test_the_planted_errors_are_measured_not_just_flagged(product):
    """The rows report the size of each planted bug: A × 1.01 of an A(M) of a few nats is off by
    1% of it; exp(+0.05) multiplies a probability by 1.051; the marginal is off by 0.01."""
    table = next(r for r in _rows(product.scaled_table)[0]["sources.mask_dce_table"] if not r.ok)
    assert table.error == pytest.approx(0.01 * table.rhs, rel=1e-9)
    den = next(r for r in _rows(product.shifted_logits)[0]["sources.denoiser"] if not r.ok)
    assert den.lhs == pytest.approx(np.exp(0.05) * den.rhs, rel=1e-12)
    marg = next(r for r in _rows(product.wrong_marginal)[0]["sources.marginals"] if not r.ok)
    assert marg.error == pytest.approx(0.01, rel=1e-9)


@pytest.mark.parametrize(
    "attr, row",
    [
        ("scaled_table", "sources.mask_dce_table"),
        ("shifted_logits", "sources.denoiser"),
        ("wrong_marginal", "sources.marginals"),
    ],
)
def test_cli_verify_dist_python_fails_on_a_planted_bug(product, tmp_path, capsys, attr, row):
    out = tmp_path / "report.json"
    spec = f"python:h12_product_source:{attr}"
    assert main(["verify", "--quick", "--jobs", "0", "--only", "sources", "--dist", spec, "--json", str(out)]) == 1
    failed = {c["id"] for c in json.loads(out.read_text())["checks"] if not c["passed"]}
    assert failed == {row}
    assert "FAIL" in capsys.readouterr().out


def test_cli_verify_dist_python_passes_a_correct_source(product, tmp_path, capsys):
    out = tmp_path / "report.json"
    spec = "python:h12_product_source:correct"
    assert main(["verify", "--quick", "--jobs", "0", "--only", "sources", "--dist", spec, "--json", str(out)]) == 0
    ids = {c["id"] for c in json.loads(out.read_text())["checks"] if c["case"].startswith("product;")}
    assert ids == set(SOURCE_ROWS)
    assert "verify OK" in capsys.readouterr().out


def test_python_api_takes_the_source_itself(product):
    """``verify(source)`` enumerates the source and runs the rows on its own methods."""
    assert verifier.verify(product.correct, only="sources", quick=True, jobs=0, stdout=io.StringIO()) == 0
    assert verifier.verify(product.shifted_logits, only="sources", quick=True, jobs=0, stdout=io.StringIO()) == 1


def test_a_source_over_windows_of_any_length_is_refused_as_dist():
    chain = MarkovChain.from_dirichlet(2, 1, rng=0)
    with pytest.raises(ValueError, match="windows of any length"):
        verifier.verify(chain, only="sources", jobs=0)


def test_markov4_passes_on_every_window_up_to_the_limit(capsys):
    """markov4 and markov4 continuing a prompt drawn from it, on every L with 4^L ≤ 4096."""
    assert main(["verify", "--quick", "--jobs", "0", "--only", "sources", "--dist", "markov4", "--wide"]) == 0
    out = capsys.readouterr().out
    assert out.count("markov4; windows L=1..6 (every L with N^L ≤ 4096)") == 10
    assert out.count("markov4[start=") == 10
    assert "SKIP" not in out


@budget(6, deadline=None)
@given(n=st.integers(2, 4), order=st.integers(1, 3), seed=st.integers(0, 2**16), alpha=st.sampled_from([0.3, 1.0]))
def test_property_markov_chains_pass(n, order, seed, alpha):
    chain = MarkovChain.from_dirichlet(n, order, alpha=alpha, rng=seed)
    rows, skipped = _rows(chain=chain)
    assert _failed(rows) == set(), [r for records in rows.values() for r in records if not r.ok]
    assert set(rows) == set(SOURCE_ROWS)
    assert skipped == ()
    scope = "L ≤ 12" if n == 2 else "N^L ≤ 4096"
    assert all(f"(every L with {scope})" in r.case for records in rows.values() for r in records)


@st.composite
def products(draw):
    """A product source with π entries down to 1e-30 (tiny conditionals, log-marginals far
    below 0; every product of L ≤ 5 of them stays a normal float, as a joint table requires),
    N = 2..4, L = 1..5."""
    n = draw(st.integers(2, 4))
    length = draw(st.integers(1, 5))
    weights = draw(st.lists(st.sampled_from([1.0, 0.3, 1e-9, 1e-30]), min_size=n, max_size=n))
    weights[0] = 1.0  # some symbol carries the mass
    pi = np.asarray(weights) / np.sum(weights)
    return ProductSource(pi, length)


@budget(8, deadline=None)
@given(source=products())
def test_property_correct_product_sources_pass(source):
    rows, skipped = _rows(source)
    mine = [r for records in rows.values() for r in records if r.case.startswith("product;")]
    assert {r.id for r in mine} == set(SOURCE_ROWS) and all(r.ok for r in mine), [r for r in mine if not r.ok]
    assert not [s for s in skipped if s.case.startswith("product")]


def test_windows_over_the_budget_are_skipped_with_the_prediction():
    """With a budget that holds the predicted work of windows L = 1..3 exactly, each row runs on
    those windows and names L = 4 as skipped with its prediction; the prediction of the check
    (what the runner compares with the budget) is the sum over the windows that ran."""
    chain = MarkovChain.from_dirichlet(4, 2, rng=3)
    n = chain.n_tokens
    for chk in [c for c in runner.load_checks() if c.id in SOURCE_ROWS]:
        per_window = _per_window(chk.id)
        probe = _context(None, chain=chain)
        three = sum(sources_check._twin_work(chain, n, L) + per_window(chain, n, L, probe) for L in (1, 2, 3))
        ctx = _context(None, chain=chain, budget=three)
        (_, lengths, skip), (continued, none, rest) = sources_check._plan(ctx, per_window)
        assert lengths == [1, 2, 3]
        assert skip.case == f"{chain.name}; L=4 and longer windows" and "exceeds the budget" in skip.reason
        # The chain continuing a prompt comes next, and nothing of the budget is left for it.
        assert none == [] and rest.case == f"{continued.name}; L=1 and longer windows"
        assert chk.predicted_work(ctx) == pytest.approx(three)
        result = runner.run_checks(ctx, [chk], progress=False, jobs=0)
        assert result.ok and all(r.case.startswith(f"{chain.name}; windows L=1..3; ") for r in result.records)
        assert [s.case for s in result.skipped] == [skip.case, rest.case]


def _per_window(check_id):
    return {
        "sources.normalisation": sources_check._normalisation_work,
        "sources.marginals": sources_check._marginals_work,
        "sources.denoiser": sources_check._denoiser_work,
        "sources.mask_dce_table": sources_check._mask_dce_work,
        "sources.sample_law": sources_check._sample_work,
    }[check_id]


def test_enumeration_twin_is_base_n_counting():
    wins = sources_check.enumerate_windows(3, 2)
    assert wins.tolist() == [[a, b] for a in range(3) for b in range(3)]
    assert sources_check._codes(wins, 3).tolist() == list(range(9))
