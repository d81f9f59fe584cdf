"""The seed's pictures of neuron activity: a layer's values over time as a heat map, and one
neuron's trace (optionally with its threshold and spikes marked)."""

from __future__ import annotations

import numpy as np
import torch

from hebbtorch.viz.style import figure


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def layer_heatmap(values: torch.Tensor | np.ndarray, title: str, ax=None, cmap: str = "rainbow"):
    """Heat map of ``values`` ``[time, neurons]``: neurons down, time across."""
    v = _np(values)
    if v.ndim != 2:
        raise ValueError(f"values must be [time, neurons], got shape {v.shape}")
    if ax is None:
        fig, axes = figure(width=max(6.0, v.shape[0] / 16), height=max(2.5, v.shape[1] / 16))
        ax = axes[0, 0]
    im = ax.imshow(v.T, aspect="auto", interpolation="nearest", cmap=cmap, origin="lower")
    ax.figure.colorbar(im, ax=ax)
    ax.set_title(title)
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron")
    ax.grid(False)
    return ax.figure


def neuron_trace(
    values: torch.Tensor | np.ndarray, title: str, ax=None, *, threshold: float | None = None,
    spikes: torch.Tensor | np.ndarray | None = None, ylabel: str = "value",
    dt: float | None = None, label: str | None = None,
):
    """One neuron's ``values`` ``[time]`` as a line; ``threshold`` dashed; ``spikes`` ``[time]``
    as red ticks (at the threshold when given, else at the trace's maximum). ``dt`` (ms) puts
    the time axis in ms; ``label`` names the line in the legend (default ``ylabel``)."""
    v = _np(values).reshape(-1)
    if ax is None:
        fig, axes = figure(width=max(6.0, len(v) / 16), height=2.5)
        ax = axes[0, 0]
    scale = 1.0 if dt is None else float(dt)
    ax.plot(np.arange(len(v)) * scale, v, lw=1.0, label=label or ylabel)
    if threshold is not None:
        ax.axhline(threshold, ls="--", color="k", lw=0.8, label="threshold")
    if spikes is not None:
        t = np.flatnonzero(_np(spikes).reshape(-1) > 0)
        level = threshold if threshold is not None else (np.nanmax(v) if len(v) else 0)
        ax.plot(t * scale, np.full(len(t), level), "|", color="r", ms=10, mew=1.5,
                label="spike")
    ax.set_title(title)
    ax.set_xlabel("time (ms)" if dt is not None else "time step")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper right")
    return ax.figure
