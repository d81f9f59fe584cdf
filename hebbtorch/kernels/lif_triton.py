"""Fused multi-step LIF on CUDA: the Triton kernels behind the ``cuda`` implementation of the
ops ``hebbtorch::lif_forward`` / ``hebbtorch::lif_backward`` (:mod:`hebbtorch.kernels.lif`).

Same arithmetic, in the same order, as ``lif_cpu.cpp`` and the reference loop
(Gerstner et al. 2014, eq. 1.5), so fp32 spikes match the reference bit for bit. Each program
owns ``Config.block`` neurons and walks the whole time axis with their state in registers: one
read of the input and one write of each output per neuron-step, the fewest bytes possible. The
loop takes ``Config.unroll`` steps per iteration, loading their inputs as one tile first, so that
enough bytes are in flight to keep HBM busy even when few neurons (few programs) share the chip.

Currents may be fp32, fp64, bf16 or fp16; the membrane is computed and stored in the state's
dtype (fp32 for the 16-bit inputs: the neuron state stays fp32 when the matmuls run in bf16).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from hebbtorch.kernels import finite


class Config(NamedTuple):
    """Launch shape. block: neurons per program (4 fp32 per thread: 16-byte accesses);
    unroll: time steps per loop iteration, whose loads are in flight together (a power of 2);
    backward_unroll: the same for the backward kernels. The defaults come from sweeps on an H200
    and an H100 (docs/benchmarks.md): unroll 8 forward, 16 backward (it loads three tiles).
    stream: the LIF forward writes spikes and membrane with streaming (evict-first) stores;
    prefetch: the LIF forward loads the next tile before running this one's steps (80 instead
    of 79 % of copy bandwidth at 65,536 neurons on an H100, the same at more)."""

    block: int = 128
    unroll: int = 8
    num_warps: int = 1
    backward_unroll: int = 16
    stream: bool = False
    prefetch: bool = True


_config = [Config()]


def set_config(config: Config) -> Config:
    """Use ``config`` for later launches (benchmarks sweep it); returns the previous one."""
    if any(n & (n - 1) for n in (config.block, config.unroll, config.backward_unroll)):
        raise ValueError(f"block and unroll must be powers of 2, got {config}")
    old, _config[0] = _config[0], config
    return old


@triton.jit
def _surrogate_grad(x, k, SURR: tl.constexpr):
    # d/dx of the surrogate primitive, as hebbtorch/neurons/surrogate.py
    if SURR == 0:  # fast sigmoid
        d = 1.0 + k * tl.abs(x)
        g = 1.0 / (d * d)
    elif SURR == 1:  # arctan
        y = 1.5707963267948966 * k * x
        g = (k / 2.0) / (1.0 + y * y)
    elif SURR == 2:  # triangle
        g = k * tl.maximum(1.0 - k * tl.abs(x), 0.0)
    else:  # straight-through
        g = x * 0.0 + k
    return g


@triton.jit
def _lanes(M, BLOCK: tl.constexpr, UNROLL: tl.constexpr):
    """This program's neurons (int64 offsets: T * M may pass 2**31), which exist, and the row
    index of an ``[UNROLL, BLOCK]`` time tile."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < M, tl.arange(0, UNROLL)


@triton.jit
def _load_tile(I, t0, T, M, offs, ok, rows):
    """Inputs of steps t0 .. t0 + UNROLL - 1 in one tile load (they don't wait on the state, so
    all are in flight together); zeros past T."""
    tt = t0 + rows
    live2 = (tt < T)[:, None] & ok[None, :]
    return tl.load(I + (tl.cast(tt, tl.int64)[:, None] * M + offs[None, :]), mask=live2,
                   other=0.0)


@triton.jit
def _nonfinite(X):
    """Per neuron, how many inputs of the tile are NaN or infinite (x - x is NaN exactly then)."""
    return tl.sum(tl.where(X - X != 0.0, 1, 0), axis=0)


@triton.jit
def _input_tile(I, t0, T, M, offs, ok, rows):
    """A tile of inputs and per neuron how many of them are NaN or infinite."""
    X = _load_tile(I, t0, T, M, offs, ok, rows)
    return X, _nonfinite(X)


@triton.jit
def _row(X, rows, k):
    """Row k of a ``[UNROLL, BLOCK]`` tile whose rows each thread holds: the selects fold away
    (rows and k are compile-time constants after unrolling; adding -0.0 is exact)."""
    return tl.sum(tl.where(rows[:, None] == k, X, -0.0), axis=0)


@triton.jit
def _fwd_update(x, o, live, spikes, h, mask, b, th, vb, rb, R,
                RESET: tl.constexpr, REFR: tl.constexpr, STREAM: tl.constexpr = False):
    """One step for the neurons where ``live``: stores h and the spikes (and the refractory
    mask) at offsets ``o``; returns the membrane after reset, steps left refractory and the
    spikes. ``th`` may change per step (ALIF's effective threshold)."""
    u = b * vb + x
    if REFR:
        r = rb > 0.0
        u = tl.where(r, 0.0, u)
        s = tl.where((u - th > 0.0) & (rb <= 0.0), 1.0, 0.0).to(vb.dtype)
        rb = tl.where(live, tl.where(s > 0.0, R, tl.maximum(rb - 1.0, 0.0)), rb)
        tl.store(mask + o, r.to(tl.uint8), mask=live)
    else:
        s = tl.where(u - th > 0.0, 1.0, 0.0).to(vb.dtype)
    if STREAM:  # streaming stores: written once, read (if at all) by another kernel
        tl.store(h + o, u, mask=live, cache_modifier=".cs")
        tl.store(spikes + o, s, mask=live, cache_modifier=".cs")
    else:
        tl.store(h + o, u, mask=live)
        tl.store(spikes + o, s, mask=live)
    if RESET == 0:
        vn = u - s * th
    else:
        vn = u * (1.0 - s)
    vb = tl.where(live, vn, vb)
    return vb, rb, s


@triton.jit
def _lif_forward(I, beta, thr, v, refrac, spikes, h, mask, nonfinite, T, M, R,
                 RESET: tl.constexpr, REFR: tl.constexpr, BLOCK: tl.constexpr,
                 UNROLL: tl.constexpr, STREAM: tl.constexpr, PREFETCH: tl.constexpr):
    offs, ok, rows = _lanes(M, BLOCK, UNROLL)
    b = tl.load(beta + offs, mask=ok, other=0.0)
    th = tl.load(thr + offs, mask=ok, other=0.0)
    vb = tl.load(v + offs, mask=ok, other=0.0)
    rb = tl.load(refrac + offs, mask=ok, other=0.0)
    bad = tl.zeros([BLOCK], dtype=tl.int32)
    X = _load_tile(I, 0, T, M, offs, ok, rows)
    for t0 in range(0, T, UNROLL):
        if PREFETCH:  # the next tile's loads fly while this tile's steps run
            X_next = _load_tile(I, t0 + UNROLL, T, M, offs, ok, rows)
        bad += _nonfinite(X)
        Xs = X.to(vb.dtype)
        for k in tl.static_range(UNROLL):
            live = ok & (t0 + k < T)
            o = tl.cast(t0 + k, tl.int64) * M + offs
            vb, rb, _ = _fwd_update(_row(Xs, rows, k), o, live, spikes, h, mask, b, th, vb, rb,
                                    R, RESET, REFR, STREAM)
        if PREFETCH:
            X = X_next
        else:
            X = _load_tile(I, t0 + UNROLL, T, M, offs, ok, rows)
    tl.store(v + offs, vb, mask=ok)
    if REFR:
        tl.store(refrac + offs, rb, mask=ok)
    tl.atomic_add(nonfinite, tl.sum(bad, axis=0))


@triton.jit
def _bwd_tile(X, sX, tt, live2, offs, dtype):
    """``X[tt]`` for the chunk's steps ``tt`` as a tile; time stride sX (0: broadcast grad)."""
    return tl.load(X + (tl.cast(tt, tl.int64)[:, None] * sX + offs[None, :]), mask=live2,
                   other=0.0).to(dtype)


@triton.jit
def _bwd_update(t, M, offs, live, u, gs_t, gh_t, r, up, rp, vprev_first, dI, b, th, dv, db, dt,
                k, keep, RESET: tl.constexpr, SURR: tl.constexpr, REFR: tl.constexpr,
                NEED_BETA: tl.constexpr, NEED_THR: tl.constexpr):
    """Step t of the reverse recursion (see backward_block in lif_cpu.cpp); ``up``/``rp``
    are h and the refractory mask of step t - 1 (ignored at t = 0, where v0 is used)."""
    x = u - th
    if REFR:
        live_n = tl.where(r != 0, 0.0, 1.0).to(u.dtype)
    else:
        live_n = 1.0
    s = tl.where(x > 0.0, live_n, 0.0).to(u.dtype)
    if RESET == 0:
        reset_ds = -th
        reset_dh = 1.0
    else:
        reset_ds = -u
        reset_dh = 1.0 - s
    gs = gs_t + keep * dv * reset_ds
    dx = gs * _surrogate_grad(x, k, SURR) * live_n
    dh = gh_t + dv * reset_dh + dx
    du = dh * live_n
    if NEED_THR:
        d = dx.to(tl.float64)
        if RESET == 0:
            d += (dv * s).to(tl.float64)
        dt -= tl.where(live, d, 0.0)
    if NEED_BETA:
        sp = tl.where(up - th > 0.0, 1.0, 0.0).to(u.dtype)
        if REFR:
            sp = tl.where(rp != 0, 0.0, sp).to(u.dtype)
        if RESET == 0:
            vp = up - sp * th
        else:
            vp = up * (1.0 - sp)
        vp = tl.where(t == 0, vprev_first, vp)
        db += tl.where(live, du * vp, 0.0).to(tl.float64)
    tl.store(dI + tl.cast(t, tl.int64) * M + offs, du.to(dI.dtype.element_ty), mask=live)
    dv = tl.where(live, du * b, dv)
    return dv, db, dt


@triton.jit
def _lif_backward(h, mask, gS, sS, gH, sH, gV, v0, beta, thr, dI, dv0, dbeta, dthr, T, M, P,
                  RESET: tl.constexpr, SURR: tl.constexpr, REFR: tl.constexpr,
                  NEED_BETA: tl.constexpr, NEED_THR: tl.constexpr, BLOCK: tl.constexpr,
                  UNROLL: tl.constexpr):
    k, keep = tl.load(P), tl.load(P + 1)  # surrogate slope; 0 where the reset is detached
    offs, ok, rows = _lanes(M, BLOCK, UNROLL)
    b = tl.load(beta + offs, mask=ok, other=0.0)
    th = tl.load(thr + offs, mask=ok, other=0.0)
    dv = tl.load(gV + offs, mask=ok, other=0.0)
    first = tl.load(v0 + offs, mask=ok, other=0.0)  # the membrane before step 0
    db = tl.zeros([BLOCK], dtype=tl.float64)  # sums over T in double, as the CPU kernel
    dt = tl.zeros([BLOCK], dtype=tl.float64)
    for i in range((T + UNROLL - 1) // UNROLL):
        t_lo = T - (i + 1) * UNROLL  # the chunk is t_lo .. t_lo + UNROLL - 1, walked backwards
        tt = t_lo + rows
        live2 = (tt >= 0)[:, None] & ok[None, :]
        H = _bwd_tile(h, M, tt, live2, offs, first.dtype)
        GS = _bwd_tile(gS, sS, tt, live2, offs, first.dtype)
        GH = _bwd_tile(gH, sH, tt, live2, offs, first.dtype)
        # h (and mask) of the step before the chunk, for d beta at its first step
        prev_ok = ok & (t_lo >= 1)
        o_prev = tl.cast(t_lo - 1, tl.int64) * M + offs
        h_prev = tl.load(h + o_prev, mask=prev_ok, other=0.0)
        if REFR:
            MK = tl.load(mask + (tl.cast(tt, tl.int64)[:, None] * M + offs[None, :]),
                         mask=live2, other=0).to(tl.int32)
            r_prev = tl.load(mask + o_prev, mask=prev_ok, other=0).to(tl.float32)
        else:
            MK = tl.zeros([UNROLL, BLOCK], dtype=tl.int32)
            r_prev = tl.zeros([BLOCK], dtype=tl.float32)
        for kk in tl.static_range(UNROLL):
            j = UNROLL - 1 - kk
            if j > 0:
                up = _row(H, rows, j - 1)
                rp = _row(MK, rows, j - 1)
            else:
                up = h_prev
                rp = r_prev
            t = t_lo + j
            dv, db, dt = _bwd_update(t, M, offs, ok & (t >= 0), _row(H, rows, j),
                                     _row(GS, rows, j), _row(GH, rows, j), _row(MK, rows, j), up,
                                     rp, first, dI, b, th, dv, db, dt, k, keep, RESET, SURR,
                                     REFR, NEED_BETA, NEED_THR)
    tl.store(dv0 + offs, dv, mask=ok)
    if NEED_BETA:
        tl.store(dbeta + offs, db.to(dbeta.dtype.element_ty), mask=ok)
    if NEED_THR:
        tl.store(dthr + offs, dt.to(dthr.dtype.element_ty), mask=ok)


def scalars(like: Tensor, *values: float) -> Tensor:
    """Float parameters as a small device tensor of the data's dtype: Triton would pass Python
    floats as fp32, rounding them in fp64 runs. Cached: making one copies from the host, which
    waits for the device."""
    return _scalars(values, like.dtype, like.device)


@functools.lru_cache(maxsize=256)
def _scalars(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


def _launch(M: int, backward: bool = False) -> dict:
    c = _config[0]
    # no fused multiply-add: b * v + x rounds twice, as the reference does, so spikes match it
    return {"grid": (triton.cdiv(M, c.block),), "BLOCK": c.block,
            "UNROLL": c.backward_unroll if backward else c.unroll, "num_warps": c.num_warps,
            "enable_fp_fusion": False}


def forward(currents: Tensor, beta: Tensor, threshold: Tensor, v: Tensor, refrac: Tensor,
            reset: int, refractory_steps: int, spikes: Tensor, h: Tensor, mask: Tensor) -> Tensor:
    """Launch the forward; ``v``/``refrac`` are updated in place to the final state. Returns the
    device counter of NaN or infinite inputs (:mod:`hebbtorch.kernels.finite`)."""
    T, M = currents.shape[0], v.numel()
    bad = finite.counter(currents.device)
    if M and T:
        launch = _launch(M)
        _lif_forward[launch.pop("grid")](
            currents, beta, threshold, v, refrac, spikes, h, mask if mask.numel() else spikes,
            bad, T, M, float(refractory_steps), RESET=reset, REFR=refractory_steps > 0,
            STREAM=_config[0].stream, PREFETCH=_config[0].prefetch, **launch)
    return bad


def backward(h: Tensor, mask: Tensor, gs: Tensor, s_gs: int, gh: Tensor, s_gh: int, gv: Tensor,
             v0: Tensor, beta: Tensor, threshold: Tensor, reset: int, surrogate: int, slope: float,
             detach_reset: bool, d_cur: Tensor, d_v0: Tensor, d_beta: Tensor,
             d_thr: Tensor) -> None:
    """Launch the reverse-time pass into the preallocated ``d_*`` tensors."""
    T, M = h.shape[0], v0.numel()
    if M == 0:
        return
    if T == 0:
        d_v0.copy_(gv)
        d_beta.zero_()
        d_thr.zero_()
        return
    launch = _launch(M, backward=True)
    _lif_backward[launch.pop("grid")](
        h, mask if mask.numel() else h, gs, s_gs, gh, s_gh, gv, v0, beta, threshold, d_cur, d_v0,
        d_beta if d_beta.numel() else d_v0, d_thr if d_thr.numel() else d_v0, T, M,
        scalars(h, slope, 0.0 if detach_reset else 1.0), RESET=reset, SURR=surrogate,
        REFR=mask.numel() > 0, NEED_BETA=d_beta.numel() > 0, NEED_THR=d_thr.numel() > 0, **launch)
