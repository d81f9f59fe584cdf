"""Iris (Fisher 1936): the copy that ships inside mlxtend, read without importing mlxtend."""

from __future__ import annotations

import torch

from hebbtorch.errors import HebbtorchError


def load_iris() -> tuple[torch.Tensor, torch.Tensor]:
    """Iris (150 x 4 features, labels 0-2) from the copy that mlxtend ships (no import)."""
    import gzip
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise HebbtorchError("the Iris data ships with mlxtend; install it (pip install mlxtend)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "iris.csv.gz"
    if not path.exists():
        raise HebbtorchError(f"iris.csv.gz not found at {path}")
    rows = [line.split(",") for line in gzip.open(path, "rt").read().split() if line]
    x = torch.tensor([[float(v) for v in r[:4]] for r in rows], dtype=torch.float64)
    y = torch.tensor([int(float(r[4])) for r in rows])
    return x, y
