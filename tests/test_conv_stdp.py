"""Convolutional STDP (Kheradpisheh et al. 2018): DoG filters, latency bins, IF conv layers with
k-WTA and inhibition, the simplified STDP rule (conv and engine forms), a tiny learning check."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbtorch.encoding.dog import DoGParameters, dog_filter, dog_kernel, latency_bins, spike_wave
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.conv_stdp import STDPSchedule, train_layer
from hebbtorch.learning.conv_stdp_readout import accuracy, fit_readout
from hebbtorch.networks.conv_stdp import (
    ConvLayerParameters,
    ConvSTDPNet,
    ConvSTDPParameters,
    fire,
    first_spike_step,
    k_winners,
    pointwise_inhibition,
)
from hebbtorch.plasticity import PlasticConnection, WeightBounds
from hebbtorch.plasticity.rules.kheradpisheh import (
    KheradpishehParameters,
    KheradpishehSTDP,
    conv_winner_update,
    kheradpisheh_dw,
)


# ------------------------------------------------------------------ input stage
@pytest.mark.parametrize("size,s1,s2", [(7, 1.0, 2.0), (7, 2.0, 1.0), (13, 13 / 9, 26 / 9)])
def test_dog_kernel_invariants(size, s1, s2):
    k = dog_kernel(size, s1, s2).double()
    assert k.shape == (size, size)
    assert abs(float(k.sum())) < 1e-5  # zero mean: no response to uniform light
    assert float(k.max()) == pytest.approx(1.0)
    assert torch.allclose(k, k.t()) and torch.allclose(k, k.flip(0))
    centre = float(k[size // 2, size // 2])
    assert (centre > 0) == (s1 < s2)  # on-centre has a positive centre, off-centre negative


def test_dog_kernel_bad_input():
    with pytest.raises(HebbtorchError, match="odd"):
        dog_kernel(6, 1.0, 2.0)
    with pytest.raises(HebbtorchError, match="differ"):
        dog_kernel(7, 1.0, 1.0)


def test_dog_filter_on_off_and_uniform():
    img = torch.zeros(1, 21, 21)
    img[0, 10, 10] = 1.0  # a bright dot: on channel fires at the dot, off channel around it
    out = dog_filter(img, DoGParameters(norm_radius=0))
    assert out.shape == (1, 2, 21, 21) and bool((out >= 0).all())
    assert float(out[0, 0, 10, 10]) > 0 and float(out[0, 1, 10, 10]) == 0
    assert float(out[0, 1].sum()) > 0
    flat = dog_filter(torch.full((1, 21, 21), 0.7), DoGParameters(norm_radius=0))
    assert float(flat[0, :, 4:-4, 4:-4].abs().max()) < 1e-3  # interior of a uniform image


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_latency_bins_order_and_counts(steps, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 40, generator=g) * (torch.rand(2, 40, generator=g) > 0.3)
    t = latency_bins(x, steps)
    for b in range(2):
        pos = x[b] > 0
        assert bool(torch.isinf(t[b][~pos]).all())  # zeros never spike
        n = int(pos.sum())
        size = max(n // steps, 1)
        fin = torch.isfinite(t[b])
        assert int(fin.sum()) == min(n, size * steps)  # the weakest remainder never spikes
        counts = torch.bincount(t[b][fin].long(), minlength=steps)
        assert bool((counts[counts > 0] == size).all())
        # stronger inputs never spike later
        xi, ti = x[b][pos], t[b][pos]
        order = torch.argsort(xi, descending=True)
        assert bool((ti[order][1:] >= ti[order][:-1]).all())


def test_spike_wave_is_cumulative():
    t = torch.tensor([[0.0, 2.0, math.inf]])
    w = spike_wave(t, 4)
    assert w[:, 0].tolist() == [[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0]]
    assert torch.equal(first_spike_step(w), torch.tensor([[0.0, 2.0, 4.0]]))


# ------------------------------------------------------------------ layers
def test_fire_is_strictly_above_threshold():
    s, kept = fire(torch.tensor([0.5, 1.0, 1.5]), 1.0)
    assert s.tolist() == [0, 0, 1] and kept.tolist() == [0, 0, 1.5]


def _kept(first, value, steps=4):
    """Thresholded potentials [T, 1, C, H, W] firing from ``first`` (inf: never) at ``value``."""
    t = torch.arange(steps, dtype=torch.float32).view(-1, 1, 1, 1, 1)
    return (t >= first.unsqueeze(0)).float() * value.unsqueeze(0)


def test_k_winners_earliest_then_highest_one_per_map():
    inf = math.inf
    first = torch.full((1, 3, 1, 8), inf)
    value = torch.zeros(1, 3, 1, 8)
    first[0, 0, 0, 1], value[0, 0, 0, 1] = 2, 9.0  # late but strong
    first[0, 1, 0, 6], value[0, 1, 0, 6] = 1, 2.0  # earliest
    first[0, 2, 0, 3], value[0, 2, 0, 3] = 2, 5.0  # same step as map 0, weaker
    first[0, 0, 0, 5], value[0, 0, 0, 5] = 1, 1.0  # map 0 also fires early elsewhere
    win = k_winners(_kept(first, value), k=4, radius=0)[0].tolist()
    # step 1: map 0 @5 (1.0) vs map 1 @6 (2.0) -> map 1 first, then map 0 @5; map 2 @3 last.
    assert win == [[1, 0, 6], [0, 0, 5], [2, 0, 3], [-1, -1, -1]]
    # inhibition radius 1 around (0, 6) removes map 0's earliest at column 5
    win = k_winners(_kept(first, value), k=3, radius=1)[0].tolist()
    assert win == [[1, 0, 6], [0, 0, 1], [2, 0, 3]]


def test_pointwise_inhibition_keeps_first_map_per_position():
    g = torch.Generator().manual_seed(0)
    first = torch.randint(0, 6, (2, 5, 4, 4), generator=g).float()
    first[torch.rand(first.shape, generator=g) > 0.6] = math.inf
    value = torch.rand(first.shape, generator=g) + 1.0
    kept = _kept(first, value, steps=6)
    out = pointwise_inhibition(kept)
    alive = out[-1] > 0
    assert bool((alive.sum(1) <= 1).all())
    fired = kept[-1] > 0
    assert torch.equal(alive.any(1), fired.any(1))  # every firing position keeps one map
    f_alive = torch.where(alive, first, torch.full_like(first, math.inf)).amin(1)
    assert torch.equal(f_alive[fired.any(1)], first.amin(1)[fired.any(1)])  # the earliest


def test_features_last_frame_equals_full_run():
    g = torch.Generator().manual_seed(1)
    net = ConvSTDPNet(generator=g)
    imgs = (torch.rand(3, 28, 28, generator=g) * 255).to(torch.uint8)
    wave = net.encode(imgs)
    full = net.run(wave).amax(0).flatten(1) > 0
    assert torch.equal(net.features(imgs), full)
    pot = net.run(wave, "potential")
    assert bool((pot[1:] >= pot[:-1]).all())  # potentials never fall
    assert torch.equal(net.features(imgs, output="potential"), pot[-1].flatten(1))


def test_bad_layer_channels():
    p = ConvSTDPParameters(layers=(ConvLayerParameters(in_channels=3),))
    with pytest.raises(HebbtorchError, match="input channels"):
        ConvSTDPNet(p)


# ------------------------------------------------------------------ the rule
def test_rule_sign_and_soft_bound_factor():
    w = torch.tensor([0.0, 0.25, 0.5, 1.0, 0.5])
    pre_first = torch.tensor([True, True, True, True, False])
    dw = kheradpisheh_dw(w, pre_first, 0.1, 0.075)
    assert dw.tolist() == pytest.approx([0.0, 0.1 * 0.1875, 0.025, 0.0, -0.075 * 0.25])


def test_conv_winner_update_one_winner():
    w = torch.full((2, 1, 2, 2), 0.5)
    in_first = torch.tensor([[[[0.0, 3.0, 1.0], [9.0, 2.0, 0.0], [1.0, 1.0, 1.0]]]])
    out_first = torch.full((1, 2, 2, 2), 9.0)
    out_first[0, 1, 0, 1] = 2.0
    win = torch.tensor([[[1, 0, 1], [-1, -1, -1]]])
    dw = conv_winner_update(w, in_first, out_first, win, 0.1, 0.075)
    assert float(dw[0].abs().sum()) == 0.0  # map 0 did not win
    # receptive field at (0, 1): [[3, 1], [2, 0]] vs t_post = 2 -> [[-, +], [+, +]]
    expect = torch.tensor([[-0.075, 0.1], [0.1, 0.1]]) * 0.25
    assert torch.allclose(dw[1, 0], expect)


def test_engine_rule_matches_eq3():
    """Dense engine form: pre before / at / after / never relative to the post spike."""
    w0 = torch.tensor([[0.3], [0.6], [0.5], [0.8]]).unsqueeze(0)  # [batch, pre=4, post=1]
    p = KheradpishehParameters(a_plus=0.1, a_minus=0.075)
    conn = PlasticConnection(4, 1, KheradpishehSTDP(p), w_init=w0,
                             bounds=WeightBounds(0.0, 1.0, "multiplicative"))
    pre = torch.zeros(6, 1, 4)
    pre[1, 0, 0] = 1  # before
    pre[3, 0, 1] = 1  # same step as post
    pre[5, 0, 2] = 1  # after; pre 3 never fires
    post = torch.zeros(6, 1, 1)
    post[3, 0, 0] = 1
    conn.run(pre, post)
    sign = torch.tensor([True, True, False, False]).view(1, 4, 1)
    expect = w0 + kheradpisheh_dw(w0, sign, p.a_plus, p.a_minus)
    assert torch.allclose(conn.weight.detach(), expect, atol=1e-7)


def test_schedule_doubles_to_cap():
    s = STDPSchedule()
    assert s.rates(0) == (0.004, pytest.approx(0.003))
    assert s.rates(499)[0] == pytest.approx(0.008)
    assert s.rates(10_000) == (0.15, pytest.approx(0.1125))


# ------------------------------------------------------------------ learning
def _bars(n, g):
    """16x16 images of one bar, horizontal (class 0) or vertical (class 1), random place."""
    imgs = torch.zeros(n, 16, 16)
    y = torch.randint(0, 2, (n,), generator=g)
    for i in range(n):
        r, c = torch.randint(2, 14, (2,), generator=g).tolist()
        length = int(torch.randint(5, 9, (1,), generator=g))
        c0 = max(0, c - length // 2)
        if y[i] == 0:
            imgs[i, r, c0:c0 + length] = 1.0
        else:
            imgs[i, c0:c0 + length, r] = 1.0
    return imgs, y


@pytest.fixture
def one_thread():
    """Per-image work is tiny: one thread avoids thread contention on a loaded machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_learned_kernels_beat_random_on_bars(one_thread):
    g = torch.Generator().manual_seed(0)
    p = ConvSTDPParameters(num_steps=8, layers=(
        ConvLayerParameters(2, 8, 5, threshold=6.0, k=2, radius=2, pad=2, pool=(4, 4, 0)),))
    x_tr, y_tr = _bars(300, g)
    x_te, y_te = _bars(300, g)
    scores = []
    for learn in (False, True):
        net = ConvSTDPNet(p, generator=torch.Generator().manual_seed(3))
        if learn:
            train_layer(net, 0, x_tr, batch_size=4, schedule=STDPSchedule(double_every=40))
        r = fit_readout(net.features(x_tr), y_tr, epochs=40, lr=1e-2)
        scores.append(accuracy(r, net.features(x_te), y_te))
    print("random / learned kernels:", scores)
    assert scores[1] > scores[0] + 0.05, scores


# ------------------------------------------------------------------ pictures and command line
def test_kernel_pictures_shapes():
    from hebbtorch.viz.conv_stdp import kernel_pictures, plot_kernels

    net = ConvSTDPNet(generator=torch.Generator().manual_seed(0))
    pics = kernel_pictures(net)
    assert [tuple(p.shape) for p in pics] == [(32, 5, 5), (150, 7, 7)]
    # layer 1 with DoG input: on minus off channel
    assert torch.equal(pics[0], net.weights[0][:, 0] - net.weights[0][:, 1])
    plot_kernels(net, max_maps=8)


def test_cli_rejects_wrong_layer_count(tmp_path, capsys):
    from hebbtorch.cli.main import main

    rc = main(["conv-stdp", "--layer-images", "5", "--out", str(tmp_path)])
    assert rc == 2
    assert "layer_images has 1 entries for 2 layers" in capsys.readouterr().err


# ------------------------------------------------------------------ engine rules, readouts
def test_kheradpisheh_is_a_registry_rule():
    from hebbtorch.plasticity import registry

    assert "kheradpisheh" in registry.names()
    assert isinstance(registry.make("kheradpisheh"), KheradpishehSTDP)
    with pytest.raises(HebbtorchError, match="no params"):
        registry.make("kheradpisheh", "x")


def test_engine_rule_learns_only_at_winners_with_its_window():
    """Pair STDP through the Learner, one winner: Δkernel = the pair window of each input's
    first spike against the winner's first spike on its receptive field, zero elsewhere."""
    from hebbtorch.learning.conv_stdp import engine_winner_step, winner_learner
    from hebbtorch.plasticity import registry

    g = torch.Generator().manual_seed(0)
    steps = 6
    t_in = torch.randint(0, steps + 2, (1, 2, 5, 5), generator=g).float()
    t_in[t_in >= steps] = math.inf  # some inputs never fire
    x = spike_wave(t_in, steps)  # [T, 1, 2, 5, 5] cumulative
    weight = torch.nn.Parameter(torch.full((3, 2, 3, 3), 0.5), requires_grad=False)
    kept = torch.zeros(steps, 1, 3, 3, 3)
    kept[3:, 0, 1, 1, 2] = 2.0  # map 1 at (1, 2) fires from step 3 (the winner)
    kept[1:, 0, 2, 0, 0] = 2.0  # map 2 fires earlier but is not a winner
    rule = registry.make("pair")
    engine_winner_step(winner_learner(weight, rule), x, kept, torch.tensor([[[1, 1, 2]]]))
    dw = weight.detach() - 0.5
    assert float(dw[0].abs().max()) == 0.0 and float(dw[2].abs().max()) == 0.0
    rf = t_in[0, :, 1:4, 2:5]
    expect = torch.where(torch.isinf(rf), torch.zeros_like(rf), rule.window(3.0 - rf))
    assert torch.allclose(dw[1], expect, atol=1e-6)


def test_lbfgs_readout_and_standardize():
    from hebbtorch.learning.conv_stdp_readout import fit_readout_lbfgs, standardize

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (120,), generator=g)
    x = torch.randn(120, 6, generator=g) * 0.3
    x[:, :3] += torch.nn.functional.one_hot(y, 3) * 2.0
    x[:, 5] = 4.0  # a constant feature
    z, z2 = standardize(x, x[:10])
    assert torch.allclose(z[:, :5].mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(z[:, :5].std(0), torch.ones(5), atol=1e-5)
    assert float(z[:, 5].abs().max()) == 0.0 and torch.equal(z2, z[:10])
    r1, r2 = fit_readout_lbfgs(z, y), fit_readout_lbfgs(z, y)
    assert torch.equal(r1.weight, r2.weight)  # full batch: deterministic
    assert accuracy(r1, z, y) == 1.0
    with pytest.raises(HebbtorchError, match="must match"):
        fit_readout_lbfgs(z, y[:5])


def test_dc_inputs_shape_and_padding():
    from hebbtorch.learning.conv_stdp_dc import dc_inputs, to_pixels

    net = ConvSTDPNet(generator=torch.Generator().manual_seed(0))
    imgs = (torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(1)) * 255).byte()
    x = dc_inputs(net, imgs)
    assert x.shape == (3, 600) and float(x.min()) >= 0 and float(x.max()) <= 1
    full = net.features(imgs).float().view(3, 150, 9, 9)
    assert torch.allclose(x.view(3, 150, 4)[:, :, 0], full[:, :, :5, :5].mean((2, 3)))
    px = to_pixels(x, 300.0)
    assert px.shape == (3, 784) and float(px[:, 600:].abs().max()) == 0.0
    assert float(px.max()) <= 255.0


def test_run_experiment_validation_only_when_there_is_a_choice(one_thread):
    from types import SimpleNamespace

    from hebbtorch.learning.conv_stdp import ConvSTDPConfig, run_experiment

    g = torch.Generator().manual_seed(0)
    p = ConvSTDPParameters(num_steps=8, layers=(
        ConvLayerParameters(2, 8, 5, threshold=6.0, k=2, radius=2, pad=2, pool=(4, 4, 0)),))
    tr, te = (SimpleNamespace(images=x, labels=y) for x, y in (_bars(60, g), _bars(30, g)))
    for grid, n_val in (((1e-4, 1e-2), 12), ((1e-2,), 0)):
        cfg = ConvSTDPConfig(layer_images=(40,), features=("spikes",), l2_grid=grid,
                             readout_iter=10)
        net = ConvSTDPNet(p, generator=torch.Generator().manual_seed(3))
        r = run_experiment(net, cfg, tr, te)["readouts"]["spikes"]
        assert r["validation_images"] == n_val
        assert len(r["validation_accuracy"]) == (len(grid) if n_val else 0)
        assert r["l2"] in grid and 0.0 <= r["test_accuracy"] <= 100.0
