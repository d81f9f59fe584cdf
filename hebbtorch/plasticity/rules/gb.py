"""Calcium-based bistable synapse of Graupner & Brunel (2012, PNAS 109:3991).

Calcium (dimensionless) jumps by ``C_pre`` a delay ``D`` after each presynaptic spike and by
``C_post`` at each postsynaptic spike, and decays with ``tau_Ca`` (eq. 2). The efficacy ρ obeys
(eq. 1)::

    tau dρ/dt = -ρ(1-ρ)(ρ*-ρ) + γ_p (1-ρ) Θ(c-θ_p) - γ_d ρ Θ(c-θ_d)
                + σ sqrt(tau) sqrt(Θ(c-θ_p) + Θ(c-θ_d)) η(t)

and the synaptic strength is ``w = w0 + ρ (w1 - w0)`` with ``b = w1 / w0``.

Two ways to integrate, both batched:

* :class:`GraupnerBrunel` -- an engine rule: calcium from the engine's traces (exact per step),
  ρ by Euler-Maruyama with the engine's ``dt`` (small-dt scheme; use dt <= 0.5 ms), the slow
  bistable drift in steps of ``drift_every`` engine steps.
* :func:`calcium_time_above` + :func:`gb_synaptic_change` -- the paper's own analysis: calcium
  integrated *exactly* event by event (closed-form time above each threshold between spikes),
  then the analytic UP/DOWN transition probabilities of the SI (ρ treated as an
  Ornstein-Uhlenbeck process during stimulation, bistable drift neglected) and the mean
  strength change ratio that their figures plot.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import PlasticityRule, Traces, TraceSpec, Update, pre_side


class GraupnerBrunelParameters(NamedTuple):
    """Graupner & Brunel 2012 eqs. 1-2. tau_Ca (ms); C_pre, C_post, theta_d, theta_p: calcium
    (dimensionless); gamma_d, gamma_p: rates (dimensionless, scaled by 1/tau); sigma: noise
    amplitude; tau: efficacy time constant (s); rho_star: unstable fixed point; D: pre calcium
    delay (ms); beta: fraction of synapses initially DOWN (as in the authors' readout code);
    b = w1 / w0: UP/DOWN strength ratio."""

    tau_Ca: float = 20.0
    C_pre: float = 1.0
    C_post: float = 2.0
    theta_d: float = 1.0
    theta_p: float = 1.3
    gamma_d: float = 200.0
    gamma_p: float = 321.808
    sigma: float = 2.8284
    tau: float = 150.0
    rho_star: float = 0.5
    D: float = 13.7
    beta: float = 0.5
    b: float = 5.0


# Values from the authors' parameter script (function choseParameterSet, found in the code
# corpus next to their transitionProbability/changeSynapticStrength readout) = the paper's
# Fig. 2 "DP" curve and SI Table S2 fits; the three fits were cross-checked against two
# independent copies (MOOSE Graupner-Brunel examples for cortical slices; a Rust port listing
# Table S2 for all three). Times converted to ms for tau_Ca and D; tau stays in s.
GB_PARAMETER_SETS: dict[str, GraupnerBrunelParameters] = {
    # Fig. 2: depression-potentiation ("DP") curve.
    "DP": GraupnerBrunelParameters(),
    # Table S2, fit to Sjöström et al. 2001 (visual cortex slices, frequency dependence).
    "cortical_slices": GraupnerBrunelParameters(
        tau_Ca=22.6936, C_pre=0.5617539, C_post=1.23964, theta_d=1.0, theta_p=1.3,
        gamma_d=331.909, gamma_p=725.085, sigma=3.3501, tau=346.3615, rho_star=0.5,
        D=4.6098, beta=0.5, b=5.40988),
    # Table S2, fit to Wittenberg & Wang 2006 (hippocampal slices).
    "hippocampal_slices": GraupnerBrunelParameters(
        tau_Ca=48.8373, C_pre=1.0, C_post=0.275865, theta_d=1.0, theta_p=1.3,
        gamma_d=313.0965, gamma_p=1645.59, sigma=9.1844, tau=688.355, rho_star=0.5,
        D=18.8008, beta=0.7, b=5.28145),
    # Table S2, fit to Wang et al. 2005 (hippocampal cultures).
    "hippocampal_cultures": GraupnerBrunelParameters(
        tau_Ca=11.9536, C_pre=0.58156, C_post=1.76444, theta_d=1.0, theta_p=1.3,
        gamma_d=61.141, gamma_p=113.6545, sigma=2.5654, tau=33.7596, rho_star=0.5,
        D=10.0, beta=0.5, b=36.0263),
}


def gb_parameters(name: str) -> GraupnerBrunelParameters:
    if name not in GB_PARAMETER_SETS:
        raise HebbtorchError(
            f"unknown Graupner-Brunel set {name!r}; known: {sorted(GB_PARAMETER_SETS)}")
    return GB_PARAMETER_SETS[name]


def validate_gb(p: GraupnerBrunelParameters) -> GraupnerBrunelParameters:
    for name in ("tau_Ca", "tau"):
        check_range(name, getattr(p, name), 0.0, low_open=True)
    for name in ("C_pre", "C_post", "theta_d", "theta_p", "gamma_d", "gamma_p", "sigma", "D"):
        check_range(name, getattr(p, name), 0.0)
    check_range("rho_star", p.rho_star, 0.0, 1.0)
    check_range("beta", p.beta, 0.0, 1.0)
    check_range("b", p.b, 0.0, low_open=True)
    return p


def gb_rho_step(
    rho: torch.Tensor, c: torch.Tensor, p: GraupnerBrunelParameters, dt: float,
    noise: torch.Tensor | None = None, drift_steps: int = 1,
) -> torch.Tensor:
    """One Euler-Maruyama step (dt in ms) of Graupner & Brunel 2012 eq. 1; ``noise`` is a
    standard normal tensor shaped like ``rho`` (None: deterministic, σ ignored). The bistable
    term counts ``drift_steps`` times (0: left out): a caller that integrates the slow drift
    only every n-th step passes n there and 0 in the steps between."""
    above_p = (c >= p.theta_p).to(rho.dtype)
    above_d = (c >= p.theta_d).to(rho.dtype)
    tau_ms = p.tau * 1000.0
    drift = p.gamma_p * (1 - rho) * above_p
    if drift_steps:
        drift = drift - rho * (1 - rho) * (p.rho_star - rho) * drift_steps
    rho = rho + dt / tau_ms * (drift - p.gamma_d * rho * above_d)
    if noise is not None and p.sigma > 0:
        rho = rho + p.sigma * math.sqrt(dt / tau_ms) * torch.sqrt(above_p + above_d) * noise
    return rho


class GBState(NamedTuple):
    """rho ``[batch, pre, post]``; t_p, t_d: time (ms) spent with calcium above θ_p / θ_d (None
    when the rule does not keep them); clock: steps since the bistable drift was last applied."""

    rho: torch.Tensor
    t_p: torch.Tensor | None
    t_d: torch.Tensor | None
    clock: int = 0


class GraupnerBrunel(PlasticityRule):
    """Engine rule for the calcium model. Calcium c = C_pre x + C_post y from a delayed
    presynaptic trace x (tau_Ca, delay D) and a postsynaptic trace y (tau_Ca) -- exact since
    calcium is linear; ρ is integrated by Euler-Maruyama per engine step, except the bistable
    drift -ρ(1-ρ)(ρ*-ρ), which is applied once every ``drift_every`` steps with that many
    steps' length (operator splitting). Why: the drift is slow (tau = 33-690 s) and one step's
    worth of it, dt/tau ρ(1-ρ)(ρ*-ρ) <= 7e-8 at dt = 0.5 ms and tau = 346 s, is at or below
    float32's resolution near ρ = 0.5..1, so a per-step float32 drift rounds to whole ulps
    (off by 10-100 %; ``drift_every=1`` is that scheme); 128 steps (64 ms << tau) stay within
    ~2 % of a float64 solution and cost little (steps with calcium below both thresholds then
    change nothing: the fused kernel skips them).
    The weight follows ``w = w0 + ρ (b w0 - w0)``: use ``WeightBounds(w0, b * w0)`` and
    ``w_init`` w0 (DOWN) or b w0 (UP) (see :func:`gb_initial_weights`). ``noise``: simulate σ
    (needs ``generator`` for reproducibility) or run deterministically. ``times``: keep the
    time above each threshold per synapse (``GBState.t_p``/``t_d``, a diagnostic; off saves two
    dense tensors' traffic per step)."""

    event_driven = False

    def __init__(self, params: GraupnerBrunelParameters | None = None, *,
                 w0: float = 1.0, noise: bool = False,
                 generator: torch.Generator | None = None, times: bool = True,
                 drift_every: int = 128) -> None:
        params = validate_gb(params or GraupnerBrunelParameters())
        self.params = params
        self.w0 = check_range("w0", w0, 0.0, low_open=True)
        if isinstance(drift_every, bool) or int(drift_every) != drift_every or drift_every < 1:
            raise HebbtorchError(f"drift_every must be a positive integer, got {drift_every!r}")
        self.drift_every = int(drift_every)
        self.noise, self.generator, self.times = noise, generator, times
        self.pre_traces = (TraceSpec(params.tau_Ca, "all_to_all", 1.0, params.D),)
        self.post_traces = (TraceSpec(params.tau_Ca, "all_to_all", 1.0),)

    def init_state(self, w: torch.Tensor) -> GBState:
        rho = ((w - self.w0) / (self.w0 * (self.params.b - 1.0))).clamp(0.0, 1.0)
        if not self.times:
            return GBState(rho, None, None)
        return GBState(rho, torch.zeros_like(w), torch.zeros_like(w))

    def resync_state(self, state: GBState, w: torch.Tensor) -> GBState:
        """ρ from the new weights; the times above threshold and the drift clock go on."""
        return self.init_state(w)._replace(t_p=state.t_p, t_d=state.t_d, clock=state.clock)

    def calcium(self, x_pre: torch.Tensor, y_post: torch.Tensor) -> torch.Tensor:
        return self.params.C_pre * pre_side(x_pre) + self.params.C_post * y_post.unsqueeze(1)

    def update(self, pre: torch.Tensor, post: torch.Tensor, x_pre: Traces, x_post: Traces,
               w: torch.Tensor, state: Any, dt: float) -> tuple[Update, GBState]:
        p = self.params
        c = self.calcium(x_pre.after[0], x_post.after[0])
        noise = None
        if self.noise and p.sigma > 0:
            noise = torch.randn(c.shape, generator=self.generator, dtype=c.dtype, device=c.device)
        clock = state.clock + 1
        drift = self.drift_every if clock >= self.drift_every else 0
        rho = gb_rho_step(state.rho, c, p, dt, noise, drift).clamp(0.0, 1.0)
        drho = (rho - state.rho) * self.w0 * (p.b - 1.0)
        st = GBState(rho, None, None, 0 if drift else clock)
        if self.times:
            st = st._replace(t_p=state.t_p + dt * (c >= p.theta_p),
                             t_d=state.t_d + dt * (c >= p.theta_d))
        return Update(drho.clamp_min(0.0), (-drho).clamp_min(0.0)), st


def gb_initial_weights(shape: tuple[int, ...], p: GraupnerBrunelParameters, w0: float = 1.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Random initial strengths: DOWN (w0) with probability ``beta``, else UP (b w0)."""
    down = torch.rand(shape, generator=generator) < p.beta
    return torch.where(down, torch.tensor(w0), torch.tensor(w0 * p.b))


def calcium_time_above(
    pre_times: torch.Tensor, post_times: torch.Tensor, p: GraupnerBrunelParameters,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact, event-driven time (ms) the calcium spends above θ_p and above θ_d.

    pre_times ``[batch, n_pre]``, post_times ``[batch, n_post]`` in ms; pad with ``inf``. Between
    events c decays as c0 exp(-t/tau_Ca), so the time above θ after an event is
    min(gap, tau_Ca ln(c0/θ)). Loops over events (a few hundred), vectorised over the batch.
    Returns ``(t_p, t_d)``, each ``[batch]``."""
    validate_gb(p)
    pre_times = torch.as_tensor(pre_times, dtype=torch.float64)
    post_times = torch.as_tensor(post_times, dtype=torch.float64)
    if pre_times.dim() != 2 or post_times.dim() != 2 or pre_times.shape[0] != post_times.shape[0]:
        raise HebbtorchError(
            "pre_times and post_times must be [batch, n] with the same batch, got "
            f"{tuple(pre_times.shape)} and {tuple(post_times.shape)}")
    t = torch.cat([pre_times + p.D, post_times], 1)
    amp = torch.cat([torch.full_like(pre_times, p.C_pre), torch.full_like(post_times, p.C_post)], 1)
    t, order = torch.sort(t, 1)
    amp = torch.gather(amp, 1, order)
    real = torch.isfinite(t)
    amp = torch.where(real, amp, torch.zeros_like(amp))
    B, n = t.shape
    c = torch.zeros(B, dtype=torch.float64)
    t_p = torch.zeros(B, dtype=torch.float64)
    t_d = torch.zeros(B, dtype=torch.float64)
    prev = torch.zeros(B, dtype=torch.float64)
    for k in range(n):
        tk = t[:, k]
        ok = real[:, k]
        gap_prev = torch.where(ok, tk - prev, torch.zeros_like(tk))
        c = torch.where(ok, c * torch.exp(-gap_prev.clamp_min(0) / p.tau_Ca) + amp[:, k], c)
        nxt = t[:, k + 1] if k + 1 < n else torch.full_like(tk, math.inf)
        gap = torch.where(ok, nxt - tk, torch.zeros_like(tk))
        for theta, acc in ((p.theta_p, t_p), (p.theta_d, t_d)):
            if theta <= 0:
                acc += gap.clamp(max=1e12) * ok
                continue
            dur = p.tau_Ca * torch.log((c / theta).clamp_min(1.0))
            acc += torch.minimum(dur, gap)
        prev = torch.where(ok, tk, prev)
    return t_p, t_d


def gb_transition_probabilities(
    t_p: torch.Tensor, t_d: torch.Tensor, p: GraupnerBrunelParameters,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Analytic UP (DOWN->UP) and DOWN (UP->DOWN) transition probabilities after a protocol
    in which calcium spent t_p / t_d ms above θ_p / θ_d (Graupner & Brunel 2012, SI; ρ as an
    OU process with mean ρ̄ = Γ_p/(Γ_p+Γ_d), variance σ²(α_p+α_d)/(Γ_p+Γ_d), relaxation
    τ/(Γ_p+Γ_d)). Deterministic limit when σ = 0."""
    t_p = torch.as_tensor(t_p, dtype=torch.float64) / 1000.0  # s
    t_d = torch.as_tensor(t_d, dtype=torch.float64) / 1000.0
    G = p.gamma_p * t_p + p.gamma_d * t_d  # = (Γ_p + Γ_d) T
    active = G > 0
    Gs = torch.where(active, G, torch.ones_like(G))
    rho_bar = p.gamma_p * t_p / Gs
    var = p.sigma ** 2 * (t_p + t_d) / Gs
    e = torch.exp(-G / p.tau)
    spread = torch.sqrt((var * (1 - e ** 2)).clamp_min(1e-300))

    def prob(rho0: float, up: bool) -> torch.Tensor:
        x = -(p.rho_star - rho_bar + (rho_bar - rho0) * e) / spread
        pr = (1 + torch.erf(x)) / 2 if up else (1 - torch.erf(x)) / 2
        return torch.where(active, pr, torch.zeros_like(pr))

    return prob(0.0, True), prob(1.0, False)


def gb_synaptic_change(
    t_p: torch.Tensor, t_d: torch.Tensor, p: GraupnerBrunelParameters, beta: float | None = None,
) -> torch.Tensor:
    """Mean synaptic strength after / before the protocol (the ratio GB plot): a fraction
    ``beta`` of synapses starts DOWN (w0), the rest UP (b w0); each switches with the analytic
    transition probabilities. Returns ``[batch]`` (1 = no change)."""
    beta = p.beta if beta is None else check_range("beta", beta, 0.0, 1.0)
    up, down = gb_transition_probabilities(t_p, t_d, p)
    end_down = beta * (1 - up) + (1 - beta) * down
    end_up = beta * up + (1 - beta) * (1 - down)
    return (end_down + end_up * p.b) / (beta + (1 - beta) * p.b)


def _make(params: str | None) -> GraupnerBrunel:
    return GraupnerBrunel(gb_parameters(params or "DP"))


registry.register(registry.RuleEntry(
    "gb", "Graupner & Brunel 2012 calcium-based bistable synapse", _make,
    f"one of {', '.join(GB_PARAMETER_SETS)} (default DP)"))
