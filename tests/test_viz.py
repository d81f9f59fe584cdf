"""Every picture function writes a non-empty PNG (or GIF)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbtorch.encoding import frames_to_events, rate_encode
from hebbtorch.errors import HebbtorchError
from hebbtorch.io import save_figure
from hebbtorch.viz.activity import neuron_trace
from hebbtorch.viz.animation import animate_events, animate_spikes
from hebbtorch.viz.events import event_frames
from hebbtorch.viz.raster import spike_raster
from hebbtorch.viz.rates import firing_rate_map, rate_over_time
from hebbtorch.viz.traces import membrane_traces


def spikes(t: int = 30, n: int = 24) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return rate_encode(torch.rand(1, n, generator=g), t, generator=g)[:, 0]


def events() -> np.ndarray:
    f = np.full((8, 6, 12), 0.05)
    for k in range(8):
        f[k, 1:5, k:k + 3] = 1.0
    return frames_to_events(f)


def written(path) -> bool:
    return path.is_file() and path.stat().st_size > 100


def test_spike_raster_plain_and_by_label(tmp_path):
    assert written(save_figure(spike_raster(spikes()), tmp_path / "r.png"))
    fig = spike_raster(spikes(), labels=np.arange(24) % 4, dt=1.0)
    assert len(fig.axes[0].get_legend().get_texts()) == 4
    assert written(save_figure(fig, tmp_path / "rl.png"))
    with pytest.raises(HebbtorchError, match="labels"):
        spike_raster(spikes(), labels=[0, 1])


def test_membrane_traces_and_neuron_trace(tmp_path):
    v = torch.cumsum(torch.full((60, 3), 0.1), 0) % 1.0
    s = v > 0.85
    assert written(save_figure(membrane_traces(v, s, threshold=0.9, dt=0.5), tmp_path / "m.png"))
    fig = neuron_trace(v[:, 0], "one", threshold=0.9, spikes=s[:, 0], dt=1.0)
    assert written(save_figure(fig, tmp_path / "n.png"))
    with pytest.raises(HebbtorchError, match="neurons"):
        membrane_traces(v, neurons=[5])


def test_rate_maps(tmp_path):
    s = rate_encode(torch.rand(2, 5, 7), 20)
    assert written(save_figure(firing_rate_map(s, dt=1.0), tmp_path / "f.png"))
    assert written(save_figure(firing_rate_map(spikes(), shape=(4, 6)), tmp_path / "f2.png"))
    assert written(save_figure(rate_over_time(spikes(), bin_steps=7), tmp_path / "o.png"))
    with pytest.raises(HebbtorchError, match="shape"):
        firing_rate_map(spikes(), shape=(5, 5))


def test_event_pictures_and_gifs(tmp_path):
    ev = events()
    assert written(save_figure(event_frames(ev, (6, 12), 4), tmp_path / "e.png"))
    gif = animate_events(ev, (6, 12), tmp_path / "e.gif", n_frames=4)
    assert written(gif) and gif.read_bytes()[:3] == b"GIF"
    gif = animate_spikes(spikes(6), tmp_path / "s.gif", shape=(4, 6))
    assert written(gif) and gif.read_bytes()[:3] == b"GIF"


def test_encode_command_writes_picture_and_counts(tmp_path):
    import json

    from hebbtorch.cli.main import main

    img = np.zeros((10, 10))
    img[3:7, 2:8] = 0.9
    np.save(tmp_path / "img.npy", img)
    out = tmp_path / "out"
    assert main(["encode", str(tmp_path / "img.npy"), "--steps", "12", "--out", str(out)]) == 0
    assert written(out / "encoding.png")
    counts = json.loads((out / "encoding.json").read_text())["encoders"]
    assert counts["latency (linear)"]["total_spikes"] == 24  # one spike per lit pixel
    assert counts["DVS (saccade video)"]["total_spikes"] > 0
    assert main(["encode", "--steps", "5", "--out", str(out)]) == 2  # no image: one-line error
    assert main(["encode", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
