"""Per-run report files: metrics CSVs and the learning-curves picture (drawn by
:func:`hebbtorch.viz.training.learning_curves`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hebbtorch.io import save_figure, write_text
from hebbtorch.viz.training import learning_curves


def _csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_history(out: Path, history: list[dict], batch_log: list[dict], title: str) -> None:
    write_text(out / "metrics.csv", _csv(history))
    write_text(out / "batches.csv", _csv(batch_log))
    save_figure(learning_curves({title: (history, batch_log)}), out / "learning_curves.png")
