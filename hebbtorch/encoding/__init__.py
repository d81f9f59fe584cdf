"""Spike encoders and decoders: images or signals in, ``[time, batch, ...]`` spikes out."""

from hebbtorch.encoding.decode import (
    firing_rate,
    first_spike_time,
    population_vector,
    spike_count,
)
from hebbtorch.encoding.delta import DeltaEncoder, delta_decode, delta_encode
from hebbtorch.encoding.dog import (
    DoGParameters,
    dog_bank,
    dog_filter,
    dog_kernel,
    latency_bins,
    spike_wave,
)
from hebbtorch.encoding.dvs import (
    EVENT_DTYPE,
    DVSEmulator,
    check_events,
    empty_events,
    events_to_frames,
    events_to_voxel_grid,
    frames_to_events,
)
from hebbtorch.encoding.latency import (
    LatencyEncoder,
    latency_decode,
    latency_encode,
    latency_times,
)
from hebbtorch.encoding.noisy_mask import NoisyMaskEncoder, noisy_mask, noisy_mask_step
from hebbtorch.encoding.population import (
    PopulationEncoder,
    gaussian_receptive_fields,
    population_decode,
    population_encode,
    receptive_field_centres,
)
from hebbtorch.encoding.rank_order import RankOrderEncoder, rank_order_encode, rank_order_times
from hebbtorch.encoding.rate import (
    PoissonEncoder,
    RateEncoder,
    poisson_encode,
    rate_decode,
    rate_encode,
)
from hebbtorch.encoding.registry import IMAGE_ENCODERS, encoder_channels, make_encoder
from hebbtorch.encoding.temporal import (
    FadeDeltaEncoder,
    SaccadeDVSEncoder,
    fade,
    saccade_path,
    saccade_video,
)

__all__ = [
    "EVENT_DTYPE",
    "IMAGE_ENCODERS",
    "encoder_channels",
    "make_encoder",
    "DVSEmulator",
    "DoGParameters",
    "dog_bank",
    "dog_filter",
    "dog_kernel",
    "latency_bins",
    "spike_wave",
    "DeltaEncoder",
    "FadeDeltaEncoder",
    "LatencyEncoder",
    "NoisyMaskEncoder",
    "PoissonEncoder",
    "PopulationEncoder",
    "RankOrderEncoder",
    "RateEncoder",
    "SaccadeDVSEncoder",
    "check_events",
    "delta_decode",
    "delta_encode",
    "empty_events",
    "events_to_frames",
    "events_to_voxel_grid",
    "fade",
    "firing_rate",
    "first_spike_time",
    "frames_to_events",
    "gaussian_receptive_fields",
    "latency_decode",
    "latency_encode",
    "latency_times",
    "noisy_mask",
    "noisy_mask_step",
    "poisson_encode",
    "population_decode",
    "population_encode",
    "population_vector",
    "rank_order_encode",
    "rank_order_times",
    "rate_decode",
    "rate_encode",
    "receptive_field_centres",
    "saccade_path",
    "saccade_video",
    "spike_count",
]
