"""Bundled and generated data distributions (``docs/theory.md`` §1.1).

* :func:`dna128`: the paper's released D128 table (infodis ``data/sequence_eval.json``).
* :func:`dna128_like`: the D128 recipe, 128 distinct uniform length-8 DNA sequences with
  probabilities softmax(u / 0.5), u ~ U[0, 1).
* :func:`dirichlet`: random p0 over V^L from Dirichlet(alpha), full or sparse support.
* :func:`iid_product`: product distributions, whose answers are known in closed form.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from ctmc_lab._validation import (
    SUM_TOLERANCE,
    ensure_array,
    ensure_int,
    ensure_real,
    ensure_rng,
    ensure_size,
    ensure_str,
    power,
)
from ctmc_lab.sequences import DNA, all_sequences
from ctmc_lab.sources.joint import JointDistribution

__all__ = ["dna128", "dna128_like", "dirichlet", "iid_product", "data_path"]


def data_path(name: str):
    """Path of a file shipped in ``ctmc_lab/sources/data`` (``name`` a file name there, e.g. ``"dna128.json"``)."""
    name = ensure_str(name, "name")
    folder = resources.files("ctmc_lab.sources") / "data"
    shipped = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    if name not in shipped:
        raise ValueError(f"`name` must be a file shipped in ctmc_lab/sources/data, one of {shipped} (got {name!r})")
    return folder / name


def dna128() -> JointDistribution:
    """The paper's D128 table: 128 length-8 DNA sequences, alphabet A,T,G,C, mask id 4.

    Source: infodis ``data/sequence_eval.json`` (Jeon, Shin, Jeon & No, NeurIPS 2025),
    shipped as ``ctmc_lab/sources/data/dna128.json``. Its probabilities sum to 1 within 4e-16.
    """
    mapping = json.loads(data_path("dna128.json").read_text())
    return JointDistribution.from_dict(mapping, alphabet=DNA, name="dna128")


def dna128_like(seed=0, *, n_sequences: int = 128, length: int = 8, temperature: float = 0.5):
    """The D128 recipe: distinct uniform DNA sequences with p ∝ exp(u / temperature).

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Passed to ``numpy.random.default_rng`` (SPEC 7).
    n_sequences : int
        The support size, in 1..4**length.
    length : int
        L, in 1..30 (4**L must index in int64).
    temperature : float > 0
    """
    rng = ensure_rng(seed, "seed")
    length = ensure_int(length, "length", minimum=1, maximum=30)
    temperature = ensure_real(temperature, "temperature", lo=0.0, lo_open=True)
    n_all = 4**length
    n_sequences = ensure_int(n_sequences, "n_sequences")
    if not 1 <= n_sequences <= n_all:
        raise ValueError(f"`n_sequences` must lie in 1..{n_all} (got {n_sequences})")
    ensure_size(n_sequences * length, f"`n_sequences` = {n_sequences} sequences of `length` {length}")
    keys = rng.choice(n_all, size=n_sequences, replace=False)
    support = np.stack(np.unravel_index(keys, (4,) * length), axis=1)
    logits = rng.random(n_sequences) / temperature
    probs = np.exp(logits - logits.max())
    name = f"dna128-like:{seed}" if isinstance(seed, (int, np.integer)) else "dna128-like"
    return JointDistribution(support, probs / probs.sum(), n_tokens=4, alphabet=DNA, name=name)


def dirichlet(
    n_tokens: int, length: int, *, alpha: float = 1.0, support_size=None, rng=None, alphabet=None
) -> JointDistribution:
    """p0 ~ Dirichlet(alpha) over V^L, on all of V^L or on a random support of a given size.

    Parameters
    ----------
    n_tokens, length : int
        N ≥ 1 and L ≥ 1, with N**L below 2**62.
    alpha : float > 0
    support_size : int, optional
        In 1..N**L (default all of V^L, which must then fit ``ctmc_lab._validation.MAX_ELEMENTS`` (8 GiB of float64)).
    rng : seed or numpy.random.Generator
    alphabet : str or Alphabet, optional
    """
    rng = ensure_rng(rng)
    n_tokens = ensure_int(n_tokens, "n_tokens", minimum=1)
    length = ensure_int(length, "length", minimum=1)
    alpha = ensure_real(alpha, "alpha", lo=0.0, lo_open=True)
    n_all = power(n_tokens, length)
    if n_all >= 1 << 62:
        raise ValueError(f"`length` {length} over {n_tokens} symbols is too long: N**L must be below 2**62")
    size = n_all if support_size is None else ensure_int(support_size, "support_size")
    if not 1 <= size <= n_all:
        raise ValueError(f"`support_size` must lie in 1..{n_all} (got {support_size})")
    ensure_size(size * length, f"a support of `support_size` = {size} sequences of `length` {length}")
    keys = np.arange(n_all) if size == n_all else np.sort(rng.choice(n_all, size=size, replace=False))
    probs = rng.dirichlet(np.full(size, float(alpha)))
    # Tiny alpha can round a weight to 0 or below the smallest normal float, which
    # JointDistribution refuses; floor after normalising (a later division could push a floored
    # weight back under it). The floor adds at most size * 2.2e-308 to the sum.
    probs = np.maximum(probs / probs.sum(), np.finfo(float).tiny)
    support = np.stack(np.unravel_index(keys, (n_tokens,) * length), axis=1)
    return JointDistribution(
        support,
        probs,
        n_tokens=n_tokens,
        alphabet=alphabet,
        name=f"dirichlet(N={n_tokens}, L={length}, alpha={alpha})",
    )


def iid_product(marginals, length=None, *, alphabet=None) -> JointDistribution:
    """The product distribution p0(x) = prod_i p_i(x^i).

    Parameters
    ----------
    marginals : (N,) or (L, N) float array
        One marginal for every position, or one per position.
    length : int, optional
        L, required when one marginal is shared.

    Notes
    -----
    Closed forms: -log p0(x) = -sum_i log p_i(x^i), H(p0) = sum_i H(p_i), and every
    conditional p0(x^i | x^U) = p_i(x^i).
    """
    marginals = ensure_array(marginals, "marginals", ndim=(1, 2), finite=True, lo=0.0, allow_empty=False)
    if length is not None:
        length = ensure_int(length, "length", minimum=1)
        ensure_size(
            power(marginals.shape[-1], length) * length, f"`length` = {length}: V^L over {marginals.shape[-1]} symbols"
        )
    if marginals.ndim == 1:
        if length is None:
            raise ValueError("`length` is required with a single shared marginal")
        marginals = np.tile(marginals, (length, 1))
    elif length is not None and length != marginals.shape[0]:
        raise ValueError(f"`length` {length} contradicts the {marginals.shape[0]} rows of `marginals`")
    sums = marginals.sum(axis=1)
    if np.abs(sums - 1).max() > SUM_TOLERANCE:
        row = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(
            f"`marginals` rows must be probability vectors summing to 1 within {SUM_TOLERANCE:g} "
            f"(row {row} sums to {sums[row]:.12g})"
        )
    n_pos, n_tokens = marginals.shape
    support = all_sequences(n_tokens, n_pos)
    probs = np.prod(marginals[np.arange(n_pos), support], axis=1)
    return JointDistribution(
        support, probs, n_tokens=n_tokens, alphabet=alphabet, normalize=True, name=f"iid(N={n_tokens}, L={n_pos})"
    )
