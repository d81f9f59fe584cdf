"""The plasticity core: what every local rule shares, written once.

A *rule* (:class:`PlasticityRule`) declares which exponential spike traces it needs
(:class:`TraceSpec`) and turns them into weight changes (:class:`Update`). The core keeps the
traces (decay, jump, subnormal flush) and the step order (:func:`rule_step`), presynaptic
delay lines (:class:`DelayLine`), the weight bounds (hard clip, additive or multiplicative =
soft-bound dependence; :func:`bounded_step`), normalisation (:func:`normalize_`) and the rule
description the fused kernels compile (:class:`RuleSpec` of a :class:`TraceRule`, traces and
delays included: :func:`kernel_spec`). One engine runs rules on weights laid out ``[..., pre,
post]``: :class:`~hebbtorch.plasticity.connection.PlasticConnection`, over a batch of
independent networks ``[batch, pre, post]`` or one ``[pre, post]`` weight shared by a batch
(``shared=True``: changes averaged over it; the Diehl & Cook network);
:class:`~hebbtorch.plasticity.learner.Learner` steps through the same functions.

Step order (every user, both kernels): traces decay by ``exp(-dt / tau)`` (and are flushed
below the smallest normal number); the rule sees the traces *before* this step's spikes are
added (``before``) and after (``after``); then the traces take the new spikes. So a pre spike
and a post spike in the same step do not pair (Δt = 0 contributes nothing to pair terms).
Time in ms.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError

TRACE_MODES = ("all_to_all", "nearest", "saturating")
WEIGHT_DEPENDENCES = ("additive", "multiplicative")


class TraceSpec(NamedTuple):
    """One exponential spike trace ``dx/dt = -x / tau`` (tau in ms) with a jump at each spike:
    ``all_to_all``: x += jump (every earlier spike counts; Pfister & Gerstner 2006, eq. 1);
    ``nearest``: x = jump (only the last spike counts; their "nearest-spike" model);
    ``saturating``: x += jump * (1 - x) (bounded in [0, 1); used by the calcium-trace rule).
    ``delay`` (ms, >= 0) delays the spikes feeding this trace (e.g. Graupner & Brunel's D); it
    is rounded to the nearest multiple of the engine's dt."""

    tau: float
    mode: str = "all_to_all"
    jump: float = 1.0
    delay: float = 0.0


class Traces(NamedTuple):
    """Trace values handed to a rule: ``before``/``after`` this step's spikes, one tensor per
    :class:`TraceSpec` (``[batch, pre]`` -- ``[batch, pre, post]`` with per-synapse delays -- or
    ``[batch, post]``); ``spikes``: the spikes that fed each trace this step (delayed ones for
    delayed traces)."""

    before: tuple[torch.Tensor, ...]
    after: tuple[torch.Tensor, ...]
    spikes: tuple[torch.Tensor, ...]


LowRank = tuple[torch.Tensor, torch.Tensor]


class Update(NamedTuple):
    """A rule's output: non-negative potentiation and depression magnitudes, each a full
    ``[batch, pre, post]`` tensor, a factor pair ``(a [batch, pre], b [batch, post])`` meaning
    their outer product (lets the engine add it in one fused pass; ``a`` may be
    ``[batch, pre, post]`` with per-synapse delays), or None when zero this step. The engine
    applies the weight dependence to them."""

    ltp: torch.Tensor | LowRank | None
    ltd: torch.Tensor | LowRank | None


class PlasticityRule:
    """Base class of pluggable rules. Subclasses set ``pre_traces``/``post_traces`` and
    implement :meth:`update`; rules with per-synapse state override :meth:`init_state`.
    ``event_driven`` is True when the rule changes nothing in steps without spikes, which lets
    the engine jump over silent stretches exactly. Rules whose update is a spike-triggered
    product of traces should subclass :class:`TraceRule` instead: they then run fused."""

    pre_traces: tuple[TraceSpec, ...] = ()
    post_traces: tuple[TraceSpec, ...] = ()
    event_driven: bool = True

    def init_state(self, w: torch.Tensor) -> Any:
        return None

    def resync_state(self, state: Any, w: torch.Tensor) -> Any:
        """The state after ``w`` was changed from outside (e.g. normalised): by default
        re-derived from ``w``; rules with parts the weights don't determine keep those."""
        return self.init_state(w)

    def update(
        self, pre: torch.Tensor, post: torch.Tensor, x_pre: Traces, x_post: Traces,
        w: torch.Tensor, state: Any, dt: float,
    ) -> tuple[Update, Any]:
        raise NotImplementedError


def pre_side(a: torch.Tensor) -> torch.Tensor:
    """A presynaptic quantity broadcastable against ``[batch, pre, post]``: ``[batch, pre]`` gets
    a trailing axis; per-synapse ``[batch, pre, post]`` (per-synapse delays) is kept."""
    return a.unsqueeze(2) if a.dim() == 2 else a


def outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched outer product ``[batch, pre] x [batch, post] -> [batch, pre, post]`` (``a`` may
    already be per synapse, ``[batch, pre, post]``)."""
    return pre_side(a) * b.unsqueeze(1)


def dense(u: torch.Tensor | LowRank | None) -> torch.Tensor | None:
    """An :class:`Update` field as a full ``[batch, pre, post]`` tensor."""
    return outer(*u) if isinstance(u, tuple) else u


# ---------------------------------------------------------------------------------- traces
def validate_trace(spec: TraceSpec) -> TraceSpec:
    check_range("trace tau (ms)", spec.tau, 0.0, low_open=True)
    check_range("trace delay (ms)", spec.delay, 0.0)
    if spec.mode not in TRACE_MODES:
        raise HebbtorchError(f"trace mode must be one of {TRACE_MODES}, got {spec.mode!r}")
    if spec.mode == "saturating":
        check_range("saturating trace jump", spec.jump, 0.0, 1.0)
    return spec


def validate_rule_traces(rule: PlasticityRule) -> None:
    """Every trace valid; postsynaptic traces undelayed (delays are presynaptic)."""
    for s in (*rule.pre_traces, *rule.post_traces):
        validate_trace(s)
    if any(s.delay for s in rule.post_traces):
        raise HebbtorchError("postsynaptic traces cannot be delayed (delays are presynaptic)")


def trace_decays(specs: Sequence[TraceSpec], dt: float) -> list[float]:
    """Per-step decay factors ``exp(-dt / tau)`` (Python floats: the kernels take them as
    doubles, so a jump over k steps rounds as here)."""
    return [math.exp(-dt / s.tau) for s in specs]


def trace_jump(x: torch.Tensor, s: torch.Tensor, spec: TraceSpec) -> torch.Tensor:
    """Add this step's spikes ``s`` (0/1) to an already-decayed trace ``x``."""
    if spec.mode == "all_to_all":
        return x + spec.jump * s
    if spec.mode == "nearest":
        return torch.where(s > 0, torch.full_like(x, spec.jump), x)
    return x + spec.jump * s * (1.0 - x)  # saturating


@functools.cache
def _largest_subnormal(dtype: torch.dtype) -> float:
    tiny = torch.tensor(torch.finfo(dtype).tiny, dtype=dtype)
    return float(torch.nextafter(tiny, torch.zeros((), dtype=dtype)))


def flush_subnormal(x: torch.Tensor) -> torch.Tensor:
    """``x`` with the entries of a decaying quantity that fell below the smallest normal number
    set to 0. Why: a trace decaying by a = exp(-dt / tau) > 1/2 never reaches 0 -- the smallest
    subnormal times a rounds back to itself -- and subnormal arithmetic takes x86 CPUs ~100x
    longer (microcode assists); silent inputs kept every step of the fused kernel there.
    Below 1.2e-38 (float32) nothing physical is lost; the fused CPU kernel flushes the same.
    (``hardshrink``: one operation, sign-agnostic.)"""
    return torch.nn.functional.hardshrink(x, _largest_subnormal(x.dtype))


def decay_traces(xs: Sequence[torch.Tensor], decays: Sequence[float], steps: int = 1
                 ) -> tuple[torch.Tensor, ...]:
    """Traces after ``steps`` silent steps (one multiplication by ``decay ** steps``), flushed."""
    return tuple(flush_subnormal(x * (a ** steps)) for x, a in zip(xs, decays, strict=True))


def jump_traces(xs: Sequence[torch.Tensor], spikes: Sequence[torch.Tensor],
                specs: Sequence[TraceSpec]) -> tuple[torch.Tensor, ...]:
    return tuple(trace_jump(x, s, sp) for x, s, sp in zip(xs, spikes, specs, strict=True))


def rule_step(rule: PlasticityRule, x_pre: Sequence[torch.Tensor], x_post: Sequence[torch.Tensor],
              decay_pre: Sequence[float], decay_post: Sequence[float], arrived: torch.Tensor,
              post: torch.Tensor, pre_in: Sequence[torch.Tensor], w: torch.Tensor, state: Any,
              dt: float, n_decay: int = 1, post_fired: bool = True,
              ) -> tuple[Update, tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], Any]:
    """One step of ``rule`` in the core's order: traces decay over ``n_decay`` steps, the rule
    sees them before and after this step's spikes, the traces take the spikes. ``arrived``:
    the presynaptic spikes reaching the synapses, ``pre_in``: those feeding each presynaptic
    trace (delayed ones for delayed traces). ``post_fired=False`` promises ``post`` is all zero
    (a jump without a spike is the identity in every trace mode). Returns the rule's update,
    the traces after the step and the rule's new state. Every user of the core steps here."""
    bp = decay_traces(x_pre, decay_pre, n_decay)
    bq = decay_traces(x_post, decay_post, n_decay)
    ap = jump_traces(bp, pre_in, rule.pre_traces)
    aq = jump_traces(bq, (post,) * len(bq), rule.post_traces) if post_fired else bq
    upd, state = rule.update(arrived, post, Traces(bp, ap, tuple(pre_in)),
                             Traces(bq, aq, (post,) * len(aq)), w, state, dt)
    return upd, ap, aq, state


def traces_before(spikes: torch.Tensor, spec: TraceSpec, dt: float) -> torch.Tensor:
    """Trace values *before* each step's spikes for a whole train ``[T, ...]`` (the core's step
    order: decay, read, jump); used where a learner needs a trace history (aSTDP)."""
    (a,) = trace_decays([spec], dt)
    x = torch.zeros_like(spikes[0])
    out = torch.empty_like(spikes)
    for t in range(spikes.shape[0]):
        (x,) = decay_traces([x], [a])
        out[t] = x
        x = trace_jump(x, spikes[t], spec)
    return out


# ---------------------------------------------------------------------------------- bounds
class WeightBounds(NamedTuple):
    """``w_min``/``w_max``: hard clip after every update (None: unbounded on that side);
    ``dependence``: ``additive`` (Δw = ltp - ltd, Song et al. 2000) or ``multiplicative``
    (soft bounds: Δw = ltp (w_max - w) - ltd (w - w_min), van Rossum et al. 2000)."""

    w_min: float | None = 0.0
    w_max: float | None = 1.0
    dependence: str = "additive"


DEFAULT_BOUNDS = WeightBounds()


def validate_bounds(b: WeightBounds | None) -> WeightBounds | None:
    if b is None:
        return b
    if b.dependence not in WEIGHT_DEPENDENCES:
        raise HebbtorchError(
            f"weight dependence must be one of {WEIGHT_DEPENDENCES}, got {b.dependence!r}")
    if b.dependence == "multiplicative" and (b.w_min is None or b.w_max is None):
        raise HebbtorchError("multiplicative (soft-bound) STDP needs both w_min and w_max")
    if b.w_min is not None and b.w_max is not None and b.w_min > b.w_max:
        raise HebbtorchError(f"w_min ({b.w_min:g}) > w_max ({b.w_max:g})")
    return b


def is_soft(b: WeightBounds | None) -> bool:
    return b is not None and b.dependence == "multiplicative"


def clip_(w: torch.Tensor, b: WeightBounds | None) -> torch.Tensor:
    """The hard clip, in place (nothing where both sides are unbounded)."""
    if b is not None and (b.w_min is not None or b.w_max is not None):
        w.clamp_(min=b.w_min, max=b.w_max)
    return w


def soft_change(w: torch.Tensor, ltp: torch.Tensor | None, ltd: torch.Tensor | None,
                b: WeightBounds) -> torch.Tensor:
    """Δw = ltp (w_max - w) - ltd (w - w_min) (van Rossum et al. 2000), simultaneous."""
    dw = torch.zeros_like(w)
    if ltp is not None:
        dw.addcmul_(ltp, b.w_max - w)
    if ltd is not None:
        dw.addcmul_(ltd, w - b.w_min, value=-1.0)
    return dw


def bounded_step(w: torch.Tensor, ltp: torch.Tensor | None, ltd: torch.Tensor | None,
                 b: WeightBounds | None) -> torch.Tensor:
    """``w`` after one step's change (a new tensor): Δw = ltp - ltd (additive) or the soft-bound
    form, then the hard clip. ``ltp``/``ltd`` are full tensors shaped like ``w`` (or None)."""
    if ltp is None and ltd is None:
        return w
    soft = is_soft(b)
    dw = torch.zeros_like(w)
    if ltp is not None:
        dw = dw + (ltp * (b.w_max - w) if soft else ltp)
    if ltd is not None:
        dw = dw - (ltd * (w - b.w_min) if soft else ltd)
    return clip_(w + dw, b)


def normalize_(w: torch.Tensor, total: float, dims: int | tuple[int, ...]) -> torch.Tensor:
    """Rescale ``w`` in place so that its sums over ``dims`` (the incoming weights of one
    postsynaptic unit) equal ``total`` (multiplicative normalisation; Diehl & Cook 2015's
    ``normalize_weights``). A unit with no weight left stays at 0."""
    return w.mul_(total / w.sum(dims, keepdim=True).clamp_min(1e-12))


# ---------------------------------------------------------------------------------- delays
def delay_steps(ms: float, dt: float, what: str) -> int:
    """A delay (ms) as whole steps of ``dt``; it must be a multiple of ``dt``."""
    k = round(ms / dt)
    if abs(k * dt - ms) > 1e-6 * max(1.0, abs(ms)):
        raise HebbtorchError(f"{what} ({ms:g} ms) must be a multiple of dt ({dt:g} ms)")
    return int(k)


class DelayLine(NamedTuple):
    """Presynaptic delays in whole steps: ``axon`` ``[pre]`` (transmission delay per presynaptic
    neuron) or ``[pre, post]`` (per synapse), and per presynaptic trace the extra delay of the
    spikes feeding it (``trace``; e.g. Graupner & Brunel's D, rounded to the nearest step:
    error <= dt / 2). The spikes in flight are a history ``[length, batch, pre]`` (oldest first)
    kept in the user's state; these methods are pure."""

    axon: torch.Tensor
    trace: tuple[int, ...]

    @staticmethod
    def make(axon_steps: torch.Tensor, rule: PlasticityRule, dt: float) -> DelayLine:
        return DelayLine(axon_steps, tuple(round(s.delay / dt) for s in rule.pre_traces))

    @property
    def per_synapse(self) -> bool:
        return self.axon.dim() == 2

    @property
    def length(self) -> int:
        """Steps of history needed: the longest axonal plus the longest trace delay."""
        return int(self.axon.max()) + max(self.trace, default=0)

    def _gather(self, full: torch.Tensor, t_idx: torch.Tensor) -> torch.Tensor:
        """Spikes ``full[t, batch, pre]`` at time indices ``t_idx`` ``[..., pre]`` (``[..., pre,
        post]`` per synapse; negative: before the record, no spike) -> ``[..., batch, pre]``
        (``[..., batch, pre, post]``)."""
        n_pre = self.axon.shape[0]
        ar = torch.arange(n_pre, device=full.device)
        ar = (ar[:, None] if self.per_synapse else ar).expand_as(t_idx)
        g = full[t_idx.clamp_min(0), :, ar] * (t_idx >= 0).unsqueeze(-1).to(full.dtype)
        return g.movedim(-1, -3 if self.per_synapse else -2)

    def _no_axon(self) -> bool:
        return not self.per_synapse and not bool(self.axon.any())

    def step(self, history: torch.Tensor, now: torch.Tensor
             ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """This step's arrivals at the synapses, the spikes feeding each trace, and the history
        after the step, from the history and this step's spikes ``now`` ``[batch, pre]``."""
        if self.length == 0:
            return now, [now] * len(self.trace), history
        full = torch.cat([history, now.unsqueeze(0)], 0)  # [length + 1, batch, pre]
        last = full.shape[0] - 1
        axon = self.axon.to(full.device)

        def read(extra: int) -> torch.Tensor:
            if self._no_axon():
                return full[last - extra]
            return self._gather(full, last - (axon + extra))

        arrived = read(0)
        return arrived, [read(k) if k else arrived for k in self.trace], full[1:]

    def train(self, history: torch.Tensor, spikes: torch.Tensor
              ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """:meth:`step` for a whole train ``[time, batch, pre]`` at once."""
        T = spikes.shape[0]
        full = torch.cat([history, spikes], 0)
        off = history.shape[0]
        axon = self.axon.to(spikes.device)

        def read(extra: int) -> torch.Tensor:
            if off == 0 and extra == 0 and self._no_axon():
                return spikes
            # the spike seen at step t (by synapse i[, j]) left neuron i at t - delay - extra
            t = torch.arange(T, device=spikes.device).view(T, *([1] * axon.dim()))
            return self._gather(full, t + off - (axon + extra))

        arrived = read(0)
        rest = full[full.shape[0] - self.length:].clone() if self.length else history
        return arrived, [read(k) if k else arrived for k in self.trace], rest


# ------------------------------------------------------------------ rule description
class Factor(NamedTuple):
    """``k0 + k1 * trace`` (dimensionless): ``trace`` indexes the rule's pre- or postsynaptic
    traces (by the side the factor is on), taken before this step's spikes or, with ``after``
    (postsynaptic factors only), including them. ``k1 = 0``: the constant ``k0``."""

    k0: float
    k1: float
    trace: int = 0
    after: bool = False


ONE = Factor(1.0, 0.0)
NO_GATE = (0, -math.inf, math.inf)


class RuleSpec(NamedTuple):
    """A spike-triggered rule as data: on a post spike of j ``LTP_ij = ltp_pre_i ltp_post_j``,
    on a pre spike of i ``LTD_ij = ltd_pre_i ltd_post_j``; ``gate``: (post trace, low, high) --
    both post factors are 0 while that trace (before the spikes) is outside [low, high];
    ``pre_traces``/``post_traces``: the traces the factors index (time constants, modes, jumps
    and presynaptic delays). A rule sets the factors; :func:`kernel_spec` fills in its traces,
    so the description a kernel gets is complete -- delays included. The reference
    (:meth:`TraceRule.update` and the engine), the fused CPU kernel and the Triton kernel all
    evaluate this description."""

    ltp_pre: Factor
    ltp_post: Factor
    ltd_pre: Factor
    ltd_post: Factor
    gate: tuple[int, float, float] = NO_GATE
    pre_traces: tuple[TraceSpec, ...] = ()
    post_traces: tuple[TraceSpec, ...] = ()

    @property
    def delays(self) -> tuple[float, ...]:
        """Presynaptic trace delays (ms), one per presynaptic trace."""
        return tuple(t.delay for t in self.pre_traces)


def _factor(f: Factor, tr: Traces) -> torch.Tensor | float:
    """A factor's value; the forms below round exactly as writing the product out by hand."""
    if f.k1 == 0:
        return float(f.k0)
    x = (tr.after if f.after else tr.before)[f.trace]
    if f.k0 == 0:
        return x if f.k1 == 1 else f.k1 * x
    return f.k0 + f.k1 * x


def _times(s: torch.Tensor, v: torch.Tensor | float) -> torch.Tensor:
    return s if isinstance(v, float) and v == 1.0 else s * v


def _tensor(v: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    return torch.full_like(like, v) if isinstance(v, float) else v


def spec_update(spec: RuleSpec, pre: torch.Tensor, post: torch.Tensor, x_pre: Traces,
                x_post: Traces) -> Update:
    """The :class:`Update` a :class:`RuleSpec` describes (low-rank factor pairs)."""
    g_trace, lo, hi = spec.gate
    gate = None
    if spec.gate != NO_GATE:
        y = x_post.before[g_trace]
        gate = ((y >= lo) & (y <= hi)).to(post.dtype)
    ltp = ltd = None
    if bool(post.any()):
        b = _times(post, _factor(spec.ltp_post, x_post))
        ltp = (_tensor(_factor(spec.ltp_pre, x_pre), x_pre.before[0]),
               b if gate is None else b * gate)
    if bool(pre.any()):
        b = _tensor(_factor(spec.ltd_post, x_post), post)
        ltd = (_times(pre, _factor(spec.ltd_pre, x_pre)), b if gate is None else b * gate)
    return Update(ltp, ltd)


class TraceRule(PlasticityRule):
    """A rule given entirely by its traces and a :class:`RuleSpec` (set ``pre_traces``,
    ``post_traces`` and ``spec`` in ``__init__``). Its reference update is computed from the
    spec, so the fused kernels -- which read the same spec -- run it with no code of its own.
    A subclass that overrides :meth:`update` is no longer described by its spec; the kernels
    then fall back to the reference loop (:func:`kernel_spec`)."""

    spec: RuleSpec

    def update(self, pre: torch.Tensor, post: torch.Tensor, x_pre: Traces, x_post: Traces,
               w: torch.Tensor, state: Any, dt: float) -> tuple[Update, Any]:
        return spec_update(self.spec, pre, post, x_pre, x_post), state


def kernel_spec(rule: PlasticityRule) -> RuleSpec | None:
    """The complete description a fused kernel may compile for ``rule`` -- its factors and its
    traces with their delays -- or None (not a :class:`TraceRule`, or its update was overridden
    so the spec no longer describes it). A kernel that cannot honour part of it (e.g. delays:
    ``spec.delays``) must refuse it, so that the reference loop runs the rule instead."""
    if not (isinstance(rule, TraceRule) and type(rule).update is TraceRule.update):
        return None
    spec = rule.spec
    traces = (tuple(rule.pre_traces), tuple(rule.post_traces))
    if (spec.pre_traces or spec.post_traces) and (spec.pre_traces, spec.post_traces) != traces:
        raise HebbtorchError(f"{type(rule).__name__}: its spec's traces differ from its "
                             "pre_traces/post_traces")
    return spec._replace(pre_traces=traces[0], post_traces=traces[1])
