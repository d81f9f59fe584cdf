"""NIR export / import: round trip, snnTorch and Norse cross-checks, clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.networks import SpikingNet, spiking_convnet, spiking_mlp
from hebbtorch.networks.builders import _time_distributed
from hebbtorch.neurons.lif import LIFParameters, lif_sequence

nir = pytest.importorskip("nir")
from hebbtorch import interop  # noqa: E402  (the public API, imported once nir is there)


def _assert_same_records(m, m2, x: torch.Tensor) -> None:
    """Every recorded tensor of the two networks on ``x`` equal (and some spikes in layer 1)."""
    r1, r2 = m.record(x), m2.record(x)
    assert r1.values["layer1.spikes"].sum() > 0
    for k in r1.values:
        assert torch.equal(r1.values[k], r2.values[k]), k


def _mlp(reset: str, beta: float = 0.8):
    torch.manual_seed(0)
    return spiking_mlp((20, 30, 30, 5), 12, lif=LIFParameters(beta=beta, threshold=0.7,
                                                              reset=reset))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_round_trip_same_spikes(tmp_path, reset):
    m = _mlp(reset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interop.export_nir(m, tmp_path / "net.nir")
    m2 = interop.import_nir(tmp_path / "net.nir")
    assert m2.lif.reset == reset and m2.num_steps == 12
    x = torch.rand(6, 4, 5) * 3
    _assert_same_records(m, m2, x)
    torch.testing.assert_close(m(x), m2(x))


def test_beta_tau_mapping():
    assert interop.beta_to_tau(0.9, 1.0) == pytest.approx(10.0)  # ms
    assert interop.tau_to_beta(interop.beta_to_tau(0.75, 0.1), 0.1) == pytest.approx(0.75)
    g = interop.to_nir(_mlp("zero"), dt=1.0)  # 1 ms steps: NIR's tau and dt in seconds
    lif = g.nodes["lif1"]
    assert g.metadata["dt"] == pytest.approx(1e-3)
    assert float(lif.tau[0]) == pytest.approx(1e-3 / 0.2)
    assert float(lif.r[0]) == pytest.approx(float(lif.tau[0]) / 1e-3)
    back = interop.from_nir(g)  # dt from the metadata (s) -> the same beta
    assert float(back.neuron.beta) == pytest.approx(0.8)
    assert float(interop.from_nir(g, dt=1.0).neuron.beta) == pytest.approx(0.8)
    assert float(lif.v_threshold[0]) == pytest.approx(0.7)
    assert isinstance(g.nodes["readout"], nir.LI)


def test_dt_is_in_milliseconds():
    """A step given in seconds (the old unit) is refused, naming the ms value meant."""
    with pytest.raises(HebbtorchError, match=r"dt is in milliseconds.*dt=0\.1 for 0\.0001 s"):
        interop.to_nir(_mlp("zero"), dt=1e-4)
    with pytest.raises(HebbtorchError, match="milliseconds"):
        interop.from_nir(interop.to_nir(_mlp("zero")), dt=1e-3)
    assert interop.to_nir(_mlp("zero")).metadata["dt"] == 1e-4  # default 0.1 ms, written in seconds


def test_input_scale_folded_into_weights():
    g = interop.to_nir(_mlp("zero"))
    for k in ("lif1", "lif2"):
        g.nodes[k].r = g.nodes[k].r * 2.0  # doubles the input current
    m2 = interop.from_nir(g)
    ref = _mlp("zero")
    torch.testing.assert_close(m2.stages[0].weight, 2.0 * ref.stages[0].weight)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_unsupported_models_raise():
    with pytest.raises(HebbtorchError, match="refractory ReLU-spike"):
        interop.to_nir(SpikingNet(4))
    with pytest.raises(HebbtorchError, match="max-pooling"):
        interop.to_nir(spiking_convnet((4,), hidden=8, num_steps=2), (1, 28, 28))
    with pytest.raises(HebbtorchError, match="refractory"):
        interop.to_nir(spiking_mlp((4, 3, 2), 2,
                                   lif=LIFParameters(refractory_steps=2, reset="zero")))


def test_conv_avgpool_round_trip():
    from torch import nn

    from hebbtorch.networks.builders import SpikingSequential

    torch.manual_seed(1)
    stages = [nn.Conv2d(1, 3, 3, padding=1),
              nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))]
    m = SpikingSequential(stages, 5, LIFParameters(beta=0.7, threshold=0.3, reset="zero"))
    m2 = interop.from_nir(interop.to_nir(m, (1, 8, 8)))
    x = torch.rand(3, 1, 8, 8)
    _assert_same_records(m, m2, x)


def _readout_currents(m, x: torch.Tensor) -> torch.Tensor:
    """hebbtorch's readout currents ``[time, batch, out]`` of a one-hidden-layer LIF MLP (what a
    graph exported with ``readout=False`` outputs per step)."""
    out = lif_sequence(m.stages[0](x).unsqueeze(0).expand(m.num_steps, *x.shape[:-1], -1),
                       m.lif)
    assert out.spikes.sum() > 0
    return _time_distributed(m.stages[1], out.spikes).detach()


def _cross_check_mlp():
    torch.manual_seed(0)
    return spiking_mlp((20, 30, 5), 10, lif=LIFParameters(beta=0.8, threshold=0.7, reset="zero"))


def test_snntorch_import_gives_same_outputs():
    pytest.importorskip("snntorch")
    from snntorch import utils as snn_utils
    from snntorch.import_nir import import_from_nir

    m = _cross_check_mlp()
    net = import_from_nir(interop.to_nir(m, readout=False))  # snnTorch has no LI node
    x = torch.rand(4, 20) * 2
    ref = _readout_currents(m, x)
    snn_utils.reset(net)
    ys = []
    with torch.no_grad():
        for _ in range(10):
            y = net(x)
            ys.append(y[0] if isinstance(y, tuple) else y)
    torch.testing.assert_close(torch.stack(ys), ref)


@pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning")
def test_norse_import_gives_same_outputs():
    pytest.importorskip("norse")
    import norse.torch as norse

    m = _cross_check_mlp()
    # Norse 1.1 maps no LI node (its importer silently drops it)
    g = interop.to_nir(m, readout=False)
    # Norse ignores LIF.r (it logs a warning): write the same dynamics with r = 1 and the gain
    # folded into the preceding Affine (tau dv/dt = -v + r (W x + b))
    r = g.nodes["lif1"].r
    g.nodes["stage0.0"].weight = g.nodes["stage0.0"].weight * r[:, None]
    g.nodes["stage0.0"].bias = g.nodes["stage0.0"].bias * r
    g.nodes["lif1"].r = np.ones_like(r)
    net = norse.from_nir(g, dt=g.metadata["dt"])
    x = torch.rand(8, 20) * 2
    state, ys = None, []
    with torch.no_grad():
        for _ in range(m.num_steps):
            y, state = net(x, state)
            ys.append(y)
    torch.testing.assert_close(torch.stack(ys), _readout_currents(m, x))


def test_export_nir_cli(tmp_path):
    from hebbtorch.cli.main import main
    from hebbtorch.learning.bptt import train
    from hebbtorch.learning.config import TrainConfig

    g = torch.Generator().manual_seed(0)
    data = (torch.randint(0, 256, (32, 28, 28), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (32,), generator=g),
            torch.randint(0, 256, (8, 28, 28), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (8,), generator=g))
    cfg = TrainConfig(model="lif-mlp", hidden=16, num_steps=3, epochs=1, batch_size=16,
                      schedule="constant", device="cpu")
    train(cfg, tmp_path / "run", quiet=True, data=data)
    out = tmp_path / "net.nir"
    assert main(["export-nir", "--run", str(tmp_path / "run"), "--out", str(out)]) == 0
    m2 = interop.import_nir(out)
    from hebbtorch.learning.bptt import load_trained

    m1, _ = load_trained(tmp_path / "run")
    x = data[2][:4].float() / 255
    torch.testing.assert_close(m1(x), m2(x))
