"""The conformance oracle: run any project's likelihood evaluator against the exact denoiser.

An evaluator written for a network (an lm-eval harness class, a ``get_log_likelihood``
function, an ELBO loss, a preference log-ratio) is run, unmodified, on an exact model: the
optimal denoiser c* of a small source (``docs/theory.md`` §3.1) behind the call shape the project
uses. Because c* and the target are exact, the evaluator's bias, variance and mask law are
measured against numbers, not against another estimate.

========================  ===========================================================================
module                    holds
========================  ===========================================================================
``cases``                 ``Case``: a source, one row, prompt and answer; D128, MK4 pairs, EOS rows
``exact_model``           ``ExactModel``: log c* in a project's ids, layout, precision (numpy)
``scores``                SEDD's concrete scores of an exact model (absorbing, uniform)
``adapters``              ``HFMaskedLM``, ``RawMaskedLM``, ``SigmaBackbone``, ``ScoreModel`` (numpy or torch)
``calllog``               every row a model sees, its masks and exact loss
``masklaw``               declared mask laws and their χ² tests on the log
``references``            the exact twin of an evaluator: exact mean and variance of a run's output
``contracts``             targets (``cond_nll``, ``per_token``, ``elbo``, ...) and relations
``oracle``                ``check``: run an evaluator, test its contracts
``report``                ``ConformanceReport``, its verdicts, Holm correction and printed table
``replicas``              the public evaluators' replicas as references (``reference("llada_harness_b8")``)
``published``             the table of ``ctmc-lab conform --published``
``grid``                  ``sweep`` over a grid of settings and cases
``pytest_plugin``         fixtures ``exact_case``, ``exact_model``, ``conformance`` for another project's tests
========================  ===========================================================================

The core imports numpy and scipy only; torch is imported when a torch adapter is built
(``pip install 'ctmc-lab[conformance]'``). The user guide's page "Check your evaluator" shows the
whole path.
"""

from __future__ import annotations

#: Public name -> the module that defines it (imported on first access).
_EXPORTS = {
    "Case": "ctmc_lab.conformance.cases",
    "ExactModel": "ctmc_lab.conformance.exact_model",
    "CaseView": "ctmc_lab.conformance.exact_model",
    "HFMaskedLM": "ctmc_lab.conformance.adapters",
    "RawMaskedLM": "ctmc_lab.conformance.adapters",
    "SigmaBackbone": "ctmc_lab.conformance.adapters",
    "ScoreModel": "ctmc_lab.conformance.adapters",
    "make_adapter": "ctmc_lab.conformance.adapters",
    "CallLog": "ctmc_lab.conformance.calllog",
    "ModelCallError": "ctmc_lab.conformance.calllog",
    "MaskLaw": "ctmc_lab.conformance.masklaw",
    "Unbiased": "ctmc_lab.conformance.contracts",
    "UpperBound": "ctmc_lab.conformance.contracts",
    "Exact": "ctmc_lab.conformance.contracts",
    "Biased": "ctmc_lab.conformance.contracts",
    "FiniteVariance": "ctmc_lab.conformance.contracts",
    "DeclaredLaw": "ctmc_lab.conformance.contracts",
    "per_token": "ctmc_lab.conformance.contracts",
    "elbo": "ctmc_lab.conformance.contracts",
    "log_ratio": "ctmc_lab.conformance.contracts",
    "expression": "ctmc_lab.conformance.contracts",
    "check": "ctmc_lab.conformance.oracle",
    "ConformanceReport": "ctmc_lab.conformance.report",
    "sweep": "ctmc_lab.conformance.grid",
}

_SUBMODULES = frozenset(
    {
        "cases",
        "exact_model",
        "scores",
        "adapters",
        "calllog",
        "masklaw",
        "references",
        "replicas",
        "contracts",
        "oracle",
        "report",
        "grid",
        "published",
    }
)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
