"""The paper's conditional-likelihood protocol on a Markov source (Fig. 1b; ``docs/theory.md`` §1.1, §4.2, §7).

For each of ``pairs`` prompt/response pairs:

* the prompt is a stationary window of length P (a window of a stationary sample);
* the response is R symbols sampled from the chain given the prompt's last k symbols;
* the model input is prompt + response, the target is the response (H_R, not H_{P+R}), the
  context is the prompt (§4.2 "Prompt–response use").

Per pair it reports the true conditional NLL ``-Σ_j log P(y_j | context_j)`` (chain rule,
without the code's ``+1e-12``), the exact time-free value of Cor. 4.3 over all ``2**R - 1``
masks (conditionals by forward–backward on mask tries, §5.4), a Monte Carlo estimate with
``2**13`` draws (the code's ``MC_NUM``) and its standard error, and the exact mean, bias and
variance of one draw of each estimator of the registry's prompt–response record
(``estimator_names(record="pairs")``).

Unlike the original (unseeded Python ``random``) everything is seeded: pair ``i`` uses its own
generator spawned from ``SeedSequence(seed)``, so the first pairs do not depend on ``pairs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ctmc_lab._validation import positive_int
from ctmc_lab.estimation import moments as _mom
from ctmc_lab.estimation.conditional import conditional_estimate, conditional_mask_dce
from ctmc_lab.estimation.estimators import Estimate
from ctmc_lab.estimation.registry import estimator_names
from ctmc_lab.masks import imdce_sum
from ctmc_lab.sources.markov import MarkovChain

__all__ = ["PairResult", "ProtocolResult", "ScoredPair", "sample_pair", "score_pair", "run_protocol", "MC_SAMPLES"]

#: Monte Carlo draws per pair: the official ``eval_markov.py`` uses ``MC_NUM = 2**13`` (§7).
MC_SAMPLES = 2**13


@dataclass(frozen=True, eq=False)
class PairResult:
    """One prompt/response pair of the protocol.

    Attributes
    ----------
    prompt, response : str
        Decoded symbols (comma-separated token ids without an alphabet).
    true_nll : float
        ``-log p(y | prompt) = -Σ_j log P(y_j | context_j)`` by the chain rule.
    time_free_exact : float
        Cor. 4.3 over all ``2**R - 1`` response masks.
    mc : ctmc_lab.estimation.estimators.Estimate
        The time-free Monte Carlo estimate (mean, stderr, n_samples).
    moments : dict
        ``{estimator: ctmc_lab.estimation.moments.Moments}``, bias measured against ``true_nll``.
    """

    prompt: str
    response: str
    true_nll: float
    time_free_exact: float
    mc: Estimate
    moments: dict = field(repr=False)

    @property
    def z_score(self) -> float:
        """(MC mean - true NLL) / stderr."""
        return (self.mc.mean - self.true_nll) / self.mc.stderr if self.mc.stderr > 0 else 0.0

    def as_json(self) -> dict:
        """The record of one pair in ``ctmc-lab nll --dist markov4 --json``."""
        return {
            "prompt": self.prompt,
            "response": self.response,
            "true_nll": float(self.true_nll),
            "time_free_exact": float(self.time_free_exact),
            "mc_estimate": float(self.mc.mean),
            "mc_stderr": float(self.mc.stderr),
            "mc_samples": int(self.mc.n_samples),
            "estimators": {name: m.as_json() for name, m in self.moments.items()},
        }


@dataclass(frozen=True, eq=False)
class ProtocolResult:
    """All pairs of one protocol run, with its settings."""

    distribution: dict
    prompt_length: int
    response_length: int
    mc_samples: int
    seed: int
    pairs: tuple[PairResult, ...]

    @property
    def max_residual(self) -> float:
        """max over pairs of |true_nll - time_free_exact|."""
        return max(abs(p.true_nll - p.time_free_exact) for p in self.pairs)

    @property
    def max_abs_z(self) -> float:
        """max over pairs of |MC - true| / stderr."""
        return max(abs(p.z_score) for p in self.pairs)

    def as_json(self) -> dict:
        return {
            "distribution": self.distribution,
            "protocol": {
                "prompt_length": self.prompt_length,
                "response_length": self.response_length,
                "pairs": len(self.pairs),
                "mc_samples": self.mc_samples,
                "mc_estimator": "time_free",
                "seed": self.seed,
                "harmonic_of": "response_length",
                "max_abs_true_minus_time_free": self.max_residual,
                "max_abs_z": self.max_abs_z,
            },
            "pairs": [p.as_json() for p in self.pairs],
        }


def sample_pair(chain: MarkovChain, *, prompt_length: int = 16, response_length: int = 16, rng=None):
    """One seeded (prompt, response): a stationary window, then R symbols from its last k.

    Returns
    -------
    ((P,) int array, (R,) int array)
    """
    rng = np.random.default_rng(rng)
    prompt = chain.sample(prompt_length, rng=rng)
    response = chain.sample(response_length, start=prompt, rng=rng)
    return prompt, response


@dataclass(frozen=True, eq=False)
class ScoredPair:
    """One sampled pair with its exact A-table and its Monte Carlo estimate (:func:`score_pair`).

    Attributes
    ----------
    prompt : (P,) int array
    response : (R,) int array
    true_nll : float
        ``-Σ_j log P(y_j | context_j)``, the chain rule.
    table : (2**R,) float array
        A(M) over the response masks (Cor. 4.3, ``docs/theory.md`` §4.2).
    mc : ctmc_lab.estimation.estimators.Estimate
        The time-free estimate drawn with the generator that sampled the pair.
    """

    prompt: np.ndarray
    response: np.ndarray
    true_nll: float
    table: np.ndarray = field(repr=False)
    mc: Estimate


def score_pair(
    chain: MarkovChain,
    rng: np.random.Generator,
    *,
    prompt_length: int,
    response_length: int,
    mc_samples: int,
    method: str = "forward_backward",
) -> ScoredPair:
    """Sample one prompt–response pair with ``rng``, then score it exactly and by Monte Carlo (Cor. 4.3).

    The time-free draws continue ``rng`` after the pair, so pair ``i`` of a run depends on its own
    spawned generator only (``docs/theory.md`` §4.2, §7).

    Parameters
    ----------
    chain : MarkovChain
    rng : numpy.random.Generator
    prompt_length, response_length, mc_samples : int
        Already validated by the caller.
    method : {"forward_backward", "subset"}
        The route of the A-table (:func:`ctmc_lab.estimation.conditional.conditional_mask_dce`).

    Returns
    -------
    ScoredPair
    """
    prompt, response = sample_pair(chain, prompt_length=prompt_length, response_length=response_length, rng=rng)
    x = np.concatenate([prompt, response])
    target = list(range(prompt_length, prompt_length + response_length))
    context = list(range(prompt_length))
    true = chain.nll(response, start=prompt)
    # Model input = prompt + response (stationary window): the optimal denoiser sees the
    # prompt as context, exactly as the network does in eval_markov.py.
    A = conditional_mask_dce(chain, x, target=target, context=context, method=method)
    mc = conditional_estimate(
        chain, x, estimator="time_free", n_samples=mc_samples, rng=rng, target=target, context=context, table=A
    )
    return ScoredPair(prompt, response, float(true), A, mc)


def run_protocol(
    chain: MarkovChain,
    *,
    prompt_length: int = 16,
    response_length: int = 16,
    pairs: int = 64,
    mc_samples: int = MC_SAMPLES,
    seed: int = 0,
    progress=None,
) -> ProtocolResult:
    """Run the Fig. 1b protocol exactly (``docs/theory.md`` §1.1, §4.2, §7).

    Parameters
    ----------
    chain : MarkovChain
    prompt_length : int, default 16
        P ≥ k, so that the prompt fixes the initial context.
    response_length : int, default 16
        R, the target length (all ``2**R - 1`` masks are enumerated; R ≤ 16 keeps it fast).
    pairs : int, default 64
    mc_samples : int, default 2**13
    seed : int, default 0
    progress : callable, optional
        Called with no argument after each pair (e.g. ``Progress.update``).

    Returns
    -------
    ProtocolResult

    Examples
    --------
    >>> from ctmc_lab.sources.markov import markov4
    >>> r = run_protocol(markov4(), response_length=6, pairs=2, mc_samples=512, seed=0)
    >>> r.max_residual < 1e-9
    True
    """
    if getattr(chain, "order", None) is None:
        raise ValueError(f"`chain` must be a Markov chain source, with an `order` (got {type(chain).__name__})")
    p_len = positive_int(prompt_length, "prompt_length", minimum=chain.order)
    r_len = positive_int(response_length, "response_length")
    n_pairs = positive_int(pairs, "pairs")
    n_mc = positive_int(mc_samples, "mc_samples", minimum=2)
    seed = positive_int(seed, "seed", minimum=0)
    # Each estimator's minimum target length (the omit-full-mask samplers need two positions).
    names = estimator_names(record="pairs", length=r_len)
    results = []
    for ss in np.random.SeedSequence(seed).spawn(n_pairs):
        pair = score_pair(chain, np.random.default_rng(ss), prompt_length=p_len, response_length=r_len, mc_samples=n_mc)
        mom = _mom.all_moments(
            pair.table, names=names, reference=pair.true_nll, positions=np.arange(p_len, p_len + r_len)
        )
        results.append(
            PairResult(
                chain.decode(pair.prompt),
                chain.decode(pair.response),
                pair.true_nll,
                float(imdce_sum(pair.table)),
                pair.mc,
                mom,
            )
        )
        if progress is not None:
            progress()
    return ProtocolResult(chain.describe(), p_len, r_len, n_mc, seed, tuple(results))
