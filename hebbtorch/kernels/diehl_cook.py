"""Fused exact-online Diehl & Cook simulation on CPU (``diehl_cook_cpu.cpp``): the time steps of
a presentation or of a rest period in one call, for batch 1, learning with any rule that
describes itself (:func:`~hebbtorch.plasticity.core.kernel_spec`: every
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

import ctypes
import math
from pathlib import Path
from typing import Any

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu
from hebbtorch.kernels.build import KernelLibrary
from hebbtorch.kernels.threads import layer_threads
from hebbtorch.plasticity.core import (
    ONE,
    TRACE_MODES,
    PlasticityRule,
    RuleSpec,
    TraceSpec,
    kernel_spec,
)
from hebbtorch.plasticity.rules.gb import GraupnerBrunel

# ``net`` below is a DiehlCookNetwork (hebbtorch.networks.diehl_cook); the kernel reads its
# attributes and writes its state back, but does not import it (the network imports this).
Network = Any


# ctypes mirrors of diehl_cook_cpu.cpp's Trace, Factor, Calcium and Rule
class _Trace(ctypes.Structure):
    _fields_ = [("x", ctypes.c_void_p), ("decay", ctypes.c_double), ("jump", ctypes.c_float),
                ("mode", ctypes.c_int32)]


class _Factor(ctypes.Structure):
    _fields_ = [("k0", ctypes.c_float), ("k1", ctypes.c_float), ("trace", ctypes.c_int32),
                ("after", ctypes.c_int32)]


class _Calcium(ctypes.Structure):
    _fields_ = [*((f, ctypes.c_void_p) for f in ("rho", "t_p", "t_d", "history")),
                ("delay", ctypes.c_int64), *((f, ctypes.c_float) for f in (
                    "C_pre", "C_post", "theta_d", "theta_p", "gamma_d", "gamma_p", "rho_star",
                    "h", "w0", "b_minus_1", "dt")), ("clock", ctypes.POINTER(ctypes.c_int64)),
                ("drift_every", ctypes.c_int64)]


class _Rule(ctypes.Structure):
    _fields_ = [("pre", _Trace * 2), ("post", _Trace * 2), ("n_pre", ctypes.c_int32),
                ("n_post", ctypes.c_int32), *((f, _Factor) for f in RuleSpec._fields[:4]),
                ("gate", ctypes.c_int32), *((f, ctypes.c_float) for f in (
                    "gate_lo", "gate_hi", "w_min", "w_max")), ("soft", ctypes.c_int32),
                ("gb", ctypes.POINTER(_Calcium))]


MAX_TRACES = 2  # per side (_Rule.pre / _Rule.post)

_P, _I64, _I, _F, _D = (ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float,
                        ctypes.c_double)
_ARGS = [_P, _I64, _I64, _I64, *[_P] * 12, _D, _D, *[_F] * 6, _P, _I, _I, ctypes.POINTER(_Rule),
         _I]


def _declare(lib: ctypes.CDLL) -> None:
    lib.ht_dc_run.argtypes, lib.ht_dc_run.restype = _ARGS, None


library = KernelLibrary(Path(__file__).with_name("diehl_cook_cpu.cpp"), "diehl_cook_cpu",
                        "fused Diehl & Cook kernel", _declare)


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


def _trace(x: torch.Tensor, decay: float, spec: TraceSpec) -> _Trace:
    return _Trace(x.data_ptr(), decay, spec.jump, TRACE_MODES.index(spec.mode))


def _calcium(net: Network, clock: ctypes.c_int64) -> _Calcium:
    """Graupner-Brunel's part of the descriptor: the learner's ρ (and t_p, t_d) ``[1, pre,
    post]`` and delay line ``[delay, 1, pre]``, contiguous, updated in place by the kernel, and
    the drift clock (``clock``, to be written back into the state after the call)."""
    lrn, rule = net.learner, net.rule
    p, st = rule.params, lrn.rule_state
    lrn.rule_state = st = st._replace(**{f: t.float().contiguous() for f in ("rho", "t_p", "t_d")
                                         if (t := getattr(st, f)) is not None})
    lrn.history = lrn.history.float().contiguous()
    clock.value = st.clock
    return _Calcium(*map(cpu.ptr, st[:3]), cpu.ptr(lrn.history), lrn.delays[0], p.C_pre,
                    p.C_post, p.theta_d, p.theta_p, p.gamma_d, p.gamma_p, p.rho_star,
                    lrn.dt / (p.tau * 1000.0), rule.w0, p.b - 1.0, lrn.dt,
                    ctypes.pointer(clock), rule.drift_every)


def _rule(net: Network, clock: ctypes.c_int64) -> _Rule:
    """The descriptor of ``net``'s rule, bounds and traces (the traces are the learner's own
    contiguous ``[1, size]`` tensors, updated in place by the kernel; ``clock``: see
    :func:`_calcium`)."""
    lrn, rule, b = net.learner, net.rule, net.bounds
    gb = gb_kernel(rule)
    spec = RuleSpec(ONE, ONE, ONE, ONE) if gb else kernel_spec(rule)  # GB: factors unused
    lrn.pre, lrn.post = ([x.float().contiguous() for x in xs] for xs in (lrn.pre, lrn.post))
    lo = -math.inf if b.w_min is None else b.w_min
    hi = math.inf if b.w_max is None else b.w_max
    return _Rule(
        (_Trace * 2)(*map(_trace, lrn.pre, lrn.decay_pre, rule.pre_traces)),
        (_Trace * 2)(*map(_trace, lrn.post, lrn.decay_post, rule.post_traces)),
        len(lrn.pre), len(lrn.post), *(_Factor(*f) for f in spec[:4]), *spec.gate, lo, hi,
        int(b.dependence == "multiplicative"),
        ctypes.pointer(_calcium(net, clock)) if gb else None)


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
    p, c, n = net.params, net.consts, net.n
    st = type(net.state)(*(t.detach().float().contiguous().clone() for t in net.state))
    thresh = net.thresholds().contiguous()
    x = None if spikes is None else spikes.float().contiguous()
    clock = ctypes.c_int64()
    rule = _rule(net, clock) if learn else _Rule()  # without learning the kernel reads no rule
    ptr = cpu.ptr
    library().ht_dc_run(
        ptr(x), steps, net.weight.shape[0], n, ptr(net.weight), ptr(net.theta), ptr(thresh),
        *(ptr(t) for t in st), *(ptr(t) for t in (c.v_rest, c.v_reset, c.E_inh, c.neg_dt_tau,
                                                   c.n_ref)),
        c.decay_ge, c.decay_gi, c.mean_ge, c.mean_gi, p.E_exc, p.w_ei, p.w_ie, p.theta_plus,
        ptr(counts), int(learn), int(rest), ctypes.byref(rule),
        layer_threads(net.weight.numel()))
    net.state = st
    if rule.gb:
        lrn = net.learner
        lrn.rule_state = lrn.rule_state._replace(clock=clock.value)

