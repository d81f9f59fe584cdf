"""The Diehl & Cook network in exact online mode on CUDA: one Triton launch simulates a whole
presentation (or rest period) of one image, learning with a rule of the CPU kernel's
spike-triggered form (:func:`hebbtorch.plasticity.core.kernel_spec`: any TraceRule -- the
original trace STDP, pair and triplet STDP, the calcium-trace rule; 1-2 traces per side,
additive or soft bounds, hard clip) or without learning -- the GPU counterpart of
``diehl_cook_cpu.cpp``, same arithmetic and step order (:mod:`hebbtorch.networks.diehl_cook`:
``network_step``, ``relax_state``; the rule's spec as
:func:`hebbtorch.plasticity.core.spec_update` evaluates it).

Why this shape: at batch 1 a step is a few hundred flops per neuron-pair and some weight rows,
so a step loop of PyTorch launches (tens of microseconds each) dominates; one launch per image
keeps the state in registers for all ~1000 steps. The network is split over ``G`` programs,
each owning ``BLOCK`` E neurons, their I partners and their columns of the input weights (so the
STDP of a column or a row slice is local). The only coupling between programs is the lateral
inhibition -- every I spike inhibits every *other* E neuron -- which needs the step's total I
spike count. Each program adds its count to a per-step slot with one atomic and reads the total
at the start of the next step, after the drive of that step is summed: the wait overlaps work.
All programs must run at once (``G`` <= the number of SMs; :func:`launch_shape` checks).

Differences from the CPU kernel, all at rounding level: Triton's ``exp`` is not libm's; the
conductances are not flushed below the smallest normal float (the traces are);
weights out of bounds are clipped before the presentation, not after its first STDP update as
on the CPU (they only occur after normalisation lifted a weight over w_max).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import triton
import triton.language as tl

from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.core import ONE, TRACE_MODES, RuleSpec, TraceSpec, kernel_spec

Network = Any  # a DiehlCookNetwork, read and written back but not imported (it imports this)

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
def _flushed(x):
    """The core's flush_subnormal: a decaying trace below the smallest normal float32 is 0
    (as the reference and the CPU kernel; keeps the three paths' traces equal)."""
    return tl.where(tl.abs(x) < 1.1754943508222875e-38, 0.0, x)


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
def _pick(a, b, IDX: tl.constexpr):
    """Trace ``IDX`` of a side's (first, second)."""
    if IDX == 0:
        return a
    else:
        return b


@triton.jit
def _jumped(x, jump, MODE: tl.constexpr):
    """engine.trace_jump for one spike on a decayed trace value (TRACE_MODES order)."""
    if MODE == 0:  # all-to-all
        return x + jump
    elif MODE == 1:  # nearest
        return x * 0.0 + jump
    else:  # saturating
        return x + jump * (1.0 - x)


@triton.jit
def _post_factor(y1, y2, jump1, jump2, k0, k1, IDX: tl.constexpr, AFTER: tl.constexpr,
                 MODE1: tl.constexpr, MODE2: tl.constexpr):
    """k0 + k1 * post trace IDX (before this step's spikes; with AFTER including one)."""
    y = _pick(y1, y2, IDX)
    if AFTER:
        if IDX == 0:
            y = _jumped(y, jump1, MODE1)
        else:
            y = _jumped(y, jump2, MODE2)
    return k0 + k1 * y


@triton.jit
def _updated(w, ltp, ltd, w_min, w_max, SOFT: tl.constexpr):
    """One weight under the rule's dependence, as the CPU kernel's ``updated``."""
    if SOFT:
        return w + (ltp * (w_max - w) - ltd * (w - w_min))
    else:
        return (w + ltp) - ltd


@triton.jit
def _dc_run(W, idx, ptr, V, GE, GI, REF, theta, thresh, X1, X2, Y1, Y2, counts, slots,
            qmax, pows, steps, n_in, n, v_rest_e, v_rest_i, v_reset_e, v_reset_i, E_inh_e,
            E_inh_i, ndt_e, ndt_i, n_ref_e, n_ref_i, decay_ge, decay_gi, mean_ge, mean_gi,
            E_exc, w_ei, w_ie, theta_plus, d_x1, d_x2, d_y1, d_y2, jump_x1, jump_x2, jump_y1,
            jump_y2, ltp_pre_k0, ltp_pre_k1, ltp_post_k0, ltp_post_k1, ltd_pre_k0, ltd_pre_k1,
            ltd_post_k0, ltd_post_k1, gate_lo, gate_hi, w_min, w_max,
            G: tl.constexpr, BLOCK: tl.constexpr, IN_BLOCK: tl.constexpr,
            LEARN: tl.constexpr, REST: tl.constexpr, HAS_INPUT: tl.constexpr,
            N_PRE: tl.constexpr, N_POST: tl.constexpr, MODE_X1: tl.constexpr,
            MODE_X2: tl.constexpr, MODE_Y1: tl.constexpr, MODE_Y2: tl.constexpr,
            LTP_PRE: tl.constexpr, LTP_POST: tl.constexpr, LTP_AFTER: tl.constexpr,
            LTD_PRE: tl.constexpr, LTD_POST: tl.constexpr, LTD_AFTER: tl.constexpr,
            GATE: tl.constexpr, SOFT: tl.constexpr):
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
    # the rule's traces: pre x1, x2 [IN_BLOCK] (every program keeps all), post y1, y2 [BLOCK]
    x1 = tl.zeros([IN_BLOCK], dtype=tl.float32)
    x2 = tl.zeros([IN_BLOCK], dtype=tl.float32)
    y1 = tl.zeros([BLOCK], dtype=tl.float32)
    y2 = tl.zeros([BLOCK], dtype=tl.float32)
    if LEARN:
        x1 = tl.load(X1 + rows, mask=rok, other=0.0)
        y1 = tl.load(Y1 + cols, mask=ok, other=0.0)
        if N_PRE == 2:
            x2 = tl.load(X2 + rows, mask=rok, other=0.0)
        if N_POST == 2:
            y2 = tl.load(Y2 + cols, mask=ok, other=0.0)
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
                x1 = _flushed(x1 * tl.load(pows + 2 * (steps + 1) + left))
                x2 = _flushed(x2 * tl.load(pows + 3 * (steps + 1) + left))
                y1 = _flushed(y1 * tl.load(pows + 4 * (steps + 1) + left))
                y2 = _flushed(y2 * tl.load(pows + 5 * (steps + 1) + left))
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
            if LEARN:  # the CPU kernel's plasticity(): factors from the decayed traces
                th = tl.where(spe, th + theta_plus, th)
                the = tl.where(spe, the + theta_plus, the)
                x1 = _flushed(x1 * d_x1)
                x2 = _flushed(x2 * d_x2)
                y1 = _flushed(y1 * d_y1)
                y2 = _flushed(y2 * d_y2)
                yg = _pick(y1, y2, GATE)
                gate = (yg >= gate_lo) & (yg <= gate_hi)
                ltp_a = ltp_pre_k0 + ltp_pre_k1 * _pick(x1, x2, LTP_PRE)
                ltd_a = ltd_pre_k0 + ltd_pre_k1 * _pick(x1, x2, LTD_PRE)
                ltp_b = tl.where(gate, _post_factor(y1, y2, jump_y1, jump_y2, ltp_post_k0,
                                                    ltp_post_k1, LTP_POST, LTP_AFTER, MODE_Y1,
                                                    MODE_Y2), 0.0)
                ltd_b = tl.where(gate, _post_factor(y1, y2, jump_y1, jump_y2, ltd_post_k0,
                                                    ltd_post_k1, LTD_POST, LTD_AFTER, MODE_Y1,
                                                    MODE_Y2), 0.0)
                left_e = spe.to(tl.int32)
                m = n_e
                while m > 0:  # spiking columns (E spikes are rare): LTP, and LTD where the
                    jl = tl.argmax(left_e, 0)  # row spiked too (soft bounds take both at old w)
                    b_p = tl.sum(tl.where(lane == jl, ltp_b, 0.0), 0)
                    b_d = tl.sum(tl.where(lane == jl, ltd_b, 0.0), 0)
                    cp = W + rows.to(tl.int64) * n + (pid * BLOCK + jl)
                    w = tl.load(cp, mask=rok, other=0.0)
                    w = _updated(w, ltp_a * b_p, tl.where(xin, ltd_a * b_d, 0.0), w_min, w_max,
                                 SOFT)
                    tl.store(cp, _clip(w, w_min, w_max), mask=rok)
                    left_e = tl.where(lane == jl, 0, left_e)
                    m -= 1
                if HAS_INPUT:
                    for e in range(e0, e1):  # the other entries of the spiking rows: LTD
                        i = tl.load(idx + e).to(tl.int64)
                        a_d = tl.sum(tl.where(rows == i, ltd_a, 0.0), 0)
                        rp = W + i * n + cols
                        w = tl.load(rp, mask=ok, other=0.0)
                        w = _clip(_updated(w, 0.0, a_d * ltd_b, w_min, w_max, SOFT), w_min,
                                  w_max)
                        tl.store(rp, w, mask=ok & (spe == 0))
                x1 = tl.where(xin, _jumped(x1, jump_x1, MODE_X1), x1)
                x2 = tl.where(xin, _jumped(x2, jump_x2, MODE_X2), x2)
                y1 = tl.where(spe, _jumped(y1, jump_y1, MODE_Y1), y1)
                y2 = tl.where(spe, _jumped(y2, jump_y2, MODE_Y2), y2)
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
        tl.store(Y1 + cols, y1, mask=ok)
        if N_POST == 2:
            tl.store(Y2 + cols, y2, mask=ok)
        if pid == 0:
            tl.store(X1 + rows, x1, mask=rok)
            if N_PRE == 2:
                tl.store(X2 + rows, x2, mask=rok)


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


def _rule_args(net: Network, learn: bool) -> tuple[list[float], dict[str, int]]:
    """The rule's traces and factors (its :class:`~hebbtorch.plasticity.core.RuleSpec`) as the
    kernel's float arguments (trace decays and jumps, factor constants, gate bounds) and
    constexprs; without learning, placeholders the kernel never reads."""
    lrn = net.learner
    if learn:
        spec = kernel_spec(net.rule)
        pre, post = net.rule.pre_traces, net.rule.post_traces
        d_pre, d_post = list(lrn.decay_pre), list(lrn.decay_post)
    else:
        spec, pre, post, d_pre, d_post = RuleSpec(ONE, ONE, ONE, ONE), (), (), [], []
    pad = TraceSpec(1.0)  # an unused second trace: decays by 1, never read
    pre2, post2 = [*pre, pad, pad][:2], [*post, pad, pad][:2]
    d_pre, d_post = [*d_pre, 1.0, 1.0][:2], [*d_post, 1.0, 1.0][:2]
    floats = [*d_pre, *d_post, *(t.jump for t in (*pre2, *post2)),
              *(k for f in spec[:4] for k in (f.k0, f.k1)), spec.gate[1], spec.gate[2]]
    consts = dict(N_PRE=max(len(pre), 1), N_POST=max(len(post), 1),
                  **{f"MODE_{k}": TRACE_MODES.index(t.mode)
                     for k, t in zip(("X1", "X2", "Y1", "Y2"), (*pre2, *post2), strict=True)},
                  LTP_PRE=spec.ltp_pre.trace, LTP_POST=spec.ltp_post.trace,
                  LTP_AFTER=int(spec.ltp_post.after), LTD_PRE=spec.ltd_pre.trace,
                  LTD_POST=spec.ltd_post.trace, LTD_AFTER=int(spec.ltd_post.after),
                  GATE=spec.gate[0],
                  SOFT=int(learn and net.bounds.dependence == "multiplicative"))
    return [float(x) for x in floats], consts


def run(net: Network, spikes: torch.Tensor | None, steps: int, learn: bool,
        counts: torch.Tensor | None, rest: bool = False) -> None:
    """As :func:`hebbtorch.kernels.diehl_cook.run`, on CUDA (or Triton's interpreter)."""
    p, c, n, lrn, w = net.params, net.consts, net.n, net.learner, net.weight
    dev = w.device
    g = launch_shape(n, dev)
    floats, consts = _rule_args(net, learn)
    decays = (c.decay_ge, c.decay_gi, *floats[:4])
    w_min, w_max = (net.bounds.w_min, net.bounds.w_max) if learn else (0.0, 1.0)
    if learn and bool(((w < w_min) | (w > w_max)).any()):
        w.clamp_(w_min, w_max)
    State = type(net.state)
    st = State(*(x.detach().float().reshape(-1).contiguous().clone() for x in net.state))
    thresh = net.thresholds().contiguous()
    if spikes is None:
        idx, ptr = torch.zeros(1, dtype=torch.int32, device=dev), None
    else:
        idx, ptr = events(spikes.reshape(steps, -1), steps)
        if idx.numel() == 0:
            idx = torch.zeros(1, dtype=torch.int32, device=dev)
    if learn:  # the learner's own traces, updated in place
        lrn.pre, lrn.post = ([x.float().contiguous() for x in xs] for xs in (lrn.pre, lrn.post))
        traces = (*[*lrn.pre, lrn.pre[0]][:2], *[*lrn.post, lrn.post[0]][:2])
    else:
        traces = (thresh,) * 4  # unused when frozen
    slots = torch.zeros(2, max(steps, 1), dtype=torch.int32, device=dev)  # counts, conductance
    e_i = [(p.v_rest_e, p.v_rest_i), (p.v_reset_e, p.v_reset_i), (p.E_inh_e, p.E_inh_i),
           (-p.dt / p.tau_e, -p.dt / p.tau_i),
           (round(p.refrac_e / p.dt), round(p.refrac_i / p.dt))]  # as population_constants
    _dc_run[(g,)](
        w, idx, ptr if ptr is not None else idx, st.v, st.ge, st.gi, st.ref, net.theta, thresh,
        *traces, counts, slots[0], slots[1], _powers(decays, steps, str(dev)), steps,
        w.shape[0], n, *(float(x) for pair in e_i for x in pair), c.decay_ge, c.decay_gi,
        c.mean_ge, c.mean_gi, p.E_exc, p.w_ei, p.w_ie, p.theta_plus, *floats,
        float(w_min), float(w_max),
        G=g, BLOCK=BLOCK, IN_BLOCK=triton.next_power_of_2(w.shape[0]), LEARN=learn,
        REST=rest and spikes is None, HAS_INPUT=spikes is not None, **consts, num_warps=4,
        enable_fp_fusion=False)
    net.state = State(*(x.reshape(1, -1) for x in st))
