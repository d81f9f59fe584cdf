"""Named neuron models for the network builders and the CLI (``--neuron lif|alif|seed``).

A hidden layer of a :class:`~hebbtorch.networks.SpikingSequential` holds one of the parameter
NamedTuples below; :func:`run_hidden` runs it over time and returns what the next layer receives
and the membrane (for recordings). A new neuron joins every network by one :class:`NeuronModel`
entry in :data:`NEURONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons.alif import ALIFParameters, alif_sequence, validate_alif
from hebbtorch.neurons.lif import LIFParameters, lif_sequence, validate_lif
from hebbtorch.neurons.refractory import (
    RefractoryParameters,
    refractory_sequence,
    validate_refractory,
)


class NeuronModel(NamedTuple):
    """kind: the parameter type, built as ``kind(beta, threshold, surrogate, slope)`` by
    ``make`` (beta: membrane decay per step; threshold in units of the membrane); validate:
    checks parameters (HebbtorchError), returns them; run: ``(currents [T, B, ...], parameters)
    -> (output to the next layer, membrane)``, both ``[T, B, ...]``."""

    kind: type
    make: Callable[[float, float, str, float | None], Any]
    validate: Callable[[Any], Any]
    run: Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor]]
    help: str


def _lif(currents: torch.Tensor, p: LIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    out = lif_sequence(currents, p)
    return out.spikes, out.v


def _alif(currents: torch.Tensor, p: ALIFParameters) -> tuple[torch.Tensor, torch.Tensor]:
    out = alif_sequence(currents, p)
    return out.spikes, out.v


def _seed(currents: torch.Tensor, p: RefractoryParameters) -> tuple[torch.Tensor, torch.Tensor]:
    out = refractory_sequence(currents, p)
    return out.out, out.inner


NEURONS: dict[str, NeuronModel] = {
    "lif": NeuronModel(
        LIFParameters, lambda b, t, s, k: LIFParameters(b, t, surrogate=s, slope=k), validate_lif,
        _lif, "leaky integrate-and-fire (Gerstner et al. 2014, eq. 1.5)"),
    "alif": NeuronModel(
        ALIFParameters, lambda b, t, s, k: ALIFParameters(b, threshold=t, surrogate=s, slope=k),
        validate_alif, _alif,
        "adaptive-threshold LIF (Bellec et al. 2018, eqs. 1-3; rho 0.99, adapt_scale 1.8)"),
    "seed": NeuronModel(
        RefractoryParameters,
        lambda b, t, s, k: RefractoryParameters(decay=b, threshold=t, surrogate=s, slope=k),
        validate_refractory, _seed,
        "the seed's refractory ReLU-spike neuron (Chevalier 2018; graded output, decay = beta)"),
}


def make_neuron(name: str, beta: float = 0.9, threshold: float = 1.0,
                surrogate: str = "fast_sigmoid", slope: float | None = None) -> Any:
    """The parameters of neuron model ``name`` (one of :data:`NEURONS`)."""
    try:
        model = NEURONS[name]
    except KeyError:
        raise HebbtorchError(f"unknown neuron {name!r}; choose one of {', '.join(NEURONS)}"
                             ) from None
    return model.validate(model.make(beta, threshold, surrogate, slope))


def model_of(p: Any) -> tuple[str, NeuronModel]:
    """The name and model of parameters ``p`` (validated); HebbtorchError for another type."""
    for name, model in NEURONS.items():
        if type(p) is model.kind:
            model.validate(p)
            return name, model
    raise HebbtorchError(f"no neuron model takes {type(p).__name__}; hidden layers take "
                         f"{', '.join(m.kind.__name__ for m in NEURONS.values())}")


def run_hidden(currents: torch.Tensor, p: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(output to the next layer, membrane) of neurons with parameters ``p`` over ``currents``."""
    return model_of(p)[1].run(currents, p)
