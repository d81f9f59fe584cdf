"""Leaky integrate-and-fire neuron in discrete time (Gerstner et al. 2014, *Neuronal
Dynamics*, eq. 1.5, discretised with step ``dt``)::

    v[t] = beta * v[t-1] + I[t]              beta = exp(-dt / tau_mem)   (dimensionless)
    s[t] = Θ(v[t] - threshold)               threshold in units of v
    v[t] -= s[t] * threshold    (subtract)   or   v[t] *= 1 - s[t]    (zero)

During ``refractory_steps`` after a spike the membrane is held at 0 and cannot spike.
State is kept in a NamedTuple and returned; nothing is hidden in modules.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import dispatch
from hebbtorch.kernels.dispatch import BACKENDS, check_backend  # noqa: F401 (re-exported)
from hebbtorch.neurons.dtypes import promote, state_dtype
from hebbtorch.neurons.layout import TimeLayout
from hebbtorch.neurons.surrogate import get_surrogate, spike

RESETS = ("subtract", "zero")


def beta_from_tau(tau_mem: float, dt: float) -> float:
    """Per-step decay ``exp(-dt / tau_mem)`` (tau_mem and dt in the same unit, e.g. ms)."""
    check_range("tau_mem", tau_mem, 0.0, low_open=True)
    check_range("dt", dt, 0.0, low_open=True)
    return math.exp(-dt / tau_mem)


class LIFParameters(NamedTuple):
    """beta: decay per step in [0, 1] (float or tensor broadcastable to the neurons);
    threshold: spike threshold; reset: "subtract" or "zero"; refractory_steps: >= 0;
    surrogate/slope: see :mod:`hebbtorch.neurons.surrogate`; detach_reset: stop gradients
    through the reset (snnTorch's default; Norse and SpikingJelly keep them)."""

    beta: torch.Tensor | float = 0.9
    threshold: torch.Tensor | float = 1.0
    reset: str = "subtract"
    refractory_steps: int = 0
    surrogate: str = "fast_sigmoid"
    slope: float | None = None
    detach_reset: bool = False


class LIFState(NamedTuple):
    """v: membrane potential ``[batch, ...]``; refrac: refractory steps left ``[batch, ...]``."""

    v: torch.Tensor
    refrac: torch.Tensor


class LIFOutput(NamedTuple):
    """spikes ``[time, batch, ...]`` (0/1); v: membrane before reset ``[time, batch, ...]``;
    state: the state after the last step (feed it back to continue the simulation)."""

    spikes: torch.Tensor
    v: torch.Tensor
    state: LIFState


def validate_lif(p: LIFParameters) -> LIFParameters:
    if isinstance(p.beta, float | int):
        check_range("beta (membrane decay)", p.beta, 0.0, 1.0)
    if isinstance(p.threshold, float | int):
        check_range("threshold", p.threshold, 0.0, low_open=True)
    if p.reset not in RESETS:
        raise HebbtorchError(f"reset must be one of {RESETS}, got {p.reset!r}")
    if int(p.refractory_steps) != p.refractory_steps or p.refractory_steps < 0:
        raise HebbtorchError(f"refractory_steps must be an integer >= 0, got {p.refractory_steps}")
    get_surrogate(p.surrogate)
    return p


def lif_initial_state(like: torch.Tensor) -> LIFState:
    """Resting state (v = 0, not refractory) shaped like one time step of input; fp32 for
    16-bit input (:mod:`hebbtorch.neurons.dtypes`)."""
    dtype = state_dtype(like.dtype)
    return LIFState(torch.zeros_like(like, dtype=dtype), torch.zeros_like(like, dtype=dtype))


def apply_reset(
    v: torch.Tensor, s: torch.Tensor, threshold, reset: str, detach: bool
) -> torch.Tensor:
    """Reset the membrane where ``s`` spiked: subtract ``threshold`` or set to 0."""
    s = s.detach() if detach else s
    return v - s * threshold if reset == "subtract" else v * (1.0 - s)


def lif_step(
    current: torch.Tensor, state: LIFState, p: LIFParameters
) -> tuple[torch.Tensor, torch.Tensor, LIFState]:
    """One step. current ``[batch, ...]`` -> (spikes, v before reset, new state)."""
    v = p.beta * state.v + current
    if p.refractory_steps:
        refractory = state.refrac > 0
        v = torch.where(refractory, torch.zeros_like(v), v)
        s = spike(v - p.threshold, p.surrogate, p.slope) * (~refractory).to(v.dtype)
    else:
        s = spike(v - p.threshold, p.surrogate, p.slope)
    v_out = v
    v = apply_reset(v, s, p.threshold, p.reset, p.detach_reset)
    if p.refractory_steps:
        refrac = torch.where(
            s.detach() > 0,
            torch.full_like(state.refrac, p.refractory_steps),
            (state.refrac - 1).clamp_(min=0),
        )
    else:
        refrac = state.refrac
    return s, v_out, LIFState(v, refrac)


def lif_sequence(
    currents: torch.Tensor,
    p: LIFParameters,
    state: LIFState | None = None,
    backend: str = "auto",
) -> LIFOutput:
    """Run :func:`lif_step` over ``currents`` ``[time, batch, ...]``.

    backend: "reference" runs the Python loop over :func:`lif_step`; "fused" the one-call CPU
    kernel of :mod:`hebbtorch.kernels.lif` (same spikes, same gradients, less time and memory);
    "auto" (default) the kernel where it supports the call and builds, else the reference.
    """
    if currents.dim() < 2:
        raise HebbtorchError(
            f"currents must be [time, batch, ...], got shape {tuple(currents.shape)}"
        )
    validate_lif(p)  # a misspelt reset must not silently run as another one
    fused = dispatch.select("lif", backend, currents, p, state)
    if fused is not None:
        return fused(currents, p, state)  # checks finiteness inside the kernel
    currents = check_finite("currents", promote(currents))  # 16-bit: an fp32 state
    state = lif_initial_state(currents[0]) if state is None else state
    spikes, vs = [], []
    for current in currents.unbind(0):  # unbind: one backward node, not T full-size zeros
        s, v, state = lif_step(current, state, p)
        spikes.append(s)
        vs.append(v)
    return LIFOutput(torch.stack(spikes), torch.stack(vs), state)


class LIF(nn.Module):
    """LIF neurons over time. Give the decay as ``beta`` or as ``tau_mem`` with ``dt``.

    ``learn_beta`` / ``learn_threshold`` make them parameters (per neuron if ``shape`` is given);
    beta is clamped to [0, 1] in the forward pass. Input ``[time, batch, ...]`` currents
    (``[batch, time, ...]`` with ``time_first=False``; ``steps``: refuse another number of time
    steps, see :mod:`hebbtorch.neurons.layout`).
    ``backend``: "auto", "fused" or "reference", see :func:`lif_sequence`.
    """

    def __init__(
        self,
        beta: float | None = None,
        *,
        tau_mem: float | None = None,
        dt: float = 1.0,
        threshold: float = 1.0,
        reset: str = "subtract",
        refractory_steps: int = 0,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        detach_reset: bool = False,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        shape: tuple[int, ...] = (),
        backend: str = "auto",
        steps: int | None = None,
        time_first: bool = True,
    ) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        self.layout = TimeLayout(steps, time_first).check()
        if (beta is None) == (tau_mem is None):
            raise HebbtorchError("give exactly one of beta or tau_mem")
        beta = beta_from_tau(tau_mem, dt) if beta is None else check_range("beta", beta, 0.0, 1.0)
        check_range("threshold", threshold, 0.0, low_open=True)
        beta_t = torch.full(shape, float(beta))
        thr_t = torch.full(shape, float(threshold))
        self.beta = nn.Parameter(beta_t) if learn_beta else nn.Buffer(beta_t)
        self.threshold = nn.Parameter(thr_t) if learn_threshold else nn.Buffer(thr_t)
        self.config = dict(
            reset=reset,
            refractory_steps=refractory_steps,
            surrogate=surrogate,
            slope=slope,
            detach_reset=detach_reset,
        )
        validate_lif(self.parameters_now())

    def parameters_now(self) -> LIFParameters:
        return LIFParameters(
            beta=self.beta.clamp(0.0, 1.0), threshold=self.threshold, **self.config
        )

    def forward(self, currents: torch.Tensor, state: LIFState | None = None) -> LIFOutput:
        out = lif_sequence(self.layout.inward(currents), self.parameters_now(), state,
                           self.backend)
        return self.layout.outward(out)
