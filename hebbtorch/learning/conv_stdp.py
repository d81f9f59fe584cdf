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

Readout: multinomial logistic regression (a torch linear layer, softmax cross-entropy,
AdamW) on the frozen binary features -- the paper used a linear SVM; both are linear
classifiers on the same features.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.networks.conv_stdp import ConvSTDPNet, first_spike_step, k_winners
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
    reduce: str = "sum",
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """One pass of ``images`` ``[N, H, W]`` training layer ``layer`` (0-based) in place.
    ``n_seen``: images this layer has already learned (continues the rate schedule).
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
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, images.shape[0], batch_size):
            wave = net.encode(images[i:i + batch_size])
            x, kept = net.layer_io(wave, layer, inhibit=inhibit)
            win = k_winners(kept, k, lp.radius if inhibit else 0)
            ap, am = schedule.rates(n_seen + i)
            dw = conv_winner_update(w.data, first_spike_step(x), first_spike_step(kept > 0),
                                    win, ap, am, reduce)
            w.data.add_(dw).clamp_(0.0, 1.0)
            if progress is not None:
                progress(min(batch_size, images.shape[0] - i))
    wd = w.data
    return {"images": int(images.shape[0]), "seconds": time.perf_counter() - t0,
            "convergence": float((wd * (1 - wd)).mean())}


class Readout(NamedTuple):
    """Linear classifier on frozen features: ``W [features, classes]``, ``b [classes]``."""

    weight: torch.Tensor
    bias: torch.Tensor

    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats.float() @ self.weight + self.bias).argmax(1)


def fit_readout(
    feats: torch.Tensor, labels: torch.Tensor, *, epochs: int = 50, lr: float = 5e-3,
    weight_decay: float = 1e-4, batch_size: int = 256, seed: int = 0,
) -> Readout:
    """Multinomial logistic regression by Adam on minibatches (features may be bool)."""
    if feats.shape[0] != labels.shape[0] or feats.shape[0] == 0:
        raise HebbtorchError(
            f"features ({feats.shape[0]}) and labels ({labels.shape[0]}) must match and be > 0")
    g = torch.Generator().manual_seed(seed)
    n_cls = int(labels.max()) + 1
    lin = torch.nn.Linear(feats.shape[1], n_cls)
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.AdamW(lin.parameters(), lr=lr, weight_decay=weight_decay)
    labels = labels.long()
    for _ in range(epochs):
        perm = torch.randperm(feats.shape[0], generator=g)
        for j in range(0, feats.shape[0], batch_size):
            idx = perm[j:j + batch_size]
            loss = F.cross_entropy(lin(feats[idx].float()), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return Readout(lin.weight.detach().t().contiguous(), lin.bias.detach())


def accuracy(readout: Readout, feats: torch.Tensor, labels: torch.Tensor) -> float:
    return float((readout.predict(feats) == labels.long()).float().mean())


class ConvSTDPConfig(NamedTuple):
    """One experiment: learn the kernels on ``layer_images`` training images per layer (a
    random subset, the same for every layer), then fit the readout on the features of the
    first ``readout_images`` training images (None: all) and test on the test split.
    ``learn=False`` keeps the random initial kernels (the baseline). ``features``: readouts to fit,
    each on its own: ``spikes`` (binary: which pooled last-layer units fire), ``potential``
    (their pooled potentials at the end of the window, divided by their standard deviation over
    the training features)."""

    dataset: str = "mnist-5k"
    seed: int = 0
    layer_images: tuple[int, ...] = (1000, 2000)
    batch_size: int = 8
    schedule: STDPSchedule = STDPSchedule(double_every=100)
    inhibit: bool = True
    learn: bool = True
    readout_images: int | None = None
    readout_epochs: int = 50
    features: tuple[str, ...] = ("spikes", "potential")


def run_experiment(net: ConvSTDPNet, cfg: ConvSTDPConfig, train, test) -> dict:
    """Train ``net`` as ``cfg`` says on ``train`` (an ImageDataset), read out, test. Returns the
    numbers (accuracies in %, seconds wall and process CPU per stage)."""
    if len(cfg.layer_images) != len(net.p.layers):
        raise HebbtorchError(
            f"layer_images has {len(cfg.layer_images)} entries for {len(net.p.layers)} layers")
    g = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(train.images.shape[0], generator=g)
    out: dict = {"layers": []}
    for i, n in enumerate(cfg.layer_images):
        c0 = time.process_time()
        if cfg.learn and n > 0:
            st = train_layer(net, i, train.images[perm[:n]], batch_size=cfg.batch_size,
                             schedule=cfg.schedule, inhibit=cfg.inhibit)
        else:
            st = {"images": 0, "seconds": 0.0,
                  "convergence": float((net.weights[i] * (1 - net.weights[i])).mean())}
        st["cpu_seconds"] = time.process_time() - c0
        out["layers"].append(st)
    n_ro = train.images.shape[0] if cfg.readout_images is None else cfg.readout_images
    out["readouts"] = {}
    for kind in cfg.features:
        out["readouts"][kind] = _readout(net, kind, cfg, train, test, n_ro)
    return out


def _readout(net: ConvSTDPNet, kind: str, cfg: ConvSTDPConfig, train, test, n_ro: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    f_tr = net.features(train.images[:n_ro], output=kind).cpu()
    f_te = net.features(test.images, output=kind).cpu()
    if kind == "potential":  # one scale for all features, from the training set
        scale = float(f_tr.std()) or 1.0
        f_tr, f_te = f_tr / scale, f_te / scale
    r: dict = {"dim": int(f_tr.shape[1]), "active": float((f_tr > 0).float().mean()),
               "images": int(n_ro), "features_seconds": time.perf_counter() - t0,
               "features_cpu_seconds": time.process_time() - c0}
    t0, c0 = time.perf_counter(), time.process_time()
    ro = fit_readout(f_tr, train.labels[:n_ro], epochs=cfg.readout_epochs, seed=cfg.seed)
    r.update(fit_seconds=time.perf_counter() - t0, fit_cpu_seconds=time.process_time() - c0,
             train_accuracy=100 * accuracy(ro, f_tr, train.labels[:n_ro]),
             test_accuracy=100 * accuracy(ro, f_te, test.labels))
    return r
