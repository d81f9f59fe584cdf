"""Receptive fields: the input weight vectors of many neurons as one mosaic of small images."""

from __future__ import annotations

import math

import numpy as np
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.viz.activity import _np
from hebbtorch.viz.style import figure


def receptive_field_mosaic(
    weight: torch.Tensor | np.ndarray, side: int | tuple[int, int] = 28, *,
    title: str = "receptive fields", max_fields: int = 400,
    labels: torch.Tensor | np.ndarray | None = None,
):
    """Input weights ``[H*W, n]`` as a mosaic of ``H x W`` images (1-pixel gaps), one ``imshow``
    for all; ``side``: ``(H, W)`` or the side of square images. More than ``max_fields``
    neurons: the first ``max_fields``, said in the title. ``labels`` ``[n]`` (e.g. assigned
    classes, -1 = none) are written in each field's corner up to 100 fields (beyond that they
    would not be legible)."""
    h, wd = (side, side) if isinstance(side, int) else (int(side[0]), int(side[1]))
    w = _np(weight).astype(np.float64)
    if w.ndim != 2 or w.shape[0] != h * wd:
        raise HebbtorchError(f"weight must be [{h * wd}, neurons], got shape {w.shape}")
    n_all = w.shape[1]
    n = min(n_all, int(max_fields))
    rf = w[:, :n].T.reshape(n, h, wd)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    cell_h, cell = h + 1, wd + 1
    mosaic = np.full((rows * cell_h - 1, cols * cell - 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        mosaic[r * cell_h:r * cell_h + h, c * cell:c * cell + wd] = rf[k]
    size = float(np.clip(0.45 * cols, 3.0, 8.0))
    aspect = (rows * cell_h) / (cols * cell)
    fig, axes = figure(width=size + 0.8, height=float(np.clip(size * aspect, 1.5, 12.0)) + 0.4)
    ax = axes[0, 0]
    im = ax.imshow(mosaic, cmap="hot_r", vmin=0, vmax=float(np.nanmax(rf)) or 1.0,
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, label="weight", shrink=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    ax.spines[:].set_visible(False)  # the 1-pixel gaps frame the fields
    if labels is not None and n <= 100:
        lab = _np(labels).reshape(-1)
        for k in range(n):
            if int(lab[k]) >= 0:
                r, c = divmod(k, cols)
                ax.text(c * cell + 1, r * cell_h + 6, str(int(lab[k])), fontsize=7,
                        color="tab:blue")
    shown = f" (first {n} of {n_all})" if n < n_all else f" ({n} neurons)"
    ax.set_title(title + shown)
    return fig
