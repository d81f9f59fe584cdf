"""Fused multi-step LIF: one kernel call for the whole time axis, forward and backward.

The physics is :func:`hebbtorch.neurons.lif.lif_step` (Gerstner et al. 2014, eq. 1.5, with
the surrogate gradients of :mod:`hebbtorch.neurons.surrogate`); the kernels repeat its arithmetic
in the same order, so spikes are bit-identical to the reference loop and gradients agree to
rounding. The operators ``hebbtorch::lif_forward`` / ``hebbtorch::lif_backward``: C++ on the CPU
(``lif_cpu.cpp``), Triton on CUDA (:mod:`hebbtorch.kernels.lif_triton`), with fake (meta)
implementations and an autograd formula (checked by ``torch.library.opcheck`` in the tests).

Memory: backward keeps only the membrane before reset ``h`` ``[time, batch, ...]`` (also returned
as ``LIFOutput.v``, so it costs nothing extra when the caller keeps it), plus one byte per
neuron-step for the refractory mask when ``refractory_steps > 0``; spikes and the membrane after
reset are recomputed from ``h``. The reference loop keeps several tensors per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hebbtorch.kernels import cpu, finite, ops
from hebbtorch.neurons.lif import RESETS, LIFOutput, LIFParameters, LIFState

# currents [T, *S]; beta, threshold, v0, refrac0 S; all contiguous, one dtype. Returns (spikes,
# h = membrane before reset, final v, final refrac, refractory mask uint8 [T, *S] or empty when
# refractory_steps == 0). surrogate/slope/detach_reset are only kept for backward. NaN or
# infinite currents are an error (counted inside the kernel: no extra pass over the input).
FORWARD = ("(Tensor currents, Tensor beta, Tensor threshold, Tensor v0, Tensor refrac0, "
           "int reset, int refractory_steps, int surrogate, float slope, bool detach_reset) "
           "-> (Tensor, Tensor, Tensor, Tensor, Tensor)")
# reverse-time pass: (d currents [T, *S] of currents_dtype, d v0, d beta, d threshold S); the
# last two are empty unless asked for. Missing upstream grads count as zero.
BACKWARD = ("(Tensor h, Tensor mask, Tensor? grad_spikes, Tensor? grad_h, Tensor? grad_v, "
            "Tensor v0, Tensor beta, Tensor threshold, int reset, int surrogate, float slope, "
            "bool detach_reset, bool need_beta, bool need_threshold, ScalarType currents_dtype) "
            "-> (Tensor, Tensor, Tensor, Tensor)")


def _forward_cuda(currents, beta, threshold, v0, refrac0, reset, refractory_steps, surrogate,
                  slope, detach_reset):
    from hebbtorch.kernels import lif_triton  # imports Triton: only on the first CUDA call

    spikes = torch.empty(currents.shape, dtype=v0.dtype, device=currents.device)
    h = torch.empty_like(spikes)
    v, refrac = v0.clone(), refrac0.clone()
    mask = currents.new_empty(currents.shape if refractory_steps else (0,), dtype=torch.uint8)
    bad = lif_triton.forward(currents, beta, threshold, v, refrac, reset, refractory_steps,
                             spikes, h, mask)
    finite.check(bad, "hebbtorch::lif_forward")
    return spikes, h, v, refrac, mask


def _forward_fake(currents, beta, threshold, v0, refrac0, reset, refractory_steps, surrogate,
                  slope, detach_reset):
    mask = currents.new_empty(currents.shape if refractory_steps else (0,), dtype=torch.uint8)
    out = currents.new_empty(currents.shape, dtype=v0.dtype)  # the state's dtype (fp32 for bf16)
    return (out, torch.empty_like(out), torch.empty_like(v0),
            torch.empty_like(refrac0), mask)


def _per_neuron_grad(need: bool, v0: Tensor) -> Tensor:
    return torch.empty_like(v0) if need else v0.new_empty(0)


def _backward_cuda(h, mask, grad_spikes, grad_h, grad_v, v0, beta, threshold, reset, surrogate,
                   slope, detach_reset, need_beta, need_threshold, currents_dtype):
    from hebbtorch.kernels import lif_triton

    d_cur = torch.empty(h.shape, dtype=currents_dtype, device=h.device)
    d_v0 = torch.empty_like(v0)
    d_beta, d_thr = _per_neuron_grad(need_beta, v0), _per_neuron_grad(need_threshold, v0)
    (gs, s_gs), (gh, s_gh) = cpu.over_time(grad_spikes, v0), cpu.over_time(grad_h, v0)
    lif_triton.backward(h, mask, gs, s_gs, gh, s_gh, cpu.per_step(grad_v, v0), v0, beta,
                        threshold, reset, surrogate, slope, detach_reset, d_cur, d_v0, d_beta,
                        d_thr)
    return d_cur, d_v0, d_beta, d_thr


def _backward_fake(h, mask, grad_spikes, grad_h, grad_v, v0, beta, threshold, reset, surrogate,
                   slope, detach_reset, need_beta, need_threshold, currents_dtype):
    return (torch.empty_like(h, dtype=currents_dtype), torch.empty_like(v0),
            _per_neuron_grad(need_beta, v0), _per_neuron_grad(need_threshold, v0))


def _setup_context(ctx, inputs, output) -> None:
    _, beta, threshold, v0, _, reset, _, surrogate, slope, detach_reset = inputs
    _, h, _, _, mask = output
    ctx.save_for_backward(h, mask, v0, beta, threshold)
    ctx.config = (reset, surrogate, slope, detach_reset)
    ctx.currents_dtype = inputs[0].dtype
    ctx.set_materialize_grads(False)  # unused outputs: no T x M tensors of zeros


def _grad(ctx, grad_spikes, grad_h, grad_v, _grad_refrac, _grad_mask):
    h, mask, v0, beta, threshold = ctx.saved_tensors
    need = ctx.needs_input_grad
    d_cur, d_v0, d_beta, d_thr = lif_backward(
        h, mask, grad_spikes, grad_h, grad_v, v0, beta, threshold, *ctx.config, need[1], need[2],
        ctx.currents_dtype)
    return (d_cur, d_beta if need[1] else None, d_thr if need[2] else None,
            d_v0 if need[3] else None, None, None, None, None, None, None)


lif_forward, lif_backward = ops.neuron_ops(
    "lif", ops.Op(FORWARD, _forward_fake, _forward_cuda),
    ops.Op(BACKWARD, _backward_fake, _backward_cuda), grad=_grad, setup_context=_setup_context)


def unsupported(currents: Tensor, p: LIFParameters, state: LIFState | None) -> str | None:
    """Why the fused kernel can't run these arguments (None if it can)."""
    tensors = [x for x in (p.beta, p.threshold, *(state or ())) if isinstance(x, Tensor)]
    return cpu.unsupported_common(currents, tensors, cuda=True)


def fused_lif_sequence(
    currents: Tensor, p: LIFParameters, state: LIFState | None = None
) -> LIFOutput:
    """Same result as the reference ``lif_sequence`` (parameters already validated there)."""
    shape = currents.shape[1:]

    def per_neuron(x: Tensor | float) -> Tensor:
        return cpu.per_neuron(x, shape, dtype, currents.device)

    dtype = cpu.state_dtype(currents.dtype)
    currents = cpu.kernel_currents(currents, native_16bit=currents.device.type == "cuda")
    if state is None:
        v0, refrac0 = currents.new_zeros(shape, dtype=dtype), currents.new_zeros(shape, dtype=dtype)
    else:
        v0, refrac0 = per_neuron(state.v), per_neuron(state.refrac.detach())
    slope = cpu.surrogate_slope(p.surrogate, p.slope)
    spikes, h, v, refrac, _ = ops.call(
        lif_forward, currents, per_neuron(p.beta), per_neuron(p.threshold), v0,
        refrac0, RESETS.index(p.reset), int(p.refractory_steps), cpu.SURROGATE_IDS[p.surrogate],
        slope, bool(p.detach_reset),
    )
    return LIFOutput(spikes, h, LIFState(v, refrac))


ops.register_neuron("lif", fused_lif_sequence, unsupported)
