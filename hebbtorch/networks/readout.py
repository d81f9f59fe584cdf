"""Reading out an unsupervised spiking layer (Diehl & Cook 2015, Sec. 2.5; the authors'
``Diehl&Cook_MNIST_evaluation.py``, *[eval]*): label assignment from spike counts, the two
prediction rules, the confusion matrix and receptive fields. Works on any ``[images, neurons]``
spike counts."""

from __future__ import annotations

import torch


def class_rates(counts: torch.Tensor, labels: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Mean spike count of every neuron per class, ``[n, n_classes]`` (classes without images:
    0). counts ``[N, n]``, labels ``[N]``."""
    onehot = torch.nn.functional.one_hot(labels.long(), n_classes).to(counts.dtype)  # [N, C]
    per = onehot.sum(0).clamp_min(1.0)
    return (counts.T @ onehot) / per


def assign_labels(counts: torch.Tensor, labels: torch.Tensor, n_classes: int = 10
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


def _per_class_mean(scores: torch.Tensor, assignments: torch.Tensor, n_classes: int
                    ) -> torch.Tensor:
    """``[N, n]`` neuron scores -> ``[N, C]`` mean over the neurons assigned to each class."""
    a = torch.nn.functional.one_hot(assignments.clamp_min(0), n_classes).to(scores.dtype)
    a = a * (assignments >= 0).unsqueeze(1).to(scores.dtype)
    return (scores @ a) / a.sum(0).clamp_min(1.0)


def predict_all_activity(counts: torch.Tensor, assignments: torch.Tensor,
                         n_classes: int = 10) -> torch.Tensor:
    """"All activity" ([eval] ``get_recognized_number_ranking``): the class whose assigned
    neurons have the highest mean spike count. Ties (e.g. silence) go to the lowest class."""
    return _per_class_mean(counts, assignments, n_classes).argmax(1)


def predict_proportion(counts: torch.Tensor, assignments: torch.Tensor,
                       proportions: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """"Proportion weighting" (Diehl & Cook 2015, Sec. 2.5; as BindsNET's
    ``proportion_weighting``): each neuron's spikes weighted by the fraction of its
    responses that belongs to the class, averaged over the class's neurons."""
    a = torch.nn.functional.one_hot(assignments.clamp_min(0), n_classes).to(counts.dtype)
    a = a * (assignments >= 0).unsqueeze(1).to(counts.dtype)
    scores = (counts.unsqueeze(2) * (proportions * a).unsqueeze(0)).sum(1)  # [N, C]
    return (scores / a.sum(0).clamp_min(1.0)).argmax(1)


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, n_classes: int = 10
                     ) -> torch.Tensor:
    """Counts ``[true, predicted]``."""
    idx = labels.long() * n_classes + pred.long()
    return torch.bincount(idx, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def receptive_fields(weight: torch.Tensor, side: int = 28) -> torch.Tensor:
    """Input weights ``[side*side, n]`` -> ``[n, side, side]`` images."""
    return weight.T.reshape(-1, side, side)
