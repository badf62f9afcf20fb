"""A source defined outside ``ctmc_lab``: an i.i.d. product over positions, written against the
:class:`ctmc_lab.sources.base.Source` protocol only (it subclasses nothing).

Used by ``tests/sources/test_base.py`` (conditional likelihood and exact moments) and by the CLI
test of ``--dist python:tests.sources.user_source:ATTR``.
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.sequences import Alphabet


class IIDProduct:
    """p0(x) = Π_i p_i(x^i): every conditional is the position's own marginal."""

    mask_dce_methods = ("closed_form",)

    def __init__(self, marginals, alphabet=None):
        self.marginals = np.asarray(marginals, dtype=float)
        self.length, self.n_tokens = self.marginals.shape
        self.alphabet = None if alphabet is None else Alphabet(alphabet)
        with np.errstate(divide="ignore"):
            self._log = np.log(self.marginals)

    def encode(self, x):
        if isinstance(x, str):
            x = self.alphabet.encode(x)
        x = np.asarray(x)
        if x.shape[-1] != self.length or x.min() < 0 or x.max() >= self.n_tokens:
            raise ValueError(f"sequences must have length {self.length} and tokens in 0..{self.n_tokens - 1}")
        return x.astype(np.int64)

    def decode(self, x):
        x = np.asarray(x)
        return self.alphabet.decode(x) if self.alphabet is not None else ",".join(map(str, x))

    def log_prob(self, x):
        x = self.encode(x)
        out = self._log[np.arange(self.length), x].sum(axis=-1)
        return float(out) if np.ndim(out) == 0 else out

    def nll(self, x):
        return -self.log_prob(x)

    def log_marginal(self, x):
        x = np.asarray(x, dtype=np.int64)
        visible = x < self.n_tokens
        terms = self._log[np.arange(self.length), np.where(visible, x, 0)]
        return np.where(visible, terms, 0.0).sum(axis=-1)

    def sample(self, length=None, *, n=None, rng=None):
        rng = np.random.default_rng(rng)
        u = rng.random((1 if n is None else n, self.length, 1))
        x = (u > np.cumsum(self.marginals, axis=1)[None]).sum(axis=-1)  # inverse CDF per position
        return x[0] if n is None else x

    def denoiser(self, length):
        assert length == self.length
        return _Denoiser(self)

    def mask_dce_table(self, x, target, context=None, *, method=None):
        x = self.encode(x)
        target = sorted(target)
        nll = -self._log[target, x[target]]
        masks = np.arange(1 << len(target))
        return ((masks[:, None] >> np.arange(len(target))) & 1) @ nll


class _Denoiser:
    def __init__(self, source):
        self.n_tokens, self.length, self._log = source.n_tokens, source.length, source._log

    def __call__(self, x):
        x = np.asarray(x)
        point = np.where(np.arange(self.n_tokens) == np.where(x < self.n_tokens, x, 0)[..., None], 0.0, -np.inf)
        return np.where((x == self.n_tokens)[..., None], self._log[None], point)


#: Three positions over the symbols a, b, c: small enough to enumerate, uneven enough to matter.
MARGINALS = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])


def make_source():
    """The zero-argument factory the CLI spec ``python:tests.sources.user_source:make_source`` calls."""
    return IIDProduct(MARGINALS, alphabet="abc")


#: An instance, for ``python:tests.sources.user_source:SOURCE``.
SOURCE = make_source()


def too_large():
    """4 symbols x 12 positions: 4**12 = 2**24 sequences, above the enumeration limit."""
    return IIDProduct(np.full((12, 4), 0.25))
