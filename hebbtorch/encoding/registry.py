"""Image encoders by name, for the trainers' input stage (``--encoder``): each maps intensities
``[batch, ...]`` in [0, 1] to ``[time, batch, ...]``. ``direct`` means no encoder: the image is a
constant input current at every step."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from hebbtorch.encoding.latency import LatencyEncoder
from hebbtorch.encoding.noisy_mask import NoisyMaskEncoder
from hebbtorch.encoding.rank_order import RankOrderEncoder
from hebbtorch.encoding.rate import PoissonEncoder, RateEncoder
from hebbtorch.errors import HebbtorchError

IMAGE_ENCODERS: dict[str, Callable[[int], nn.Module | None]] = {
    "direct": lambda T: None,
    "noisy-mask": lambda T: NoisyMaskEncoder(T),
    "rate": lambda T: RateEncoder(T, max_rate=1000.0, dt=1e-3),  # p(spike) = intensity
    "poisson": lambda T: PoissonEncoder(T, max_rate=1000.0, dt=1e-3),
    "latency": lambda T: LatencyEncoder(T),
    "rank-order": lambda T: RankOrderEncoder(T, mode="order"),  # equal pixels fire together
}


def make_encoder(name: str, num_steps: int) -> nn.Module | None:
    """The named encoder for ``num_steps`` steps (None for ``direct``)."""
    try:
        return IMAGE_ENCODERS[name](num_steps)
    except KeyError:
        raise HebbtorchError(
            f"unknown encoder {name!r}; choose one of {', '.join(IMAGE_ENCODERS)}") from None
