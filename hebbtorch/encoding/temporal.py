"""Static images made temporal, for the change-based encoders (a static image sends no change).

- :func:`fade`: the image is switched on and off gently, a triangular envelope from black to
  full intensity at the middle of the window and back. Delta modulating it
  (:class:`FadeDeltaEncoder`) sends about ``x / threshold`` ON spikes per pixel while it
  brightens, bright pixels first, then as many OFF spikes while it dims.
- :func:`saccade_video`: the image moves along three straight saccades forming an isosceles
  triangle, as the N-MNIST rig moved its event camera in front of each digit (Orchard et al.
  2015, "Converting static image datasets to spiking neuromorphic datasets using saccades").
  :class:`SaccadeDVSEncoder` emulates a DVS watching it (:func:`frames_to_events`) and counts
  the events of each time step, so edges, not areas, spike.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.encoding._checks import check_intensity, check_steps
from hebbtorch.encoding.delta import DeltaEncoder
from hebbtorch.encoding.dvs import DVSEmulator, events_to_frames
from hebbtorch.errors import HebbtorchError


def fade(x: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Fade ``x`` in and out: ``[batch, ...]`` intensities → ``[T, batch, ...]`` frames
    ``x * e_t`` with the envelope ``e_t = 1 - |2t / (T - 1) - 1|`` (0 at both ends, 1 in the
    middle; the single frame of ``T = 1`` is black)."""
    x = check_intensity("x", x)
    steps = check_steps(num_steps)
    env = 1.0 - torch.linspace(-1.0, 1.0, steps, device=x.device, dtype=x.dtype).abs()
    return env.view(-1, *([1] * x.dim())) * x


def saccade_path(num_frames: int, amplitude: float = 2.0) -> torch.Tensor:
    """Image offsets ``[num_frames, 2]`` (dx, dy) in pixels, x to the right and y down: three
    saccades of equal duration at constant speed around the isosceles triangle
    ``(0, 0) → (a/2, a) → (-a/2, a) → (0, 0)``, ``a = amplitude``; the first and last frames sit
    at ``(0, 0)``."""
    if int(num_frames) != num_frames or num_frames < 2:
        raise HebbtorchError(f"num_frames must be an integer >= 2, got {num_frames!r}")
    a = check_range("amplitude", amplitude, 0.0)
    corners = torch.tensor([[0.0, 0.0], [a / 2, a], [-a / 2, a], [0.0, 0.0]],
                           dtype=torch.float64)
    s = torch.linspace(0.0, 3.0, int(num_frames), dtype=torch.float64)  # saccades made so far
    leg = s.floor().long().clamp(max=2)
    u = (s - leg).unsqueeze(1)
    return ((1 - u) * corners[leg] + u * corners[leg + 1]).to(torch.float32)


def saccade_video(x: torch.Tensor, num_frames: int, amplitude: float = 2.0) -> torch.Tensor:
    """Images ``[batch, H, W]`` → video ``[num_frames, batch, H, W]`` following
    :func:`saccade_path`; sub-pixel offsets interpolate bilinearly, pixels moved in from
    outside the image are black."""
    x = check_intensity("x", x)
    if x.dim() != 3:
        raise HebbtorchError(f"images must be [batch, H, W], got shape {tuple(x.shape)}")
    (b, h, w), k = x.shape, int(num_frames)
    path = saccade_path(k, amplitude).to(x.device, x.dtype)
    # grid_sample reads the input at (output position - offset), in [-1, 1] units
    theta = torch.zeros(k, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2.0 * path[:, 0] / w
    theta[:, 1, 2] = -2.0 * path[:, 1] / h
    theta = theta.repeat_interleave(b, dim=0)
    grid = F.affine_grid(theta, [k * b, 1, h, w], align_corners=False)
    frames = x.unsqueeze(1).repeat(k, 1, 1, 1)
    video = F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return video.view(k, b, h, w).clamp(0.0, 1.0)


class FadeDeltaEncoder(nn.Module):
    """Delta modulation of the faded image, ``[batch, ...]`` → ``[T, batch, 2, ...]``
    (channel 0 ON, 1 OFF), see :func:`fade` and :func:`delta_encode`. A pixel rises by
    ``2 x / (T - 1)`` per step, so with fewer than ``2 / threshold + 1`` steps bright pixels
    overload the slope (one spike per step) and send fewer than ``x / threshold`` spikes."""

    out_channels = 2  # ON, OFF

    def __init__(self, num_steps: int, threshold: float = 0.1, refractory: int = 0) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        self.delta = DeltaEncoder(threshold, refractory)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator`` is accepted for a uniform encoder signature and ignored."""
        return self.delta(fade(x, self.num_steps))

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}"


class SaccadeDVSEncoder(nn.Module):
    """N-MNIST-style events as frames: images ``[batch, H, W]`` → event counts
    ``[T, batch, 2, H, W]`` (channel 0 OFF, 1 ON, as :func:`events_to_frames`).

    The ``T + 1`` frames of :func:`saccade_video` are ``step_us`` apart; step ``s`` counts the
    events between frames ``s`` and ``s + 1`` (times in ``(s, s + 1] * step_us``). The DVS
    parameters are :class:`DVSEmulator`'s (log-intensity contrast thresholds, refractory
    period in µs)."""

    out_channels = 2  # OFF, ON

    def __init__(
        self, num_steps: int, amplitude: float = 2.0, on_threshold: float = 0.2,
        off_threshold: float = 0.2, refractory_us: int = 0, step_us: int = 1000,
    ) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        self.amplitude = check_range("amplitude", amplitude, 0.0)
        self.dvs = DVSEmulator(on_threshold, off_threshold, refractory_us,
                               frame_interval_us=step_us)

    def events(self, x: torch.Tensor) -> np.ndarray:
        """The emulated events (:data:`EVENT_DTYPE`, times in µs) of images ``[batch, H, W]``
        seen side by side as one ``H x (batch * W)`` sensor: image ``b`` has columns
        ``x`` in ``[b * W, (b + 1) * W)``. DVS pixels are independent, so this equals
        emulating each image alone, in one call instead of ``batch``."""
        video = saccade_video(x, self.num_steps + 1, self.amplitude)
        k, b, h, w = video.shape
        return self.dvs(video.permute(0, 2, 1, 3).reshape(k, h, b * w))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``generator`` is accepted for a uniform encoder signature and ignored."""
        x = check_intensity("x", x)
        events = self.events(x)
        b, h, w = x.shape
        out = torch.zeros(self.num_steps, 2, h, b * w)
        if len(events):
            out = events_to_frames(events, (h, b * w), n_time_bins=self.num_steps, start_us=0,
                                   end_us=self.num_steps * self.dvs.frame_interval_us)
        return out.view(self.num_steps, 2, h, b, w).permute(0, 3, 1, 2, 4).to(x.device)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, amplitude={self.amplitude:g} px"
