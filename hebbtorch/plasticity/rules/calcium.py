"""Calcium-trace Hebbian rule in the spirit of Girão, Risi & Chicca (2025), "Learning in Spiking
Neural Networks with a Calcium-based Hebbian Rule for Spike-timing-dependent Plasticity".

The paper's equations were not available to us (no copy in the searchable corpora), so this
is our own rule built to the properties the paper describes; every modelling choice is ours:

1. Two bounded calcium traces, one presynaptic (Ca_pre, tau_pre) and one postsynaptic
   (Ca_post, tau_post). Each spike adds ``J (1 - Ca)`` (saturating jump), so Ca stays in [0, 1).
   A trace encodes *timing* (it is high just after a spike) and *rate* (its running level grows
   with, and saturates in, the firing rate) at once.
2. Potentiation at a post spike: ``Δw+ = eta_plus Ca_pre(t) Ca_post(t+)`` -- the presynaptic
   calcium carries the pre-before-post timing; the postsynaptic calcium *including* this spike
   (>= J_post) scales LTP with postsynaptic activity, which gives the rate dependence
   (BCM-like: LTD wins at low post rates, LTP at high) and Sjöström-like growth of LTP with
   pairing frequency.
3. Depression at a pre spike: ``Δw- = eta_minus Ca_post(t-)`` -- the postsynaptic calcium left
   by earlier post spikes (post-before-pre timing).
4. Stop-learning region (Brader, Senn & Fusi 2007 style): no change while the postsynaptic
   calcium before the spike is outside ``[theta_low, theta_high]`` -- a neuron already driven
   to saturation (or silent) stops learning, which bounds runaway potentiation.
5. Weight dependence and bounds come from the engine (soft bounds recommended).

Consequences from one parameter set: for isolated pairs the window is
``eta_plus J_pre J_post exp(-Δt/tau_pre)`` (Δt > 0) and ``-eta_minus J_post exp(Δt/tau_post)``
(Δt < 0); under Poisson firing the drift changes sign with the post rate (BCM-like curve); and
at equal mean rates, correlated pre->post spiking puts post spikes where Ca_pre is high, so
potentiation -- learning -- is faster than with independent spiking.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import ONE, Factor, RuleSpec, TraceRule, TraceSpec, Update


class CalciumHebbianParameters(NamedTuple):
    """tau_pre, tau_post (ms): calcium decay; J_pre, J_post in (0, 1]: saturating jumps;
    eta_plus, eta_minus: learning rates (per spike); theta_low, theta_high: stop-learning
    bounds on the postsynaptic calcium before the spike (dimensionless, in [0, 1])."""

    tau_pre: float = 20.0
    tau_post: float = 30.0
    J_pre: float = 0.5
    J_post: float = 0.3
    eta_plus: float = 0.02
    eta_minus: float = 0.01
    theta_low: float = 0.0
    theta_high: float = 0.95


def validate_calcium_hebbian(p: CalciumHebbianParameters) -> CalciumHebbianParameters:
    check_range("tau_pre (ms)", p.tau_pre, 0.0, low_open=True)
    check_range("tau_post (ms)", p.tau_post, 0.0, low_open=True)
    check_range("J_pre", p.J_pre, 0.0, 1.0, low_open=True)
    check_range("J_post", p.J_post, 0.0, 1.0, low_open=True)
    check_range("eta_plus", p.eta_plus, 0.0)
    check_range("eta_minus", p.eta_minus, 0.0)
    check_range("theta_low", p.theta_low, 0.0, 1.0)
    check_range("theta_high", p.theta_high, 0.0, 1.0)
    if p.theta_low >= p.theta_high:
        raise HebbtorchError(
            f"theta_low ({p.theta_low:g}) must be below theta_high ({p.theta_high:g})")
    return p


def calcium_hebbian_step(
    pre: torch.Tensor, post: torch.Tensor, ca_pre: torch.Tensor, ca_post_before: torch.Tensor,
    ca_post_after: torch.Tensor, p: CalciumHebbianParameters,
) -> Update:
    """One step of the rule (module docstring, items 2-4); calcium traces ``[batch, n]``."""
    gate = ((ca_post_before >= p.theta_low) & (ca_post_before <= p.theta_high)).to(post.dtype)
    ltp = ltd = None
    if bool(post.any()):
        ltp = (p.eta_plus * ca_pre, post * ca_post_after * gate)
    if bool(pre.any()):
        ltd = (pre, p.eta_minus * ca_post_before * gate)
    return Update(ltp, ltd)


class CalciumHebbian(TraceRule):
    """The rule of the module docstring as a spec: (eta+ Ca_pre, Ca_post(t+)) on a post spike,
    (1, eta- Ca_post) on a pre spike, both gated by Ca_post(t-) in [theta_low, theta_high]
    (:func:`calcium_hebbian_step`; Ca_pre before this step: a simultaneous pre spike does not
    potentiate, Δt = 0)."""

    def __init__(self, params: CalciumHebbianParameters | None = None) -> None:
        params = validate_calcium_hebbian(params or CalciumHebbianParameters())
        self.params = params
        self.pre_traces = (TraceSpec(params.tau_pre, "saturating", params.J_pre),)
        self.post_traces = (TraceSpec(params.tau_post, "saturating", params.J_post),)
        self.spec = RuleSpec(Factor(0.0, params.eta_plus), Factor(0.0, 1.0, 0, True), ONE,
                             Factor(0.0, params.eta_minus),
                             (0, params.theta_low, params.theta_high))

    def window(self, dts: torch.Tensor) -> torch.Tensor:
        """Analytic Δw of one isolated pair (additive, no bounds), Δt = t_post - t_pre (ms)."""
        p = self.params
        return torch.where(
            dts > 0, p.eta_plus * p.J_pre * p.J_post * torch.exp(-dts / p.tau_pre),
            torch.where(dts < 0, -p.eta_minus * p.J_post * torch.exp(dts / p.tau_post),
                        torch.zeros_like(dts)))

    def mean_calcium(self, rate_hz: float, tau_ms: float, J: float) -> float:
        """Mean of a saturating trace under Poisson firing (shot-noise approximation, used for
        docs): solves m = r tau J (1 - m) -> m = r tau J / (1 + r tau J)."""
        x = rate_hz * tau_ms / 1000.0 * J
        return x / (1 + x) if math.isfinite(x) else 1.0


def _make(params: str | None) -> CalciumHebbian:
    registry.no_params("calcium", params)
    return CalciumHebbian(CalciumHebbianParameters())


registry.register(registry.RuleEntry(
    "calcium", "calcium-trace Hebbian rule (after Girão, Risi & Chicca 2025)", _make))
