"""Fused exact-online Diehl & Cook simulation on CPU (``diehl_cook_cpu.cpp``): the time steps of
a presentation or of a rest period in one call, for batch 1 with the original trace STDP (or no
learning). :class:`~hebbtorch.networks.diehl_cook.DiehlCookNetwork` uses it automatically
(``backend="auto"``) where it applies; the reference is the PyTorch step loop of that module.

It agrees with the reference to float32 rounding, not bit for bit (the input drive and the STDP
updates are summed in another order than the BLAS calls of the reference); a spiking network
can turn such a difference into a different spike later on, so runs of the two backends are
statistically, not exactly, the same (tests/test_diehl_cook.py). Measurements:
docs/unsupervised.md.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu
from hebbtorch.kernels.build import KernelLibrary

if TYPE_CHECKING:
    from hebbtorch.networks.diehl_cook import DiehlCookNetwork

_P, _I64, _I, _F, _D = (ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_float,
                        ctypes.c_double)
_ARGS = [_P, _I64, _I64, _I64, *[_P] * 12, _D, _D, *[_F] * 6, _P, _I, _I, _P, _P, _P, _D, _D,
         _D, _F, _F, _F, _F]


def _declare(lib: ctypes.CDLL) -> None:
    lib.ht_dc_run.argtypes, lib.ht_dc_run.restype = _ARGS, None


library = KernelLibrary(Path(__file__).with_name("diehl_cook_cpu.cpp"), "diehl_cook_cpu",
                        "fused Diehl & Cook kernel", _declare)


def unsupported(net: DiehlCookNetwork, learn: bool = True) -> str | None:
    """Why the fused path can't simulate ``net`` (None if it can); without learning the rule
    does not matter (frozen evaluation of any rule's network)."""
    from hebbtorch.networks.diehl_cook import DiehlCookSTDP

    if net.batch != 1 or net.share.total != 1:
        return "batched mode (the fused path is the exact online mode, batch 1)"
    if learn and type(net.rule) is not DiehlCookSTDP:
        return f"rule {type(net.rule).__name__} (the fused path runs the original trace STDP)"
    if net.weight.device.type != "cpu" or net.weight.dtype != torch.float32:
        return "weights not float32 on the CPU"
    b = net.bounds
    if b.dependence != "additive" or b.w_min is None or b.w_max is None:
        return "weight bounds other than a hard [w_min, w_max] clip"
    return None


def use_fused(net: DiehlCookNetwork, learn: bool = True) -> bool:
    """Resolve ``net.backend`` ("auto", "fused", "reference") as the fused neurons do."""
    reason = None if net.backend == "reference" else unsupported(net, learn)
    return cpu.use_fused(net.backend, reason, load=library)


def run(net: DiehlCookNetwork, spikes: torch.Tensor | None, steps: int, learn: bool,
        counts: torch.Tensor | None, rest: bool = False) -> None:
    """``net._run`` (or, with ``rest``, ``net._rest``) in one call: ``spikes`` ``[steps, 1, 784]``
    (None: silence); the network's state, theta, weights, traces and ``counts`` ``[1, n]`` are
    updated as the reference updates them."""
    from hebbtorch.networks.diehl_cook import DiehlCookState, DiehlCookSTDPParameters, thresholds

    p, c, n, lrn = net.params, net.consts, net.n, net.learner
    # without learning the rule's constants are unused (and may belong to another rule)
    rule = net.rule.params if learn else DiehlCookSTDPParameters()
    decays = (*lrn.decay_pre, *lrn.decay_post) if learn else (1.0, 1.0, 1.0)
    bounds = (net.bounds.w_min, net.bounds.w_max) if learn else (0.0, 1.0)
    st = DiehlCookState(*(t.detach().float().contiguous().clone() for t in net.state))
    thresh = thresholds(net.theta, p).contiguous()
    x = None if spikes is None else spikes.float().contiguous()
    traces = (lrn.pre[0], *lrn.post) if learn else (None, None, None)
    if learn and not all(t.is_contiguous() for t in traces):
        raise HebbtorchError("STDP traces must be contiguous")  # they always are: own tensors
    ptr = cpu.ptr
    library().ht_dc_run(
        ptr(x), steps, net.weight.shape[0], n, ptr(net.weight), ptr(net.theta), ptr(thresh),
        *(ptr(t) for t in st), *(ptr(t) for t in (c.v_rest, c.v_reset, c.E_inh, c.neg_dt_tau,
                                                   c.n_ref)),
        c.decay_ge, c.decay_gi, c.mean_ge, c.mean_gi, p.E_exc, p.w_ei, p.w_ie, p.theta_plus,
        ptr(counts), int(learn), int(rest), *(ptr(t) for t in traces), *decays, rule.nu_pre,
        rule.nu_post, *bounds)
    net.state = st
