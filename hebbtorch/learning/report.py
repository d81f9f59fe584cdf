"""Per-run report files: metrics CSVs and the learning-curves picture (drawn by
:func:`hebbtorch.viz.training.learning_curves`)."""

from __future__ import annotations

from pathlib import Path

from hebbtorch.io import csv_text, save_figure, write_text
from hebbtorch.viz.training import learning_curves


def write_history(out: Path, history: list[dict], batch_log: list[dict], title: str) -> None:
    write_text(out / "metrics.csv", csv_text(history))
    write_text(out / "batches.csv", csv_text(batch_log))
    save_figure(learning_curves({title: (history, batch_log)}), out / "learning_curves.png")
