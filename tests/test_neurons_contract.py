"""The contracts every neuron keeps: the dtype rule (16-bit currents -> float32 state and outputs,
fp32/fp64 kept) on the reference and fused paths, and the time-first layout (a ``[batch, time]``
tensor is refused, not run as ``[time, batch]``, where the module knows its steps)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hebbtorch import neurons as nr
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import build
from hebbtorch.networks import spiking_mlp

NEURONS = {  # name -> (sequence function, parameters, index of the output the next layer gets)
    "lif": (nr.lif_sequence, nr.LIFParameters(0.8, 0.7), 0),
    "alif": (nr.alif_sequence, nr.ALIFParameters(0.8, 0.9, 0.7), 0),
    "seed": (nr.refractory_sequence, nr.RefractoryParameters(0.8, 0.7), 1),
    "seed-binary": (nr.refractory_sequence, nr.RefractoryParameters(0.8, 0.7, binary=True), 1),
}
EXPECTED = {torch.float16: torch.float32, torch.bfloat16: torch.float32,
            torch.float32: torch.float32, torch.float64: torch.float64}


def _backends() -> list[str]:
    return ["reference", "fused"] if build.compiler_available() else ["reference"]


def _currents(dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(12, 3, 5, generator=g) * 1.5).to(dtype)


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("dtype", list(EXPECTED))
@pytest.mark.parametrize("name", list(NEURONS))
def test_output_dtype_follows_the_contract(name, dtype, backend):
    run, p, k = NEURONS[name]
    x = _currents(dtype).requires_grad_()
    out = run(x, p, backend=backend)
    tensors = [t for t in (*out[:-1], *out.state)]
    assert {t.dtype for t in tensors} == {EXPECTED[dtype]}, (name, dtype, backend)
    # 16-bit currents are integrated exactly as their fp32 values: same result as casting first
    ref = run(x.detach().to(EXPECTED[dtype]), p, backend="reference")
    for a, b in zip(out[:-1], ref[:-1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert torch.equal(out[k] > 0, ref[k] > 0)  # the same neurons fire at the same steps
    out[k].sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype  # the gradient in the input's dtype


@pytest.mark.parametrize("dtype", list(EXPECTED))
def test_li_readout_dtype(dtype):
    v = nr.li_sequence(_currents(dtype), nr.LIParameters(0.9))
    assert v.dtype == EXPECTED[dtype]


def test_fused_and_reference_agree_on_16_bit_input():
    if not build.compiler_available():
        pytest.skip("no C++ compiler for the fused kernels")
    for run, p, _ in NEURONS.values():
        x = _currents(torch.bfloat16, seed=3)
        a, b = run(x, p, backend="fused"), run(x, p, backend="reference")
        for u, w in zip(a[:-1], b[:-1], strict=True):
            torch.testing.assert_close(u, w, rtol=1e-5, atol=1e-5)


MODULES = {
    "lif": lambda **kw: nr.LIF(0.8, threshold=0.7, **kw),
    "alif": lambda **kw: nr.ALIF(0.8, 0.9, threshold=0.7, **kw),
    "seed": lambda **kw: nr.RefractoryNeuron(0.8, 0.7, **kw),
    "li": lambda **kw: nr.LI(0.8, **kw),
}


def _first(out):
    return out if isinstance(out, torch.Tensor) else out[0]


@pytest.mark.parametrize("name", list(MODULES))
def test_batch_first_input_is_refused_naming_the_transposition(name):
    make = MODULES[name]
    x = _currents(torch.float32)  # [time 12, batch 3, 5]
    assert _first(make(steps=12)(x)).shape == x.shape
    with pytest.raises(HebbtorchError, match=r"steps are on dim 1, transpose it") as e:
        make(steps=12)(x.transpose(0, 1))
    assert "\n" not in str(e.value)
    with pytest.raises(HebbtorchError, match="with 7 time steps, got shape"):
        make(steps=7)(x)  # neither dimension holds the steps: no transposition to suggest


@pytest.mark.parametrize("name", list(MODULES))
def test_time_first_false_takes_and_returns_batch_first(name):
    make = MODULES[name]
    x = _currents(torch.float64)
    ref = make()(x)
    out = make(time_first=False, steps=12)(x.transpose(0, 1).contiguous())
    if isinstance(ref, torch.Tensor):
        assert torch.equal(out, ref.transpose(0, 1))
    else:
        for f in ref._fields:
            if f != "state":
                assert torch.equal(getattr(out, f), getattr(ref, f).transpose(0, 1))
    with pytest.raises(HebbtorchError, match="time_first=True"):
        make(time_first=False, steps=12)(x)  # time-first input to a batch-first module


@pytest.mark.parametrize("kw", [dict(steps=0), dict(steps=2.5), dict(time_first="no")])
def test_bad_layout_arguments(kw):
    with pytest.raises(HebbtorchError):
        nr.LIF(0.9, **kw)


class _BatchFirst(nn.Module):
    """A custom encoder that gets the layout wrong: ``[batch, time, ...]``."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def forward(self, x, generator=None):
        return x.unsqueeze(1).expand(x.shape[0], self.steps, *x.shape[1:])


def test_network_refuses_a_batch_first_encoder():
    net = spiking_mlp((16, 8, 3), num_steps=5, encoder=_BatchFirst(5))
    with pytest.raises(HebbtorchError, match="dim 1 has the 5 steps.*time first"):
        net(torch.rand(4, 4, 4))
    net = spiking_mlp((16, 8, 3), num_steps=5, encoder=_BatchFirst(6))
    with pytest.raises(HebbtorchError, match="with 5 time steps and 4 samples"):
        net(torch.rand(4, 4, 4))
