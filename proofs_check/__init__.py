"""proofs_check: every identity of *Information-Theoretic Discrete Diffusion*, with evidence that can fail.

Run ``ctmc-lab verify`` (or ``python -m proofs_check``), or call :func:`~proofs_check.verifier.verify` with a
distribution or a Markov chain. Each check evaluates one result of
the paper (Thm 3.1 I-MDSE, Thm 3.2 NLL decomposition, Lemma 3.3, Thm 3.4, Thm 3.5,
Cor 3.6/3.7 I-MDCE, Thm 4.1 time-free likelihood, Thm 4.2/Cor 4.3 conditional likelihood,
Eq. 18 coupled ratio) on enumerable cases, tied to the noised process or the denoiser (a
derivative is a difference of F as a function, a closed form on h(U) is compared with the
process), in float64 through ``ctmc_lab``, in mpmath at 50 digits through independent twins
(:mod:`proofs_check.highprec`, :mod:`proofs_check.mp_twins`) and in sympy
(:mod:`proofs_check.symbolic`); the report ends with the coverage matrix. Identities that
hold for any set function h are labelled ``Algebra``. The Monte Carlo estimators of the
registry and the Markov source are verified too (:mod:`~proofs_check.estimators_check`,
:mod:`~proofs_check.markov_check`). Negative controls state deliberately wrong variants
and must fail by a finite error; a crash is an error. :mod:`proofs_check.mutants` plants
bugs in scratch copies of the package that ``verify --quick`` must catch.

Modules: :mod:`~proofs_check.framework` (registry, records, context, tolerances),
:mod:`~proofs_check.cost` (the work each check predicts from the input sizes, against
``--budget``), :mod:`~proofs_check.defaults` (the run's defaults, free of NumPy),
:mod:`~proofs_check.runner` (worker processes, hang guard), :mod:`~proofs_check.report`,
:mod:`~proofs_check.verifier` (one run as a function of Python values; its command line is
:mod:`ctmc_lab.cli.verify`), and one module per theorem group. The suite imports only the public ``ctmc_lab`` API and
:mod:`ctmc_lab.io`, never the command line.
"""

import importlib

#: Public names and the module defining each: imported on first use, so that ``import
#: proofs_check`` (and ``ctmc-lab --help``, which reads the defaults) stays free of NumPy.
_EXPORTS = {
    "verify": "verifier",
    "DEFAULT_SEED": "defaults",
    "DEFAULT_BUDGET": "defaults",
    "CheckRecord": "framework",
    "Context": "framework",
    "Result": "framework",
    "Skip": "framework",
    "SuiteResult": "runner",
    "default_context": "runner",
    "user_context": "runner",
    "load_checks": "runner",
    "select_checks": "runner",
    "run_checks": "runner",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
