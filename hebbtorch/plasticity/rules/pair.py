"""Pair STDP with exponential traces (Song, Miller & Abbott 2000; Morrison, Diesmann &
Gerstner 2008, eqs. 3-4): a :class:`~hebbtorch.plasticity.core.TraceRule`, so it runs fused.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import ONE, Factor, RuleSpec, TraceRule, TraceSpec, Update

INTERACTIONS = ("all_to_all", "nearest")


def check_interaction(interaction: str) -> str:
    if interaction not in INTERACTIONS:
        raise HebbtorchError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}")
    return interaction


class PairSTDPParameters(NamedTuple):
    """Pair STDP window Δw(Δt) = A_plus exp(-Δt/tau_plus) for Δt = t_post - t_pre > 0 and
    -A_minus exp(Δt/tau_minus) for Δt < 0 (Song, Miller & Abbott 2000, eq. 1); taus in ms,
    amplitudes dimensionless (per pair). Defaults: Bi & Poo window time constants 16.8/33.7 ms
    (as fitted by van Rossum et al. 2000 and used by Pfister & Gerstner 2006)."""

    tau_plus: float = 16.8
    tau_minus: float = 33.7
    A_plus: float = 0.005
    A_minus: float = 0.00525
    interaction: str = "all_to_all"


# aSTDP's window (hebbtorch.learning.astdp; Li 2022 give no values, these are that module's
# own): short symmetric taus, depression half of potentiation; the learner divides by the
# window's mean change, so only the ratio and the taus matter there.
ASTDP_WINDOW = PairSTDPParameters(tau_plus=5.0, tau_minus=5.0, A_plus=1.0, A_minus=0.5)


def pair_stdp_step(
    pre: torch.Tensor, post: torch.Tensor, x_pre: torch.Tensor, y_post: torch.Tensor,
    p: PairSTDPParameters,
) -> Update:
    """One step of pair STDP (Morrison, Diesmann & Gerstner 2008, eqs. 3-4): on a post spike
    LTP = A_plus x_pre; on a pre spike LTD = A_minus y_post; traces taken *before* this step's
    spikes. pre ``[batch, pre]``, post ``[batch, post]`` (0/1). Returns low-rank factors."""
    ltp = (p.A_plus * x_pre, post) if bool(post.any()) else None
    ltd = (pre, p.A_minus * y_post) if bool(pre.any()) else None
    return Update(ltp, ltd)


class PairSTDP(TraceRule):
    """Pair STDP with exponential traces; ``interaction`` = ``all_to_all`` (every earlier spike
    pairs) or ``nearest`` (traces reset to 1: only the latest spike pairs). Spec: (A+ x_pre, 1)
    on a post spike, (1, A- y_post) on a pre spike (:func:`pair_stdp_step`)."""

    def __init__(self, params: PairSTDPParameters | None = None) -> None:
        params = params or PairSTDPParameters()
        check_range("tau_plus (ms)", params.tau_plus, 0.0, low_open=True)
        check_range("tau_minus (ms)", params.tau_minus, 0.0, low_open=True)
        check_range("A_plus", params.A_plus, 0.0)
        check_range("A_minus", params.A_minus, 0.0)
        check_interaction(params.interaction)
        self.params = params
        self.pre_traces = (TraceSpec(params.tau_plus, params.interaction),)
        self.post_traces = (TraceSpec(params.tau_minus, params.interaction),)
        self.spec = RuleSpec(Factor(0.0, params.A_plus), ONE, ONE, Factor(0.0, params.A_minus))

    def window(self, dts: torch.Tensor) -> torch.Tensor:
        """Analytic Δw of one isolated pair, Δt = t_post - t_pre (ms); 0 at Δt = 0."""
        p = self.params
        return torch.where(dts > 0, p.A_plus * torch.exp(-dts / p.tau_plus),
                           torch.where(dts < 0, -p.A_minus * torch.exp(dts / p.tau_minus),
                                       torch.zeros_like(dts)))


def _make(params: str | None) -> PairSTDP:
    if params not in (None, *INTERACTIONS):
        raise HebbtorchError(
            f"pair rule params must be one of {INTERACTIONS}, got {params!r}")
    return PairSTDP(PairSTDPParameters(interaction=params or "all_to_all"))


def _make_astdp(params: str | None) -> PairSTDP:
    registry.no_params("astdp", params)
    return PairSTDP(ASTDP_WINDOW)


registry.register(registry.RuleEntry(
    "pair", "pair STDP (Song, Miller & Abbott 2000)", _make, "all_to_all or nearest"))
registry.register(registry.RuleEntry(
    "astdp", "aSTDP's pair window (Li 2022; tau 5/5 ms, A-/A+ = 0.5)", _make_astdp))
