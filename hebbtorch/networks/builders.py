"""Spiking MLPs and small conv nets trained with surrogate gradients, and their ANN twins (same
layer sizes, ReLU instead of spiking neurons).

Spiking nets: input encoder (or direct current: the image drives the first layer at every step)
-> [synapses -> spiking neurons] x hidden -> synapses -> leaky-integrator readout; logits are the
readout membrane averaged over time. The hidden neurons are LIF by default, or any model of
:data:`hebbtorch.neurons.registry.NEURONS` (ALIF, the seed's refractory neuron), chosen by the
parameters given as ``neuron``. Synaptic layers act on all steps at once (``[time * batch, ...]``);
only the neurons loop over time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from hebbtorch.checks import check_time_first
from hebbtorch.errors import HebbtorchError
from hebbtorch.networks.base import Recording
from hebbtorch.neurons.li import LIParameters, li_sequence
from hebbtorch.neurons.lif import LIFParameters
from hebbtorch.neurons.registry import model_of, run_hidden


def _time_distributed(
    layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Apply ``layer`` to ``[time, batch, ...]`` as one call on ``[time * batch, ...]``."""
    T, B = x.shape[:2]
    y = layer(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


class SpikingSequential(nn.Module):
    """Stages of synapses, each followed by spiking neurons except the last (LI readout).

    neuron: the hidden neurons' parameters, whose type picks the model: ``LIFParameters``,
        ``ALIFParameters``, ``RefractoryParameters`` (see :mod:`hebbtorch.neurons.registry`).
    stages: modules mapping ``[N, ...] -> [N, ...]`` per step (Linear, Conv2d + pool, ...).
    encoder: module ``(x [batch, ...], generator) -> [time, batch, ...]``; None = direct current.
        It sees the image as given (encoders such as saccades need its rows and columns).
    pre_stage: reshapes one step's input for the first stage (flatten, add a channel).
    dropout: rate on the hidden spikes that feed stages ``dropout_from`` and later (1: every
        hidden layer; the conv net uses only its last, the FC hidden layer's spikes).
    """

    def __init__(
        self,
        stages: Sequence[nn.Module],
        num_steps: int,
        neuron: Any,
        readout_beta: float = 0.9,
        encoder: nn.Module | None = None,
        pre_stage: nn.Module | None = None,
        dropout: float = 0.0,
        dropout_from: int = 1,
    ) -> None:
        super().__init__()
        if num_steps < 1:
            raise HebbtorchError(f"num_steps must be >= 1, got {num_steps}")
        if not 0.0 <= dropout < 1.0:
            raise HebbtorchError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.dropout_from = int(dropout_from)
        self.stages = nn.ModuleList(stages)
        self.num_steps = int(num_steps)
        self.neuron_name = model_of(neuron)[0]  # HebbtorchError for an unknown model
        self.neuron = neuron
        self.readout = LIParameters(readout_beta)
        self.encoder = encoder
        self.pre_stage = pre_stage if pre_stage is not None else nn.Identity()

    def _first(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages[0](self.pre_stage(x))

    def _run(self, x: torch.Tensor, generator: torch.Generator | None, keep: bool):
        if self.encoder is None:  # direct current: the first stage's output is the same each step
            first = self._first(x)
            current = first.unsqueeze(0).expand(self.num_steps, *first.shape)
        else:  # a custom encoder's [batch, time] output must not run as [time, batch]
            spikes = check_time_first("the encoder's output", self.encoder(x, generator=generator),
                                      self.num_steps, len(x), hint="it must put time first")
            current = _time_distributed(self._first, spikes)
        rec: dict[str, torch.Tensor] = {}
        for i, stage in enumerate(self.stages[1:], start=1):
            out, v = run_hidden(current, self.neuron)
            if keep:
                rec[f"layer{i}.v"], rec[f"layer{i}.spikes"] = v, out
            spikes = self._drop(out) if i >= self.dropout_from else out
            current = _time_distributed(stage, spikes)
        v = li_sequence(current, self.readout)
        if keep:
            rec["readout.v"] = v
        return v.mean(0), rec

    def _drop(self, spikes: torch.Tensor) -> torch.Tensor:
        """Dropout with one mask per sample shared by all time steps: a dropped neuron stays
        silent for the whole presentation (and one mask is cheaper than T)."""
        if not (self.training and self.dropout):
            return spikes
        keep = torch.rand(spikes.shape[1:], device=spikes.device) >= self.dropout
        return spikes * (keep.to(spikes.dtype) / (1.0 - self.dropout))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self._run(x, generator, keep=False)[0]

    def record(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Recording:
        return Recording(self._run(x, generator, keep=True)[1],
                         float(torch.as_tensor(self.neuron.threshold).flatten()[0]))

    @property
    def lif(self) -> LIFParameters:
        """The hidden neurons' parameters when they are LIF (HebbtorchError otherwise)."""
        if not isinstance(self.neuron, LIFParameters):
            raise HebbtorchError(f"the hidden neurons are {self.neuron_name}, not LIF")
        return self.neuron


def _hidden(neuron: Any, lif: LIFParameters | None) -> Any:
    if neuron is not None and lif is not None:
        raise HebbtorchError("give the hidden neurons as neuron= or lif=, not both")
    return neuron if neuron is not None else lif or LIFParameters()


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise HebbtorchError(f"layer sizes must be >= 2 positive integers, got {sizes}")
    return sizes


def spiking_mlp(
    sizes: Sequence[int] = (784, 800, 10),
    num_steps: int = 25,
    *,
    lif: LIFParameters | None = None,
    readout_beta: float = 0.9,
    encoder: nn.Module | None = None,
    dropout: float = 0.0,
    neuron: Any = None,
) -> SpikingSequential:
    """MLP ``sizes[0] -> ... -> sizes[-1]`` of spiking neurons with an LI readout; ``dropout``
    acts on the hidden spikes. ``neuron``: the hidden neurons' parameters (any model, see
    :class:`SpikingSequential`); ``lif``: LIF parameters (the default model)."""
    sizes = _check_sizes(sizes)
    stages = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    return SpikingSequential(
        stages,
        num_steps,
        _hidden(neuron, lif),
        readout_beta,
        encoder,
        pre_stage=nn.Flatten(),
        dropout=dropout,
    )


def ann_mlp(sizes: Sequence[int] = (784, 800, 10), dropout: float = 0.0) -> nn.Module:
    """The ANN twin of :func:`spiking_mlp`: same sizes, ReLU."""
    sizes = _check_sizes(sizes)
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers += [nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        layers.append(nn.Linear(a, b))
    return _GeneratorTolerant(nn.Sequential(*layers))


def _conv_stages(
    channels: Sequence[int],
    hidden: int,
    n_out: int,
    image: int,
    in_channels: int = 1,
    batch_norm: bool = False,
) -> list[nn.Module]:
    """``batch_norm``: each conv and the FC hidden layer is followed by batch norm (its shift
    replaces their bias); in a spiking net it normalises over time and batch together, as the
    stages see ``[time * batch, ...]`` (Zheng et al. 2021's tdBN without its threshold scale)."""
    stages: list[nn.Module] = []
    c_in, size = in_channels, image
    for i, c in enumerate(channels):
        conv: nn.Module = nn.Conv2d(c_in, c, 3, padding=1, bias=not batch_norm)
        if batch_norm:
            conv = nn.Sequential(conv, nn.BatchNorm2d(c))
        # pool after the neurons of the previous block: pooling spikes keeps them binary (max)
        stages.append(conv if i == 0 else nn.Sequential(nn.MaxPool2d(2), conv))
        c_in = c
        size = size if i == 0 else size // 2
    size //= 2
    fc: list[nn.Module] = [nn.Linear(c_in * size * size, hidden, bias=not batch_norm)]
    if batch_norm:
        fc.append(nn.BatchNorm1d(hidden))
    stages.append(nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), *fc))
    stages.append(nn.Linear(hidden, n_out))
    return stages


def spiking_convnet(
    channels: Sequence[int] = (32, 64),
    hidden: int = 256,
    n_out: int = 10,
    image: int = 28,
    num_steps: int = 8,
    *,
    lif: LIFParameters | None = None,
    readout_beta: float = 0.9,
    encoder: nn.Module | None = None,
    in_channels: int = 1,
    batch_norm: bool = False,
    dropout: float = 0.0,
    neuron: Any = None,
) -> SpikingSequential:
    """conv3x3 -> LIF -> [pool -> conv3x3 -> LIF]... -> pool -> FC(hidden) -> LIF -> FC -> LI.

    ``neuron``: another model's parameters for every "LIF" above (see :class:`SpikingSequential`).
    ``in_channels``: channels of one step's input, e.g. 2 for ON/OFF events ``[T, B, 2, H, W]``.
    ``batch_norm``: batch norm after each conv and the FC hidden layer (see :func:`_conv_stages`).
    ``dropout``: on the FC hidden layer's spikes only (the conv maps are left whole).
    """
    stages = _conv_stages(channels, hidden, n_out, image, in_channels, batch_norm)
    return SpikingSequential(
        stages, num_steps, _hidden(neuron, lif), readout_beta, encoder, pre_stage=_AddChannel(),
        dropout=dropout, dropout_from=len(stages) - 1,
    )


def ann_convnet(
    channels: Sequence[int] = (32, 64),
    hidden: int = 256,
    n_out: int = 10,
    image: int = 28,
    *,
    batch_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    """ANN twin of :func:`spiking_convnet`: the same stages with ReLU between them (and the same
    batch norm and dropout before the output layer)."""
    stages = _conv_stages(channels, hidden, n_out, image, batch_norm=batch_norm)
    layers: list[nn.Module] = [_AddChannel()]
    for i, s in enumerate(stages):
        if i:
            layers.append(nn.ReLU())
        if dropout and i == len(stages) - 1:
            layers.append(nn.Dropout(dropout))
        layers.append(s)
    return _GeneratorTolerant(nn.Sequential(*layers))


class _AddChannel(nn.Module):
    """``[batch, H, W] -> [batch, 1, H, W]``; leaves 4-D input alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if x.dim() == 3 else x


class _GeneratorTolerant(nn.Module):
    """Gives a plain module the shared ``forward(x, generator=None)`` signature."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.net(x)
