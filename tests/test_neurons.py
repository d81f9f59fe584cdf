"""Neuron physics: LIF against its closed form, ALIF adaptation, the seed's refractory neuron."""

from __future__ import annotations

import math

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons import (
    ALIF,
    LI,
    LIF,
    ALIFParameters,
    LIFParameters,
    RefractoryNeuron,
    RefractoryParameters,
    alif_sequence,
    beta_from_tau,
    li_sequence,
    lif_sequence,
    refractory_sequence,
)
from hebbtorch.neurons.li import LIParameters


def const(value: float, steps: int, batch: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.full((steps, batch), value, dtype=dtype)


# ------------------------------------------------------------------------------------------ LIF


@pytest.mark.parametrize("beta, current", [(0.9, 0.05), (0.5, 0.3), (0.95, 0.04)])
def test_lif_subthreshold_matches_closed_form(beta, current):
    # v_t = I (1 - beta^(t+1)) / (1 - beta); these drives never reach threshold 1.
    T = 60
    out = lif_sequence(const(current, T), LIFParameters(beta=beta, threshold=1.0))
    t = torch.arange(T, dtype=torch.float64)
    expected = current * (1 - beta ** (t + 1)) / (1 - beta)
    assert float(expected.max()) < 1.0
    torch.testing.assert_close(out.v[:, 0], expected, rtol=1e-12, atol=1e-12)
    assert out.spikes.sum() == 0


@pytest.mark.parametrize("beta, current", [(0.9, 0.3), (0.8, 0.25), (0.95, 0.1), (1.0, 0.3)])
def test_lif_first_spike_time_from_closed_form(beta, current):
    thr = 1.0
    # smallest t with v_t > thr; v_t = I (t+1) for beta = 1
    if beta == 1.0:
        t_star = math.floor(thr / current)  # I (t+1) > thr
    else:
        # I (1 - beta^(t+1)) / (1 - beta) > thr  <=>  t + 1 > log(1 - thr (1-beta)/I) / log(beta)
        t_star = math.floor(math.log(1 - thr * (1 - beta) / current) / math.log(beta))
    out = lif_sequence(const(current, 100), LIFParameters(beta=beta, threshold=thr))
    first = int(torch.nonzero(out.spikes[:, 0])[0, 0])
    assert first == t_star
    assert out.v[t_star - 1, 0] <= thr < out.v[t_star, 0]


@pytest.mark.parametrize("current, thr", [(0.37, 1.0), (0.2, 0.5), (0.9, 2.0)])
def test_lif_subtract_reset_rate_is_current_over_threshold(current, thr):
    # Perfect integrator (beta = 1) with subtract reset conserves charge: rate -> I / threshold.
    T = 2000
    out = lif_sequence(const(current, T), LIFParameters(beta=1.0, threshold=thr))
    rate = float(out.spikes.sum()) / T
    assert abs(rate - current / thr) <= 2.0 / T
    assert set(out.spikes.unique().tolist()) <= {0.0, 1.0}


def test_lif_leaky_rate_below_perfect_integrator():
    T = 500
    leaky = lif_sequence(const(0.4, T), LIFParameters(beta=0.9)).spikes.sum()
    perfect = lif_sequence(const(0.4, T), LIFParameters(beta=1.0)).spikes.sum()
    assert 0 < leaky < perfect


def test_lif_zero_reset_is_periodic():
    beta, current = 0.9, 0.3
    t_star = math.floor(math.log(1 - (1 - beta) / current) / math.log(beta))  # = 3
    assert t_star == 3
    out = lif_sequence(const(current, 40), LIFParameters(beta=beta, reset="zero"))
    times = torch.nonzero(out.spikes[:, 0])[:, 0].tolist()
    # after each spike v = 0 exactly, so the trajectory restarts: period t* + 1
    assert times == list(range(t_star, 40, t_star + 1))
    assert float(out.state.v[0]) == pytest.approx(
        current * (1 - beta ** ((39 - t_star) % (t_star + 1))) / (1 - beta), abs=1e-12)


def test_lif_subtract_keeps_the_excess():
    out = lif_sequence(torch.tensor([[1.7], [0.0]], dtype=torch.float64),
                       LIFParameters(beta=0.5, threshold=1.0))
    assert out.spikes[:, 0].tolist() == [1.0, 0.0]
    # v after reset = 0.7; next v = 0.5 * 0.7
    assert float(out.v[1, 0]) == pytest.approx(0.35)


@pytest.mark.parametrize("refractory_steps", [1, 2, 5])
def test_lif_refractory_blocks_exactly_n_steps(refractory_steps):
    # A drive of 2 per step spikes every step without refractoriness.
    T = 30
    p = LIFParameters(beta=0.9, threshold=1.0, refractory_steps=refractory_steps)
    out = lif_sequence(const(2.0, T), p)
    times = torch.nonzero(out.spikes[:, 0])[:, 0].tolist()
    assert times == list(range(0, T, refractory_steps + 1))
    # during the refractory steps the membrane is held at 0
    for t0 in times:
        held = out.v[t0 + 1:t0 + 1 + refractory_steps, 0]
        assert torch.all(held == 0)
    free = lif_sequence(const(2.0, T), p._replace(refractory_steps=0))
    assert free.spikes.sum() == T


def test_lif_refractory_ignores_huge_input():
    p = LIFParameters(refractory_steps=3)
    x = torch.tensor([[5.0], [100.0], [100.0], [100.0], [0.5]])
    out = lif_sequence(x, p)
    assert out.spikes[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert float(out.v[4, 0]) == pytest.approx(0.5)  # held at 0, then integrates afresh


def test_lif_state_continues_simulation():
    x = torch.rand(20, 3, 4) * 0.6
    p = LIFParameters(beta=0.8, refractory_steps=1)
    full = lif_sequence(x, p)
    a = lif_sequence(x[:7], p)
    b = lif_sequence(x[7:], p, a.state)
    torch.testing.assert_close(torch.cat([a.spikes, b.spikes]), full.spikes)
    torch.testing.assert_close(torch.cat([a.v, b.v]), full.v)


def test_beta_from_tau():
    assert beta_from_tau(10.0, 1.0) == pytest.approx(math.exp(-0.1), rel=1e-15)
    assert beta_from_tau(5.0, 0.5) == pytest.approx(math.exp(-0.1), rel=1e-15)
    lif = LIF(tau_mem=20.0, dt=2.0)
    assert float(lif.beta) == pytest.approx(math.exp(-0.1), rel=1e-6)
    with pytest.raises(HebbtorchError):
        beta_from_tau(0.0, 1.0)
    with pytest.raises(HebbtorchError):
        beta_from_tau(10.0, -1.0)


def test_lif_module_matches_functional():
    x = torch.rand(10, 2, 5)
    m = LIF(beta=0.7, threshold=0.8, reset="zero", refractory_steps=2)
    ref = lif_sequence(x, LIFParameters(beta=0.7, threshold=0.8, reset="zero",
                                        refractory_steps=2))
    out = m(x)
    torch.testing.assert_close(out.spikes, ref.spikes)
    torch.testing.assert_close(out.v, ref.v)


def test_lif_learnable_beta_and_threshold_get_gradients():
    torch.manual_seed(0)
    m = LIF(beta=0.9, learn_beta=True, learn_threshold=True, shape=(6,))
    assert {n for n, _ in m.named_parameters()} == {"beta", "threshold"}
    x = torch.rand(15, 4, 6) * 0.6
    out = m(x)
    assert out.spikes.sum() > 0
    (out.spikes.sum() + out.v.sum()).backward()
    assert m.beta.grad is not None and m.threshold.grad is not None
    assert m.beta.grad.shape == (6,) and m.threshold.grad.shape == (6,)
    assert torch.all(m.beta.grad.abs() > 0)
    assert torch.any(m.threshold.grad != 0)
    # spikes fall as the threshold rises: the summed surrogate gradient is negative
    m.zero_grad()
    m(x).spikes.sum().backward()
    assert float(m.threshold.grad.sum()) < 0


def test_lif_fixed_parameters_are_buffers():
    m = LIF(beta=0.9)
    assert list(m.parameters()) == []
    assert {n for n, _ in m.named_buffers()} == {"beta", "threshold"}


def test_lif_input_gradient_through_surrogate():
    x = (torch.rand(8, 3, 2) * 0.8).requires_grad_()
    lif_sequence(x, LIFParameters()).spikes.sum().backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad)) and x.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [
    dict(beta=1.5), dict(beta=-0.1), dict(beta=float("nan")), dict(beta=0.9, reset="bogus"),
    dict(beta=0.9, refractory_steps=-1), dict(beta=0.9, refractory_steps=1.5),
    dict(beta=0.9, threshold=0.0), dict(beta=0.9, surrogate="nope"), dict(),
    dict(beta=0.9, tau_mem=10.0), dict(tau_mem=-3.0),
])
def test_lif_bad_parameters_raise(kwargs):
    with pytest.raises(HebbtorchError):
        LIF(**kwargs)


@pytest.mark.parametrize("p", [
    LIFParameters(beta=1.5), LIFParameters(reset="substract"), LIFParameters(refractory_steps=-2),
    LIFParameters(surrogate="sigmoidish"),
])
def test_lif_sequence_validates_parameters(p):
    with pytest.raises(HebbtorchError):
        lif_sequence(torch.zeros(3, 2), p)


def test_lif_bad_input_raises():
    m = LIF(beta=0.9)
    x = torch.zeros(4, 2)
    x[2, 1] = float("nan")
    with pytest.raises(HebbtorchError, match="NaN"):
        m(x)
    with pytest.raises(HebbtorchError, match="time, batch"):
        m(torch.zeros(5))
    with pytest.raises(HebbtorchError):
        m(torch.tensor([[float("inf")]]))


# ------------------------------------------------------------------------------------------ ALIF


@pytest.mark.parametrize("rho, scale", [(0.9, 1.8), (0.5, 0.3), (0.99, 2.0)])
def test_alif_threshold_jump_and_geometric_decay(rho, scale):
    T = 12
    x = torch.zeros(T, 1, dtype=torch.float64)
    x[0] = 1.5  # one spike at t = 0 (v -> 0.5 after reset), then silence
    out = alif_sequence(x, ALIFParameters(beta=0.9, rho=rho, threshold=1.0, adapt_scale=scale))
    assert out.spikes[:, 0].tolist() == [1.0] + [0.0] * (T - 1)
    A = out.threshold[:, 0]
    assert float(A[0]) == 1.0
    jump = scale * (1 - rho)
    assert float(A[1]) == pytest.approx(1.0 + jump, rel=1e-12)
    t = torch.arange(1, T, dtype=torch.float64)
    torch.testing.assert_close(A[1:], 1.0 + jump * rho ** (t - 1), rtol=1e-12, atol=1e-14)


def test_alif_subtracts_the_effective_threshold():
    # two spikes: the second is reset by the raised threshold A, not the base one
    x = torch.tensor([[5.0], [5.0], [0.0]], dtype=torch.float64)
    p = ALIFParameters(beta=1.0, rho=0.5, threshold=1.0, adapt_scale=2.0)
    out = alif_sequence(x, p)
    assert out.spikes[:2, 0].tolist() == [1.0, 1.0]
    A1 = 1.0 + 2.0 * 0.5  # a = 0.5 after the first spike
    assert float(out.threshold[1, 0]) == pytest.approx(A1)
    # v: 5 -> reset 4 -> 4 + 5 = 9 -> reset 9 - A1 = 7 -> 7 (no input, beta = 1)
    assert float(out.v[1, 0]) == pytest.approx(9.0)
    assert float(out.v[2, 0]) == pytest.approx(9.0 - A1)


@pytest.mark.parametrize("current", [0.3, 0.6, 1.2])
def test_alif_fires_less_than_lif(current):
    T = 300
    x = const(current, T)
    lif = lif_sequence(x, LIFParameters(beta=0.9)).spikes.sum()
    alif = alif_sequence(x, ALIFParameters(beta=0.9, rho=0.95, adapt_scale=1.8)).spikes.sum()
    assert 0 < alif < lif
    # with no adaptation it is exactly the LIF
    same = alif_sequence(x, ALIFParameters(beta=0.9, rho=0.95, adapt_scale=0.0)).spikes.sum()
    assert same == lif


def test_alif_module_and_errors():
    m = ALIF(tau_mem=10.0, tau_adapt=100.0)
    assert m.params.beta == pytest.approx(math.exp(-0.1))
    assert m.params.rho == pytest.approx(math.exp(-0.01))
    x = (torch.rand(10, 2, 3) * 0.7).requires_grad_()
    out = m(x)
    assert out.spikes.shape == out.v.shape == out.threshold.shape == (10, 2, 3)
    out.spikes.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for kw in (dict(beta=0.9), dict(beta=0.9, rho=1.2), dict(beta=0.9, rho=0.9, adapt_scale=-1),
               dict(beta=0.9, rho=0.9, reset="x"), dict(beta=0.9, rho=0.9, surrogate="x"),
               dict(rho=0.9)):
        with pytest.raises(HebbtorchError):
            ALIF(**kw)
    with pytest.raises(HebbtorchError):
        m(torch.zeros(3))
    with pytest.raises(HebbtorchError):
        m(torch.full((2, 1), float("nan")))


# ------------------------------------------------------------------------------------------ LI


def test_li_closed_form():
    out = li_sequence(const(0.5, 20), LIParameters(0.8))
    t = torch.arange(20, dtype=torch.float64)
    torch.testing.assert_close(out[:, 0], 0.5 * (1 - 0.8 ** (t + 1)) / 0.2)
    with pytest.raises(HebbtorchError):
        LI(beta=2.0)


# ------------------------------------------------------------------------------ seed refractory

# Hand computation, decay 0.9, threshold 1.0, penalty 1.5 (a spiking neuron's inner -> -0.5x):
# input I = 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.0
#  t0: inner = 0.6                          out = relu(-0.4) = 0
#  t1: inner = 0.6 + 0.54    = 1.14         out = 0.14       -> inner = 1.14 - 1.71 = -0.57
#  t2: inner = 0.6 - 0.513   = 0.087        out = 0
#  t3: inner = 0.6 + 0.0783  = 0.6783       out = 0
#  t4: inner = 0.6 + 0.61047 = 1.21047      out = 0.21047    -> inner = -0.605235
#  t5: inner = 0.6 - 0.5447115 = 0.0552885  out = 0
#  t6: inner = 0.0 + 0.04975965 = 0.04975965 out = 0
# Returned with a one-step delay: step t returns step t-1's (inner, out), step 0 returns zeros.
SEED_INPUT = [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.0]
SEED_INNER = [0.0, 0.6, -0.57, 0.087, 0.6783, -0.605235, 0.0552885]
SEED_OUT = [0.0, 0.0, 0.14, 0.0, 0.0, 0.21047, 0.0]


def test_seed_refractory_hand_computed_sequence():
    x = torch.tensor(SEED_INPUT, dtype=torch.float64).reshape(-1, 1)
    out = refractory_sequence(x, RefractoryParameters(0.9, 1.0, 1.5))
    torch.testing.assert_close(out.inner[:, 0], torch.tensor(SEED_INNER, dtype=torch.float64))
    torch.testing.assert_close(out.out[:, 0], torch.tensor(SEED_OUT, dtype=torch.float64))
    # the final state holds the last step's (not yet returned) values
    assert float(out.state.inner[0]) == pytest.approx(0.04975965)
    assert float(out.state.out[0]) == 0.0


def test_seed_refractory_binary_variant():
    x = torch.tensor(SEED_INPUT, dtype=torch.float64).reshape(-1, 1)
    out = refractory_sequence(x, RefractoryParameters(0.9, 1.0, 1.5, binary=True))
    # same membrane (the gate is the same), outputs 0/1 at the same steps
    torch.testing.assert_close(out.inner[:, 0], torch.tensor(SEED_INNER, dtype=torch.float64))
    assert out.out[:, 0].tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_seed_binary_outputs_only_0_1_with_surrogate_gradient():
    torch.manual_seed(1)
    x = (torch.rand(12, 4, 5) * 1.5).requires_grad_()
    out = RefractoryNeuron(binary=True)(x)
    assert set(out.out.unique().tolist()) <= {0.0, 1.0}
    assert out.out.sum() > 0
    out.out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_seed_graded_gradient_matches_finite_differences():
    # gradcheck: the analytic (autograd) gradient equals the numerical derivative of the formula,
    # gate treated as locally constant (inputs chosen away from the threshold kink).
    g = torch.Generator().manual_seed(3)
    x = torch.rand(6, 2, 3, generator=g, dtype=torch.float64) * 1.2
    p = RefractoryParameters(0.9, 1.0, 1.5)

    def f(inp):
        out = refractory_sequence(inp, p)
        return out.inner, out.out

    # make sure no pre-reset membrane sits within 1e-3 of threshold (a kink)
    inner = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(6):
        inner = x[t] + 0.9 * inner
        assert torch.all((inner - 1.0).abs() > 1e-3)
        inner = torch.where(inner > 1.0, -0.5 * inner, inner)
    assert torch.autograd.gradcheck(f, (x.requires_grad_(),), eps=1e-7, atol=1e-6)


def test_seed_graded_gradient_by_hand():
    # out[t1] = relu(I1 + 0.9 I0 - 1) = 0.14 > 0: d/dI0 = 0.9, d/dI1 = 1 (returned at step 2)
    x = torch.tensor(SEED_INPUT, dtype=torch.float64).reshape(-1, 1).requires_grad_()
    out = refractory_sequence(x, RefractoryParameters())
    out.out[2, 0].backward()
    expected = torch.zeros(7, 1, dtype=torch.float64)
    expected[0], expected[1] = 0.9, 1.0
    torch.testing.assert_close(x.grad, expected)
    # inner after a spike is -0.5 * inner: d inner_returned[2] / d I1 = -0.5
    x.grad = None
    refractory_sequence(x, RefractoryParameters()).inner[2, 0].backward()
    assert x.grad[:, 0].tolist() == pytest.approx([-0.45, -0.5, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("kwargs", [dict(decay=1.1), dict(decay=-0.1), dict(threshold=0.0),
                                    dict(penalty_threshold=-1.0), dict(surrogate="nope")])
def test_seed_refractory_bad_parameters(kwargs):
    with pytest.raises(HebbtorchError):
        RefractoryNeuron(**kwargs)


def test_seed_refractory_bad_input():
    with pytest.raises(HebbtorchError):
        RefractoryNeuron()(torch.zeros(4))
    with pytest.raises(HebbtorchError):
        RefractoryNeuron()(torch.tensor([[float("nan")]]))
