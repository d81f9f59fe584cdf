"""Rate coding: each input fires independently at a rate proportional to its intensity.

Bernoulli form: per step ``p = x * max_rate * dt`` (one spike at most per step); Poisson form:
spike *counts* per step ``~ Poisson(x * max_rate * dt)``. Rates in Hz, ``dt`` in ms (converted
to seconds here, once: ``max_rate * dt / 1000``). Idea: Adrian & Zotterman (1926) rate
code; as in snnTorch ``spikegen.rate`` and Norse ``PoissonEncoder``.
"""

from __future__ import annotations

import torch
from torch import nn

from hebbtorch.checks import check_dt_ms, check_range
from hebbtorch.encoding._checks import as_float_tensor, check_intensity, check_steps
from hebbtorch.errors import HebbtorchError


def _per_step_mean(max_rate: float, dt: float) -> float:
    """Spikes per step of an input of intensity 1: ``max_rate`` (Hz) times ``dt`` (ms) in s."""
    check_range("max_rate", max_rate, 0.0)
    return float(max_rate) * (check_dt_ms(dt) / 1000.0)


def _per_step_probability(max_rate: float, dt: float) -> float:
    p = _per_step_mean(max_rate, dt)
    if p > 1.0:
        raise HebbtorchError(
            f"max_rate * dt = {max_rate:g} Hz * {dt:g} ms = {p:g} is a probability per step and "
            "must be <= 1; lower max_rate or dt"
        )
    return p


def rate_encode(
    x: torch.Tensor, num_steps: int, *, max_rate: float = 1000.0, dt: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Bernoulli rate code.

    Args:
        x: intensities in [0, 1], ``[batch, ...]``.
        num_steps: number of time steps T.
        max_rate: firing rate (Hz) of an input of intensity 1.
        dt: step length (ms). ``max_rate * dt / 1000`` must be <= 1.
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
    x: torch.Tensor, num_steps: int, *, max_rate: float = 1000.0, dt: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Poisson spike counts per step (several spikes per step possible).

    Args:
        x: intensities in [0, 1], ``[batch, ...]``.
        num_steps: number of time steps T.
        max_rate: rate (Hz) of an input of intensity 1 (no upper bound on ``max_rate * dt``).
        dt: step length (ms).

    Returns:
        float counts ``[T, batch, ...]`` with mean and variance ``x * max_rate * dt``.
    """
    x = check_intensity("x", x)
    steps = check_steps(num_steps)
    _per_step_mean(max_rate, dt)  # checks
    lam = (x * float(max_rate) * (float(dt) / 1000.0)).expand(steps, *x.shape).contiguous()
    return torch.poisson(lam, generator=generator)


def rate_decode(
    spikes: torch.Tensor, *, max_rate: float = 1000.0, dt: float = 1.0
) -> torch.Tensor:
    """Invert the rate code: mean count per step / ``(max_rate * dt)``, ``[T, batch, ...]`` →
    ``[batch, ...]`` intensities (unbiased for both Bernoulli and Poisson codes; ``dt`` in ms)."""
    spikes = as_float_tensor("spikes", spikes)
    if spikes.dim() < 1 or spikes.shape[0] == 0:
        raise HebbtorchError(
            f"spikes must be [time, batch, ...] with time >= 1, got {tuple(spikes.shape)}")
    check_range("max_rate", max_rate, 0.0, low_open=True)
    return spikes.mean(0) / _per_step_mean(max_rate, dt)


class RateEncoder(nn.Module):
    """Module form of :func:`rate_encode`: ``encoder(x) -> [T, batch, ...]`` spikes."""

    def __init__(self, num_steps: int, max_rate: float = 1000.0, dt: float = 1.0) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        _per_step_probability(max_rate, dt)
        self.max_rate = float(max_rate)
        self.dt = float(dt)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return rate_encode(x, self.num_steps, max_rate=self.max_rate, dt=self.dt,
                           generator=generator)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, max_rate={self.max_rate:g} Hz, dt={self.dt:g} ms"


class PoissonEncoder(nn.Module):
    """Module form of :func:`poisson_encode`: ``encoder(x) -> [T, batch, ...]`` counts."""

    def __init__(self, num_steps: int, max_rate: float = 1000.0, dt: float = 1.0) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        _per_step_mean(max_rate, dt)
        self.max_rate, self.dt = float(max_rate), float(dt)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return poisson_encode(x, self.num_steps, max_rate=self.max_rate, dt=self.dt,
                              generator=generator)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, max_rate={self.max_rate:g} Hz, dt={self.dt:g} ms"
