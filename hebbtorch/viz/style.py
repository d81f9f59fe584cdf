"""One matplotlib style for every hebbtorch figure; headless-safe (Agg backend)."""

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
}


def figure(nrows: int = 1, ncols: int = 1, *, width: float = 4.0, height: float = 3.0, **kw):
    """``plt.subplots`` under the hebbtorch style; size is per panel (inches)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 squeeze=False, **kw)
    for ax in axes.flat:
        for k in ("axes.spines.top", "axes.spines.right"):
            ax.spines[k.split(".")[-1]].set_visible(STYLE[k])
        ax.grid(True, alpha=STYLE["grid.alpha"])
    return fig, axes
