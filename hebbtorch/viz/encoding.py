"""An image and its spike encodings side by side (``encoding.png`` of ``hebbtorch encode``)."""

from __future__ import annotations

import numpy as np

from hebbtorch.viz.raster import spike_raster
from hebbtorch.viz.style import figure


def gray_image(ax, img, title: str) -> None:
    """``img`` ``[H, W]`` in [0, 1] in gray (black = 0), no ticks."""
    ax.imshow(np.asarray(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def image_figure(img, title: str):
    """One gray image ``[H, W]`` in [0, 1] as its own small figure."""
    fig, axes = figure(width=3, height=3)
    gray_image(axes[0, 0], img, title)
    return fig


def encoding_overview(img, codes: dict, source: str, steps: int, ncols: int = 3):
    """The input image, then one spike raster ``[steps, neurons]`` per encoder in ``codes``
    (name -> spikes), each titled with its spike count; steps of 1 ms."""
    names = list(codes)
    nrows = -(-(len(names) + 1) // ncols)
    fig, axes = figure(nrows, ncols, width=4.0, height=3.0)
    gray_image(axes[0, 0], img, f"input: {source}")
    for k, name in enumerate(names, start=1):
        s = codes[name]
        spike_raster(s, f"{name}: {int(s.sum())} spikes", axes.flat[k], marker_size=1.0)
    for ax in list(axes.flat)[len(names) + 1:]:
        ax.set_visible(False)
    fig.suptitle(f"spike encodings, {steps} steps of 1 ms", y=1.0)
    fig.tight_layout()
    return fig
