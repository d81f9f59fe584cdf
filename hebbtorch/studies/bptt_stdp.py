"""Does backpropagation engender STDP? Controlled protocols and trained-network measurements.

**Two-neuron protocol** (:func:`bptt_window`). One postsynaptic neuron receives two inputs: the
plastic synapse ``w`` (one presynaptic spike at ``t_pre``) and a strong fixed drive (one spike at
``t_post``, weight ``drive``) that makes the neuron fire at ``t_post`` whatever ``w`` does. The
current is ``I[t] = w x_pre[t] + drive x_drive[t] (+ optional Gaussian noise)``. A loss on the
postsynaptic neuron is backpropagated through time; every Δt = t_post - t_pre is one row of the
batch, each row with its own copy of ``w``, so ``-dL/dw`` of each row is that pairing's BPTT weight
change, all in one simulation. Time is in steps, 1 step = 1 ms. ``t_post`` is the step at which
the post neuron crosses threshold (for the seed neuron that is one step *before* its delayed
output shows the spike), ``t_pre`` the step at which the presynaptic input enters the current.

Neurons (:data:`NEURONS`): ``seed`` (Chevalier's graded ReLU-spike neuron: decay 0.9, threshold 1,
penalty reset 1.5, one-step delay), ``seed-binary`` (same, binary spikes, fast-sigmoid
surrogate), ``lif-<surrogate>`` (binary LIF, beta 0.9, threshold 1, subtractive reset, reset
gradient kept) for each surrogate.

Losses (:data:`LOSSES`), per row, summed over rows:

* ``rate``: ``0.5 (mean_t out - target_rate)^2`` with the target above the evoked rate (so it asks
  for *more* output: a rate-increasing loss);
* ``timing``: van Rossum distance (exponential kernel ``vr_tau``) between the output and one
  target spike at ``t_post + target_shift`` (default 5 steps earlier than the evoked spike);
* ``class``: cross-entropy (target class 0) of a two-class leaky readout (beta ``readout_beta``)
  fed by the output with weights +1 / -1, logits = readout membrane averaged over time.

The seed's two LTD mechanisms: ``weight_decay`` (adds ``-weight_decay * w`` to the update) and an
after-spike tail (``tail_tau`` > 0): the output seen by the loss is ``out[t] - sum_k c_k out[t-k]``,
``c_k = exp(-k/tail_tau) / sum_k exp(-k/tail_tau)`` for k = 1 .. ``tail_steps``, so each spike is
followed by a negative tail whose integral cancels it.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.neurons.li import LIParameters, li_sequence
from hebbtorch.neurons.lif import LIFParameters, lif_sequence
from hebbtorch.neurons.refractory import RefractoryParameters, refractory_sequence
from hebbtorch.neurons.surrogate import SURROGATES
from hebbtorch.studies.gradient_timing import (
    LinearProbe,
    TimingHistogram,
    attribute_gradient,
    undelay,
)
from hebbtorch.studies.stdp_fit import fit_window

NEURONS = ("seed", "seed-binary", *(f"lif-{s}" for s in SURROGATES))
LOSSES = ("rate", "timing", "class")
DT_MS = 1.0
STDP_RULES = (("pair", None), ("triplet", "hippocampal/all_to_all/full"), ("gb", "DP"),
              ("calcium", None))


class ProtocolConfig(NamedTuple):
    neuron: str = "seed"
    loss: str = "rate"
    dts: tuple[int, ...] = tuple(range(-60, 61))
    t_post: int = 80
    n_steps: int = 160
    w0: float = 0.5
    drive: float = 1.5
    target_rate: float = 0.1
    target_shift: int = -5
    vr_tau: float = 10.0
    readout_beta: float = 0.9
    weight_decay: float = 0.0
    tail_tau: float = 0.0
    tail_steps: int = 0
    noise: float = 0.0
    seed: int = 0


DEFAULT_PROTOCOL = ProtocolConfig()


def validate_config(c: ProtocolConfig) -> ProtocolConfig:
    if c.neuron not in NEURONS:
        raise HebbtorchError(f"neuron must be one of {NEURONS}, got {c.neuron!r}")
    if c.loss not in LOSSES:
        raise HebbtorchError(f"loss must be one of {LOSSES}, got {c.loss!r}")
    dts = np.asarray(c.dts)
    if dts.size == 0 or np.any(dts != np.round(dts)):
        raise HebbtorchError("dts must be a non-empty list of whole steps (1 step = 1 ms)")
    if c.t_post - dts.max() < 0 or c.t_post - dts.min() >= c.n_steps - 1:
        raise HebbtorchError(f"pre spikes t_post - Δt must lie in [0, {c.n_steps - 2}] "
                             f"(t_post {c.t_post}, Δt {dts.min()}..{dts.max()})")
    if c.t_post + min(c.target_shift, 0) < 0 or c.t_post + c.target_shift >= c.n_steps - 1:
        raise HebbtorchError("t_post + target_shift must lie inside the simulation")
    if c.tail_tau < 0 or c.tail_steps < 0 or (c.tail_tau > 0) != (c.tail_steps > 0):
        raise HebbtorchError("give both tail_tau > 0 and tail_steps > 0 (or neither)")
    if c.weight_decay < 0 or c.noise < 0:
        raise HebbtorchError("weight_decay and noise must be >= 0")
    return c


def run_neuron(neuron: str, currents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Simulate ``currents`` ``[time, batch, n]`` -> (output seen downstream, threshold-crossing
    spikes in the current's clock, output delay in steps)."""
    if neuron.startswith("seed"):
        p = RefractoryParameters(binary=neuron == "seed-binary")
        r = refractory_sequence(currents, p)
        return r.out, undelay(r.out, r.state.out).detach(), 1
    if neuron.startswith("lif-"):
        p = LIFParameters(beta=0.9, threshold=1.0, reset="subtract", surrogate=neuron[4:])
        s = lif_sequence(currents, p).spikes
        return s, s.detach(), 0
    raise HebbtorchError(f"unknown neuron {neuron!r}; choose from {NEURONS}")


def after_spike_tail(out: torch.Tensor, tau: float, steps: int) -> torch.Tensor:
    """``out[t] - sum_{k=1..steps} c_k out[t-k]`` with ``c_k ∝ exp(-k/tau)``, ``sum c_k = 1``."""
    k = torch.arange(1, steps + 1, dtype=out.dtype)
    c = torch.exp(-k / tau)
    c = c / c.sum()
    tail = torch.zeros_like(out)
    for i in range(steps):
        pad = (0,) * (2 * (out.dim() - 1)) + (i + 1, 0)  # shift by i + 1 steps along time
        tail = tail + F.pad(out[: out.shape[0] - i - 1], pad) * c[i]
    return out - tail


def protocol_loss(c: ProtocolConfig, out: torch.Tensor, delay: int) -> torch.Tensor:
    """Summed loss over rows; ``out`` ``[time, batch, 1]`` as seen downstream."""
    T, B = out.shape[:2]
    if c.loss == "rate":
        rate = out.mean(0)
        return 0.5 * ((rate - c.target_rate) ** 2).sum()
    if c.loss == "timing":
        target = torch.zeros_like(out)
        target[c.t_post + c.target_shift + delay] = 1.0
        beta = math.exp(-1.0 / c.vr_tau)
        diff = li_sequence(out - target, LIParameters(beta))
        return 0.5 * (diff ** 2).sum() / c.vr_tau
    readout = torch.tensor([1.0, -1.0], dtype=out.dtype)
    logits = li_sequence(out * readout, LIParameters(c.readout_beta)).mean(0)
    return F.cross_entropy(logits, torch.zeros(B, dtype=torch.long), reduction="sum")


def bptt_window(c: ProtocolConfig = DEFAULT_PROTOCOL) -> dict[str, Any]:
    """BPTT weight change ``-dL/dw`` (per pairing) vs Δt; see the module doc. Deterministic when
    ``noise == 0`` (``seed`` then has no effect). Also returns the gradient-by-timing attribution
    of each row's gradient (nearest post spike) and its agreement with autograd."""
    c = validate_config(c)
    dts = torch.tensor(c.dts, dtype=torch.long)
    B, T = len(c.dts), c.n_steps
    pre = torch.zeros(T, B, 1)
    pre[c.t_post - dts, torch.arange(B), 0] = 1.0
    drive = torch.zeros(T, B, 1)
    drive[c.t_post, :, 0] = 1.0
    w = torch.full((B, 1), c.w0, requires_grad=True)
    currents = w * pre + c.drive * drive
    if c.noise > 0:
        g = torch.Generator().manual_seed(c.seed)
        currents = currents + c.noise * torch.randn(T, B, 1, generator=g)
    store: dict[str, torch.Tensor] = {}
    currents.register_hook(lambda gr: store.__setitem__("delta", gr.detach()))
    out, spikes, delay = run_neuron(c.neuron, currents)
    seen = after_spike_tail(out, c.tail_tau, c.tail_steps) if c.tail_tau > 0 else out
    loss = protocol_loss(c, seen, delay)
    loss.backward()
    grad = w.grad[:, 0].double()
    update = -grad - c.weight_decay * c.w0
    # per-row attribution: the one synapse of each row, Δt from the row's own post spikes
    hist = [attribute_gradient(store["delta"][:, b:b + 1], pre[:, b:b + 1], spikes[:, b:b + 1])
            for b in range(B)]
    attributed = torch.stack([h.total for h in hist])
    n_post = (spikes[..., 0] > 0).sum(0)
    first = torch.where(n_post > 0, (spikes[..., 0] > 0).double().argmax(0).double(),
                        torch.full((B,), float("nan"), dtype=torch.float64))
    return {
        "config": c._asdict(), "dt_ms": list(c.dts), "update": update.tolist(),
        "grad_only": (-grad).tolist(), "loss": float(loss.detach()),
        "post_spike_count": n_post.tolist(), "first_post_step": first.tolist(),
        "attribution_max_abs_error": float((attributed - (-grad)).abs().max()),
        "attribution_lag_of_pre": [_dominant_lag(h) for h in hist],
    }


def _dominant_lag(h: TimingHistogram) -> int | None:
    """The lag bin holding the single pre spike's term (None if it went to 'no post spike')."""
    nz = torch.nonzero(h.counts)
    return int(h.lags[nz[0, 0]]) if nz.numel() else None


def stdp_rule_windows(dts: list[int], n_pairs: int = 60, freq_hz: float = 1.0
                      ) -> dict[str, dict[str, Any]]:
    """Windows of the plasticity package's rules on the same Δt grid (Bi & Poo protocol: 60
    pairings at 1 Hz), via :func:`hebbtorch.studies.protocols.pairing_window`."""
    from hebbtorch.studies.protocols import pairing_window

    out = {}
    for rule, params in STDP_RULES:
        r = pairing_window(rule, params, dts=[float(d) for d in dts], n_pairs=n_pairs,
                           freq_hz=freq_hz)
        out[rule] = {"params": params, "dw": r["dw"], "n_pairs": n_pairs, "freq_hz": freq_hz}
    return out


def protocol_study(neurons=NEURONS, losses=LOSSES, base: ProtocolConfig = DEFAULT_PROTOCOL,
                   ltd: bool = True) -> dict[str, Any]:
    """Every neuron x loss window, fitted; plus, for every neuron, the rate and class losses with
    each LTD mechanism (weight decay, after-spike tail)."""
    results: dict[str, Any] = {"windows": {}, "ltd": {}}
    for n in neurons:
        for loss in losses:
            r = bptt_window(base._replace(neuron=n, loss=loss))
            r["fit"] = fit_window(r["dt_ms"], r["update"])
            results["windows"][f"{n}/{loss}"] = r
    if ltd:
        for n in neurons:
            for loss in [x for x in ("rate", "class") if x in losses]:
                plain = results["windows"][f"{n}/{loss}"]
                peak = max(abs(v) for v in plain["grad_only"]) or 1.0
                variants = {
                    # decay chosen so its constant LTD is 20 % of the window's peak
                    "weight_decay": base._replace(neuron=n, loss=loss,
                                                  weight_decay=0.2 * peak / base.w0),
                    "after_spike_tail": base._replace(neuron=n, loss=loss, tail_tau=5.0,
                                                      tail_steps=30),
                }
                for name, cfg in variants.items():
                    r = bptt_window(cfg)
                    r["fit"] = fit_window(r["dt_ms"], r["update"])
                    # size relative to the plain window: ~1e-7 means the gradient vanished
                    r["fit"]["max_abs_relative_to_plain"] = (
                        max(abs(v) for v in r["update"]) / peak)
                    results["ltd"][f"{n}/{loss}/{name}"] = r
    return results


# --------------------------------------------------------------------- trained seed network
def _seed_histograms(model, x, y, generator, mode: str) -> tuple[dict[str, TimingHistogram], dict]:
    """One batch: attribute fc1/fc2 gradients of the cross-entropy loss to spike timing."""
    model.zero_grad(set_to_none=True)
    with LinearProbe({"layer1": model.fc1, "layer2": model.fc2}) as probe:
        l1, l2 = model.layers(x, generator)
        loss = F.cross_entropy(l2.inner.mean(0), y)
        loss.backward()
    posts = {"layer1": undelay(l1.out, l1.state.out), "layer2": undelay(l2.out, l2.state.out)}
    hists, check = {}, {}
    for name, fc in (("layer1", model.fc1), ("layer2", model.fc2)):
        h = attribute_gradient(probe.delta[name], probe.pre[name], posts[name], mode=mode)
        hists[name] = h
        auto = -float(fc.weight.grad.double().sum())
        check[name] = {"attributed": float(h.total), "autograd": auto,
                       "rel_error": abs(float(h.total) - auto) / max(abs(auto), 1e-30),
                       "post_rate": float((posts[name] > 0).double().mean())}
    # output layer split: the correct class's neuron (its loss asks for more) vs the others
    onehot = F.one_hot(y, probe.delta["layer2"].shape[-1]).to(probe.delta["layer2"].dtype)
    for name, m in (("layer2_target", onehot), ("layer2_other", 1 - onehot)):
        hists[name] = attribute_gradient(probe.delta["layer2"] * m, probe.pre["layer2"],
                                         posts["layer2"], mode=mode)
    return hists, check | {"loss": float(loss.detach())}


def seed_gradient_timing(model, images: torch.Tensor, labels: torch.Tensor, *, n_batches: int = 3,
                         batch_size: int = 100, seed: int = 0, mode: str = "nearest"
                         ) -> dict[str, Any]:
    """Gradient-by-timing histograms of a seed :class:`SpikingNet` over the first ``n_batches``
    batches of ``images`` (uint8 or [0, 1]), summed over batches, per layer."""
    from hebbtorch.networks.seed import SpikingNet

    if not isinstance(model, SpikingNet):
        raise HebbtorchError(f"gradient timing of a trained run supports the seed SpikingNet "
                             f"(seed-snn / seed-snn-binary), got {type(model).__name__}")
    g = torch.Generator().manual_seed(seed)
    total: dict[str, TimingHistogram] = {}
    checks = []
    n = min(len(labels), n_batches * batch_size)
    if n == 0:
        raise HebbtorchError("no images to analyse")
    for i in range(0, n, batch_size):
        x = images[i:i + batch_size]
        x = x.float() / 255.0 if not x.is_floating_point() else x.float()
        hists, check = _seed_histograms(model, x, labels[i:i + batch_size].long(), g, mode)
        checks.append(check)
        for k, h in hists.items():
            total[k] = h if k not in total else total[k].add(h)
    model.zero_grad(set_to_none=True)
    out: dict[str, Any] = {"n_images": n, "mode": mode, "batch_checks": checks, "layers": {}}
    for k, h in total.items():
        d = h.to_dict()
        lags = np.asarray(d["lag_steps"], float)
        mean = np.asarray(d["mean_update"], float)
        keep = np.abs(lags) <= 60
        d["fit_mean_update"] = fit_window(lags[keep][np.isfinite(mean[keep])],
                                          mean[keep][np.isfinite(mean[keep])])
        d["fit_total_update"] = fit_window(lags[keep], np.asarray(d["update"])[keep])
        out["layers"][k] = d
    return out


def seed_training_timing(images, labels, test_images, test_labels, *, epochs: int = 3,
                         n_train: int = 500, batch_size: int = 50, lr: float = 0.1,
                         n_eval: int = 100, seed: int = 0, mode: str = "nearest") -> dict[str, Any]:
    """Train a fresh seed SpikingNet (seed optimiser: SGD lr 0.1, momentum 0.5) on ``n_train``
    images for ``epochs`` epochs, measuring the gradient-by-timing histograms on ``n_eval`` fixed
    test images at initialisation and after each epoch."""
    from hebbtorch.networks.seed import SpikingNet

    torch.manual_seed(seed)
    model = SpikingNet()
    g = torch.Generator().manual_seed(seed + 1)
    per_epoch = [seed_gradient_timing(model, test_images, test_labels, n_batches=1,
                                      batch_size=n_eval, seed=seed, mode=mode)]
    x_all = images[:n_train].float() / 255.0
    y_all = labels[:n_train].long()
    for epoch in range(epochs):
        opt = torch.optim.SGD(model.parameters(), lr=lr * (1.0, 0.5, 0.1)[min(epoch, 2)],
                              momentum=0.5)
        order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(seed + epoch))
        for i in range(0, len(y_all), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(x_all[idx], generator=g), y_all[idx]).backward()
            opt.step()
        per_epoch.append(seed_gradient_timing(model, test_images, test_labels, n_batches=1,
                                              batch_size=n_eval, seed=seed, mode=mode))
    return {"epochs": epochs, "n_train": n_train, "batch_size": batch_size, "per_epoch": per_epoch}


# ---------------------------------------------------------------------------- end to end
def _fits_only(study: dict[str, Any]) -> dict[str, Any]:
    return {group: {k: r["fit"] | {"max_abs_update": max(abs(v) for v in r["update"]),
                                   "attribution_max_abs_error": r["attribution_max_abs_error"]}
                    for k, r in study[group].items()}
            for group in ("windows", "ltd")}


def _seed_fits(res: dict[str, Any]) -> dict[str, Any]:
    return {name: {"fit_mean_update": d["fit_mean_update"], "fit_total_update":
                   d["fit_total_update"], "total_update": d["total_update"],
                   "no_post_update": d["no_post_update"], "no_post_count": d["no_post_count"],
                   "terms": int(sum(d["counts"]))}
            for name, d in res["layers"].items()}


def run_study(out, *, neurons=NEURONS, losses=LOSSES, base: ProtocolConfig = DEFAULT_PROTOCOL,
              rules: bool = True, protocol: bool = True, run_dir=None, n_batches: int = 3,
              batch_size: int = 100,
              epochs: int = 0, train_size: int = 500, dataset: str = "mnist-5k",
              mode: str = "nearest", seed: int = 0, log=print,
              data_root: str | None = None) -> dict[str, Any]:
    """Everything: protocol windows (+ LTD options, + the plasticity rules' windows), optionally
    a trained seed run (``run_dir``) and a short training with per-epoch histograms. Writes
    ``bptt_stdp.json`` (fitted parameters, checks), ``bptt_stdp_curves.json`` (all curves) and
    PNG figures into ``out``; returns the summary."""
    from pathlib import Path

    from hebbtorch.io import write_json
    from hebbtorch.viz.bptt_stdp import plot_epochs, plot_ltd, plot_protocol_grid, plot_seed_timing

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "dt_ms_per_step": DT_MS, "attribution_mode": mode,
        "protocol": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in base._asdict().items() if k not in ("neuron", "loss")},
        "normalisation": "each curve divided by its own max |value| over the Δt range",
        "reference_window": "exp(-Δt/16.8 ms) for Δt>0, -exp(Δt/33.7 ms) for Δt<0 "
                            "(unit amplitudes)",
        "figures": {},
    }
    curves: dict[str, Any] = {}
    if protocol:
        log(f"protocol windows: {len(neurons)} neurons x {len(losses)} losses (+ LTD options)")
        study = protocol_study(neurons, losses, base)
        curves["protocol"] = study
        summary["protocol_fits"] = _fits_only(study)
        rule_w = None
        if rules:
            log("plasticity rules on the same Δt grid (60 pairings at 1 Hz)")
            rule_w = stdp_rule_windows(list(base.dts))
            curves["rules"] = rule_w
            summary["rule_fits"] = {k: fit_window(base.dts, v["dw"]) | {"params": v["params"]}
                                    for k, v in rule_w.items()}
            ref = {k: np.asarray(v["dw"]) for k, v in rule_w.items()}
            for k, r in study["windows"].items():
                summary["protocol_fits"]["windows"][k]["pearson_rules"] = {
                    name: _pearson(r["update"], w) for name, w in ref.items()}
        plot_protocol_grid(study, rule_w, out / "bptt_stdp_protocol.png")
        summary["figures"]["protocol"] = "bptt_stdp_protocol.png"
        if study["ltd"]:
            plot_ltd(study, out / "bptt_stdp_ltd.png")
            summary["figures"]["ltd"] = "bptt_stdp_ltd.png"
    if run_dir is not None:
        from hebbtorch.learning.bptt import load_split, load_trained

        log(f"trained run {run_dir}: {n_batches} test batches of {batch_size}")
        model, cfg = load_trained(run_dir)
        images, labels = load_split(cfg, "test")
        res = seed_gradient_timing(model, images, labels, n_batches=n_batches,
                                   batch_size=batch_size, seed=seed, mode=mode)
        res["run"] = str(run_dir)
        res["model"] = cfg.model
        res["dataset"] = cfg.dataset
        curves["run"] = res
        summary["run"] = {"run": str(run_dir), "model": cfg.model, "dataset": cfg.dataset,
                          "n_images": res["n_images"], "batch_checks": res["batch_checks"],
                          "layers": _seed_fits(res)}
        plot_seed_timing(res, out / "bptt_stdp_run.png", title=cfg.model)
        summary["figures"]["run"] = "bptt_stdp_run.png"
    if epochs > 0:
        from hebbtorch.data import load_dataset

        log(f"training a fresh seed net on {train_size} {dataset} images for {epochs} epochs")
        tr = load_dataset(dataset, "train", root=data_root)
        te = load_dataset(dataset, "test", root=data_root)
        res = seed_training_timing(tr.images, tr.labels, te.images, te.labels, epochs=epochs,
                                   n_train=train_size, seed=seed, mode=mode)
        curves["epochs"] = res
        summary["epochs"] = [{"epoch": e, "layers": _seed_fits(r),
                              "loss": [c["loss"] for c in r["batch_checks"]]}
                             for e, r in enumerate(res["per_epoch"])]
        plot_epochs(res, out / "bptt_stdp_epochs.png")
        summary["figures"]["epochs"] = "bptt_stdp_epochs.png"
    write_json(out / "bptt_stdp.json", summary)
    write_json(out / "bptt_stdp_curves.json", curves)
    return summary


def _pearson(a, b) -> float | None:
    from hebbtorch.studies.stdp_fit import pearson

    return pearson(a, b)
