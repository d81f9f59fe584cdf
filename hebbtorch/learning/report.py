"""Per-run report files: metrics CSVs and the learning-curves picture."""

from __future__ import annotations

from pathlib import Path

from hebbtorch.io import csv_text, save_figure, write_text
from hebbtorch.viz.style import figure


def write_history(out: Path, history: list[dict], batch_log: list[dict], title: str) -> None:
    write_text(out / "metrics.csv", csv_text(history))
    write_text(out / "batches.csv", csv_text(batch_log))
    save_figure(learning_curves({title: (history, batch_log)}), out / "learning_curves.png")


def learning_curves(runs: dict[str, tuple[list[dict], list[dict]]]):
    """Loss (per batch and per epoch) and accuracy (train and test per epoch) for several runs."""
    fig, axes = figure(1, 2, width=4.5, height=3.2)
    ax_loss, ax_acc = axes[0]
    for i, (name, (history, batch_log)) in enumerate(runs.items()):
        color = f"C{i}"
        if batch_log:
            n_per_epoch = max(sum(1 for r in batch_log if r["epoch"] == 1), 1)
            xs = [r["epoch"] - 1 + (r["batch"] + 1) / n_per_epoch for r in batch_log]
            ax_loss.plot(xs, [r["loss"] for r in batch_log], color=color, alpha=0.35, lw=0.8)
        ep = [r["epoch"] for r in history]
        ax_loss.plot(ep, [r["test_loss"] for r in history], "o-", color=color, label=f"{name} test")
        ax_acc.plot(ep, [100 * r["train_accuracy"] for r in history], "s--", color=color,
                    alpha=0.6, label=f"{name} train")
        ax_acc.plot(ep, [100 * r["test_accuracy"] for r in history], "o-", color=color,
                    label=f"{name} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss (faint: per batch)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
