"""Networks: the seed's SpikingNet / NonSpikingNet, spiking MLP and conv builders, ANN twins."""

from hebbtorch._lazy import lazy_exports
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

# imported on first use: the Diehl & Cook network pulls in its kernels and the plasticity engine
_EXPORTS = {
    "DiehlCookNetwork": "diehl_cook", "DiehlCookParameters": "diehl_cook",
    "DiehlCookState": "diehl_cook", "initial_weights": "diehl_cook",
    "assign_labels": "readout", "confusion_matrix": "readout", "class_rates": "readout",
    "predict_all_activity": "readout", "predict_proportion": "readout",
    "receptive_fields": "readout",
    "MemoryEstimate": "memory", "step_memory": "memory",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ConvLayerParameters", "ConvSTDPNet", "ConvSTDPParameters",
    "MODELS", "NonSpikingNet", "Recording", "SpikingNet", "SpikingSequential", "ann_convnet",
    "ann_mlp", "build_model", "get_spec", "is_spiking", "spiking_convnet", "spiking_mlp",
]
__all__ += sorted(_EXPORTS)
