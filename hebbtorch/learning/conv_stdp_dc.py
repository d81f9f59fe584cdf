"""The all-spiking readout of conv-STDP features: a Diehl & Cook (2015) layer learns, by its own
STDP, on the pooled spikes of a trained :class:`~hebbtorch.networks.conv_stdp.ConvSTDPNet`, and
is read out by its usual vote (each neuron labelled by the class it answers most; Diehl & Cook
2015, sec. 2.4). No gradient and no fitted classifier anywhere.

Interface: :class:`~hebbtorch.networks.diehl_cook.DiehlCookNetwork` takes 784 Poisson inputs of
rate ``pixel / 4`` Hz (pixel in 0..255). The conv features (``C`` maps x ``H x W`` pooled binary
spikes of the last layer) are average-pooled to ``C x 2 x 2`` (the fraction of firing units per
quadrant of each map), scaled so that the mean summed input equals the mean summed pixel value of
the training images (the input drive the network's constants were tuned for), and zero-padded to
784 inputs (a silent input never spikes, so padding changes nothing). ``C x 4`` must be <= 784.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.unsupervised import respond
from hebbtorch.networks.conv_stdp import ConvSTDPNet
from hebbtorch.networks.diehl_cook import N_INPUT, DiehlCookNetwork
from hebbtorch.networks.readout import assign_labels, predict_all_activity, predict_proportion


def dc_inputs(net: ConvSTDPNet, images: torch.Tensor) -> torch.Tensor:
    """Per-quadrant firing fraction ``[N, C * 4]`` (in [0, 1]) of the last layer's pooled
    spikes (module docstring)."""
    c = net.p.layers[-1].out_channels
    if 4 * c > N_INPUT:
        raise HebbtorchError(f"{c} maps x 4 quadrants exceed the Diehl & Cook layer's "
                             f"{N_INPUT} inputs")
    f = net.features(images).float()
    side = int(round((f.shape[1] // c) ** 0.5))
    return F.adaptive_avg_pool2d(f.view(-1, c, side, side), 2).flatten(1)


def to_pixels(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Inputs ``[N, k]`` as 0..255 "pixels" ``[N, 784]``: times ``scale``, clipped, zero-padded."""
    return F.pad((x * scale).clamp(0.0, 255.0), (0, N_INPUT - x.shape[1]))


def conv_dc_experiment(net: ConvSTDPNet, train, test, *, neurons: int = 100,
                       images: int | None = None, seed: int = 0,
                       eval_batch: int = 50) -> dict:
    """One epoch (``images`` training images, default all, in a seeded random order) of a
    Diehl & Cook layer of ``neurons`` on the features of ``net`` (frozen), exact online
    learning with the original rule; then the neurons are labelled on the training images and
    the test split is classified by vote. Returns accuracies (%) and times."""
    g = torch.Generator().manual_seed(seed)
    n = train.images.shape[0] if images is None else min(images, train.images.shape[0])
    order = torch.randperm(train.images.shape[0], generator=g)[:n]
    t0 = time.perf_counter()
    x_tr, x_te = dc_inputs(net, train.images), dc_inputs(net, test.images)
    scale = float(train.images.float().flatten(1).sum(1).mean() / x_tr.sum(1).mean())
    p_tr, p_te = to_pixels(x_tr, scale), to_pixels(x_te, scale)
    t_feat = time.perf_counter() - t0
    dc = DiehlCookNetwork(neurons, generator=g)
    t0 = time.perf_counter()
    for k, i in enumerate(order.tolist()):
        dc.present(p_tr[i:i + 1], learn=True, seed=seed * 1_000_003 + k)
    t_train = time.perf_counter() - t0
    ev = DiehlCookNetwork(neurons, batch=eval_batch, w_init=dc.weight)
    ev.theta.copy_(dc.theta)
    t0 = time.perf_counter()
    r_lab = respond(ev, p_tr, seed=seed * 7_919 + 1)
    assignments, proportions = assign_labels(r_lab, train.labels.long())
    r_te = respond(ev, p_te, seed=seed * 7_919 + 2)
    y = test.labels.long()
    return {
        "neurons": neurons, "images": n, "inputs": int(x_tr.shape[1]), "input_scale": scale,
        "all_activity": 100 * float((predict_all_activity(r_te, assignments) == y).float().mean()),
        "proportion": 100 * float(
            (predict_proportion(r_te, assignments, proportions) == y).float().mean()),
        "features_seconds": t_feat, "train_seconds": t_train,
        "eval_seconds": time.perf_counter() - t0,
    }
