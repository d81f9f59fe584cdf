"""Fused multi-step refractory neuron of Chevalier (2018) on CPU, as
:func:`hebbtorch.neurons.refractory.refractory_step`: one kernel call for the whole time axis,
forward and backward (ReLU derivative when graded, the surrogate when ``binary``): the operators
``hebbtorch::refractory_forward`` / ``hebbtorch::refractory_backward``, C++ on the CPU
(``refractory_cpu.cpp``), Triton on CUDA (:mod:`hebbtorch.kernels.refractory_triton`).

Outputs are bit-identical to the reference loop. Backward keeps the inner state before the
reset ``[time, batch, ...]``; the one-step-late outputs need nothing else.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hebbtorch.kernels import cpu, finite, ops
from hebbtorch.neurons.refractory import RefractoryOutput, RefractoryParameters, RefractoryState

# currents [T, *S]; inner0/out0 S. Returns (inner_seq, out_seq, final inner, final out, inner
# before reset [T, *S]). NaN or infinite currents are an error.
FORWARD = ("(Tensor currents, Tensor inner0, Tensor out0, float decay, float threshold, "
           "float penalty_threshold, bool binary, int surrogate, float slope) "
           "-> (Tensor, Tensor, Tensor, Tensor, Tensor)")
# reverse-time pass: (d currents [T, *S], d inner0, d out0 S)
BACKWARD = ("(Tensor u_seq, Tensor? grad_inner_seq, Tensor? grad_out_seq, Tensor? grad_inner, "
            "Tensor? grad_out, float decay, float threshold, float penalty_threshold, "
            "bool binary, int surrogate, float slope) -> (Tensor, Tensor, Tensor)")


def _forward_cuda(currents, inner0, out0, decay, threshold, penalty_threshold, binary,
                  surrogate, slope):
    from hebbtorch.kernels import refractory_triton  # imports Triton: only on the first CUDA call

    inner_seq, out_seq, u_seq = (torch.empty_like(currents) for _ in range(3))
    inner, out = inner0.clone(), out0.clone()
    bad = refractory_triton.forward(currents, decay, threshold, penalty_threshold / threshold,
                                    binary, inner, out, inner_seq, out_seq, u_seq)
    finite.check(bad, "hebbtorch::refractory_forward")
    return inner_seq, out_seq, inner, out, u_seq


def _forward_fake(currents, inner0, out0, decay, threshold, penalty_threshold, binary, surrogate,
                  slope):
    return (torch.empty_like(currents), torch.empty_like(currents), torch.empty_like(inner0),
            torch.empty_like(out0), torch.empty_like(currents))


def _backward_cuda(u_seq, grad_inner_seq, grad_out_seq, grad_inner, grad_out, decay, threshold,
                   penalty_threshold, binary, surrogate, slope):
    from hebbtorch.kernels import refractory_triton

    like = u_seq[0]
    d_cur, d_inner0, d_out0 = torch.empty_like(u_seq), torch.empty_like(like), torch.empty_like(
        like)
    (gi, s_gi), (go, s_go) = cpu.over_time(grad_inner_seq, like), cpu.over_time(grad_out_seq, like)
    refractory_triton.backward(u_seq, gi, s_gi, go, s_go, cpu.per_step(grad_inner, like),
                               cpu.per_step(grad_out, like), decay, threshold,
                               penalty_threshold / threshold, binary, surrogate, slope, d_cur,
                               d_inner0, d_out0)
    return d_cur, d_inner0, d_out0


def _backward_fake(u_seq, grad_inner_seq, grad_out_seq, grad_inner, grad_out, decay, threshold,
                   penalty_threshold, binary, surrogate, slope):
    return torch.empty_like(u_seq), torch.empty_like(u_seq[0]), torch.empty_like(u_seq[0])


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[4])
    ctx.config = inputs[3:]
    ctx.set_materialize_grads(False)  # unused outputs: no T x M tensors of zeros


def _grad(ctx, g_inner_seq, g_out_seq, g_inner, g_out, _g_u):
    (u_seq,) = ctx.saved_tensors
    d_cur, d_inner0, d_out0 = refractory_backward(u_seq, g_inner_seq, g_out_seq, g_inner, g_out,
                                                  *ctx.config)
    need = ctx.needs_input_grad
    return (d_cur, d_inner0 if need[1] else None, d_out0 if need[2] else None, *[None] * 6)


refractory_forward, refractory_backward = ops.neuron_ops(
    "refractory", ops.Op(FORWARD, _forward_fake, _forward_cuda),
    ops.Op(BACKWARD, _backward_fake, _backward_cuda), grad=_grad, setup_context=_setup_context)


def unsupported(currents: Tensor, p: RefractoryParameters,
                state: RefractoryState | None) -> str | None:
    """Why the fused kernel can't run these arguments (None if it can)."""
    return cpu.unsupported_common(currents, list(state or ()), cuda=True)


def fused_refractory_sequence(
    currents: Tensor, p: RefractoryParameters, state: RefractoryState | None = None
) -> RefractoryOutput:
    """Same result as the reference ``refractory_sequence`` (parameters validated there)."""
    shape = currents.shape[1:]
    currents = cpu.kernel_currents(currents)  # 16-bit: fp32 (the neurons' dtype contract)
    if state is None:
        state = RefractoryState(currents.new_zeros(shape), currents.new_zeros(shape))
    inner0, out0 = (cpu.per_neuron(x, shape, currents.dtype, currents.device) for x in state)
    slope = cpu.surrogate_slope(p.surrogate, p.slope) if p.binary else 0.0  # graded: unused
    inner_seq, out_seq, inner, out, _ = ops.call(
        refractory_forward, currents, inner0, out0, float(p.decay), float(p.threshold),
        float(p.penalty_threshold), bool(p.binary), cpu.SURROGATE_IDS[p.surrogate], slope)
    return RefractoryOutput(inner_seq, out_seq, RefractoryState(inner, out))


ops.register_neuron("refractory", fused_refractory_sequence, unsupported)
