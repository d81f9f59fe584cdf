"""Plastic synapses of a batch of independent networks: :class:`PlasticConnection`.

A user of the core (:mod:`hebbtorch.plasticity.core`: traces, bounds, rule descriptions); it
adds presynaptic delay lines, masks (sparse connectivity) and normalisation.

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

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_ndim, check_range, check_size, check_spikes
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.core import (
    DEFAULT_BOUNDS,
    LowRank,
    PlasticityRule,
    Traces,
    Update,
    WeightBounds,
    clip_,
    decay_traces,
    dense,
    is_soft,
    jump_traces,
    pre_side,
    trace_decays,
    validate_bounds,
    validate_rule_traces,
)


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
        n_pre: presynaptic population size.
        n_post: postsynaptic population size.
        batch: independent copies (networks / repetitions).
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
        validate_bounds(bounds)
        if normalize is not None:
            check_range("normalize", normalize, 0.0, low_open=True)
        self.n_pre, self.n_post, self.batch = int(n_pre), int(n_post), int(batch)
        self.rule, self.bounds, self.normalize, self.apply = rule, bounds, normalize, apply
        validate_rule_traces(rule)

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
        self.decay_pre = trace_decays(rule.pre_traces, self.dt)
        self.decay_post = trace_decays(rule.post_traces, self.dt)
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
        soft = is_soft(b)
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
            clip_(w, b)
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
        new = clip_(w + dw, b)
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
        bp = decay_traces(st.pre, self.decay_pre, n_decay)
        bq = decay_traces(st.post, self.decay_post, n_decay)
        ap = jump_traces(bp, pre_in, self.rule.pre_traces)
        aq = jump_traces(bq, (post,) * len(bq), self.rule.post_traces)
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
            st = st._replace(pre=decay_traces(st.pre, self.decay_pre, n),
                             post=decay_traces(st.post, self.decay_post, n))
        if self.max_delay:
            st = st._replace(history=full[-self.max_delay:].clone())
        self.state = st
        return torch.stack(out) if record else None
