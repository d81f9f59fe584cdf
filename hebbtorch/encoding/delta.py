"""Delta modulation: a signal ``[time, batch, ...]`` → ON/OFF spikes whenever it has moved by
``threshold`` from a tracked reference. Each step, an input fires ON (reference += threshold) if
``x_t - ref >= threshold``, OFF (reference -= threshold) if ``ref - x_t >= threshold``, at most one
spike per step; after a spike it stays silent for ``refractory`` steps. The reference starts at
``x_0``. :func:`delta_decode` rebuilds the signal as ``x_0 + threshold * cumsum(ON - OFF)``, within
``threshold`` of it while the signal moves less than ``threshold`` per step (no slope overload).
Idea: classic delta modulation (de Jager 1952); the send-on-delta encoder of neuromorphic
sensors (e.g. snnTorch ``spikegen.delta``, the Speck/Loihi ``SigmaDelta`` neurons).
"""

from __future__ import annotations

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_range
from hebbtorch.encoding._checks import as_float_tensor
from hebbtorch.errors import HebbtorchError


def _check_params(threshold: float, refractory: int) -> None:
    check_range("threshold", threshold, 0.0, low_open=True)
    if int(refractory) != refractory or refractory < 0:
        raise HebbtorchError(
            f"refractory must be an integer number of steps >= 0, got {refractory!r}")


def delta_encode(
    signal: torch.Tensor, *, threshold: float = 0.1, refractory: int = 0, signed: bool = False,
) -> torch.Tensor:
    """Delta-modulate ``signal``.

    Args:
        signal: ``[time, batch, ...]`` real values (any unit; ``threshold`` in the same unit).
        threshold: change needed to emit a spike (> 0).
        refractory: silent steps after each spike of an input (>= 0).
        signed: return one channel with +1 (ON) / -1 (OFF) instead of two.

    Returns:
        ``[time, batch, 2, ...]`` float spikes, channel 0 = ON, 1 = OFF (or ``[time, batch, ...]``
        in {-1, 0, 1} when ``signed``). Step 0 never spikes.
    """
    x = as_float_tensor("signal", signal)
    check_finite("signal", x)
    if x.dim() < 2 or x.shape[0] == 0:
        raise HebbtorchError(
            f"signal must be [time, batch, ...] (>= 2-D, time >= 1), got shape {tuple(x.shape)}"
        )
    _check_params(threshold, refractory)
    thr, refr = float(threshold), int(refractory)
    ref = x[0].clone()
    quiet = torch.zeros(x.shape[1:], dtype=torch.long, device=x.device)
    out = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    for t in range(1, x.shape[0]):
        free = quiet == 0
        # a small tolerance so that a change of exactly ``threshold`` fires despite rounding
        on = free & (x[t] - ref >= thr * (1 - 1e-6))
        off = free & (ref - x[t] >= thr * (1 - 1e-6))
        ref = ref + thr * (on.to(x.dtype) - off.to(x.dtype))
        out[t] = on.to(x.dtype) - off.to(x.dtype)
        quiet = torch.where(on | off, torch.full_like(quiet, refr), (quiet - 1).clamp_min(0))
    if signed:
        return out
    return torch.stack([(out > 0).to(x.dtype), (out < 0).to(x.dtype)], dim=2)


def delta_decode(
    spikes: torch.Tensor, initial: torch.Tensor | float = 0.0, *, threshold: float = 0.1,
    signed: bool = False,
) -> torch.Tensor:
    """Rebuild the tracked reference ``initial + threshold * cumsum(ON - OFF)``: ``[time, batch,
    2, ...]`` (or signed ``[time, batch, ...]``) spikes → ``[time, batch, ...]`` signal."""
    s = as_float_tensor("spikes", spikes)
    check_range("threshold", threshold, 0.0, low_open=True)
    if signed:
        net = s
    else:
        if s.dim() < 3 or s.shape[2] != 2:
            raise HebbtorchError(
                f"spikes must be [time, batch, 2, ...] (ON, OFF channels), got shape "
                f"{tuple(s.shape)}; pass signed=True for one signed channel"
            )
        net = s[:, :, 0] - s[:, :, 1]
    init = torch.as_tensor(initial, dtype=net.dtype, device=net.device)
    return init + float(threshold) * net.cumsum(0)


class DeltaEncoder(nn.Module):
    """Module form of :func:`delta_encode`: ``encoder(signal [T, B, ...]) -> [T, B, 2, ...]``."""

    def __init__(self, threshold: float = 0.1, refractory: int = 0, signed: bool = False) -> None:
        super().__init__()
        _check_params(threshold, refractory)
        self.threshold, self.refractory, self.signed = float(threshold), int(refractory), signed

    def forward(self, signal: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator`` is accepted for a uniform encoder signature and ignored."""
        return delta_encode(signal, threshold=self.threshold, refractory=self.refractory,
                            signed=self.signed)

    def extra_repr(self) -> str:
        return (f"threshold={self.threshold:g}, refractory={self.refractory}, "
                f"signed={self.signed}")
