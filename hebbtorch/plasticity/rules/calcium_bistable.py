"""Calcium-based bistable Hebbian rule after Girão, Risi & Chicca (2025, arXiv 2504.06796) and
its lineage, the spike-driven bistable synapse of Brader, Senn & Fusi (2007, Neural Comput.
19:2881).

What is taken from the papers and what is ours (the Girão et al. equations were not available;
their abstract describes the ingredients, Brader et al. give the structure):

* [Girão 2025] synaptic change is a function of **bounded calcium traces** of pre- and
  postsynaptic activity. Here: saturating traces ``x += J (1 - x)``, decaying with their tau,
  so each stays in [0, 1): presynaptic calcium ``x`` (``tau_pre``, ``J_pre``), postsynaptic
  calcium ``C`` (``tau_Ca``, ``J_C``) and a fast postsynaptic trace ``y`` (``tau_y``, ``J_y``).
* [Brader 2007] an internal variable ``X`` in [0, 1] jumps up by ``a`` / down by ``b`` only
  while the postsynaptic calcium is inside the **stop-learning windows**
  ``theta_up_l <= C < theta_up_h`` (LTP) and ``theta_down_l <= C < theta_down_h`` (LTD), with
  ``C`` taken before this step's spike; between events X **drifts** to 1 at rate ``alpha`` if
  ``X > theta_X`` and to 0 at rate ``beta`` otherwise (bistability). The efficacy is binary,
  ``X > theta_X`` (Brader), or analog ``X`` (option ``efficacy``; own addition).
* [own choice] *when* the jumps happen. Brader et al. jump at a presynaptic spike with the sign
  set by the postsynaptic depolarisation (``V_post > theta_V``); the plasticity engine sees
  spikes, not membrane potentials, and the Girão rule is timing-dependent, so here LTP happens
  at a postsynaptic spike, ``ΔX+ = a x C(t+)`` (pre calcium times post calcium: pre-before-post
  timing and a rate dependence through C), and LTD at a presynaptic spike, ``ΔX- = b y``
  (the fast post trace: post-before-pre timing; ``y`` plays the part of Brader's "depolarised"
  condition). ``soft=True`` multiplies the jumps by ``(1 - X)`` and ``X`` (optional weight
  dependence, own choice). Every parameter value is own choice (fitted, see
  :data:`CALCIUM_BISTABLE_SETS`) unless its docstring names a source.

Drift in the engine: the engine calls a rule only in steps with spikes (``event_driven``), so
the drift is applied lazily at each call for the time since the previous call, read off a
slowly decaying clock trace (``tau_clock``; exact up to float rounding, ~1e-4 relative per
1 ms step in float32). The silent tail after the last spike is not drifted.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import PlasticityRule, Traces, TraceSpec, Update, outer

EFFICACIES = ("analog", "binary")


class CalciumBistableParameters(NamedTuple):
    """Times in ms, rates ``alpha``/``beta`` in 1/s, everything else dimensionless.

    tau_pre, J_pre: presynaptic calcium trace [Girão 2025: bounded pre trace; values own].
    tau_Ca, J_C: postsynaptic calcium [Brader 2007 eq. for C: jump J_C at post spikes, decay
    tau_C; bounded by saturation as in Girão 2025; values own].
    tau_y, J_y: fast postsynaptic trace that gates LTD at pre spikes [own choice].
    a, b: jumps of X [Brader 2007]. theta_up_l, theta_up_h, theta_down_l, theta_down_h:
    stop-learning windows on C [Brader 2007; values own]. alpha, beta: drift rates of X to 1 / 0
    (1/s), theta_X: the unstable point [Brader 2007]. soft: jumps scaled by (1 - X) / X [own].
    """

    tau_pre: float = 20.0
    J_pre: float = 0.5
    tau_Ca: float = 100.0
    J_C: float = 0.2
    tau_y: float = 30.0
    J_y: float = 0.5
    a: float = 0.05
    b: float = 0.05
    theta_up_l: float = 0.0
    theta_up_h: float = 1.0
    theta_down_l: float = 0.0
    theta_down_h: float = 1.0
    alpha: float = 0.0
    beta: float = 0.0
    theta_X: float = 0.5
    soft: bool = False


def validate_calcium_bistable(p: CalciumBistableParameters) -> CalciumBistableParameters:
    for name in ("tau_pre", "tau_Ca", "tau_y"):
        check_range(f"{name} (ms)", getattr(p, name), 0.0, low_open=True)
    for name in ("J_pre", "J_C", "J_y"):
        check_range(name, getattr(p, name), 0.0, 1.0, low_open=True)
    for name in ("a", "b", "alpha", "beta"):
        check_range(name, getattr(p, name), 0.0)
    for name in ("theta_up_l", "theta_up_h", "theta_down_l", "theta_down_h", "theta_X"):
        check_range(name, getattr(p, name), 0.0, 1.0)
    for lo, hi in (("theta_up_l", "theta_up_h"), ("theta_down_l", "theta_down_h")):
        if getattr(p, lo) >= getattr(p, hi):
            raise HebbtorchError(
                f"{lo} ({getattr(p, lo):g}) must be below {hi} ({getattr(p, hi):g})")
    return p


def calcium_windows(c_before: torch.Tensor, p: CalciumBistableParameters
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Stop-learning gates (Brader 2007): 1 where the postsynaptic calcium allows LTP / LTD."""
    up = (c_before >= p.theta_up_l) & (c_before < p.theta_up_h)
    down = (c_before >= p.theta_down_l) & (c_before < p.theta_down_h)
    return up.to(c_before.dtype), down.to(c_before.dtype)


def calcium_bistable_jumps(
    pre: torch.Tensor, post: torch.Tensor, x_pre: torch.Tensor, y_post: torch.Tensor,
    c_before: torch.Tensor, c_after: torch.Tensor, p: CalciumBistableParameters,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The jumps of X as factor pairs ``(pre-side, post-side)`` whose outer products are
    ΔX+ and ΔX- (module docstring): LTP ``a x_pre ⊗ post C(t+) gate_up``, LTD
    ``b pre ⊗ y gate_down``. x_pre: pre calcium *before* this step's spikes (a simultaneous
    pair does not count); y_post, c_before: post traces before; c_after: after. Batched
    ``[batch, n]``; the supervised study sums the outer products over a batch of images."""
    up, down = calcium_windows(c_before, p)
    return (p.a * x_pre, post * c_after * up), (p.b * pre, y_post * down)


def bistable_drift(X: torch.Tensor, p: CalciumBistableParameters, elapsed_ms: torch.Tensor | float
                   ) -> torch.Tensor:
    """Brader 2007: dX/dt = alpha if X > theta_X else -beta, X clipped to [0, 1]; linear in
    time, so one call covers any silent stretch (``elapsed_ms`` broadcastable against X)."""
    if p.alpha == 0 and p.beta == 0:
        return X
    rate = torch.where(X > p.theta_X, p.alpha, -p.beta)
    return (X + rate * (torch.as_tensor(elapsed_ms, dtype=X.dtype) / 1000.0)).clamp(0.0, 1.0)


def apply_jumps(X: torch.Tensor, ltp: torch.Tensor | None, ltd: torch.Tensor | None,
                p: CalciumBistableParameters) -> torch.Tensor:
    """X after the jumps (full tensors like X), with the optional soft weight dependence."""
    if ltp is not None:
        X = X + (ltp * (1.0 - X) if p.soft else ltp)
    if ltd is not None:
        X = X - (ltd * X if p.soft else ltd)
    return X.clamp(0.0, 1.0)


def efficacy(X: torch.Tensor, p: CalciumBistableParameters, mode: str) -> torch.Tensor:
    """Synaptic efficacy in [0, 1]: ``binary`` (X > theta_X, Brader 2007) or ``analog`` (X)."""
    return (X > p.theta_X).to(X.dtype) if mode == "binary" else X


class CalciumBistableState(NamedTuple):
    """X ``[batch, pre, post]``: internal variable; clock ``[batch, pre]``: the clock trace
    after the previous call (its decay since gives the elapsed time for the drift)."""

    X: torch.Tensor
    clock: torch.Tensor | None


class CalciumBistable(PlasticityRule):
    """Engine rule (module docstring). The engine weight is the efficacy mapped to
    ``[w_lo, w_hi]``: ``w = w_lo + (w_hi - w_lo) efficacy(X)``; X starts from the initial
    weight (analog) or at 0 / 1 (binary). Use ``WeightBounds(w_lo, w_hi)`` or ``bounds=None``."""

    def __init__(self, params: CalciumBistableParameters | None = None, *,
                 efficacy: str = "analog", w_lo: float = 0.0, w_hi: float = 1.0,
                 tau_clock: float = 1e4) -> None:
        self.params = p = validate_calcium_bistable(params or CalciumBistableParameters())
        if efficacy not in EFFICACIES:
            raise HebbtorchError(f"efficacy must be one of {EFFICACIES}, got {efficacy!r}")
        if not w_hi > w_lo:
            raise HebbtorchError(f"w_hi ({w_hi:g}) must be above w_lo ({w_lo:g})")
        self.mode, self.w_lo, self.w_hi = efficacy, float(w_lo), float(w_hi)
        self.drifts = p.alpha > 0 or p.beta > 0
        self.pre_traces = (TraceSpec(p.tau_pre, "saturating", p.J_pre),)
        if self.drifts:  # clock: reset to 1 at pre spikes, decays slowly (see module docstring)
            self.tau_clock = check_range("tau_clock (ms)", tau_clock, 0.0, low_open=True)
            self.pre_traces += (TraceSpec(self.tau_clock, "nearest", 1.0),)
        self.post_traces = (TraceSpec(p.tau_Ca, "saturating", p.J_C),
                            TraceSpec(p.tau_y, "saturating", p.J_y))

    def init_state(self, w: torch.Tensor) -> CalciumBistableState:
        X = ((w - self.w_lo) / (self.w_hi - self.w_lo)).clamp(0.0, 1.0)
        clock = w.new_zeros(w.shape[:2]) if self.drifts else None
        return CalciumBistableState(X, clock)

    def resync_state(self, state: CalciumBistableState, w: torch.Tensor) -> CalciumBistableState:
        return self.init_state(w)._replace(clock=state.clock)

    def _elapsed(self, state: CalciumBistableState, x_pre: Traces) -> torch.Tensor:
        """ms since the previous call, per batch row (0 before the first presynaptic spike):
        every clock entry decays by the same factor, so the largest stays the largest."""
        before = x_pre.before[1].flatten(1).amax(1)
        last = state.clock.flatten(1).amax(1)
        ok = (last > 0) & (before > 0)
        ratio = torch.where(ok, last / torch.where(ok, before, 1.0), 1.0)
        return (self.tau_clock * torch.log(ratio)).view(-1, 1, 1)

    def update(self, pre: torch.Tensor, post: torch.Tensor, x_pre: Traces, x_post: Traces,
               w: torch.Tensor, state: CalciumBistableState, dt: float
               ) -> tuple[Update, CalciumBistableState]:
        p = self.params
        X = state.X
        if self.drifts:
            X = bistable_drift(X, p, self._elapsed(state, x_pre))
        ltp = ltd = None
        (lp, lq), (dp, dq) = calcium_bistable_jumps(
            pre, post, x_pre.before[0], x_post.before[1], x_post.before[0], x_post.after[0], p)
        if bool(post.any()):
            ltp = outer(lp, lq)
        if bool(pre.any()):
            ltd = outer(dp, dq)
        X = apply_jumps(X, ltp, ltd, p)
        new_w = self.w_lo + (self.w_hi - self.w_lo) * efficacy(X, p, self.mode)
        dw = new_w - w
        clock = x_pre.after[1] if self.drifts else None
        return Update(dw.clamp_min(0.0), (-dw).clamp_min(0.0)), CalciumBistableState(X, clock)

    def ungated_window(self, dts: torch.Tensor) -> torch.Tensor:
        """Analytic ΔX of one isolated pair without drift, soft bounds or gates (valid only when
        both windows are open at C = 0, i.e. theta_up_l = theta_down_l = 0; not named
        ``window`` so the protocols do not overlay it for gated sets), Δt = t_post - t_pre
        (ms): ``a J_pre J_C exp(-Δt/tau_pre)`` for Δt > 0, ``-b J_y exp(Δt/tau_y)`` for Δt < 0."""
        p = self.params
        return torch.where(
            dts > 0, p.a * p.J_pre * p.J_C * torch.exp(-dts / p.tau_pre),
            torch.where(dts < 0, -p.b * p.J_y * torch.exp(dts / p.tau_y), torch.zeros_like(dts)))


# Named parameter sets (all values own choice, fitted by hebbtorch.studies.calcium_fit; the
# numbers each reaches are in docs/calcium.md and bench/results/calcium-fit.json).
CALCIUM_BISTABLE_SETS: dict[str, CalciumBistableParameters] = {
    "default": CalciumBistableParameters(),
    # fitted to Sjöström et al. 2001 alone (loss weight of Bi & Poo 0)
    "sjostrom": CalciumBistableParameters(
        tau_pre=11.70, J_pre=0.7499, tau_Ca=93.47, J_C=0.2017, tau_y=8.192, J_y=0.848,
        a=0.0315, b=0.01067, theta_up_l=0.3761, theta_down_h=0.3644),
    # fitted to Sjöström et al. 2001 and Bi & Poo 1998 jointly (loss weight of Bi & Poo 1)
    "sjostrom_bipoo": CalciumBistableParameters(
        tau_pre=13.27, J_pre=0.3817, tau_Ca=59.30, J_C=0.04135, tau_y=60.0, J_y=0.07528,
        a=0.3822, b=0.02777, theta_up_l=0.02867, theta_down_h=0.163),
    # fitted mostly to Bi & Poo 1998 (loss weight of Bi & Poo 10)
    "bipoo": CalciumBistableParameters(
        tau_pre=8.075, J_pre=0.439, tau_Ca=67.04, J_C=0.04135, tau_y=44.44, J_y=0.05035,
        a=0.3822, b=0.02136, theta_up_l=0.0, theta_down_h=0.163),
}


def calcium_bistable_parameters(name: str) -> CalciumBistableParameters:
    if name not in CALCIUM_BISTABLE_SETS:
        raise HebbtorchError(
            f"unknown calcium-bistable set {name!r}; known: {sorted(CALCIUM_BISTABLE_SETS)}")
    return CALCIUM_BISTABLE_SETS[name]


def _make(params: str | None) -> CalciumBistable:
    return CalciumBistable(calcium_bistable_parameters(params or "sjostrom"))


registry.register(registry.RuleEntry(
    "calcium-bistable", "calcium-based bistable rule with stop-learning (after Brader, Senn & "
    "Fusi 2007; Girão, Risi & Chicca 2025)", _make,
    f"a fitted set: {', '.join(sorted(CALCIUM_BISTABLE_SETS))} (default sjostrom)"))
