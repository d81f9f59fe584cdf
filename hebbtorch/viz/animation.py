"""Animated GIFs of spikes or events over time (matplotlib.animation + PillowWriter)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from hebbtorch.encoding.dvs import events_to_frames
from hebbtorch.errors import HebbtorchError
from hebbtorch.io import atomic_write
from hebbtorch.viz.activity import _np
from hebbtorch.viz.events import polarity_image
from hebbtorch.viz.style import figure


def _save_gif(fig, update, n_frames: int, path: str | Path, fps: float) -> Path:
    try:
        import PIL  # noqa: F401
    except ImportError as e:  # pragma: no cover - pillow ships with matplotlib
        raise HebbtorchError("writing GIFs needs pillow: pip install pillow") from e
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    if not fps > 0:
        raise HebbtorchError(f"fps must be > 0, got {fps!r}")
    anim = FuncAnimation(fig, update, frames=n_frames, blit=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_gif = Path(tmp) / "anim.gif"
        anim.save(tmp_gif, writer=PillowWriter(fps=fps))
        data = tmp_gif.read_bytes()
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(data))


def animate_spikes(
    spikes: torch.Tensor | np.ndarray, path: str | Path, *, shape: tuple[int, int] | None = None,
    fps: float = 10.0, title: str = "spikes",
) -> Path:
    """GIF with one frame per time step of ``spikes`` ``[time, H, W]`` or ``[time, neurons]``
    (laid out as ``shape = (H, W)``, default a near-square grid); returns ``path``."""
    s = _np(spikes).astype(np.float64)
    if s.ndim < 2 or s.shape[0] == 0:
        raise HebbtorchError(f"spikes must be [time, H, W] or [time, neurons], got {s.shape}")
    s = s.reshape(s.shape[0], -1)
    n = s.shape[1]
    if shape is None:
        side = int(np.ceil(np.sqrt(n)))
        shape = (int(np.ceil(n / side)), side)
    if shape[0] * shape[1] < n:
        raise HebbtorchError(f"shape {tuple(shape)} does not hold {n} neurons")
    pad = shape[0] * shape[1] - n
    grid = np.pad(s, ((0, 0), (0, pad))).reshape(s.shape[0], *shape)
    fig, axes = figure(width=3.0, height=3.0 * shape[0] / shape[1] + 0.4)
    ax = axes[0, 0]
    im = ax.imshow(grid[0], cmap="gray_r", vmin=0, vmax=max(float(grid.max()), 1.0),
                   interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)

    def update(k: int):
        im.set_data(grid[k])
        ax.set_title(f"{title}: step {k}")
        return (im,)

    update(0)
    return _save_gif(fig, update, grid.shape[0], path, fps)


def animate_events(
    events: np.ndarray, size: tuple[int, int], path: str | Path, *, n_frames: int = 20,
    fps: float = 10.0, title: str = "events",
) -> Path:
    """GIF of an event stream cut into ``n_frames`` equal time slices (ON red, OFF blue);
    ``size = (height, width)``; returns ``path``."""
    frames = events_to_frames(events, size, n_time_bins=n_frames).numpy()
    t0, t1 = int(events["t"][0]), int(events["t"][-1])
    edges = np.linspace(t0, t1 + 1, n_frames + 1) / 1000.0
    h, w = size
    fig, axes = figure(width=3.0, height=3.0 * h / w + 0.4)
    ax = axes[0, 0]
    im = ax.imshow(polarity_image(frames[0]), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)

    def update(k: int):
        im.set_data(polarity_image(frames[k]))
        ax.set_title(f"{title}: {edges[k]:.1f}–{edges[k + 1]:.1f} ms")
        return (im,)

    update(0)
    return _save_gif(fig, update, n_frames, path, fps)
