"""Leaky integrator readout (no spikes): ``v[t] = beta * v[t-1] + I[t]``. Used as the output
layer of spiking classifiers, whose logits are then the membrane averaged over time."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_range


class LIParameters(NamedTuple):
    beta: torch.Tensor | float = 0.9


def li_sequence(
    currents: torch.Tensor, p: LIParameters, v0: torch.Tensor | None = None
) -> torch.Tensor:
    """Membrane trace ``[time, batch, ...]`` for currents ``[time, batch, ...]``."""
    check_finite("readout currents", currents)  # a NaN must not pass on as a logit
    v = torch.zeros_like(currents[0]) if v0 is None else v0
    vs = []
    for current in currents.unbind(0):  # unbind: one backward node, not T full-size zeros
        v = p.beta * v + current
        vs.append(v)
    return torch.stack(vs)


class LI(nn.Module):
    def __init__(self, beta: float = 0.9) -> None:
        super().__init__()
        self.params = LIParameters(check_range("beta", beta, 0.0, 1.0))

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        return li_sequence(currents, self.params)
