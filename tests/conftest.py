"""Shared fixtures: a tiny, linearly separable 10-class image set (uint8, 28x28); a script
outside the package (bench/, scripts/) imported as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch


def make_separable(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 images ``[n, 28, 28]``: class c lights rows 2c+4 .. 2c+5 (plus a little
    noise elsewhere), so one linear layer separates the classes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
    for c in range(10):
        images[labels == c, 2 * c + 4:2 * c + 6, 4:24] = 255
    return images, labels


@pytest.fixture
def load_script(monkeypatch):
    """``load_script("bench/x.py")``: the script run as a module (its ``__main__`` block not),
    with its folder first on sys.path as when it is run."""
    def load(path: str) -> ModuleType:
        file = Path(__file__).resolve().parents[1] / path
        monkeypatch.syspath_prepend(str(file.parent))
        spec = importlib.util.spec_from_file_location(file.stem, file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def separable_data():
    """``(train_x, train_y, test_x, test_y)``: 200 train and 100 test images."""
    tr_x, tr_y = make_separable(200, seed=0)
    te_x, te_y = make_separable(100, seed=1)
    return tr_x, tr_y, te_x, te_y


def idx_folder(folder: Path, n_train=40, n_test=20, shape=(28, 28), classes=10, seed=0) -> Path:
    """A tiny IDX data set whose class c brightens row band c (separable)."""
    from hebbtorch.data import write_idx

    g = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = (np.arange(n) % classes).astype(np.uint8)
        x = g.integers(0, 30, (n, *shape), dtype=np.uint8)
        for c in range(classes):
            x[y == c, (c * shape[0]) // classes] = 255
        write_idx(folder / f"{split}-images-idx3-ubyte", x)
        write_idx(folder / f"{split}-labels-idx1-ubyte", y)
    return folder


def require_fused(net, use_fused, *args) -> None:
    """Skip only where there is no C++ compiler; where there is one, resolve ``net`` with
    backend "fused", so a kernel that does not build fails the test with its cause ("auto"
    would fall back to the reference loop and turn the failure into a skip)."""
    from hebbtorch.kernels import build, dispatch

    if not build.compiler_available():
        pytest.skip("no C++ compiler for the kernel")
    if dispatch.reference_forced("auto"):
        pytest.skip("HEBBTORCH_BACKEND=reference forces the reference loop")
    backend, net.backend = net.backend, "fused"
    try:
        assert use_fused(net, *args)
    finally:
        net.backend = backend
