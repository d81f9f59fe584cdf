"""Difference-of-Gaussians (DoG) on/off filters and rank-order latency bins for convolutional STDP.

The input stage of Kheradpisheh et al. (2018, Neural Networks 99:56, sec. 2.1) as implemented in
SpykeTorch (Mozafari et al. 2019, ``utils.DoGKernel``, ``utils.Filter``,
``functional.local_normalization``, ``utils.Intensity2Latency``): an image is convolved with
on-centre (sigma1 < sigma2) and off-centre (sigma1 > sigma2) DoG kernels, responses below a
threshold are dropped, each channel is divided by its local mean, and the surviving values are
sorted and cut into ``T`` bins of equal count: the strongest bin spikes at step 0, the next at
step 1, ... (each input spikes at most once; the spike persists -- SpykeTorch's "cumulative"
spike waves -- so an input's spike train is ``t >= t_first``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from hebbtorch.checks import check_range
from hebbtorch.encoding._checks import check_intensity, check_steps
from hebbtorch.errors import HebbtorchError


class DoGParameters(NamedTuple):
    """``kernels``: (window size, sigma1, sigma2) per output channel (pixels); sigma1 < sigma2
    is on-centre, sigma1 > sigma2 off-centre. Defaults: SpykeTorch's KheradpishehDeep.py MNIST
    set, one 7x7 on/off pair with sigmas 1 and 2. ``threshold``: responses below it are zeroed,
    on the 0..255 intensity scale the kernels were tuned for (50 in KheradpishehDeep.py).
    ``norm_radius``: local-mean normalisation window radius (8 there; 0 disables it)."""

    kernels: tuple[tuple[int, float, float], ...] = ((7, 1.0, 2.0), (7, 2.0, 1.0))
    threshold: float = 50.0
    norm_radius: int = 8


def dog_kernel(size: int, sigma1: float, sigma2: float) -> torch.Tensor:
    """One ``[size, size]`` DoG kernel: ``G(sigma1) - G(sigma2)`` with ``G = exp(-r^2 / 2s^2) /
    (2 pi s^2)``, then zero mean over the window and scaled to a maximum of 1 (SpykeTorch)."""
    if int(size) != size or size < 1 or size % 2 == 0:
        raise HebbtorchError(f"DoG window size must be an odd integer >= 1, got {size!r}")
    check_range("sigma1", sigma1, 0.0, low_open=True)
    check_range("sigma2", sigma2, 0.0, low_open=True)
    if sigma1 == sigma2:
        raise HebbtorchError(f"sigma1 and sigma2 must differ (both {sigma1:g})")
    w = int(size) // 2
    r = torch.arange(-w, w + 1, dtype=torch.float64)
    r2 = r.view(-1, 1) ** 2 + r.view(1, -1) ** 2
    g = [torch.exp(-0.5 * r2 / s ** 2) / s ** 2 for s in (sigma1, sigma2)]
    dog = (g[0] - g[1]) / (2 * math.pi)
    dog = dog - dog.mean()
    return (dog / dog.max()).float()


def dog_bank(p: DoGParameters) -> torch.Tensor:
    """The kernels of ``p`` stacked as a conv weight ``[C, 1, k, k]`` (smaller ones zero-padded
    to the largest window)."""
    if not p.kernels:
        raise HebbtorchError("DoGParameters.kernels is empty")
    ks = [dog_kernel(*k) for k in p.kernels]
    big = max(k.shape[-1] for k in ks)
    ks = [F.pad(k, [(big - k.shape[-1]) // 2] * 4) for k in ks]
    return torch.stack(ks).unsqueeze(1)


def dog_filter(images: torch.Tensor, p: DoGParameters | None = None) -> torch.Tensor:
    """On/off filtered intensities ``[batch, C, H, W]`` (>= 0) from images ``[batch, H, W]`` in
    [0, 1] (uint8 images are divided by 255). Same-size output (zero padding)."""
    p = p or DoGParameters()
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    images = check_intensity("images", images, min_dim=3)
    if images.dim() != 3:
        raise HebbtorchError(f"images must be [batch, H, W], got shape {tuple(images.shape)}")
    check_range("DoG threshold", p.threshold, 0.0)
    bank = dog_bank(p).to(images)
    out = F.conv2d(255.0 * images.unsqueeze(1), bank, padding=bank.shape[-1] // 2)
    out = torch.where(out < p.threshold, torch.zeros_like(out), out)
    if p.norm_radius > 0:  # divide by the local mean (SpykeTorch local_normalization)
        n = 2 * int(p.norm_radius) + 1
        b, c, h, w = out.shape
        mean = F.avg_pool2d(out.reshape(b * c, 1, h, w), n, stride=1, padding=n // 2,
                            count_include_pad=True).reshape(b, c, h, w)
        out = out / (mean + 1e-12)
    return out


def latency_bins(x: torch.Tensor, num_steps: int) -> torch.Tensor:
    """First-spike step ``[batch, ...]`` (float; ``inf`` = never) of each positive value of ``x``
    ``[batch, ...]``: per image the positive values are ranked (largest first) and cut into
    ``num_steps`` bins of ``n_pos // num_steps`` values each (at least 1); the ``n_pos %
    num_steps`` weakest and all zeros never spike (SpykeTorch ``Intensity2Latency``). Ties keep
    the order of ``torch.sort`` (stable)."""
    steps = check_steps(num_steps)
    if x.dim() < 2:
        raise HebbtorchError(f"x must be [batch, ...], got shape {tuple(x.shape)}")
    flat = x.flatten(1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(flat.shape[1], device=x.device).expand_as(order))
    n_pos = (flat > 0).sum(1, keepdim=True)
    bin_size = (n_pos // steps).clamp_min(1)
    t = torch.div(rank, bin_size, rounding_mode="floor").to(flat.dtype)
    fires = (flat > 0) & (t < steps)
    return torch.where(fires, t, torch.full_like(t, math.inf)).view(x.shape)


def spike_wave(t_first: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Cumulative spike frames ``[T, batch, ...]``: 1 from the first-spike step on."""
    steps = torch.arange(check_steps(num_steps), device=t_first.device, dtype=t_first.dtype)
    return (t_first.unsqueeze(0) <= steps.view(-1, *([1] * t_first.dim()))).to(t_first.dtype)
