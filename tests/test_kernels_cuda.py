"""The Triton LIF, ALIF and refractory kernels (CUDA) against the reference loops on the same GPU:
spikes equal, gradients within 1e-5 relative in fp32. Skipped without CUDA and Triton (CI has
neither); run on a lent GPU by ``bench/gpu_check.sh``."""

from __future__ import annotations

import itertools

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu, finite
from hebbtorch.neurons.alif import ALIF, ALIFParameters, ALIFState, alif_sequence
from hebbtorch.neurons.lif import LIF, LIFParameters, LIFState, lif_sequence
from hebbtorch.neurons.refractory import (
    RefractoryParameters,
    RefractoryState,
    refractory_sequence,
)
from hebbtorch.neurons.surrogate import SURROGATES

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or not cpu.triton_available(),
                       reason="needs CUDA and Triton"),
]

RTOL = 1e-5  # the bar for fp32 gradients
DEV = "cuda"


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


def run(backend: str, x: torch.Tensor, p: LIFParameters, v0: torch.Tensor | None, seed: int,
        plain_sum: bool):
    """Forward on ``backend``, backprop a random mix of all outputs (or their plain sum: grads
    broadcast over time); returns (output, grads wrt x, beta, threshold, v0)."""
    xi = x.detach().clone().requires_grad_()
    leaves = [xi] + [t for t in (p.beta, p.threshold) if isinstance(t, torch.Tensor)]
    state = None
    if v0 is not None:
        state = LIFState(v0.detach().clone().requires_grad_(), torch.zeros_like(v0))
        leaves.append(state.v)
    out = lif_sequence(xi, p, state, backend=backend)
    g = torch.Generator(device=DEV).manual_seed(seed)
    ws = [1.0 if plain_sum else torch.randn(t.shape, generator=g, device=DEV, dtype=t.dtype)
          for t in (out.spikes, out.v)]
    loss = (out.spikes * ws[0]).sum() + 0.1 * (out.v * ws[1]).sum() + out.state.v.sum()
    return out, torch.autograd.grad(loss, leaves)


def check(x, p, v0=None, seed=0, plain_sum=False, rtol=RTOL):
    ref, g_ref = run("reference", x, p, v0, seed, plain_sum)
    fused, g_fused = run("fused", x, p, v0, seed, plain_sum)
    assert "hebbtorch_lif_forward" in type(fused.spikes.grad_fn).__name__
    assert torch.equal(ref.spikes, fused.spikes)
    assert torch.equal(ref.v, fused.v)
    assert torch.equal(ref.state.v, fused.state.v)
    for a, b in zip(g_fused, g_ref, strict=True):
        assert torch.isfinite(a).all()
        assert rel(a, b) < rtol, rel(a, b)


@pytest.mark.parametrize(("reset", "refractory", "surrogate"), list(itertools.product(
    ("subtract", "zero"), (0, 3), sorted(SURROGATES))))
def test_matches_reference(reset, refractory, surrogate):
    g = torch.Generator(device=DEV).manual_seed(1)
    x = torch.randn(37, 3, 70, generator=g, device=DEV) * 0.7 + 0.35
    beta = (torch.rand(70, generator=g, device=DEV) * 0.4 + 0.6).requires_grad_()
    thr = (torch.rand(70, generator=g, device=DEV) + 0.5).requires_grad_()
    v0 = torch.randn(3, 70, generator=g, device=DEV) * 0.3
    p = LIFParameters(beta=beta, threshold=thr, reset=reset, refractory_steps=refractory,
                      surrogate=surrogate, slope=3.0)
    check(x, p, v0)
    check(x, p._replace(detach_reset=True), plain_sum=True)


@pytest.mark.parametrize("prefetch", [False, True])
@pytest.mark.parametrize("config", [(32, 1, 1), (64, 2, 1), (128, 4, 1), (128, 8, 1),
                                    (256, 16, 2), (512, 8, 4), (128, 32, 1)])
def test_every_launch_shape(config, prefetch):
    """Every launch shape a benchmark may pick: ragged blocks, T not a multiple of unroll, the
    forward with and without prefetching the next tile."""
    from hebbtorch.kernels import lif_triton

    old = lif_triton.set_config(lif_triton.Config(*config, backward_unroll=config[1],
                                                  prefetch=prefetch))
    try:
        x = torch.randn(53, 5, 131, device=DEV) * 0.8 + 0.3
        check(x, LIFParameters(beta=0.85, refractory_steps=2), torch.randn(5, 131, device=DEV))
        check(x[:3], LIFParameters(beta=0.9, reset="zero"))
    finally:
        lif_triton.set_config(old)


def test_float64_and_gradcheck_tolerance():
    x = torch.randn(20, 2, 33, device=DEV, dtype=torch.float64) + 0.3
    check(x, LIFParameters(beta=torch.full((33,), 0.9, device=DEV, dtype=torch.float64,
                                           requires_grad=True)), rtol=1e-12)


def test_bf16_currents_keep_fp32_state():
    """bf16 currents (bf16 matmuls) run the neuron in fp32: the same as the reference on the
    upcast currents, with the grad returned in bf16."""
    x = (torch.randn(40, 4, 96, device=DEV) + 0.3).to(torch.bfloat16).requires_grad_()
    out = lif_sequence(x, LIFParameters(beta=0.9), backend="fused")
    assert out.spikes.dtype == out.v.dtype == torch.float32
    x32 = x.detach().float().requires_grad_()
    ref = lif_sequence(x32, LIFParameters(beta=0.9), backend="reference")
    assert torch.equal(out.spikes, ref.spikes) and torch.equal(out.v, ref.v)
    (out.spikes.sum() + out.v.sum()).backward()
    (ref.spikes.sum() + ref.v.sum()).backward()
    assert x.grad.dtype == torch.bfloat16
    assert rel(x.grad, x32.grad) < 1e-2  # bf16 rounding of a gradient equal to 1e-5


NEURONS = {  # one fused call of each neuron
    "lif": lambda x: lif_sequence(x, LIFParameters(beta=0.9), backend="fused").spikes,
    "alif": lambda x: alif_sequence(x, ALIFParameters(), backend="fused").spikes,
    "refractory": lambda x: refractory_sequence(x, RefractoryParameters(),
                                                backend="fused").out,
}


@pytest.mark.parametrize("neuron", sorted(NEURONS))
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_input_is_an_error(neuron, bad, monkeypatch):
    """NaN / inf currents raise: by default after the call (at the next fused call, or in
    raise_pending), with HEBBTORCH_SYNC_CHECKS=1 at the call."""
    call = NEURONS[neuron]
    finite.raise_pending()
    x = torch.randn(10, 2, 8, device=DEV)
    x[4, 1, 3] = bad
    call(x)  # returns: the kernel's count is read later
    with pytest.raises(HebbtorchError, match=f"1 NaN or infinite value.*{neuron}_forward #"):
        finite.raise_pending()
    finite.raise_pending()  # reported once
    call(x)
    torch.cuda.synchronize()
    with pytest.raises(HebbtorchError, match="1 NaN"):
        call(x.abs().nan_to_num(0.0, 0.0))  # the next call reports the finished one
    finite.raise_pending()  # the good call
    monkeypatch.setenv("HEBBTORCH_SYNC_CHECKS", "1")
    with pytest.raises(HebbtorchError, match="^currents contains 1 NaN"):
        call(x)
    assert not finite._pending


def test_fused_calls_do_not_synchronise():
    """Forward and backward of each fused neuron queue their work without waiting for the GPU
    (torch's sync debug mode raises on any synchronising call): the host stays ahead of the
    device, as SpikingJelly's does."""
    x = torch.randn(20, 4, 64, device=DEV, requires_grad=True)
    modules = [LIF(0.9).to(DEV), ALIF(0.9, 0.95).to(DEV),
               lambda c: refractory_sequence(c, RefractoryParameters(binary=True))]
    for m in modules:  # warm-up: compiles, fills the scalar cache
        out = m(x)
        out[0].sum().backward()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for m in modules:
            out = m(x)
            out[0].sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    finite.raise_pending()


def test_module_picks_triton_on_cuda_and_opcheck():
    from hebbtorch.kernels.lif import lif_forward

    lif = LIF(0.9, learn_beta=True, shape=(16,)).to(DEV)
    out = lif(torch.randn(12, 3, 16, device=DEV, requires_grad=True))
    assert "hebbtorch_lif_forward" in type(out.spikes.grad_fn).__name__
    # a module left on the CPU holds 0-dim tensors: scalars, as in torch's own ops
    out = LIF(0.9)(torch.randn(12, 3, 16, device=DEV, requires_grad=True))
    assert "hebbtorch_lif_forward" in type(out.spikes.grad_fn).__name__
    args = (torch.randn(6, 16, device=DEV), torch.full((16,), 0.9, device=DEV),
            torch.ones(16, device=DEV), torch.zeros(16, device=DEV), torch.zeros(16, device=DEV),
            0, 0, 0, 0.9, False)
    torch.library.opcheck(lif_forward, args)


def test_poisoned_outputs_are_all_written():
    """Every output element is written (outputs poisoned with NaN before the launch)."""
    from hebbtorch.kernels import lif_triton

    T, M = 29, 1000
    x = torch.randn(T, M, device=DEV)
    z = torch.zeros(M, device=DEV)
    spikes = torch.full((T, M), float("nan"), device=DEV)
    h = torch.full_like(spikes, float("nan"))
    v = z.clone()
    lif_triton.forward(x, z + 0.9, z + 1.0, v, z.clone(), 0, 0, spikes, h,
                       torch.empty(0, dtype=torch.uint8, device=DEV))
    assert torch.isfinite(spikes).all() and torch.isfinite(h).all()
    d = torch.full_like(x, float("nan"))
    dv0 = torch.full_like(z, float("nan"))
    lif_triton.backward(h, torch.empty(0, dtype=torch.uint8, device=DEV), torch.randn_like(x), M,
                        torch.zeros_like(z), 0, z, z, z + 0.9, z + 1.0, 0, 0, 1.0, False, d, dv0,
                        z.new_empty(0), z.new_empty(0))
    assert torch.isfinite(d).all() and torch.isfinite(dv0).all()


@pytest.mark.parametrize(("binary", "surrogate"), [(False, "fast_sigmoid"), *(
    (True, s) for s in sorted(SURROGATES))])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_refractory_matches_reference(binary, surrogate, dtype):
    """The seed's neuron: identical outputs (one step late), gradients within 1e-5."""
    g = torch.Generator(device=DEV).manual_seed(2)
    x = torch.randn(45, 4, 60, generator=g, device=DEV, dtype=dtype) * 0.8 + 0.4
    s0 = RefractoryState(torch.randn(4, 60, generator=g, device=DEV, dtype=dtype) * 0.3,
                         torch.rand(4, 60, generator=g, device=DEV, dtype=dtype))
    p = RefractoryParameters(binary=binary, surrogate=surrogate, slope=2.0)
    results = []
    for backend in ("reference", "fused"):
        xi = x.clone().requires_grad_()
        si = RefractoryState(*(t.clone().requires_grad_() for t in s0))
        out = refractory_sequence(xi, p, si, backend=backend)
        w = torch.randn(out.out.shape, generator=torch.Generator(device=DEV).manual_seed(3),
                        device=DEV, dtype=dtype)
        loss = (out.out * w).sum() + 0.3 * out.inner.sum() + out.state.inner.sum() \
            + out.state.out.sum()
        results.append((out, torch.autograd.grad(loss, [xi, *si])))
    (ref, g_ref), (fused, g_fused) = results
    assert "hebbtorch_refractory_forward" in type(fused.out.grad_fn).__name__
    for a, b in zip((*fused[:2], *fused.state), (*ref[:2], *ref.state), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(g_fused, g_ref, strict=True):
        assert rel(a, b) < (1e-12 if dtype == torch.float64 else RTOL)


def test_refractory_16_bit_currents_run_in_fp32():
    x = torch.randn(5, 2, 3, device=DEV, dtype=torch.bfloat16)
    out = refractory_sequence(x, RefractoryParameters(), backend="fused")
    ref = refractory_sequence(x.float(), RefractoryParameters(), backend="fused")
    assert out.out.dtype == torch.float32 and torch.equal(out.out, ref.out)


def check_alif(x: torch.Tensor, p: ALIFParameters, seed: int = 0) -> None:
    """ALIF fused vs reference from a random state: every output equal, grads wrt the currents
    and the initial state (of a random mix of all outputs) within RTOL (1e-12 in fp64)."""
    g = torch.Generator(device=DEV).manual_seed(seed)
    shape = x.shape[1:]
    state = [torch.rand(shape, generator=g, device=DEV, dtype=x.dtype),
             torch.rand(shape, generator=g, device=DEV, dtype=x.dtype) * 0.3,
             (torch.rand(shape, generator=g, device=DEV) > 0.5).to(x.dtype)]
    results = []
    for backend in ("reference", "fused"):
        xi = x.clone().requires_grad_()
        s0 = ALIFState(*(t.clone().requires_grad_() for t in state))
        out = alif_sequence(xi, p, s0, backend=backend)
        w = torch.Generator(device=DEV).manual_seed(seed + 1)
        loss = sum((y * torch.randn(y.shape, generator=w, device=DEV, dtype=x.dtype)).sum()
                   for y in (out.spikes, out.v, out.threshold, *out.state))
        results.append((out, torch.autograd.grad(loss, [xi, *s0])))
    (ref, g_ref), (fused, g_fused) = results
    assert "hebbtorch_alif_forward" in type(fused.spikes.grad_fn).__name__
    assert 0.05 < ref.spikes.mean() < 0.6
    for a, b in zip((fused.spikes, fused.v, fused.threshold, *fused.state),
                    (ref.spikes, ref.v, ref.threshold, *ref.state), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(g_fused, g_ref, strict=True):
        assert rel(a, b) < (1e-12 if x.dtype == torch.float64 else RTOL), rel(a, b)


@pytest.mark.parametrize(("reset", "surrogate", "detach"), list(itertools.product(
    ("subtract", "zero"), sorted(SURROGATES), (False, True))))
def test_alif_matches_reference(reset, surrogate, detach):
    g = torch.Generator(device=DEV).manual_seed(4)
    x = torch.randn(37, 3, 70, generator=g, device=DEV) * 0.8 + 0.3
    rho = torch.rand(70, generator=g, device=DEV) * 0.2 + 0.8
    check_alif(x, ALIFParameters(beta=0.9, rho=rho, threshold=0.8, reset=reset,
                                 surrogate=surrogate, slope=3.0, detach_reset=detach))


@pytest.mark.parametrize("config", [(32, 1, 1), (128, 8, 1), (512, 8, 4), (128, 32, 1)])
def test_alif_launch_shapes_and_float64(config):
    """Ragged blocks, T not a multiple of the unroll (the backward uses the forward's)."""
    from hebbtorch.kernels import lif_triton

    old = lif_triton.set_config(lif_triton.Config(*config))
    try:
        x = torch.randn(53, 5, 131, device=DEV) * 0.8 + 0.3
        check_alif(x, ALIFParameters(beta=0.85, rho=0.95, adapt_scale=1.2))
        check_alif(x[:3].double(), ALIFParameters(rho=0.9, reset="zero", surrogate="arctan"))
    finally:
        lif_triton.set_config(old)


def test_alif_module_picks_triton_on_cuda_reference_switch_and_opcheck(monkeypatch):
    from hebbtorch.kernels.alif import alif_forward

    x = torch.randn(12, 3, 16, device=DEV, requires_grad=True)
    assert "hebbtorch_alif_forward" in type(ALIF(0.9, 0.95)(x).spikes.grad_fn).__name__
    monkeypatch.setenv("HEBBTORCH_BACKEND", "reference")
    assert "hebbtorch" not in type(ALIF(0.9, 0.95)(x).spikes.grad_fn).__name__
    rho = torch.full((16,), 0.95, device=DEV)
    state = [torch.zeros(16, device=DEV, requires_grad=True) for _ in range(3)]
    args = (torch.randn(6, 16, device=DEV, requires_grad=True), torch.full((16,), 0.9, device=DEV),
            rho, 1 - rho, torch.ones(16, device=DEV), 1.8, *state, 0, 0, 25.0, False)
    torch.library.opcheck(alif_forward, args)


def test_alif_16_bit_currents_run_in_fp32():
    x = torch.randn(5, 2, 3, device=DEV, dtype=torch.bfloat16)
    out = alif_sequence(x, ALIFParameters(), backend="fused")
    ref = alif_sequence(x.float(), ALIFParameters(), backend="fused")
    assert out.spikes.dtype == torch.float32 and torch.equal(out.spikes, ref.spikes)
