"""Latency (time-to-first-spike) coding: stronger inputs spike earlier, each input at most once.

``linear``: ``t = (T - 1) * (1 - x) / (1 - threshold)`` steps, so ``x = 1`` fires at step 0 and
inputs near the threshold at the last step. ``log`` (RC circuit): an input current ``x`` charges
``v(t) = x (1 - exp(-t / tau))`` to ``threshold``, i.e. ``t = tau * ln(x / (x - threshold))``
steps; spikes later than the window are not sent. Inputs ``x <= threshold`` never spike.
Idea: Thorpe et al. (1996) first-spike coding; the RC form as in snnTorch ``spikegen.latency``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.encoding._checks import as_float_tensor, check_intensity, check_steps
from hebbtorch.errors import HebbtorchError

_METHODS = ("linear", "log")


def _check_params(method: str, threshold: float, tau: float) -> None:
    if method not in _METHODS:
        raise HebbtorchError(f"method must be one of {_METHODS}, got {method!r}")
    check_range("threshold", threshold, 0.0, 1.0, high_open=True)
    check_range("tau", tau, 0.0, low_open=True)


def latency_times(
    x: torch.Tensor, num_steps: int, *, method: str = "linear", threshold: float = 0.01,
    tau: float = 5.0,
) -> torch.Tensor:
    """Spike step of each input (float, integer-valued), ``inf`` where no spike is sent.

    Args:
        x: intensities in [0, 1], ``[batch, ...]``.
        num_steps: window length T; steps are 0..T-1.
        method: ``"linear"`` or ``"log"`` (RC).
        threshold: inputs ``x <= threshold`` send no spike; in [0, 1).
        tau: RC time constant in steps (``log`` only).

    Returns:
        ``[batch, ...]`` spike steps; non-increasing in ``x``.
    """
    x = check_intensity("x", x)
    steps = check_steps(num_steps)
    _check_params(method, threshold, tau)
    fires = x > threshold
    if method == "linear":
        t = (steps - 1) * (1.0 - x) / (1.0 - threshold)
    else:
        safe = torch.where(fires, x, torch.ones_like(x))
        t = tau * torch.log(safe / (safe - threshold)) if threshold > 0 else torch.zeros_like(x)
    t = torch.round(t)
    fires = fires & (t <= steps - 1)
    return torch.where(fires, t, torch.full_like(x, math.inf))


def latency_encode(
    x: torch.Tensor, num_steps: int, *, method: str = "linear", threshold: float = 0.01,
    tau: float = 5.0,
) -> torch.Tensor:
    """Time-to-first-spike code: ``[batch, ...]`` intensities → ``[T, batch, ...]`` spikes with
    at most one spike per input, at :func:`latency_times` (deterministic, no generator needed)."""
    t = latency_times(x, num_steps, method=method, threshold=threshold, tau=tau)
    steps = torch.arange(int(num_steps), device=t.device, dtype=t.dtype)
    steps = steps.view(-1, *([1] * t.dim()))
    return (steps == t.unsqueeze(0)).to(t.dtype)


def latency_decode(
    spikes: torch.Tensor, *, method: str = "linear", threshold: float = 0.01, tau: float = 5.0,
) -> torch.Tensor:
    """Invert :func:`latency_encode` from the first spike: ``[T, batch, ...]`` → intensities
    ``[batch, ...]`` (0 where no spike; exact up to the rounding of spike times to steps)."""
    spikes = as_float_tensor("spikes", spikes)
    if spikes.dim() < 1 or spikes.shape[0] == 0:
        raise HebbtorchError(
            f"spikes must be [time, ...] with time >= 1, got {tuple(spikes.shape)}")
    _check_params(method, threshold, tau)
    steps = spikes.shape[0]
    fired = (spikes > 0).any(0)
    t = (spikes > 0).to(torch.uint8).argmax(0).to(spikes.dtype)
    if method == "linear":
        x = 1.0 - t * (1.0 - threshold) / max(steps - 1, 1)
    else:
        e = torch.exp(t / tau)
        x = torch.where(t > 0, threshold * e / (e - 1.0).clamp_min(1e-12), torch.ones_like(t))
        x = x.clamp(max=1.0)
    return torch.where(fired, x, torch.zeros_like(x))


class LatencyEncoder(nn.Module):
    """Module form of :func:`latency_encode`: ``encoder(x) -> [T, batch, ...]`` spikes."""

    def __init__(
        self, num_steps: int, method: str = "linear", threshold: float = 0.01, tau: float = 5.0
    ) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        _check_params(method, threshold, tau)
        self.method, self.threshold, self.tau = method, float(threshold), float(tau)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator`` is accepted for a uniform encoder signature and ignored."""
        return latency_encode(x, self.num_steps, method=self.method, threshold=self.threshold,
                              tau=self.tau)

    def extra_repr(self) -> str:
        return (f"num_steps={self.num_steps}, method={self.method!r}, "
                f"threshold={self.threshold:g}, tau={self.tau:g}")
