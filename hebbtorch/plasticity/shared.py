"""Plastic weights ``[pre, post]`` shared by a batch of network copies: :class:`SharedPlasticity`.

A user of the core (:mod:`hebbtorch.plasticity.core`): the same traces, step order, weight
dependence and bounds as :class:`~hebbtorch.plasticity.connection.PlasticConnection`, but one
weight tensor for the whole batch, changed by the batch mean of the rule's per-copy updates
(as BindsNET's batched ``DiehlAndCook2015`` reduces its updates). The Diehl & Cook network
learns through it; its fused kernels update the same traces in place.
"""

from __future__ import annotations

from typing import Any

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.batched import LaneShare, gather_update
from hebbtorch.plasticity.core import (
    PlasticityRule,
    Traces,
    Update,
    WeightBounds,
    clip_,
    decay_traces,
    jump_traces,
    soft_change,
    trace_decays,
    validate_bounds,
    validate_rule_traces,
)


def _batch_mean(u: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None
                ) -> torch.Tensor | None:
    """Mean over the batch of an :class:`Update` field, as one ``[pre, post]`` tensor: a
    factor pair ``(a [B, pre], b [B, post])`` becomes ``a^T b / B`` (one matmul)."""
    if u is None:
        return None
    if isinstance(u, tuple):
        a, b = u
        return (a.T @ b).div_(a.shape[0])
    return u.mean(0)


class SharedPlasticity:
    """Runs a :class:`~hebbtorch.plasticity.core.PlasticityRule` on weights ``[pre, post]``
    shared by a batch of ``B`` network copies; each step's change is the batch mean of the
    rule's per-copy update. With ``B = 1`` this is exactly what
    :class:`~hebbtorch.plasticity.connection.PlasticConnection` ``(batch=1)`` computes (same trace
    order, weight dependence and bounds; tested), which cannot share one weight tensor across
    its batch. Rule state with a per-copy leading dim (Graupner-Brunel's ρ) is averaged over
    the batch like the weights. Presynaptic trace delays (Graupner-Brunel's D) are rounded to
    whole steps as in the engine. ``share``: where these ``batch`` lanes sit in a batch split
    over processes (default: they are the whole batch); then means are over the whole batch and
    :meth:`step`, :meth:`skip` and :meth:`state_dict` are collectives."""

    def __init__(self, rule: PlasticityRule, weight: torch.Tensor, batch: int, dt: float,
                 bounds: WeightBounds, share: LaneShare | None = None) -> None:
        if not isinstance(rule, PlasticityRule):
            raise HebbtorchError(f"rule must be a PlasticityRule, got {type(rule).__name__}")
        validate_rule_traces(rule)
        validate_bounds(bounds)
        self.rule, self.weight, self.batch, self.dt, self.bounds = rule, weight, batch, dt, bounds
        self.share = share or LaneShare(0, batch, batch)
        if self.share.count != batch:
            raise HebbtorchError(f"share has {self.share.count} lanes for a batch of {batch}")
        self.decay_pre = trace_decays(rule.pre_traces, dt)
        self.decay_post = trace_decays(rule.post_traces, dt)
        self.delays = [round(s.delay / dt) for s in rule.pre_traces]
        self.reset()

    def reset(self) -> None:
        """Zero the traces and the delay line; (re)initialise the rule state from the weights."""
        w, B = self.weight, self.batch
        self.pre = [w.new_zeros(B, w.shape[0]) for _ in self.rule.pre_traces]
        self.post = [w.new_zeros(B, w.shape[1]) for _ in self.rule.post_traces]
        self.history = w.new_zeros(max(self.delays, default=0), B, w.shape[0])
        self.rule_state = self.rule.init_state(w.unsqueeze(0))

    def resync(self) -> None:
        """Re-derive the rule state from the weights (after they were changed from outside,
        e.g. by normalisation)."""
        self.rule_state = self.rule.resync_state(self.rule_state, self.weight.unsqueeze(0))

    def state_dict(self) -> dict:
        """Traces of the whole batch (gathered from every rank when split). A named-tuple rule
        state is saved as a plain dict, so that checkpoints do not name the module of its
        class (which may move)."""
        sh, rs = self.share, self.rule_state
        if isinstance(rs, tuple) and hasattr(rs, "_asdict"):
            rs = rs._asdict()
        return {"pre": [sh.gather(x) for x in self.pre], "post": [sh.gather(y) for y in self.post],
                "history": sh.gather(self.history, 1), "rule_state": rs}

    def load_state_dict(self, d: dict) -> None:
        """Inverse of :meth:`state_dict`, onto the weights' device (checkpoints load on CPU)."""
        sh, dev = self.share, self.weight.device
        self.pre = [sh.local(x).to(dev) for x in d["pre"]]
        self.post = [sh.local(y).to(dev) for y in d["post"]]
        self.history = sh.local(d["history"], 1).to(dev)
        rs = d["rule_state"]
        if isinstance(rs, dict):  # a named tuple of the rule's own type (state_dict)
            rs = type(self.rule_state)(**rs)
        if isinstance(rs, tuple):
            rs = type(rs)(*(x.to(dev) if isinstance(x, torch.Tensor) else x for x in rs))
        self.rule_state = rs

    def _reduce_state(self, state: Any) -> Any:
        if self.share.total == 1 or not isinstance(state, tuple):
            return state
        return type(state)(*(self.share.gather(s).mean(0, keepdim=True)
                             if isinstance(s, torch.Tensor)
                             and s.dim() == 3 and s.shape[0] == self.batch else s
                             for s in state))

    def step(self, pre: torch.Tensor, post: torch.Tensor, post_fired: bool = True) -> None:
        """One step with this step's pre ``[B, pre]`` and post ``[B, post]`` spikes (0/1).
        ``post_fired=False`` promises ``post`` is all zero (skips the post trace jumps)."""
        if self.history.shape[0]:
            full = torch.cat([self.history, pre.unsqueeze(0)], 0)
            pre_in = [full[-1 - k] for k in self.delays]
            self.history = full[1:]
        else:
            pre_in = [pre] * len(self.delays)
        bp = decay_traces(self.pre, self.decay_pre)
        bq = decay_traces(self.post, self.decay_post)
        ap = jump_traces(bp, pre_in, self.rule.pre_traces)
        # a trace jump with no spike is the identity, whatever the trace mode
        aq = jump_traces(bq, (post,) * len(bq), self.rule.post_traces) if post_fired else bq
        upd, rs = self.rule.update(pre, post, Traces(bp, ap, tuple(pre_in)),
                                   Traces(bq, aq, (post,) * len(aq)),
                                   self.weight.unsqueeze(0), self.rule_state, self.dt)
        self.pre, self.post, self.rule_state = list(ap), list(aq), self._reduce_state(rs)
        self._apply(gather_update(upd, self.share, self.weight))

    def _apply(self, upd: Update) -> None:
        if upd.ltp is None and upd.ltd is None:
            return
        w, b, B = self.weight, self.bounds, self.share.total
        if b.dependence == "multiplicative":
            # simultaneous soft bounds: w += ltp (w_max - w) - ltd (w - w_min)
            w.add_(soft_change(w, _batch_mean(upd.ltp), _batch_mean(upd.ltd), b))
        else:
            for u, sign in ((upd.ltp, 1.0), (upd.ltd, -1.0)):
                if isinstance(u, tuple):  # batch mean of outer products in one matmul
                    w.addmm_(u[0].T, u[1], alpha=sign / B)
                elif u is not None:
                    w.add_(u.mean(0), alpha=sign)
        clip_(w, b)

    def skip(self, steps: int) -> bool:
        """Advance ``steps`` steps without any spike in one jump if the rule is event-driven
        and no delayed spike is in flight; return False (nothing done) otherwise."""
        if not self.rule.event_driven or self.share.any(bool(self.history.any())):
            return False
        self.pre = list(decay_traces(self.pre, self.decay_pre, steps))
        self.post = list(decay_traces(self.post, self.decay_post, steps))
        return True
