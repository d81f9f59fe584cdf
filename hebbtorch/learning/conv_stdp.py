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
    feats: torch.Tensor, labels: torch.Tensor, *, epochs: int = 30, lr: float = 1e-3,
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
