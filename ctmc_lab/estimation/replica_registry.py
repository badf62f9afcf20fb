"""The registry of the public evaluators' replicas, and the built-in catalog (``docs/published.md``).

Every replica (:mod:`ctmc_lab.estimation.replicas`) is registered here once, by name; the
conformance oracle reads it (``reference=``, :mod:`ctmc_lab.conformance.replicas`), the study of
the published table (:mod:`ctmc_lab.studies.published`) and ``ctmc-lab conform --published`` run
over it. A project adds its own with :func:`register_replica`.

Built in, with the commits read (file and function names are those of that commit):

==================================  ==========================================================
replicas                            evaluator, as configured
==================================  ==========================================================
``llada_get_log_likelihood``        LLaDA ``get_log_likelihood`` (b = 16, mc_num = 128, cfg = 0)
``llada_harness_b{1,8,16,32}``      LLaDA's lm-eval harness at b = 1 (lm-eval's command line
                                    without ``--batch_size``), 8 (the released scripts), 16,
                                    32 (class default, reached only through ``simple_evaluate``
                                    without a batch size)
``dllm_llada``                      dllm's copy of the rule (b = 32, mc_num = 32:
                                    ``examples/llada/eval.sh``)
``dream``, ``dllm_dream``           Dream's harness and dllm's copy: last position (EOS)
                                    visible, ε = 1e-3, VDM lattice, b = 32, mc_num = 128
``smdm``                            SMDM's lm-eval "mdlm" harness (VDM lattice, ε = 0:
                                    infinite variance)
``mdlm``, ``mdlm_t1000``,           MDLM's SUBS loss: continuous (antithetic t, sampling_eps
``mdlm_importance``                 1e-3), T = 1000, importance sampling
``sedd_absorb``,                    SEDD's score-entropy loss: absorbing + loglinear,
``sedd_absorb_geometric``,          absorbing + geometric (σ̄(0) = σ_min ≠ 0: audited),
``sedd_uniform``                    uniform + loglinear
``radd_lambda_dce``,                RADD's losses with its batch samplers (16 rows per step)
``radd_t_dce``, ``radd_t_dse``,
``radd_k_dce``
``bd3lm_block{2,4,8}``              BD3LM's NELBO (BOS, comb law over 8 copies);
                                    ``..._uniform``: the uniform-t reading without BOS
``md4``                             MD4 continuous (linear schedule, ε = 1e-4, reconstruction
                                    term)
``d1``, ``d1_prompt_visible``       d1's one-pass proxy (prompt masked with p = 0.3; p = 0)
``diffucoder``                      DiffuCoder's coupled blend
``vrpo_coupled``,                   a VRPO-style ELBO difference, masks shared or not
``vrpo_decoupled``
==================================  ==========================================================
"""

from __future__ import annotations

import math

import numpy as np

from ctmc_lab.estimation.families import LambdaDCE, MaskSize
from ctmc_lab.estimation.laws import k_dce_law
from ctmc_lab.estimation.replicas import (
    BlendReplica,
    BlockReplica,
    Code,
    CountRuleReplica,
    MeanFieldReplica,
    RatioReplica,
    Replica,
    TableReplica,
    UniformScoreReplica,
    linear_map,
    loglinear_map,
)
from ctmc_lab.estimation.timelaws import TimeLaw, TimeMap

__all__ = ["REPLICAS", "COMMITS", "register_replica", "get_replica", "replica_names"]

#: The snapshots read (full commit hashes).
COMMITS = {
    "ML-GSAI/LLaDA": "b7e6c3565f194352da44b38dd12b6970597309f3",
    "ZHZisZZ/dllm": "ca176752fbceec49c6b4777a2c18ae88e4eb10ed",
    "HKUNLP/Dream": "a1b4472a46545661e989c01b5867caafe04fb9c4",
    "ML-GSAI/SMDM": "583aa4716d17728dbb825aec6c24a121164d616a",
    "kuleshov-group/mdlm": "c112c526d193436838c98d81455ee51f90309470",
    "louaaron/Score-Entropy-Discrete-Diffusion": "0605786da5ccb5747545e26d66fdf477187598b6",
    "ML-GSAI/RADD": "60b772df3ad4bc0213e867ec62923fe90359b93d",
    "kuleshov-group/bd3lms": "1c3e8f43d88dfbcee5ff2aa6932a9e74b31ae1d7",
    "google-deepmind/md4": "b9fbf29216f818cccff46cb5727199f86f35593e",
    "dllm-reasoning/d1": "837888f22c21a5da91a0af2b0d7b19e81d9b47ec",
    "apple/ml-diffucoder": "f735e01376b752b70356efe45192f31499bf30dc",
}

#: Registered replicas by name: the built-in catalog below, then a user's (:func:`register_replica`).
REPLICAS: dict[str, Replica] = {}


def register_replica(replica: Replica) -> Replica:
    """Add ``replica`` to :data:`REPLICAS` (each name once)."""
    if not isinstance(replica, Replica):
        raise ValueError(f"`replica` must be a Replica (got {type(replica).__name__})")
    if replica.name in REPLICAS:
        raise ValueError(f"`replica`: a replica named {replica.name!r} is already registered")
    REPLICAS[replica.name] = replica
    return replica


def get_replica(name: str) -> Replica:
    """The replica called ``name``; an unknown name lists the registered ones."""
    try:
        return REPLICAS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown replica {name!r}; choose one of {sorted(REPLICAS)}") from None


def replica_names() -> tuple[str, ...]:
    """The registered names, built-in ones first in catalog order."""
    return tuple(REPLICAS)


def _code(repo: str, path: str, function: str) -> Code:
    return Code(repo, path, function, COMMITS[repo])


# ============================================================================ LLaDA and dllm
_LLADA_HARNESS = _code("ML-GSAI/LLaDA", "eval_llada.py", "LLaDAEvalHarness.get_loglikelihood")
_COUNT = "LLaDA's round(linspace) count rule"
register_replica(
    CountRuleReplica(
        "llada_get_log_likelihood",
        "LLaDA get_log_likelihood (b=16)",
        _code("ML-GSAI/LLaDA", "get_log_likelihood.py", "get_log_likelihood"),
        "batch_size = 16, mc_num = 128, cfg_scale = 0 (the function's defaults)",
        _COUNT,
        batch_size=16,
    )
)
for _b, _why in (
    (1, "lm-eval's CLI without --batch_size passes batch_size=1"),
    (8, "eval_llada_lm_eval.sh passes --batch_size 8"),
    (16, "the batch size of get_log_likelihood"),
    (32, "the class default, reached through simple_evaluate without a batch size"),
):
    register_replica(
        CountRuleReplica(
            f"llada_harness_b{_b}",
            f"LLaDA harness b={_b}",
            _LLADA_HARNESS,
            f"batch_size = {_b} ({_why}), mc_num = 128, cfg = 0",
            _COUNT if _b > 1 else "",
            batch_size=_b,
        )
    )
register_replica(
    CountRuleReplica(
        "dllm_llada",
        "dllm MDLMEvalHarness (b=32)",
        _code("ZHZisZZ/dllm", "dllm/core/eval/mdlm.py", "MDLMEvalHarness._get_loglikelihood"),
        "batch_size = 32, mc_num = 32 (examples/llada/eval.sh); LLaDA's rule verbatim; no CFG on this path",
        _COUNT,
        batch_size=32,
        mc_num=32,
    )
)

# ===================================================================================== Dream
for _name, _code_of, _label in (
    ("dream", _code("HKUNLP/Dream", "eval/eval.py", "Dream._eval_target_nll_mc"), "Dream harness"),
    (
        "dllm_dream",
        _code("ZHZisZZ/dllm", "dllm/pipelines/dream/eval.py", "DreamEvalHarness._eval_target_nll_mc"),
        "dllm Dream harness",
    ),
):
    register_replica(
        TableReplica(
            _name,
            _label,
            _code_of,
            "batch_size = 32, mc_num = 128 (4 batches), sampling_eps = 1e-3, log_type = 'ftb'; _encode_pair "
            "appends EOS and the last column is never masked",
            "EOS visible after the answer; λ truncated at 1e-3",
            family=TimeLaw(linear_map(1e-3), "lattice"),
            batch_size=32,
            batches=4,
            given="rest",
        )
    )

# ===================================================================================== SMDM
register_replica(
    TableReplica(
        "smdm",
        "SMDM mdlm harness",
        _code("ML-GSAI/SMDM", "evaluate_diff.py", "MDLMEvalHarness._eval_target_nll_mc"),
        "batch_size = 16 (eval_mdm.sh), mc_num = 1024 (64 batches), sampling_eps = 0, cfg = 0",
        "",
        family=TimeLaw(linear_map(0.0), "lattice"),
        batch_size=16,
        batches=64,
    )
)

# ===================================================================================== MDLM
_MDLM = _code("kuleshov-group/mdlm", "diffusion.py", "Diffusion._loss")
_EPS, _T = 1e-3, 1000


def _mdlm_grid_map(eps: float = _EPS, eps_s: float = _EPS, T: int = _T) -> TimeMap:
    """MDLM's ``T > 0`` path: t = (floor(T t_c) + 1)/T at t_c = (1-ε_s)u + ε_s, move chance (1-ε)t,
    weight T · (dt/t) of ``_d3pm_loss`` (SUBS: only its first term), t clamped at 1 - 1e-4 there."""

    def t(u):
        return (np.floor(T * ((1.0 - eps_s) * u + eps_s)) + 1.0) / T

    k = np.arange(2, T)
    breaks = tuple((k / T - eps_s) / (1.0 - eps_s))
    return TimeMap(
        lambda u: (1.0 - eps) * t(u),
        lambda u: 1.0 / np.minimum(t(u), 1.0 - 1e-4),
        breaks=breaks,
        constant_pieces=True,
    )


def _mdlm_importance_map(eps: float = _EPS, eps_s: float = _EPS) -> TimeMap:
    """MDLM's ``importance_sampling``: log λ uniform between f_0 = log(1 - e^{-σ_min}) and
    f_T = log(1 - e^{-σ_max}) at t = (1-ε_s)u + ε_s (σ_min = ε, σ_max = -log ε), weight -f_0."""
    f0 = math.log(-math.expm1(-eps))
    fT = math.log(-math.expm1(math.log(eps)))
    return TimeMap(lambda u: np.exp(f0 + ((1.0 - eps_s) * u + eps_s) * (fT - f0)), lambda u: -f0, pieces=16)


for _name, _label, _config, _map in (
    ("mdlm", "MDLM continuous", "antithetic t, sampling_eps = 1e-3, loglinear(1e-3), SUBS, T = 0", loglinear_map()),
    ("mdlm_t1000", "MDLM T=1000", "T = 1000 (the first step never drawn), otherwise as mdlm", _mdlm_grid_map()),
    (
        "mdlm_importance",
        "MDLM importance sampling",
        "importance_sampling = True (log-uniform move chance, weight -f_0), otherwise as mdlm",
        _mdlm_importance_map(),
    ),
):
    register_replica(
        TableReplica(
            _name,
            _label,
            _MDLM,
            _config + "; a batch of 8 copies of the row",
            "t truncated at sampling_eps; λ never reaches 1",
            "row",
            family=TimeLaw(_map, "antithetic"),
            batch_size=8,
        )
    )

# ===================================================================================== SEDD
_SEDD = _code("louaaron/Score-Entropy-Discrete-Diffusion", "losses.py", "get_loss_fn")


def _geometric_map(sigma_min: float = 1e-4, sigma_max: float = 20.0, eps_s: float = _EPS) -> TimeMap:
    """SEDD's ``GeometricNoise``: σ̄(t) = σ_min^{1-t} σ_max^t (σ̄(0) = σ_min, not 0), rate
    σ̄ log(σ_max/σ_min); absorbing move chance 1 - e^{-σ̄}, weight σ/(e^σ̄ - 1)."""

    def sb(u):
        t = (1.0 - eps_s) * u + eps_s
        return sigma_min ** (1.0 - t) * sigma_max**t

    return TimeMap(
        lambda u: -np.expm1(-sb(u)), lambda u: sb(u) * math.log(sigma_max / sigma_min) / np.expm1(sb(u)), pieces=64
    )


for _name, _label, _config, _map in (
    ("sedd_absorb", "SEDD absorbing", "graph absorb, noise loglinear(1e-3), sampling_eps = 1e-3", loglinear_map()),
    (
        "sedd_absorb_geometric",
        "SEDD absorbing, geometric",
        "graph absorb, noise geometric(σ_min = 1e-4, σ_max = 20), sampling_eps = 1e-3 (audited variant)",
        _geometric_map(),
    ),
):
    register_replica(
        TableReplica(
            _name,
            _label,
            _SEDD,
            _config + "; i.i.d. t per row, a batch of 8 copies",
            "t truncated at sampling_eps; no prior term",
            "row",
            family=TimeLaw(_map, "iid"),
            batch_size=8,
        )
    )
register_replica(
    UniformScoreReplica(
        "sedd_uniform",
        "SEDD uniform",
        _SEDD,
        "graph uniform, noise loglinear(1e-3), sampling_eps = 1e-3; i.i.d. t per row, a batch of 8 copies",
        "t truncated at sampling_eps; no prior term (KL at t = 1)",
    )
)

# ===================================================================================== RADD
_RADD = "ML-GSAI/RADD"
_RADD_CONFIG = "16 rows per step (--batch_size 16), 1024 steps (--monte_carlo_timesteps)"
register_replica(
    TableReplica(
        "radd_lambda_dce",
        "RADD λ-DCE",
        _code(_RADD, "losses.py", "get_loss_fn → lambda_DCE_loss"),
        _RADD_CONFIG + "; λ from the 'decoupled' sampler (the default --loss_type)",
        "",
        "row",
        family=LambdaDCE(stratified=True),
        batch_size=16,
        batches=1024,
    )
)
for _name, _fn, _map, _cause in (
    ("radd_t_dce", "t_DCE_loss", loglinear_map(log_term=True), "t truncated at sampling_eps; log of the score"),
    ("radd_t_dse", "t_DSE_loss", loglinear_map(), "t truncated at sampling_eps"),
):
    register_replica(
        TableReplica(
            _name,
            f"RADD {_fn.split('_')[0]}-{_fn.split('_')[1]}",
            _code(_RADD, "losses.py", f"get_loss_fn → {_fn}"),
            _RADD_CONFIG + "; t from the 'vdm' sampler, sampling_eps = 1e-3, loglinear(1e-3)",
            _cause,
            "row",
            family=TimeLaw(_map, "lattice"),
            batch_size=16,
            batches=1024,
        )
    )
register_replica(
    TableReplica(
        "radd_k_dce",
        "RADD k-DCE",
        _code(_RADD, "losses.py", "get_loss_fn → k_DCE_loss"),
        _RADD_CONFIG + "; k uniform on 1..L per row, weight L/k",
        "",
        "row",
        family=MaskSize(k_dce_law),
        batch_size=16,
        batches=1024,
    )
)

# ==================================================================================== BD3LM
_BD3LM = _code("kuleshov-group/bd3lms", "diffusion.py", "Diffusion._loss")
for _K in (8, 4, 2):
    register_replica(
        BlockReplica(
            f"bd3lm_block{_K}",
            f"BD3LM block {_K}",
            _BD3LM,
            f"block_size = {_K}, sampling_eps_min = 1e-3, max = 1, ignore_bos (a BOS first), antithetic t "
            "over rows × blocks (the comb law), a batch of 8 copies",
            "t truncated at sampling_eps; blocks see one stratum comb each",
            "row",
            block_size=_K,
        )
    )
    register_replica(
        BlockReplica(
            f"bd3lm_block{_K}_uniform",
            f"BD3LM block {_K}, uniform t",
            _BD3LM,
            f"block_size = {_K} aligned with the row (no BOS), t uniform per block: the reading of the survey",
            "t truncated at sampling_eps",
            "row",
            block_size=_K,
            bos=False,
            comb=False,
        )
    )

# ====================================================================================== MD4
register_replica(
    TableReplica(
        "md4",
        "MD4 continuous",
        _code("google-deepmind/md4", "md4/models/diffusion/md4.py", "MD4.__call__"),
        "linear schedule, ε = 1e-4, cont_time, antithetic t (a lattice over the batch of 8 copies), "
        "reconstruction term n ε log V",
        "λ on [ε, 1-ε]; reconstruction term",
        "row",
        family=TimeLaw(
            TimeMap(
                lambda u: (1 - 2e-4) * u + 1e-4, lambda u: (1 - 2e-4) / ((1 - 2e-4) * u + 1e-4), pole=1e-4 / (1 - 2e-4)
            ),
            "lattice",
        ),
        batch_size=8,
        recon_eps=1e-4,
    )
)

# ======================================================================= RL proxies, ratios
_D1 = _code("dllm-reasoning/d1", "diffu-grpo/diffu_grpo_trainer.py", "DiffuGRPOTrainer._get_per_token_logps")
register_replica(
    MeanFieldReplica(
        "d1",
        "d1 one-pass proxy",
        _D1,
        "p_mask_prompt = 0.3 (diffu_grpo_config.py), completion fully masked, one forward pass",
        "one-pass mean-field proxy (by design); prompt tokens masked",
    )
)
register_replica(
    MeanFieldReplica(
        "d1_prompt_visible",
        "d1 proxy, prompt visible",
        _D1,
        "p_mask_prompt = 0: the mean-field gap alone",
        "one-pass mean-field proxy (by design)",
        p_mask_prompt=0.0,
    )
)
register_replica(
    BlendReplica(
        "diffucoder",
        "DiffuCoder coupled blend",
        _code("apple/ml-diffucoder", "src/open_r1/coupled_grpo.py", "DiffuGRPOTrainer._get_per_token_logps"),
        "mask ratio t ~ U(0.2, 0.8), complementary masks, weights [1, 1/t, 1/(1-t)], (full + weighted)/2",
        "blend of a mean-field term and two weighted masked terms (by design)",
    )
)
for _coupled in (True, False):
    register_replica(
        RatioReplica(
            f"vrpo_{'coupled' if _coupled else 'decoupled'}",
            f"VRPO-style ratio, {'shared' if _coupled else 'independent'} masks",
            Code("ML-GSAI/LLaDA-1.5 (paper, arXiv 2505.19223)", "-", "VRPO ELBO difference", "no public code"),
            "n_t = 8 i.i.d. t, one mask each, λ = (1-ε)t + ε (ε = 1e-3); π_θ = c*, π_ref = c* at temperature 1.5",
            "λ truncated at 1e-3",
            coupled=_coupled,
        )
    )
del _b, _why, _name, _code_of, _label, _config, _map, _fn, _cause, _K, _coupled
