"""Gradient-by-timing attribution and the BPTT-vs-STDP protocols (docs/bptt-stdp.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons import LIFParameters, RefractoryParameters, lif_sequence
from hebbtorch.neurons.refractory import refractory_sequence
from hebbtorch.studies import (
    LinearProbe,
    attribute_gradient,
    fit_window,
    post_spike_lags,
    reference_window,
    undelay,
)
from hebbtorch.studies.bptt_stdp import ProtocolConfig, bptt_window

SMALL = ProtocolConfig(dts=tuple(range(-20, 21)), t_post=30, n_steps=60)


def _one_synapse(neuron: str, mode: str, seed: int = 0):
    torch.manual_seed(seed)
    T, B = 40, 3
    fc = torch.nn.Linear(1, 1)
    with torch.no_grad():
        fc.weight.fill_(0.8)
        fc.bias.fill_(0.05)
    pre = (torch.rand(T, B, 1) < 0.3).float()
    with LinearProbe({"fc": fc}) as probe:
        cur = fc(pre)
        if neuron == "seed":
            r = refractory_sequence(cur, RefractoryParameters())
            out, post = r.out, undelay(r.out, r.state.out)
        else:
            out = lif_sequence(cur, LIFParameters(surrogate=neuron)).spikes
            post = out
        loss = (out.mean(0) - 0.3).pow(2).sum()
        loss.backward()
    h = attribute_gradient(probe.delta["fc"], probe.pre["fc"], post, mode=mode,
                           per_synapse=True)
    return h, fc.weight.grad


@pytest.mark.parametrize("neuron", ["seed", "fast_sigmoid", "arctan"])
@pytest.mark.parametrize("mode", ["nearest", "next", "previous"])
def test_one_synapse_attribution_sums_to_autograd(neuron, mode):
    h, grad = _one_synapse(neuron, mode)
    assert h.update.shape == (79, 1, 1)
    assert abs(float(grad)) > 0
    torch.testing.assert_close(h.total, -grad.double(), rtol=1e-6, atol=1e-9)


def test_summed_histogram_matches_weight_gradient_sum():
    torch.manual_seed(1)
    fc = torch.nn.Linear(5, 4)
    x = (torch.rand(30, 2, 5) < 0.4).float()
    with LinearProbe({"fc": fc}) as probe:
        s = lif_sequence(fc(x) * 2, LIFParameters()).spikes
        F.mse_loss(s.mean(0), torch.full((2, 4), 0.2)).backward()
    h = attribute_gradient(probe.delta["fc"], probe.pre["fc"], s)
    hs = attribute_gradient(probe.delta["fc"], probe.pre["fc"], s, per_synapse=True)
    assert math.isclose(float(h.total), -float(fc.weight.grad.sum()), rel_tol=1e-5, abs_tol=1e-9)
    torch.testing.assert_close(hs.total, -fc.weight.grad.double(), rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(hs.update.sum((1, 2)), h.update, rtol=1e-9, atol=1e-12)


def test_post_spike_lags_nearest_next_previous():
    post = torch.zeros(10, 1, 1)
    post[[2, 6], 0, 0] = 1.0
    lag = {m: post_spike_lags(post, m)[:, 0, 0].tolist() for m in ("nearest", "next", "previous")}
    # t = 4 is 2 steps from both spikes: the tie goes to the later (causal) spike
    assert lag["nearest"] == [2, 1, 0, -1, 2, 1, 0, -1, -2, -3]
    assert lag["next"] == [2, 1, 0, 3, 2, 1, 0, 10, 10, 10]  # 10 = T: no spike after
    assert lag["previous"] == [10, 10, 0, -1, -2, -3, 0, -1, -2, -3]
    with pytest.raises(HebbtorchError):
        post_spike_lags(post, "all")


def test_no_post_spike_terms_are_kept():
    delta = torch.ones(5, 1, 1)
    pre = torch.ones(5, 1, 2)
    h = attribute_gradient(delta, pre, torch.zeros(5, 1, 1))
    assert float(h.update.abs().sum()) == 0.0
    assert float(h.no_post_update) == -10.0 and int(h.no_post_count) == 10


def test_protocol_window_reproducible_across_seeds():
    a = bptt_window(SMALL._replace(neuron="lif-fast_sigmoid", seed=0))
    b = bptt_window(SMALL._replace(neuron="lif-fast_sigmoid", seed=123))
    assert a["update"] == b["update"]  # bit-equal: noiseless protocols draw no random numbers
    c = bptt_window(SMALL._replace(seed=0))
    d = bptt_window(SMALL._replace(seed=7))
    assert c["update"] == d["update"]
    assert c["attribution_max_abs_error"] < 1e-9


def test_seed_neuron_rate_window_is_causal_only():
    r = bptt_window(SMALL)  # seed neuron, rate-increasing loss
    d, u = np.asarray(r["dt_ms"]), np.asarray(r["update"])
    assert set(r["post_spike_count"]) == {1}
    assert np.all(u[d >= 0] > 0)  # causal side: LTP
    assert np.all(u[d < 0] == 0)  # acausal side: exactly no change (ReLU silent after reset)
    f = fit_window(d, u)
    tau_decay = -1.0 / math.log(0.9)  # membrane decay 0.9 per 1 ms step
    assert f["ltp_branch"] and not f["ltd_branch"]
    assert abs(f["causal"]["tau_ms"] - tau_decay) < 0.1 * tau_decay
    # every causal pre spike's term is filed under the post spike Δt away; acausal terms are 0
    lag = r["attribution_lag_of_pre"]
    assert [x for x, dt in zip(lag, d, strict=True) if dt >= 0] == [x for x in d if x >= 0]
    assert all(x is None for x, dt in zip(lag, d, strict=True) if dt < 0)


def test_weight_decay_is_a_flat_offset_and_tail_cancels_rate():
    plain = np.asarray(bptt_window(SMALL)["update"])
    wd = np.asarray(bptt_window(SMALL._replace(weight_decay=1e-4))["update"])
    np.testing.assert_allclose(wd, plain - 1e-4 * SMALL.w0, rtol=0, atol=1e-12)
    tail = np.asarray(bptt_window(SMALL._replace(tail_tau=5.0, tail_steps=20))["update"])
    assert np.abs(tail).max() < 1e-4 * np.abs(plain).max()


def test_fit_window_recovers_exponentials():
    d = np.arange(-60, 61)
    w = reference_window(d, 16.8, 33.7, 2.0, 0.5)
    f = fit_window(d, w)
    assert abs(f["causal"]["tau_ms"] - 16.8) < 1e-3 and abs(f["acausal"]["tau_ms"] - 33.7) < 1e-3
    assert abs(f["causal"]["amplitude"] - 2.0) < 1e-4
    assert abs(f["acausal"]["amplitude"] + 0.5) < 1e-4
    assert f["causal"]["sign"] == 1 and f["acausal"]["sign"] == -1
    assert f["ltd_timing_dependent"] and f["ltp_timing_dependent"]
    flat = fit_window(d, np.where(d != 0, -1.0, 0.0))
    assert flat["ltd_branch"] and not flat["ltd_timing_dependent"]


def test_cli_smoke(tmp_path):
    from hebbtorch.cli.main import main

    rc = main(["bptt-stdp", "--neuron", "seed", "lif-triangle", "--losses", "rate",
               "--no-rules", "--max-dt", "10", "--out", str(tmp_path)])
    assert rc == 0
    s = json.loads((tmp_path / "bptt_stdp.json").read_text())
    assert set(s["protocol_fits"]["windows"]) == {"seed/rate", "lif-triangle/rate"}
    assert (tmp_path / "bptt_stdp_protocol.png").stat().st_size > 0
