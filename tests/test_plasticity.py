"""Plasticity engine and rules: exactness against analytic results, bounds, delays, grad mode."""

from __future__ import annotations

import math

import pytest
import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import (
    GB_PARAMETER_SETS,
    CalciumHebbian,
    CalciumHebbianParameters,
    GraupnerBrunel,
    PairSTDP,
    PairSTDPParameters,
    PlasticConnection,
    PlasticConv2d,
    TripletSTDP,
    TripletSTDPParameters,
    WeightBounds,
    calcium_time_above,
    gb_synaptic_change,
    gb_transition_probabilities,
    triplet_parameters,
)

F64 = torch.float64


def pair_trains(dts: list[int], T: int = 300, t0: int = 120) -> tuple[torch.Tensor, torch.Tensor]:
    pre = torch.zeros(T, len(dts), 1, dtype=F64)
    post = torch.zeros(T, len(dts), 1, dtype=F64)
    for i, d in enumerate(dts):
        pre[t0, i, 0] = 1
        post[t0 + d, i, 0] = 1
    return pre, post


def test_pair_stdp_window_equals_analytic_curve():
    dts = list(range(-100, 101, 1))
    p = PairSTDPParameters(tau_plus=16.8, tau_minus=33.7, A_plus=0.01, A_minus=0.012)
    rule = PairSTDP(p)
    pre, post = pair_trains(dts)
    conn = PlasticConnection(1, 1, rule, batch=len(dts), dt=1.0, w_init=0.0, bounds=None,
                             dtype=F64)
    conn.run(pre, post)
    got = conn.weight.detach()[:, 0, 0]
    d = torch.tensor(dts, dtype=F64)
    want = torch.where(d > 0, p.A_plus * torch.exp(-d / p.tau_plus),
                       torch.where(d < 0, -p.A_minus * torch.exp(d / p.tau_minus), 0 * d))
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    assert torch.allclose(rule.window(d), want, atol=1e-15)


def test_all_to_all_sums_pairs_nearest_keeps_last():
    # two pre spikes (at 0 and 10 ms) then one post spike at 20 ms
    pre = torch.zeros(40, 1, 1, dtype=F64)
    post = torch.zeros(40, 1, 1, dtype=F64)
    pre[5, 0, 0] = pre[15, 0, 0] = 1
    post[25, 0, 0] = 1
    out = {}
    for mode in ("all_to_all", "nearest"):
        rule = PairSTDP(PairSTDPParameters(A_plus=1.0, A_minus=0.0, interaction=mode))
        c = PlasticConnection(1, 1, rule, dt=1.0, w_init=0.0, bounds=None, dtype=F64)
        c.run(pre, post)
        out[mode] = float(c.weight[0, 0, 0])
    tau = 16.8
    assert out["all_to_all"] == pytest.approx(math.exp(-20 / tau) + math.exp(-10 / tau), abs=1e-12)
    assert out["nearest"] == pytest.approx(math.exp(-10 / tau), abs=1e-12)


def brute_force_triplet(pre_t: list[float], post_t: list[float], p: TripletSTDPParameters) -> float:
    """All-to-all triplet rule by explicit sums over spike pairs/triplets (eqs. 3-4)."""
    w = 0.0
    for t in sorted(set(pre_t) | set(post_t)):
        if t in post_t:  # LTP with pre strictly earlier, o2 from posts strictly earlier
            r1 = sum(math.exp(-(t - s) / p.tau_plus) for s in pre_t if s < t)
            o2 = sum(math.exp(-(t - s) / p.tau_y) for s in post_t if s < t)
            w += r1 * (p.A2_plus + p.A3_plus * o2)
        if t in pre_t:
            o1 = sum(math.exp(-(t - s) / p.tau_minus) for s in post_t if s < t)
            r2 = sum(math.exp(-(t - s) / p.tau_x) for s in pre_t if s < t)
            w -= o1 * (p.A2_minus + p.A3_minus * r2)
    return w


def test_triplet_rule_equals_explicit_sum_over_spike_triplets():
    g = torch.Generator().manual_seed(1)
    p = triplet_parameters("hippocampal", "all_to_all", "full")
    T, B = 400, 6
    pre = (torch.rand(T, B, 1, generator=g) < 0.04).double()
    post = (torch.rand(T, B, 1, generator=g) < 0.04).double()
    c = PlasticConnection(1, 1, TripletSTDP(p), batch=B, dt=1.0, w_init=0.0, bounds=None,
                          dtype=F64)
    c.run(pre, post)
    for b in range(B):
        pt = torch.nonzero(pre[:, b, 0]).flatten().double().tolist()
        qt = torch.nonzero(post[:, b, 0]).flatten().double().tolist()
        assert float(c.weight[b, 0, 0]) == pytest.approx(brute_force_triplet(pt, qt, p), abs=1e-12)


def test_triplet_parameter_sets_are_complete_and_valid():
    for data in ("visual_cortex", "hippocampal"):
        for inter in ("all_to_all", "nearest"):
            for model in ("full", "minimal"):
                p = triplet_parameters(data, inter, model)
                assert p.interaction == inter
                TripletSTDP(p)  # validates
                if model == "minimal":
                    assert p.A3_minus == 0.0
    assert triplet_parameters().A3_plus == pytest.approx(6.2e-3)
    with pytest.raises(HebbtorchError, match="no triplet parameter set"):
        triplet_parameters("cerebellum")


@pytest.mark.parametrize("delay", [
    [0.0, 1.0, 3.0, 7.0],  # per presynaptic neuron
    [[0.0, 2.0], [1.0, 1.0], [5.0, 0.0], [7.0, 3.0]],  # per synapse [pre, post]
])
@pytest.mark.parametrize("rule", [
    TripletSTDP(triplet_parameters("visual_cortex", "nearest", "full")),
    GraupnerBrunel(GB_PARAMETER_SETS["DP"]),  # adds its own trace delay D on top
])
def test_run_equals_step_loop_with_delays(delay, rule):
    g = torch.Generator().manual_seed(0)
    T, B, n_pre, n_post = 120, 3, 4, 2
    pre = (torch.rand(T, B, n_pre, generator=g) < 0.1).double()
    post = (torch.rand(T, B, n_post, generator=g) < 0.1).double()
    bounds = WeightBounds(1.0, 2.0) if isinstance(rule, GraupnerBrunel) else WeightBounds(
        0, 1, "multiplicative")
    kw = dict(batch=B, dt=1.0, w_init=1.5, bounds=bounds, delay=torch.tensor(delay), dtype=F64)
    a = PlasticConnection(n_pre, n_post, rule, **kw)
    b = PlasticConnection(n_pre, n_post, rule, **kw)
    a.run(pre[:50], post[:50])
    a.run(pre[50:], post[50:])  # continues from the delay line left by the first call
    for t in range(T):
        b.step(pre[t], post[t])
    assert torch.allclose(a.weight, b.weight, atol=1e-12)
    assert not torch.allclose(a.weight, torch.full_like(a.weight, 1.5))


def test_per_synapse_delay_shifts_the_stdp_window_by_exactly_that_delay():
    # one presynaptic neuron, three postsynaptic ones reached after 0, 3 and 7 ms: the spike
    # arrives d later, so synapse j sees Δt - d_j and measures the window W(Δt - d_j)
    p = PairSTDPParameters(A_plus=0.01, A_minus=0.012)
    delays = [0.0, 3.0, 7.0]
    dts = list(range(-40, 41))
    pre, post = pair_trains(dts, T=200, t0=80)
    post = post.expand(-1, -1, 3).contiguous()
    c = PlasticConnection(1, 3, PairSTDP(p), batch=len(dts), dt=1.0, w_init=0.0, bounds=None,
                          delay=torch.tensor([delays]), dtype=F64)
    c.run(pre, post)
    d = torch.tensor(dts, dtype=F64)
    for j, dj in enumerate(delays):
        assert torch.allclose(c.weight[:, 0, j], PairSTDP(p).window(d - dj), rtol=0, atol=1e-12)
    # the same synapses deliver their input d_j steps late
    c2 = PlasticConnection(1, 3, PairSTDP(p), dt=1.0, w_init=torch.tensor([[1.0, 2.0, 4.0]]),
                           delay=torch.tensor([delays]), bounds=None)
    got = []
    for t in range(9):
        s = torch.ones(1, 1) if t == 0 else torch.zeros(1, 1)
        got.append(c2.propagate(s)[0].tolist())
        c2.step(s, torch.zeros(1, 3))
    assert [t for t in range(9) if got[t] != [0.0, 0.0, 0.0]] == [0, 3, 7]
    assert got[0][0] == 1.0 and got[3][1] == 2.0 and got[7][2] == 4.0


def fold_onto_kernel(conv: PlasticConv2d, dw_dense: torch.Tensor) -> torch.Tensor:
    """Σ of a dense ``[batch, pre, post]`` change over the unrolled entries sharing each kernel
    entry: the gradient of <dw, U(k)> w.r.t. k, since the unrolled weight U(k) is linear in k
    with 0/1 coefficients (computed by autograd through conv2d, not by unfold)."""
    k = conv.weight.detach().clone().requires_grad_(True)
    eye = torch.eye(conv.n_pre, dtype=k.dtype).reshape(conv.n_pre, conv.c_in, *conv.input_size)
    unrolled = torch.stack([
        torch.nn.functional.conv2d(eye, kb, stride=conv.stride, padding=conv.padding)
        .reshape(conv.n_pre, -1) for kb in k])
    return torch.autograd.grad((unrolled * dw_dense).sum(), k)[0]


@pytest.mark.parametrize("rule, bounds", [
    (PairSTDP(PairSTDPParameters(A_plus=0.01, A_minus=0.012)), None),
    (TripletSTDP(triplet_parameters("visual_cortex", "all_to_all", "full")._replace(
        A2_plus=0.01)), WeightBounds(0.0, 1.0, "multiplicative")),
])
def test_conv_update_equals_dense_update_on_the_unrolled_weight(rule, bounds):
    g = torch.Generator().manual_seed(4)
    B, geom = 2, dict(stride=(1, 2), padding=1)
    conv = PlasticConv2d(2, 3, 3, (6, 5), rule, batch=B, bounds=bounds, dtype=F64,
                         w_init=torch.rand(B, 3, 2, 3, 3, generator=g, dtype=F64), **geom)
    structure = PlasticConv2d(2, 3, 3, (6, 5), rule, w_init=1.0, dtype=F64,
                              **geom).unrolled_weight()[0] > 0
    dense = PlasticConnection(conv.n_pre, conv.n_post, rule, batch=B, bounds=bounds, dtype=F64,
                              w_init=conv.unrolled_weight(), mask=structure)
    changed = 0.0
    for _ in range(25):
        pre = (torch.rand(B, conv.n_pre, generator=g) < 0.2).double()
        post = (torch.rand(B, conv.n_post, generator=g) < 0.2).double()
        dense.weight.data.copy_(conv.unrolled_weight())  # same weights before every step
        assert torch.allclose(conv.propagate(pre), dense.propagate(pre), atol=1e-12)
        dk, dw = conv.step(pre, post), dense.step(pre, post)
        assert torch.allclose(dk, fold_onto_kernel(conv, dw), rtol=0, atol=1e-12)
        changed = max(changed, float(dk.abs().max()))
    assert changed > 1e-3  # the comparison was not between two zero updates


def test_conv_refuses_what_has_no_weight_shared_form():
    with pytest.raises(HebbtorchError, match="per-synapse state"):
        PlasticConv2d(1, 1, 3, (5, 5), GraupnerBrunel())
    with pytest.raises(HebbtorchError, match="does not fit"):
        PlasticConv2d(1, 1, 7, (5, 5), PairSTDP())
    with pytest.raises(HebbtorchError, match="one scalar delay"):
        PlasticConv2d(1, 1, 3, (5, 5), PairSTDP(), delay=torch.ones(25))
    with pytest.raises(HebbtorchError, match="per-synapse delay"):
        PlasticConnection(3, 2, PairSTDP(), delay=torch.ones(2, 3))


def test_propagate_applies_axonal_delay():
    c = PlasticConnection(2, 1, PairSTDP(), dt=1.0, w_init=torch.tensor([[1.0], [2.0]]),
                          delay=torch.tensor([0.0, 2.0]), bounds=None)
    outs = []
    for t in range(4):
        s = torch.tensor([[1.0, 1.0]]) if t == 0 else torch.zeros(1, 2)
        outs.append(float(c.propagate(s)[0, 0]))
        c.step(s, torch.zeros(1, 1))
    assert outs == [1.0, 0.0, 2.0, 0.0]


def test_bounds_soft_and_hard():
    T, B = 200, 4
    post = torch.zeros(T, B, 1)
    pre = torch.zeros(T, B, 1)
    pre[::10] = 1
    post[2::10] = 1  # pre 2 ms before post, strong LTP
    rule = PairSTDP(PairSTDPParameters(A_plus=0.1, A_minus=0.0, interaction="nearest"))
    hard = PlasticConnection(1, 1, rule, batch=B, w_init=0.5, bounds=WeightBounds(0.0, 0.8))
    soft = PlasticConnection(1, 1, rule, batch=B, w_init=0.5,
                             bounds=WeightBounds(0.0, 1.0, "multiplicative"))
    hard.run(pre, post)
    soft.run(pre, post)
    assert torch.allclose(hard.weight, torch.full_like(hard.weight, 0.8))
    # soft bound: each pairing closes a fixed fraction of the gap to w_max (20 pairings)
    want = 1.0 - 0.5 * (1 - 0.1 * math.exp(-2 / 16.8)) ** 20
    assert torch.allclose(soft.weight, torch.full_like(soft.weight, want), atol=1e-5)


def test_normalisation_and_sparse_mask():
    g = torch.Generator().manual_seed(2)
    mask = torch.rand(6, 3, generator=g) < 0.6
    mask[0] = True  # every column has at least one synapse
    c = PlasticConnection(6, 3, PairSTDP(PairSTDPParameters(A_plus=0.1, A_minus=0.05)), batch=2,
                          w_init=0.3, mask=mask, normalize=1.0, bounds=WeightBounds(0, 5))
    pre = (torch.rand(50, 2, 6, generator=g) < 0.3).float()
    post = (torch.rand(50, 2, 3, generator=g) < 0.3).float()
    c.run(pre, post)
    w = c.weight.detach()
    assert torch.allclose(w.sum(1), torch.ones(2, 3), atol=1e-5)
    assert bool((w[:, ~mask] == 0).all())


def test_grad_mode_with_sgd_equals_direct_update():
    g = torch.Generator().manual_seed(3)
    pre = (torch.rand(60, 2, 5, generator=g) < 0.2).float()
    post = (torch.rand(60, 2, 4, generator=g) < 0.2).float()
    rule = PairSTDP(PairSTDPParameters(A_plus=0.02, A_minus=0.02))
    direct = PlasticConnection(5, 4, rule, batch=2, w_init=0.5, bounds=None)
    viagrad = PlasticConnection(5, 4, rule, batch=2, w_init=0.5, bounds=None, apply="grad")
    opt = torch.optim.SGD(viagrad.parameters(), lr=1.0)
    for t in range(60):
        direct.step(pre[t], post[t])
        opt.zero_grad()
        viagrad.step(pre[t], post[t])
        opt.step()
    assert torch.allclose(direct.weight, viagrad.weight, atol=1e-6)
    assert not torch.allclose(direct.weight, torch.full_like(direct.weight, 0.5))


def test_bad_inputs_raise_hebbtorch_error():
    with pytest.raises(HebbtorchError, match="tau_plus"):
        PairSTDP(PairSTDPParameters(tau_plus=-1.0))
    with pytest.raises(HebbtorchError, match="interaction"):
        PairSTDP(PairSTDPParameters(interaction="some"))
    c = PlasticConnection(3, 2, PairSTDP(), batch=2)
    with pytest.raises(HebbtorchError, match="pre spikes"):
        c.step(torch.zeros(2, 4), torch.zeros(2, 2))
    with pytest.raises(HebbtorchError, match="differ in length"):
        c.run(torch.zeros(5, 2, 3), torch.zeros(6, 2, 2))
    with pytest.raises(HebbtorchError, match="multiple of dt"):
        PlasticConnection(3, 2, PairSTDP(), dt=1.0, delay=0.5)
    with pytest.raises(HebbtorchError, match="multiplicative"):
        PlasticConnection(3, 2, PairSTDP(), bounds=WeightBounds(None, 1.0, "multiplicative"))
    with pytest.raises(HebbtorchError, match="mask"):
        PlasticConnection(3, 2, PairSTDP(), mask=torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(HebbtorchError, match="theta_low"):
        CalciumHebbian(CalciumHebbianParameters(theta_low=0.9, theta_high=0.5))


# ------------------------------------------------------------------ Graupner & Brunel
def test_gb_time_above_threshold_single_spike_closed_form():
    p = GB_PARAMETER_SETS["DP"]
    post = torch.tensor([[100.0]])
    pre = torch.full((1, 1), math.inf)
    t_p, t_d = calcium_time_above(pre, post, p)
    assert float(t_p) == pytest.approx(p.tau_Ca * math.log(p.C_post / p.theta_p), rel=1e-12)
    assert float(t_d) == pytest.approx(p.tau_Ca * math.log(p.C_post / p.theta_d), rel=1e-12)


def test_gb_engine_euler_matches_event_driven_calcium():
    p = GB_PARAMETER_SETS["DP"]
    dt = 0.1
    dts = [-30.0, -10.0, 5.0, 20.0]
    T = int(260 / dt)
    pre = torch.zeros(T, len(dts), 1, dtype=F64)
    post = torch.zeros(T, len(dts), 1, dtype=F64)
    pre_t, post_t = [], []
    for i, d in enumerate(dts):
        for k in range(2):  # 2 pairings at 10 Hz
            a = 50.0 + 100.0 * k
            pre[int(round(a / dt)), i, 0] = 1
            post[int(round((a + d) / dt)), i, 0] = 1
        pre_t.append([50.0 + 100.0 * k for k in range(2)])
        post_t.append([50.0 + 100.0 * k + d for k in range(2)])
    rule = GraupnerBrunel(p)
    c = PlasticConnection(1, 1, rule, batch=len(dts), dt=dt, w_init=1.0,
                          bounds=WeightBounds(1.0, p.b), dtype=F64)
    c.run(pre, post)
    t_p, t_d = calcium_time_above(torch.tensor(pre_t, dtype=F64),
                                  torch.tensor(post_t, dtype=F64), p)
    st = c.state.rule
    # left-point Euler counts at most one extra step per threshold crossing (<= 4 here)
    assert torch.allclose(st.t_p[:, 0, 0], t_p, atol=4 * dt)
    assert torch.allclose(st.t_d[:, 0, 0], t_d, atol=4 * dt)
    # deterministic ρ moves up where calcium spent long above θ_p
    assert bool((st.rho >= 0).all()) and bool((st.rho <= 1).all())


def test_gb_no_stimulation_no_change_and_deterministic_limit():
    p = GB_PARAMETER_SETS["DP"]
    assert float(gb_synaptic_change(torch.zeros(1), torch.zeros(1), p)[0]) == pytest.approx(1.0)
    q = p._replace(sigma=0.0)
    up, down = gb_transition_probabilities(torch.tensor([5000.0]), torch.tensor([6000.0]), q)
    assert float(up[0]) in (0.0, 1.0) and float(down[0]) in (0.0, 1.0)


def _silent_drift(drift_every: int, dtype: torch.dtype, rho0: torch.Tensor, steps: int):
    """ρ after ``steps`` silent 0.5 ms steps (only the bistable drift acts), cortical slices."""
    p = GB_PARAMETER_SETS["cortical_slices"]
    c = PlasticConnection(len(rho0), 1, GraupnerBrunel(p, times=False, drift_every=drift_every),
                          dt=0.5, w_init=(1.0 + rho0 * (p.b - 1.0)).unsqueeze(1).to(dtype),
                          bounds=WeightBounds(1.0, p.b), dtype=dtype)
    c.run(torch.zeros(steps, 1, len(rho0), dtype=dtype), torch.zeros(steps, 1, 1, dtype=dtype))
    return c.state.rule.rho[0, :, 0].double()


def test_gb_bistable_drift_resolved_in_float32():
    """tau dρ/dt = -ρ(1-ρ)(ρ*-ρ) with tau = 346 s: one 0.5 ms step moves ρ by <= 7e-8, about
    float32's spacing near ρ = 0.5..1, so drifting every step in float32 rounds each step to
    whole ulps (here: more than 50 % off somewhere, stuck just above ρ* = 0.5); drifting every
    128 steps (the default) stays within 2 % of the float64 per-step solution, and the clock
    carries over between runs (two runs of 3,000 = one of 6,000 with drift_every 128)."""
    rho0 = torch.tensor([0.1, 0.3, 0.45, 0.52, 0.6, 0.8, 0.9, 0.95], dtype=F64)
    steps = 320 * 128
    want = _silent_drift(1, F64, rho0, steps) - rho0
    assert bool((want[:3] < 0).all()) and bool((want[3:] > 0).all())  # away from ρ* = 0.5
    err = {k: ((_silent_drift(k, torch.float32, rho0, steps) - rho0.float().double() - want)
               / want).abs().max() for k in (1, 128)}
    assert err[128] < 0.02 and err[1] > 0.5, err
    p = GB_PARAMETER_SETS["cortical_slices"]
    rule = GraupnerBrunel(p, times=False)
    c = PlasticConnection(len(rho0), 1, rule, dt=0.5, w_init=(1.0 + rho0 * (p.b - 1.0)).unsqueeze(
        1), bounds=WeightBounds(1.0, p.b), dtype=F64)
    for _ in range(2):
        c.run(torch.zeros(3_000, 1, len(rho0), dtype=F64), torch.zeros(3_000, 1, 1, dtype=F64))
    assert c.state.rule.clock == 6_000 % 128
    assert torch.equal(c.state.rule.rho[0, :, 0], _silent_drift(128, F64, rho0, 6_000))


def test_gb_drift_every_must_be_a_positive_integer():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(HebbtorchError, match="drift_every"):
            GraupnerBrunel(drift_every=bad)


def test_gb_noise_reproducible_with_generator():
    p = GB_PARAMETER_SETS["DP"]
    outs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        c = PlasticConnection(1, 1, GraupnerBrunel(p, noise=True, generator=g), batch=3, dt=0.5,
                              w_init=1.0, bounds=WeightBounds(1.0, p.b))
        post = torch.zeros(200, 3, 1)
        post[::20] = 1
        c.run(torch.zeros(200, 3, 1), post)
        outs.append(c.weight.detach().clone())
    assert torch.equal(outs[0], outs[1])


# --------------------------------------------------------------------- calcium-trace rule
def test_calcium_rule_window_and_bounded_traces():
    rule = CalciumHebbian()
    dts = list(range(-80, 81, 4))
    pre, post = pair_trains(dts)
    c = PlasticConnection(1, 1, rule, batch=len(dts), dt=1.0, w_init=0.0, bounds=None, dtype=F64)
    c.run(pre, post)
    want = rule.window(torch.tensor(dts, dtype=F64))
    assert torch.allclose(c.weight.detach()[:, 0, 0], want, atol=1e-12)
    # saturating traces stay below 1 even for a spike every step
    c2 = PlasticConnection(1, 1, rule, batch=1, dt=1.0, bounds=None)
    ones = torch.ones(500, 1, 1)
    c2.run(ones, ones)
    assert 0.9 < float(c2.state.pre[0].max()) < 1.0


def test_calcium_rule_stop_learning_region():
    p = CalciumHebbianParameters(theta_high=0.05)
    c = PlasticConnection(1, 1, CalciumHebbian(p), dt=1.0, w_init=0.5, bounds=None)
    pre = torch.zeros(100, 1, 1)
    post = torch.zeros(100, 1, 1)
    pre[::5] = 1
    post[2::5] = 1  # post calcium builds up above 0.05 after the first post spike
    c.run(pre[:4], post[:4])
    w_first = float(c.weight[0, 0, 0])
    assert w_first > 0.5  # the first pairing learns (calcium was 0)
    c.run(pre[4:], post[4:])
    assert float(c.weight[0, 0, 0]) == pytest.approx(w_first, abs=1e-6)


# ------------------------------------------------------------------ shared-weight mode
def _trains(seed: int, T: int, B: int, n_pre: int, n_post: int, p: float = 0.08):
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(T, B, n_pre, generator=g) < p).float(),
            (torch.rand(T, B, n_post, generator=g) < p).float())


_PAIR = PairSTDP(PairSTDPParameters(A_plus=0.02, A_minus=0.021))
_GB = GraupnerBrunel(GB_PARAMETER_SETS["DP"], w0=0.5, times=False)  # a delayed trace and ρ


@pytest.mark.parametrize("rule, dependence", [
    (_PAIR, "additive"), (_PAIR, "multiplicative"), (_GB, "additive"),
], ids=["pair-additive", "pair-soft", "gb-delayed"])
def test_shared_mode_is_the_batch_mean_of_independent_updates(rule, dependence):
    """One engine, two modes. With one lane the shared mode equals the independent mode (to
    float32 rounding: its in-place batch mean is a matmul); with three lanes and a weight the
    rule does not read (pair, additive), the shared change equals the mean of the three
    independent changes; its generic path (``want_dw``) equals its in-place path."""
    bounds = WeightBounds(0.0, 1.0, dependence)
    pre, post = _trains(0, 300, 3, 12, 5)
    w0 = 0.5 if isinstance(rule, GraupnerBrunel) else 0.4
    one = PlasticConnection(12, 5, rule, shared=True, dt=0.5, w_init=w0, bounds=bounds)
    ind = PlasticConnection(12, 5, rule, dt=0.5, w_init=w0, bounds=bounds)
    for t in range(300):
        one.step(pre[t, :1], post[t, :1])
        ind.step(pre[t, :1], post[t, :1])
    assert not torch.allclose(one.weight, torch.full_like(one.weight, w0))
    torch.testing.assert_close(one.weight, ind.weight.detach()[0], rtol=0, atol=2e-6)
    if isinstance(rule, GraupnerBrunel):
        return
    wide = PlasticConnection(12, 5, rule, shared=True, batch=3, dt=0.5, w_init=w0,
                             bounds=WeightBounds(-9.0, 9.0))
    slow = PlasticConnection(12, 5, rule, shared=True, batch=3, dt=0.5, w_init=w0,
                             bounds=WeightBounds(-9.0, 9.0))
    apart = PlasticConnection(12, 5, rule, batch=3, dt=0.5, w_init=w0,
                              bounds=WeightBounds(-9.0, 9.0))
    for t in range(300):
        assert wide.step(pre[t], post[t]) is None  # in place, no Δw by default
        assert slow.step(pre[t], post[t], want_dw=True).shape == (12, 5)
        apart.step(pre[t], post[t])
    torch.testing.assert_close(wide.weight - w0, (apart.weight.detach() - w0).mean(0),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(wide.weight, slow.weight.detach(), rtol=0, atol=1e-6)


def test_shared_mode_run_skip_and_dynamic_state():
    """``run`` equals the step loop in shared mode (delayed rule); ``skip`` jumps exactly over
    silence only when no delayed spike is in flight; the dynamic state round-trips."""
    rule = GraupnerBrunel(GB_PARAMETER_SETS["DP"], w0=0.5, times=False)
    pre, post = _trains(1, 200, 2, 6, 3)
    a = PlasticConnection(6, 3, rule, shared=True, batch=2, dt=0.5, w_init=0.5)
    b = PlasticConnection(6, 3, rule, shared=True, batch=2, dt=0.5, w_init=0.5)
    a.run(pre, post)
    for t in range(200):
        b.step(pre[t], post[t])
    torch.testing.assert_close(a.weight.detach(), b.weight.detach(), rtol=0, atol=1e-6)
    assert torch.equal(a.history, b.history)
    saved = b.dynamic_state()
    c = PlasticConnection(6, 3, rule, shared=True, batch=2, dt=0.5, w_init=0.5)
    c.load_dynamic_state(saved)
    assert torch.equal(c.history, b.history) and torch.equal(c.rule_state.rho, b.rule_state.rho)
    pair = PlasticConnection(6, 3, PairSTDP(), shared=True, batch=2, w_init=0.5)
    pair.step(pre[0] + 1 - pre[0], post[0])  # every input spikes once
    x = pair.pre[0].clone()
    assert pair.skip(10) and torch.allclose(pair.pre[0], x * math.exp(-10 / 16.8))
    assert b.history.any() and not b.skip(10)  # GB: event-driven False, history in flight


def test_shared_mode_refuses_what_it_cannot_share():
    with pytest.raises(HebbtorchError, match="per-synapse delays"):
        PlasticConnection(3, 2, PairSTDP(), shared=True, delay=torch.ones(3, 2))
    with pytest.raises(HebbtorchError, match=r"weight must be \[3, 2\]"):
        PlasticConnection(3, 2, PairSTDP(), shared=True, weight=torch.zeros(2, 3))
    with pytest.raises(HebbtorchError, match="in place"):
        PlasticConnection(3, 2, PairSTDP(), shared=True, weight=torch.zeros(3, 2), apply="grad")
