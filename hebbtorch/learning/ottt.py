"""OTTT, Online Training Through Time (Xiao et al. 2022, NeurIPS, Sec. 4.1), for LIF and ALIF
layers, feed-forward or recurrent, any depth.

Every input to a neuron keeps a presynaptic trace with the postsynaptic neuron's membrane decay,

    a_hat^t = lambda a_hat^{t-1} + X^t     (lambda = beta for a hidden layer, kappa for the readout)

where X^t is what the synapse carries at step t: the layer below's spikes (or the input), the
layer's own z^{t-1} through W_rec (Xiao et al.'s feedback connections: the trace of the
recurrent spikes), and a constant 1 for the bias. At every step the instantaneous loss L^t is
backpropagated through the layers of *that step only*, through the surrogate (the learning
signal g^t = dL^t/dI^t), and the weight gradient is ``g^t (outer) a_hat^t``. OTTT_A sums it over
the sequence; OTTT_O applies it at every step.

What this drops from BPTT (the reset's spike is a stop-gradient in both): every temporal
dependency except the postsynaptic membrane's own decay, which a_hat carries exactly, i.e.
 * the recurrent path: credit through z^{t-1} -> W_rec -> later steps,
 * the ALIF adaptation: credit through a^t (the threshold's dependence on past spikes),
 * the readout's memory: credit through y^{t-1} -> kappa y^{t-1} (later losses),
 * in a stack, the upper layers' membranes (later steps of the layers above).
Equivalently, OTTT is exactly BPTT on the network whose recurrent input z^{t-1}, adaptation
state a^{t-1} and readout state y^{t-1} are stop-gradients (tested), and exactly BPTT itself for
one feed-forward LIF layer with an instantaneous readout (kappa = 0), Xiao et al.'s case.
The graph never spans more than one step, so memory does not grow with T.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.online_net import (
    LayerState,
    NetState,
    OnlineSNN,
    PresynapticTrace,
    RateReg,
    add_grads,
    check_input,
    check_weights,
    rate_signal,
    step_loss,
)
from hebbtorch.neurons.surrogate import get_surrogate

MODES = ("A", "O")


class _TracedLinear(torch.autograd.Function):
    """``x W^T (+ b)`` forward; backward gives W the gradient ``g^T a_hat`` (and b
    ``g * b_hat``) instead of ``g^T x``: the presynaptic trace stands in for the present input."""

    @staticmethod
    def forward(ctx, x, trace, weight, bias, bias_trace: float):
        ctx.save_for_backward(trace, weight)
        ctx.bias_trace, ctx.has_bias = bias_trace, bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g):
        trace, weight = ctx.saved_tensors
        g_x = g @ weight if ctx.needs_input_grad[0] else None
        return g_x, None, g.T @ trace, g.sum(0) * ctx.bias_trace if ctx.has_bias else None, None


def _detach(state: NetState) -> NetState:
    return NetState(tuple(LayerState(type(s.neuron)(*(u.detach() for u in s.neuron)),
                                     s.z.detach()) for s in state.layers), state.y.detach())


def _check(net: OnlineSNN, mode: str, optimizer, rate_reg) -> None:
    if mode not in MODES:
        raise HebbtorchError(f"OTTT mode must be one of {MODES}, got {mode!r}")
    if mode == "O" and optimizer is None:
        raise HebbtorchError("OTTT_O applies the update every step: give an optimizer")
    if rate_reg is not None and (mode == "O" or len(net.w_in) != 1):
        raise HebbtorchError("OTTT takes the firing-rate regularisation in mode A with one "
                             "hidden layer only (its signal needs the whole sequence's rate)")


def ottt_grads(
    net: OnlineSNN,
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None = None,
    *,
    mode: str = "A",
    optimizer: torch.optim.Optimizer | None = None,
    keep_readout: bool = True,
    rate_reg: RateReg | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """OTTT gradients of ``E = sum_t w_t CE(y^t, labels)`` (+ the firing-rate regularisation
    ``rate_reg``, mode "A", one hidden layer): accumulated into ``.grad`` (mode "A"), or applied
    by ``optimizer`` after every step with a non-zero weight (mode "O").

    The rate term's signal dR/dz_j is the same at every step (as in e-prop), so its gradient is
    that signal times ``sum_t psi^t (outer) a_hat^t``, kept online and multiplied at the end.
    Returns (E, readout ``[time, batch, out]`` detached, or its time average if not
    ``keep_readout``)."""
    _check(net, mode, optimizer, rate_reg)
    check_input(net, x)
    T, B = x.shape[:2]
    w = check_weights(weights, T)
    beta = float(net.params.beta)
    hidden = len(net.w_in)
    tr_in = [PresynapticTrace(beta) for _ in range(hidden)] + [PresynapticTrace(net.kappa)]
    tr_rec = [PresynapticTrace(beta) for _ in range(hidden)] if net.recurrent else None
    rate = _RateSums(net, x) if rate_reg is not None else None
    state = net.initial_state(B, x)
    total = x.new_zeros(())
    ys: list[torch.Tensor] = []
    y_sum = x.new_zeros(B, net.sizes[-1])
    for t in range(T):
        state = _detach(state)
        inp, new_layers = x[t], []
        for i, st in enumerate(state.layers):
            layer, a_in = net.w_in[i], tr_in[i].push(inp)
            cur = _TracedLinear.apply(inp, a_in, layer.weight, layer.bias, tr_in[i].bias)
            a_rec = None
            if net.recurrent:
                a_rec = tr_rec[i].push(st.z)
                cur = cur + _TracedLinear.apply(st.z, a_rec, net.rec_weight(i), None, 0.0)
            inp, x_thr, new = net.hidden_step(i, cur, st)
            if rate is not None:
                rate.add(inp.detach(), x_thr.detach(), a_in, a_rec, tr_in[i].bias)
            new_layers.append(new)
        a_out = tr_in[-1].push(inp)
        y = net.kappa * state.y + _TracedLinear.apply(inp, a_out, net.readout.weight,
                                                      net.readout.bias, tr_in[-1].bias)
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
    if rate is not None:
        rate.store(T, B, rate_reg)
    return total, torch.stack(ys) if keep_readout else y_sum / T


class _RateSums:
    """``sum_{t,b} psi^t (outer) a_hat^t`` for the input, recurrent and bias synapses of the one
    hidden layer, and its spike count: the rate term's factors."""

    def __init__(self, net: OnlineSNN, x: torch.Tensor) -> None:
        n = net.sizes[1]
        self.net, self.sur = net, get_surrogate(net.params.surrogate)
        self.s_in, self.s_b = x.new_zeros(n, net.sizes[0]), x.new_zeros(n)
        self.s_rec = x.new_zeros(n, n) if net.recurrent else None
        self.count = None

    def add(self, z, x_thr, a_in, a_rec, bias_trace: float) -> None:
        psi = self.sur.grad(x_thr, self.net.slope)
        self.count = z.clone() if self.count is None else self.count.add_(z)
        self.s_in += psi.T @ a_in
        self.s_b += psi.sum(0) * bias_trace
        if a_rec is not None:
            self.s_rec += psi.T @ a_rec

    def store(self, T: int, B: int, reg: RateReg) -> None:
        sig = rate_signal(self.count, T, B, reg)
        net = self.net
        pairs = [(net.w_in[0].weight, sig[:, None] * self.s_in), (net.w_in[0].bias, sig * self.s_b)]
        if self.s_rec is not None:
            pairs.append((net.w_rec[0].weight, (sig[:, None] * self.s_rec).fill_diagonal_(0.0)))
        add_grads(pairs)
