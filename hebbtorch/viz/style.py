"""One matplotlib style for every hebbtorch figure; headless-safe (Agg backend).

Every figure is made by :func:`figure`, which applies :data:`STYLE` and bounds the size
(:data:`MAX_WIDTH` x :data:`MAX_HEIGHT` inches at :data:`STYLE` ``figure.dpi``), so that a
picture of 800 neurons stays as readable as one of 10. Legends go where they do not cover
data (:func:`legend_outside`), colour bars carry their quantity and unit (:func:`colorbar`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}
MAX_WIDTH = 12.0  # inches, whole figure
MAX_HEIGHT = 9.0


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.0, **kw):
    """``plt.subplots`` under the hebbtorch style; size is per panel (inches), the whole figure
    clipped to :data:`MAX_WIDTH` x :data:`MAX_HEIGHT`."""
    size = (min(width * ncols, MAX_WIDTH), min(height * nrows, MAX_HEIGHT))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, **kw)
    for ax in axes.flat:
        for k in ("axes.spines.top", "axes.spines.right"):
            ax.spines[k.split(".")[-1]].set_visible(STYLE[k])
        ax.grid(True, alpha=STYLE["grid.alpha"])
    return fig, axes


def colorbar(im, ax, label: str):
    """A colour bar beside ``ax`` labelled with the quantity and unit it shows."""
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label(label)
    return bar


def legend_outside(ax, **kw):
    """The legend to the right of the axes, where it cannot cover data."""
    kw.setdefault("fontsize", STYLE["legend.fontsize"])
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kw)
