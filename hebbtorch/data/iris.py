"""Iris (Fisher 1936): the copy that ships inside mlxtend, read without importing mlxtend."""

from __future__ import annotations

import gzip

import torch

from hebbtorch.data.datasets import mlxtend_file


def load_iris() -> tuple[torch.Tensor, torch.Tensor]:
    """Iris (150 x 4 features, labels 0-2) from the copy that mlxtend ships (no import)."""
    path = mlxtend_file("iris.csv.gz", "the Iris data")
    rows = [line.split(",") for line in gzip.open(path, "rt").read().split() if line]
    x = torch.tensor([[float(v) for v in r[:4]] for r in rows], dtype=torch.float64)
    y = torch.tensor([int(float(r[4])) for r in rows])
    return x, y
