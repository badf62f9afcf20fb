"""proofs_check: every identity of *Information-Theoretic Discrete Diffusion*, verified three ways.

Run ``ctmc-lab verify`` (or ``python -m proofs_check``). Each check evaluates one result of
the paper (Thm 3.1 I-MDSE, Thm 3.2 NLL decomposition, Lemma 3.3, Thm 3.4, Thm 3.5,
Cor 3.6/3.7 I-MDCE, Thm 4.1 time-free likelihood, Thm 4.2/Cor 4.3 conditional likelihood,
Eq. 18 coupled ratio) on enumerable cases, in float64 (through ``ctmc_lab``), in mpmath at
50 digits (through small independent twins in :mod:`proofs_check.highprec`) and in sympy
(:mod:`proofs_check.symbolic`). Negative controls state deliberately wrong variants and must
fail (``math_spec.md`` §8, §10).

Modules: :mod:`~proofs_check.framework` (registry, records, context),
:mod:`~proofs_check.runner`, :mod:`~proofs_check.report`, :mod:`~proofs_check.cli`, and
one module per theorem group.
"""

from .framework import CheckRecord, Context, Result, Skip
from .runner import SuiteResult, default_context, load_checks, run_checks, select_checks, user_context

__all__ = [
    "CheckRecord",
    "Context",
    "Result",
    "Skip",
    "SuiteResult",
    "default_context",
    "user_context",
    "load_checks",
    "select_checks",
    "run_checks",
]
