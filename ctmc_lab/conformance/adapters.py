"""Exact models behind the call shapes other projects use, for numpy or torch evaluators.

=================  =====================================================  ==========================================
adapter            call                                                   projects (``evaluators_survey`` §4.1)
=================  =====================================================  ==========================================
``HFMaskedLM``     ``model(input_ids[, attention_mask]).logits``,          LLaDA, Dream, d1, DiffuCoder, dllm
                   ``.device``, ``.dtype``, ``.eval()``
``RawMaskedLM``    ``model(x)`` → logits or log-probs                       SMDM, RADD
``SigmaBackbone``  ``backbone(x, sigma)`` → logits                          MDLM, BD3LM, DUO (absorbing)
``ScoreModel``     ``model(x, sigma)`` → log-scores                         SEDD (absorbing, uniform graphs)
=================  =====================================================  ==========================================

Each wraps an :class:`~ctmc_lab.conformance.exact_model.ExactModel` (its ids, layout, precision and
call log) and converts arrays with a backend: ``"numpy"`` (arrays in, arrays out; no torch) or
``"torch"`` (tensors in, tensors of the model's dtype out; torch is imported when the adapter is
built, never before). :func:`make_adapter` builds one by name, the names of ``ctmc-lab conform
--adapter``. σ is recorded and ignored by the masked-diffusion shapes: with absorbing noise the
optimal denoiser does not depend on the time (``docs/theory.md`` §3.1).
"""

from __future__ import annotations

import numpy as np

from ctmc_lab.conformance.exact_model import ExactModel

__all__ = [
    "ADAPTERS",
    "Adapter",
    "BACKENDS",
    "MaskedLMOutput",
    "HFMaskedLM",
    "RawMaskedLM",
    "SigmaBackbone",
    "ScoreModel",
    "make_adapter",
    "torch_available",
]

#: Array backends.
BACKENDS = ("numpy", "torch")


def torch_available() -> bool:
    """Whether torch can be imported (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as none
        return False


class _NumpyBackend:
    name = "numpy"
    device = "cpu"

    def __init__(self, precision):
        self.dtype = np.dtype(np.float64 if precision == "float64" else np.float32)

    def to_numpy(self, x):
        return np.asarray(x)

    def from_numpy(self, values):
        return values

    def ids(self, values):
        return np.asarray(values, dtype=np.int64)


class _TorchBackend:
    name = "torch"

    def __init__(self, precision):
        try:
            import torch
        except ImportError:
            raise ValueError(
                "the torch backend needs torch: pip install 'ctmc-lab[conformance]', or use backend='numpy'"
            ) from None
        self.torch = torch
        self.device = torch.device("cpu")
        self.dtype = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}[precision]

    def to_numpy(self, x):
        torch = self.torch
        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def from_numpy(self, values):
        # bfloat16 values are exact in bfloat16 (rounded by the exact model), so the cast is exact.
        return self.torch.from_numpy(np.ascontiguousarray(values)).to(self.dtype)

    def ids(self, values):
        return self.torch.as_tensor(np.asarray(values, dtype=np.int64))


def _backend(name: str, precision: str):
    if name not in BACKENDS:
        raise ValueError(f"unknown `backend` {name!r}; choose one of {list(BACKENDS)}")
    return _NumpyBackend(precision) if name == "numpy" else _TorchBackend(precision)


class MaskedLMOutput:
    """An HF-style output: ``out.logits`` and ``out[0]``."""

    def __init__(self, logits):
        self.logits = logits

    def __getitem__(self, key):
        if key == 0 or key == "logits":
            return self.logits
        raise KeyError(key)


class Adapter:
    """What every adapter shares: the exact model, the backend, its call log, and the look-alikes
    of ``torch.nn.Module`` an evaluator may call (``.device``, ``.dtype``, ``.eval()``, ``.to()``)."""

    kind = "core"
    #: The adapter's one option, as (name, allowed values; the first the default), or None.
    option: tuple | None = None

    def __init__(self, model: ExactModel, *, backend: str = "torch", **option):
        if not isinstance(model, ExactModel):
            raise ValueError(f"`model` must be an ExactModel (got {type(model).__name__})")
        name, allowed = self.option or (None, ())
        unknown = sorted(set(option) - {name})
        if unknown:
            raise ValueError(f"{type(self).__name__} takes no option {unknown[0]!r}")
        if name is not None:
            value = option.get(name, allowed[0])
            if value not in allowed:
                raise ValueError(f"`{name}` must be one of {list(allowed)} (got {value!r})")
            setattr(self, name, value)
        self.exact = model
        self.backend = _backend(backend, model.precision)
        self.training = False

    # torch.nn.Module look-alikes, so evaluator code that moves or freezes its model runs as written.
    @property
    def device(self):
        return self.backend.device

    @property
    def dtype(self):
        return self.backend.dtype

    def eval(self):
        self.training = False
        return self

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def to(self, *args, **kwargs):
        return self

    def requires_grad_(self, requires_grad: bool = True):
        return self

    def parameters(self):
        return iter(())

    @property
    def log(self):
        """The :class:`~ctmc_lab.conformance.calllog.CallLog` of every row this adapter was shown."""
        return self.exact.log

    @property
    def mask_id(self) -> int:
        return self.exact.mask_id

    @property
    def vocab_size(self) -> int:
        return self.exact.vocab_size

    def view(self):
        """The case in this adapter's ids (:class:`~ctmc_lab.conformance.exact_model.CaseView`)."""
        return self.exact.view(self.backend.ids)

    def _ids(self, x):
        return self.backend.to_numpy(x)

    def _sigma(self, sigma):
        s = np.asarray(self.backend.to_numpy(sigma), dtype=float).reshape(-1)
        return s

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.exact!r}, backend={self.backend.name!r})"


class HFMaskedLM(Adapter):
    """``model(input_ids, attention_mask=None, **kwargs).logits`` of shape ``(B, L, V)``.

    The logits are log c* (a valid softmax input); ``attention_mask`` and other keywords are
    accepted and ignored (a bidirectional masked model sees the whole row).
    """

    kind = "hf"

    def __call__(self, input_ids=None, attention_mask=None, **kwargs):
        if input_ids is None:
            input_ids = kwargs.pop("x", None)
        out = self.exact.log_probs(self._ids(input_ids), kind=self.kind)
        return MaskedLMOutput(logits=self.backend.from_numpy(out))

    forward = __call__


class RawMaskedLM(Adapter):
    """``model(x)`` → a ``(B, L, V)`` tensor of logits or log-probs (the same values: log c* is normalised).

    Parameters
    ----------
    output : {"logits", "logprobs"}
        Only a label for the report; ``fill_value`` channels make the two differ only if finite.
    """

    kind = "raw"
    option = ("output", ("logits", "logprobs"))

    def __call__(self, x, *args, **kwargs):
        return self.backend.from_numpy(self.exact.log_probs(self._ids(x), kind=self.kind))

    forward = __call__


class SigmaBackbone(Adapter):
    """``backbone(x, sigma)`` → ``(B, L, V)`` logits; σ (the noise level σ̄ per row) is logged.

    MDLM's SUBS post-processing (mask channel to -inf, visible rows to their token) leaves c*
    unchanged, so a project's own parameterisation runs on top as written.
    """

    kind = "backbone"

    def __call__(self, x, sigma=None, *args, **kwargs):
        sig = None if sigma is None else self._sigma(sigma)
        return self.backend.from_numpy(self.exact.log_probs(self._ids(x), kind=self.kind, sigma=sig))

    forward = __call__


class ScoreModel(Adapter):
    """SEDD's ``model(x, sigma)`` → ``(B, L, V)`` log concrete scores.

    Parameters
    ----------
    graph : {"absorb", "uniform"}
        ``"absorb"`` (mask id N): log s(x)_{i,v} = log c*(x)_{i,v} - log(e^σ̄ - 1) at a masked
        position (:meth:`~ctmc_lab.conformance.exact_model.ExactModel.log_scores`);
        ``"uniform"``: log p_σ̄(x^{i←v}) / p_σ̄(x) under uniform noise, for sources small enough to
        enumerate (:meth:`~ctmc_lab.conformance.exact_model.ExactModel.uniform_log_scores`).
    """

    kind = "score"
    option = ("graph", ("absorb", "uniform"))

    def __call__(self, x, sigma, *args, **kwargs):
        scores = self.exact.log_scores if self.graph == "absorb" else self.exact.uniform_log_scores
        return self.backend.from_numpy(scores(self._ids(x), self._sigma(sigma), kind=self.kind))

    forward = __call__


#: ``--adapter`` names and their classes.
ADAPTERS = {"hf": HFMaskedLM, "raw": RawMaskedLM, "backbone": SigmaBackbone, "score": ScoreModel}


def make_adapter(case, kind: str = "hf", *, backend: str = "torch", **options):
    """An adapter of one call shape around a new :class:`~ctmc_lab.conformance.exact_model.ExactModel`.

    Parameters
    ----------
    case : Case
    kind : {"hf", "raw", "backbone", "score"}
    backend : {"torch", "numpy"}
    **options
        :class:`~ctmc_lab.conformance.exact_model.ExactModel` options (``mask_id``,
        ``vocab_size``, ``token_map``, ``shift``, ``precision``, fillers, ``on_impossible``,
        ``denoiser``), plus ``output`` (raw) or ``graph`` (score).

    Examples
    --------
    >>> from ctmc_lab.conformance import cases
    >>> model = make_adapter(cases.dna128(0), "hf", backend="numpy")
    >>> model(model.view().input_ids[None]).logits.shape
    (1, 8, 5)
    """
    if kind not in ADAPTERS:
        raise ValueError(f"unknown adapter {kind!r}; choose one of {list(ADAPTERS)}")
    extra = {k: options.pop(k) for k in ("output", "graph") if k in options}
    cls = ADAPTERS[kind]
    return cls(ExactModel(case, **options), backend=backend, **extra)
