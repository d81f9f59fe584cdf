"""Rate coding: each input fires independently at a rate proportional to its intensity.

Bernoulli form: per step ``p = x * max_rate * dt`` (one spike at most per step); Poisson form:
spike *counts* per step ``~ Poisson(x * max_rate * dt)``. Idea: Adrian & Zotterman (1926) rate
code; as in snnTorch ``spikegen.rate`` and Norse ``PoissonEncoder``.
"""

from __future__ import annotations

import torch
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.encoding._checks import as_float_tensor, check_intensity, check_steps
from hebbtorch.errors import HebbtorchError


def _per_step_probability(max_rate: float, dt: float) -> float:
    check_range("max_rate", max_rate, 0.0)
    check_range("dt", dt, 0.0, low_open=True)
    p = float(max_rate) * float(dt)
    if p > 1.0:
        raise HebbtorchError(
            f"max_rate * dt = {max_rate:g} Hz * {dt:g} s = {p:g} is a probability per step and "
            "must be <= 1; lower max_rate or dt"
        )
    return p


def rate_encode(
    x: torch.Tensor, num_steps: int, *, max_rate: float = 1000.0, dt: float = 1e-3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Bernoulli rate code.

    Args:
        x: intensities in [0, 1], ``[batch, ...]``.
        num_steps: number of time steps T.
        max_rate: firing rate (Hz) of an input of intensity 1.
        dt: step length (s). ``max_rate * dt`` must be <= 1.
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        float spikes in {0, 1}, ``[T, batch, ...]``; ``P(spike) = x * max_rate * dt`` each step.
    """
    x = check_intensity("x", x)
    steps = check_steps(num_steps)
    p = x * _per_step_probability(max_rate, dt)
    u = torch.rand((steps, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return (u < p).to(x.dtype)


def poisson_encode(
    x: torch.Tensor, num_steps: int, *, max_rate: float = 1000.0, dt: float = 1e-3,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Poisson spike counts per step (several spikes per step possible).

    Args:
        x: intensities in [0, 1], ``[batch, ...]``.
        num_steps: number of time steps T.
        max_rate: rate (Hz) of an input of intensity 1 (no upper bound on ``max_rate * dt``).
        dt: step length (s).

    Returns:
        float counts ``[T, batch, ...]`` with mean and variance ``x * max_rate * dt``.
    """
    x = check_intensity("x", x)
    steps = check_steps(num_steps)
    check_range("max_rate", max_rate, 0.0)
    check_range("dt", dt, 0.0, low_open=True)
    lam = (x * float(max_rate) * float(dt)).expand(steps, *x.shape).contiguous()
    return torch.poisson(lam, generator=generator)


def rate_decode(
    spikes: torch.Tensor, *, max_rate: float = 1000.0, dt: float = 1e-3
) -> torch.Tensor:
    """Invert the rate code: mean count per step / ``(max_rate * dt)``, ``[T, batch, ...]`` →
    ``[batch, ...]`` intensities (unbiased for both Bernoulli and Poisson codes)."""
    spikes = as_float_tensor("spikes", spikes)
    if spikes.dim() < 1 or spikes.shape[0] == 0:
        raise HebbtorchError(
            f"spikes must be [time, batch, ...] with time >= 1, got {tuple(spikes.shape)}")
    check_range("max_rate", max_rate, 0.0, low_open=True)
    check_range("dt", dt, 0.0, low_open=True)
    return spikes.mean(0) / (float(max_rate) * float(dt))


class RateEncoder(nn.Module):
    """Module form of :func:`rate_encode`: ``encoder(x) -> [T, batch, ...]`` spikes."""

    def __init__(self, num_steps: int, max_rate: float = 1000.0, dt: float = 1e-3) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        _per_step_probability(max_rate, dt)
        self.max_rate = float(max_rate)
        self.dt = float(dt)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return rate_encode(x, self.num_steps, max_rate=self.max_rate, dt=self.dt,
                           generator=generator)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, max_rate={self.max_rate:g} Hz, dt={self.dt:g} s"


class PoissonEncoder(nn.Module):
    """Module form of :func:`poisson_encode`: ``encoder(x) -> [T, batch, ...]`` counts."""

    def __init__(self, num_steps: int, max_rate: float = 1000.0, dt: float = 1e-3) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        self.max_rate = check_range("max_rate", max_rate, 0.0)
        self.dt = check_range("dt", dt, 0.0, low_open=True)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return poisson_encode(x, self.num_steps, max_rate=self.max_rate, dt=self.dt,
                              generator=generator)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, max_rate={self.max_rate:g} Hz, dt={self.dt:g} s"
