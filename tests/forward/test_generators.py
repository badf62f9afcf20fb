"""Rate-matrix validation and the noise-process registry."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import find

from ctmc_lab.forward import generators
from tests import bruteforce
from tests.strategies import any_generator, process_names


@pytest.mark.parametrize(
    "Q, message",
    [
        ([[-1, 1], [1, -0.5]], "columns must sum to 0"),
        ([[-1, -1], [1, 1]], "off-diagonal"),
        ([[0, 0], [0, 0]], "no positive rate"),
        ([[np.nan, 0], [0, 0]], "finite"),
        ([[1, 2, 3]], "square"),
    ],
)
def test_bad_generators_are_rejected(Q, message):
    with pytest.raises(ValueError, match=message):
        generators.custom(Q)


def test_row_convention_hint():
    R = np.array([[-1.0, 1.0, 0.0], [0.0, -2.0, 2.0], [0.5, 0.5, -1.0]])  # rows sum to 0
    with pytest.raises(ValueError, match="R.T"):
        generators.custom(R)
    generators.custom(R.T)


# ------------------------------------------------------------------ the noise-process registry
def _masked_uniform_rates(n):
    """Uniform SEDD jumps among the clean symbols plus masking at rate 1 (a process from outside)."""
    Q = np.zeros((n + 1, n + 1))
    Q[:n, :n] = np.full((n, n), 1.0 / n) - np.eye(n)
    Q[n, :n] = 1.0
    Q[np.arange(n), np.arange(n)] -= 1.0
    return Q


def _masked_uniform_kernel(n, s):
    """Closed form: a token survives unmasked with probability e^{-s}, and meanwhile mixes uniformly."""
    K = np.zeros((n + 1, n + 1))
    K[:n, :n] = np.exp(-s) * (np.exp(-s) * np.eye(n) + -np.expm1(-s) / n)
    K[n, :n] = -np.expm1(-s)
    K[n, n] = 1.0
    return K


@pytest.fixture
def masked_uniform():
    """Registers "masked-uniform" for one test and removes it afterwards."""
    process = generators.register_noise_process(
        generators.NoiseProcess(
            "masked-uniform", _masked_uniform_rates, _masked_uniform_kernel, has_mask=True, min_tokens=2
        )
    )
    yield process
    del generators.NOISE_PROCESSES["masked-uniform"]


@pytest.mark.parametrize("name, builder", [("absorbing", generators.absorbing), ("uniform", generators.uniform)])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_builtin_processes_closed_forms_equal_expm(name, builder, n):
    g = builder(n)
    assert g.process is generators.NOISE_PROCESSES[name] and g.kind == name
    assert g.n_states == generators.NOISE_PROCESSES[name].n_states(n) == n + (name == "absorbing")
    assert g.mask_id == (n if name == "absorbing" else None)
    for s in (1e-9, 0.3, 4.0):
        assert np.abs(g.closed_form_kernel(s) - scipy.linalg.expm(s * g.Q)).max() <= 1e-14


def test_builtin_rates_are_the_papers_matrices():
    """§1.2: Q_abs[M, b] = 1, Q_abs[b, b] = -1; Q_uni = 11^T/N - I, written out for N = 2."""
    np.testing.assert_array_equal(generators.absorbing(2).Q, [[-1, 0, 0], [0, -1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(generators.uniform(2).Q, [[-0.5, 0.5], [0.5, -0.5]])
    g = generators.custom([[-1.0, 2.0], [1.0, -2.0]])
    assert g.process is None and g.kind == "custom" and g.mask_id is None and not g.has_closed_form


def test_a_process_registered_from_outside_is_picked_up_everywhere(masked_uniform):
    from ctmc_lab.cli import curve
    from ctmc_lab.exact import information, scores
    from ctmc_lab.forward.process import NoisedDistribution, token_kernel
    from ctmc_lab.sources import datasets
    from ctmc_lab.testing.strategies import generators_for

    g = generators.noise_process("masked-uniform").generator(3)
    assert g.mask_id == 3 and g.n_states == 4 and g.has_closed_form
    # Its closed form is the kernel of NoisedDistribution, and equals expm(sQ) (an independent route).
    s = 0.45
    np.testing.assert_allclose(token_kernel(g, s), scipy.linalg.expm(s * g.Q), rtol=0, atol=1e-14)
    p = datasets.dirichlet(3, 2, rng=3, support_size=7, alphabet="ABC")
    noised = NoisedDistribution.at_noise_level(p, g, s)
    x0 = p.support
    np.testing.assert_allclose(information.kl(noised, x0), [bruteforce.kl(p, g, s, x) for x in x0], atol=1e-12)
    # Thm 3.1 on the new process: the exact KL rate is -mdse_s.
    np.testing.assert_allclose(information.kl_rate(noised, x0), -scores.mdse(noised, x0, method="contract"), atol=1e-11)
    # The command line's --process and the hypothesis strategy know it by name.
    record = curve.compute(p, p.decode(x0[0]), "masked-uniform", "loglinear", [0.5])
    point = record["points"][0]
    assert point["mask_level"] == pytest.approx(0.5 * (1 - 1e-3))
    assert point["kl"] == pytest.approx(bruteforce.kl(p, g, point["sigma_bar"], x0[0]), abs=1e-12)
    drawn = find(generators_for(3, kinds=("masked-uniform", "custom")), lambda g: g.kind == "masked-uniform")
    np.testing.assert_array_equal(drawn.Q, g.Q)
    # The tests' shared strategy draws it with no list of kinds: it reads the registry when drawn.
    drawn = find(any_generator(3), lambda g: g.kind == "masked-uniform")
    np.testing.assert_array_equal(drawn.Q, g.Q)
    assert "masked-uniform" in process_names(closed_form=True)


def test_registration_refuses_wrong_closed_forms_and_taken_names():
    wrong = generators.NoiseProcess(
        "bad", _masked_uniform_rates, lambda n, s: _masked_uniform_kernel(n, 1.01 * s), has_mask=True, min_tokens=2
    )
    with pytest.raises(ValueError, match="differs from expm"):
        generators.register_noise_process(wrong)
    assert "bad" not in generators.NOISE_PROCESSES
    with pytest.raises(ValueError, match="already registered"):
        generators.register_noise_process(generators.NOISE_PROCESSES["uniform"])
    with pytest.raises(ValueError, match="reserved"):
        generators.register_noise_process(generators.NoiseProcess("custom", _masked_uniform_rates))
    with pytest.raises(ValueError, match="has 2 states, expected 3"):
        generators.NoiseProcess("short", generators.uniform_rates, has_mask=True).generator(2)
    with pytest.raises(ValueError, match="choose one of"):
        generators.noise_process("gaussian")
    with pytest.raises(ValueError, match="uniform noise needs at least 2 symbols"):
        generators.uniform(1)


def test_custom_validates_its_clean_symbol_count():
    Q = [[-1.0, 1.0, 0.0], [0.5, -1.0, 0.0], [0.5, 0.0, 0.0]]
    assert generators.custom(Q, n_tokens=2).n_tokens == 2
    with pytest.raises(ValueError, match="`n_tokens` must be a positive integer"):
        generators.custom(Q, n_tokens=0)
    with pytest.raises(ValueError, match="expected an S x S matrix with S >= 4"):
        generators.custom(Q, n_tokens=4)
