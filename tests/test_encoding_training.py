"""Encoders as the trainers' input stage: the change codes for static images (fade + delta,
saccades + DVS), multi-channel encoders sizing the first layer, and ``hebbtorch train`` with
every ``--encoder`` on the tiny separable set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_cli import TINY, run_cli, write_idx_folder

from hebbtorch.encoding import (
    FadeDeltaEncoder,
    PopulationEncoder,
    SaccadeDVSEncoder,
    events_to_frames,
    fade,
    frames_to_events,
    population_encode,
    rank_order_times,
    saccade_path,
    saccade_video,
)
from hebbtorch.encoding.registry import IMAGE_ENCODERS, encoder_channels, make_encoder
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.bptt import load_trained
from hebbtorch.networks import build_model


def test_fade_delta_counts_intensity_on_the_rise_and_off_on_the_fall():
    x = torch.tensor([[0.0, 0.05, 0.25, 0.5, 0.75, 1.0]])
    s = FadeDeltaEncoder(41, threshold=0.1)(x)  # rises by 2x/40 <= 0.05 per step: no overload
    on, off = s[:, 0, 0], s[:, 0, 1]
    assert on.sum(0).tolist() == [0, 0, 2, 5, 7, 10]  # floor(x / threshold) levels up...
    assert torch.equal(on.sum(0), off.sum(0))  # ...and as many back down
    assert on[21:].sum() == 0 and off[:21].sum() == 0  # ON while brightening, OFF while dimming
    # x * t / 20 reaches the first level at t = 2 / x: brighter pixels fire earlier
    assert [int(on[:, i].nonzero()[0]) for i in (2, 3, 5)] == [8, 4, 2]


def test_fade_envelope_and_errors():
    env = fade(torch.ones(1), 5)[:, 0]
    assert env.tolist() == [0.0, 0.5, 1.0, 0.5, 0.0]
    assert fade(torch.ones(1), 1).tolist() == [[0.0]]
    with pytest.raises(HebbtorchError, match="x"):
        fade(torch.tensor([-0.1]), 5)


def test_saccade_path_is_a_closed_isosceles_triangle_at_constant_speed():
    a = 2.0
    p = saccade_path(13, a)
    assert torch.equal(p[[0, 4, 8, 12]], torch.tensor([[0, 0], [a / 2, a], [-a / 2, a], [0, 0]]))
    step = (p[1:] - p[:-1]).norm(dim=1)
    for leg in (step[:4], step[4:8], step[8:]):
        torch.testing.assert_close(leg, leg[:1].expand(4))  # constant speed on each saccade
    legs = (p[4] - p[0]).norm(), (p[8] - p[4]).norm(), (p[12] - p[8]).norm()
    assert torch.isclose(legs[0], legs[2]) and not torch.isclose(legs[0], legs[1])
    with pytest.raises(HebbtorchError, match="num_frames"):
        saccade_path(1)


def test_saccade_video_moves_the_image_exactly_at_whole_pixel_offsets():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 9, 11, generator=g)
    v = saccade_video(x, 13, amplitude=2.0)  # frame 4: (dx, dy) = (1, 2); frame 8: (-1, 2)
    torch.testing.assert_close(v[0], x)
    torch.testing.assert_close(v[4, :, 2:, 1:], x[:, :-2, :-1])
    torch.testing.assert_close(v[8, :, 2:, :-1], x[:, :-2, 1:])
    assert v[4, :, :2].abs().max() == 0 and v[4, :, :, 0].abs().max() == 0  # black moved in
    with pytest.raises(HebbtorchError, match=r"\[batch, H, W\]"):
        saccade_video(torch.rand(2, 3, 4, 5), 4)


def test_saccade_dvs_sees_edges_not_areas_and_nothing_on_a_blank_image():
    x = torch.zeros(2, 20, 20)
    x[0, 5:15, 5:15] = 1.0  # a white square; image 1 stays black
    enc = SaccadeDVSEncoder(12, amplitude=2.0)
    f = enc(x)
    assert f.shape == (12, 2, 2, 20, 20) and enc.out_channels == 2
    assert f[:, 1].sum() == 0
    counts = f[:, 0].sum((0, 1))
    assert counts[8:12, 8:12].sum() == 0  # the square's inside stays white throughout
    assert counts[5, 8:12].min() > 0 and counts[16, 8:12].min() > 0  # its edges fire
    # first saccade moves right and down: ON just past the right edge, OFF at the left edge
    first = f[:4, 0].sum(0)  # [2 (OFF, ON), H, W]
    assert first[1, 8:12, 15].sum() > 0 and first[0, 8:12, 15].sum() == 0
    assert first[0, 8:12, 5].sum() > 0 and first[1, 8:12, 5].sum() == 0


def test_saccade_dvs_batch_equals_each_image_alone():
    x = torch.zeros(3, 12, 12)
    x[0, 3:8, 2:6] = 0.8
    x[2, 6:10, 5:11] = 0.4
    enc = SaccadeDVSEncoder(6)
    batch = enc(x)
    for b in range(3):
        assert torch.equal(batch[:, b], enc(x[b:b + 1])[:, 0])


def test_saccade_dvs_steps_count_the_events_between_their_frames():
    x = torch.zeros(1, 10, 10)
    x[0, 3:7, 3:7] = 0.9
    enc = SaccadeDVSEncoder(6)
    ev = frames_to_events(saccade_video(x, 7)[:, 0])  # frames 1 ms apart
    f = enc(x)[:, 0]
    for s in range(6):
        in_step = (ev["t"] > s * 1000) & (ev["t"] <= (s + 1) * 1000)
        if s == 0:
            in_step |= ev["t"] == 0
        assert int(f[s].sum()) == int(in_step.sum())


def test_events_to_frames_with_a_fixed_span():
    ev = np.zeros(3, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    ev["t"] = [150, 420, 900]
    ev["p"] = [1, 0, 1]
    f = events_to_frames(ev, (1, 1), n_time_bins=4, start_us=0, end_us=999)
    assert f[:, :, 0, 0].tolist() == [[0, 1], [1, 0], [0, 0], [0, 1]]
    f = events_to_frames(ev, (1, 1), time_window_us=500, start_us=0, end_us=1999)
    assert f.shape[0] == 4 and f.sum() == 3
    f = events_to_frames(ev, (1, 1), n_time_bins=2, start_us=400)  # drops the event at 150
    assert f.sum() == 2
    with pytest.raises(HebbtorchError, match="end_us"):
        events_to_frames(ev, (1, 1), n_time_bins=2, start_us=500, end_us=100)
    with pytest.raises(HebbtorchError, match="no events"):
        events_to_frames(ev, (1, 1), n_time_bins=2, start_us=950, end_us=2000)


def test_population_channels_first_is_the_same_code_moved():
    x = torch.rand(4, 3, 5, generator=torch.Generator().manual_seed(1))
    last = population_encode(x, 6, 5, method="latency")
    first = population_encode(x, 6, 5, method="latency", channels_first=True)
    assert torch.equal(first, last.movedim(-1, 2))
    enc = PopulationEncoder(200, 8, channels_first=True)
    assert enc.out_channels == 8
    v = torch.rand(64, 1, 1, generator=torch.Generator().manual_seed(3))
    est = enc.decode(enc(v, generator=torch.Generator().manual_seed(4)))
    assert est.shape == v.shape and (est - v).abs().mean() < 0.05


def test_rank_order_spread_fires_every_input_above_threshold():
    x = torch.tensor([[0.9, 0.0, 0.3, 0.7, 0.5, 0.2, 0.0, 0.6]])
    t = rank_order_times(x, 3, per_step=None)  # 6 lit inputs over 3 steps: 2 per step
    assert t.tolist() == [[0, float("inf"), 2, 0, 1, 2, float("inf"), 1]]
    assert torch.isinf(rank_order_times(x, 2, per_step=1)).sum() == 6  # fixed rate: cut off


@pytest.mark.parametrize("name", sorted(IMAGE_ENCODERS))
def test_every_encoder_feeds_both_models_with_its_channels(name):
    enc = make_encoder(name, 4)
    c = encoder_channels(enc)
    assert c == {"population": 5, "delta": 2, "dvs": 2}.get(name, 1)
    x = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(0))
    seen: list[torch.Size] = []
    for model in ("lif-mlp", "lif-conv"):
        net = build_model(model, 4, 16, encoder=name)
        net.stages[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].shape))
        logits = net(x, generator=torch.Generator().manual_seed(0))
        assert logits.shape == (3, 10) and torch.isfinite(logits).all()
        n = 3 if enc is None else 4 * 3  # direct current: one call for all steps
        assert seen[-1] == ((n, 784 * c) if model == "lif-mlp" else (n, c, 28, 28))


@pytest.mark.parametrize("name", ["population", "delta", "dvs", "poisson", "rank-order"])
def test_train_command_with_encoder(capsys, tmp_path, separable_data, name):
    folder = write_idx_folder(tmp_path / "digits", separable_data)
    out = tmp_path / name
    code, _, err = run_cli(capsys, "train", "--model", "lif-mlp", "--encoder", name,
                           "--dataset", folder, "--out", out, *TINY, "--train-images", "100",
                           "--test-images", "50")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model_options"]["encoder"] == name
    model, _ = load_trained(out)
    assert model.stages[0].in_features == 784 * encoder_channels(model.encoder)


def test_population_code_learns_the_separable_set(capsys, tmp_path, separable_data):
    folder = write_idx_folder(tmp_path / "digits", separable_data)
    out = tmp_path / "pop"
    code, _, err = run_cli(
        capsys, "train", "--model", "lif-mlp", "--encoder", "population", "--dataset", folder,
        "--out", out, "--steps", "8", "--hidden", "32", "--epochs", "3", "--batch-size", "20",
        "--optimizer", "adam", "--lr", "3e-3", "--schedule", "constant", "--quiet",
        "--device", "cpu")
    assert code == 0, err
    acc = json.loads((out / "metrics.json").read_text())["history"][-1]["test_accuracy"]
    assert acc > 0.5  # chance is 0.1
