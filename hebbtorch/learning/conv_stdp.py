"""Layer-wise STDP training of :class:`~hebbtorch.networks.conv_stdp.ConvSTDPNet` and a linear
readout on its frozen spike features (Kheradpisheh et al. 2018, sec. 2.4-2.5).

Training: layer by layer, the lower layers frozen; each image is encoded, run to the layer being
trained with pointwise inhibition, its k winners picked, and eq. 3 applied at the winners
(:func:`~hebbtorch.plasticity.rules.kheradpisheh.conv_winner_update`). Winners are chosen per
image, so images are independent within a batch; a batch of ``B`` images applies the sum of
the per-image updates, all computed from the batch's starting weights (online learning to
first order in the rate; ``B = 1`` is SpykeTorch's online order; ``reduce="mean"`` averages a
map's updates over the images where it won instead). The learning rate follows SpykeTorch's
KheradpishehDeep.py: a_plus starts at 0.004 and doubles every 500 images up to 0.15, a_minus =
0.75 a_plus (``STDPSchedule``).

Readout (:mod:`~hebbtorch.learning.conv_stdp_readout`): a linear classifier on the frozen,
standardised features -- multinomial logistic regression (default) or a one-vs-rest squared-hinge
linear SVM, fitted full-batch by L-BFGS, the L2 penalty picked on a validation part of the
training images; optionally fitted also on the features of the fitting images shifted by a pixel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import torch

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.conv_stdp_readout import (
    LOSSES,
    accuracy,
    fit_readout_lbfgs,
    pixel_shifts,
    shift_images,
    standardize,
)
from hebbtorch.networks.conv_stdp import ConvSTDPNet, first_spike_step, k_winners
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import PlasticityRule, WeightBounds
from hebbtorch.plasticity.learner import Learner
from hebbtorch.plasticity.rules.kheradpisheh import conv_winner_update


class STDPSchedule(NamedTuple):
    """a_plus(n) = min(a_plus * 2^floor((n + 1) / double_every), a_plus_max) after n images;
    a_minus = ratio * a_plus (SpykeTorch KheradpishehDeep.py: 0.004, 500, 0.15, 0.75)."""

    a_plus: float = 0.004
    ratio: float = 0.75
    double_every: int = 500
    a_plus_max: float = 0.15

    def rates(self, n_seen: int) -> tuple[float, float]:
        ap = min(self.a_plus * 2.0 ** ((n_seen + 1) // self.double_every), self.a_plus_max)
        return ap, self.ratio * ap


def train_layer(
    net: ConvSTDPNet, layer: int, images: torch.Tensor, *, batch_size: int = 1,
    schedule: STDPSchedule | None = None, inhibit: bool = True, n_seen: int = 0,
    reduce: str = "sum", rule: PlasticityRule | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """One pass of ``images`` ``[N, H, W]`` training layer ``layer`` (0-based) in place.
    ``n_seen``: images this layer has already learned (continues the rate schedule).
    ``rule``: None is Kheradpisheh's eq. 3 (:func:`conv_winner_update`, with ``schedule``);
    an engine rule (e.g. ``plasticity.registry.make("pair")``) learns at the same k-WTA
    winners through :class:`~hebbtorch.plasticity.learner.Learner` (:func:`engine_winner_step`;
    its own fixed rates, ``schedule`` and ``reduce`` unused).
    Returns ``{"images", "seconds", "convergence"}`` where convergence is Kheradpisheh's
    ``C_l = mean w (1 - w)`` of the layer's kernels (-> 0 as weights saturate)."""
    if not 0 <= layer < len(net.p.layers):
        raise HebbtorchError(f"layer must be in 0..{len(net.p.layers) - 1}, got {layer}")
    if int(batch_size) < 1:
        raise HebbtorchError(f"batch_size must be >= 1, got {batch_size}")
    schedule = schedule or STDPSchedule()
    check_range("a_plus", schedule.a_plus, 0.0)
    lp, w = net.p.layers[layer], net.weights[layer]
    k = lp.k
    learner = None if rule is None else winner_learner(w, rule)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            wave = net.encode(images[i:i + batch_size])
            x, kept = net.layer_io(wave, layer, inhibit=inhibit)
            win = k_winners(kept, k, lp.radius if inhibit else 0)
            if learner is not None:
                engine_winner_step(learner, x, kept, win)
                if progress is not None:
                    progress(min(batch_size, images.shape[0] - i))
                continue
            ap, am = schedule.rates(n_seen + i)
            dw = conv_winner_update(w.data, first_spike_step(x), first_spike_step(kept > 0),
                                    win, ap, am, reduce)
            w.data.add_(dw).clamp_(0.0, 1.0)
            if progress is not None:
                progress(min(batch_size, images.shape[0] - i))
    wd = w.data
    return {"images": int(images.shape[0]), "seconds": time.perf_counter() - t0,
            "convergence": float((wd * (1 - wd)).mean())}


def winner_learner(weight: torch.nn.Parameter, rule: PlasticityRule) -> Learner:
    """A :class:`Learner` running ``rule`` on an ``nn.Conv2d`` that shares ``weight`` (no
    padding: :meth:`ConvSTDPNet.layer_io` hands over padded input), bounds [0, 1] additive."""
    c_out, c_in, kh, kw = weight.shape
    conv = torch.nn.Conv2d(c_in, c_out, (kh, kw), bias=False)
    conv.weight = weight
    return Learner(conv, rule, post=torch.nn.Identity(), dt=1.0,
                   bounds=WeightBounds(0.0, 1.0, "additive"))


def engine_winner_step(learner: Learner, x: torch.Tensor, kept: torch.Tensor,
                       winners: torch.Tensor) -> None:
    """Winners-only learning by an engine rule: the presynaptic spikes are the input's first
    spikes (one event per input at its latency step, as the rule's traces expect, not the
    cumulative wave), the postsynaptic ones a single spike per winner at its first-spike step
    and none elsewhere, so the Learner's weight-shared fold (a sum over output positions)
    reduces to the winners' receptive fields. One :meth:`Learner.learn` per image (online order,
    each from the weight left by the previous image; time step = one latency bin, dt 1 ms).
    ``x``: cumulative input frames ``[T, B, C_in, H, W]`` (padded), ``kept``: thresholded
    potentials ``[T, B, C_out, H', W']``, ``winners``: ``[B, k, 3]``."""
    pre = torch.cat([x[:1], x[1:] - x[:-1]]).clamp_min(0.0)
    t_post = first_spike_step((kept > 0).to(kept.dtype)).long()
    post = torch.zeros_like(kept)
    for b in range(x.shape[1]):
        f, r, c = winners[b][winners[b, :, 0] >= 0].unbind(1)
        post[t_post[b, f, r, c], b, f, r, c] = 1.0
        learner.learn(pre[:, b:b + 1], post[:, b:b + 1])


class ConvSTDPConfig(NamedTuple):
    """One experiment: learn the kernels on ``layer_images`` training images per layer (a
    random subset, the same for every layer; more than the split cycles through it), then fit
    the readout on the features of ``readout_images`` training images (None: all) and test on
    the test split. ``learn=False`` keeps the random initial kernels (the baseline). ``rule``:
    None is Kheradpisheh's eq. 3; a registry name (``pair``, ``triplet``, ...) learns through
    the engine's Learner at the same winners. ``features``: readouts to fit, each on its own:
    ``spikes`` (binary: which pooled last-layer units fire within the window), ``potential``
    (their pooled potentials at the end of the window). Each feature is standardised (mean 0,
    sd 1 over the readout's training images); the L2 penalty is picked from ``l2_grid`` by
    accuracy on a validation part (``val_fraction`` of the readout images, never the test
    split), then the readout is refitted on all readout images with it (a one-value grid is
    fitted once, on all readout images, with no validation part). ``readout_loss``:
    ``logistic`` or ``squared_hinge`` (:func:`fit_readout_lbfgs`). ``readout_shift``: d > 0
    adds to the readout's fitting set the features of its images shifted by d pixels up,
    down, left and right (5x the fitting rows; validation images are never shifted); 0: none."""

    dataset: str = "mnist-5k"
    seed: int = 0
    layer_images: tuple[int, ...] = (2000, 2000)
    batch_size: int = 8
    schedule: STDPSchedule = STDPSchedule(double_every=100)
    inhibit: bool = True
    learn: bool = True
    rule: str | None = None
    readout_images: int | None = None
    features: tuple[str, ...] = ("spikes", "potential")
    l2_grid: tuple[float, ...] = (1e-4, 1e-2)
    val_fraction: float = 0.2
    readout_iter: int = 50
    readout_loss: str = "logistic"
    readout_shift: int = 1


def run_experiment(net: ConvSTDPNet, cfg: ConvSTDPConfig, train, test) -> dict:
    """Train ``net`` as ``cfg`` says on ``train`` (an ImageDataset), read out, test. Returns the
    numbers (accuracies in %, seconds wall and process CPU per stage)."""
    if len(cfg.layer_images) != len(net.p.layers):
        raise HebbtorchError(
            f"layer_images has {len(cfg.layer_images)} entries for {len(net.p.layers)} layers")
    check_range("val_fraction", cfg.val_fraction, 0.0, 1.0, low_open=True, high_open=True)
    if cfg.readout_loss not in LOSSES:
        raise HebbtorchError(f"readout_loss must be one of {LOSSES}, got {cfg.readout_loss!r}")
    pixel_shifts(cfg.readout_shift)  # checks the distance before any learning
    rule = None if cfg.rule is None else registry.make(cfg.rule)
    g = torch.Generator().manual_seed(cfg.seed)
    n_train = train.images.shape[0]
    perm = torch.randperm(n_train, generator=g)
    out: dict = {"layers": []}
    for i, n in enumerate(cfg.layer_images):
        c0 = time.process_time()
        if cfg.learn and n > 0:
            idx = perm[torch.arange(n) % n_train]
            st = train_layer(net, i, train.images[idx], batch_size=cfg.batch_size,
                             schedule=cfg.schedule, inhibit=cfg.inhibit, rule=rule)
        else:
            st = {"images": 0, "seconds": 0.0,
                  "convergence": float((net.weights[i] * (1 - net.weights[i])).mean())}
        st["cpu_seconds"] = time.process_time() - c0
        out["layers"].append(st)
    n_ro = n_train if cfg.readout_images is None else min(cfg.readout_images, n_train)
    ro_idx = perm[:n_ro]  # a random subset when readout_images < the split
    out["readouts"] = {}
    for kind in cfg.features:
        out["readouts"][kind] = _readout(net, kind, cfg, train, test, ro_idx)
    return out


def _readout(net: ConvSTDPNet, kind: str, cfg: ConvSTDPConfig, train, test,
             ro_idx: torch.Tensor) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    imgs = train.images[ro_idx]
    f_tr = net.features(imgs, output=kind).cpu()
    f_te = net.features(test.images, output=kind).cpu()
    # one [N, n] per shift; row i is image ro_idx[i] moved by that shift
    f_sh = [net.features(shift_images(imgs, dy, dx), output=kind).cpu()
            for dy, dx in pixel_shifts(cfg.readout_shift)]
    y_tr = train.labels[ro_idx].long()
    copies = 1 + len(f_sh)  # fitting rows per readout image
    r: dict = {"dim": int(f_tr.shape[1]), "active": float((f_tr > 0).float().mean()),
               "images": int(len(ro_idx)), "shift": cfg.readout_shift,
               "fit_rows": int(len(ro_idx)) * copies, "loss": cfg.readout_loss,
               "features_seconds": time.perf_counter() - t0,
               "features_cpu_seconds": time.process_time() - c0}
    t0, c0 = time.perf_counter(), time.process_time()
    n_val, val, best = 0, {}, cfg.l2_grid[0]  # one candidate: nothing to choose, no validation
    if len(cfg.l2_grid) > 1:
        n_val = max(1, int(round(cfg.val_fraction * len(ro_idx))))
        z_fit, z_val = _standardized(f_tr, f_sh, slice(n_val, None), f_tr[:n_val])
        for l2 in cfg.l2_grid:
            ro = fit_readout_lbfgs(z_fit, y_tr[n_val:].repeat(copies), l2=l2,
                                   max_iter=cfg.readout_iter, loss=cfg.readout_loss)
            val[str(l2)] = 100 * accuracy(ro, z_val, y_tr[:n_val])
        del z_fit, z_val
        best = max(cfg.l2_grid, key=lambda v: val[str(v)])  # ties: the first in the grid
    z_tr, z_te = _standardized(f_tr, f_sh, slice(None), f_te)
    del f_sh
    ro = fit_readout_lbfgs(z_tr, y_tr.repeat(copies), l2=best, max_iter=cfg.readout_iter,
                           loss=cfg.readout_loss)
    r.update(fit_seconds=time.perf_counter() - t0, fit_cpu_seconds=time.process_time() - c0,
             validation_images=n_val, validation_accuracy=val, l2=best,
             train_accuracy=100 * accuracy(ro, z_tr[:len(y_tr)], y_tr),
             test_accuracy=100 * accuracy(ro, z_te, test.labels))
    return r


def _standardized(f: torch.Tensor, f_sh: list[torch.Tensor], rows: slice,
                  other: torch.Tensor) -> list[torch.Tensor]:
    """The fitting rows (the images ``rows`` of ``f``, then of each shifted copy) and
    ``other``, standardised over the fitting rows."""
    fit = torch.cat([f[rows], *(s[rows] for s in f_sh)]) if f_sh else f[rows]
    return standardize(fit, other)
