"""Fused multi-step ALIF on CUDA (Bellec et al. 2018, eqs. 1-3): the Triton kernels behind the
``cuda`` implementation of ``hebbtorch::alif_forward`` / ``hebbtorch::alif_backward``
(:mod:`hebbtorch.kernels.alif`).

Same arithmetic and order as ``forward_block`` / ``backward_block`` in ``alif_cpu.cpp``, so fp32
spikes match the reference bit for bit. The membrane step is LIF's
(:func:`hebbtorch.kernels.lif_triton._fwd_update` with the effective threshold ``A[t]``); launch
shape, tile loads and surrogates are shared with :mod:`hebbtorch.kernels.lif_triton`. Currents
and state are fp32 or fp64, one dtype.
"""

from __future__ import annotations

import triton
import triton.language as tl
from torch import Tensor

from hebbtorch.kernels import finite
from hebbtorch.kernels.lif_triton import (
    _bwd_tile,
    _fwd_update,
    _input_tile,
    _lanes,
    _launch,
    _row,
    _surrogate_grad,
    scalars,
)


@triton.jit
def _alif_forward(I, beta, rho, omr, thr, v, a, s, spikes, h, A, nonfinite, T, M, P,
                  RESET: tl.constexpr, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
    c = tl.load(P)  # adapt_scale, rounded to the data's dtype as the CPU kernel does
    offs, ok, rows = _lanes(M, BLOCK, UNROLL)
    b = tl.load(beta + offs, mask=ok, other=0.0)
    r = tl.load(rho + offs, mask=ok, other=0.0)
    q = tl.load(omr + offs, mask=ok, other=0.0)  # 1 - rho, formed by the caller as the reference
    th = tl.load(thr + offs, mask=ok, other=0.0)
    vb = tl.load(v + offs, mask=ok, other=0.0)
    ab = tl.load(a + offs, mask=ok, other=0.0)
    sb = tl.load(s + offs, mask=ok, other=0.0)
    bad = tl.zeros([BLOCK], dtype=tl.int32)
    for t0 in range(0, T, UNROLL):
        X, n_bad = _input_tile(I, t0, T, M, offs, ok, rows)
        bad += n_bad
        for k in tl.static_range(UNROLL):
            live = ok & (t0 + k < T)
            o = tl.cast(t0 + k, tl.int64) * M + offs
            ab = tl.where(live, r * ab + q * sb, ab)
            At = th + c * ab
            tl.store(A + o, At, mask=live)
            # LIF's step against A[t]; no refractory state (its arguments are placeholders)
            vb, _, sp = _fwd_update(_row(X, rows, k), o, live, spikes, h, spikes, b, At, vb, vb,
                                    0.0, RESET, False)
            sb = tl.where(live, sp, sb)
    tl.store(v + offs, vb, mask=ok)
    tl.store(a + offs, ab, mask=ok)
    tl.store(s + offs, sb, mask=ok)
    tl.atomic_add(nonfinite, tl.sum(bad, axis=0))


@triton.jit
def _alif_backward(h, A, gS, sS, gH, sH, gA, sA, gV, gAs, gSs, beta, rho, omr, dI, dv0, da0, ds0,
                   T, M, P, RESET: tl.constexpr, SURR: tl.constexpr, BLOCK: tl.constexpr,
                   UNROLL: tl.constexpr):
    # adapt_scale, surrogate slope, 0 where the reset is detached
    c, k, keep = tl.load(P), tl.load(P + 1), tl.load(P + 2)
    offs, ok, rows = _lanes(M, BLOCK, UNROLL)
    b = tl.load(beta + offs, mask=ok, other=0.0)
    r = tl.load(rho + offs, mask=ok, other=0.0)
    q = tl.load(omr + offs, mask=ok, other=0.0)
    # carries, as the CPU kernel: dL/dv[t]; the parts of dL/da[t] and dL/ds[t] through a[t + 1]
    dv = tl.load(gV + offs, mask=ok, other=0.0)
    daf = tl.load(gAs + offs, mask=ok, other=0.0)
    dsf = tl.load(gSs + offs, mask=ok, other=0.0)
    for i in range((T + UNROLL - 1) // UNROLL):
        t_lo = T - (i + 1) * UNROLL  # the chunk is t_lo .. t_lo + UNROLL - 1, walked backwards
        tt = t_lo + rows
        live2 = (tt >= 0)[:, None] & ok[None, :]
        H = _bwd_tile(h, M, tt, live2, offs, dv.dtype)
        AT = _bwd_tile(A, M, tt, live2, offs, dv.dtype)
        GS = _bwd_tile(gS, sS, tt, live2, offs, dv.dtype)
        GH = _bwd_tile(gH, sH, tt, live2, offs, dv.dtype)
        GA = _bwd_tile(gA, sA, tt, live2, offs, dv.dtype)
        for kk in tl.static_range(UNROLL):
            j = UNROLL - 1 - kk
            t = t_lo + j
            live = ok & (t >= 0)
            u = _row(H, rows, j)
            At = _row(AT, rows, j)
            x = u - At
            sp = tl.where(x > 0.0, 1.0, 0.0).to(u.dtype)
            if RESET == 0:
                reset_ds = -At
                reset_dh = 1.0
            else:
                reset_ds = -u
                reset_dh = 1.0 - sp
            dx = (_row(GS, rows, j) + dsf + keep * dv * reset_ds) * _surrogate_grad(x, k, SURR)
            dh = _row(GH, rows, j) + dv * reset_dh + dx
            dA = _row(GA, rows, j) - dx
            if RESET == 0:
                dA = dA - dv * sp  # the subtracted threshold
            Da = c * dA + daf
            tl.store(dI + tl.cast(t, tl.int64) * M + offs, dh, mask=live)
            dv = tl.where(live, dh * b, dv)
            daf = tl.where(live, r * Da, daf)
            dsf = tl.where(live, q * Da, dsf)
    tl.store(dv0 + offs, dv, mask=ok)
    tl.store(da0 + offs, daf, mask=ok)
    tl.store(ds0 + offs, dsf, mask=ok)


def forward(currents: Tensor, beta: Tensor, rho: Tensor, one_minus_rho: Tensor,
            threshold: Tensor, adapt_scale: float, v: Tensor, a: Tensor, s: Tensor, reset: int,
            spikes: Tensor, h: Tensor, A: Tensor) -> Tensor:
    """Launch the forward on currents ``[time, batch, neurons]`` (per-neuron tensors and state
    ``[batch, neurons]``, contiguous) into spikes / h / A ``[time, batch, neurons]``; ``v``, ``a``,
    ``s`` are updated in place to the final state. Returns the counter of NaN or infinite inputs
    (on the device, :mod:`hebbtorch.kernels.finite`)."""
    T, M = currents.shape[0], v.numel()
    bad = finite.counter(currents.device)
    if M and T:
        launch = _launch(M)
        _alif_forward[launch.pop("grid")](
            currents, beta, rho, one_minus_rho, threshold, v, a, s, spikes, h, A, bad, T, M,
            scalars(currents, adapt_scale), RESET=reset, **launch)
    return bad


def backward(h: Tensor, A: Tensor, gs: Tensor, s_gs: int, gh: Tensor, s_gh: int, ga: Tensor,
             s_ga: int, gv: Tensor, g_a: Tensor, g_s: Tensor, beta: Tensor, rho: Tensor,
             one_minus_rho: Tensor, adapt_scale: float, reset: int, surrogate: int, slope: float,
             detach_reset: bool, d_cur: Tensor, d_v0: Tensor, d_a0: Tensor,
             d_s0: Tensor) -> None:
    """Launch the reverse-time pass into the preallocated ``d_*`` tensors: d currents
    ``[time, batch, neurons]``, d v0 / a0 / s0 ``[batch, neurons]``. The upstream grads of spikes,
    h and A are ``[time, batch, neurons]`` with time strides ``s_*`` (0: broadcast over time)."""
    M = beta.numel()
    if M:  # T = 0 needs no special case: the loop is empty and the final grads pass through
        # five tiles per chunk (LIF's backward loads three): with the backward's unroll (16) they
        # spill ~1 KB per thread on sm_90 (ptxas -v); the forward's (8) fits in 230 registers
        launch = _launch(M)
        _alif_backward[launch.pop("grid")](
            h, A, gs, s_gs, gh, s_gh, ga, s_ga, gv, g_a, g_s, beta, rho, one_minus_rho, d_cur,
            d_v0, d_a0, d_s0, h.shape[0], M,
            scalars(h, adapt_scale, slope, 0.0 if detach_reset else 1.0), RESET=reset,
            SURR=surrogate, **launch)
