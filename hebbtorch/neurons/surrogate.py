"""Surrogate gradients: Heaviside forward, a smooth pseudo-derivative backward.

Each surrogate is a smooth, increasing ``primitive(x, slope)`` (a soft step, or a ramp for the
straight-through estimator); the backward pass uses its exact derivative ``grad(x, slope)``, so
the pair can be checked with ``torch.autograd.gradcheck``. ``slope`` sharpens the surrogate.
Neftci, Mostafa & Zenke 2019, "Surrogate gradient learning in spiking neural networks".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from hebbtorch.errors import HebbtorchError


class Surrogate(NamedTuple):
    """A surrogate: its pseudo-derivative and the smooth function it is the derivative of."""

    name: str
    grad: Callable[[torch.Tensor, float], torch.Tensor]  # (x, slope) -> d primitive / dx
    primitive: Callable[[torch.Tensor, float], torch.Tensor]  # (x, slope) -> smooth step
    default_slope: float


def _fast_sigmoid_grad(x: torch.Tensor, k: float) -> torch.Tensor:
    # SuperSpike (Zenke & Ganguli 2018, eq. 6): 1 / (1 + k|x|)^2
    return 1.0 / (1.0 + k * x.abs()) ** 2


def _fast_sigmoid_primitive(x: torch.Tensor, k: float) -> torch.Tensor:
    return x / (1.0 + k * x.abs())


def _arctan_grad(x: torch.Tensor, k: float) -> torch.Tensor:
    # SpikingJelly's ATan: d/dx [arctan(pi/2 k x)/pi + 1/2]
    return (k / 2.0) / (1.0 + (math.pi / 2.0 * k * x) ** 2)


def _arctan_primitive(x: torch.Tensor, k: float) -> torch.Tensor:
    return torch.atan(math.pi / 2.0 * k * x) / math.pi + 0.5


def _triangle_grad(x: torch.Tensor, k: float) -> torch.Tensor:
    # Esser et al. 2016: k * max(0, 1 - k|x|), integrates to 1 over [-1/k, 1/k]
    return k * torch.clamp(1.0 - k * x.abs(), min=0.0)


def _triangle_primitive(x: torch.Tensor, k: float) -> torch.Tensor:
    y = torch.clamp(k * x, -1.0, 1.0)
    return torch.where(y < 0, 0.5 * (1.0 + y) ** 2, 1.0 - 0.5 * (1.0 - y) ** 2)


def _straight_through_grad(x: torch.Tensor, k: float) -> torch.Tensor:
    # Bengio et al. 2013: pass the gradient through, scaled by k
    return torch.full_like(x, k)


def _straight_through_primitive(x: torch.Tensor, k: float) -> torch.Tensor:
    return k * x


SURROGATES: dict[str, Surrogate] = {
    s.name: s
    for s in (
        Surrogate("fast_sigmoid", _fast_sigmoid_grad, _fast_sigmoid_primitive, 25.0),
        Surrogate("arctan", _arctan_grad, _arctan_primitive, 2.0),
        Surrogate("triangle", _triangle_grad, _triangle_primitive, 1.0),
        Surrogate("straight_through", _straight_through_grad, _straight_through_primitive, 1.0),
    )
}


def get_surrogate(name: str) -> Surrogate:
    try:
        return SURROGATES[name]
    except KeyError:
        raise HebbtorchError(
            f"unknown surrogate {name!r}; choose one of {', '.join(SURROGATES)}"
        ) from None


class SpikeFunction(torch.autograd.Function):
    """``Θ(x)`` forward (spike where ``x > 0``), ``surrogate.grad(x, slope)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate, slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x, ctx.slope), None, None


def spike(
    x: torch.Tensor, surrogate: str = "fast_sigmoid", slope: float | None = None
) -> torch.Tensor:
    """Binary spikes ``Θ(x)`` with the named surrogate gradient.

    x: distance to threshold (e.g. ``v - threshold``), any shape. Returns 0/1 of the same dtype.
    """
    s = get_surrogate(surrogate)
    k = s.default_slope if slope is None else float(slope)
    if not k > 0:
        raise HebbtorchError(f"surrogate slope must be > 0, got {k:g}")
    return SpikeFunction.apply(x, s, k)
