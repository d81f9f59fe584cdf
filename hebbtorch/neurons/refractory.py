"""The refractory "ReLU-spike" neuron of Chevalier (2018), "Spiking Neural Network (SNN) with
PyTorch where Backpropagation engenders STDP", reproduced exactly::

    inner[t] = I[t] + decay * inner[t-1]
    out[t]   = relu(inner[t] - threshold)                     graded, not binary
    inner[t] -= (penalty_threshold / threshold) * inner[t]   where out[t] > 0 (gate: no gradient)
    returns (inner[t-1], out[t-1])                            a one-step delay

Seed defaults: decay 0.9, threshold 1.0, penalty_threshold 1.5 (so a firing neuron's inner state
flips to -0.5x its value: a refractory dip). ``binary=True`` gives the true spiking variant:
``out = Θ(inner - threshold)`` forward with a surrogate gradient backward, same reset and delay.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from hebbtorch.checks import check_finite, check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import dispatch
from hebbtorch.kernels.dispatch import check_backend
from hebbtorch.neurons.dtypes import promote
from hebbtorch.neurons.layout import TimeLayout
from hebbtorch.neurons.surrogate import get_surrogate, spike


class RefractoryParameters(NamedTuple):
    decay: float = 0.9
    threshold: float = 1.0
    penalty_threshold: float = 1.5
    binary: bool = False
    surrogate: str = "fast_sigmoid"
    slope: float | None = None


class RefractoryState(NamedTuple):
    """The current step's (inner, out), returned one step later. ``[batch, neurons]``."""

    inner: torch.Tensor
    out: torch.Tensor


class RefractoryOutput(NamedTuple):
    """inner and out as the seed layer returns them (one step late), ``[time, batch, ...]``."""

    inner: torch.Tensor
    out: torch.Tensor
    state: RefractoryState


def validate_refractory(p: RefractoryParameters) -> RefractoryParameters:
    check_range("decay", p.decay, 0.0, 1.0)
    check_range("threshold", p.threshold, 0.0, low_open=True)
    check_range("penalty_threshold", p.penalty_threshold, 0.0)
    check_range("penalty_threshold / threshold", p.penalty_threshold / p.threshold, 0.0,
                float("inf"), high_open=True)
    get_surrogate(p.surrogate)
    return p


def _check_overflow(out: RefractoryOutput, p: RefractoryParameters) -> RefractoryOutput:
    """Finite input can still overflow float (a huge current times the reset's
    penalty_threshold / threshold): refuse the result rather than return inf or NaN."""
    if not bool(torch.isfinite(out.state.inner).all() & torch.isfinite(out.state.out).all()):
        raise HebbtorchError("the refractory neuron's state overflowed (currents too large for "
                             f"penalty_threshold / threshold = "
                             f"{p.penalty_threshold / p.threshold:g})")
    return out


def refractory_initial_state(like: torch.Tensor) -> RefractoryState:
    return RefractoryState(torch.zeros_like(like), torch.zeros_like(like))


def refractory_step(
    current: torch.Tensor, state: RefractoryState, p: RefractoryParameters
) -> tuple[torch.Tensor, torch.Tensor, RefractoryState]:
    """One step -> (previous inner, previous out, new state)."""
    inner = current + p.decay * state.inner
    if p.binary:
        out = spike(inner - p.threshold, p.surrogate, p.slope)
    else:
        out = F.relu(inner - p.threshold)
    gate = (out > 0).to(inner.dtype)  # a comparison: no gradient flows through the gate itself
    inner = inner - (p.penalty_threshold / p.threshold * inner) * gate
    return state.inner, state.out, RefractoryState(inner, out)


def refractory_sequence(
    currents: torch.Tensor,
    p: RefractoryParameters,
    state: RefractoryState | None = None,
    backend: str = "auto",
) -> RefractoryOutput:
    """Run :func:`refractory_step` over ``currents`` ``[time, batch, ...]``.

    backend: "reference" (the Python loop), "fused" (the one-call CPU kernel of
    :mod:`hebbtorch.kernels.refractory`) or "auto" (the kernel where it supports the call).
    """
    if currents.dim() < 2:
        raise HebbtorchError(
            f"currents must be [time, batch, ...], got shape {tuple(currents.shape)}"
        )
    validate_refractory(p)
    fused = dispatch.select("refractory", backend, currents, p, state)
    if fused is not None:
        return _check_overflow(fused(currents, p, state), p)  # input checked in the kernel
    currents = check_finite("currents", promote(currents))  # 16-bit: an fp32 state
    state = refractory_initial_state(currents[0]) if state is None else state
    inners, outs = [], []
    for current in currents.unbind(0):  # unbind: one backward node, not T full-size zeros
        inner, out, state = refractory_step(current, state, p)
        inners.append(inner)
        outs.append(out)
    return _check_overflow(RefractoryOutput(torch.stack(inners), torch.stack(outs), state), p)


class RefractoryNeuron(nn.Module):
    """Module form of the seed neuron; holds only its parameters. ``backend``: "auto", "fused"
    or "reference", see :func:`refractory_sequence`; ``steps`` and ``time_first``: the input
    layout (:mod:`hebbtorch.neurons.layout`)."""

    def __init__(
        self,
        decay: float = 0.9,
        threshold: float = 1.0,
        penalty_threshold: float = 1.5,
        binary: bool = False,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        backend: str = "auto",
        *,
        steps: int | None = None,
        time_first: bool = True,
    ) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        self.layout = TimeLayout(steps, time_first).check()
        self.params = validate_refractory(
            RefractoryParameters(decay, threshold, penalty_threshold, binary, surrogate, slope)
        )

    def forward(
        self, currents: torch.Tensor, state: RefractoryState | None = None
    ) -> RefractoryOutput:
        out = refractory_sequence(self.layout.inward(currents), self.params, state, self.backend)
        return self.layout.outward(out)
