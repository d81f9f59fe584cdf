"""Convolutional spiking network with at most one spike per neuron (Kheradpisheh et al. 2018).

Kheradpisheh, Ganjtabesh, Thorpe & Masquelier (2018), Neural Networks 99:56, sec. 2; the
layer sizes and the exact operators follow SpykeTorch (Mozafari et al. 2019, Front. Neurosci.
13:625; ``functional.fire``, ``pointwise_inhibition``, ``get_k_winners`` and the network of
``KheradpishehDeep.py``). Time is ``T`` discrete steps of one rank-order latency bin each (no
ms: the code is a spike *order*); every spike persists once emitted (cumulative spike waves),
so a non-leaky integrate-and-fire neuron's potential at step ``t`` is the convolution of the
frame ``t`` of its input wave, and it fires at the first step where that exceeds its threshold.

Layout: frames ``[T, batch, C, H, W]``. Pure functions below; :class:`ConvSTDPNet` holds the
kernels and runs them.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.encoding.dog import DoGParameters, dog_filter, latency_bins, spike_wave
from hebbtorch.errors import HebbtorchError

FEATURES = ("spikes", "potential")


class ConvLayerParameters(NamedTuple):
    """One IF conv layer. ``pad``: zero padding of its input; ``threshold``: firing threshold
    (in units of one full-weight input spike); ``k``: learning winners per image (k-WTA);
    ``radius``: lateral-inhibition radius around a winner (positions); ``pool``: (kernel,
    stride, padding) of the max pooling after the layer; ``w_mean``/``w_std``: initial weights
    ~ N(w_mean, w_std). Defaults: layer 1 of SpykeTorch's KheradpishehDeep.py."""

    in_channels: int = 2
    out_channels: int = 32
    kernel_size: int = 5
    threshold: float = 10.0
    k: int = 5
    radius: int = 2
    pad: int = 2
    pool: tuple[int, int, int] = (2, 2, 1)
    w_mean: float = 0.8
    w_std: float = 0.05


class ConvSTDPParameters(NamedTuple):
    """The whole network: input filters (``dog``; None feeds the raw intensity as one
    channel), ``num_steps`` latency bins (15 in KheradpishehDeep.py), and the conv layers.
    Defaults: KheradpishehDeep.py (32 maps 5x5, threshold 10, k 5, r 2; then 150 maps 2x2,
    threshold 1, k 8, r 1; pooling 2x2, stride 2, padding 1 after each)."""

    dog: DoGParameters | None = DoGParameters()
    num_steps: int = 15
    layers: tuple[ConvLayerParameters, ...] = (
        ConvLayerParameters(),
        ConvLayerParameters(32, 150, 2, 1.0, 8, 1, 1),
    )


def check_parameters(p: ConvSTDPParameters) -> ConvSTDPParameters:
    if not p.layers:
        raise HebbtorchError("a conv-STDP network needs at least one layer")
    c = 1 if p.dog is None else len(p.dog.kernels)
    for i, lp in enumerate(p.layers, 1):
        if lp.in_channels != c:
            raise HebbtorchError(
                f"layer {i} expects {lp.in_channels} input channels, the previous stage gives {c}")
        for name in ("out_channels", "kernel_size", "k"):
            if int(getattr(lp, name)) < 1:
                raise HebbtorchError(f"layer {i}: {name} must be >= 1, got {getattr(lp, name)}")
        check_range(f"layer {i} threshold", lp.threshold, 0.0)
        if lp.radius < 0 or lp.pad < 0:
            raise HebbtorchError(f"layer {i}: radius and pad must be >= 0")
        c = lp.out_channels
    return p


def fire(potential: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes where ``potential > threshold`` and the potentials kept there (0 elsewhere);
    SpykeTorch ``fire`` with ``return_thresholded_potentials``."""
    kept = torch.where(potential > threshold, potential, torch.zeros_like(potential))
    return (kept > 0).to(potential.dtype), kept


def conv_frames(frames: torch.Tensor, weight: torch.Tensor, pad: int) -> torch.Tensor:
    """Potentials ``[T, B, C_out, H', W']`` of input frames ``[T, B, C_in, H, W]``."""
    t, b = frames.shape[:2]
    x = frames.reshape(t * b, *frames.shape[2:])
    if pad:
        x = F.pad(x, (pad,) * 4)
    y = F.conv2d(x, weight)
    return y.reshape(t, b, *y.shape[1:])


def pool_frames(frames: torch.Tensor, pool: tuple[int, int, int]) -> torch.Tensor:
    k, s, p = pool
    t, b = frames.shape[:2]
    y = F.max_pool2d(frames.reshape(t * b, *frames.shape[2:]), k, s, p)
    return y.reshape(t, b, *y.shape[1:])


def first_spike_step(spikes: torch.Tensor) -> torch.Tensor:
    """Step of the first spike ``[B, ...]`` of cumulative frames ``[T, B, ...]`` (T = never)."""
    return spikes.shape[0] - spikes.sum(0)


def pointwise_inhibition(kept: torch.Tensor) -> torch.Tensor:
    """At each position keep only the map that fires first (ties: the highest potential at that
    step); the others are silenced for the whole window. ``kept``: thresholded potentials (or
    spikes) ``[T, B, C, H, W]``. SpykeTorch ``pointwise_inhibition``."""
    fired_any = kept.amax(2) > 0  # [T, B, H, W]
    t0 = (kept.shape[0] - fired_any.sum(0)).clamp_max(kept.shape[0] - 1)  # first step, per pos
    at_t0 = kept.gather(0, t0.unsqueeze(0).unsqueeze(2).expand(1, *kept.shape[1:]))[0]
    winner = at_t0.argmax(1, keepdim=True)  # [B, 1, H, W]
    coef = torch.zeros_like(at_t0).scatter_(1, winner, 1.0) * fired_any[-1].unsqueeze(1)
    return kept * coef


def k_winners(kept: torch.Tensor, k: int, radius: int) -> torch.Tensor:
    """Learning winners ``[B, k, 3]`` (map, row, col; -1 where fewer fire) per image: the
    earliest spike wins, ties go to the higher potential at the first spike; after each win the
    winner's map and a ``(2 radius + 1)^2`` window across all maps are excluded (one winner per
    map per image; Kheradpisheh et al. 2018 sec. 2.4, SpykeTorch ``get_k_winners``)."""
    t_steps, b, c, h, w = kept.shape
    spikes = kept > 0
    t0 = first_spike_step(spikes.to(kept.dtype)).clamp_max(t_steps - 1).long()
    v0 = kept.gather(0, t0.unsqueeze(0))[0]  # potential at the first spike
    big = float(kept.max()) + 1.0
    score = torch.where(spikes[-1], (t_steps - t0).to(kept.dtype) * big + v0,
                        torch.zeros_like(v0)).reshape(b, -1)
    rows = torch.arange(h, device=kept.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=kept.device).view(1, 1, 1, w)
    maps = torch.arange(c, device=kept.device).view(1, c, 1, 1)
    out = torch.full((b, k, 3), -1, dtype=torch.long, device=kept.device)
    for j in range(k):
        val, idx = score.max(1)
        ok = val > 0
        f, y, x = idx // (h * w), (idx // w) % h, idx % w
        out[:, j] = torch.where(ok.unsqueeze(1), torch.stack([f, y, x], 1), out[:, j])
        sel = lambda v: v.view(b, 1, 1, 1)  # noqa: E731
        kill = (maps == sel(f)) | (((rows - sel(y)).abs() <= radius)
                                   & ((cols - sel(x)).abs() <= radius))
        score = score.masked_fill(kill.reshape(b, -1) & ok.unsqueeze(1), 0.0)
    return out


class ConvSTDPNet(nn.Module):
    """The conv-STDP network: input filters, latency coding, IF conv layers, pooling.

    ``encode(images)`` gives the input spike wave; ``layer_io(wave, i)`` the input frames and
    thresholded potentials of layer ``i`` as seen during its training (pointwise inhibition as
    in KheradpishehDeep.py); ``features(images)`` the pooled spikes of the last layer (what the
    readout sees). Kernels: ``weights[i]`` ``[C_out, C_in, k, k]``, in [0, 1].
    """

    def __init__(self, params: ConvSTDPParameters | None = None, *,
                 generator: torch.Generator | None = None, device: str | torch.device = "cpu"
                 ) -> None:
        super().__init__()
        self.p = check_parameters(params or ConvSTDPParameters())
        ws = []
        for lp in self.p.layers:
            w = torch.randn(lp.out_channels, lp.in_channels, lp.kernel_size, lp.kernel_size,
                            generator=generator) * lp.w_std + lp.w_mean
            ws.append(nn.Parameter(w.clamp(0.0, 1.0).to(device), requires_grad=False))
        self.weights = nn.ParameterList(ws)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Input spike wave ``[T, B, C, H, W]`` of images ``[B, H, W]`` (uint8 or [0, 1])."""
        dev = self.weights[0].device
        if self.p.dog is None:
            x = images.to(dev)
            x = (x.float() / 255.0 if x.dtype == torch.uint8 else x).unsqueeze(1)
        else:
            x = dog_filter(images.to(dev), self.p.dog)
        return spike_wave(latency_bins(x, self.p.num_steps), self.p.num_steps)

    def layer_io(self, wave: torch.Tensor, layer: int, *, inhibit: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """(input frames, padded, ``[T, B, C_in, H, W]``; thresholded potentials ``[T, B, C,
        H', W']``) of ``layer`` (0-based) for a training step. ``inhibit``: pointwise
        inhibition on the layer's output and (for deeper layers) on its input spikes."""
        x = wave
        for i, lp in enumerate(self.p.layers[:layer + 1]):
            if i > 0:
                x = pool_frames(x, self.p.layers[i - 1].pool)
                if inhibit:
                    x = pointwise_inhibition(x)
            x = F.pad(x, (lp.pad,) * 4) if lp.pad else x
            _, kept = fire(conv_frames(x, self.weights[i], 0), lp.threshold)
            if i == layer:
                return x, (pointwise_inhibition(kept) if inhibit else kept)
            x = (kept > 0).to(kept.dtype)
        raise HebbtorchError(f"layer {layer} out of range (the network has {len(self.p.layers)})")

    def run(self, wave: torch.Tensor, output: str = "spikes") -> torch.Tensor:
        """Pooled frames of the last layer ``[T, B, C, H, W]`` (inference: no inhibition, as in
        KheradpishehDeep.py's test path): its spikes, or (``output="potential"``) its
        membrane potentials, max-pooled the same way."""
        if output not in FEATURES:
            raise HebbtorchError(f"output must be one of {FEATURES}, got {output!r}")
        x = wave
        for i, (lp, w) in enumerate(zip(self.p.layers, self.weights, strict=True)):
            pot = conv_frames(x, w, lp.pad)
            last = i == len(self.p.layers) - 1
            x = pool_frames(pot if last and output == "potential" else fire(pot, lp.threshold)[0],
                            lp.pool)
        return x

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 1000, output: str = "spikes"
                 ) -> torch.Tensor:
        """Readout features ``[B, n]`` of images ``[B, H, W]``: which pooled last-layer units
        fire at all (bool; ``output="spikes"``), or their pooled potentials at the end of the
        window (float; ``"potential"``). Weights are >= 0 and waves cumulative, so potentials
        never fall: firing within the window equals firing on the last frame, and only that
        frame is simulated (``run`` over all T frames then ``max`` over time gives the same;
        tested)."""
        out = []
        for i in range(0, images.shape[0], batch_size):
            wave = self.encode(images[i:i + batch_size])
            f = self.run(wave[-1:], output)[0].flatten(1)
            out.append(f > 0 if output == "spikes" else f)
        return torch.cat(out)
