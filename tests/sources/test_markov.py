"""MarkovChain: construction, stationary start, sampling, window probabilities, forward–backward.

Every exact routine is compared with a brute-force twin written here from the definitions
(``docs/theory.md`` §5.4): enumerate all N**L windows with explicit loops over positions, weight
them by π(first k) Π P (π solved by a linear system, not by the package's GTH or eigenvector),
and sum.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ctmc_lab.sequences import DNA, all_sequences
from ctmc_lab.sources.denoisers import Denoiser, OptimalDenoiser
from ctmc_lab.sources.markov import MarkovChain, forward_backward, markov4
from ctmc_lab.testing.strategies import budget


# ----------------------------------------------------------------------------- brute force
def _pi_linear_solve(table, order):
    """π of the lifted chain by solving (Tᵀ - I)π = 0 with one row replaced by Σπ = 1."""
    n_ctx, n = table.shape
    T = np.zeros((n_ctx, n_ctx))
    for c in range(n_ctx):
        for v in range(n):
            T[c, (c * n + v) % n_ctx] += table[c, v]
    M = T.T - np.eye(n_ctx)
    M[-1] = 1.0
    rhs = np.zeros(n_ctx)
    rhs[-1] = 1.0
    return np.linalg.solve(M, rhs)


def _ctx_index(symbols, n):
    out = 0
    for s in symbols:
        out = out * n + int(s)
    return out


def brute_window_probs(table, order, length, start=None):
    """p(w) for every w in V^L (row-major order), by explicit loops."""
    n = table.shape[1]
    pi = _pi_linear_solve(table, order) if start is None else None
    probs = np.zeros(n**length)
    for idx, w in enumerate(itertools.product(range(n), repeat=length)):
        if start is not None:
            seq = list(start[-order:]) + list(w)
            p = 1.0
            for j in range(length):
                p *= table[_ctx_index(seq[j : j + order], n), seq[j + order]]
        elif length >= order:
            p = pi[_ctx_index(w[:order], n)]
            for j in range(order, length):
                p *= table[_ctx_index(w[j - order : j], n), w[j]]
        else:
            p = sum(pi[_ctx_index(tuple(w) + tail, n)] for tail in itertools.product(range(n), repeat=order - length))
        probs[idx] = p
    return probs


def brute_conditionals(probs, n, length, x):
    """log p(x^i = v | visible of x) for one masked window x, from the full table of probs."""
    seqs = all_sequences(n, length)
    vis = x < n
    ok = np.all((seqs == x) | ~vis, axis=1)
    w = probs * ok
    out = np.full((length, n), -np.inf)
    with np.errstate(divide="ignore"):
        for i in range(length):
            if vis[i]:
                out[i, x[i]] = 0.0
            else:
                num = np.array([w[seqs[:, i] == v].sum() for v in range(n)])
                out[i] = np.log(num) - np.log(num.sum())
    return out, w.sum()


def max_log_diff(a, b) -> float:
    """max |a - b| over log-probabilities, requiring the same -inf pattern (inf if it differs)."""
    a, b = np.asarray(a), np.asarray(b)
    fin = np.isfinite(a)
    if not np.array_equal(fin, np.isfinite(b)) or not np.array_equal(a[~fin], b[~fin]):
        return np.inf
    return float(np.max(np.abs(a[fin] - b[fin]), initial=0.0))


def _random_masked(rng, n, length, count):
    x = rng.integers(0, n, size=(count, length))
    return np.where(rng.random((count, length)) < 0.5, n, x)


# --------------------------------------------------------------------------- construction
def test_markov4_is_the_released_table():
    mk = markov4()
    with open("/work/main/ctmc_lab/sources/data/markov4.json") as fh:
        raw = json.load(fh)
    assert (mk.order, mk.n_tokens, mk.n_contexts, str(mk.alphabet), mk.name) == (4, 4, 256, DNA, "markov4")
    # Context index: base N, oldest symbol most significant, A=0 T=1 G=2 C=3.
    assert mk.context_index("AAGC") == 0 * 64 + 0 * 16 + 2 * 4 + 3
    for ctx in ("AAAA", "AAGC", "CTGA", "CCCC"):
        assert mk.table[mk.context_index(ctx)].tolist() == [raw[ctx][s] for s in DNA]
    # The discrepancy of docs/theory.md §1.1: not the softmax(U/0.5) recipe (ratio ≤ e² per row).
    ratios = mk.table.max(axis=1) / mk.table.min(axis=1)
    assert mk.table.min() < 2e-8 and ratios.max() > 1e6


def test_softmax_recipe_bounds_and_seed():
    a = MarkovChain.from_softmax(4, 2, temperature=0.5, rng=7)
    b = MarkovChain.from_softmax(4, 2, temperature=0.5, rng=np.random.default_rng(7))
    assert np.array_equal(a.table, b.table)
    assert np.abs(a.table.sum(axis=1) - 1).max() < 1e-15
    assert (a.table.max(axis=1) / a.table.min(axis=1)).max() <= math.e**2 * (1 + 1e-12)


def test_dirichlet_seeded():
    a = MarkovChain.from_dirichlet(3, 2, alpha=0.4, rng=3)
    b = MarkovChain.from_dirichlet(3, 2, alpha=0.4, rng=3)
    assert np.array_equal(a.table, b.table) and a.table.shape == (9, 3) and a.order == 2


def _valid_mapping():
    return {a + b: {"x": 0.5, "y": 0.5} for a in "xy" for b in "xy"}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("xy"), "misses 1 of the 4 contexts"),
        (lambda d: d["xx"].update(x=0.6), "sum to 1"),
        (lambda d: d["xx"].update(x=-0.5, y=1.5), "non-negative"),
        (lambda d: d["xx"].update(x=float("nan")), "finite"),
        (lambda d: d["xx"].update(x=float("inf")), "finite"),
        (lambda d: d["yy"].update(z=0.0), "not in the alphabet"),
        (lambda d: d.update(xz={"x": 0.5, "y": 0.5}), "not in the alphabet"),
        (lambda d: d["yy"].pop("y"), "misses symbols"),
        (lambda d: d["xx"].update(x="half"), "must be a number"),
        (lambda d: d.update(xxx={"x": 0.5, "y": 0.5}), "one length"),
    ],
)
def test_from_dict_rejects_bad_tables(edit, message):
    d = _valid_mapping()
    edit(d)
    with pytest.raises(ValueError, match=message):
        MarkovChain.from_dict(d)


def test_from_dict_normalize_and_json_roundtrip(tmp_path):
    d = _valid_mapping()
    d["xx"] = {"x": 1.0, "y": 3.0}
    mc = MarkovChain.from_dict(d, normalize=True)
    assert mc.table[0].tolist() == [0.25, 0.75]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(_valid_mapping()))
    chain = MarkovChain.from_json(path)
    assert chain.order == 2 and str(chain.alphabet) == "xy"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        MarkovChain.from_json(bad)
    with pytest.raises(ValueError, match="cannot read"):
        MarkovChain.from_json(tmp_path / "missing.json")


def test_table_shape_validation():
    with pytest.raises(ValueError, match="N\\*\\*k rows"):
        MarkovChain(np.full((5, 2), 0.5), order=2)
    with pytest.raises(ValueError, match="order"):
        MarkovChain(np.full((1, 2), 0.5), order=0)
    with pytest.raises(ValueError, match="`alphabet`"):
        MarkovChain(np.full((4, 2), 0.5), alphabet="ABC")


# ------------------------------------------------------------------------------ stationary
@pytest.mark.parametrize("order, n, alpha", [(1, 3, 1.0), (2, 2, 0.3), (3, 3, 0.5), (4, 4, 0.2)])
def test_stationary_is_left_eigenvector(order, n, alpha):
    chain = MarkovChain.from_dirichlet(n, order, alpha=alpha, rng=order)
    T = chain.lifted_matrix()
    pi = chain.stationary
    assert abs(pi.sum() - 1) < 1e-15 and pi.min() > 0
    # Entrywise *relative* residual: the window log-probabilities need π relatively exact.
    assert np.max(np.abs(pi @ T - pi) / pi) < 1e-13
    eig = chain.stationary_distribution(method="eig")
    assert np.max(np.abs(eig - pi)) < 1e-13
    assert np.max(np.abs(_pi_linear_solve(chain.table, order) - pi)) < 1e-13


def test_periodic_and_reducible_chains():
    flip = MarkovChain(np.array([[0.0, 1.0], [1.0, 0.0]]), order=1)
    assert np.allclose(flip.stationary, [0.5, 0.5], atol=1e-15)
    stuck = MarkovChain(np.array([[1.0, 0.0], [0.5, 0.5]]), order=1, alphabet="AB")
    assert not stuck.is_irreducible()
    # B is left for A and never re-entered: the message names the transient context and the closed class.
    with pytest.raises(ValueError, match=r"1 context \('B'\) is transient .* the one closed class is \{'A'\}"):
        stuck.stationary  # noqa: B018
    split = MarkovChain(np.array([[1.0, 0.0], [0.0, 1.0]]), order=1, alphabet="AB")
    with pytest.raises(ValueError, match=r"2 closed classes of contexts \(\{'A'\} \(1 context\); \{'B'\}"):
        split.stationary  # noqa: B018
    # A start context still works without π.
    assert stuck.log_prob([0, 0], start=[0]) == 0.0
    with pytest.raises(ValueError, match="method"):
        flip.stationary_distribution(method="power")


def _transient_by_reachability(table: np.ndarray, order: int) -> set[int]:
    """Contexts c from which some context is reachable that cannot reach c back (by Boolean matrix powers)."""
    n = table.shape[1]
    C = table.shape[0]
    step = np.zeros((C, C), dtype=bool)
    for c in range(C):
        for v in range(n):
            if table[c, v] > 0:
                step[c, (c * n + v) % C] = True
    reach = step | np.eye(C, dtype=bool)
    for _ in range(C):
        reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
    return {c for c in range(C) if np.any(reach[c] & ~reach[:, c])}


@given(st.integers(1, 2), st.integers(2, 3), st.data())
@budget(40)
def test_the_reducible_message_names_exactly_the_transient_contexts(order, n, data):
    """The contexts a reducible chain's message calls transient are those a brute-force reachability finds."""
    C = n**order
    keep = np.asarray(data.draw(st.lists(st.booleans(), min_size=C * n, max_size=C * n))).reshape(C, n)
    keep[np.arange(C), np.argmax(keep, axis=1)] = True  # every row keeps one symbol
    chain = MarkovChain(keep / keep.sum(axis=1, keepdims=True), order=order, alphabet="ABC"[:n])
    transient = _transient_by_reachability(chain.table, order)
    if chain.is_irreducible():
        assert not transient
        return
    try:
        chain.stationary  # noqa: B018
    except ValueError as err:
        message = str(err)
    else:
        raise AssertionError("a reducible chain gave a stationary distribution")
    if "closed classes" in message:  # several closed classes: none is named transient
        return
    named = message.split(" transient")[0].split("(")[1].split(")")[0]
    spelled = {"".join("ABC"[(c // n**j) % n] for j in range(order - 1, -1, -1)) for c in transient}
    if len(transient) <= 5:
        assert set(named.replace("'", "").split(", ")) == spelled


# -------------------------------------------------------------------------------- sampling
def test_sampling_is_seeded_and_stationary():
    chain = MarkovChain.from_dirichlet(3, 2, alpha=1.0, rng=11)
    a = chain.sample(6, n=5, rng=42)
    b = chain.sample(6, n=5, rng=np.random.default_rng(42))
    assert np.array_equal(a, b) and a.shape == (5, 6)
    n_draw = 200_000
    w = chain.sample(2, n=n_draw, rng=1)
    freq = np.bincount(w[:, 0] * 3 + w[:, 1], minlength=9) / n_draw
    pi = chain.stationary
    # Each count is binomial: within 5 standard deviations of n π.
    assert np.all(np.abs(freq - pi) <= 5 * np.sqrt(pi * (1 - pi) / n_draw))


def test_sampling_from_prompts_and_zero_entries():
    table = np.array([[0.0, 1.0], [0.3, 0.7]])  # never 0 -> 0
    chain = MarkovChain(table, order=1)
    out = chain.sample(50, n=400, rng=0)
    assert not np.any((out[:, :-1] == 0) & (out[:, 1:] == 0))
    starts = np.array([[1, 0], [0, 0]])
    r = chain.sample(3, start=starts, rng=0)
    assert r.shape == (2, 3) and r[0, 0] == 1 and r[1, 0] == 1  # after a 0 comes a 1


# ------------------------------------------------------------------- window probabilities
@pytest.mark.parametrize("order, n, length", [(1, 2, 4), (2, 3, 4), (3, 2, 6), (3, 2, 2), (4, 4, 5)])
def test_log_prob_and_joint_match_brute_force(order, n, length):
    chain = MarkovChain.from_dirichlet(n, order, alpha=1.0, rng=order + length)
    ref = brute_window_probs(chain.table, order, length)
    seqs = all_sequences(n, length)
    assert np.max(np.abs(chain.log_prob(seqs) - np.log(ref))) < 1e-12
    joint = chain.joint(length)
    assert np.max(np.abs(joint.dense().ravel() - ref)) < 1e-15
    start = np.arange(order + 1) % n
    ref_s = brute_window_probs(chain.table, order, length, start=start)
    assert np.max(np.abs(chain.log_prob(seqs, start=start) - np.log(ref_s))) < 1e-12


def test_stationary_windows_are_shift_consistent():
    chain = MarkovChain.from_dirichlet(3, 2, alpha=0.7, rng=5)
    p5, p4 = chain.joint(5).dense(), chain.joint(4).dense()
    # Summing out the first or the last symbol of a stationary window gives the shorter window.
    assert np.max(np.abs(p5.sum(axis=0) - p4)) < 1e-15
    assert np.max(np.abs(p5.sum(axis=-1) - p4)) < 1e-15


def test_log_prob_zero_probability_is_minus_inf():
    chain = MarkovChain(np.array([[0.0, 1.0], [0.3, 0.7]]), order=1)
    assert chain.log_prob([0, 0, 1]) == -np.inf and chain.nll([1, 0, 0]) == np.inf


# ------------------------------------------------------------------------ forward-backward
@pytest.mark.parametrize("order, n, length", [(1, 3, 5), (2, 2, 7), (3, 3, 5), (4, 2, 7), (4, 4, 5), (3, 2, 2)])
def test_forward_backward_matches_enumeration(order, n, length):
    rng = np.random.default_rng(100 * order + length)
    chain = MarkovChain.from_dirichlet(n, order, alpha=0.5, rng=rng)
    x = _random_masked(rng, n, length, 12)
    start = rng.integers(0, n, size=order + 2)
    for s in (None, start):
        probs = brute_window_probs(chain.table, order, length, start=s)
        fb = chain.forward_backward(x, start=s)
        for b in range(x.shape[0]):
            ref, ev = brute_conditionals(probs, n, length, x[b])
            assert max_log_diff(fb.log_probs[b], ref) <= 1e-12
            assert abs(fb.log_evidence[b] - np.log(ev)) <= 1e-12


@budget(25, deadline=None)
@given(
    order=st.integers(1, 3),
    n=st.integers(2, 3),
    length=st.integers(1, 5),
    alpha=st.sampled_from([0.3, 1.0, 5.0]),
    seed=st.integers(0, 2**31),
)
def test_forward_backward_property(order, n, length, alpha, seed):
    assume(n**length <= 256 and n**order <= 27)
    rng = np.random.default_rng(seed)
    chain = MarkovChain.from_dirichlet(n, order, alpha=alpha, rng=rng)
    joint = chain.joint(length)  # the core JointDistribution: an independent conditional routine
    x = _random_masked(rng, n, length, 8)
    got = chain.conditional_log_probs(x)
    ref = joint.conditional_log_probs(x)
    assert max_log_diff(got, ref) <= 1e-12
    assert np.allclose(np.exp(got).sum(axis=-1), 1.0, atol=1e-13)


def test_small_transition_probabilities_do_not_underflow():
    # Rows with entries 1e-8: a 64-symbol path of probability ~1e-512 is far below float64's
    # range without scaling.
    n = 2
    table = np.array([[1e-8, 1 - 1e-8], [1 - 1e-8, 1e-8]])  # order 1: rare repeats
    chain = MarkovChain(table, order=1)
    y = np.zeros(64, dtype=np.int64)  # all repeats: log p ≈ 63 log 1e-8
    x = y[None].copy()
    x[0, 10] = n  # one masked position
    fb = chain.forward_backward(x)
    assert np.all(np.isfinite(fb.log_probs[0, 10]))
    assert not np.isnan(fb.log_probs).any()
    # Chain rule in log space: log P(x^U) = log π(0) + 63·log(1e-8)-ish, summed over the hidden symbol.
    logp = [chain.log_prob(np.where(np.arange(64) == 10, v, y)) for v in range(n)]
    assert abs(fb.log_evidence[0] - np.logaddexp(*logp)) < 1e-9 * abs(fb.log_evidence[0])
    post = np.exp(np.array(logp) - np.logaddexp(*logp))
    assert np.max(np.abs(np.exp(fb.log_probs[0, 10]) - post)) < 1e-12
    mk = markov4()
    w = mk.sample(32, n=64, rng=0)
    masked = np.where(np.random.default_rng(1).random(w.shape) < 0.5, 4, w)
    out = mk.conditional_log_probs(masked)
    assert not np.isnan(out).any() and np.allclose(np.exp(out).sum(-1), 1.0, atol=1e-12)


def test_markov4_forward_backward_matches_enumeration_length_8():
    mk = markov4()
    length = 8
    joint = mk.joint(length)  # 65536 windows from π(first 4) Π P
    rng = np.random.default_rng(3)
    x = _random_masked(rng, 4, length, 40)
    got, ref = mk.conditional_log_probs(x), joint.conditional_log_probs(x)
    assert max_log_diff(got, ref) <= 1e-12


def test_impossible_evidence_gives_inf_not_nan():
    chain = MarkovChain(np.array([[0.0, 1.0], [0.3, 0.7]]), order=1)
    x = np.array([[0, 0, 2], [2, 0, 0]])
    fb = chain.forward_backward(x)
    assert np.all(fb.log_evidence == -np.inf)
    assert np.all(fb.log_probs == -np.inf)
    pure = forward_backward(chain.table, x, chain.stationary)  # the functional core, same answer
    assert np.array_equal(pure.log_probs, fb.log_probs)


def test_denoiser_protocol_and_prompt_equivalence():
    rng = np.random.default_rng(9)
    chain = MarkovChain.from_dirichlet(3, 2, alpha=0.6, rng=rng)
    prompt = chain.sample(5, rng=rng)
    resp = chain.sample(4, start=prompt, rng=rng)
    stationary = chain.denoiser(9)
    after = chain.denoiser(4, start=prompt)
    assert isinstance(stationary, Denoiser) and isinstance(after, Denoiser)
    masks = rng.random((20, 4)) < 0.5
    x_resp = np.where(masks, 3, resp)
    x_full = np.concatenate([np.broadcast_to(prompt, (20, 5)), x_resp], axis=1)
    # With the prompt visible, a stationary window's response conditionals are those from the
    # prompt's last k symbols (Markov property).
    assert max_log_diff(stationary(x_full)[:, 5:], after(x_resp)) <= 1e-12
    assert max_log_diff(OptimalDenoiser(chain.joint(4, start=prompt))(x_resp), after(x_resp)) <= 1e-12
    with pytest.raises(ValueError, match="shape"):
        after(x_full)
    with pytest.raises(ValueError, match="0..3"):
        after(x_resp + 5)
    with pytest.raises(ValueError, match="at least k"):
        chain.denoiser(4, start=[0])


# ------------------------------------------------------------------------------ mask tries
@pytest.mark.parametrize("order, n, length", [(1, 3, 6), (2, 2, 8), (3, 2, 7), (4, 4, 6)])
def test_subset_and_target_tables_match_brute_force(order, n, length):
    rng = np.random.default_rng(order * 7 + length)
    chain = MarkovChain.from_dirichlet(n, order, alpha=0.5, rng=rng)
    probs = brute_window_probs(chain.table, order, length)
    seqs = all_sequences(n, length)
    x = seqs[rng.choice(len(seqs), p=probs)]
    target = [0, 2, length - 1]
    xm = x.copy()
    xm[1] = n  # marginalised; positions 3..L-2 are context
    le = chain.subset_log_evidence(xm, target)
    cond = chain.target_conditionals(xm, target)
    for u in range(1 << len(target)):
        vis = xm < n
        for t, pos in enumerate(target):
            vis[pos] = bool(u >> t & 1)
        ev = probs[np.all((seqs == x) | ~vis, axis=1)].sum()
        assert abs(le[u] - np.log(ev)) <= 1e-12
        for t, pos in enumerate(target):
            if u >> t & 1:
                assert cond[t, u] == 0.0
                continue
            inp = np.where(vis, x, n)
            ref, _ = brute_conditionals(probs, n, length, inp)
            assert abs(cond[t, u] + ref[pos, x[pos]]) <= 1e-12


def test_target_tables_refuse_bad_input():
    mk = markov4()
    with pytest.raises(ValueError, match="at least one"):
        mk.subset_log_evidence("ACGT", [])
    with pytest.raises(ValueError, match="clean tokens"):
        mk.target_conditionals("AC?T", [2])
    with pytest.raises(ValueError, match="0..3"):
        mk.target_conditionals("ACGT", [4])
    with pytest.raises(ValueError, match="Monte Carlo"):
        mk.target_conditionals("A" * 20, range(20))
