"""Adaptive-threshold LIF (ALIF), discrete time (Bellec et al. 2018, "Long short-term memory and
learning-to-learn in networks of spiking neurons", eqs. 1-3)::

    a[t] = rho * a[t-1] + (1 - rho) * s[t-1]      rho = exp(-dt / tau_adapt)
    A[t] = threshold + adapt_scale * a[t]         effective threshold
    v[t] = beta * v[t-1] + I[t];   s[t] = Θ(v[t] - A[t]);   v[t] -= s[t] * A[t]

Each spike raises the threshold, which then relaxes with time constant ``tau_adapt``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import dispatch
from hebbtorch.kernels.dispatch import check_backend
from hebbtorch.neurons.dtypes import promote
from hebbtorch.neurons.layout import TimeLayout
from hebbtorch.neurons.lif import apply_reset, beta_from_tau
from hebbtorch.neurons.surrogate import get_surrogate, spike


class ALIFParameters(NamedTuple):
    """beta: membrane decay per step; rho: adaptation decay per step; adapt_scale: threshold
    increment scale (Bellec's beta, 1.8 in their paper); reset as in LIF."""

    beta: torch.Tensor | float = 0.9
    rho: torch.Tensor | float = 0.99
    threshold: torch.Tensor | float = 1.0
    adapt_scale: float = 1.8
    reset: str = "subtract"
    surrogate: str = "fast_sigmoid"
    slope: float | None = None
    detach_reset: bool = False


class ALIFState(NamedTuple):
    """v: membrane; a: adaptation variable; s: last spikes. All ``[batch, ...]``."""

    v: torch.Tensor
    a: torch.Tensor
    s: torch.Tensor


class ALIFOutput(NamedTuple):
    """spikes, v (before reset) and the effective threshold ``A``, each ``[time, batch, ...]``."""

    spikes: torch.Tensor
    v: torch.Tensor
    threshold: torch.Tensor
    state: ALIFState


def validate_alif(p: ALIFParameters) -> ALIFParameters:
    """Refuse parameters the model has no meaning for (checked on every call, as LIF's)."""
    for name, x, high in (("beta (membrane decay)", p.beta, 1.0), ("rho (adaptation decay)",
                                                                   p.rho, 1.0)):
        if isinstance(x, float | int):
            check_range(name, x, 0.0, high)
    if isinstance(p.threshold, float | int):
        check_range("threshold", p.threshold, 0.0, low_open=True)
    if isinstance(p.adapt_scale, float | int):
        check_range("adapt_scale", p.adapt_scale, 0.0, high=float("inf"), high_open=True)
    if p.reset not in ("subtract", "zero"):  # a misspelt reset must not run as "zero"
        raise HebbtorchError(f"reset must be 'subtract' or 'zero', got {p.reset!r}")
    get_surrogate(p.surrogate)
    return p


def alif_initial_state(like: torch.Tensor) -> ALIFState:
    z = torch.zeros_like(like)
    return ALIFState(z, z.clone(), z.clone())


def alif_step(
    current: torch.Tensor, state: ALIFState, p: ALIFParameters
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, ALIFState]:
    """One step -> (spikes, v before reset, effective threshold, new state)."""
    a = p.rho * state.a + (1.0 - p.rho) * state.s
    A = p.threshold + p.adapt_scale * a
    v = p.beta * state.v + current
    s = spike(v - A, p.surrogate, p.slope)
    return s, v, A, ALIFState(apply_reset(v, s, A, p.reset, p.detach_reset), a, s)


def alif_sequence(
    currents: torch.Tensor,
    p: ALIFParameters,
    state: ALIFState | None = None,
    backend: str = "auto",
) -> ALIFOutput:
    """Run :func:`alif_step` over ``currents`` ``[time, batch, ...]``.

    backend: "reference" (the Python loop), "fused" (the one-call kernel of
    :mod:`hebbtorch.kernels.alif`: C++ on the CPU, Triton on CUDA) or "auto" (the kernel where it
    supports the call), as for LIF.
    """
    if currents.dim() < 2:
        raise HebbtorchError(
            f"currents must be [time, batch, ...], got shape {tuple(currents.shape)}"
        )
    validate_alif(p)
    fused = dispatch.select("alif", backend, currents, p, state)
    if fused is not None:
        return fused(currents, p, state)  # checks finiteness inside the kernel
    currents = check_finite("currents", promote(currents))  # 16-bit: an fp32 state
    state = alif_initial_state(currents[0]) if state is None else state
    out: list[list[torch.Tensor]] = [[], [], []]
    for current in currents.unbind(0):  # unbind: one backward node, not T full-size zeros
        s, v, A, state = alif_step(current, state, p)
        for lst, x in zip(out, (s, v, A), strict=True):
            lst.append(x)
    return ALIFOutput(*(torch.stack(x) for x in out), state)


class ALIF(nn.Module):
    """ALIF neurons over time; decays given as beta/rho or as tau_mem/tau_adapt with dt.
    ``backend``: "auto", "fused" or "reference", see :func:`alif_sequence`; ``steps`` and
    ``time_first``: the input layout (:mod:`hebbtorch.neurons.layout`)."""

    def __init__(
        self,
        beta: float | None = None,
        rho: float | None = None,
        *,
        tau_mem: float | None = None,
        tau_adapt: float | None = None,
        dt: float = 1.0,
        threshold: float = 1.0,
        adapt_scale: float = 1.8,
        reset: str = "subtract",
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        backend: str = "auto",
        steps: int | None = None,
        time_first: bool = True,
    ) -> None:
        super().__init__()
        self.backend = check_backend(backend)
        self.layout = TimeLayout(steps, time_first).check()
        if (beta is None) == (tau_mem is None):
            raise HebbtorchError("give exactly one of beta or tau_mem")
        if (rho is None) == (tau_adapt is None):
            raise HebbtorchError("give exactly one of rho or tau_adapt")
        beta = beta_from_tau(tau_mem, dt) if beta is None else check_range("beta", beta, 0.0, 1.0)
        rho = beta_from_tau(tau_adapt, dt) if rho is None else check_range("rho", rho, 0.0, 1.0)
        check_range("threshold", threshold, 0.0, low_open=True)
        check_range("adapt_scale", adapt_scale, 0.0)
        if reset not in ("subtract", "zero"):
            raise HebbtorchError(f"reset must be 'subtract' or 'zero', got {reset!r}")
        get_surrogate(surrogate)
        self.params = ALIFParameters(beta, rho, threshold, adapt_scale, reset, surrogate, slope)

    def forward(self, currents: torch.Tensor, state: ALIFState | None = None) -> ALIFOutput:
        out = alif_sequence(self.layout.inward(currents), self.params, state, self.backend)
        return self.layout.outward(out)
