"""Membrane traces of several neurons, one panel each, with threshold and spikes marked
(a grid of :func:`hebbtorch.viz.activity.neuron_trace` panels)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.viz.activity import _np, neuron_trace
from hebbtorch.viz.style import figure


def membrane_traces(
    voltages: torch.Tensor | np.ndarray, spikes: torch.Tensor | np.ndarray | None = None, *,
    threshold: float | None = None, neurons: Sequence[int] | None = None,
    dt: float | None = None, title: str = "membrane potential", max_panels: int = 8,
):
    """Plot ``voltages`` ``[time, neurons]`` (trailing dims flattened), one panel per neuron.

    Args:
        spikes: ``[time, neurons]`` spikes of the same neurons, marked as red ticks.
        threshold: firing threshold drawn dashed (same unit as ``voltages``).
        neurons: indices to show; default the first ``max_panels``.
        dt: step length in ms for a time axis in ms.
    """
    v = _np(voltages)
    if v.ndim < 1 or v.shape[0] == 0:
        raise HebbtorchError(f"voltages must be [time, neurons], got shape {v.shape}")
    v = v.reshape(v.shape[0], -1)
    s = None
    if spikes is not None:
        s = _np(spikes)
        if s.size != v.size:
            raise HebbtorchError(
                f"spikes must match voltages {v.shape}, got shape {s.shape}")
        s = s.reshape(v.shape)
    idx = list(range(min(max_panels, v.shape[1]))) if neurons is None else list(neurons)
    if not idx or min(idx) < 0 or max(idx) >= v.shape[1]:
        raise HebbtorchError(f"neurons must index 0..{v.shape[1] - 1}, got {idx}")
    fig, axes = figure(len(idx), 1, width=7.0, height=1.8, sharex=True)
    for row, i in enumerate(idx):
        ax = axes[row, 0]
        neuron_trace(v[:, i], f"{title}: neuron {i}" if row == 0 else f"neuron {i}", ax,
                     threshold=threshold, spikes=None if s is None else s[:, i], ylabel="v",
                     dt=dt)
        if row < len(idx) - 1:
            ax.set_xlabel("")
        if row > 0 and ax.get_legend() is not None:
            ax.get_legend().remove()
    return fig
