"""Networks: the seed's SpikingNet against an inline re-implementation of its loop, builders,
ANN twins and the model registry."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.networks import (
    MODELS,
    NonSpikingNet,
    SpikingNet,
    ann_convnet,
    ann_mlp,
    build_model,
    get_spec,
    is_spiking,
    spiking_convnet,
    spiking_mlp,
)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def seed_loop(net: SpikingNet, x: torch.Tensor, g: torch.Generator):
    """Chevalier's forward written out: per step a fresh mask, layer 1, layer 2 fed layer 1's
    delayed output, each layer returning its previous (inner, out)."""
    x = x.flatten(1) - 0.5
    B = x.shape[0]
    in1 = torch.zeros(B, net.fc1.out_features)
    out1 = torch.zeros_like(in1)
    in2 = torch.zeros(B, net.fc2.out_features)
    out2 = torch.zeros_like(in2)
    inners2, outs1 = [], []
    for _ in range(net.num_steps):
        xi = torch.rand(x.shape, generator=g) * x
        # layer 1
        prev_out1 = out1
        in1 = net.fc1(xi) + 0.9 * in1
        out1 = F.relu(in1 - 1.0)
        in1 = in1 - 1.5 * in1 * (out1 > 0).float()
        # layer 2, input = layer 1's previous output
        prev_in2 = in2
        in2 = net.fc2(prev_out1) + 0.9 * in2
        out2 = F.relu(in2 - 1.0)
        in2 = in2 - 1.5 * in2 * (out2 > 0).float()
        inners2.append(prev_in2)
        outs1.append(prev_out1)
    return torch.stack(inners2).mean(0), torch.stack(outs1)


def test_spiking_net_matches_seed_loop():
    torch.manual_seed(0)
    net = SpikingNet(num_steps=6, n_in=12, n_hidden=7, n_out=4)
    with torch.no_grad():  # strong weights, so neurons of both layers fire
        net.fc1.weight.mul_(6.0)
        net.fc2.weight.mul_(4.0)
        net.fc2.bias.fill_(0.5)
    x = torch.rand(3, 12)
    logits = net(x, generator=torch.Generator().manual_seed(7))
    expected, outs1 = seed_loop(net, x, torch.Generator().manual_seed(7))
    assert logits.shape == (3, 4)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-6)
    rec = net.record(x, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(rec.values["layer1.out"], outs1, rtol=1e-5, atol=1e-6)
    assert rec.values["layer1.out"].gt(0).any() and rec.values["layer2.out"].gt(0).any()
    assert rec.threshold == 1.0


def test_spiking_net_logits_are_mean_of_delayed_layer2_inner():
    torch.manual_seed(1)
    net = SpikingNet(num_steps=5, n_hidden=8)
    x = torch.rand(2, 1, 28, 28)
    logits = net(x, generator=torch.Generator().manual_seed(3))
    rec = net.record(x, generator=torch.Generator().manual_seed(3))
    assert set(rec.values) == {"layer1.inner", "layer1.out", "layer2.inner", "layer2.out"}
    assert rec.values["layer1.inner"].shape == (5, 2, 8)
    assert rec.values["layer2.inner"].shape == (5, 2, 10)
    torch.testing.assert_close(logits, rec.values["layer2.inner"].mean(0))
    # one-step delay: step 0 returns the zero initial state in both layers
    assert torch.all(rec.values["layer1.inner"][0] == 0)
    assert torch.all(rec.values["layer2.inner"][0] == 0)
    # layer 2 sees layer 1 two steps late: its step-1 inner is only its bias
    torch.testing.assert_close(rec.values["layer2.inner"][1],
                               net.fc2.bias.expand(2, 10).detach() * 1.0)


def test_spiking_net_noise_is_seeded_and_trains():
    torch.manual_seed(0)
    net = SpikingNet(num_steps=4, n_hidden=16)
    with torch.no_grad():  # so layer 1 fires within 4 steps and the noise reaches the logits
        net.fc1.weight.mul_(10.0)
    x = torch.rand(4, 784)
    a = net(x, generator=torch.Generator().manual_seed(5))
    b = net(x, generator=torch.Generator().manual_seed(5))
    c = net(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    F.cross_entropy(a, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.fc1.weight.grad.abs().sum() > 0


def test_spiking_net_binary_outputs_spikes():
    torch.manual_seed(0)
    net = SpikingNet(num_steps=6, n_in=10, n_hidden=12, n_out=3, binary=True)
    with torch.no_grad():
        net.fc1.weight.mul_(8.0)
    rec = net.record(torch.rand(4, 10), generator=torch.Generator().manual_seed(0))
    out1 = rec.values["layer1.out"]
    assert set(out1.unique().tolist()) == {0.0, 1.0}
    logits = net(torch.rand(4, 10), generator=torch.Generator().manual_seed(0))
    logits.sum().backward()
    assert net.fc1.weight.grad.abs().sum() > 0  # surrogate gradient reaches layer 1


def test_non_spiking_net():
    torch.manual_seed(0)
    net = NonSpikingNet(n_hidden=9)
    x = torch.rand(5, 28, 28)
    y = net(x, generator=None)
    torch.testing.assert_close(y, net.fc2(torch.relu(net.fc1(x.flatten(1) - 0.5))))
    assert y.shape == (5, 10)
    assert not is_spiking(net) and is_spiking(SpikingNet(num_steps=2))
    assert n_params(net) == n_params(SpikingNet(num_steps=2, n_hidden=9))


def test_spiking_mlp_shapes_record_and_backward():
    torch.manual_seed(0)
    net = spiking_mlp((20, 16, 12, 5), num_steps=4)
    x = torch.rand(3, 4, 5)  # flattened to 20
    logits = net(x)
    assert logits.shape == (3, 5)
    rec = net.record(x)
    assert set(rec.values) == {"layer1.v", "layer1.spikes", "layer2.v", "layer2.spikes",
                               "readout.v"}
    assert rec.values["layer1.spikes"].shape == (4, 3, 16)
    assert rec.values["layer2.spikes"].shape == (4, 3, 12)
    assert set(rec.values["layer1.spikes"].unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(logits, rec.values["readout.v"].mean(0))
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert n_params(net) == n_params(ann_mlp((20, 16, 12, 5)))
    assert ann_mlp((20, 16, 12, 5))(x).shape == (3, 5)


def test_spiking_mlp_direct_current_is_constant_drive():
    # with direct current and a single hidden layer, layer1.v is the LIF response to fc1(x)
    from hebbtorch.neurons import LIFParameters, lif_sequence

    torch.manual_seed(0)
    net = spiking_mlp((6, 5, 2), num_steps=7)
    x = torch.rand(2, 6)
    rec = net.record(x)
    drive = net.stages[0](x).unsqueeze(0).expand(7, 2, 5)
    ref = lif_sequence(drive, LIFParameters())
    torch.testing.assert_close(rec.values["layer1.v"], ref.v)
    torch.testing.assert_close(rec.values["layer1.spikes"], ref.spikes)


def test_spiking_convnet_and_twin():
    torch.manual_seed(0)
    snn = spiking_convnet(channels=(3, 4), hidden=8, n_out=5, image=8, num_steps=3)
    ann = ann_convnet(channels=(3, 4), hidden=8, n_out=5, image=8)
    x = torch.rand(2, 8, 8)
    y = snn(x)
    assert y.shape == (2, 5) and ann(x).shape == (2, 5)
    assert ann(x.unsqueeze(1)).shape == (2, 5)  # 4-D input accepted too
    y.sum().backward()
    assert all(p.grad is not None for p in snn.parameters())
    assert n_params(snn) == n_params(ann)
    rec = snn.record(x)
    assert rec.values["layer1.spikes"].shape == (3, 2, 3, 8, 8)
    assert rec.values["layer2.spikes"].shape == (3, 2, 4, 4, 4)
    assert rec.values["layer3.spikes"].shape == (3, 2, 8)


def test_spiking_convnet_batch_norm_and_dropout_options():
    torch.manual_seed(0)
    plain = spiking_convnet(channels=(3, 4), hidden=8, n_out=5, image=8, num_steps=3)
    snn = spiking_convnet(channels=(3, 4), hidden=8, n_out=5, image=8, num_steps=3,
                          batch_norm=True, dropout=0.5)
    ann = ann_convnet(channels=(3, 4), hidden=8, n_out=5, image=8, batch_norm=True, dropout=0.5)
    norms = [m for m in snn.modules() if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)]
    assert [m.num_features for m in norms] == [3, 4, 8]
    assert not any(isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)
                   for m in plain.modules())
    # BN's shift replaces the conv / FC(hidden) bias: the twins still match parameter for parameter
    assert n_params(snn) == n_params(ann) == n_params(plain) + 2 * (3 + 4 + 8) - (3 + 4 + 8)
    x = torch.rand(4, 8, 8)
    snn.train()
    y = snn(x)
    assert y.shape == (4, 5) and ann(x).shape == (4, 5)
    y.sum().backward()
    assert all(p.grad is not None for p in snn.parameters())
    # eval mode (running BN statistics, no dropout) is deterministic
    snn.eval()
    torch.testing.assert_close(snn(x), snn(x))
    assert snn.record(x).values["layer3.spikes"].shape == (3, 4, 8)
    # dropout acts only on the FC hidden layer's spikes: with the same weights and batch, every
    # layer spikes the same with and without it, and only the readout differs
    nodrop = spiking_convnet(channels=(3, 4), hidden=8, n_out=5, image=8, num_steps=3,
                             batch_norm=True)
    nodrop.load_state_dict(snn.state_dict())
    nodrop.train()
    torch.manual_seed(2)
    drop_train = snn.train().record(x)
    keep_train = nodrop.record(x)
    for k in ("layer1.spikes", "layer2.spikes", "layer3.spikes"):
        torch.testing.assert_close(drop_train.values[k], keep_train.values[k])
    assert not torch.equal(drop_train.values["readout.v"], keep_train.values["readout.v"])


def test_registry_conv_options():
    plain = build_model("lif-conv", 2, 8)
    assert plain.dropout == 0.0
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    m = build_model("lif-conv", 2, 8, batch_norm=True, dropout=0.3)
    t = build_model("ann-conv", None, 8, batch_norm=True, dropout=0.3)
    assert m.dropout == 0.3 and m.dropout_from == len(m.stages) - 1
    assert sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules()) == 2
    assert n_params(m) == n_params(t)
    assert any(isinstance(x, torch.nn.Dropout) for x in t.modules())
    wide = build_model("lif-conv", 2, 8, channels=(6, 12), batch_norm=True)
    convs = [x for x in wide.modules() if isinstance(x, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [6, 12]
    assert wide(torch.rand(2, 28, 28)).shape == (2, 10)
    assert n_params(wide) == n_params(build_model("ann-conv", None, 8, channels=[6, 12],
                                                  batch_norm=True))
    with pytest.raises(HebbtorchError, match="channels"):
        build_model("lif-conv", 2, 8, channels=(6, 0))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_models_and_twins(name):
    spec = get_spec(name)
    twin = get_spec(spec.twin)
    assert twin.spiking != spec.spiking
    assert get_spec(twin.twin).twin == spec.twin  # seed-snn-binary -> seed-ann -> seed-snn
    steps = 2 if spec.spiking else None
    hidden = 8
    m = build_model(name, steps, hidden)
    t = build_model(spec.twin, 2 if twin.spiking else None, hidden)
    assert n_params(m) == n_params(t)
    assert is_spiking(m) == spec.spiking
    y = m(torch.rand(2, 28, 28), generator=torch.Generator().manual_seed(0))
    assert y.shape == (2, 10)


def test_registry_default_steps():
    assert build_model("seed-snn", hidden=4).num_steps == 128
    assert build_model("lif-mlp", hidden=4).num_steps == 25


def test_build_model_errors():
    with pytest.raises(HebbtorchError, match="unknown model"):
        build_model("resnet-9000")
    with pytest.raises(HebbtorchError):
        build_model("lif-mlp", num_steps=0)
    with pytest.raises(HebbtorchError):
        build_model("seed-ann", hidden=0)
    with pytest.raises(HebbtorchError):
        spiking_mlp((784,))
    with pytest.raises(HebbtorchError):
        spiking_mlp((784, 0, 10))
    with pytest.raises(HebbtorchError):
        spiking_mlp((4, 3, 2), num_steps=0)
