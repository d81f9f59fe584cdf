"""Fused multi-step LIF on CPU: one kernel call for the whole time axis, forward and backward.

The physics is :func:`hebbtorch.neurons.lif.lif_step` (Gerstner et al. 2014, eq. 1.5, with
the surrogate gradients of :mod:`hebbtorch.neurons.surrogate`); the kernel repeats its arithmetic
in the same order, so spikes are bit-identical to the reference loop and gradients agree to
rounding. Registered as the custom ops ``hebbtorch::lif_forward`` / ``hebbtorch::lif_backward``
with fake (meta) implementations and an autograd formula (checked by ``torch.library.opcheck``
in the tests).

Memory: backward keeps only the membrane before reset ``h`` ``[time, batch, ...]`` (also returned
as ``LIFOutput.v``, so it costs nothing extra when the caller keeps it), plus one byte per
neuron-step for the refractory mask when ``refractory_steps > 0``; spikes and the membrane after
reset are recomputed from ``h``. The reference loop keeps several tensors per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu, finite
from hebbtorch.neurons.lif import RESETS, LIFOutput, LIFParameters, LIFState


@torch.library.custom_op("hebbtorch::lif_forward", mutates_args=(), device_types="cpu")
def lif_forward(
    currents: Tensor, beta: Tensor, threshold: Tensor, v0: Tensor, refrac0: Tensor,
    reset: int, refractory_steps: int, surrogate: int, slope: float, detach_reset: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """currents ``[T, *S]``; beta, threshold, v0, refrac0 ``S``; all contiguous, one dtype.
    Returns (spikes, h = membrane before reset, final v, final refrac, refractory mask uint8
    ``[T, *S]`` or empty when ``refractory_steps == 0``). surrogate/slope/detach_reset are only
    kept for backward. Raises HebbtorchError if currents holds NaN or infinite values (checked
    inside the kernel: no extra pass over the input)."""
    T, M = currents.shape[0], v0.numel()
    spikes, h = torch.empty_like(currents), torch.empty_like(currents)
    v, refrac = v0.clone(), refrac0.clone()
    mask = torch.empty(currents.shape if refractory_steps else (0,), dtype=torch.uint8)
    p = cpu.ptr
    bad = cpu.kernel("ht_lif_forward", currents.dtype)(
        p(currents), T, M, p(beta), p(threshold), p(v), p(refrac), reset, refractory_steps,
        p(spikes), p(h), p(mask), torch.get_num_threads())
    if bad:
        raise HebbtorchError(finite.message(bad))
    return spikes, h, v, refrac, mask


@lif_forward.register_kernel("cuda")
def _(currents, beta, threshold, v0, refrac0, reset, refractory_steps, surrogate, slope,
      detach_reset):
    from hebbtorch.kernels import lif_triton  # imports Triton: only on the first CUDA call

    spikes = torch.empty(currents.shape, dtype=v0.dtype, device=currents.device)
    h = torch.empty_like(spikes)
    v, refrac = v0.clone(), refrac0.clone()
    mask = currents.new_empty(currents.shape if refractory_steps else (0,), dtype=torch.uint8)
    bad = lif_triton.forward(currents, beta, threshold, v, refrac, reset, refractory_steps,
                             spikes, h, mask)
    finite.check(bad, "hebbtorch::lif_forward")
    return spikes, h, v, refrac, mask


@lif_forward.register_fake
def _(currents, beta, threshold, v0, refrac0, reset, refractory_steps, surrogate, slope,
      detach_reset):
    mask = currents.new_empty(currents.shape if refractory_steps else (0,), dtype=torch.uint8)
    out = currents.new_empty(currents.shape, dtype=v0.dtype)  # the state's dtype (fp32 for bf16)
    return (out, torch.empty_like(out), torch.empty_like(v0),
            torch.empty_like(refrac0), mask)


@torch.library.custom_op("hebbtorch::lif_backward", mutates_args=(), device_types="cpu")
def lif_backward(
    h: Tensor, mask: Tensor, grad_spikes: Tensor | None, grad_h: Tensor | None,
    grad_v: Tensor | None, v0: Tensor, beta: Tensor, threshold: Tensor, reset: int,
    surrogate: int, slope: float, detach_reset: bool, need_beta: bool, need_threshold: bool,
    currents_dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Reverse-time pass: (d currents ``[T, *S]`` of ``currents_dtype``, d v0, d beta,
    d threshold ``S``); the last two are empty unless asked for. Missing upstream grads count
    as zero."""
    T, M = h.shape[0], v0.numel()
    d_cur, d_v0 = torch.empty_like(h), torch.empty_like(v0)  # CPU: currents have h's dtype
    d_beta = torch.empty_like(v0) if need_beta else v0.new_empty(0)
    d_thr = torch.empty_like(v0) if need_threshold else v0.new_empty(0)
    (gs, s_gs), (gh, s_gh) = cpu.over_time(grad_spikes, v0), cpu.over_time(grad_h, v0)
    gv = cpu.per_step(grad_v, v0)
    p = cpu.ptr
    cpu.kernel("ht_lif_backward", h.dtype)(
        p(h), p(mask), p(gs), s_gs, p(gh), s_gh, p(gv), p(v0), p(beta), p(threshold), T, M,
        reset, surrogate, slope, int(detach_reset), p(d_cur), p(d_v0), p(d_beta), p(d_thr),
        torch.get_num_threads())
    return d_cur, d_v0, d_beta, d_thr


@lif_backward.register_kernel("cuda")
def _(h, mask, grad_spikes, grad_h, grad_v, v0, beta, threshold, reset, surrogate, slope,
      detach_reset, need_beta, need_threshold, currents_dtype):
    from hebbtorch.kernels import lif_triton

    d_cur = torch.empty(h.shape, dtype=currents_dtype, device=h.device)
    d_v0 = torch.empty_like(v0)
    d_beta = torch.empty_like(v0) if need_beta else v0.new_empty(0)
    d_thr = torch.empty_like(v0) if need_threshold else v0.new_empty(0)
    (gs, s_gs), (gh, s_gh) = cpu.over_time(grad_spikes, v0), cpu.over_time(grad_h, v0)
    lif_triton.backward(h, mask, gs, s_gs, gh, s_gh, cpu.per_step(grad_v, v0), v0, beta,
                        threshold, reset, surrogate, slope, detach_reset, d_cur, d_v0, d_beta,
                        d_thr)
    return d_cur, d_v0, d_beta, d_thr


@lif_backward.register_fake
def _(h, mask, grad_spikes, grad_h, grad_v, v0, beta, threshold, reset, surrogate, slope,
      detach_reset, need_beta, need_threshold, currents_dtype):
    def per_neuron(need: bool) -> Tensor:
        return torch.empty_like(v0) if need else v0.new_empty(0)

    return (torch.empty_like(h, dtype=currents_dtype), torch.empty_like(v0),
            per_neuron(need_beta), per_neuron(need_threshold))


def _setup_context(ctx, inputs, output) -> None:
    _, beta, threshold, v0, _, reset, _, surrogate, slope, detach_reset = inputs
    _, h, _, _, mask = output
    ctx.save_for_backward(h, mask, v0, beta, threshold)
    ctx.config = (reset, surrogate, slope, detach_reset)
    ctx.currents_dtype = inputs[0].dtype
    ctx.set_materialize_grads(False)  # unused outputs: no T x M tensors of zeros


def _backward(ctx, grad_spikes, grad_h, grad_v, _grad_refrac, _grad_mask):
    h, mask, v0, beta, threshold = ctx.saved_tensors
    need = ctx.needs_input_grad
    d_cur, d_v0, d_beta, d_thr = lif_backward(
        h, mask, grad_spikes, grad_h, grad_v, v0, beta, threshold, *ctx.config, need[1], need[2],
        ctx.currents_dtype)
    return (d_cur, d_beta if need[1] else None, d_thr if need[2] else None,
            d_v0 if need[3] else None, None, None, None, None, None, None)


lif_forward.register_autograd(_backward, setup_context=_setup_context)


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
    if state is None:
        v0, refrac0 = currents.new_zeros(shape, dtype=dtype), currents.new_zeros(shape, dtype=dtype)
    else:
        v0, refrac0 = per_neuron(state.v), per_neuron(state.refrac.detach())
    slope = cpu.surrogate_slope(p.surrogate, p.slope)
    spikes, h, v, refrac, _ = lif_forward(
        currents.contiguous(), per_neuron(p.beta), per_neuron(p.threshold), v0, refrac0,
        RESETS.index(p.reset), int(p.refractory_steps), cpu.SURROGATE_IDS[p.surrogate], slope,
        bool(p.detach_reset),
    )
    return LIFOutput(spikes, h, LIFState(v, refrac))


cpu.register_fused("lif", fused_lif_sequence, unsupported)
