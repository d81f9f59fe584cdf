"""Learner: local rules on ordinary nn.Linear / nn.Conv2d layers (hebbtorch.plasticity.learner)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons import LIF
from hebbtorch.plasticity import (
    CalciumHebbian,
    GraupnerBrunel,
    Learner,
    PairSTDP,
    PairSTDPParameters,
    PlasticConnection,
    Spikes,
    TripletSTDP,
    WeightBounds,
)

RULE = PairSTDP(PairSTDPParameters(A_plus=0.01, A_minus=0.012))


def _spikes(shape: tuple[int, ...], p: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


@pytest.mark.parametrize("rule", [RULE, TripletSTDP(), CalciumHebbian()],
                         ids=["pair", "triplet", "calcium"])
@pytest.mark.parametrize("dependence", ["additive", "multiplicative"])
def test_linear_learner_equals_plastic_connection(rule, dependence):
    """Batch 1: the Learner on nn.Linear makes the weight PlasticConnection.step makes for the
    same spikes, bit for bit (same traces, weight dependence and clip, in the same order)."""
    T, n_in, n_out = 60, 7, 5
    pre, post = _spikes((T, 1, n_in), 0.2, 0), _spikes((T, 1, n_out), 0.2, 1)
    bounds = WeightBounds(0.0, 1.0, dependence)
    w = torch.rand(n_out, n_in, generator=torch.Generator().manual_seed(2))
    conn = PlasticConnection(n_in, n_out, rule, w_init=w.T.clone(), bounds=bounds)
    for t in range(T):
        conn.step(pre[t], post[t])
    layer = nn.Linear(n_in, n_out, bias=False)
    layer.weight.data.copy_(w)
    lrn = Learner(layer, rule, post=nn.Identity(), bounds=bounds)
    lrn.learn(pre, post)
    assert not torch.equal(layer.weight, w)  # it learned
    assert torch.equal(layer.weight.detach(), conn.weight.detach()[0].T)


def test_linear_learner_averages_the_batch():
    """Shared weights: with additive bounds far away, a batch's change is the mean of the
    changes each sample makes alone."""
    T, n_in, n_out, B = 40, 6, 4, 3
    pre, post = _spikes((T, B, n_in), 0.2, 3), _spikes((T, B, n_out), 0.2, 4)
    bounds = WeightBounds(-10.0, 10.0)
    layer = nn.Linear(n_in, n_out, bias=False)
    lrn = Learner(layer, RULE, post=nn.Identity(), bounds=bounds)
    together = lrn.delta(pre, post)
    alone = torch.stack([lrn.delta(pre[:, b:b + 1], post[:, b:b + 1]) for b in range(B)])
    torch.testing.assert_close(together, alone.mean(0), rtol=1e-5, atol=1e-7)


def test_conv_learner_equals_explicit_per_position_sum():
    """Conv2d (stride 2, padding 1): the kernel's change is the batch mean of the pair rule's
    LTP/LTD summed over every output position, computed here with explicit loops over
    positions and kernel entries from the traces."""
    T, B, C, O, H, K = 12, 2, 2, 3, 5, 3
    conv = nn.Conv2d(C, O, K, stride=2, padding=1, bias=False)
    out_hw = (H + 2 - K) // 2 + 1
    pre = _spikes((T, B, C, H, H), 0.3, 5)
    post = _spikes((T, B, O, out_hw, out_hw), 0.3, 6)
    p = RULE.params
    lrn = Learner(conv, RULE, post=nn.Identity(), bounds=None)
    dw = lrn.delta(pre.reshape(T * B, C, H, H), post)
    # reference: traces per pixel / unit, before this step's spikes (engine order)
    a_pre, a_post = torch.exp(torch.tensor(-1.0 / p.tau_plus)), torch.exp(
        torch.tensor(-1.0 / p.tau_minus))
    x = torch.zeros(B, C, H + 2, H + 2)  # padded pre traces
    y = torch.zeros(B, O, out_hw, out_hw)
    ref = torch.zeros(O, C, K, K, dtype=torch.float64)
    for t in range(T):
        x, y = x * a_pre, y * a_post
        s_pre = F.pad(pre[t], (1, 1, 1, 1))
        for b in range(B):
            for o in range(O):
                for i in range(out_hw):
                    for j in range(out_hw):
                        patch_x = x[b, :, 2 * i:2 * i + K, 2 * j:2 * j + K].double()
                        patch_s = s_pre[b, :, 2 * i:2 * i + K, 2 * j:2 * j + K].double()
                        ref[o] += (p.A_plus * patch_x * post[t, b, o, i, j]
                                   - p.A_minus * patch_s * y[b, o, i, j]) / B
        x = x + s_pre
        y = y + post[t]
    assert ref.abs().max() > 0.01
    torch.testing.assert_close(dw.double(), ref, rtol=1e-5, atol=1e-6)


def _linear_setup(apply: str, seed: int = 0):
    torch.manual_seed(seed)
    layer = nn.Linear(8, 6, bias=False)
    nn.init.uniform_(layer.weight, 0.2, 0.8)
    lif = Spikes(LIF(beta=0.9, threshold=0.5))
    model = nn.Sequential(layer, lif)
    return model, layer, lif


@pytest.mark.parametrize("bounds", [WeightBounds(0.0, 1.0), WeightBounds(0.0, 1.0,
                                                                        "multiplicative")])
def test_grad_mode_with_sgd_lr1_equals_direct(bounds):
    """apply="grad" + SGD(lr=1) gives the weights of apply="direct" (to float32 rounding: SGD
    adds w - (-Δw) where direct writes the rule's weight itself), over several forward calls."""
    x = _spikes((30, 4, 8), 0.3, 7) * 2.0
    weights = []
    for apply in ("direct", "grad"):
        model, layer, lif = _linear_setup(apply)
        opt = torch.optim.SGD(model.parameters(), lr=1.0) if apply == "grad" else None
        Learner(layer, RULE, post=lif, bounds=bounds, apply=apply, optimizer=opt)
        for _ in range(4):
            if opt:
                opt.zero_grad()
            with torch.no_grad() if apply == "direct" else torch.enable_grad():
                model(x)
            if opt:
                opt.step()
        weights.append(layer.weight.detach().clone())
    assert not torch.equal(weights[0], _linear_setup("direct")[1].weight.detach())
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("make_opt", [lambda p: torch.optim.Adam(p, lr=0.05),
                                      lambda p: torch.optim.SGD(p, lr=5.0, momentum=0.9)],
                         ids=["adam", "momentum"])
def test_optimisers_keep_the_weights_within_bounds(make_opt):
    """Adam and momentum overshoot a rule's change; after every step the weights are back in
    the bounds (and without the post-step hook they would not be)."""
    x = _spikes((30, 4, 8), 0.5, 8) * 3.0
    bounds = WeightBounds(0.0, 1.0)
    outside = []
    for hook in (True, False):
        model, layer, lif = _linear_setup("grad")
        opt = make_opt(model.parameters())
        Learner(layer, PairSTDP(PairSTDPParameters(A_plus=0.2, A_minus=0.0)), post=lif,
                bounds=bounds, apply="grad", optimizer=opt if hook else None)
        worst = 0.0
        for _ in range(8):
            opt.zero_grad()
            model(x)
            opt.step()
            w = layer.weight.detach()
            worst = max(worst, float((w - 1.0).clamp_min(0).max()), float((-w).clamp_min(0).max()))
        outside.append(worst)
    assert outside[0] == 0.0
    assert outside[1] > 0.01  # the test can fail: unbounded optimisers do leave the range


def test_graupner_brunel_state_follows_the_optimised_weight():
    """Graupner-Brunel on nn.Linear through an optimiser: after each step ρ is re-derived from
    the weight (w = w0 + ρ (b - 1) w0), so rule state and weight agree."""
    rule = GraupnerBrunel(w0=1.0, times=False)
    b = rule.params.b
    model, layer, lif = _linear_setup("grad")
    nn.init.uniform_(layer.weight, 1.0, b)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    lrn = Learner(layer, rule, post=lif, dt=0.5, bounds=WeightBounds(1.0, b), apply="grad",
                  optimizer=opt)
    x = _spikes((40, 2, 8), 0.4, 9) * 3.0
    for _ in range(3):
        opt.zero_grad()
        model(x)
        opt.step()
    rho = lrn.rule_state.rho[0]
    torch.testing.assert_close(1.0 + rho * (b - 1.0), layer.weight.detach().T)
    assert lrn.last_dw.abs().max() > 0


def test_learner_checks_its_arguments():
    layer = nn.Linear(3, 2)
    with pytest.raises(HebbtorchError, match="nn.Linear or nn.Conv2d"):
        Learner(nn.ReLU(), RULE, post=nn.Identity())
    with pytest.raises(HebbtorchError, match="apply"):
        Learner(layer, RULE, post=nn.Identity(), apply="both")
    with pytest.raises(HebbtorchError, match="per-synapse state"):
        Learner(nn.Conv2d(1, 2, 3), GraupnerBrunel(), post=nn.Identity())
    with pytest.raises(HebbtorchError, match="do not match"):
        Learner(layer, RULE, post=nn.Identity()).learn(torch.zeros(5, 2, 4), torch.zeros(5, 2, 2))


def test_hybrid_stdp_conv_with_bptt_readout_learns(separable_data):
    """The tutorial's hybrid model (conv + BatchNorm + LIF learning by STDP, a BPTT-trained LI
    readout on top, one Adam optimiser): the conv kernel changes by the rule only and the
    readout's loss falls."""
    from tutorials.hybrid_stdp_bptt import build, train

    tr_x, tr_y, _, _ = separable_data
    model, learner, opt = build(seed=0)
    losses = train(model, opt, tr_x[:64].float() / 255.0, tr_y[:64], steps=12, batch=16)
    assert learner.last_dw is not None and learner.last_dw.abs().max() > 0
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
