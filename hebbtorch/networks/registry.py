"""Named models for the CLI and the trainer, each with its non-spiking twin of the same size."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from hebbtorch.encoding.registry import encoder_channels, make_encoder
from hebbtorch.errors import HebbtorchError
from hebbtorch.networks.builders import ann_convnet, ann_mlp, spiking_convnet, spiking_mlp
from hebbtorch.networks.seed import NonSpikingNet, SpikingNet
from hebbtorch.neurons.registry import make_neuron


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[..., nn.Module]  # (num_steps, hidden, options) -> module
    twin: str  # the other member of the spiking / non-spiking pair
    spiking: bool
    default_steps: int
    help: str


def _io(o: dict) -> tuple[int, int]:
    """Pixels per image and classes: options ``image`` ([H, W], default 28x28) and ``classes``
    (default 10), set by the trainer from the data."""
    h, w = o.get("image", (28, 28))
    return int(h) * int(w), int(o.get("classes", 10))


def _square(o: dict) -> int:
    h, w = o.get("image", (28, 28))
    if h != w:
        raise HebbtorchError(f"the conv models need square images, got {h}x{w}; use an MLP")
    return int(h)


def _seed_snn(binary: bool):
    def build(num_steps: int, hidden: int | None, o: dict) -> nn.Module:
        n_in, n_out = _io(o)
        return SpikingNet(num_steps, n_in, hidden or 100, n_out, binary=binary,
                          surrogate=o.get("surrogate", "fast_sigmoid"), slope=o.get("slope"))
    return build


def _mlp_sizes(h: int | None, o: dict, channels: int = 1) -> tuple[int, ...]:
    """``channels`` inputs per pixel (an encoder's :func:`encoder_channels`)."""
    n_in, n_out = _io(o)
    return (n_in * channels, *([h or 800] * int(o.get("hidden_layers", 1))), n_out)


def _encoder(T: int, o: dict) -> nn.Module | None:
    return make_encoder(o.get("encoder") or "direct", T)


def _lif_mlp(T: int, h: int | None, o: dict) -> nn.Module:
    enc = _encoder(T, o)
    return spiking_mlp(_mlp_sizes(h, o, encoder_channels(enc)), T, neuron=_neuron(o),
                       encoder=enc, dropout=o.get("dropout", 0.0))


def _lif_conv(T: int, h: int | None, o: dict) -> nn.Module:
    enc = _encoder(T, o)
    return spiking_convnet(hidden=h or 256, n_out=_io(o)[1], image=_square(o), num_steps=T,
                           neuron=_neuron(o), encoder=enc,
                           in_channels=encoder_channels(enc), **_conv_options(o))


def _conv_options(o: dict) -> dict:
    """Options of the conv pair: conv channels (default 32, 64), batch norm (off by default) and
    dropout on the FC hidden layer."""
    channels = o.get("channels") or (32, 64)
    if isinstance(channels, int):
        channels = (channels,)
    channels = tuple(int(c) for c in channels)
    if min(channels) < 1:
        raise HebbtorchError(f"conv channels must be positive integers, got {channels}")
    return {"channels": channels, "batch_norm": bool(o.get("batch_norm", False)),
            "dropout": o.get("dropout", 0.0)}


def _neuron(o: dict):
    """The hidden neurons' parameters: ``o["neuron"]`` (lif, alif, seed; default lif)."""
    return make_neuron(o.get("neuron") or "lif", beta=o.get("beta", 0.9),
                       threshold=o.get("threshold", 1.0),
                       surrogate=o.get("surrogate", "fast_sigmoid"), slope=o.get("slope"))


MODELS: dict[str, ModelSpec] = {
    "seed-snn": ModelSpec(_seed_snn(False), "seed-ann", True, 128,
                          "Chevalier's SpikingNet: 784-100-10 ReLU-spike refractory neurons"),
    "seed-snn-binary": ModelSpec(_seed_snn(True), "seed-ann", True, 128,
                                 "SpikingNet with binary spikes and a surrogate gradient"),
    "seed-ann": ModelSpec(lambda T, h, o: NonSpikingNet(_io(o)[0], h or 100, _io(o)[1]),
                          "seed-snn", False, 1,
                          "the seed's NonSpikingNet: 784-100-10 ReLU"),
    "lif-mlp": ModelSpec(_lif_mlp, "ann-mlp", True, 25,
                         "spiking MLP 784(xC)-H(-H...)-10 of LIF (or --neuron) neurons with LI "
                         "readout (surrogate gradients); C inputs per pixel with a C-channel "
                         "encoder"),
    "ann-mlp": ModelSpec(lambda T, h, o: ann_mlp(_mlp_sizes(h, o), o.get("dropout", 0.0)),
                         "lif-mlp", False, 1, "ReLU MLP 784-H(-H...)-10"),
    "lif-conv": ModelSpec(_lif_conv, "ann-conv", True, 8,
                          "conv32-conv64-FC(H)-10 of LIF neurons (options: channels, batch_norm "
                          "after each conv and FC(H), dropout on FC(H)'s spikes)"),
    "ann-conv": ModelSpec(lambda T, h, o: ann_convnet(hidden=h or 256, n_out=_io(o)[1],
                                                      image=_square(o), **_conv_options(o)),
                          "lif-conv", False, 1, "ReLU twin of lif-conv"),
}


ENCODED = ("lif-mlp", "lif-conv")  # models whose input stage and neurons can be chosen


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise HebbtorchError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def build_model(name: str, num_steps: int | None = None, hidden: int | None = None,
                **options) -> nn.Module:
    """Build a named model; ``num_steps`` defaults to the model's own (128 for the seed)."""
    spec = get_spec(name)
    if options.get("encoder") and name not in ENCODED:
        raise HebbtorchError(f"model {name!r} has a fixed input stage; --encoder applies to "
                             f"{', '.join(ENCODED)}")
    if options.get("neuron") and name not in ENCODED:
        raise HebbtorchError(f"model {name!r} has fixed neurons; --neuron applies to "
                             f"{', '.join(ENCODED)}")
    steps = spec.default_steps if num_steps is None else int(num_steps)
    if steps < 1:
        raise HebbtorchError(f"time steps must be >= 1, got {steps}")
    if hidden is not None and hidden < 1:
        raise HebbtorchError(f"hidden size must be >= 1, got {hidden}")
    return spec.build(steps, hidden, options)
