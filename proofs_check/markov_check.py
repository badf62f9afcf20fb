"""The Markov source (``docs/theory.md`` §1.1, §5.4): forward–backward against brute force, and
Cor. 4.3 on prompt–response pairs against the chain rule, in float64 and mpmath.

The reference here shares nothing with :mod:`ctmc_lab.sources.markov` but the transition table: the
stationary law of the lifted chain is solved from its balance equations, window
probabilities come from the chain rule written out here, and conditionals are ratios of
brute-force sums over all N^L windows. The rows run on ``ctx.chain`` (a seeded order-2
chain by default; ``--dist markov4`` or ``markov:PATH`` gives the user's chain) at window
lengths with N^L ≤ 4096.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np

from . import cost
from .framework import TOL_ENUM, TOL_MP, Result, check, difference

__all__ = ["window_joint", "stationary_contexts"]

#: Largest number of windows N^L enumerated by the brute-force reference.
_WINDOWS = 4096


def stationary_contexts(table: np.ndarray, n: int) -> np.ndarray:
    """π over the N^k contexts from the balance equations π T = π, Σ π = 1 (least squares),
    T[c, (cN+v) mod C] = P(v | c)."""
    C = table.shape[0]
    T = np.zeros((C, C))
    for c in range(C):
        for v in range(n):
            T[c, (c * n + v) % C] += table[c, v]
    M = np.vstack([T.T - np.eye(C), np.ones((1, C))])
    rhs = np.zeros(C + 1)
    rhs[-1] = 1.0
    pi = np.linalg.lstsq(M, rhs, rcond=None)[0]
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


def _digits(c: int, n: int, k: int) -> list[int]:
    return [(c // n ** (k - 1 - j)) % n for j in range(k)]


def window_joint(table: np.ndarray, n: int, k: int, length: int, start=None) -> tuple[np.ndarray, np.ndarray]:
    """(windows (N^L, L), probabilities) by the chain rule from a pre-context.

    Stationary (start None): the pre-context c ~ π and L emissions; with ``start`` (a sequence
    of ≥ k symbols) the pre-context is its last k symbols.
    """
    C = table.shape[0]
    if start is None:
        init = stationary_contexts(table, n)
    else:
        init = np.zeros(C)
        init[int(sum(int(s) * n ** (k - 1 - j) for j, s in enumerate(list(start)[-k:])))] = 1.0
    wins = np.array(list(itertools.product(range(n), repeat=length)), dtype=np.int64)
    probs = np.zeros(len(wins))
    for c0 in np.flatnonzero(init > 0):
        ctx = np.full(len(wins), c0)
        p = np.full(len(wins), init[c0])
        for j in range(length):
            p = p * table[ctx, wins[:, j]]
            ctx = (ctx * n + wins[:, j]) % C
        probs += p
    return wins, probs


def _length(chain, ctx, extra: int = 2) -> int:
    n = chain.n_tokens
    L = chain.order + extra
    while L > 2 and n**L > _WINDOWS:
        L -= 1
    return L


def _brute_conditionals(wins, probs, x, n):
    """(B, L, N) log p(x^i = v | x^U) and (B,) log P(x^U) by brute force; x has the mask id n."""
    out = np.empty(x.shape + (n,))
    ev = np.empty(x.shape[0])
    for b, row in enumerate(x):
        vis = row < n
        match = np.all(wins[:, vis] == row[vis], axis=1)
        pu = probs[match].sum()
        ev[b] = math.log(pu) if pu > 0 else -math.inf
        for i in range(x.shape[1]):
            for v in range(n):
                if vis[i]:
                    out[b, i, v] = 0.0 if v == row[i] else -math.inf
                else:
                    num = probs[match & (wins[:, i] == v)].sum()
                    out[b, i, v] = math.log(num / pu) if num > 0 and pu > 0 else -math.inf
    return out, ev


def _forward_backward_work(ctx) -> float:
    """The chain-rule joint of the N^L windows from every context, B random masked windows
    and the 2^n target masks of one window against it by brute force (a Python loop over
    positions and symbols scanning every window), and the chain's own routes."""
    chain = ctx.chain
    n, L = chain.n_tokens, _length(chain, ctx)
    windows = float(n) ** L
    joint = cost.ELEM * chain.table.shape[0] * windows * L
    brute = L * n * (cost.STEP + cost.ELEM * windows * L)  # one masked window
    masks = 1 << (L - min(chain.order, L - 1))
    return joint + ((12 if ctx.quick else 40) + masks) * brute + 4 * cost.CALL * masks


@check(
    "markov.forward_backward",
    theorem="Markov source (§7)",
    method="float64",
    tolerance=TOL_ENUM,
    statement="forward–backward c*, log P(x^U) = brute force",
    work=_forward_backward_work,
)
def forward_backward_rows(ctx):
    """The chain's denoiser (scaled forward–backward) and log-evidence on random masked
    windows, and the trie conditionals of every mask of one window, against brute-force
    sums over all N^L windows of the chain-rule joint written out here."""
    chain = ctx.chain
    n, k = chain.n_tokens, chain.order
    L = _length(chain, ctx)
    wins, probs = window_joint(chain.table, n, k, L)
    rng = ctx.rng(71)
    B = 12 if ctx.quick else 40
    x = wins[rng.choice(len(wins), size=B, p=probs / probs.sum())].copy()
    x[rng.random(x.shape) < 0.5] = n
    ref, ref_ev = _brute_conditionals(wins, probs, x, n)
    got = chain.denoiser(L)(x)
    fb = chain.forward_backward(x)
    fin = np.isfinite(ref)
    same_inf = np.array_equal(np.isfinite(got), fin)
    diff = np.where(fin, np.abs(np.exp(got) - np.exp(np.where(fin, ref, 0.0))), 0.0)
    w = np.unravel_index(int(np.argmax(diff)), diff.shape)
    yield Result(
        f"{chain.name}; L={L}; {B} random masked windows; worst c*(x̃)_(i,v) vs brute force (probabilities)",
        float(np.exp(got[w])),
        float(np.exp(ref[w])),
        float(diff[w]) if same_inf else math.inf,
    )
    fe = np.isfinite(ref_ev)
    ev_err = (
        float(np.max(np.abs(fb.log_evidence[fe] - ref_ev[fe])))
        if np.array_equal(np.isfinite(fb.log_evidence), fe)
        else math.inf
    )
    yield Result(
        f"{chain.name}; L={L}; log P(x^U) of the same windows", float(fb.log_evidence[0]), float(ref_ev[0]), ev_err
    )
    with np.errstate(divide="ignore"):  # a deterministic chain gives windows of probability 0
        log_probs = np.log(probs[:64])
    yield Result(
        f"{chain.name}; L={L}; log p(x) of {min(len(wins), 64)} clean windows (log_prob)",
        float(chain.log_prob(wins[:1])[0]),
        float(log_probs[0]),
        difference(chain.log_prob(wins[:64]), log_probs),  # -inf = -inf where p(x) = 0
    )
    # Trie route: every mask of one window's targets (context = first k positions).
    x0 = wins[int(np.argmax(probs))]
    target = list(range(min(k, L - 1), L))
    A = chain.mask_dce_table(x0, target)
    nT = len(target)
    ref_A = np.zeros(1 << nT)
    for M in range(1, 1 << nT):
        xm = x0.copy()
        for j, pos in enumerate(target):
            if M >> j & 1:
                xm[pos] = n
        c, _ = _brute_conditionals(wins, probs, xm[None], n)
        ref_A[M] = -sum(c[0, pos, x0[pos]] for j, pos in enumerate(target) if M >> j & 1)
    yield Result(
        f"{chain.name}; L={L}; trie A(M) over all 2^{nT} masks of targets {target}",
        float(A[-1]),
        float(ref_A[-1]),
        float(np.max(np.abs(A - ref_A))),
    )


def _pairs(chain, rng, count):
    """(prompt, response) pairs sampled from the chain: prompt k+1 symbols, response 3–4."""
    n, k = chain.n_tokens, chain.order
    r = 3 if n ** (k + 4) > 1 << 16 else 4
    seqs = chain.sample(k + 1 + r, n=count, rng=rng)
    return [(s[: k + 1], s[k + 1 :]) for s in np.atleast_2d(seqs)]


def _chain_rule_nll(table, n, k, prompt, response) -> float:
    ctx = int(sum(int(s) * n ** (k - 1 - j) for j, s in enumerate(list(prompt)[-k:])))
    total = 0.0
    for v in response:
        total -= math.log(table[ctx, int(v)])
        ctx = (ctx * n + int(v)) % table.shape[0]
    return total


def _time_free(A: np.ndarray) -> float:
    n = A.size.bit_length() - 1
    H = math.fsum(1.0 / j for j in range(1, n + 1))
    tot = []
    for M in range(1, 1 << n):
        m = bin(M).count("1")
        tot.append(math.exp(math.lgamma(m) + math.lgamma(n - m + 1) - math.lgamma(n + 1)) * A[M])
    return math.fsum(tot), H


def _cor43_work(ctx) -> float:
    """Per pair: the chain's denoiser on the 2^r masks of the response (forward–backward over
    the window, all contexts) and the Python sums over them."""
    chain = ctx.chain
    r = 3 if chain.n_tokens ** (chain.order + 4) > 1 << 16 else 4
    length = chain.order + 1 + r
    per_pair = cost.CALL + cost.ELEM * (1 << r) * length * chain.table.size + (1 << r) * r * cost.STEP
    return (2 if ctx.quick else 4) * per_pair


@check(
    "markov.cor43_prompt_response",
    theorem="Cor 4.3",
    method="float64",
    tolerance=TOL_ENUM,
    statement="−log p(y|prompt) = H_n E_J Σ −log c*(·) (Markov)",
    work=_cor43_work,
)
def markov_cor43(ctx):
    """Cor. 4.3 on prompt–response pairs of the chain: the time-free sum over masks of the
    response, with conditionals from the forward–backward denoiser queried on prompt+response
    windows, against the chain rule Σ_j -log P(y_j | context_j) from the table."""
    chain = ctx.chain
    n, k = chain.n_tokens, chain.order
    rng = ctx.rng(72)
    rows = []
    for prompt, resp in _pairs(chain, rng, 2 if ctx.quick else 4):
        L = len(prompt) + len(resp)
        den = chain.denoiser(L)
        x = np.concatenate([prompt, resp])
        r = len(resp)
        A = np.zeros(1 << r)
        masks = []
        for M in range(1, 1 << r):
            xm = x.copy()
            for j in range(r):
                if M >> j & 1:
                    xm[len(prompt) + j] = n
            masks.append(xm)
        logc = den(np.array(masks))
        for M in range(1, 1 << r):
            A[M] = -sum(logc[M - 1, len(prompt) + j, resp[j]] for j in range(r) if M >> j & 1)
        beta_sum, _ = _time_free(A)
        truth = _chain_rule_nll(chain.table, n, k, prompt, resp)
        rows.append((truth, beta_sum, chain.decode(prompt), chain.decode(resp)))
    err = [abs(a - b) for a, b, *_ in rows]
    w = int(np.argmax(err))
    a, b, p, y = rows[w]
    yield Result(f"{chain.name}; {len(rows)} pairs (worst prompt={p}, response={y})", a, b)


# ------------------------------------------------------------------------------------ mpmath
def _mp_cor43_work(ctx) -> float:
    """Per pair at 50 digits: the N^r response windows (r products each), and for each of
    the 2^r visible sets r + 1 sums over the windows with a log."""
    chain = ctx.chain
    r = 4 if chain.n_tokens**4 <= 256 else 3
    windows = float(chain.n_tokens) ** r
    per_pair = cost.MP_OP * (windows * r + (1 << r) * (r + 1) * windows * (1 + r / 2))
    return (2 if ctx.quick else 3) * per_pair


@check(
    "mp.markov_cor43",
    theorem="Cor 4.3",
    method="mpmath",
    tolerance=TOL_MP,
    statement="Markov Cor 4.3 by brute force (50 digits)",
    work=_mp_cor43_work,
)
def mp_markov_cor43(ctx):
    """Cor. 4.3 at 50 digits on prompt–response pairs of the chain: the response windows
    after the prompt's last k symbols enumerated (N^r of them), conditionals as ratios of
    mpmath sums, the time-free sum with exact Beta weights, against the chain rule."""
    chain = ctx.chain
    n, k = chain.n_tokens, chain.order
    r = 4 if n**4 <= 256 else 3
    rng = ctx.rng(73)
    with mpmath.workdps(50):
        rows = {}

        def row(c):
            if c not in rows:
                vals = [mpmath.mpf(float(v)) for v in chain.table[c]]
                total = mpmath.fsum(vals)  # the binary floats renormalised at 50 digits
                rows[c] = [v / total for v in vals]
            return rows[c]

        wins = list(itertools.product(range(n), repeat=r))
        for prompt, resp in _pairs(chain, rng, 2 if ctx.quick else 3):
            resp = [int(v) for v in resp[:r]]
            c0 = 0
            for v in prompt[-k:]:
                c0 = c0 * n + int(v)
            probs = []
            for w in wins:
                p, c = mpmath.mpf(1), c0
                for v in w:
                    p *= row(c)[v]
                    c = (c * n + v) % chain.table.shape[0]
                probs.append(p)

            def P(fixed):
                return mpmath.fsum(p for w, p in zip(wins, probs) if all(w[i] == v for i, v in fixed.items()))

            total = []
            for J in range((1 << r) - 1):  # J ⊊ response: visible response positions
                vis = {j: resp[j] for j in range(r) if J >> j & 1}
                pj = P(vis)
                a = mpmath.fsum(-mpmath.log(P({**vis, j: resp[j]}) / pj) for j in range(r) if not J >> j & 1)
                size = bin(J).count("1")
                total.append(mpmath.beta(r - size, size + 1) * a)  # H_r p(J) = B(r-|J|, |J|+1)
            rhs = mpmath.fsum(total)
            lhs, c = mpmath.mpf(0), c0
            for v in resp:
                lhs -= mpmath.log(row(c)[v])
                c = (c * n + v) % chain.table.shape[0]
            yield Result(
                f"{chain.name}; prompt={chain.decode(np.asarray(prompt))}, response={chain.decode(np.asarray(resp))}",
                float(lhs),
                float(rhs),
                float(abs(lhs - rhs)),
            )
