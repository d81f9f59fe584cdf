"""Firing-rate heat maps: mean rate per neuron laid out as an image, and binned rates over time
(the latter drawn by :func:`hebbtorch.viz.activity.layer_heatmap`)."""

from __future__ import annotations

import numpy as np
import torch

from hebbtorch.checks import check_dt_ms
from hebbtorch.errors import HebbtorchError
from hebbtorch.viz.activity import _np, layer_heatmap
from hebbtorch.viz.style import figure


def firing_rate_map(
    spikes: torch.Tensor | np.ndarray, shape: tuple[int, int] | None = None, *,
    dt: float | None = None, title: str = "firing rate", ax=None, cmap: str = "magma",
):
    """Mean firing rate of each neuron as an image.

    Args:
        spikes: ``[time, H, W]``, ``[time, batch, H, W]`` (averaged over the batch) or
            ``[time, neurons]`` with ``shape = (H, W)`` to lay the neurons out.
        dt: step length in ms; rates in Hz when given, else spikes per step.
    """
    s = _np(spikes).astype(np.float64)
    if s.ndim < 2 or s.shape[0] == 0:
        raise HebbtorchError(f"spikes must be [time, ...] with neurons, got shape {s.shape}")
    rate = s.mean(0)
    if rate.ndim == 3:
        rate = rate.mean(0)
    if shape is not None:
        if int(np.prod(shape)) != rate.size:
            raise HebbtorchError(f"shape {tuple(shape)} does not hold {rate.size} neurons")
        rate = rate.reshape(shape)
    elif rate.ndim == 1:
        side = int(np.ceil(np.sqrt(rate.size)))
        rate = np.pad(rate, (0, side * side - rate.size), constant_values=np.nan).reshape(side, -1)
    if rate.ndim != 2:
        raise HebbtorchError(f"cannot lay out rates of shape {rate.shape} as an image")
    unit = "spikes/step"
    if dt is not None:
        rate, unit = rate / (check_dt_ms(dt) / 1000.0), "Hz"
    if ax is None:
        fig, axes = figure(width=4.0, height=3.4)
        ax = axes[0, 0]
    im = ax.imshow(rate, cmap=cmap, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label=unit)
    ax.set_title(title)
    ax.grid(False)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.figure


def rate_over_time(
    spikes: torch.Tensor | np.ndarray, bin_steps: int = 10, *, dt: float | None = None,
    title: str = "firing rate over time", ax=None,
):
    """Heat map of rates ``[time bins, neurons]`` from spikes ``[time, neurons]`` (trailing dims
    flattened) averaged over bins of ``bin_steps`` steps; Hz when ``dt`` (ms) is given."""
    s = _np(spikes).astype(np.float64)
    if s.ndim < 2 or s.shape[0] == 0:
        raise HebbtorchError(f"spikes must be [time, neurons], got shape {s.shape}")
    if int(bin_steps) != bin_steps or bin_steps < 1:
        raise HebbtorchError(f"bin_steps must be an integer >= 1, got {bin_steps!r}")
    s = s.reshape(s.shape[0], -1)
    n_bins = int(np.ceil(s.shape[0] / bin_steps))
    pad = n_bins * bin_steps - s.shape[0]
    s = np.concatenate([s, np.full((pad, s.shape[1]), np.nan)]) if pad else s
    rates = np.nanmean(s.reshape(n_bins, int(bin_steps), -1), axis=1)
    unit = "spikes/step"
    if dt is not None:
        rates, unit = rates / (check_dt_ms(dt) / 1000.0), "Hz"
    fig = layer_heatmap(rates, title, ax=ax, cmap="magma", label=f"firing rate ({unit})")
    fig.axes[0].set_xlabel(f"time bin ({int(bin_steps)} steps)")
    return fig
