"""The Diehl & Cook network in exact online mode on CUDA: one Triton launch simulates a whole
presentation (or rest period) of one image, with the original trace STDP or without learning --
the GPU counterpart of ``diehl_cook_cpu.cpp``, same arithmetic and step order
(:mod:`hebbtorch.networks.diehl_cook`: ``network_step``, ``DiehlCookSTDP``, ``relax_state``).

Why this shape: at batch 1 a step is a few hundred flops per neuron-pair and some weight rows,
so a step loop of PyTorch launches (tens of microseconds each) dominates; one launch per image
keeps the state in registers for all ~1000 steps. The network is split over ``G`` programs,
each owning ``BLOCK`` E neurons, their I partners and their columns of the input weights (so the
STDP of a column or a row slice is local). The only coupling between programs is the lateral
inhibition -- every I spike inhibits every *other* E neuron -- which needs the step's total I
spike count. Each program adds its count to a per-step slot with one atomic and reads the total
at the start of the next step, after the drive of that step is summed: the wait overlaps work.
All programs must run at once (``G`` <= the number of SMs; :func:`launch_shape` checks).

Differences from the CPU kernel, all at rounding level: Triton's ``exp`` is not libm's;
weights out of bounds are clipped before the presentation, not after its first STDP update as
on the CPU (they only occur after normalisation lifted a weight over w_max).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch
import triton
import triton.language as tl

from hebbtorch.errors import HebbtorchError

if TYPE_CHECKING:
    from hebbtorch.networks.diehl_cook import DiehlCookNetwork

BLOCK = 128  # E neurons per program (one per thread with 4 warps)
_COUNT_BITS = 16  # a slot holds (I spikes << 16) + arrivals


@triton.jit
def _lerp(start, end, weight):
    # torch.lerp's two-branch formula
    d = end - start
    return tl.where(tl.abs(weight) < 0.5, start + weight * d, end - d * (1.0 - weight))


@triton.jit
def _membrane(v, ge, gi, ref, thr, v_rest, v_reset, E_inh, ndt, n_ref, mean_ge, mean_gi, E_exc):
    """conductance_membrane, refractory clamp, threshold and reset of one population."""
    g_e = ge * mean_ge
    g_i = gi * mean_gi
    g_tot = 1.0 + g_e + g_i
    num = (v_rest + g_e * E_exc) + g_i * E_inh
    # IEEE-rounded division as on the CPU (Triton's default '/' is approximate)
    v = _lerp(tl.math.div_rn(num, g_tot), v, tl.exp(g_tot * ndt))
    free = ref <= 0.0
    v = tl.where(free, v, v_reset)
    sp = free & (v > thr)
    ref = tl.maximum(ref - 1.0, 0.0)
    v = tl.where(sp, v_reset, v)
    ref = tl.where(sp, n_ref, ref)
    return v, ref, sp


@triton.jit
def _clip(w, w_min, w_max):
    return tl.minimum(tl.maximum(w, w_min), w_max)


@triton.jit
def _wait(slots, t, G: tl.constexpr):
    """Total I spikes of step t once all G programs have reported it."""
    cur = tl.atomic_add(slots + t, 0, sem="acquire")
    while (cur & 0xFFFF) < G:
        cur = tl.atomic_add(slots + t, 0, sem="acquire")
    return cur >> 16


@triton.jit
def _dc_run(W, idx, ptr, V, GE, GI, REF, theta, thresh, xpre, post1, post2, counts, slots,
            qmax, pows, steps, n_in, n, v_rest_e, v_rest_i, v_reset_e, v_reset_i, E_inh_e,
            E_inh_i, ndt_e, ndt_i, n_ref_e, n_ref_i, decay_ge, decay_gi, mean_ge, mean_gi,
            E_exc, w_ei, w_ie, theta_plus, d_pre, d_post1, d_post2, nu_pre, nu_post, w_min,
            w_max, G: tl.constexpr, BLOCK: tl.constexpr, IN_BLOCK: tl.constexpr,
            LEARN: tl.constexpr, REST: tl.constexpr, HAS_INPUT: tl.constexpr):
    pid = tl.program_id(0)
    lane = tl.arange(0, BLOCK)
    cols = pid * BLOCK + lane
    ok = cols < n
    rows = tl.arange(0, IN_BLOCK)
    rok = rows < n_in
    ve = tl.load(V + cols, mask=ok, other=0.0)
    vi = tl.load(V + n + cols, mask=ok, other=0.0)
    gee = tl.load(GE + cols, mask=ok, other=0.0)
    gei = tl.load(GE + n + cols, mask=ok, other=0.0)
    gie = tl.load(GI + cols, mask=ok, other=0.0)
    gii = tl.load(GI + n + cols, mask=ok, other=0.0)
    rfe = tl.load(REF + cols, mask=ok, other=0.0)
    rfi = tl.load(REF + n + cols, mask=ok, other=0.0)
    the = tl.load(thresh + cols, mask=ok, other=0.0)
    thi = tl.load(thresh + n + cols, mask=ok, other=0.0)
    th = tl.load(theta + cols, mask=ok, other=0.0)
    cnt = tl.zeros([BLOCK], dtype=tl.float32)
    if LEARN:
        xp = tl.load(xpre + rows, mask=rok, other=0.0)
        p1 = tl.load(post1 + cols, mask=ok, other=0.0)
        p2 = tl.load(post2 + cols, mask=ok, other=0.0)
    else:
        xp = tl.zeros([IN_BLOCK], dtype=tl.float32)
        p1 = tl.zeros([BLOCK], dtype=tl.float32)
        p2 = tl.zeros([BLOCK], dtype=tl.float32)
    si_prev = tl.zeros([BLOCK], dtype=tl.float32)  # own I spikes of the previous step
    t = 0
    done = 0
    while (t < steps) & (done == 0):
        drive = tl.zeros([BLOCK], dtype=tl.float32)
        xin = rows < 0  # this step's input spikes (rows)
        e0 = 0
        e1 = 0
        if HAS_INPUT:  # sum the rows of the inputs that spiked, in index order (as the CPU)
            e0 = tl.load(ptr + t)
            e1 = tl.load(ptr + t + 1)
            for e in range(e0, e1):
                i = tl.load(idx + e).to(tl.int64)
                drive += tl.load(W + i * n + cols, mask=ok, other=0.0)
                xin = xin | (rows == i)
        # last step's lateral inhibition, now that every program has counted its I spikes
        jump = 0
        if t > 0:
            total = _wait(slots, t - 1, G)
            gie = tl.where(total > 0, gie + w_ie * (total.to(tl.float32) - si_prev), gie)
            if REST:
                if t % 10 == 0:
                    top = tl.atomic_add(qmax + (t - 1), 0, sem="acquire").to(tl.float32,
                                                                              bitcast=True)
                    jump = ((top < 1e-6) & (total == 0)).to(tl.int32)
        if jump != 0:  # silent and no conductance left: relax_state over the remaining steps
            left = steps - t
            f = left.to(tl.float32)
            ve = _lerp(v_rest_e, ve, tl.exp(ndt_e * f))
            vi = _lerp(v_rest_i, vi, tl.exp(ndt_i * f))
            a_ge = tl.load(pows + left)
            a_gi = tl.load(pows + (steps + 1) + left)
            gee = gee * a_ge
            gei = gei * a_ge
            gie = gie * a_gi
            gii = gii * a_gi
            rfe = tl.maximum(rfe - f, 0.0)
            rfi = tl.maximum(rfi - f, 0.0)
            if LEARN:
                xp = xp * tl.load(pows + 2 * (steps + 1) + left)
                p1 = p1 * tl.load(pows + 3 * (steps + 1) + left)
                p2 = p2 * tl.load(pows + 4 * (steps + 1) + left)
            done = 1
        else:
            ve, rfe, spe = _membrane(ve, gee, gie, rfe, the, v_rest_e, v_reset_e, E_inh_e, ndt_e,
                                     n_ref_e, mean_ge, mean_gi, E_exc)
            vi, rfi, spi = _membrane(vi, gei, gii, rfi, thi, v_rest_i, v_reset_i, E_inh_i, ndt_i,
                                     n_ref_i, mean_ge, mean_gi, E_exc)
            spe = spe & ok
            spi = spi & ok
            se = spe.to(tl.float32)
            si = spi.to(tl.float32)
            gie = gie * decay_gi  # the inhibition of this step's I spikes follows next step
            gii = gii * decay_gi
            gee = drive + decay_ge * gee
            gei = w_ei * se + decay_ge * gei
            if REST:
                if (t + 1) % 10 == 0:
                    top = tl.max(tl.maximum(tl.maximum(gee, gei), tl.maximum(gie, gii)), 0)
                    tl.atomic_max(qmax + t, top.to(tl.int32, bitcast=True), sem="relaxed")
            k_i = tl.sum(spi.to(tl.int32), 0)
            tl.atomic_add(slots + t, (k_i << 16) + 1, sem="release")
            si_prev = si
            n_e = tl.sum(spe.to(tl.int32), 0)
            cnt += se
            if LEARN:
                th = tl.where(spe, th + theta_plus, th)
                the = tl.where(spe, the + theta_plus, the)
                xpd = xp * d_pre
                p1 = p1 * d_post1
                p2 = p2 * d_post2
                left_e = spe.to(tl.int32)
                m = n_e
                while m > 0:  # LTP, column by column (E spikes are rare)
                    jl = tl.argmax(left_e, 0)
                    b = tl.sum(tl.where(lane == jl, p2, 0.0), 0)
                    cp = W + rows.to(tl.int64) * n + (pid * BLOCK + jl)
                    w = tl.load(cp, mask=rok, other=0.0)
                    w = w + (nu_post * xpd) * b
                    # entries of inputs that also spiked are clipped after their LTD
                    tl.store(cp, tl.where(xin, w, _clip(w, w_min, w_max)), mask=rok)
                    left_e = tl.where(lane == jl, 0, left_e)
                    m -= 1
                if HAS_INPUT:
                    for e in range(e0, e1):  # LTD on this step's input spikes
                        i = tl.load(idx + e).to(tl.int64)
                        rp = W + i * n + cols
                        w = tl.load(rp, mask=ok, other=0.0)
                        tl.store(rp, _clip(w - nu_pre * p1, w_min, w_max), mask=ok)
                xp = tl.where(xin, 1.0, xpd)
                p1 = tl.where(spe, 1.0, p1)
                p2 = tl.where(spe, 1.0, p2)
            t += 1
    if (done == 0) & (steps > 0):  # the last step's inhibition
        total = _wait(slots, steps - 1, G)
        gie = tl.where(total > 0, gie + w_ie * (total.to(tl.float32) - si_prev), gie)
    tl.store(V + cols, ve, mask=ok)
    tl.store(V + n + cols, vi, mask=ok)
    tl.store(GE + cols, gee, mask=ok)
    tl.store(GE + n + cols, gei, mask=ok)
    tl.store(GI + cols, gie, mask=ok)
    tl.store(GI + n + cols, gii, mask=ok)
    tl.store(REF + cols, rfe, mask=ok)
    tl.store(REF + n + cols, rfi, mask=ok)
    if counts is not None:
        tl.store(counts + cols, tl.load(counts + cols, mask=ok, other=0.0) + cnt, mask=ok)
    if LEARN:
        tl.store(theta + cols, th, mask=ok)
        tl.store(thresh + cols, the, mask=ok)
        tl.store(post1 + cols, p1, mask=ok)
        tl.store(post2 + cols, p2, mask=ok)
        if pid == 0:
            tl.store(xpre + rows, xp, mask=rok)


def launch_shape(n: int, device: torch.device) -> int:
    """Number of programs for ``n`` E neurons; all must be resident at once (they wait for each
    other every step), so there may be no more than the device has SMs."""
    g = triton.cdiv(n, BLOCK)
    sms = (torch.cuda.get_device_properties(device).multi_processor_count
           if device.type == "cuda" else g)
    if g > sms:
        raise HebbtorchError(f"{n} neurons need {g} programs of {BLOCK}, more than the "
                             f"{sms} SMs of {device}: the fused GPU path can't run them")
    if n >= 1 << (31 - _COUNT_BITS):
        raise HebbtorchError(f"too many neurons ({n}) for the spike-count slots")
    return g


@functools.lru_cache(maxsize=16)
def _powers(decays: tuple[float, ...], steps: int, device: str) -> torch.Tensor:
    """``float32(decay ** k)`` for k = 0..steps, per decay (computed in double, as the CPU)."""
    k = torch.arange(steps + 1, dtype=torch.float64)
    return torch.stack([torch.tensor(d, dtype=torch.float64) ** k for d in decays]).float().to(
        device)


def events(spikes: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Input spikes ``[steps, 784]`` (0/1) -> (input indices in step order and, within a step,
    index order, int32; offsets ``[steps + 1]`` of each step's run)."""
    nz = spikes.nonzero()
    ptr = torch.zeros(steps + 1, dtype=torch.int32, device=spikes.device)
    ptr[1:] = torch.bincount(nz[:, 0], minlength=steps).cumsum(0)
    return nz[:, 1].to(torch.int32).contiguous(), ptr


def run(net: DiehlCookNetwork, spikes: torch.Tensor | None, steps: int, learn: bool,
        counts: torch.Tensor | None, rest: bool = False) -> None:
    """As :func:`hebbtorch.kernels.diehl_cook.run`, on CUDA (or Triton's interpreter)."""
    from hebbtorch.networks.diehl_cook import DiehlCookState, DiehlCookSTDPParameters, thresholds

    p, c, n, lrn, w = net.params, net.consts, net.n, net.learner, net.weight
    dev = w.device
    g = launch_shape(n, dev)
    rule = net.rule.params if learn else DiehlCookSTDPParameters()
    decays = (c.decay_ge, c.decay_gi, *lrn.decay_pre, *lrn.decay_post) if learn else (
        c.decay_ge, c.decay_gi, 1.0, 1.0, 1.0)
    w_min, w_max = (net.bounds.w_min, net.bounds.w_max) if learn else (0.0, 1.0)
    if learn and bool(((w < w_min) | (w > w_max)).any()):
        w.clamp_(w_min, w_max)
    st = DiehlCookState(*(x.detach().float().reshape(-1).contiguous().clone() for x in net.state))
    thresh = thresholds(net.theta, p).contiguous()
    if spikes is None:
        idx, ptr = torch.zeros(1, dtype=torch.int32, device=dev), None
    else:
        idx, ptr = events(spikes.reshape(steps, -1), steps)
        if idx.numel() == 0:
            idx = torch.zeros(1, dtype=torch.int32, device=dev)
    traces = (lrn.pre[0], *lrn.post) if learn else (thresh, thresh, thresh)  # unused if frozen
    slots = torch.zeros(2, max(steps, 1), dtype=torch.int32, device=dev)  # counts, conductance
    e_i = [(p.v_rest_e, p.v_rest_i), (p.v_reset_e, p.v_reset_i), (p.E_inh_e, p.E_inh_i),
           (-p.dt / p.tau_e, -p.dt / p.tau_i),
           (round(p.refrac_e / p.dt), round(p.refrac_i / p.dt))]  # as population_constants
    _dc_run[(g,)](
        w, idx, ptr if ptr is not None else idx, st.v, st.ge, st.gi, st.ref, net.theta, thresh,
        *traces, counts, slots[0], slots[1], _powers(decays, steps, str(dev)), steps,
        w.shape[0], n, *(float(x) for pair in e_i for x in pair), c.decay_ge, c.decay_gi,
        c.mean_ge, c.mean_gi, p.E_exc, p.w_ei, p.w_ie,
        p.theta_plus, *(float(d) for d in decays[2:]), rule.nu_pre, rule.nu_post, w_min, w_max,
        G=g, BLOCK=BLOCK, IN_BLOCK=triton.next_power_of_2(w.shape[0]), LEARN=learn,
        REST=rest and spikes is None, HAS_INPUT=spikes is not None, num_warps=4,
        enable_fp_fusion=False)
    net.state = DiehlCookState(*(x.reshape(1, -1) for x in st))
