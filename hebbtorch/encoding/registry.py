"""Image encoders by name, for the trainers' input stage (``--encoder``): each maps images
``[batch, H, W]`` in [0, 1] to spikes ``[time, batch, H, W]``, or to ``[time, batch, C, H, W]``
when it turns every pixel into C spike trains. Such an encoder says so in an ``out_channels``
attribute, and the model builders size their first layer from :func:`encoder_channels`.
``direct`` means no encoder: the image is a constant input current at every step."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hebbtorch.encoding.latency import LatencyEncoder
from hebbtorch.encoding.noisy_mask import NoisyMaskEncoder
from hebbtorch.encoding.population import PopulationEncoder
from hebbtorch.encoding.rank_order import RankOrderEncoder
from hebbtorch.encoding.rate import PoissonEncoder, RateEncoder
from hebbtorch.encoding.temporal import FadeDeltaEncoder, SaccadeDVSEncoder
from hebbtorch.errors import HebbtorchError

IMAGE_ENCODERS: dict[str, Callable[[int], nn.Module | None]] = {
    "direct": lambda T: None,
    "noisy-mask": lambda T: NoisyMaskEncoder(T),
    "rate": lambda T: RateEncoder(T, max_rate=1000.0, dt=1.0),  # p(spike) = intensity
    "poisson": lambda T: PoissonEncoder(T, max_rate=1000.0, dt=1.0),
    "latency": lambda T: LatencyEncoder(T),
    "rank-order": lambda T: RankOrderEncoder(T, per_step=None),  # every lit pixel fires
    # 5 Gaussian fields per pixel (centres 0, .25, ... 1) peaking at 200 Hz
    "population": lambda T: PopulationEncoder(T, 5, max_rate=200.0, dt=1.0, channels_first=True),
    "delta": lambda T: FadeDeltaEncoder(T, threshold=0.1),  # the image fades in and out
    "dvs": lambda T: SaccadeDVSEncoder(T),  # N-MNIST-like saccades seen by an emulated DVS
}


def make_encoder(name: str, num_steps: int) -> nn.Module | None:
    """The named encoder for ``num_steps`` steps (None for ``direct``)."""
    try:
        return IMAGE_ENCODERS[name](num_steps)
    except KeyError:
        raise HebbtorchError(
            f"unknown encoder {name!r}; choose one of {', '.join(IMAGE_ENCODERS)}") from None


def encoder_channels(encoder: nn.Module | None) -> int:
    """Spike trains per pixel: the encoder's ``out_channels``; 1 for encoders that keep the
    image's shape and for direct current (None)."""
    return int(getattr(encoder, "out_channels", 1))
