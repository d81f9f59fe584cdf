"""Leaky integrator readout (no spikes): ``v[t] = beta * v[t-1] + I[t]``. Used as the output
layer of spiking classifiers, whose logits are then the membrane averaged over time."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_range
from hebbtorch.neurons.dtypes import promote
from hebbtorch.neurons.layout import TimeLayout


class LIParameters(NamedTuple):
    beta: torch.Tensor | float = 0.9


def li_sequence(
    currents: torch.Tensor, p: LIParameters, v0: torch.Tensor | None = None
) -> torch.Tensor:
    """Membrane trace ``[time, batch, ...]`` for currents ``[time, batch, ...]`` (fp32 for
    16-bit currents, as every neuron: :mod:`hebbtorch.neurons.dtypes`)."""
    currents = promote(currents)
    check_finite("readout currents", currents)  # a NaN must not pass on as a logit
    v = torch.zeros_like(currents[0]) if v0 is None else v0
    vs = []
    for current in currents.unbind(0):  # unbind: one backward node, not T full-size zeros
        v = p.beta * v + current
        vs.append(v)
    return torch.stack(vs)


class LI(nn.Module):
    """Leaky-integrator readout over time; ``steps`` and ``time_first``: the input layout
    (:mod:`hebbtorch.neurons.layout`)."""

    def __init__(self, beta: float = 0.9, *, steps: int | None = None,
                 time_first: bool = True) -> None:
        super().__init__()
        self.params = LIParameters(check_range("beta", beta, 0.0, 1.0))
        self.layout = TimeLayout(steps, time_first).check()

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        return self.layout.outward(li_sequence(self.layout.inward(currents), self.params))
