"""Input checks shared by the encoders (private): intensities, step counts, shapes."""

from __future__ import annotations

import torch

from hebbtorch.checks import check_range, check_tensor_range
from hebbtorch.errors import HebbtorchError


def as_float_tensor(name: str, x: object) -> torch.Tensor:
    """Accept a tensor or array-like; return a floating tensor (integer input → float32)."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise HebbtorchError(f"{name} must be a tensor or array, got {type(x).__name__}") from e
    if not x.is_floating_point():
        x = x.to(torch.float32)
    return x


def check_intensity(name: str, x: object, *, min_dim: int = 1) -> torch.Tensor:
    """Intensities ``[batch, ...]`` in [0, 1]: finite, no negatives, nothing above one."""
    x = as_float_tensor(name, x)
    if x.dim() < min_dim:
        raise HebbtorchError(
            f"{name} must be [batch, ...] with at least {min_dim} dimension(s), got shape "
            f"{tuple(x.shape)}"
        )
    return check_tensor_range(name, x, 0.0, 1.0)


def check_steps(num_steps: int) -> int:
    """A number of time steps: an integer >= 1."""
    if isinstance(num_steps, bool) or int(num_steps) != num_steps:
        raise HebbtorchError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    return int(check_range("num_steps", num_steps, 1))
