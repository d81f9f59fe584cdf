"""Memory of one training step of any network, estimated before the run so that one too large
for the machine is refused before the first step, not killed in the middle of it.

What a BPTT step holds at its peak: the weights, their gradients and the optimizer's state
(``parameter bytes x (2 + states)``), and every tensor autograd saves for the backward pass --
for a spiking net the neurons' membranes, spikes and surrogate inputs of every time step, i.e.
time steps x batch x state size x saved tensors. The saved tensors are not computed from a
formula per model: they are *counted* on the model itself, by running its forward pass on one
and on two samples with a hook on autograd's saved tensors (:func:`saved_bytes`), which covers
every model the trainer builds (MLP, conv, seed, any neuron, fused kernel or reference loop)
and any model added later; the count grows linearly with the batch. The backward pass then
briefly holds the gradients of the largest activations on top (``BACKWARD_FACTOR``).

Checked against the measured peak (the rise of the process's peak resident memory over one
training step) in ``tests/test_memory_estimate.py``: the estimate lies within a factor
``ACCURACY`` of it for the MLP, conv and seed models.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

BACKWARD_FACTOR = 1.5  # peak / saved tensors: the gradients of the activations in flight
ACCURACY = 2.0  # the estimate is within this factor of the measured peak (tested)
OPTIMIZER_STATES = {"sgd": 1, "adam": 2, "adamw": 2}  # tensors per parameter (sgd: momentum)


class MemoryEstimate(NamedTuple):
    """Bytes of one training step: ``weights`` (parameters, gradients, optimizer state),
    ``activations`` (what autograd keeps for the backward pass, with its in-flight gradients)
    and ``total``."""

    weights: float
    activations: float
    total: float


def parameter_bytes(model: nn.Module) -> int:
    """Bytes of the parameters and buffers (works on a model built on the meta device)."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd keeps from ``model(x)`` for the backward pass (distinct storages, the
    parameters not counted), plus the output."""
    seen = {p.untyped_storage().data_ptr() for p in model.parameters()}
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x, generator=torch.Generator().manual_seed(0))
    return total + out.numel() * out.element_size()


def step_memory(model: nn.Module, sample: torch.Tensor, batch: int, optimizer: str = "adam",
                per_step_only: bool = False) -> MemoryEstimate:
    """Estimated peak bytes of one training step of ``model`` (on the CPU, fp32) on batches of
    ``batch`` samples shaped like ``sample`` (one sample, no batch dimension).

    per_step_only: online learning (e-prop, OTTT) keeps one step's state, not the whole time
    axis: the saved tensors are divided by the model's ``num_steps``."""
    states = OPTIMIZER_STATES.get(optimizer, 2)
    weights = float(parameter_bytes(model) * (2 + states))
    training = model.training
    model.train()
    try:
        with torch.random.fork_rng(devices=[]):  # the probe must not move the run's RNG
            one, two = (saved_bytes(model, sample.expand(b, *sample.shape).clone())
                        for b in (1, 2))
    finally:
        model.train(training)
    per_sample = max(two - one, 0)
    activations = float(one + per_sample * (batch - 1))
    if per_step_only:
        activations /= max(int(getattr(model, "num_steps", 1)), 1)
    activations *= BACKWARD_FACTOR
    return MemoryEstimate(weights, activations, weights + activations)
