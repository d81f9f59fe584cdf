"""Rank-order coding: within each sample, inputs fire once in order of decreasing intensity.

``mode="rank"``: the strongest ``per_step`` inputs fire at step 0, the next ``per_step`` at step
1, ... (ties broken by position); ``per_step=None`` spreads each sample's inputs above the
threshold evenly over the window, ``ceil(n_above / T)`` per step, so that all of them fire.
``mode="order"``: one step per distinct intensity level, so equal intensities fire together.
Inputs ``<= threshold`` and those ranked past the window stay silent. Idea: Thorpe & Gautrais
(1998), "Rank order coding".
"""

from __future__ import annotations

import torch
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.encoding._checks import check_intensity, check_steps
from hebbtorch.errors import HebbtorchError

_MODES = ("rank", "order")


def _check_params(mode: str, per_step: int | None, threshold: float) -> None:
    if mode not in _MODES:
        raise HebbtorchError(f"mode must be one of {_MODES}, got {mode!r}")
    if per_step is not None and (int(per_step) != per_step or per_step < 1):
        raise HebbtorchError(f"per_step must be an integer >= 1, got {per_step!r}")
    check_range("threshold", threshold, 0.0, 1.0, high_open=True)


def rank_order_times(
    x: torch.Tensor, num_steps: int, *, mode: str = "rank", per_step: int | None = 1,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Spike step of each input, ``[batch, ...]`` float, ``inf`` where it stays silent.

    Ranks are taken over all non-batch entries of a sample (e.g. all pixels of an image).
    """
    x = check_intensity("x", x)
    steps = check_steps(num_steps)
    _check_params(mode, per_step, threshold)
    flat = x.reshape(x.shape[0], -1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    sorted_x = torch.gather(flat, 1, order)
    if mode == "rank":
        pos = torch.arange(flat.shape[1], device=x.device).expand_as(flat)
        if per_step is None:
            above = (flat > threshold).sum(1, keepdim=True)
            k = torch.div(above + steps - 1, steps, rounding_mode="floor").clamp_min(1)
        else:
            k = int(per_step)
        slot = torch.div(pos, k, rounding_mode="floor")
    else:
        new_level = torch.ones_like(sorted_x, dtype=torch.long)
        new_level[:, 1:] = (sorted_x[:, 1:] != sorted_x[:, :-1]).long()
        slot = new_level.cumsum(1) - 1
    t = torch.empty_like(flat).scatter_(1, order, slot.to(flat.dtype))
    silent = (flat <= threshold) | (t > steps - 1)
    t = torch.where(silent, torch.full_like(t, float("inf")), t)
    return t.reshape(x.shape)


def rank_order_encode(
    x: torch.Tensor, num_steps: int, *, mode: str = "rank", per_step: int | None = 1,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Rank-order code: intensities in [0, 1] ``[batch, ...]`` → one-spike-per-input spikes
    ``[T, batch, ...]`` at :func:`rank_order_times` (deterministic)."""
    t = rank_order_times(x, num_steps, mode=mode, per_step=per_step, threshold=threshold)
    steps = torch.arange(int(num_steps), device=t.device, dtype=t.dtype).view(
        -1, *([1] * t.dim()))
    return (steps == t.unsqueeze(0)).to(t.dtype)


class RankOrderEncoder(nn.Module):
    """Module form of :func:`rank_order_encode`."""

    def __init__(self, num_steps: int, mode: str = "rank", per_step: int | None = 1,
                 threshold: float = 0.0) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        _check_params(mode, per_step, threshold)
        self.mode, self.threshold = mode, float(threshold)
        self.per_step = None if per_step is None else int(per_step)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator`` is accepted for a uniform encoder signature and ignored."""
        return rank_order_encode(x, self.num_steps, mode=self.mode, per_step=self.per_step,
                                 threshold=self.threshold)

    def extra_repr(self) -> str:
        return (f"num_steps={self.num_steps}, mode={self.mode!r}, per_step={self.per_step}, "
                f"threshold={self.threshold:g}")
