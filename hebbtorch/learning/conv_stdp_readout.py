"""Linear readouts on frozen conv-STDP features (supervised; the features stay unsupervised).

* :func:`fit_readout_lbfgs` -- full batch, L-BFGS: multinomial logistic regression (the
  default) or a one-vs-rest linear SVM with the squared hinge (Kheradpisheh et al. 2018 read
  out with a linear SVM: SpykeTorch's KheradpishehDeep.py fits ``sklearn.svm.LinearSVC``,
  whose default loss is this squared hinge).
* :func:`fit_readout` -- the minibatch AdamW form of the logistic regression.
* :func:`standardize` -- features to mean 0, sd 1 over the fitting images.
* :func:`shift_images` -- zero-filled pixel shifts (the readout's optional augmentation).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from hebbtorch.errors import HebbtorchError

LOSSES = ("logistic", "squared_hinge")


class Readout(NamedTuple):
    """Linear classifier on frozen features: ``W [features, classes]``, ``b [classes]``."""

    weight: torch.Tensor
    bias: torch.Tensor

    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats.float() @ self.weight + self.bias).argmax(1)


def accuracy(readout: Readout, feats: torch.Tensor, labels: torch.Tensor) -> float:
    return float((readout.predict(feats) == labels.long()).float().mean())


def fit_readout(
    feats: torch.Tensor, labels: torch.Tensor, *, epochs: int = 50, lr: float = 5e-3,
    weight_decay: float = 1e-4, batch_size: int = 256, seed: int = 0,
) -> Readout:
    """Multinomial logistic regression by AdamW on minibatches (features may be bool)."""
    _check_xy(feats, labels)
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


def readout_loss(scores: torch.Tensor, labels: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean over images of the data term. ``logistic``: softmax cross-entropy.
    ``squared_hinge``: one-vs-rest, sum over classes c of max(0, 1 - y_c s_c)^2 with
    y_c = +1 for the image's class and -1 otherwise."""
    if loss == "logistic":
        return F.cross_entropy(scores, labels)
    y = F.one_hot(labels, scores.shape[1]).to(scores.dtype) * 2 - 1
    return (1 - y * scores).clamp_min(0).square().sum(1).mean()


def fit_readout_lbfgs(feats: torch.Tensor, labels: torch.Tensor, *, l2: float = 1e-4,
                      max_iter: int = 100, loss: str = "logistic") -> Readout:
    """Full-batch fit minimising ``readout_loss`` + ``l2 / 2 * |W|^2`` (bias not penalised)
    by L-BFGS (strong-Wolfe line search, history 20) from zero weights; deterministic.
    ``squared_hinge`` is LinearSVC's primal objective ``|w|^2 / 2 + C sum_i hinge_i^2`` per
    class divided by ``C N``, i.e. ``l2 = 1 / (C N)`` (LinearSVC also penalises its
    intercept; here the bias is free). The weights are held ``[classes, features]`` so the
    gradient is ``g^T x`` over the rows of ``x``: with ``[features, classes]`` weights it
    would be ``x^T g``, many times slower on one CPU thread."""
    _check_xy(feats, labels)
    if loss not in LOSSES:
        raise HebbtorchError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not l2 >= 0:
        raise HebbtorchError(f"l2 must be >= 0, got {l2}")
    x, y = feats.float(), labels.long()
    w = torch.zeros(int(y.max()) + 1, x.shape[1], requires_grad=True)
    b = torch.zeros(w.shape[0], requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-6)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = readout_loss(F.linear(x, w, b), y, loss) + 0.5 * l2 * (w * w).sum()
        value.backward()
        return value

    with torch.enable_grad():
        opt.step(closure)
    return Readout(w.detach().t(), b.detach())


def _check_xy(feats: torch.Tensor, labels: torch.Tensor) -> None:
    if feats.shape[0] != labels.shape[0] or feats.shape[0] == 0:
        raise HebbtorchError(
            f"features ({feats.shape[0]}) and labels ({labels.shape[0]}) must match and be > 0")


def standardize(f_fit: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Features scaled to mean 0, sd 1 over ``f_fit`` (constant features: sd taken as 1).
    Each result is one new float32 tensor (no float copy of the input besides it, so a
    60,000 x 12,150 set of bool features needs its 2.9 GB once)."""
    out = [torch.empty(f.shape, dtype=torch.float32).copy_(f) for f in (f_fit, *others)]
    mu, sd = out[0].mean(0), out[0].std(0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    for z in out:
        z.sub_(mu).div_(sd)
    return out


def shift_images(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Images ``[N, H, W]`` moved by ``dy`` rows and ``dx`` columns, the vacated border
    filled with zeros (background)."""
    h, w = images.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        raise HebbtorchError(f"shift ({dy}, {dx}) must be smaller than the image ({h}x{w})")
    out = torch.zeros_like(images)
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def pixel_shifts(distance: int) -> tuple[tuple[int, int], ...]:
    """The four shifts by ``distance`` pixels along one axis (none for 0)."""
    if int(distance) < 0:
        raise HebbtorchError(f"shift distance must be >= 0, got {distance}")
    d = int(distance)
    return ((0, d), (0, -d), (d, 0), (-d, 0)) if d else ()
