"""Report figures of a Diehl & Cook run (``hebbtorch unsupervised``): receptive fields,
neurons per assigned class, test confusion matrix, accuracy against training images."""

from __future__ import annotations

import torch

from hebbtorch.viz.fields import receptive_field_mosaic
from hebbtorch.viz.style import colorbar, figure, legend_outside


def plot_receptive_fields(weight: torch.Tensor, assignments: torch.Tensor | None, title: str,
                          image_shape: tuple[int, int] = (28, 28), max_fields: int = 400):
    """Input weights ``[H*W, n]`` as ``image_shape`` fields (the first ``max_fields``; each
    field's assigned class in its corner up to 100 fields); colour = weight (dimensionless,
    the conductance scale of the input synapses)."""
    fig = receptive_field_mosaic(weight.detach().cpu(), tuple(image_shape),
                                 title="receptive fields", max_fields=max_fields,
                                 labels=assignments)
    ax = fig.axes[0]
    ax.set_title(f"{ax.get_title()}\n{title}", fontsize=9)  # the run on a second line
    return fig


def plot_assignments(per_class: torch.Tensor, title: str):
    """Bar chart of the neurons assigned to each class ``[n_classes]``."""
    fig, axes = figure(1, 1, width=4.0, height=2.6)
    ax = axes[0][0]
    ax.bar(range(len(per_class)), per_class.tolist())
    ax.set(xlabel="assigned class", ylabel="neurons", xticks=range(len(per_class)),
           title=f"assignments ({title})")
    ax.title.set_fontsize(8)  # the run's description is long
    return fig


def plot_confusion(cm: torch.Tensor, accuracy: float, title: str):
    """Confusion matrix ``[true, predicted]``: colour = fraction of the true class, counts
    written in the cells."""
    k = cm.shape[0]
    fig, axes = figure(1, 1, width=4.0, height=3.4)
    ax = axes[0][0]
    norm = (cm.float() / cm.sum(1, keepdim=True).clamp_min(1)).numpy()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted class (all activity)", ylabel="true class", xticks=range(k),
           yticks=range(k), title=f"test accuracy {100 * accuracy:.1f}% ({title})")
    ax.title.set_fontsize(8)
    colorbar(im, ax, "fraction of the true class")
    return fig


def plot_curve(curve: list[dict], final: dict, title: str):
    """Accuracy on the next block of training images (before learning from them) against
    images seen, and the final frozen test accuracy."""
    fig, axes = figure(1, 1, width=4.2, height=2.8)
    ax = axes[0][0]
    if curve:
        xs = [r["images_seen"] for r in curve]
        ax.plot(xs, [100 * r["all_activity"] for r in curve], "o-",
                label="next block, all activity")
        ax.plot(xs, [100 * r["proportion"] for r in curve], "s--", label="next block, proportion")
        ax.axhline(100 * final["all_activity"], color="k", lw=0.8,
                   label=f"final test (frozen): {100 * final['all_activity']:.1f}%")
        legend_outside(ax)
    else:
        ax.text(0.5, 0.5, "no update interval completed", transform=ax.transAxes,
                ha="center", va="center", color="0.4")
    ax.set(xlabel="training images seen", ylabel="accuracy (%)", ylim=(0, 100),
           title=f"accuracy vs images ({title})")
    ax.title.set_fontsize(8)
    return fig
