"""Networks: the seed's SpikingNet / NonSpikingNet, spiking MLP and conv builders, ANN twins."""

from hebbtorch.networks.base import Recording, is_spiking
from hebbtorch.networks.builders import (
    SpikingSequential,
    ann_convnet,
    ann_mlp,
    spiking_convnet,
    spiking_mlp,
)
from hebbtorch.networks.conv_stdp import ConvLayerParameters, ConvSTDPNet, ConvSTDPParameters
from hebbtorch.networks.registry import MODELS, build_model, get_spec
from hebbtorch.networks.seed import NonSpikingNet, SpikingNet

__all__ = [
    "ConvLayerParameters", "ConvSTDPNet", "ConvSTDPParameters",
    "MODELS", "NonSpikingNet", "Recording", "SpikingNet", "SpikingSequential", "ann_convnet",
    "ann_mlp", "build_model", "get_spec", "is_spiking", "spiking_convnet", "spiking_mlp",
]
