"""The network shared by BPTT, e-prop and OTTT: input -> hidden LIF/ALIF layers (optionally
recurrent) -> leaky readout, with a per-step loss, one time step as a pure function.

    I^t = W_in x^t + W_rec z^{t-1} + b          (W_rec only if ``recurrent``)
    z^t, v^t = LIF / ALIF step of I^t            (reset by a stop-gradient spike, as e-prop does)
    y^t = kappa * y^{t-1} + W_out z^t + b_out   (leaky readout, Bellec et al. 2020)
    E = sum_t w_t * CE(y^t, label)              (per-step loss; ``w`` selects/weights the steps)
    R = c_reg * sum_j (f_j - f_target)^2         (optional firing-rate regularisation, Bellec
                                                 et al. 2020 Methods; f_j: spikes per step of
                                                 hidden neuron j, averaged over time and batch)

The reset always uses a detached spike (``detach_reset=True``): e-prop and OTTT both drop the
reset's pseudo-derivative, and BPTT here makes the same choice so the three are comparable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons.alif import ALIFParameters, ALIFState, alif_step
from hebbtorch.neurons.lif import LIFParameters, LIFState, lif_step
from hebbtorch.neurons.surrogate import get_surrogate

NEURONS = ("lif", "alif")


class LayerState(NamedTuple):
    """One hidden layer: the neuron state (LIFState or ALIFState) and its last spikes z."""

    neuron: LIFState | ALIFState
    z: torch.Tensor


class NetState(NamedTuple):
    """Hidden layers' states (tuple of LayerState) and the readout membrane y ``[batch, out]``."""

    layers: tuple
    y: torch.Tensor


class RateReg(NamedTuple):
    """Firing-rate regularisation ``R = c_reg * sum_j (f_j - f_target)^2`` over every hidden
    neuron j, with f_j its spikes per step averaged over the sequence and the batch (Bellec et
    al. 2020, Methods, "firing rate regularization"). f_target in spikes per step."""

    c_reg: float = 1.0
    f_target: float = 0.05


def rate_loss(counts: tuple, T: int, reg: RateReg) -> torch.Tensor:
    """R from each hidden layer's spike counts summed over time ``[batch, n]``."""
    return sum(reg.c_reg * ((c.mean(0) / T - reg.f_target) ** 2).sum() for c in counts)


def rate_signal(count: torch.Tensor, T: int, B: int, reg: RateReg) -> torch.Tensor:
    """dR/dz_j^{t,b} ``[n]``: the same for every step and trial of the sequence."""
    return 2.0 * reg.c_reg * (count.sum(0) / (T * B) - reg.f_target) / (T * B)


class StepOut(NamedTuple):
    """What one step produced: readout y, each layer's spikes z and distance to threshold
    (``v - A``, the surrogate's argument), and the new state."""

    y: torch.Tensor
    z: tuple
    x_thr: tuple
    state: NetState


class OnlineSNN(nn.Module):
    """sizes ``(n_in, h1, ..., n_out)``; neuron "lif" or "alif"; ``recurrent`` adds W_rec to every
    hidden layer; beta/rho: membrane/adaptation decay per step; kappa: readout decay per step.
    ``adapt_scale`` is Bellec's beta (threshold increment per unit of adaptation)."""

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        neuron: str = "lif",
        recurrent: bool = False,
        beta: float = 0.9,
        rho: float = 0.99,
        threshold: float = 1.0,
        adapt_scale: float = 1.8,
        kappa: float = 0.9,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 3 or min(sizes) < 1:
            raise HebbtorchError(
                f"sizes must be (n_in, hidden..., n_out) of positive integers, got {sizes}")
        if neuron not in NEURONS:
            raise HebbtorchError(f"neuron must be one of {NEURONS}, got {neuron!r}")
        for name, val in (("beta", beta), ("rho", rho), ("kappa", kappa)):
            if not 0.0 <= val <= 1.0:
                raise HebbtorchError(f"{name} must be in [0, 1], got {val}")
        get_surrogate(surrogate)
        self.sizes, self.neuron, self.recurrent = sizes, neuron, bool(recurrent)
        self.kappa = float(kappa)
        pairs = zip(sizes[:-2], sizes[1:-1], strict=True)
        self.w_in = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.w_rec = nn.ModuleList(
            nn.Linear(b, b, bias=False) for b in sizes[1:-1]) if recurrent else None
        self.readout = nn.Linear(sizes[-2], sizes[-1])
        if neuron == "lif":
            self.params = LIFParameters(beta=beta, threshold=threshold, surrogate=surrogate,
                                        slope=slope, detach_reset=True)
        else:
            self.params = ALIFParameters(beta=beta, rho=rho, threshold=threshold,
                                         adapt_scale=adapt_scale, surrogate=surrogate,
                                         slope=slope, detach_reset=True)

    @property
    def slope(self) -> float:
        s = get_surrogate(self.params.surrogate)
        return s.default_slope if self.params.slope is None else float(self.params.slope)

    def initial_state(self, batch: int, like: torch.Tensor) -> NetState:
        layers = []
        for n in self.sizes[1:-1]:
            z = like.new_zeros(batch, n)
            neuron = LIFState(z, z) if self.neuron == "lif" else ALIFState(z, z, z)
            layers.append(LayerState(neuron, z))
        return NetState(tuple(layers), like.new_zeros(batch, self.sizes[-1]))

    def hidden_step(self, i: int, current: torch.Tensor, st: LayerState):
        """Layer ``i``'s neurons for one step -> (z, v - A, new LayerState)."""
        if self.neuron == "lif":
            z, v, neuron = lif_step(current, st.neuron, self.params)
            return z, v - self.params.threshold, LayerState(neuron, z)
        z, v, A, neuron = alif_step(current, st.neuron, self.params)
        return z, v - A, LayerState(neuron, z)

    def current(self, i: int, x: torch.Tensor, st: LayerState) -> torch.Tensor:
        cur = self.w_in[i](x)
        return cur + F.linear(st.z, self.rec_weight(i)) if self.recurrent else cur

    def rec_weight(self, i: int) -> torch.Tensor:
        """W_rec without self-connections (as Bellec et al.): their weights and gradients are 0."""
        w = self.w_rec[i].weight
        return w * (1.0 - torch.eye(w.shape[0], device=w.device, dtype=w.dtype))

    def step(self, x: torch.Tensor, state: NetState) -> StepOut:
        """One time step; x ``[batch, n_in]``. Differentiable (BPTT) unless called on detached
        state under no_grad."""
        zs, xs, layers = [], [], []
        for i, st in enumerate(state.layers):
            z, x_thr, new = self.hidden_step(i, self.current(i, x, st), st)
            zs.append(z)
            xs.append(x_thr)
            layers.append(new)
            x = z
        y = self.kappa * state.y + self.readout(x)
        return StepOut(y, tuple(zs), tuple(xs), NetState(tuple(layers), y))

    def run(self, x: torch.Tensor, state: NetState | None = None, *, counts: bool = False):
        """Readout ``[time, batch, out]`` for input ``[time, batch, n_in]``, and the final state;
        with ``counts`` also each hidden layer's spikes summed over time ``[batch, n]``."""
        check_input(self, x)
        state = self.initial_state(x.shape[1], x) if state is None else state
        ys, total = [], None
        for xt in x.unbind(0):
            out = self.step(xt, state)
            ys.append(out.y)
            state = out.state
            if counts:
                total = out.z if total is None else tuple(
                    a + z for a, z in zip(total, out.z, strict=True))
        return (torch.stack(ys), state, total) if counts else (torch.stack(ys), state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]


class PresynapticTrace:
    """``a_hat^t = lam a_hat^{t-1} + X^t`` (and ``lam b_hat^{t-1} + 1`` for the bias) of one
    synapse group, updated in place: the factor of every exact online gradient through one leaky
    postsynaptic variable (the readout's, in e-prop and OTTT; every layer's, in OTTT)."""

    def __init__(self, lam: float) -> None:
        self.lam, self.a, self.bias = lam, None, 0.0

    def push(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach()  # the first step copies: the trace is then updated in place
        self.a = x.clone() if self.a is None else self.a.mul_(self.lam).add_(x)
        self.bias = self.lam * self.bias + 1.0
        return self.a

    def grads(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) gradients for the postsynaptic error ``g`` ``[batch, out]``."""
        return g.T @ self.a, g.sum(0) * self.bias


def add_grads(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Add each gradient to its parameter's ``.grad`` (a copy where there is none yet: a
    gradient may be a view of a larger buffer), as autograd accumulates."""
    for param, g in pairs:
        param.grad = g.clone() if param.grad is None else param.grad + g


def check_input(net: OnlineSNN, x: torch.Tensor) -> None:
    if x.dim() != 3 or x.shape[2] != net.sizes[0]:
        raise HebbtorchError(
            f"input must be [time, batch, {net.sizes[0]}], got {tuple(x.shape)}")


def step_loss(y: torch.Tensor, labels: torch.Tensor, weight: float) -> torch.Tensor:
    """``weight * CE(y, labels)`` (batch mean): the loss at one step."""
    return weight * F.cross_entropy(y, labels)


def check_weights(weights: torch.Tensor | None, T: int) -> torch.Tensor:
    """Per-step loss weights ``[T]``; default ``1/T`` everywhere (the mean of per-step losses)."""
    if weights is None:
        return torch.full((T,), 1.0 / T)
    weights = torch.as_tensor(weights, dtype=torch.float64).flatten().cpu()
    if weights.numel() != T:
        raise HebbtorchError(f"loss weights must have one entry per step ({T}), got "
                             f"{weights.numel()}")
    return weights


def sequence_loss(y: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """E = sum_t w_t CE(y^t, label) for a readout ``[time, batch, out]``."""
    return sum(step_loss(y[t], labels, float(weights[t]))
               for t in range(y.shape[0]) if float(weights[t]) != 0.0)
