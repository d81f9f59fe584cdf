"""Any neuron in any network: the builders, the model registry, ``hebbtorch train --neuron`` and
NIR export with LIF, ALIF and the seed's refractory neuron."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.interop.nir import to_nir
from hebbtorch.networks import build_model, spiking_convnet, spiking_mlp
from hebbtorch.neurons import (
    NEURONS,
    ALIFParameters,
    LIFParameters,
    RefractoryParameters,
    alif_sequence,
    lif_sequence,
    make_neuron,
    refractory_sequence,
)

KINDS = {"lif": LIFParameters, "alif": ALIFParameters, "seed": RefractoryParameters}


def own_sequence(currents: torch.Tensor, p) -> tuple[torch.Tensor, torch.Tensor]:
    """The neuron's own sequence function: (output to the next layer, membrane)."""
    if isinstance(p, LIFParameters):
        out = lif_sequence(currents, p, backend="reference")
        return out.spikes, out.v
    if isinstance(p, ALIFParameters):
        out = alif_sequence(currents, p, backend="reference")
        return out.spikes, out.v
    out = refractory_sequence(currents, p, backend="reference")
    return out.out, out.inner


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_mlp_hidden_layer_is_the_chosen_neuron(name):
    p = make_neuron(name, beta=0.8, threshold=0.5)
    assert type(p) is KINDS[name]
    torch.manual_seed(0)
    net = spiking_mlp((12, 9, 3), 6, neuron=p)
    x = torch.rand(4, 12)
    rec = net.record(x).values
    current = net.stages[0](x).unsqueeze(0).expand(6, 4, 9)  # direct current: same every step
    out, v = own_sequence(current, p)
    assert torch.equal(rec["layer1.spikes"], out)
    assert torch.equal(rec["layer1.v"], v)
    assert 0 < float((out > 0).float().mean()) < 1  # the layer is neither silent nor saturated
    net(x).sum().backward()  # surrogate gradients reach the synapses
    assert float(net.stages[0].weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_convnet_and_registry_take_any_neuron(name):
    net = spiking_convnet((2,), hidden=5, num_steps=2, neuron=make_neuron(name))
    assert net(torch.rand(2, 28, 28)).shape == (2, 10)
    model = build_model("lif-mlp", 3, 8, neuron=name)
    assert type(model.neuron) is KINDS[name] and model.neuron_name == name
    assert build_model("lif-conv", 2, 8, neuron=name, channels=2).neuron_name == name
    assert build_model("lif-mlp", 3, 8).neuron_name == "lif"  # the default


def test_neuron_errors_are_one_line():
    with pytest.raises(HebbtorchError, match="unknown neuron 'izhikevich'"):
        make_neuron("izhikevich")
    with pytest.raises(HebbtorchError, match="fixed neurons"):
        build_model("seed-snn", neuron="alif")
    with pytest.raises(HebbtorchError, match="beta"):
        make_neuron("alif", beta=1.5)
    with pytest.raises(HebbtorchError, match="not both"):
        spiking_mlp((4, 3, 2), 2, lif=LIFParameters(), neuron=make_neuron("alif"))
    with pytest.raises(HebbtorchError, match="no neuron model takes dict"):
        spiking_mlp((4, 3, 2), 2, neuron={"beta": 0.9})
    with pytest.raises(HebbtorchError, match="not LIF"):
        _ = spiking_mlp((4, 3, 2), 2, neuron=make_neuron("seed")).lif


@pytest.mark.parametrize("name, words", [("alif", "adaptive threshold"),
                                         ("seed", "refractory ReLU-spike")])
def test_nir_export_names_the_missing_node(name, words):
    pytest.importorskip("nir")
    with pytest.raises(HebbtorchError, match=f"NIR has no node for .*{words}"):
        to_nir(spiking_mlp((4, 3, 2), 2, neuron=make_neuron(name)))


def test_cli_trains_an_alif_mlp_on_mnist5k(capsys, tmp_path):
    out = tmp_path / "alif"
    code = main(["train", "--model", "lif-mlp", "--neuron", "alif", "--dataset", "mnist-5k",
                 "--steps", "4", "--hidden", "16", "--epochs", "1", "--batch-size", "50",
                 "--train-images", "200", "--test-images", "100", "--quiet", "--device", "cpu",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model_options"]["neuron"] == "alif"  # kept for --resume
    final = metrics["final"]
    assert math.isfinite(final["train_loss"]) and 0 <= final["test_accuracy"] <= 1


def test_cli_rejects_an_unknown_neuron(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["train", "--neuron", "hh", "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "--neuron" in capsys.readouterr().err.strip().splitlines()[-1]
