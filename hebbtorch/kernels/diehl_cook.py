"""Fused exact-online Diehl & Cook simulation on CPU (``diehl_cook_cpu.cpp``, the operator
``hebbtorch::dc_run`` of :mod:`.diehl_cook_ops`): the time steps of a presentation and its rest
period in one call, the Poisson input drawn in the kernel (the reference's torch.rand draws),
for batch 1, learning with any rule that describes itself
(:func:`~hebbtorch.plasticity.core.kernel_spec`: every
:class:`~hebbtorch.plasticity.core.TraceRule` -- dc, pair, triplet, calcium and any new one --
whose 1-2 traces per side are undelayed) under additive or soft-bound weight dependence with
a hard clip, or with Graupner & Brunel's rule without noise (its own code in the kernel: a
dense per-synapse efficacy ρ with a bistable drift, updated in every step, with or without
spikes; additive, hard clip) -- or without learning (any rule).
:class:`~hebbtorch.networks.diehl_cook.DiehlCookNetwork` uses it automatically
(``backend="auto"``) where it applies; the reference is the PyTorch step loop of that module
(``SharedPlasticity`` for the rule).

It agrees with the reference to float32 rounding, not bit for bit (the input drive and the
weight updates are summed in another order than the BLAS calls of the reference); a spiking
network can turn such a difference into a different spike later on, so runs of the two backends
are statistically, not exactly, the same (tests/test_diehl_cook.py). Measurements:
docs/unsupervised.md.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu
from hebbtorch.kernels import diehl_cook_ops as ops
from hebbtorch.kernels.diehl_cook_ops import library
from hebbtorch.kernels.threads import layer_threads
from hebbtorch.plasticity.core import ONE, TRACE_MODES, PlasticityRule, RuleSpec, kernel_spec
from hebbtorch.plasticity.rules.gb import GraupnerBrunel

# ``net`` below is a DiehlCookNetwork (hebbtorch.networks.diehl_cook); the kernel reads its
# attributes and writes its state back, but does not import it (the network imports this).
Network = Any


MAX_TRACES = 2  # per side (the kernel's Rule.pre / Rule.post)


def gb_kernel(rule: PlasticityRule) -> bool:
    """Graupner-Brunel has its own code in the kernel (its bistable drift and dense ρ are not
    spike-triggered trace products); a subclass that changes its update runs the loop."""
    return isinstance(rule, GraupnerBrunel) and type(rule).update is GraupnerBrunel.update


def unsupported(net: Network, learn: bool = True) -> str | None:
    """Why the fused path can't simulate ``net`` (None if it can); without learning the rule
    does not matter (frozen evaluation of any rule's network)."""
    if net.batch != 1 or net.share.total != 1:
        return "batched mode (the fused path is the exact online mode, batch 1)"
    if net.weight.dtype != torch.float32:
        return "weights not float32"
    if net.weight.device.type == "cuda":
        return _unsupported_cuda(net, learn)
    if net.weight.device.type != "cpu":
        return f"weights on {net.weight.device} (fused paths: CPU and CUDA)"
    if not learn:
        return None
    rule = net.rule
    if gb_kernel(rule):
        if rule.noise and rule.params.sigma > 0:
            return "Graupner-Brunel with noise (the fused path integrates it deterministically)"
        if net.bounds.dependence != "additive":
            return "Graupner-Brunel with soft bounds (the fused path: additive, hard clip)"
        return None
    if kernel_spec(rule) is None:
        return (f"rule {type(rule).__name__} (the fused path runs GraupnerBrunel and TraceRules, "
                "whose update is the spike-triggered trace products of their spec)")
    return _unsupported_traces(rule)


def _unsupported_cuda(net: Network, learn: bool) -> str | None:
    """The CUDA path (:mod:`hebbtorch.kernels.diehl_cook_triton`) runs the spike-triggered rules
    of :func:`~hebbtorch.plasticity.core.kernel_spec` (not Graupner-Brunel) or no learning,
    with a finite [w_min, w_max] clip, for as many neurons as the device has SMs times its block."""
    if not cpu.triton_available():
        return "Triton is not installed (it comes with CUDA builds of PyTorch)"
    if learn:
        rule, b = net.rule, net.bounds
        if kernel_spec(rule) is None:
            return (f"rule {type(rule).__name__} (the CUDA path runs TraceRules: dc, pair, "
                    "triplet, calcium and any rule given by a RuleSpec)")
        if b.w_min is None or b.w_max is None:
            return "weight bounds without a finite [w_min, w_max] (CUDA path)"
        why = _unsupported_traces(rule)
        if why:
            return why
    from hebbtorch.kernels import diehl_cook_triton

    try:
        diehl_cook_triton.launch_shape(net.n, net.weight.device)
    except HebbtorchError as e:
        return str(e)
    return None


def _unsupported_traces(rule: PlasticityRule) -> str | None:
    spec = kernel_spec(rule)
    if any(spec.delays):  # part of the rule's description the kernels do not implement
        return (f"delayed presynaptic traces of {type(rule).__name__} (delays "
                f"{', '.join(f'{d:g}' for d in spec.delays)} ms; the fused paths take undelayed "
                "traces: the reference loop runs it)")
    if not (1 <= len(spec.pre_traces) <= MAX_TRACES and 1 <= len(spec.post_traces) <= MAX_TRACES):
        return f"traces of {type(rule).__name__} (the fused path takes 1-2 per side)"
    return None


def _calcium(net: Network) -> tuple[list[torch.Tensor], list[float], list[int]]:
    """Graupner-Brunel's part of the description (``gb_t``, ``gb_f``, ``gb_i`` of
    ``hebbtorch::dc_run``): the learner's ρ (and t_p, t_d; empty when not kept) ``[1, pre,
    post]`` and delay line ``[delay, 1, pre]``, contiguous, updated in place by the kernel; its
    constants; the delay, the drift clock and its period."""
    lrn, rule = net.learner, net.rule
    p, st = rule.params, lrn.rule_state
    lrn.rule_state = st = st._replace(**{f: t.float().contiguous() for f in ("rho", "t_p", "t_d")
                                         if (t := getattr(st, f)) is not None})
    lrn.history = lrn.history.float().contiguous()
    empty = torch.empty(0)
    tensors = [empty if t is None else t for t in st[:3]] + [lrn.history]
    return (tensors, [p.C_pre, p.C_post, p.theta_d, p.theta_p, p.gamma_d, p.gamma_p,
                      p.rho_star, lrn.dt / (p.tau * 1000.0), rule.w0, p.b - 1.0, lrn.dt],
            [lrn.delays[0], st.clock, rule.drift_every])


def rule_args(net: Network) -> tuple:
    """The description of ``net``'s rule, bounds and traces as ``hebbtorch::dc_run`` takes it:
    the traces (the learner's own contiguous ``[1, size]`` tensors, pre then post, updated in
    place), ``rule_f`` (per trace slot pre0, pre1, post0, post1: decay, jump; the four factors'
    k0, k1; gate low, high; w_min, w_max), ``rule_i`` (the slots' modes; the factors' trace,
    after; n_pre, n_post, gate trace, soft) and Graupner-Brunel's part (:func:`_calcium`;
    empty for other rules). The C++ side reads them in this order (diehl_cook_cpu.cpp, rule_of)."""
    lrn, rule, b = net.learner, net.rule, net.bounds
    gb = gb_kernel(rule)
    spec = RuleSpec(ONE, ONE, ONE, ONE) if gb else kernel_spec(rule)  # GB: factors unused
    lrn.pre, lrn.post = ([x.float().contiguous() for x in xs] for xs in (lrn.pre, lrn.post))
    slots = [(lrn.decay_pre, rule.pre_traces), (lrn.decay_post, rule.post_traces)]
    rule_f: list[float] = []
    modes: list[int] = []
    for decays, specs in slots:
        for k in range(MAX_TRACES):
            rule_f += [decays[k], specs[k].jump] if k < len(specs) else [1.0, 0.0]
            modes.append(TRACE_MODES.index(specs[k].mode) if k < len(specs) else 0)
    factors = spec[:4]
    rule_f += [v for f in factors for v in (f.k0, f.k1)]
    gate, lo_gate, hi_gate = spec.gate
    rule_f += [lo_gate, hi_gate, -math.inf if b.w_min is None else b.w_min,
               math.inf if b.w_max is None else b.w_max]
    rule_i = [*modes, *(v for f in factors for v in (f.trace, int(f.after))),
              len(lrn.pre), len(lrn.post), gate, int(b.dependence == "multiplicative")]
    gb_t, gb_f, gb_i = _calcium(net) if gb else ([], [], [])
    return [*lrn.pre, *lrn.post], rule_f, rule_i, gb_t, gb_f, gb_i


def use_fused(net: Network, learn: bool = True) -> bool:
    """Resolve ``net.backend`` ("auto", "fused", "reference") as the fused neurons do."""
    reason = None if net.backend == "reference" else unsupported(net, learn)
    return cpu.use_fused(net.backend, reason, net.weight.device, load=library)


def run(net: Network, spikes: torch.Tensor | None, steps: int, learn: bool,
        counts: torch.Tensor | None, rest: bool = False) -> None:
    """``net._run`` (or, with ``rest``, ``net._rest``) in one call: ``spikes`` ``[steps, 1, 784]``
    (None: silence); the network's state, theta, weights, traces and ``counts`` ``[1, n]`` are
    updated as the reference updates them."""
    if net.weight.device.type == "cuda":
        from hebbtorch.kernels import diehl_cook_triton

        diehl_cook_triton.run(net, spikes, steps, learn, counts, rest)
        return
    x = None if spikes is None else spikes.float().contiguous()
    _call(net, x, None, 0, 0 if rest else steps, steps if rest else 0, learn, counts)


def attempt(net: Network, prob: torch.Tensor, seed: int, learn: bool,
            counts: torch.Tensor) -> None:
    """One attempt of :meth:`~hebbtorch.networks.diehl_cook.DiehlCookNetwork.present` on the CPU
    (``_run`` of the presentation, then ``_rest``) in one call, the Poisson input drawn in the
    kernel from the per-step spike probability ``prob`` ``[1, 784]``
    (:func:`~hebbtorch.kernels.diehl_cook_eval.input_probability`) with ``seed``: the same
    draws as :func:`~hebbtorch.networks.diehl_cook.input_spikes` with a CPU generator."""
    p = net.params
    _call(net, None, prob.float().contiguous(), seed, round(p.t_present / p.dt),
          round(p.t_rest / p.dt), learn, counts)


def _call(net: Network, x: torch.Tensor | None, prob: torch.Tensor | None, seed: int,
          steps: int, rest: int, learn: bool, counts: torch.Tensor | None) -> None:
    library()
    st = type(net.state)(*(t.detach().float().contiguous().clone() for t in net.state))
    thresh = net.thresholds().contiguous()
    traces, rule_f, rule_i, gb_t, gb_f, gb_i = (rule_args(net) if learn
                                                else ([], [], [], [], [], []))
    clock = torch.ops.hebbtorch.dc_run(
        x, prob, ops.seed32(seed), steps, rest, net.weight, net.theta, thresh, *st,
        *ops.population_args(net), net.params.theta_plus, counts, learn, traces, rule_f, rule_i,
        gb_t, gb_f, gb_i, layer_threads(net.weight.numel()))
    net.state = st
    if gb_t:
        lrn = net.learner
        lrn.rule_state = lrn.rule_state._replace(clock=clock)
