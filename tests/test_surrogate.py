"""Surrogate gradients: each ``grad`` is the true derivative of its ``primitive``; ``spike`` is an
exact Heaviside forward with the surrogate backward."""

from __future__ import annotations

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons.surrogate import SURROGATES, get_surrogate, spike


def _pair_function(surrogate, slope):
    class Pair(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return surrogate.primitive(x, slope)

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved_tensors
            return grad_out * surrogate.grad(x, slope)

    return Pair.apply


def _points_away_from_kinks(slope: float, n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 6.0 / slope
    kinks = torch.tensor([0.0, 1.0 / slope, -1.0 / slope], dtype=torch.float64)
    keep = (x[:, None] - kinks[None]).abs().min(1).values > 1e-3
    return x[keep]


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("slope", ["default", 0.7, 5.0])
def test_grad_is_derivative_of_primitive(name, slope):
    s = SURROGATES[name]
    k = s.default_slope if slope == "default" else slope
    f = _pair_function(s, k)
    x = _points_away_from_kinks(k).requires_grad_()
    assert x.numel() > 40
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_surrogate_grad_peaks_at_threshold_and_is_nonnegative(name):
    s = SURROGATES[name]
    k = s.default_slope
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    g = s.grad(x, k)
    assert torch.all(g >= 0)
    assert float(s.grad(torch.zeros(1, dtype=torch.float64), k)) == pytest.approx(float(g.max()))
    # primitive is non-decreasing
    assert torch.all(s.primitive(x, k).diff() >= -1e-15)


def test_known_values():
    z = torch.zeros(1, dtype=torch.float64)
    assert float(SURROGATES["fast_sigmoid"].grad(z, 25.0)) == 1.0
    assert float(SURROGATES["fast_sigmoid"].grad(z + 0.04, 25.0)) == pytest.approx(0.25)
    assert float(SURROGATES["arctan"].grad(z, 2.0)) == pytest.approx(1.0)
    assert float(SURROGATES["triangle"].grad(z + 0.5, 1.0)) == pytest.approx(0.5)
    assert float(SURROGATES["triangle"].grad(z + 1.5, 1.0)) == 0.0
    assert float(SURROGATES["straight_through"].grad(z + 7.0, 3.0)) == 3.0
    # the triangle integrates to exactly 1 (a proper smoothing of the step)
    tri = SURROGATES["triangle"]
    one = torch.ones(1, dtype=torch.float64)
    assert float(tri.primitive(one * 10, 2.0) - tri.primitive(-one * 10, 2.0)) == pytest.approx(1)


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("slope", [None, 3.0])
def test_spike_forward_is_heaviside_backward_is_surrogate(name, slope):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, generator=g, dtype=torch.float64)
    x[:3] = torch.tensor([0.0, -0.0, 1e-12], dtype=torch.float64)
    x.requires_grad_()
    s = spike(x, name, slope)
    assert s.dtype == x.dtype
    torch.testing.assert_close(s.detach(), (x.detach() > 0).to(x.dtype), rtol=0, atol=0)
    assert s[0] == 0 and s[1] == 0 and s[2] == 1  # strictly greater than 0
    grad_out = torch.randn(50, generator=g, dtype=torch.float64)
    s.backward(grad_out)
    k = SURROGATES[name].default_slope if slope is None else slope
    expected = SURROGATES[name].grad(x.detach(), k) * grad_out
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)


def test_spike_keeps_shape_and_dtype():
    x = torch.randn(2, 3, 4, dtype=torch.float32)
    s = spike(x)
    assert s.shape == x.shape and s.dtype == torch.float32


@pytest.mark.parametrize("slope", [0.0, -1.0, float("nan")])
def test_bad_slope_raises(slope):
    with pytest.raises(HebbtorchError, match="slope"):
        spike(torch.zeros(3), "fast_sigmoid", slope)


def test_unknown_surrogate_raises():
    with pytest.raises(HebbtorchError, match="unknown surrogate"):
        spike(torch.zeros(3), "sigmoid_of_doom")
    with pytest.raises(HebbtorchError, match="fast_sigmoid"):
        get_surrogate("nope")
