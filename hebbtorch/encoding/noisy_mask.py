"""The seed's input stage (Chevalier 2018): at every step the image is multiplied by a fresh
uniform random mask, ``x_t = u_t * x`` with ``u_t ~ U[0, 1)`` elementwise.

The seed normalises images as ``x / 255 - 0.5`` first, so its input is signed and graded, not
spikes; pass ``offset=0.5`` to reproduce that from intensities in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from hebbtorch.checks import check_range
from hebbtorch.encoding._checks import check_intensity


def noisy_mask_step(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One step: ``u * x`` with a fresh ``u ~ U[0, 1)`` of ``x``'s shape. Shape preserved."""
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return u * x


def noisy_mask(
    x: torch.Tensor, num_steps: int, *, offset: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Encode intensities ``x`` ``[batch, ...]`` in [0, 1] as ``[num_steps, batch, ...]``.

    Returns ``u_t * (x - offset)`` for t = 0..num_steps-1.
    """
    check_range("num_steps", num_steps, 1)
    check_intensity("x", x)  # the documented [0, 1]: a pixel of 2.0 is refused, not scaled
    centred = x - offset
    return torch.stack([noisy_mask_step(centred, generator) for _ in range(int(num_steps))])


class NoisyMaskEncoder(nn.Module):
    """Module form of :func:`noisy_mask` (no state; pass a generator for reproducibility)."""

    def __init__(self, num_steps: int, offset: float = 0.0) -> None:
        super().__init__()
        self.num_steps = int(check_range("num_steps", num_steps, 1))
        self.offset = float(offset)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return noisy_mask(x, self.num_steps, offset=self.offset, generator=generator)
