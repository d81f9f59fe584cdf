"""Learning curves: BPTT runs (``learning_curves.png`` of ``hebbtorch train``, ``comparison.png``
of ``hebbtorch compare``), SpikeProp (``spikeprop_<task>.png``) and aSTDP (``learning_curve.png``,
the ``generated.png`` grid)."""

from __future__ import annotations

import math

from hebbtorch.viz.style import STYLE, figure, legend_outside


def learning_curves(runs: dict[str, tuple[list[dict], list[dict]]]):
    """Loss (per batch and per epoch) and accuracy (train and test per epoch) for several runs:
    ``runs`` maps a name to (per-epoch history, per-batch log), as ``metrics.csv`` and
    ``batches.csv`` hold them."""
    fig, axes = figure(1, 2, width=4.0, height=3.0)
    ax_loss, ax_acc = axes[0]
    for i, (name, (history, batch_log)) in enumerate(runs.items()):
        color = f"C{i}"
        if batch_log:
            n_per_epoch = max(sum(1 for r in batch_log if r["epoch"] == 1), 1)
            xs = [r["epoch"] - 1 + (r["batch"] + 1) / n_per_epoch for r in batch_log]
            ax_loss.plot(xs, [r["loss"] for r in batch_log], color=color, alpha=0.35, lw=0.8)
        ep = [r["epoch"] for r in history]
        ax_loss.plot(ep, [r["test_loss"] for r in history], "o-", color=color)
        ax_acc.plot(ep, [100 * r["train_accuracy"] for r in history], "s--", color=color,
                    alpha=0.6, label=f"{name} train")
        ax_acc.plot(ep, [100 * r["test_accuracy"] for r in history], "o-", color=color,
                    label=f"{name} test")
    per_batch = any(log for _, log in runs.values())
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy",
                title="loss (dots: test, faint: per batch)" if per_batch else "test loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    legend_outside(ax_acc)
    return fig


def spikeprop_curves(history: list[dict], task: str):
    """SpikeProp: mean error E per pattern (ms², log scale) and accuracy per epoch; test curves
    when the history has them (``test_loss``, ``test_accuracy``)."""
    fig, axes = figure(1, 2, width=4.0, height=3.0)
    ax_loss, ax_acc = axes[0]
    ep = [r["epoch"] for r in history]
    for split, key in (("train", "loss"), ("test", "test_loss")):
        if history and key in history[0]:
            ax_loss.plot(ep, [r[key] for r in history], label=split)
    for split in ("train", "test"):
        if history and f"{split}_accuracy" in history[0]:
            ax_acc.plot(ep, [100 * r[f"{split}_accuracy"] for r in history], label=split)
    ax_loss.set(xlabel="epoch", ylabel="mean E per pattern (ms²)", yscale="log",
                title=f"SpikeProp {task}")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    legend_outside(ax_acc)
    return fig


def astdp_curves(history: list[dict], batches: list[dict], title: str):
    """aSTDP: the local rate errors per training batch (label rates, pixel reconstruction) and
    train/test accuracy per epoch."""
    fig, axes = figure(1, 2, width=4.0, height=3.0)
    ax_err, ax_acc = axes[0]
    if batches:
        xs = list(range(1, len(batches) + 1))
        if "label_mse" in batches[0]:
            ax_err.plot(xs, [r["label_mse"] for r in batches], lw=0.8, label="label rates")
        ax_err.plot(xs, [r["recon_mse"] for r in batches], lw=0.8, label="pixel recon.")
        ax_err.legend(fontsize=STYLE["legend.fontsize"])
    ax_err.set(xlabel="batch", ylabel="mean squared rate error", title="local errors (train)")
    ep = [r["epoch"] for r in history]
    ax_acc.plot(ep, [100 * r["train_accuracy"] for r in history], "s--", alpha=0.6, label="train")
    ax_acc.plot(ep, [100 * r["test_accuracy"] for r in history], "o-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    legend_outside(ax_acc)
    return fig


def image_grid(images, labels, title: str):
    """Images ``[N, side*side]`` in [0, 1] (gray, black = 0), one row per label with the label at
    the row's left; with one image per label, a square grid of images titled by their label."""
    side = int(round(images.shape[1] ** 0.5))
    classes = sorted(set(labels.tolist()))
    per = max(int((labels == c).sum()) for c in classes)
    if per == 1:  # one row per label would be a thin strip
        cols = math.ceil(math.sqrt(len(classes)))
        rows = math.ceil(len(classes) / cols)
        cells = [(c, images[labels == c], 0) for c in classes]
    else:
        rows, cols = len(classes), per
        cells = [(c, images[labels == c], k) for c in classes for k in range(per)]
    fig, axes = figure(rows, cols, width=0.8, height=0.8)
    for ax in axes.flat:
        ax.axis("off")
    for i, (c, imgs, k) in enumerate(cells):
        ax = axes.flat[i]
        if k < len(imgs):
            ax.imshow(imgs[k].reshape(side, side).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        if per == 1:
            ax.set_title(str(c), fontsize=8)
        elif k == 0:
            ax.text(-0.15, 0.5, str(c), transform=ax.transAxes, ha="right", va="center",
                    fontsize=8)
    fig.suptitle(title, fontsize=9)
    return fig
