"""The plasticity engine: a rule (:mod:`hebbtorch.plasticity.rules`) on plastic synapses,
:class:`PlasticConnection`.

It runs the core's step (:func:`~hebbtorch.plasticity.core.rule_step`: traces, the rule,
bounds; :class:`~hebbtorch.plasticity.core.DelayLine`: delays) on weights laid out ``[..., pre,
post]`` in one of two modes:

- **independent** (default): weights ``[batch, pre, post]``, the leading dim holding
  independent networks or protocol repetitions (each learns from its own spikes);
- **shared** (``shared=True``): one weight ``[pre, post]`` shared by a batch of ``batch``
  network copies, changed each step by the batch mean of the rule's per-copy updates (as
  BindsNET's batched ``DiehlAndCook2015`` reduces its updates; rule state with a per-copy dim,
  Graupner-Brunel's ρ, is averaged likewise). With ``batch = 1`` the two modes compute the same
  thing. The lanes may be split over processes (``share``); then every step is a collective.
  The Diehl & Cook network learns this way, on its own weight buffer (``weight=``), and its
  fused kernels update this engine's traces in place.

Spikes are ``[batch, pre]`` per step or ``[time, batch, pre]`` per run. Presynaptic traces are
``[batch, pre]``, or ``[batch, pre, post]`` with per-synapse delays (each synapse then sees its
own delayed copy of the presynaptic train); rules build their updates with :func:`pre_side` /
:func:`outer`, which accept both. Time is discrete with step ``dt`` (ms); the step order is the
core's (module docstring of :mod:`hebbtorch.plasticity.core`): a pre and a post spike in the
same step do not pair.

Everything runs under ``torch.no_grad()``. With ``apply="grad"`` the engine writes ``-Δw``
into ``weight.grad`` instead of changing the weight, so any ``torch.optim`` optimiser (SGD with
lr=1 reproduces the rule exactly) applies it and BPTT gradients can be mixed in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_ndim, check_range, check_size, check_spikes
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.core import (
    DEFAULT_BOUNDS,
    DelayLine,
    LowRank,
    PlasticityRule,
    Update,
    WeightBounds,
    bounded_step,
    clip_,
    decay_traces,
    delay_steps,
    dense,
    is_soft,
    normalize_,
    pre_side,
    rule_step,
    soft_change,
    trace_decays,
    validate_bounds,
    validate_rule_traces,
)
from hebbtorch.plasticity.lanes import LaneShare, batch_mean, gather_update, mean_state


class EngineState(NamedTuple):
    """pre/post: trace tensors; rule: the rule's own state; history: last ``length`` steps of
    presynaptic spikes ``[steps, batch, pre]`` (oldest first) for delays
    (:class:`~hebbtorch.plasticity.core.DelayLine`)."""

    pre: tuple[torch.Tensor, ...]
    post: tuple[torch.Tensor, ...]
    rule: Any
    history: torch.Tensor


class _StateField:
    """A field of the engine's :class:`EngineState` read and written as an attribute."""

    def __init__(self, field: str, cast: Any = None) -> None:
        self.field, self.cast = field, cast

    def __get__(self, obj: Any, owner: type) -> Any:
        return self if obj is None else getattr(obj.state, self.field)

    def __set__(self, obj: Any, value: Any) -> None:
        value = value if self.cast is None else self.cast(value)
        obj.state = obj.state._replace(**{self.field: value})


class PlasticConnection(nn.Module):
    """Dense (optionally masked = sparse) plastic synapses: ``[batch, pre, post]`` independent
    networks, or one ``[pre, post]`` weight shared by ``batch`` copies (module docstring).

    Args:
        n_pre: presynaptic population size.
        n_post: postsynaptic population size.
        batch: independent copies (networks / repetitions), or the copies sharing the weight.
        rule: a :class:`PlasticityRule`. dt: step (ms).
        w_init: initial weight (float or tensor broadcastable to :meth:`weight_shape`).
        bounds: :class:`WeightBounds` (None: unbounded additive).
        mask: bool ``[pre, post]``; absent synapses stay 0 and never learn.
        delay: transmission delay (ms): a scalar, per presynaptic neuron ``[pre]`` (axonal) or
            per synapse ``[pre, post]`` (independent mode); delays both the output current and
            the spikes the rule sees (spike arrival at the synapse). Per-synapse delays make the
            presynaptic traces per synapse (``[batch, pre, post]``, one weight-sized tensor per
            trace).
        normalize: if set, after each update rescale every postsynaptic neuron's incoming
            weights (per batch entry) to sum to this value (multiplicative normalisation).
        apply: ``"direct"`` (change ``weight`` in place) or ``"grad"`` (accumulate ``-Δw`` in
            ``weight.grad`` for a torch optimiser; the weight itself is not touched).
        shared: one weight shared by the batch, batch-mean updates (module docstring).
        weight: an existing tensor of :meth:`weight_shape` to learn in place (e.g. a network's
            buffer; then ``w_init``, ``device`` and ``dtype`` are taken from it and ``apply``
            must be "direct").
        share: shared mode: where these ``batch`` lanes sit in a batch split over processes
            (:func:`~hebbtorch.plasticity.lanes.lane_share`; default: they are the whole batch).
    """

    def __init__(
        self, n_pre: int, n_post: int, rule: PlasticityRule, *, batch: int = 1, dt: float = 1.0,
        w_init: float | torch.Tensor = 0.5, bounds: WeightBounds | None = DEFAULT_BOUNDS,
        mask: torch.Tensor | None = None, delay: float | torch.Tensor = 0.0,
        normalize: float | None = None, apply: str = "direct", shared: bool = False,
        weight: torch.Tensor | None = None, share: LaneShare | None = None,
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
        validate_bounds(bounds)
        if normalize is not None:
            check_range("normalize", normalize, 0.0, low_open=True)
        self.n_pre, self.n_post, self.batch = int(n_pre), int(n_post), int(batch)
        self.rule, self.bounds, self.normalize, self.apply = rule, bounds, normalize, apply
        self.shared = bool(shared)
        validate_rule_traces(rule)
        self.share = share or LaneShare(0, self.batch, self.batch)
        if self.share.count != self.batch:
            raise HebbtorchError(f"share has {self.share.count} lanes for a batch of {batch}")
        if self.share.split and not self.shared:
            raise HebbtorchError("share= splits the lanes of a shared weight (shared=True); "
                                 "independent networks split with plasticity.batched")

        if weight is not None:
            device, dtype = weight.device, weight.dtype
        if mask is not None:
            mask = torch.as_tensor(mask, device=device).bool()
            check_ndim("mask", mask, 2, "[pre, post]")
            check_size("mask", mask, 0, self.n_pre, "presynaptic rows")
            check_size("mask", mask, 1, self.n_post, "postsynaptic columns")
        self.register_buffer("mask", mask)
        if weight is not None:
            if tuple(weight.shape) != self.weight_shape():
                raise HebbtorchError(f"weight must be {list(self.weight_shape())}, got "
                                     f"{list(weight.shape)}")
            if apply != "direct":
                raise HebbtorchError("a given weight= tensor is learned in place "
                                     "(apply='direct')")
            self.weight = weight  # not a Parameter: it belongs to its owner
        else:
            w = torch.zeros(self.weight_shape(), device=device, dtype=dtype)
            w = w + torch.as_tensor(w_init, device=device, dtype=dtype)
            check_finite("w_init", w)
            if mask is not None:
                w = w * mask
            self.weight = nn.Parameter(w, requires_grad=apply == "grad")

        self.delay_line = DelayLine.make(self._delay_steps(delay), rule, self.dt)
        if self.shared and self.delay_line.per_synapse:
            raise HebbtorchError("per-synapse delays need independent weights (shared=False)")
        self.per_synapse = self.delay_line.per_synapse
        self.decay_pre = trace_decays(rule.pre_traces, self.dt)
        self.decay_post = trace_decays(rule.post_traces, self.dt)
        self._scratch: tuple[torch.Tensor, ...] | None = None
        self.state = self.initial_state()

    # a subclass with another weight layout (PlasticConv2d) overrides these
    fast_path = True  # low-rank updates added in place (dense layout only)

    @property
    def norm_dims(self) -> tuple[int, ...]:
        """The dims of the incoming weights of one postsynaptic unit."""
        return (0,) if self.shared else (1,)

    def weight_shape(self) -> tuple[int, ...]:
        if self.shared:
            return (self.n_pre, self.n_post)
        return (self.batch, self.n_pre, self.n_post)

    def full_update(self, u: torch.Tensor | LowRank | None) -> torch.Tensor | None:
        """An :class:`Update` field as a tensor shaped like ``weight`` (shared: batch mean)."""
        return batch_mean(u) if self.shared else dense(u)

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
        steps = torch.tensor([delay_steps(float(v), self.dt, "delay") for v in d.flatten()])
        return steps.view(d.shape) if d.dim() == 2 else steps.expand(self.n_pre).clone()

    # ------------------------------------------------------------------ state
    def _rule_weight(self) -> torch.Tensor:
        """The weight as the rule sees it: ``[batch, pre, post]`` (shared: batch 1)."""
        w = self.weight.detach()
        return w.unsqueeze(0) if self.shared else w

    def initial_state(self) -> EngineState:
        w = self.weight.detach()
        z_pre = w.new_zeros(self.batch, self.n_pre, *([self.n_post] if self.per_synapse else []))
        z_post = w.new_zeros(self.batch, self.n_post)
        return EngineState(
            tuple(z_pre.clone() for _ in self.rule.pre_traces),
            tuple(z_post.clone() for _ in self.rule.post_traces),
            self.rule.init_state(self._rule_weight()),
            w.new_zeros(self.delay_line.length, self.batch, self.n_pre),
        )

    def reset_state(self) -> None:
        """Zero the traces and the delay line; (re)initialise the rule state from the weights."""
        self.state = self.initial_state()

    def resync(self) -> None:
        """Re-derive the rule state from the weights after they were changed from outside
        (e.g. normalised by the network); parts the weights don't determine are kept."""
        self.state = self.state._replace(
            rule=self.rule.resync_state(self.state.rule, self._rule_weight()))

    def dynamic_state(self) -> dict:
        """Traces, delay line and rule state of the whole batch (gathered from every rank when
        split: a collective). A named-tuple rule state is saved as a plain dict, so that
        checkpoints do not name the module of its class (which may move)."""
        sh, st = self.share, self.state
        rs = st.rule._asdict() if isinstance(st.rule, tuple) and hasattr(st.rule, "_asdict") \
            else st.rule
        return {"pre": [sh.gather(x) for x in st.pre], "post": [sh.gather(y) for y in st.post],
                "history": sh.gather(st.history, 1), "rule_state": rs}

    def load_dynamic_state(self, d: dict) -> None:
        """Inverse of :meth:`dynamic_state`, onto the weights' device (checkpoints load on
        CPU)."""
        sh, dev = self.share, self.weight.device
        rs = d["rule_state"]
        if isinstance(rs, dict):  # a named tuple of the rule's own type (dynamic_state)
            rs = type(self.state.rule)(**rs)
        if isinstance(rs, tuple):
            rs = type(rs)(*(x.to(dev) if isinstance(x, torch.Tensor) else x for x in rs))
        self.state = EngineState(tuple(sh.local(x).to(dev) for x in d["pre"]),
                                 tuple(sh.local(y).to(dev) for y in d["post"]), rs,
                                 sh.local(d["history"], 1).to(dev))

    # the fused Diehl & Cook kernels read and write the state through these names
    pre = _StateField("pre", tuple)
    post = _StateField("post", tuple)
    history = _StateField("history")
    rule_state = _StateField("rule")

    @property
    def delays(self) -> tuple[int, ...]:
        """Per presynaptic trace, its delay in whole steps (the rule's ``TraceSpec.delay``)."""
        return self.delay_line.trace

    # ------------------------------------------------------------- helpers
    def _check_spikes(self, name: str, s: torch.Tensor, n: int, ndim: int) -> torch.Tensor:
        layout = "[batch, neurons]" if ndim == 2 else "[time, batch, neurons]"
        check_ndim(name, s, ndim, layout)
        check_size(name, s, -2, self.batch, "batch entries")
        check_size(name, s, -1, n, "neurons")
        return check_spikes(name, s).to(self.weight.dtype)

    def _apply(self, upd: Update, want_dw: bool) -> torch.Tensor | None:
        """Apply a rule's update with the weight dependence, mask, bounds and normalisation;
        return the applied Δw if ``want_dw`` (or in grad mode, where it is needed anyway)."""
        w = self.weight.detach()
        if self.shared:
            upd = gather_update(upd, self.share, w)
        if upd.ltp is None and upd.ltd is None:
            return torch.zeros_like(w) if want_dw else None
        if self.fast_path and not (want_dw or self.apply == "grad" or self.mask is not None):
            # in place, a few fused passes over the weights (online simulation)
            (self._shared_in_place if self.shared else self._in_place)(w, upd)
            clip_(w, self.bounds)
            if self.normalize is not None:
                normalize_(w, self.normalize, self.norm_dims)
            return None
        ltp, ltd = self.full_update(upd.ltp), self.full_update(upd.ltd)
        if self.mask is not None:
            ltp, ltd = (None if u is None else u * self.mask for u in (ltp, ltd))
        new = bounded_step(w, ltp, ltd, self.bounds)
        if self.normalize is not None:
            normalize_(new, self.normalize, self.norm_dims)
        if self.mask is not None:
            new = new * self.mask
        dw = new - w
        if self.apply == "grad":
            g = -dw
            self.weight.grad = g if self.weight.grad is None else self.weight.grad + g
        else:
            self.weight.data.copy_(new)
        return dw

    def _in_place(self, w: torch.Tensor, upd: Update) -> None:
        """Independent networks: ``w += ltp - ltd`` (or soft bounds) per batch entry."""
        b = self.bounds
        if is_soft(b):
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
            return
        for u, sign in ((upd.ltp, 1.0), (upd.ltd, -1.0)):
            if isinstance(u, tuple):
                w.addcmul_(pre_side(u[0]), u[1].unsqueeze(1), value=sign)
            elif u is not None:
                w.add_(u, alpha=sign)

    def _shared_in_place(self, w: torch.Tensor, upd: Update) -> None:
        """Shared weight: ``w += mean(ltp) - mean(ltd)`` over the whole batch (or soft bounds)."""
        b = self.bounds
        if is_soft(b):
            w.add_(soft_change(w, batch_mean(upd.ltp), batch_mean(upd.ltd), b))
            return
        for u, sign in ((upd.ltp, 1.0), (upd.ltd, -1.0)):
            if isinstance(u, tuple) and u[0].dim() == 2:  # batch mean of outer products
                w.addmm_(u[0].T, u[1], alpha=sign / self.share.total)
            elif u is not None:
                w.add_(batch_mean(u), alpha=sign)

    # ---------------------------------------------------------------- API
    @torch.no_grad()
    def propagate(self, pre: torch.Tensor) -> torch.Tensor:
        """Synaptic input ``[batch, post]`` from presynaptic spikes ``[batch, pre]`` of this
        step, after the axonal delay (uses the stored history; does not learn)."""
        pre = self._check_spikes("pre spikes", pre, self.n_pre, 2)
        arrived = self.delay_line.step(self.state.history, pre)[0]
        w = self.weight.detach()
        if self.shared:
            return arrived @ w
        if self.per_synapse:
            return (arrived * w).sum(1)
        return torch.bmm(arrived.unsqueeze(1), w).squeeze(1)

    @torch.no_grad()
    def step(self, pre: torch.Tensor, post: torch.Tensor, post_fired: bool = True, *,
             want_dw: bool | None = None, check: bool = True) -> torch.Tensor | None:
        """Advance one step with this step's pre ``[batch, pre]`` and post ``[batch, post]``
        spikes; update traces and weights. Returns the applied ``Δw`` (weight layout) if
        ``want_dw`` -- by default in independent mode; shared mode, run in a network's step
        loop, returns None by default and changes the weight in place. ``post_fired=False``
        promises that ``post`` is all zero (skips the post trace jumps); ``check=False`` that
        both are 0/1 spikes of this connection's shapes and dtype (a network's own spikes: the
        validation pass costs ~15 % of a step of a 784 x 100 layer)."""
        if check:
            pre = self._check_spikes("pre spikes", pre, self.n_pre, 2)
            post = self._check_spikes("post spikes", post, self.n_post, 2)
        arrived, pre_in, history = self.delay_line.step(self.state.history, pre)
        dw, st = self._advance(self.state, arrived, post, pre_in, 1,
                               not self.shared if want_dw is None else want_dw, post_fired)
        self.state = st._replace(history=history)
        return dw

    def _advance(self, st: EngineState, arrived: torch.Tensor, post: torch.Tensor,
                 pre_in: list[torch.Tensor], n_decay: int, want_dw: bool = False,
                 post_fired: bool = True) -> tuple[torch.Tensor | None, EngineState]:
        """Decay traces by ``n_decay`` steps, let the rule update, add this step's spikes."""
        upd, ap, aq, rs = rule_step(self.rule, st.pre, st.post, self.decay_pre, self.decay_post,
                                    arrived, post, pre_in, self._rule_weight(), st.rule,
                                    self.dt, n_decay, post_fired)
        if self.shared:
            rs = mean_state(rs, self.share)
        dw = self._apply(upd, want_dw)
        return dw, EngineState(ap, aq, rs, st.history)

    def skip(self, steps: int) -> bool:
        """Advance ``steps`` steps without any spike in one jump if the rule is event-driven and
        no delayed spike is in flight; return False (nothing done) otherwise. Split over
        processes, a collective."""
        st = self.state
        if not self.rule.event_driven or self.share.any(bool(st.history.any())):
            return False
        self.state = st._replace(pre=decay_traces(st.pre, self.decay_pre, steps),
                                 post=decay_traces(st.post, self.decay_post, steps))
        return True

    @torch.no_grad()
    def run(self, pre: torch.Tensor, post: torch.Tensor, *, record: bool = False
            ) -> torch.Tensor | None:
        """Drive the synapses with whole spike trains ``[time, batch, pre]`` and ``[time,
        batch, post]`` (no neuron model: protocols impose both sides). Equivalent to calling
        :meth:`step` per time step, but for event-driven rules silent stretches are skipped
        exactly (traces decay in one jump), so sparse protocols of minutes cost only their
        spike count. Returns the weights after every step ``[time, ...weight]`` if ``record``
        else None (the final weights are in ``self.weight``)."""
        if self.share.split:
            raise HebbtorchError("run() of lanes split over processes: use step() (every rank "
                                 "must visit the same steps)")
        pre = self._check_spikes("pre spike train", pre, self.n_pre, 3)
        post = self._check_spikes("post spike train", post, self.n_post, 3)
        if pre.shape[0] != post.shape[0]:
            raise HebbtorchError(
                "pre and post spike trains differ in length "
                f"({pre.shape[0]} vs {post.shape[0]} steps)")
        T = pre.shape[0]
        arrived, pre_in, history = self.delay_line.train(self.state.history, pre)
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
            st = st._replace(pre=decay_traces(st.pre, self.decay_pre, n),
                             post=decay_traces(st.post, self.decay_post, n))
        self.state = st._replace(history=history)
        return torch.stack(out) if record else None


def SharedPlasticity(rule: PlasticityRule, weight: torch.Tensor, batch: int, dt: float,  # noqa: N802
                     bounds: WeightBounds | None, share: LaneShare | None = None
                     ) -> PlasticConnection:
    """The engine in shared mode on an existing weight ``[pre, post]`` learned in place (the
    former class of that name): ``PlasticConnection(pre, post, rule, batch=batch, dt=dt,
    bounds=bounds, shared=True, weight=weight, share=share)``."""
    return PlasticConnection(weight.shape[0], weight.shape[1], rule, batch=batch, dt=dt,
                             bounds=bounds, shared=True, weight=weight, share=share)
