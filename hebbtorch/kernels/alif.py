"""Fused multi-step ALIF (Bellec et al. 2018, eqs. 1-3, as
:func:`hebbtorch.neurons.alif.alif_step`): one kernel call for the whole time axis, forward and
surrogate backward: the operators ``hebbtorch::alif_forward`` / ``hebbtorch::alif_backward``,
C++ on the CPU (``alif_cpu.cpp``), Triton on CUDA (:mod:`hebbtorch.kernels.alif_triton`); fp32
or fp64.

Spikes are bit-identical to the reference loop. Backward keeps the membrane before reset and the
effective threshold ``A`` (both are outputs, so nothing extra when the caller keeps them) and
recomputes the spikes. Gradients flow to the currents and the initial state (v, a, s) through the
adaptation as in the reference; parameters that require grad run the reference instead.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hebbtorch.kernels import cpu, finite, ops
from hebbtorch.neurons.alif import ALIFOutput, ALIFParameters, ALIFState
from hebbtorch.neurons.lif import RESETS

# currents [T, *S]; per-neuron tensors and state S, contiguous, one dtype. Returns (spikes, h, A,
# final v, final a, final s). NaN or infinite currents are an error.
FORWARD = ("(Tensor currents, Tensor beta, Tensor rho, Tensor one_minus_rho, Tensor threshold, "
           "float adapt_scale, Tensor v0, Tensor a0, Tensor s0, int reset, int surrogate, "
           "float slope, bool detach_reset) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")
# reverse-time pass: (d currents [T, *S], d v0, d a0, d s0 S)
BACKWARD = ("(Tensor h, Tensor A, Tensor? grad_spikes, Tensor? grad_h, Tensor? grad_A, "
            "Tensor? grad_v, Tensor? grad_a, Tensor? grad_s, Tensor beta, Tensor rho, "
            "Tensor one_minus_rho, float adapt_scale, int reset, int surrogate, float slope, "
            "bool detach_reset) -> (Tensor, Tensor, Tensor, Tensor)")


def _forward_cuda(currents, beta, rho, one_minus_rho, threshold, adapt_scale, v0, a0, s0, reset,
                  surrogate, slope, detach_reset):
    from hebbtorch.kernels import alif_triton  # imports Triton: only on the first CUDA call

    spikes, h, A = (torch.empty_like(currents) for _ in range(3))
    v, a, s = v0.clone(), a0.clone(), s0.clone()
    bad = alif_triton.forward(currents, beta, rho, one_minus_rho, threshold, adapt_scale, v, a, s,
                              reset, spikes, h, A)
    finite.check(bad, "hebbtorch::alif_forward")
    return spikes, h, A, v, a, s


def _forward_fake(currents, beta, rho, one_minus_rho, threshold, adapt_scale, v0, a0, s0, reset,
                  surrogate, slope, detach_reset):
    return (*(torch.empty_like(currents) for _ in range(3)),
            *(torch.empty_like(v0) for _ in range(3)))


def _backward_cuda(h, A, grad_spikes, grad_h, grad_A, grad_v, grad_a, grad_s, beta, rho,
                   one_minus_rho, adapt_scale, reset, surrogate, slope, detach_reset):
    from hebbtorch.kernels import alif_triton

    d_cur = torch.empty_like(h)
    d_v0, d_a0, d_s0 = (torch.empty_like(beta) for _ in range(3))
    (gs, s_gs), (gh, s_gh), (ga, s_ga) = (cpu.over_time(g, beta) for g in (grad_spikes, grad_h,
                                                                           grad_A))
    alif_triton.backward(h, A, gs, s_gs, gh, s_gh, ga, s_ga,
                         *(cpu.per_step(g, beta) for g in (grad_v, grad_a, grad_s)), beta, rho,
                         one_minus_rho, adapt_scale, reset, surrogate, slope, detach_reset,
                         d_cur, d_v0, d_a0, d_s0)
    return d_cur, d_v0, d_a0, d_s0


def _backward_fake(h, A, grad_spikes, grad_h, grad_A, grad_v, grad_a, grad_s, beta, rho,
                   one_minus_rho, adapt_scale, reset, surrogate, slope, detach_reset):
    return torch.empty_like(h), *(torch.empty_like(beta) for _ in range(3))


def _setup_context(ctx, inputs, output) -> None:
    _, beta, rho, omr, _, adapt_scale, _, _, _, reset, surrogate, slope, detach = inputs
    _, h, A, _, _, _ = output
    ctx.save_for_backward(h, A, beta, rho, omr)
    ctx.config = (adapt_scale, reset, surrogate, slope, detach)
    ctx.set_materialize_grads(False)  # unused outputs: no T x M tensors of zeros


def _grad(ctx, g_spikes, g_h, g_A, g_v, g_a, g_s):
    h, A, beta, rho, omr = ctx.saved_tensors
    d_cur, d_v0, d_a0, d_s0 = alif_backward(h, A, g_spikes, g_h, g_A, g_v, g_a, g_s, beta, rho,
                                            omr, *ctx.config)
    need = ctx.needs_input_grad
    return (d_cur, None, None, None, None, None, d_v0 if need[6] else None,
            d_a0 if need[7] else None, d_s0 if need[8] else None, None, None, None, None)


alif_forward, alif_backward = ops.neuron_ops(
    "alif", ops.Op(FORWARD, _forward_fake, _forward_cuda),
    ops.Op(BACKWARD, _backward_fake, _backward_cuda), grad=_grad, setup_context=_setup_context)


def unsupported(currents: Tensor, p: ALIFParameters, state: ALIFState | None) -> str | None:
    """Why the fused kernel can't run these arguments (None if it can)."""
    params = [x for x in (p.beta, p.rho, p.threshold, p.adapt_scale) if isinstance(x, Tensor)]
    if any(x.requires_grad for x in params):
        return "parameters that require grad (the fused ALIF differentiates currents and state)"
    if isinstance(p.adapt_scale, Tensor) and p.adapt_scale.numel() != 1:
        return "a per-neuron adapt_scale"
    return cpu.unsupported_common(currents, params + list(state or ()), cuda=True)


def fused_alif_sequence(
    currents: Tensor, p: ALIFParameters, state: ALIFState | None = None
) -> ALIFOutput:
    """Same result as the reference ``alif_sequence`` (parameters already validated there)."""
    shape = currents.shape[1:]
    currents = cpu.kernel_currents(currents)  # 16-bit: fp32 (the neurons' dtype contract)

    def per_neuron(x: Tensor | float) -> Tensor:
        return cpu.per_neuron(x, shape, currents.dtype, currents.device)

    if state is None:
        state = ALIFState(*(currents.new_zeros(shape) for _ in range(3)))
    slope = cpu.surrogate_slope(p.surrogate, p.slope)
    # 1 - rho formed as the reference forms it (in Python for a float, in torch for a tensor)
    spikes, h, A, v, a, s = ops.call(
        alif_forward, currents, per_neuron(p.beta), per_neuron(p.rho),
        per_neuron(1.0 - p.rho), per_neuron(p.threshold), float(p.adapt_scale),
        *(per_neuron(x) for x in state),
        RESETS.index(p.reset), cpu.SURROGATE_IDS[p.surrogate], slope, bool(p.detach_reset),
    )
    return ALIFOutput(spikes, h, A, ALIFState(v, a, s))


ops.register_neuron("alif", fused_alif_sequence, unsupported)
