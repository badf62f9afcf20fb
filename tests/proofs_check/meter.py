"""Count the work a check actually does: the primitives of :mod:`proofs_check.cost`, wrapped.

``with metered() as meter: ...`` wraps the library calls the checks are made of (a noised
marginal, a KL, an mdse, denoiser queries, subset tables, an estimator run, the mpmath dense
process and subset tables) so that each call adds the work units of its *actual* sizes to
``meter.units``. The cost model predicts the same quantity before a check runs, from the
sizes alone; ``test_cost.py`` compares the two.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from ctmc_lab.estimation import estimators
from ctmc_lab.exact import information, scores
from ctmc_lab.forward.process import NoisedDistribution
from ctmc_lab.sources.joint import JointDistribution
from proofs_check import cost, highprec, mp_twins


@dataclass
class Meter:
    units: float = 0.0
    calls: dict = field(default_factory=dict)

    def add(self, what: str, units: float) -> None:
        self.units += float(units)
        self.calls[what] = self.calls.get(what, 0) + 1


def _rows(x) -> int:
    x = np.asarray(x)
    return 1 if x.ndim == 1 else int(x.shape[0])


@contextlib.contextmanager
def metered():
    """Wrap the primitives for the duration of the block; yields the :class:`Meter`."""
    meter = Meter()
    patches = []

    def patch(owner, name, wrapper_of):
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        patches.append((owner, name, original))
        setattr(owner, name, wrapper_of(original))

    def noised(orig):
        func = orig.__func__

        def at_noise_level(cls, dist, generator, s):
            meter.add("noised", cost.noised(generator, dist.length))
            return func(cls, dist, generator, s)

        return classmethod(at_noise_level)

    def on_noised(kind, units_of):
        def wrap(orig):
            def inner(noised, x0, *args, **kwargs):
                meter.add(kind, units_of(noised, _rows(noised.dist.encode(x0))))
                return orig(noised, x0, *args, **kwargs)

            return inner

        return wrap

    patch(NoisedDistribution, "at_noise_level", noised)
    patch(information, "kl", on_noised("kl", lambda n, b: cost.kl(n.generator.n_states, n.dist.length, b)))
    patch(
        information,
        "kl_rate",
        on_noised("kl_rate", lambda n, b: cost.mdse(n.generator, n.dist.length, b, "contract")),
    )

    def mdse(orig):
        def inner(noised, x0, *, method="auto"):
            meter.add("mdse", cost.mdse(noised.generator, noised.dist.length, _rows(noised.dist.encode(x0)), method))
            return orig(noised, x0, method=method)

        return inner

    patch(scores, "mdse", mdse)

    def queries(orig):
        def conditional_log_probs(self, x):
            if cost.uses_patterns(self) and self._patterns is None:
                meter.add("pattern_table", cost.pattern_table(self))
            meter.add("queries", cost.queries(_rows(x), self))
            return orig(self, x)

        return conditional_log_probs

    patch(JointDistribution, "conditional_log_probs", queries)

    def subset(orig):
        def subset_table(self, x0):
            meter.add("subset", cost.subset_tables(_rows(self.encode(x0)), self))
            return orig(self, x0)

        return subset_table

    patch(JointDistribution, "subset_table", subset)

    def run_of(orig):
        def run(*args, n_samples, batch_size=estimators.DEFAULT_BATCH, **kwargs):
            meter.add("monte_carlo", cost.monte_carlo(n_samples, batch_size))
            return orig(*args, n_samples=n_samples, batch_size=batch_size, **kwargs)

        return run

    patch(estimators, "estimate", run_of)
    patch(estimators, "log_ratio", run_of)

    def mp_at(orig):
        def at(self, s, x0):
            meter.add("mp_dense", cost.mp_dense(self.S**self.L, self.L, self.S))
            return orig(self, s, x0)

        return at

    def mp_mdse(orig):
        def mdse(self, q, p, x0):
            meter.add("mp_dense", cost.mp_dense(self.S**self.L, self.L, self.S))
            return orig(self, q, p, x0)

        return mdse

    patch(highprec.MpProcess, "at", mp_at)
    patch(highprec.MpProcess, "mdse", mp_mdse)

    def mp_table(orig):
        def table(self, x0):
            meter.add("mp_table", cost.mp_table(self.dist.support_size, self.L))
            return orig(self, x0)

        return table

    patch(mp_twins.MpMarginals, "table", mp_table)
    try:
        yield meter
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)
