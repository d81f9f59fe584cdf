"""Reading out an unsupervised spiking layer (Diehl & Cook 2015, Sec. 2.5; the authors'
``Diehl&Cook_MNIST_evaluation.py``, *[eval]*): label assignment from spike counts, the two
prediction rules, the confusion matrix and receptive fields. Works on any ``[images, neurons]``
spike counts, any number of classes (``n_classes``; None: one more than the largest label, or
the width of ``proportions``) and any image shape."""

from __future__ import annotations

import math

import torch

from hebbtorch.errors import HebbtorchError


def _classes(labels: torch.Tensor, n_classes: int | None, name: str = "labels") -> int:
    """The class count for ``labels`` (checked: integers in 0..n_classes-1)."""
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise HebbtorchError(f"{name} must be integer class indices, got {labels.dtype}")
    top = int(labels.max()) + 1 if labels.numel() else 1
    low = int(labels.min()) if labels.numel() else 0
    n = top if n_classes is None else int(n_classes)
    if n < 1 or low < 0 or top > n:
        raise HebbtorchError(f"{name} must be in 0..{n - 1}, found {low}..{top - 1}")
    return n


def _counts(counts: torch.Tensor, labels: torch.Tensor) -> None:
    if counts.dim() != 2 or len(counts) != len(labels):
        raise HebbtorchError(f"counts must be [images, neurons] with one row per label, got "
                             f"{tuple(counts.shape)} for {len(labels)} labels")


def class_rates(counts: torch.Tensor, labels: torch.Tensor, n_classes: int | None = None
                ) -> torch.Tensor:
    """Mean spike count of every neuron per class, ``[n, n_classes]`` (classes without images:
    0). counts ``[N, n]``, labels ``[N]``."""
    _counts(counts, labels)
    n_classes = _classes(labels, n_classes)
    onehot = torch.nn.functional.one_hot(labels.long(), n_classes).to(counts.dtype)  # [N, C]
    per = onehot.sum(0).clamp_min(1.0)
    return (counts.T @ onehot) / per


def assign_labels(counts: torch.Tensor, labels: torch.Tensor, n_classes: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each neuron's label = the class with its highest mean response ([eval]
    ``get_new_assignments``); neurons that never fired stay unassigned (-1). Returns
    ``(assignments [n], proportions [n, n_classes])``, the latter each neuron's class rates
    divided by their sum (for :func:`predict_proportion`)."""
    rates = class_rates(counts, labels, n_classes)
    best, cls = rates.max(1)
    assignments = torch.where(best > 0, cls, torch.full_like(cls, -1))
    proportions = rates / rates.sum(1, keepdim=True).clamp_min(1e-12)
    return assignments, proportions


def _assigned(assignments: torch.Tensor, n_classes: int | None, dtype: torch.dtype
              ) -> torch.Tensor:
    """``[n, C]`` one-hot of the neurons' classes (unassigned neurons: a zero row)."""
    n_classes = _classes(assignments.clamp_min(0), n_classes, "assignments")
    a = torch.nn.functional.one_hot(assignments.clamp_min(0), n_classes).to(dtype)
    return a * (assignments >= 0).unsqueeze(1).to(dtype)


def predict_all_activity(counts: torch.Tensor, assignments: torch.Tensor,
                         n_classes: int | None = None) -> torch.Tensor:
    """"All activity" ([eval] ``get_recognized_number_ranking``): the class whose assigned
    neurons have the highest mean spike count. Ties (e.g. silence) go to the lowest class."""
    a = _assigned(assignments, n_classes, counts.dtype)
    return ((counts @ a) / a.sum(0).clamp_min(1.0)).argmax(1)


def predict_proportion(counts: torch.Tensor, assignments: torch.Tensor,
                       proportions: torch.Tensor, n_classes: int | None = None) -> torch.Tensor:
    """"Proportion weighting" (Diehl & Cook 2015, Sec. 2.5; as BindsNET's
    ``proportion_weighting``): each neuron's spikes weighted by the fraction of its
    responses that belongs to the class, averaged over the class's neurons."""
    a = _assigned(assignments, proportions.shape[1] if n_classes is None else n_classes,
                  counts.dtype)
    scores = (counts.unsqueeze(2) * (proportions * a).unsqueeze(0)).sum(1)  # [N, C]
    return (scores / a.sum(0).clamp_min(1.0)).argmax(1)


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, n_classes: int | None = None
                     ) -> torch.Tensor:
    """Counts ``[true, predicted]``, ``[n_classes, n_classes]``."""
    n_classes = _classes(labels, n_classes)
    _classes(pred, n_classes, "predictions")
    idx = labels.long() * n_classes + pred.long()
    return torch.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def receptive_fields(weight: torch.Tensor, shape: int | tuple[int, int] | None = None
                     ) -> torch.Tensor:
    """Input weights ``[H*W, n]`` -> ``[n, H, W]`` images. ``shape``: ``(H, W)``, or the side
    of a square image; None: square, the side from the input count."""
    n_in = weight.shape[0]
    if shape is None:
        side = math.isqrt(n_in)
        if side * side != n_in:
            raise HebbtorchError(f"{n_in} inputs are not a square image: give the image shape")
        shape = (side, side)
    h, w = (shape, shape) if isinstance(shape, int) else (int(shape[0]), int(shape[1]))
    if h * w != n_in:
        raise HebbtorchError(f"images of {h}x{w} pixels do not fit {n_in} input weights")
    return weight.T.reshape(-1, h, w)
