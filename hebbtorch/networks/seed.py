"""The seed networks of Chevalier (2018): ``SpikingNet`` (784-100-10 refractory ReLU-spike neurons,
128 steps) and its non-spiking twin ``NonSpikingNet`` (784-100-10, ReLU).

Faithful details: images are normalised as ``x - 0.5`` (x in [0, 1]); each step the input is a
fresh uniform mask times that image; weights are Xavier-uniform (biases keep PyTorch's default);
layer 2 is fed layer 1's delayed output; logits are the mean over time of layer 2's delayed
inner state (the seed's ``average_output=False`` selects the mean, despite its "sum" comment).
"""

from __future__ import annotations

import torch
from torch import nn

from hebbtorch.encoding.noisy_mask import noisy_mask_step
from hebbtorch.networks.base import Recording
from hebbtorch.neurons.refractory import (
    RefractoryOutput,
    RefractoryParameters,
    refractory_sequence,
    validate_refractory,
)


class SpikingNet(nn.Module):
    """Seed SNN. ``forward(x)`` with x ``[batch, 1, 28, 28]`` (or ``[batch, 784]``) in [0, 1]
    returns logits ``[batch, n_out]``; ``binary=True`` swaps in binary spikes with a surrogate."""

    def __init__(
        self, num_steps: int = 128, n_in: int = 784, n_hidden: int = 100, n_out: int = 10, *,
        decay: float = 0.9, threshold: float = 1.0, penalty_threshold: float = 1.5,
        binary: bool = False, surrogate: str = "fast_sigmoid", slope: float | None = None,
        input_offset: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_steps = int(num_steps)
        self.input_offset = float(input_offset)
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        for lin in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(lin.weight)
        self.neuron = validate_refractory(RefractoryParameters(
            decay, threshold, penalty_threshold, binary, surrogate, slope))

    def layers(self, x: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[RefractoryOutput, RefractoryOutput]:
        x = x.flatten(1) - self.input_offset
        masked = torch.stack([noisy_mask_step(x, generator) for _ in range(self.num_steps)])
        currents = self.fc1(masked)  # one [time * batch] matmul instead of num_steps small ones
        l1 = refractory_sequence(currents, self.neuron)
        l2 = refractory_sequence(self.fc2(l1.out), self.neuron)
        return l1, l2

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.layers(x, generator)[1].inner.mean(0)

    def record(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Recording:
        l1, l2 = self.layers(x, generator)
        return Recording(
            values={"layer1.inner": l1.inner, "layer1.out": l1.out,
                    "layer2.inner": l2.inner, "layer2.out": l2.out},
            threshold=self.neuron.threshold)


class NonSpikingNet(nn.Module):
    """Seed ANN twin: 784-100-10 with ReLU, PyTorch's default init, input ``x - 0.5``."""

    def __init__(self, n_in: int = 784, n_hidden: int = 100, n_out: int = 10,
                 input_offset: float = 0.5) -> None:
        super().__init__()
        self.input_offset = float(input_offset)
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1) - self.input_offset)))
