"""Chevalier's refractory neuron on CUDA: the Triton kernels behind the ``cuda`` implementation of
``hebbtorch::refractory_forward`` / ``hebbtorch::refractory_backward``
(:mod:`hebbtorch.kernels.refractory`). Same arithmetic and order as ``refractory_cpu.cpp``;
launch shape and the tile loads shared with :mod:`hebbtorch.kernels.lif_triton`.
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from hebbtorch.kernels import finite
from hebbtorch.kernels.lif_triton import (
    _input_tile,
    _lanes,
    _launch,
    _row,
    _surrogate_grad,
    scalars,
)


@triton.jit
def _refractory_forward(I, inner, out, inner_seq, out_seq, u_seq, nonfinite, T, M, P,
                        BINARY: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
    decay, thr, k = tl.load(P), tl.load(P + 1), tl.load(P + 2)
    offs, ok, rows = _lanes(M, BLOCK, UNROLL)
    ib = tl.load(inner + offs, mask=ok, other=0.0)
    ob = tl.load(out + offs, mask=ok, other=0.0)
    bad = tl.zeros([BLOCK], dtype=tl.int32)
    for t0 in range(0, T, UNROLL):
        X, n_bad = _input_tile(I, t0, T, M, offs, ok, rows)
        bad += n_bad
        for kk in tl.static_range(UNROLL):
            live = ok & (t0 + kk < T)
            o = tl.cast(t0 + kk, tl.int64) * M + offs
            tl.store(inner_seq + o, ib, mask=live)  # outputs are one step late
            tl.store(out_seq + o, ob, mask=live)
            u = _row(X, rows, kk) + decay * ib
            x = u - thr
            if BINARY:
                y = tl.where(x > 0.0, 1.0, 0.0).to(u.dtype)
            else:
                y = tl.maximum(x, 0.0)
            gate = tl.where(y > 0.0, 1.0, 0.0).to(u.dtype)
            tl.store(u_seq + o, u, mask=live)
            ib = tl.where(live, u - (k * u) * gate, ib)
            ob = tl.where(live, y, ob)
    tl.store(inner + offs, ib, mask=ok)
    tl.store(out + offs, ob, mask=ok)
    tl.atomic_add(nonfinite, tl.sum(bad, axis=0))


@triton.jit
def _refractory_backward(u_seq, gI, sI, gO, sO, gSi, gSo, dI, d_inner0, d_out0, T, M, P,
                         BINARY: tl.constexpr, SURR: tl.constexpr, BLOCK: tl.constexpr,
                         UNROLL: tl.constexpr):
    decay, thr, k, slope = tl.load(P), tl.load(P + 1), tl.load(P + 2), tl.load(P + 3)
    offs, ok, rows = _lanes(M, BLOCK, UNROLL)
    g_si = tl.load(gSi + offs, mask=ok, other=0.0)
    g_so = tl.load(gSo + offs, mask=ok, other=0.0)
    carry = tl.zeros([BLOCK], dtype=g_si.dtype)  # dL/d inner (after reset) via the next decay
    for i in range((T + UNROLL - 1) // UNROLL):
        t_lo = T - (i + 1) * UNROLL
        tt = t_lo + rows
        live2 = (tt >= 0)[:, None] & ok[None, :]
        nxt = (tt >= 0)[:, None] & (tt < T - 1)[:, None] & ok[None, :]  # step t shows at t + 1
        U = tl.load(u_seq + (tl.cast(tt, tl.int64)[:, None] * M + offs[None, :]), mask=live2,
                    other=0.0)
        GI = tl.load(gI + (tl.cast(tt + 1, tl.int64)[:, None] * sI + offs[None, :]), mask=nxt,
                     other=0.0)
        GO = tl.load(gO + (tl.cast(tt + 1, tl.int64)[:, None] * sO + offs[None, :]), mask=nxt,
                     other=0.0)
        for kk in tl.static_range(UNROLL):
            j = UNROLL - 1 - kk
            t = t_lo + j
            live = ok & (t >= 0)
            u = _row(U, rows, j)
            gi = tl.where(t == T - 1, g_si, _row(GI, rows, j))  # the last step: final state
            go = tl.where(t == T - 1, g_so, _row(GO, rows, j))
            x = u - thr
            gate = tl.where(x > 0.0, 1.0, 0.0).to(u.dtype)
            if BINARY:
                dy_dx = _surrogate_grad(x, slope, SURR)
            else:
                dy_dx = gate
            du = (gi + carry) * (1.0 - k * gate) + go * dy_dx
            tl.store(dI + tl.cast(t, tl.int64) * M + offs, du, mask=live)
            carry = tl.where(live, decay * du, carry)
    g0 = tl.load(gI + offs, mask=ok, other=0.0)
    tl.store(d_inner0 + offs, g0 + carry, mask=ok)
    tl.store(d_out0 + offs, tl.load(gO + offs, mask=ok, other=0.0), mask=ok)


def forward(currents: Tensor, decay: float, threshold: float, k: float, binary: bool,
            inner: Tensor, out: Tensor, inner_seq: Tensor, out_seq: Tensor,
            u_seq: Tensor) -> Tensor:
    """Launch the forward; ``inner``/``out`` are updated in place to the final state. Returns
    the counter of NaN or infinite inputs (on the device, :mod:`hebbtorch.kernels.finite`)."""
    T, M = currents.shape[0], inner.numel()
    bad = finite.counter(currents.device)
    if M and T:
        launch = _launch(M)
        _refractory_forward[launch.pop("grid")](
            currents, inner, out, inner_seq, out_seq, u_seq, bad, T, M,
            scalars(currents, decay, threshold, k), BINARY=binary, **launch)
    return bad


def backward(u_seq: Tensor, gi: Tensor, s_gi: int, go: Tensor, s_go: int, g_si: Tensor,
             g_so: Tensor, decay: float, threshold: float, k: float, binary: bool, surrogate: int,
             slope: float, d_cur: Tensor, d_inner0: Tensor, d_out0: Tensor) -> None:
    """Launch the reverse-time pass into the preallocated ``d_*`` tensors (T >= 1)."""
    T, M = u_seq.shape[0], d_inner0.numel()
    if M:
        launch = _launch(M, backward=True)
        _refractory_backward[launch.pop("grid")](
            u_seq, gi, s_gi, go, s_go, g_si, g_so, d_cur, d_inner0, d_out0, T, M,
            scalars(u_seq, decay, threshold, k, slope), BINARY=binary, SURR=surrogate, **launch)
