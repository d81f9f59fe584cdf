"""Event-stream pictures: a row of frames accumulated from DVS events, ON red and OFF blue."""

from __future__ import annotations

import numpy as np

from hebbtorch.encoding.dvs import events_to_frames
from hebbtorch.viz.style import figure


def polarity_image(frame: np.ndarray) -> np.ndarray:
    """RGB image ``[H, W, 3]`` from a ``[2, H, W]`` count frame: ON red, OFF blue, white
    background; saturation grows with the count (normalised by the frame's maximum)."""
    off, on = (np.asarray(c, dtype=np.float64) for c in frame)
    top = max(float(on.max()), float(off.max()), 1.0)
    on, off = on / top, off / top
    rgb = np.ones((*on.shape, 3))
    rgb[..., 1] -= np.clip(on + off, 0, 1)
    rgb[..., 2] -= on
    rgb[..., 0] -= off
    return np.clip(rgb, 0.0, 1.0)


def event_frames(
    events: np.ndarray, size: tuple[int, int], n_frames: int = 6, *,
    title: str = "events", panel: float = 2.0,
):
    """A row of ``n_frames`` panels, each the events of one equal time slice of the stream
    (``size = (height, width)``), titled with the slice's time span in ms."""
    frames = events_to_frames(events, size, n_time_bins=n_frames).numpy()
    t0, t1 = int(events["t"][0]), int(events["t"][-1])
    h, w = size
    fig, axes = figure(1, n_frames, width=panel, height=panel * h / w + 0.4)
    edges = np.linspace(t0, t1 + 1, n_frames + 1) / 1000.0
    for k, ax in enumerate(axes[0]):
        ax.imshow(polarity_image(frames[k]), interpolation="nearest")
        ax.set_title(f"{edges[k]:.1f}–{edges[k + 1]:.1f} ms", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(f"{title} ({len(events)} events; red ON, blue OFF)")
    return fig
