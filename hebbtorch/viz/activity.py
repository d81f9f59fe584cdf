"""The seed's pictures of neuron activity: a layer's values over time as a heat map, and one
neuron's trace (optionally with its threshold and spikes marked)."""

from __future__ import annotations

import numpy as np
import torch

from hebbtorch.viz.style import colorbar, figure, legend_outside

MAX_ROWS = 100  # neurons drawn in a heat map; more are subsampled evenly


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def layer_heatmap(values: torch.Tensor | np.ndarray, title: str, ax=None, cmap: str = "viridis",
                  *, label: str = "value", dt: float | None = None, max_rows: int = MAX_ROWS):
    """Heat map of ``values`` ``[time, neurons]``: neurons up, time across, the colour bar
    labelled ``label`` (quantity and unit). More than ``max_rows`` neurons are subsampled evenly
    (every k-th, said on the axis) so the picture keeps a bounded size and legible rows; ``dt``
    (ms) puts the time axis in ms."""
    v = _np(values)
    if v.ndim != 2:
        raise ValueError(f"values must be [time, neurons], got shape {v.shape}")
    n = v.shape[1]
    step = max(1, int(np.ceil(n / max_rows)))
    v = v[:, ::step]
    if ax is None:
        fig, axes = figure(width=min(10.0, max(6.0, v.shape[0] / 24)),
                           height=min(5.0, max(2.5, v.shape[1] / 20)))
        ax = axes[0, 0]
    scale = 1.0 if dt is None else float(dt)
    extent = (-0.5 * scale, (v.shape[0] - 0.5) * scale, -0.5 * step, (v.shape[1] - 0.5) * step)
    im = ax.imshow(v.T, aspect="auto", interpolation="nearest", cmap=cmap, origin="lower",
                   extent=extent)
    colorbar(im, ax, label)
    ax.set_title(title)
    ax.set_xlabel("time (ms)" if dt is not None else "time step")
    ax.set_ylabel("neuron" if step == 1 else f"neuron (every {step}th of {n})")
    ax.grid(False)
    return ax.figure


def neuron_trace(
    values: torch.Tensor | np.ndarray, title: str, ax=None, *, threshold: float | None = None,
    spikes: torch.Tensor | np.ndarray | None = None, ylabel: str = "value",
    dt: float | None = None, label: str | None = None,
    before_reset: torch.Tensor | np.ndarray | None = None,
):
    """One neuron's ``values`` ``[time]`` as a line; ``threshold`` dashed; ``spikes`` ``[time]``
    as red ticks (at the threshold when given, else at the trace's maximum). ``dt`` (ms) puts
    the time axis in ms; ``label`` names the line in the legend (default ``ylabel``).

    ``before_reset`` ``[time]``: the value at each step before the reset, when ``values`` holds
    the value after it (as recorded by neurons that reset within the step). The line then rises
    to it and drops to the reset value at the same time, so the trace is seen crossing the
    threshold where the neuron fires."""
    v = _np(values).reshape(-1)
    if ax is None:
        fig, axes = figure(width=min(10.0, max(6.0, len(v) / 24)), height=2.5)
        ax = axes[0, 0]
    scale = 1.0 if dt is None else float(dt)
    t, y = np.arange(len(v)) * scale, v
    if before_reset is not None:
        pre = _np(before_reset).reshape(-1)
        if pre.shape != v.shape:
            raise ValueError(f"before_reset must have the shape of values {v.shape}")
        t, y = np.repeat(t, 2), np.stack([pre, v], 1).reshape(-1)  # up to pre, down to reset
    ax.plot(t, y, lw=1.0, label=label or ylabel)
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
    legend_outside(ax)
    return ax.figure


def value_before_reset(after: torch.Tensor | np.ndarray, spikes: torch.Tensor | np.ndarray,
                       threshold: float, penalty_threshold: float) -> np.ndarray:
    """Undo the seed neuron's reset ``v -= (penalty_threshold / threshold) v`` at the steps that
    spiked (:mod:`hebbtorch.neurons.refractory`), giving the potential before the reset."""
    a, s = _np(after).astype(np.float64), _np(spikes)
    keep = 1.0 - penalty_threshold / threshold
    if keep == 0:
        raise ValueError("the reset sets the potential to 0: the value before it is lost")
    return np.where(s > 0, a / keep, a)
