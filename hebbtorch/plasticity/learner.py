"""A local plasticity rule attached to an ordinary ``nn.Linear`` or ``nn.Conv2d``.

:class:`Learner` hooks a synaptic layer (pre: its input spikes) and the spiking neuron module
that follows it (post: that module's output spikes; a BatchNorm or other per-step modules may sit
between them), both over the time axis ``[time, batch, ...]``. When the neurons have run, it
replays the recorded spikes through the rule -- the engine's traces (:class:`TraceSpec`) and the
rule's :meth:`~PlasticityRule.update`, step by step from zero traces, so every forward call is an
independent presentation -- on a working copy of the weight that all samples of the batch share:
each step's change is the batch mean of the per-sample updates (shared-weight mode, as
:class:`PlasticConnection` ``shared=True``), with the weight dependence and the hard
bounds of :class:`WeightBounds` applied after every step, as :class:`PlasticConnection.step`
does. A conv layer's low-rank updates are folded onto its kernel by
:meth:`PlasticConv2d.full_update` (unfold: the weight-shared sum over output positions).

The accumulated change Δw is then applied to the layer (``apply="direct"``), or ``-Δw`` is added
to ``weight.grad`` (``apply="grad"``) so that any ``torch.optim`` optimiser applies it together
with backpropagated gradients (SGD with lr = 1 reproduces ``"direct"`` to float32 rounding).
After an optimiser step the weight may leave the bounds (momentum, Adam) and a rule's state may
disagree with it (Graupner-Brunel's ρ): :meth:`Learner.after_step` clips the weight to the bounds
and re-derives the rule state from it; pass ``optimizer=`` to have it called after every step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels.threads import torch_threads
from hebbtorch.plasticity.conv import PlasticConv2d
from hebbtorch.plasticity.core import (
    DEFAULT_BOUNDS,
    DelayLine,
    LowRank,
    PlasticityRule,
    WeightBounds,
    bounded_step,
    clip_,
    rule_step,
    trace_decays,
    validate_bounds,
    validate_rule_traces,
)
from hebbtorch.plasticity.lanes import LaneShare, batch_mean, mean_state

APPLY_MODES = ("direct", "grad")
SMALL_WORK = 1 << 26  # (batch x pre) x post per step below which the rule runs on one thread


class TimeDistributed(nn.Module):
    """Apply a per-step module (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.Flatten``...) to
    ``[time, batch, ...]`` as one call on ``[time * batch, ...]``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        y = self.module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


class Spikes(nn.Module):
    """A hebbtorch neuron module (``LIF``, ``ALIF``, ...) that returns only its spikes
    ``[time, batch, ...]``, so that it fits in an ``nn.Sequential``."""

    def __init__(self, neurons: nn.Module) -> None:
        super().__init__()
        self.neurons = neurons

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _spikes(self.neurons(x))


def _spikes(out: Any) -> torch.Tensor:
    """The spikes in a neuron module's output: the tensor itself, ``.spikes`` or element 0."""
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "spikes"):
        return out.spikes
    if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise HebbtorchError(f"the post module's output ({type(out).__name__}) holds no spikes")


class Learner:
    """Train ``layer`` (``nn.Linear`` or ``nn.Conv2d``) by the local ``rule`` from the spikes
    that flow through it during the model's ordinary forward calls (module docstring).

    Args:
        layer: the synapses; its input (possibly ``[time * batch, ...]`` inside a
            :class:`TimeDistributed`) are the presynaptic spikes.
        rule: a :class:`PlasticityRule` (pair, triplet, calcium-trace; Graupner-Brunel on
            ``nn.Linear`` only: its ρ is per synapse, which a shared kernel does not have).
        post: the neuron module whose output spikes ``[time, batch, ...]`` are postsynaptic
            (its output tensor, or a neuron output with ``.spikes``).
        dt: time step (ms) of the simulation: the traces decay by exp(-dt / tau) per step.
        bounds: :class:`WeightBounds` (default [0, 1] additive; None: unbounded additive).
        apply: ``"direct"`` or ``"grad"`` (module docstring). In ``"direct"`` mode the weight
            changes inside the forward call: the layer must not be part of a graph that is
            backpropagated afterwards (use ``"grad"`` to mix with BPTT). In ``"grad"`` mode call
            ``optimizer.zero_grad()`` before the forward call, not between it and ``step()``.
        optimizer: with ``"grad"``: :meth:`after_step` runs after each of its steps.

    Learning happens while ``layer.training`` and :attr:`enabled`; ``Learner.last_dw`` is the
    last change (weight layout). :meth:`remove` detaches the hooks.
    """

    def __init__(self, layer: nn.Module, rule: PlasticityRule, *, post: nn.Module,
                 dt: float = 1.0, bounds: WeightBounds | None = DEFAULT_BOUNDS,
                 apply: str = "direct", optimizer: torch.optim.Optimizer | None = None) -> None:
        if not isinstance(layer, nn.Linear | nn.Conv2d):
            raise HebbtorchError(
                f"Learner attaches to nn.Linear or nn.Conv2d, got {type(layer).__name__}")
        if not isinstance(rule, PlasticityRule):
            raise HebbtorchError(f"rule must be a PlasticityRule, got {type(rule).__name__}")
        if not isinstance(post, nn.Module):
            raise HebbtorchError(f"post must be the neuron nn.Module, got {type(post).__name__}")
        if apply not in APPLY_MODES:
            raise HebbtorchError(f"apply must be one of {APPLY_MODES}, got {apply!r}")
        if optimizer is not None and apply != "grad":
            raise HebbtorchError("optimizer= is for apply='grad' (direct mode has no step)")
        if not (isinstance(dt, int | float) and math.isfinite(dt) and dt > 0):
            raise HebbtorchError(f"dt must be a positive number of ms, got {dt!r}")
        validate_bounds(bounds)
        validate_rule_traces(rule)
        self.conv = isinstance(layer, nn.Conv2d)
        if self.conv:
            _check_conv(layer, rule)
        self.layer, self.rule, self.post, self.dt, self.bounds = layer, rule, post, dt, bounds
        self.apply, self.enabled = apply, True
        self.decay_pre = trace_decays(rule.pre_traces, dt)
        self.decay_post = trace_decays(rule.post_traces, dt)
        self.rule_state = None if self.conv else rule.init_state(self._rule_weight().unsqueeze(0))
        self.last_dw: torch.Tensor | None = None
        self._pre: torch.Tensor | None = None
        self._folds: dict[tuple[int, ...], PlasticConv2d] = {}
        self._hooks = [layer.register_forward_hook(self._record_pre),
                       post.register_forward_hook(self._record_post)]
        if optimizer is not None:
            self._hooks.append(optimizer.register_step_post_hook(lambda *_: self.after_step()))

    # ---------------------------------------------------------------- hooks
    def _record_pre(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.enabled and module.training:
            self._pre = args[0].detach()

    def _record_post(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self._pre is None:
            return
        pre, self._pre = self._pre, None
        self.learn(pre, _spikes(output).detach())

    def remove(self) -> None:
        """Detach every hook (the layer and the optimiser go on without the rule)."""
        for h in self._hooks:
            h.remove()
        self._hooks = []

    # ------------------------------------------------------------- learning
    @torch.no_grad()
    def learn(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """Run the rule over presynaptic spikes ``pre`` (the layer's input: ``[time, batch,
        ...]`` or ``[time * batch, ...]``) and postsynaptic spikes ``post`` ``[time, batch,
        ...]``, apply the change as configured and return it (weight layout)."""
        w0, wk = self._replay(pre, post)
        w = self.layer.weight
        dw = self._layout(wk - w0)
        if self.apply == "direct":
            w.copy_(self._layout(wk))
        else:
            w.grad = -dw if w.grad is None else w.grad - dw
        self.last_dw = dw
        return dw

    @torch.no_grad()
    def delta(self, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
        """The change Δw (weight layout) the rule makes over one presentation, without applying
        it (the rule state, if any, advances)."""
        w0, wk = self._replay(pre, post)
        return self._layout(wk - w0)

    def _layout(self, w: torch.Tensor) -> torch.Tensor:
        """The rule's weight layout back to the layer's (Linear: [pre, post] -> [out, in])."""
        return w if self.conv else w.T

    def _replay(self, pre: torch.Tensor, post: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight before and after the rule ran over the presentation (rule layout)."""
        if post.dim() < 3:
            raise HebbtorchError(
                f"post spikes must be [time, batch, ...], got shape {tuple(post.shape)}")
        T, B = post.shape[:2]
        w = self.layer.weight.detach()
        conn = self._conv_fold(pre, B) if self.conv else None
        n_pre, n_post = ((conn.n_pre, conn.n_post) if conn is not None
                         else (self.layer.in_features, self.layer.out_features))
        if pre.numel() != T * B * n_pre:
            raise HebbtorchError(
                f"pre spikes {tuple(pre.shape)} do not match post spikes {tuple(post.shape)}: "
                f"expected {n_pre} inputs per [time, batch] = [{T}, {B}] entry")
        if post.numel() != T * B * n_post:
            raise HebbtorchError(
                f"post spikes {tuple(post.shape)} do not match the layer's {n_post} outputs")
        x = pre.reshape(T, B, n_pre).to(w.dtype)
        y = post.reshape(T, B, n_post).to(w.dtype)
        fold = self._fold(conn)
        # per-step work of a small layer is tiny: one thread (hebbtorch.kernels.threads)
        with torch_threads(1 if x[0].numel() * n_post < SMALL_WORK else torch.get_num_threads()):
            return self._steps(x, y, fold)

    def _steps(self, x: torch.Tensor, y: torch.Tensor, fold) -> tuple[torch.Tensor, torch.Tensor]:
        """The core's step over the presentation from zero traces and an empty delay line,
        shared-weight mode: batch-mean updates."""
        T, B, n_pre = x.shape
        w0 = self._rule_weight()
        wk = w0.clone()
        state, lanes = self.rule_state, LaneShare(0, B, B)
        xs = [x.new_zeros(B, n_pre) for _ in self.decay_pre]
        ys = [y.new_zeros(B, y.shape[2]) for _ in self.decay_post]
        line = DelayLine.make(torch.zeros(n_pre, dtype=torch.long), self.rule, self.dt)
        _, trains, _ = line.train(x.new_zeros(line.length, B, n_pre), x)
        for t in range(T):
            upd, xs, ys, state = rule_step(self.rule, xs, ys, self.decay_pre, self.decay_post,
                                           x[t], y[t], [p[t] for p in trains], wk.unsqueeze(0),
                                           state, self.dt)
            state = mean_state(state, lanes)
            wk = bounded_step(wk, fold(upd.ltp), fold(upd.ltd), self.bounds)
        self.rule_state = state
        return w0, wk

    @torch.no_grad()
    def after_step(self) -> None:
        """After an optimiser step: clip the weight to the bounds and re-derive the rule state
        (e.g. Graupner-Brunel's ρ) from the weight."""
        clip_(self.layer.weight, self.bounds)
        if self.rule_state is not None:
            self.rule_state = self.rule.resync_state(self.rule_state,
                                                     self._rule_weight().unsqueeze(0))

    # --------------------------------------------------------------- layout
    def _rule_weight(self) -> torch.Tensor:
        """The weight as the rule sees it: ``[pre, post]`` (Linear) or the kernel (Conv2d)."""
        w = self.layer.weight.detach()
        return w if self.conv else w.T

    def _conv_fold(self, pre: torch.Tensor, batch: int) -> PlasticConv2d:
        """A :class:`PlasticConv2d` of this layer's geometry for ``batch`` samples, used only
        for its fold of low-rank updates onto the kernel (cached per input size and batch)."""
        conv = self.layer
        key = (batch, *pre.shape[-2:])
        if key not in self._folds:
            self._folds[key] = PlasticConv2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, tuple(pre.shape[-2:]),
                self.rule, stride=conv.stride, padding=conv.padding, batch=batch, bounds=None,
                device=conv.weight.device, dtype=conv.weight.dtype)
        return self._folds[key]

    @staticmethod
    def _fold(conn: PlasticConv2d | None):
        """Batch mean of an update field in the rule's weight layout (None stays None): a conv
        layer's through ``conn`` (:meth:`PlasticConv2d.full_update`)."""
        def fold(u: torch.Tensor | LowRank | None) -> torch.Tensor | None:
            if u is None or conn is None:
                return batch_mean(u)
            return conn.full_update(u).mean(0)
        return fold


def _check_conv(conv: nn.Conv2d, rule: PlasticityRule) -> None:
    if isinstance(conv.padding, str) or conv.groups != 1 or conv.dilation != (1, 1):
        raise HebbtorchError("Learner on nn.Conv2d needs numeric padding, groups=1 and "
                             f"dilation=1, got padding={conv.padding!r}, groups={conv.groups}, "
                             f"dilation={conv.dilation}")
    if conv.padding_mode != "zeros":
        raise HebbtorchError(f"Learner on nn.Conv2d needs padding_mode='zeros', got "
                             f"{conv.padding_mode!r}")
    if type(rule).init_state is not PlasticityRule.init_state:
        raise HebbtorchError(f"{type(rule).__name__} keeps per-synapse state, which has no "
                             "weight-shared (convolutional) form; attach it to an nn.Linear")
