"""What every hebbtorch network shares: ``forward(x, generator=None) -> logits [batch, classes]``
(x in [0, 1]; the generator drives any input noise so runs are reproducible), and, for spiking
networks, ``record(x, generator=None) -> Recording`` for pictures."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Recording(NamedTuple):
    """values: name -> ``[time, batch, neurons...]`` (membranes, spikes); threshold of the
    neurons (for traces)."""

    values: dict[str, torch.Tensor]
    threshold: float | None = None


def is_spiking(model: torch.nn.Module) -> bool:
    return callable(getattr(model, "record", None))
