"""Learning curves of BPTT runs (``learning_curves.png`` of ``hebbtorch train``, ``comparison.png``
of ``hebbtorch compare``)."""

from __future__ import annotations

from hebbtorch.viz.style import figure, legend_outside


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
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy",
                title="loss (dots: test, faint: per batch)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    legend_outside(ax_acc)
    return fig
