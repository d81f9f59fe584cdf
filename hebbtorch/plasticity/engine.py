"""One plasticity engine for every local rule: spike traces, delays, bounds, normalisation.

A *rule* (see :class:`PlasticityRule`) declares which exponential spike traces it needs
(:class:`TraceSpec`) and turns them into weight changes; the engine keeps the traces, the
presynaptic delay lines, the weight bounds and the bookkeeping, so no rule repeats it.

Layout: weights ``[batch, pre, post]`` -- the leading batch dim holds independent networks
or protocol repetitions; spikes ``[batch, pre]`` per step or ``[time, batch, pre]`` per run.
Presynaptic traces are ``[batch, pre]``, or ``[batch, pre, post]`` with per-synapse delays
(each synapse then sees its own delayed copy of the presynaptic train); rules build their
updates with :func:`pre_side` / :func:`outer`, which accept both.
Time is discrete with step ``dt`` (ms). Within a step the order is: traces decay by
``exp(-dt / tau)``; the rule sees the traces *before* this step's spikes are added
(``before``) and after (``after``); then traces take the new spikes. So a pre spike and a post
spike in the same step do not pair (Δt = 0 contributes nothing to pair terms).

Everything runs under ``torch.no_grad()``. With ``apply="grad"`` the engine writes ``-Δw``
into ``weight.grad`` instead of changing the weight, so any ``torch.optim`` optimiser (SGD with
lr=1 reproduces the rule exactly) applies it and BPTT gradients can be mixed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_ndim, check_range, check_size, check_spikes
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
    :meth:`PlasticConnection.run` jump over silent stretches exactly."""

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


def dense(u: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor | None:
    """An :class:`Update` field as a full ``[batch, pre, post]`` tensor."""
    return outer(*u) if isinstance(u, tuple) else u


def trace_jump(x: torch.Tensor, s: torch.Tensor, spec: TraceSpec) -> torch.Tensor:
    """Add this step's spikes ``s`` (0/1) to an already-decayed trace ``x``."""
    if spec.mode == "all_to_all":
        return x + spec.jump * s
    if spec.mode == "nearest":
        return torch.where(s > 0, torch.full_like(x, spec.jump), x)
    return x + spec.jump * s * (1.0 - x)  # saturating


def validate_trace(spec: TraceSpec) -> TraceSpec:
    check_range("trace tau (ms)", spec.tau, 0.0, low_open=True)
    check_range("trace delay (ms)", spec.delay, 0.0)
    if spec.mode not in TRACE_MODES:
        raise HebbtorchError(f"trace mode must be one of {TRACE_MODES}, got {spec.mode!r}")
    if spec.mode == "saturating":
        check_range("saturating trace jump", spec.jump, 0.0, 1.0)
    return spec


class WeightBounds(NamedTuple):
    """``w_min``/``w_max``: hard clip after every update (None: unbounded on that side);
    ``dependence``: ``additive`` (Δw = ltp - ltd, Song et al. 2000) or ``multiplicative``
    (soft bounds: Δw = ltp (w_max - w) - ltd (w - w_min), van Rossum et al. 2000)."""

    w_min: float | None = 0.0
    w_max: float | None = 1.0
    dependence: str = "additive"


DEFAULT_BOUNDS = WeightBounds()


class EngineState(NamedTuple):
    """pre/post: trace tensors; rule: the rule's own state; history: last ``max_delay`` steps of
    presynaptic spikes ``[steps, batch, pre]`` (oldest first) for delayed traces and outputs."""

    pre: tuple[torch.Tensor, ...]
    post: tuple[torch.Tensor, ...]
    rule: Any
    history: torch.Tensor


def _steps(ms: float, dt: float, what: str) -> int:
    k = round(ms / dt)
    if abs(k * dt - ms) > 1e-6 * max(1.0, abs(ms)):
        raise HebbtorchError(f"{what} ({ms:g} ms) must be a multiple of dt ({dt:g} ms)")
    return int(k)


class PlasticConnection(nn.Module):
    """Dense (optionally masked = sparse) plastic synapses ``[batch, pre, post]``.

    Args:
        n_pre, n_post: population sizes. batch: independent copies (networks / repetitions).
        rule: a :class:`PlasticityRule`. dt: step (ms).
        w_init: initial weight (float or tensor broadcastable to ``[batch, pre, post]``).
        bounds: :class:`WeightBounds` (None: unbounded additive).
        mask: bool ``[pre, post]``; absent synapses stay 0 and never learn.
        delay: transmission delay (ms): a scalar, per presynaptic neuron ``[pre]`` (axonal) or
            per synapse ``[pre, post]``; delays both the output current and the spikes the rule
            sees (spike arrival at the synapse). Per-synapse delays make the presynaptic traces
            per synapse (``[batch, pre, post]``, one weight-sized tensor per trace).
        normalize: if set, after each update rescale every postsynaptic neuron's incoming
            weights (per batch) to sum to this value (multiplicative normalisation).
        apply: ``"direct"`` (change ``weight`` in place) or ``"grad"`` (accumulate ``-Δw`` in
            ``weight.grad`` for a torch optimiser; the weight itself is not touched).
    """

    def __init__(
        self, n_pre: int, n_post: int, rule: PlasticityRule, *, batch: int = 1, dt: float = 1.0,
        w_init: float | torch.Tensor = 0.5, bounds: WeightBounds | None = DEFAULT_BOUNDS,
        mask: torch.Tensor | None = None, delay: float | torch.Tensor = 0.0,
        normalize: float | None = None, apply: str = "direct",
        device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        for name, v in (("n_pre", n_pre), ("n_post", n_post), ("batch", batch)):
            if int(v) != v or v <= 0:
                raise HebbtorchError(f"{name} must be a positive integer, got {v}")
        self.dt = check_range("dt (ms)", dt, 0.0, low_open=True)
        if not isinstance(rule, PlasticityRule):
            raise HebbtorchError(f"rule must be a PlasticityRule, got {type(rule).__name__}")
        if apply not in ("direct", "grad"):
            raise HebbtorchError(f"apply must be 'direct' or 'grad', got {apply!r}")
        if bounds is not None and bounds.dependence not in WEIGHT_DEPENDENCES:
            raise HebbtorchError(
                f"weight dependence must be one of {WEIGHT_DEPENDENCES}, got {bounds.dependence!r}")
        if bounds is not None and bounds.dependence == "multiplicative" and (
                bounds.w_min is None or bounds.w_max is None):
            raise HebbtorchError("multiplicative (soft-bound) STDP needs both w_min and w_max")
        if (bounds is not None and bounds.w_min is not None and bounds.w_max is not None
                and bounds.w_min > bounds.w_max):
            raise HebbtorchError(f"w_min ({bounds.w_min:g}) > w_max ({bounds.w_max:g})")
        if normalize is not None:
            check_range("normalize", normalize, 0.0, low_open=True)
        self.n_pre, self.n_post, self.batch = int(n_pre), int(n_post), int(batch)
        self.rule, self.bounds, self.normalize, self.apply = rule, bounds, normalize, apply
        for s in (*rule.pre_traces, *rule.post_traces):
            validate_trace(s)
        if any(s.delay for s in rule.post_traces):
            raise HebbtorchError("postsynaptic traces cannot be delayed (delays are presynaptic)")

        if mask is not None:
            mask = torch.as_tensor(mask, device=device).bool()
            check_ndim("mask", mask, 2, "[pre, post]")
            check_size("mask", mask, 0, self.n_pre, "presynaptic rows")
            check_size("mask", mask, 1, self.n_post, "postsynaptic columns")
        self.register_buffer("mask", mask)
        w = torch.zeros(self.weight_shape(), device=device, dtype=dtype)
        w = w + torch.as_tensor(w_init, device=device, dtype=dtype)
        check_finite("w_init", w)
        if mask is not None:
            w = w * mask
        self.weight = nn.Parameter(w, requires_grad=apply == "grad")

        self.axon_steps = self._delay_steps(delay)
        self.per_synapse = self.axon_steps.dim() == 2
        # rule delays (e.g. GB's D = 4.6098 ms) are rounded to whole steps: error <= dt / 2
        self.trace_steps = [round(s.delay / self.dt) for s in rule.pre_traces]
        self.max_delay = int(self.axon_steps.max()) + max(self.trace_steps, default=0)
        self.decay_pre = [math.exp(-self.dt / s.tau) for s in rule.pre_traces]
        self.decay_post = [math.exp(-self.dt / s.tau) for s in rule.post_traces]
        self._scratch: tuple[torch.Tensor, ...] | None = None
        self.state = self.initial_state()

    # a subclass with another weight layout (PlasticConv2d) overrides these four
    fast_path = True  # low-rank updates added in place (dense layout only)
    norm_dims: tuple[int, ...] = (1,)  # the incoming weights of one postsynaptic unit

    def weight_shape(self) -> tuple[int, ...]:
        return (self.batch, self.n_pre, self.n_post)

    def full_update(self, u: torch.Tensor | LowRank | None) -> torch.Tensor | None:
        """An :class:`Update` field as a tensor shaped like ``weight``."""
        return dense(u)

    def _delay_steps(self, delay: float | torch.Tensor) -> torch.Tensor:
        """Delays (ms) as whole steps: ``[pre]`` (scalar or per neuron) or ``[pre, post]``."""
        d = torch.as_tensor(delay, dtype=torch.float64)
        if d.dim() == 2:
            if tuple(d.shape) != (self.n_pre, self.n_post):
                raise HebbtorchError(
                    f"per-synapse delay must be [pre, post] = [{self.n_pre}, {self.n_post}], "
                    f"got {list(d.shape)}")
        elif d.numel() not in (1, self.n_pre):
            raise HebbtorchError(
                f"delay must be a scalar, [{self.n_pre}] (per presynaptic neuron) or "
                f"[{self.n_pre}, {self.n_post}] (per synapse), got shape {list(d.shape)}")
        if bool((d < 0).any()):
            raise HebbtorchError("delays must be >= 0 ms")
        steps = torch.tensor([_steps(float(v), self.dt, "delay") for v in d.flatten()])
        return steps.view(d.shape) if d.dim() == 2 else steps.expand(self.n_pre).clone()

    # ------------------------------------------------------------------ state
    def initial_state(self) -> EngineState:
        w = self.weight.detach()
        z_pre = w.new_zeros(self.batch, self.n_pre, *([self.n_post] if self.per_synapse else []))
        z_post = w.new_zeros(self.batch, self.n_post)
        return EngineState(
            tuple(z_pre.clone() for _ in self.rule.pre_traces),
            tuple(z_post.clone() for _ in self.rule.post_traces),
            self.rule.init_state(w),
            w.new_zeros(self.max_delay, self.batch, self.n_pre),
        )

    def reset_state(self) -> None:
        self.state = self.initial_state()

    # ------------------------------------------------------------- helpers
    def _check_spikes(self, name: str, s: torch.Tensor, n: int, ndim: int) -> torch.Tensor:
        layout = "[batch, neurons]" if ndim == 2 else "[time, batch, neurons]"
        check_ndim(name, s, ndim, layout)
        check_size(name, s, -2, self.batch, "batch entries")
        check_size(name, s, -1, n, "neurons")
        return check_spikes(name, s).to(self.weight.dtype)

    def _gather(self, full: torch.Tensor, t_idx: torch.Tensor) -> torch.Tensor:
        """Spikes ``full[t, batch, pre]`` picked at time indices ``t_idx`` ``[..., pre]`` (or
        ``[..., pre, post]`` per synapse; negative = before the record, i.e. no spike) ->
        ``[..., batch, pre]`` (or ``[..., batch, pre, post]``)."""
        ar = torch.arange(self.n_pre, device=full.device)
        ar = (ar[:, None] if self.per_synapse else ar).expand_as(t_idx)
        g = full[t_idx.clamp_min(0), :, ar] * (t_idx >= 0).unsqueeze(-1).to(full.dtype)
        return g.movedim(-1, -3 if self.per_synapse else -2)

    def _delayed(self, hist: torch.Tensor, now: torch.Tensor, extra: int) -> torch.Tensor:
        """Presynaptic spikes delayed by the transmission delay + ``extra`` steps."""
        full = torch.cat([hist, now.unsqueeze(0)], 0)  # [max_delay + 1, batch, pre]
        return self._gather(full, full.shape[0] - 1 - (self.axon_steps.to(full.device) + extra))

    def _apply(self, upd: Update, want_dw: bool) -> torch.Tensor | None:
        """Apply a rule's update with the weight dependence, mask, bounds and normalisation;
        return the applied Δw if ``want_dw`` (or in grad mode, where it is needed anyway)."""
        w = self.weight.detach()
        if upd.ltp is None and upd.ltd is None:
            return torch.zeros_like(w) if want_dw else None
        b = self.bounds
        soft = b is not None and b.dependence == "multiplicative"
        if self.fast_path and not (want_dw or self.apply == "grad" or self.mask is not None):
            # fast in-place paths (online simulation): a few fused passes over the weights
            if soft:
                # simultaneous soft bounds: w += g (w_max - w) - h (w - w_min)
                #                               = (g w_max + h w_min) - (g + h) w
                # reused scratch buffers: allocating 3 weight-sized tensors per step costs
                # more (page faults) than the arithmetic
                if self._scratch is None or self._scratch[0].shape != w.shape:
                    self._scratch = tuple(torch.empty_like(w) for _ in range(3))
                g, h, s = self._scratch
                for u, buf in ((upd.ltp, g), (upd.ltd, h)):
                    if u is None:
                        buf.zero_()
                    elif isinstance(u, tuple):
                        torch.mul(pre_side(u[0]), u[1].unsqueeze(1), out=buf)
                    else:
                        buf.copy_(u)
                torch.add(g, h, out=s)
                g.mul_(b.w_max).add_(h, alpha=b.w_min)
                w.addcmul_(s, w, value=-1.0).add_(g)
            else:
                for u, sign in ((upd.ltp, 1.0), (upd.ltd, -1.0)):
                    if isinstance(u, tuple):
                        w.addcmul_(pre_side(u[0]), u[1].unsqueeze(1), value=sign)
                    elif u is not None:
                        w.add_(u, alpha=sign)
            if b is not None and (b.w_min is not None or b.w_max is not None):
                w.clamp_(min=b.w_min, max=b.w_max)
            if self.normalize is not None:
                w.mul_(self.normalize / w.sum(1, keepdim=True).clamp_min(1e-12))
            return None
        ltp, ltd = self.full_update(upd.ltp), self.full_update(upd.ltd)
        dw = torch.zeros_like(w)
        if ltp is not None:
            dw = dw + (ltp * (b.w_max - w) if soft else ltp)
        if ltd is not None:
            dw = dw - (ltd * (w - b.w_min) if soft else ltd)
        if self.mask is not None:
            dw = dw * self.mask
        new = w + dw
        if b is not None and (b.w_min is not None or b.w_max is not None):
            new = new.clamp(min=b.w_min, max=b.w_max)
        if self.normalize is not None:
            tot = new.sum(self.norm_dims, keepdim=True).clamp_min(1e-12)
            new = new * (self.normalize / tot)
        if self.mask is not None:
            new = new * self.mask
        dw = new - w
        if self.apply == "grad":
            g = -dw
            self.weight.grad = g if self.weight.grad is None else self.weight.grad + g
        else:
            self.weight.data.copy_(new)
        return dw

    # ---------------------------------------------------------------- API
    @torch.no_grad()
    def propagate(self, pre: torch.Tensor) -> torch.Tensor:
        """Synaptic input ``[batch, post]`` from presynaptic spikes ``[batch, pre]`` of this
        step, after the axonal delay (uses the stored history; does not learn)."""
        pre = self._check_spikes("pre spikes", pre, self.n_pre, 2)
        arrived = self._delayed(self.state.history, pre, 0)
        if self.per_synapse:
            return (arrived * self.weight.detach()).sum(1)
        return torch.bmm(arrived.unsqueeze(1), self.weight.detach()).squeeze(1)

    @torch.no_grad()
    def step(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """Advance one step with this step's pre ``[batch, pre]`` and post ``[batch, post]``
        spikes; update traces and weights; return the applied ``Δw`` ``[batch, pre, post]``."""
        pre = self._check_spikes("pre spikes", pre, self.n_pre, 2)
        post = self._check_spikes("post spikes", post, self.n_post, 2)
        st = self.state
        arrived = self._delayed(st.history, pre, 0)
        pre_in = [self._delayed(st.history, pre, k) if k else arrived for k in self.trace_steps]
        dw, new_state = self._advance(st, arrived, post, pre_in, 1, True)
        if self.max_delay:
            hist = torch.cat([st.history[1:], pre.unsqueeze(0)], 0)
            new_state = new_state._replace(history=hist)
        self.state = new_state
        return dw

    def _advance(self, st: EngineState, arrived: torch.Tensor, post: torch.Tensor,
                 pre_in: Sequence[torch.Tensor], n_decay: int, want_dw: bool = False,
                 ) -> tuple[torch.Tensor | None, EngineState]:
        """Decay traces by ``n_decay`` steps, let the rule update, add this step's spikes."""
        specs_pre, specs_post = self.rule.pre_traces, self.rule.post_traces
        bp = tuple(x * (a ** n_decay) for x, a in zip(st.pre, self.decay_pre, strict=True))
        bq = tuple(y * (a ** n_decay) for y, a in zip(st.post, self.decay_post, strict=True))
        ap = tuple(trace_jump(x, s, sp) for x, s, sp in zip(bp, pre_in, specs_pre, strict=True))
        aq = tuple(trace_jump(y, post, sp) for y, sp in zip(bq, specs_post, strict=True))
        upd, rstate = self.rule.update(
            arrived, post, Traces(bp, ap, tuple(pre_in)), Traces(bq, aq, (post,) * len(aq)),
            self.weight.detach(), st.rule, self.dt)
        dw = self._apply(upd, want_dw)
        return dw, EngineState(ap, aq, rstate, st.history)

    @torch.no_grad()
    def run(self, pre: torch.Tensor, post: torch.Tensor, *, record: bool = False
            ) -> torch.Tensor | None:
        """Drive the synapses with whole spike trains ``[time, batch, pre]`` and ``[time,
        batch, post]`` (no neuron model: protocols impose both sides). Equivalent to calling
        :meth:`step` per time step, but for event-driven rules silent stretches are skipped
        exactly (traces decay in one jump), so sparse protocols of minutes cost only their
        spike count. Returns the weights after every step ``[time, batch, pre, post]`` if
        ``record`` else None (the final weights are in ``self.weight``)."""
        pre = self._check_spikes("pre spike train", pre, self.n_pre, 3)
        post = self._check_spikes("post spike train", post, self.n_post, 3)
        if pre.shape[0] != post.shape[0]:
            raise HebbtorchError(
                "pre and post spike trains differ in length "
                f"({pre.shape[0]} vs {post.shape[0]} steps)")
        T = pre.shape[0]
        hist = self.state.history  # continue from what step() left in the delay line
        full = torch.cat([hist, pre], 0)
        off = hist.shape[0]
        ax = self.axon_steps.to(pre.device)

        def shifted(extra: int) -> torch.Tensor:
            if off == 0 and extra == 0 and not self.per_synapse and not bool(ax.any()):
                return pre
            # the spike seen at step t (by synapse i[, j]) left neuron i at t - delay - extra
            t = torch.arange(T, device=pre.device).view(T, *([1] * ax.dim()))
            return self._gather(full, t + off - (ax + extra))

        arrived = shifted(0)
        pre_in = [shifted(k) if k else arrived for k in self.trace_steps]
        active = arrived.flatten(1).abs().sum(1) + post.abs().sum((1, 2))
        for p in pre_in:
            active = active + p.flatten(1).abs().sum(1)
        if self.rule.event_driven and not record:
            steps = torch.nonzero(active > 0).flatten().tolist()
        else:
            steps = list(range(T))
        out = [] if record else None
        st, last = self.state, -1
        for t in steps:
            _, st = self._advance(st, arrived[t], post[t], [p[t] for p in pre_in], t - last)
            last = t
            if record:
                out.append(self.weight.detach().clone())
        if last < T - 1:  # decay the traces over the silent tail
            n = T - 1 - last
            st = st._replace(
                pre=tuple(x * (a ** n) for x, a in zip(st.pre, self.decay_pre, strict=True)),
                post=tuple(y * (a ** n) for y, a in zip(st.post, self.decay_post, strict=True)))
        if self.max_delay:
            st = st._replace(history=full[-self.max_delay:].clone())
        self.state = st
        return torch.stack(out) if record else None
