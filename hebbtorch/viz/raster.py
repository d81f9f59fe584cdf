"""Spike raster: one dot per spike, time across, neurons down; optionally grouped and coloured
by a per-neuron label (e.g. the class an output neuron was assigned to)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.viz.activity import _np
from hebbtorch.viz.style import figure, legend_outside


def spike_raster(
    spikes: torch.Tensor | np.ndarray, title: str = "spike raster", ax=None, *,
    labels: Sequence[object] | np.ndarray | torch.Tensor | None = None, dt: float | None = None,
    marker_size: float | None = None, color: str = "k", ylabel: str = "neuron",
):
    """Raster of ``spikes`` ``[time, neurons]`` (trailing dims are flattened into neurons; a
    count > 0 counts as a spike).

    Args:
        labels: optional ``[neurons]`` label per neuron: neurons are sorted by label, each label
            gets its own colour, and a legend names them.
        dt: step length in ms; the time axis is in ms when given, else in steps.
    """
    s = _np(spikes)
    if s.ndim < 1 or s.shape[0] == 0:
        raise HebbtorchError(f"spikes must be [time, neurons], got shape {s.shape}")
    s = s.reshape(s.shape[0], -1) > 0
    n = s.shape[1]
    if ax is None:
        fig, axes = figure(width=6.0, height=min(5.0, max(2.5, n / 40)))
        ax = axes[0, 0]
    scale = 1.0 if dt is None else float(dt)
    ms = marker_size if marker_size is not None else float(np.clip(200.0 / max(n, 1), 0.5, 6.0))
    if labels is None:
        t, i = np.nonzero(s)
        ax.scatter(t * scale, i, s=ms, c=color, marker="|" if n <= 100 else ".", linewidths=0.8)
    else:
        lab = np.asarray(_np(labels) if isinstance(labels, torch.Tensor) else labels)
        if lab.shape != (n,):
            raise HebbtorchError(f"labels must be [neurons] = ({n},), got shape {lab.shape}")
        order = np.argsort(lab, kind="stable")
        s, lab = s[:, order], lab[order]
        for k, value in enumerate(dict.fromkeys(lab.tolist())):
            cols = np.flatnonzero(lab == value)
            t, i = np.nonzero(s[:, cols])
            ax.scatter(t * scale, cols[i], s=ms, color=f"C{k % 10}", label=str(value),
                       marker="|" if n <= 100 else ".", linewidths=0.8)
            ax.axhline(cols[-1] + 0.5, color="0.8", lw=0.5)
        legend_outside(ax, markerscale=2, title="label")
    ax.set_xlim(-0.5 * scale, (s.shape[0] - 0.5) * scale)
    ax.set_ylim(-0.5, n - 0.5)
    ax.set_title(title)
    ax.set_xlabel("time (ms)" if dt is not None else "time step")
    ax.set_ylabel(ylabel)
    return ax.figure
