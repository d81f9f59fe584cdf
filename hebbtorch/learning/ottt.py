"""OTTT, Online Training Through Time (Xiao et al. 2022, NeurIPS), for feed-forward LIF nets.

Each synaptic layer keeps a presynaptic trace with its postsynaptic neurons' decay,
``a_hat^t = lambda a_hat^{t-1} + s^t`` (lambda = beta for hidden layers, kappa for the readout),
and at every step the instantaneous loss is backpropagated through the layers of *that step
only* (through the surrogate, with the reset's spike a stop-gradient); the weight gradient is
``dL^t/dI^t (outer) a_hat^t``. OTTT_A accumulates it over the sequence; OTTT_O applies it at
every step. The graph never spans more than one step, so memory does not grow with T.

For one layer with an instantaneous per-step loss this is exactly the BPTT gradient (the
trace is the exact derivative of the membrane by the weights once the reset is detached); with
more layers it drops the paths through later steps of the layers above.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online_net import (
    LayerState,
    NetState,
    OnlineSNN,
    check_input,
    check_weights,
    step_loss,
)

MODES = ("A", "O")


class _TracedLinear(torch.autograd.Function):
    """``x W^T + b`` forward; backward gives W the gradient ``g^T a_hat`` (and b ``g * b_hat``)
    instead of ``g^T x``: the presynaptic trace stands in for the present input."""

    @staticmethod
    def forward(ctx, x, trace, weight, bias, bias_trace: float):
        ctx.save_for_backward(trace, weight)
        ctx.bias_trace = bias_trace
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g):
        trace, weight = ctx.saved_tensors
        return g @ weight, None, g.T @ trace, g.sum(0) * ctx.bias_trace, None


def _detach(state: NetState) -> NetState:
    return NetState(tuple(LayerState(type(s.neuron)(*(u.detach() for u in s.neuron)),
                                     s.z.detach()) for s in state.layers), state.y.detach())


def ottt_grads(
    net: OnlineSNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    mode: str = "A",
    optimizer: torch.optim.Optimizer | None = None,
    keep_readout: bool = True,
    rate_reg: None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """OTTT gradients of ``E = sum_t w_t CE(y^t, labels)``: accumulated into ``.grad`` (mode
    "A"), or applied by ``optimizer`` after every step with a non-zero weight (mode "O").

    Returns (E, readout ``[time, batch, out]`` detached, or its time average if not
    ``keep_readout``)."""
    if net.recurrent or net.neuron != "lif":
        raise HebbtorchError("OTTT is defined for feed-forward LIF networks; use e-prop for "
                             "recurrent or ALIF layers")
    if rate_reg is not None:
        raise HebbtorchError("OTTT here does not take the firing-rate regularisation")
    if mode not in MODES:
        raise HebbtorchError(f"OTTT mode must be one of {MODES}, got {mode!r}")
    if mode == "O" and optimizer is None:
        raise HebbtorchError("OTTT_O applies the update every step: give an optimizer")
    check_input(net, x)
    T, B = x.shape[:2]
    w = check_weights(weights, T)
    layers = [*net.w_in, net.readout]
    decays = [float(net.params.beta)] * len(net.w_in) + [net.kappa]
    traces: list[torch.Tensor | None] = [None] * len(layers)
    bias_traces = [0.0] * len(layers)
    state = net.initial_state(B, x)
    total = x.new_zeros(())
    ys: list[torch.Tensor] = []
    y_sum = x.new_zeros(B, net.sizes[-1])
    for t in range(T):
        state = _detach(state)
        inp, new_layers = x[t], []
        for i, (layer, lam) in enumerate(zip(layers, decays, strict=True)):
            a = inp.detach()
            traces[i] = a if traces[i] is None else lam * traces[i] + a
            bias_traces[i] = lam * bias_traces[i] + 1.0
            cur = _TracedLinear.apply(inp, traces[i], layer.weight, layer.bias, bias_traces[i])
            if i == len(net.w_in):
                y = net.kappa * state.y + cur
                break
            inp, _, st = net.hidden_step(i, cur, state.layers[i])
            new_layers.append(st)
        state = NetState(tuple(new_layers), y)
        y_sum += y.detach()
        if keep_readout:
            ys.append(y.detach())
        if float(w[t]) == 0.0:
            continue
        loss = step_loss(y, labels, float(w[t]))
        loss.backward()
        total += loss.detach()
        if mode == "O":
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return total, torch.stack(ys) if keep_readout else y_sum / T
