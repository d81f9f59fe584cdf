"""Encoders and decoders: statistics with fixed seeds, exact properties, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hebbtorch.encoding import (
    EVENT_DTYPE,
    DeltaEncoder,
    DVSEmulator,
    LatencyEncoder,
    PoissonEncoder,
    PopulationEncoder,
    RankOrderEncoder,
    RateEncoder,
    delta_decode,
    delta_encode,
    events_to_frames,
    events_to_voxel_grid,
    firing_rate,
    first_spike_time,
    frames_to_events,
    gaussian_receptive_fields,
    latency_decode,
    latency_encode,
    latency_times,
    poisson_encode,
    population_decode,
    population_encode,
    population_vector,
    rank_order_encode,
    rank_order_times,
    rate_decode,
    rate_encode,
    spike_count,
)
from hebbtorch.errors import HebbtorchError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- rate coding


def test_rate_mean_within_binomial_bound():
    x = torch.tensor([[0.0, 0.1, 0.25, 0.5, 0.9, 1.0]])
    steps, max_rate, dt = 4000, 500.0, 1.0  # Hz, ms
    s = rate_encode(x, steps, max_rate=max_rate, dt=dt, generator=gen(1))
    assert s.shape == (steps, 1, 6)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    p = x * max_rate * dt / 1000.0
    sd = torch.sqrt(p * (1 - p) / steps)
    # 4.5 sigma per entry: a false alarm has probability < 1e-4 over all entries
    assert torch.all((s.mean(0) - p).abs() <= 4.5 * sd + 1e-12)
    assert s[:, 0, 0].sum() == 0  # zero intensity never fires
    # and the decoder inverts it
    assert torch.all((rate_decode(s, max_rate=max_rate, dt=dt) - x).abs() <= 4.5 * sd / 0.5 + 1e-6)


def test_rate_is_reproducible_and_module_matches():
    x = torch.rand(3, 5, generator=gen(2))
    a = rate_encode(x, 20, generator=gen(7))
    b = RateEncoder(20)(x, generator=gen(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, rate_encode(x, 20, generator=gen(8)))


def test_rate_probability_above_one_is_an_error():
    with pytest.raises(HebbtorchError, match="max_rate \\* dt"):
        rate_encode(torch.rand(2, 3), 10, max_rate=2000.0, dt=1.0)
    with pytest.raises(HebbtorchError, match="max_rate"):
        RateEncoder(10, max_rate=500.0, dt=10.0)


@pytest.mark.parametrize("make", [
    lambda dt: rate_encode(torch.rand(2, 3), 10, dt=dt),
    lambda dt: poisson_encode(torch.rand(2, 3), 10, dt=dt),
    lambda dt: rate_decode(torch.zeros(10, 2), dt=dt),
    lambda dt: RateEncoder(10, dt=dt), lambda dt: PoissonEncoder(10, dt=dt),
    lambda dt: PopulationEncoder(10, 4, dt=dt)(torch.rand(2)),
    lambda dt: firing_rate(torch.zeros(10, 2), dt=dt)])
def test_time_steps_are_milliseconds(make):
    """``dt`` is in ms: the old values in seconds (1e-3, 1e-4) are refused, naming the ms value;
    1 ms steps at 200 Hz fire with probability 0.2."""
    for seconds in (1e-3, 1e-4):
        with pytest.raises(HebbtorchError, match=f"dt is in milliseconds.*dt={seconds * 1000:g}"):
            make(seconds)
    make(1.0)
    s = rate_encode(torch.ones(1, 20000), 1, max_rate=200.0, dt=1.0, generator=gen(0))
    assert abs(s.mean().item() - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 20000)


def test_poisson_counts_mean_and_variance():
    lam = 2.5  # x * max_rate * dt with x = 0.5, max_rate = 5000 Hz, dt = 1 ms
    c = poisson_encode(torch.full((1, 1000), 0.5), 20, max_rate=5000.0, dt=1.0,
                       generator=gen(3))
    assert c.shape == (20, 1, 1000)
    assert torch.equal(c, c.round()) and c.min() >= 0
    n = c.numel()
    mean, var = c.mean().item(), c.var().item()
    assert abs(mean - lam) < 4 * math.sqrt(lam / n)
    # var of the sample variance of a Poisson: (mu4 - sigma^4 (n-3)/(n-1)) / n, mu4 = lam + 3 lam^2
    sd_var = math.sqrt((lam + 2 * lam**2) / n)
    assert abs(var - lam) < 4 * sd_var
    assert torch.equal(PoissonEncoder(20, 5000.0)(torch.full((1, 3), 0.5), generator=gen(4)),
                       poisson_encode(torch.full((1, 3), 0.5), 20, max_rate=5000.0,
                                      generator=gen(4)))


@pytest.mark.parametrize("bad", [
    torch.tensor([[0.5, -0.1]]), torch.tensor([[0.5, 1.2]]), torch.tensor([[float("nan")]]),
])
def test_intensities_outside_unit_interval_are_errors(bad):
    for fn in (lambda x: rate_encode(x, 5), lambda x: poisson_encode(x, 5),
               lambda x: latency_encode(x, 5), lambda x: rank_order_encode(x, 5)):
        with pytest.raises(HebbtorchError, match="x"):
            fn(bad)


def test_bad_steps_are_errors():
    with pytest.raises(HebbtorchError, match="num_steps"):
        rate_encode(torch.rand(1, 2), 0)
    with pytest.raises(HebbtorchError, match="num_steps"):
        latency_encode(torch.rand(1, 2), 2.5)
    with pytest.raises(HebbtorchError, match="batch"):
        rate_encode(torch.tensor(0.5), 3)


# ---------------------------------------------------------------- latency


@pytest.mark.parametrize("method", ["linear", "log"])
def test_latency_monotone_single_spike_and_threshold(method):
    x = torch.linspace(0, 1, 501).unsqueeze(0)
    thr = 0.2
    s = latency_encode(x, 30, method=method, threshold=thr, tau=6.0)
    assert s.shape == (30, 1, 501)
    assert s.sum(0).max() <= 1  # at most one spike per input
    assert s.sum(0)[x <= thr].sum() == 0  # below/at threshold: silent
    assert s.sum(0)[x == 1].item() == 1  # the strongest input fires
    t = latency_times(x, 30, method=method, threshold=thr, tau=6.0)[0]
    fired = torch.isfinite(t)
    # non-increasing in intensity, and silent inputs form a prefix (the weak end)
    assert torch.all(t[fired][1:] <= t[fired][:-1])
    assert torch.all(fired[1:] >= fired[:-1])
    assert torch.equal(first_spike_time(s)[0], t)


def test_latency_linear_ends_and_decode():
    x = torch.tensor([[1.0, 0.5, 0.02, 0.0]])
    t = latency_times(x, 11, threshold=0.0)
    assert t[0, 0] == 0 and t[0, 1] == 5 and math.isinf(t[0, 3])
    s = LatencyEncoder(101, threshold=0.01)(torch.rand(4, 6, generator=gen(5)))
    x2 = torch.rand(4, 6, generator=gen(5))
    err = (latency_decode(s, threshold=0.01) - torch.where(x2 > 0.01, x2, 0)).abs().max()
    assert err <= 0.5 * 0.99 / 100 + 1e-6  # half a step of resolution


def test_latency_log_late_spikes_are_dropped():
    # t = tau ln(x / (x - thr)): x = 0.21, thr = 0.2 → 5 * ln(21) ≈ 15.2 > window of 10 steps
    s = latency_encode(torch.tensor([[0.21, 1.0]]), 10, method="log", threshold=0.2, tau=5.0)
    assert s[:, 0, 0].sum() == 0 and s[:, 0, 1].sum() == 1


def test_latency_bad_parameters():
    with pytest.raises(HebbtorchError, match="threshold"):
        latency_encode(torch.rand(1, 3), 10, threshold=1.0)
    with pytest.raises(HebbtorchError, match="method"):
        latency_encode(torch.rand(1, 3), 10, method="cubic")


# ---------------------------------------------------------------- rank order


def test_rank_order_strongest_first():
    x = torch.tensor([[0.3, 0.9, 0.0, 0.6, 0.3]])
    t = rank_order_times(x, 10)
    assert t.tolist() == [[2.0, 0.0, math.inf, 1.0, 3.0]]
    t = rank_order_times(x, 10, mode="order")  # ties share a step
    assert t.tolist() == [[2.0, 0.0, math.inf, 1.0, 2.0]]
    s = rank_order_encode(torch.rand(3, 4, 4, generator=gen(6)), 8, per_step=2)
    assert s.shape == (8, 3, 4, 4)
    assert torch.all(s.sum(0) <= 1) and torch.all(s.sum((2, 3)) == 2)  # 16 inputs, 8 x 2 slots
    assert torch.equal(RankOrderEncoder(8, per_step=2)(torch.rand(3, 4, 4, generator=gen(6))), s)


# ---------------------------------------------------------------- population


@settings(max_examples=60, deadline=None)
@given(v=st.floats(-3.0, 5.0, allow_nan=False), n=st.integers(3, 16))
def test_population_noise_free_decoding_is_exact_to_the_grid(v, n):
    a = gaussian_receptive_fields(torch.tensor([v], dtype=torch.float64), n, low=-3, high=5)
    assert a.shape == (1, n) and a.max() <= 1 and a.min() >= 0
    est = population_decode(a, low=-3, high=5, resolution=801)
    assert abs(est.item() - v) <= 8.0 / 800 / 2 + 1e-9


def test_population_spike_decoding_error_bounded():
    v = torch.rand(500, generator=gen(9)) * 4 - 2
    s = population_encode(v, 100, 12, low=-2, high=2, max_rate=500.0, generator=gen(10))
    assert s.shape == (100, 500, 12)
    err = (population_decode(s.sum(0), low=-2, high=2) - v).abs()
    assert err.mean() < 0.05 and err.max() < 0.3  # spacing is 4/11 ≈ 0.36
    enc = PopulationEncoder(100, 12, low=-2, high=2, method="latency")
    err = (enc.decode(enc(v)) - v).abs()
    assert err.max() < 0.05


def test_population_vector_linear_and_circular():
    pref = torch.tensor([0.0, 1.0, 2.0])
    assert population_vector(torch.tensor([[1.0, 2.0, 1.0]]), pref).item() == pytest.approx(1.0)
    angles = torch.linspace(-math.pi, math.pi, 9)[:-1]
    counts = torch.exp(torch.cos(angles - 2.0)).unsqueeze(0)
    assert population_vector(counts, angles, circular=True).item() == pytest.approx(2.0, abs=1e-5)
    assert math.isnan(population_vector(torch.zeros(1, 3), pref).item())
    with pytest.raises(HebbtorchError, match="preferred"):
        population_vector(torch.ones(1, 3), torch.ones(4))
    with pytest.raises(HebbtorchError, match="num_neurons"):
        gaussian_receptive_fields(torch.rand(3), 1)


def test_count_and_rate_decoders():
    s = torch.zeros(10, 2, 3)
    s[[1, 4, 7], 0, 0] = 1
    s[5, 1, 2] = 1
    assert spike_count(s)[0, 0] == 3
    assert firing_rate(s, dt=1.0)[0, 0].item() == pytest.approx(300.0)  # 1 ms steps -> Hz
    fst = first_spike_time(s)
    assert fst[0, 0] == 1 and fst[1, 2] == 5 and math.isinf(fst[0, 1])
    with pytest.raises(HebbtorchError, match="non-negative"):
        spike_count(-s)


# ---------------------------------------------------------------- delta modulation


def test_delta_reconstructs_slow_sine_within_threshold():
    t = torch.linspace(0, 1, 1000)
    x = torch.stack([torch.sin(2 * math.pi * 3 * t), 0.5 * torch.cos(2 * math.pi * t)], 1)
    x = x.unsqueeze(1)  # [T, 1, 2]
    thr = 0.05  # max slope 2 pi 3 / 1000 ≈ 0.019 per step < thr
    s = delta_encode(x, threshold=thr)
    assert s.shape == (1000, 1, 2, 2)
    assert not torch.any((s[:, :, 0] > 0) & (s[:, :, 1] > 0))  # never ON and OFF together
    rec = delta_decode(s, x[0], threshold=thr)
    assert (rec - x).abs().max() <= thr + 1e-6
    assert s.sum() > 2 * 2 * 2 / thr * 0.8  # it does fire: about total variation / thr spikes
    signed = DeltaEncoder(thr, signed=True)(x)
    assert torch.equal(signed, s[:, :, 0] - s[:, :, 1])


def test_delta_refractory_limits_rate():
    x = torch.linspace(0, 10, 200).view(-1, 1, 1)  # a fast ramp: 0.05 per step, thr 0.01
    s = delta_encode(x, threshold=0.01, refractory=4)
    on = torch.nonzero(s[:, 0, 0, 0]).flatten()
    assert len(on) > 10 and torch.all(on.diff() >= 5)
    assert s[:, 0, 1].sum() == 0  # a rising ramp sends no OFF spikes


def test_delta_bad_input():
    with pytest.raises(HebbtorchError, match="signal"):
        delta_encode(torch.rand(10))
    with pytest.raises(HebbtorchError, match="threshold"):
        delta_encode(torch.rand(10, 1), threshold=0.0)
    with pytest.raises(HebbtorchError, match="NaN"):
        delta_encode(torch.full((3, 1), float("nan")))


# ---------------------------------------------------------------- DVS


def moving_bar(steps: int = 12, h: int = 6, w: int = 20, width: int = 3) -> np.ndarray:
    f = np.full((steps, h, w), 0.05)
    for k in range(steps):
        f[k, 1:5, k:k + width] = 1.0
    return f


def test_dvs_moving_bar_on_leading_off_trailing_edge():
    frames, width = moving_bar(), 3
    ts = np.arange(len(frames)) * 2000 + 500  # 2 ms between frames
    ev = frames_to_events(frames, ts, on_threshold=0.3, off_threshold=0.25)
    assert ev.dtype == EVENT_DTYPE and len(ev) > 0
    assert np.all(np.diff(ev["t"]) >= 0)
    assert ev["t"].min() >= ts[0] and ev["t"].max() <= ts[-1]
    k = np.searchsorted(ts, ev["t"], side="left")  # event in (ts[k-1], ts[k]] → interval k
    k = np.maximum(k, 1)
    assert np.all((ev["t"] > ts[k - 1]) & (ev["t"] <= ts[k]))
    on, off = ev["p"] == 1, ev["p"] == 0
    assert on.any() and off.any()
    assert np.all(ev["x"][on] == k[on] + width - 1)  # leading edge: the column newly lit
    assert np.all(ev["x"][off] == k[off] - 1)  # trailing edge: the column left dark
    assert np.all((ev["y"] >= 1) & (ev["y"] <= 4))
    # log contrast ln(1.001 / 0.051) ≈ 2.98: floor(2.98 / 0.3) = 9 ON events per lit pixel;
    # OFF counts from the memory left by those ON events: floor(9 * 0.3 / 0.25) = 10, or
    # floor(2.98 / 0.25) = 11 for the pixels lit in the first frame (memory at full contrast)
    pix_on = np.unique(ev["y"][on] * 100 + ev["x"][on], return_counts=True)[1]
    assert np.all(pix_on == 9) and len(pix_on) == 4 * (len(frames) - 1)
    xs, n_off = np.unique(ev["x"][off] * 100 + ev["y"][off], return_counts=True)
    assert np.all(n_off == np.where(xs // 100 < width, 11, 10))


def test_dvs_static_image_gives_no_events_and_batch_form():
    static = np.repeat(moving_bar()[:1], 5, axis=0)
    assert len(frames_to_events(static)) == 0
    video = np.stack([moving_bar(), np.repeat(moving_bar()[:1], 12, axis=0)], axis=1)
    out = DVSEmulator()(torch.as_tensor(video))
    assert isinstance(out, list) and len(out[0]) > 0 and len(out[1]) == 0


def test_dvs_refractory_drops_events():
    frames = moving_bar()
    ev0 = frames_to_events(frames, on_threshold=0.3)
    ev1 = frames_to_events(frames, on_threshold=0.3, refractory_us=400)
    assert 0 < len(ev1) < len(ev0)
    for x, y in {(int(a), int(b)) for a, b in zip(ev1["x"], ev1["y"], strict=True)}:
        t = ev1["t"][(ev1["x"] == x) & (ev1["y"] == y)]
        assert np.all(np.diff(t) >= 400)


def test_events_to_frames_and_voxel_grid():
    ev = frames_to_events(moving_bar(), on_threshold=0.3)
    size = (6, 20)
    for kw in ({"n_time_bins": 4}, {"time_window_us": 3000}, {"event_count": 100},
               {"n_event_bins": 5}):
        fr = events_to_frames(ev, size, **kw)
        assert fr.shape[1:] == (2, 6, 20) and fr.sum() == len(ev)
        assert fr[:, 1].sum() == (ev["p"] == 1).sum()
    assert events_to_frames(ev, size, event_count=100).shape[0] == -(-len(ev) // 100)
    vox = events_to_voxel_grid(ev, size, 5)
    assert vox.shape == (5, 6, 20)
    net = (ev["p"] == 1).sum() - (ev["p"] == 0).sum()
    assert vox.sum().item() == pytest.approx(float(net), abs=1e-3)


def test_event_errors():
    ev = frames_to_events(moving_bar())
    with pytest.raises(HebbtorchError, match="non-empty"):
        events_to_frames(ev[:0], (6, 20), n_time_bins=2)
    with pytest.raises(HebbtorchError, match="exactly one"):
        events_to_frames(ev, (6, 20), n_time_bins=2, event_count=5)
    with pytest.raises(HebbtorchError, match="outside the sensor"):
        events_to_frames(ev, (4, 4), n_time_bins=2)
    with pytest.raises(HebbtorchError, match="structured"):
        events_to_voxel_grid(np.zeros((3, 4)), (6, 20), 3)
    with pytest.raises(HebbtorchError, match="non-negative"):
        frames_to_events(-moving_bar())
    with pytest.raises(HebbtorchError, match="increasing"):
        frames_to_events(moving_bar(), np.zeros(12))
    with pytest.raises(HebbtorchError, match="frames"):
        frames_to_events(np.zeros((3, 4)))
