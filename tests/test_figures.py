"""Every figure type renders on small and on large data within bounded pixel sizes, with
labelled colour bars, legends outside the data, and traces that show the threshold crossing."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from hebbtorch.viz import bptt_stdp as vb
from hebbtorch.viz import unsupervised as vu
from hebbtorch.viz.activity import layer_heatmap, neuron_trace, value_before_reset
from hebbtorch.viz.encoding import encoding_overview
from hebbtorch.viz.events import event_frames
from hebbtorch.viz.fields import receptive_field_mosaic
from hebbtorch.viz.online import eprop_window_figure, trained_window_figure
from hebbtorch.viz.plasticity import plot_frequency, plot_window
from hebbtorch.viz.raster import spike_raster
from hebbtorch.viz.rates import firing_rate_map, rate_over_time
from hebbtorch.viz.style import MAX_HEIGHT, MAX_WIDTH, STYLE
from hebbtorch.viz.traces import membrane_traces
from hebbtorch.viz.training import astdp_curves, image_grid, learning_curves, spikeprop_curves

DPI = STYLE["figure.dpi"]
# saved with bbox_inches="tight": outside legends and colour bars may add a little
MAX_PX = (MAX_WIDTH * DPI * 1.3, MAX_HEIGHT * DPI * 1.3)
MIN_PX = 150


def _pixels(fig) -> tuple[int, int]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    buf.seek(0)
    h, w = mpimg.imread(buf).shape[:2]
    return w, h


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _events():
    from hebbtorch.encoding import frames_to_events
    t = torch.linspace(0, 1, 20)
    frames = 0.2 + 0.6 * (torch.arange(16)[None, None, :] / 16 < t[:, None, None]).float()
    return frames_to_events(frames.expand(20, 12, 16).contiguous())


def _protocol(kind: str):
    from hebbtorch.studies.protocols import frequency_dependence, pairing_window
    if kind == "window":
        return plot_window([pairing_window("pair")])
    return plot_frequency([frequency_dependence("pair", freqs=[1, 20, 50])])


def _curve(n: int) -> list[float]:
    return torch.randn(n, generator=g).tolist()


def _learning_curves(epochs: int):
    hist = [{"epoch": e, "test_loss": 1 / e, "train_accuracy": 1 - 0.5 / e,
             "test_accuracy": 1 - 0.6 / e} for e in range(1, epochs + 1)]
    log = [{"epoch": e, "batch": b, "loss": 1 / e} for e in range(1, epochs + 1) for b in range(5)]
    return learning_curves({"lif-mlp": (hist, log), "ann-mlp": (hist, log)})


def _study(n_dt: int, ltd: bool = False):
    """A BPTT-window study of 2 neurons x 2 losses on ``n_dt`` Δt values (random curves)."""
    dts = list(range(-(n_dt // 2), n_dt // 2 + 1))
    keys = [f"{n}/{loss}" for n in ("seed", "lif") for loss in ("rate", "timing")]
    windows = {k: {"dt_ms": dts, "update": _curve(len(dts))} for k in keys}
    extra = {f"{k}/{name}": {"dt_ms": dts, "update": _curve(len(dts))}
             for k in keys for name in ("weight_decay", "after_spike_tail")} if ltd else {}
    return {"windows": windows, "ltd": extra}, {r: {"dw": _curve(len(dts))} for r in vb.RULE_STYLE}


def _timing(n_lag: int):
    lags = list(range(-n_lag, n_lag + 1))
    return {"layers": {name: {"lag_steps": lags, "mean_update": _curve(len(lags)),
                              "update": _curve(len(lags)),
                              "counts": (torch.rand(len(lags), generator=g) * 100 + 1).tolist()}
                       for name in ("layer1", "layer2")}}


def _epochs(n: int, test: bool = True) -> list[dict]:
    return [{"epoch": e, "loss": 10 / e, "train_accuracy": 0.5 + 0.4 * e / n}
            | ({"test_loss": 11 / e, "test_accuracy": 0.5 + 0.3 * e / n} if test else {})
            for e in range(1, n + 1)]


def _unsup_curve(n: int):
    curve = [{"images_seen": 100 * i, "all_activity": 0.5, "proportion": 0.55}
             for i in range(1, n // 10 + 2)]
    return vu.plot_curve(curve, {"all_activity": 0.6}, f"dc, {n} neurons")


g = torch.Generator().manual_seed(0)
FIGURES = {
    "heatmap": lambda n, T: layer_heatmap(torch.randn(T, n, generator=g), "v", label="v (mV)"),
    "trace": lambda n, T: neuron_trace(torch.randn(T, generator=g), "v", threshold=1.0,
                                       spikes=torch.rand(T, generator=g) > 0.8),
    "traces": lambda n, T: membrane_traces(torch.randn(T, n, generator=g), threshold=1.0),
    "raster": lambda n, T: spike_raster(torch.rand(T, n, generator=g) > 0.9,
                                        labels=torch.arange(n) % 10),
    "rate_map": lambda n, T: firing_rate_map(torch.rand(T, n, generator=g) > 0.9, dt=1.0),
    "rate_over_time": lambda n, T: rate_over_time(torch.rand(T, n, generator=g) > 0.9, dt=1.0),
    "fields": lambda n, T: receptive_field_mosaic(torch.rand(784, n, generator=g),
                                                  labels=torch.arange(n) % 10),
    "events": lambda n, T: event_frames(_events(), (12, 16), n_frames=4),
    "window": lambda n, T: _protocol("window"),
    "frequency": lambda n, T: _protocol("frequency"),
    "learning_curves": lambda n, T: _learning_curves(max(2, T // 10)),
    "dc_fields": lambda n, T: vu.plot_receptive_fields(torch.rand(784, n, generator=g),
                                                       torch.arange(n) % 10, "dc"),
    "dc_assignments": lambda n, T: vu.plot_assignments(torch.full((10,), n // 10), "dc"),
    "dc_confusion": lambda n, T: vu.plot_confusion(torch.randint(0, n, (10, 10), generator=g),
                                                   0.5, "dc"),
    "dc_accuracy": lambda n, T: _unsup_curve(n),
    "bptt_windows": lambda n, T: vb.protocol_grid_figure(*_study(T // 2)),
    "bptt_ltd": lambda n, T: vb.ltd_figure(_study(T // 2, ltd=True)[0]),
    "bptt_timing": lambda n, T: vb.seed_timing_figure(_timing(T // 4), title="seed-snn"),
    "spikeprop": lambda n, T: spikeprop_curves(_epochs(T // 5, test=n > 10), "iris"),
    "astdp": lambda n, T: astdp_curves(
        _epochs(4), [{"label_mse": 1 / b, "recon_mse": 0.5 / b} for b in range(1, T)], "aSTDP"),
    "image_grid": lambda n, T: image_grid(torch.rand(min(n, 100), 784, generator=g),
                                          torch.arange(min(n, 100)) % 10, "generated"),
    "encoding": lambda n, T: encoding_overview(
        torch.rand(28, 28, generator=g).numpy(),
        {k: torch.rand(T, n, generator=g) > 0.9 for k in ("rate", "latency", "delta")},
        "random", T),
    "eprop_window": lambda n, T: eprop_window_figure(
        {"protocol": {"dts": list(range(T // 4))}, "rules": {"pair": _curve(T // 4)},
         "losses": {k: {"bptt": _curve(T // 4), "eprop": _curve(T // 4)}
                    for k in ("rate", "timing")}}),
    "trained_window": lambda n, T: trained_window_figure(
        {"max_lag": 30, "rules": {"pair": _curve(61)},
         "seeds": {str(s): {"trained": {k: {m: {"mean_update": _curve(61)}
                                            for m in ("bptt", "eprop")}
                                        for k in ("input", "recurrent")}} for s in range(3)}}),
    "bptt_epochs": lambda n, T: vb.epochs_figure(
        {"per_epoch": [_timing(T // 4) for _ in range(4)]}),
}


@pytest.mark.parametrize("size", [(10, 50), (800, 200)], ids=["small", "800 neurons"])
@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_figure_size_is_bounded(kind, size):
    fig = FIGURES[kind](*size)
    w, h = _pixels(fig)
    assert MIN_PX <= w <= MAX_PX[0] and MIN_PX <= h <= MAX_PX[1], (kind, size, (w, h))
    assert h / w < 3 and w / h < 6, f"{kind}: aspect {w}x{h} px"
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel() or ax.get_xlabel(), f"{kind}: colour bar without a label"
        legend = ax.get_legend()
        if legend is not None:
            assert min(t.get_fontsize() for t in legend.get_texts()) >= 7.5, kind


def test_heatmap_of_many_neurons_is_subsampled_and_says_so():
    fig = layer_heatmap(torch.zeros(100, 800), "v", label="v")
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape[0] <= 100
    assert "every 8th of 800" in ax.get_ylabel()


def test_trace_with_reset_shows_the_crossing_before_the_reset():
    """The seed neuron records its potential after the reset (-0.5x): without the value before
    it the trace never reaches the threshold at the steps it fires."""
    from hebbtorch.neurons import RefractoryParameters, refractory_sequence

    p = RefractoryParameters()
    out = refractory_sequence(torch.full((40, 1, 1), 0.6), p, backend="reference")
    after, spikes = out.inner[:, 0, 0], out.out[:, 0, 0]
    assert spikes.sum() > 0 and float(after[spikes > 0].max()) < p.threshold
    peak = value_before_reset(after, spikes, p.threshold, p.penalty_threshold)
    assert np.all(peak[spikes.numpy() > 0] > p.threshold)
    np.testing.assert_allclose(peak[spikes.numpy() > 0] - p.threshold,
                               spikes[spikes > 0].numpy(), rtol=1e-5)  # out = relu(v - thr)
    fig = neuron_trace(after, "v", threshold=p.threshold, spikes=spikes, before_reset=peak)
    line = fig.axes[0].lines[0].get_ydata()
    assert line.max() > p.threshold
