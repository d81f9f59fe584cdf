"""Checks of a training run's data before the first step: both splits present and non-empty,
one image shape, labels that fit the classes the model is built for."""

from __future__ import annotations

from typing import NamedTuple

import torch

from hebbtorch.errors import HebbtorchError


class DataShape(NamedTuple):
    image_shape: tuple[int, ...]  # one image, e.g. (28, 28)
    n_classes: int


def check_splits(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor, name: str = "data", n_classes: int | None = None,
                 max_classes: int | None = None) -> DataShape:
    """Shape and class count of a train/test pair; one clear error for an empty split, images
    of two shapes, images and labels of different lengths or labels outside ``0..C-1``.

    n_classes: the data set's own class count (default: 1 + the largest label in either split);
    max_classes: the most a model can take (e.g. 10 for a network with ten output neurons)."""
    for split, x, y in (("training", train_x, train_y), ("test", test_x, test_y)):
        if len(y) == 0:
            raise HebbtorchError(f"{name}: the {split} split is empty (check --images / "
                                 "--max-train / --max-test and the data folder)")
        if len(x) != len(y):
            raise HebbtorchError(f"{name}: the {split} split has {len(x)} images but "
                                 f"{len(y)} labels")
        if y.dtype.is_floating_point or int(y.min()) < 0:
            raise HebbtorchError(f"{name}: {split} labels must be integers >= 0")
    if tuple(train_x.shape[1:]) != tuple(test_x.shape[1:]):
        raise HebbtorchError(f"{name}: training images are {tuple(train_x.shape[1:])} but test "
                             f"images {tuple(test_x.shape[1:])}")
    top = max(int(train_y.max()), int(test_y.max())) + 1
    classes = n_classes if n_classes is not None else top
    if top > classes:
        raise HebbtorchError(f"{name}: labels must be in 0..{classes - 1}, found up to {top - 1}")
    if classes < 2:
        raise HebbtorchError(f"{name}: needs at least 2 classes, the labels hold {classes}")
    if max_classes is not None and classes > max_classes:
        raise HebbtorchError(f"{name}: {classes} classes, but this network takes at most "
                             f"{max_classes}")
    return DataShape(tuple(int(s) for s in train_x.shape[1:]), int(classes))
