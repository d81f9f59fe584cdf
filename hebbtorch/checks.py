"""Input validation shared by every module: each check raises :class:`HebbtorchError` naming the
argument, what was expected and what was found."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from hebbtorch.errors import HebbtorchError


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Reject NaN or infinite entries."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise HebbtorchError(f"{name} contains {bad} NaN or infinite value(s)")
    return x


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check a scalar parameter lies in an interval, e.g. a decay in [0, 1]."""
    value = float(value)
    if value != value:
        raise HebbtorchError(f"{name} is NaN")
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise HebbtorchError(f"{name} must be in {lb}{lo}, {hi}{rb}, got {value:g}")
    return value


DT_MS_MIN = 0.01  # below this a time step "in ms" is almost surely a value in seconds


def check_dt_ms(value: float, name: str = "dt") -> float:
    """A time step in milliseconds: > 0, finite, and not one that reads as seconds (< 0.01 ms:
    ``dt=1e-3`` meant 1 ms when these APIs took seconds)."""
    value = check_range(name, value, 0.0, low_open=True)
    if not math.isfinite(value):
        raise HebbtorchError(f"{name} must be a finite number of milliseconds, got {value:g}")
    if value < DT_MS_MIN:
        raise HebbtorchError(f"{name} is in milliseconds: {value:g} ms is below {DT_MS_MIN:g} ms "
                             f"and reads as seconds; pass {name}={value * 1000:g} for "
                             f"{value:g} s")
    return value


def check_tensor_range(
    name: str, x: torch.Tensor, low: float | None = None, high: float | None = None
) -> torch.Tensor:
    """Check every entry of a tensor lies in [low, high] (and is finite)."""
    check_finite(name, x)
    if x.numel() == 0:
        return x
    if low is not None and float(x.min()) < low:
        raise HebbtorchError(f"{name} must be >= {low:g}, found {float(x.min()):g}")
    if high is not None and float(x.max()) > high:
        raise HebbtorchError(f"{name} must be <= {high:g}, found {float(x.max()):g}")
    return x


def check_probability(name: str, x: torch.Tensor | float) -> torch.Tensor | float:
    """Probabilities must lie in [0, 1]."""
    if isinstance(x, torch.Tensor):
        return check_tensor_range(name, x, 0.0, 1.0)
    return check_range(name, x, 0.0, 1.0)


def check_ndim(name: str, x: torch.Tensor, ndim: int | Sequence[int], layout: str) -> torch.Tensor:
    """Check the number of dimensions, quoting the expected layout (``[time, batch, ...]``)."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.dim() not in allowed:
        raise HebbtorchError(
            f"{name} must be {layout} ({' or '.join(map(str, allowed))}-D), "
            f"got shape {tuple(x.shape)}"
        )
    return x


def check_size(name: str, x: torch.Tensor, dim: int, size: int, what: str) -> torch.Tensor:
    """Check one dimension's size, e.g. the number of input features of a layer."""
    if x.shape[dim] != size:
        raise HebbtorchError(
            f"{name} has {x.shape[dim]} {what} (dim {dim} of shape {tuple(x.shape)}), "
            f"expected {size}"
        )
    return x


def check_spikes(name: str, s: torch.Tensor) -> torch.Tensor:
    """Spike tensors hold 0 or 1 only (bool or any number type): a NaN, 5 or -1 is refused."""
    if s.dtype == torch.bool or s.numel() == 0:
        return s
    bad = (s != 0) & (s != 1)  # NaN compares unequal to both
    if bool(bad.any()):
        v = s[bad][0].item()
        raise HebbtorchError(f"{name} must be spikes (0 or 1), found {v:g} "
                             f"({int(bad.sum())} such value(s))")
    return s


def check_time_first(name: str, x: torch.Tensor, steps: int, batch: int | None = None,
                     hint: str = "transpose it (x.transpose(0, 1))") -> torch.Tensor:
    """``x`` must be ``[time, batch, ...]`` with ``steps`` steps (and ``batch`` samples where the
    caller knows them). A tensor whose dim 1 holds the steps instead is refused naming the
    likely transposition: a ``[batch, time]`` tensor run as ``[time, batch]`` gives a wrong
    answer without any error."""
    if x.dim() < 2:
        raise HebbtorchError(f"{name} must be [time, batch, ...], got shape {tuple(x.shape)}")
    T, B = int(x.shape[0]), int(x.shape[1])
    if T == steps and (batch is None or B == batch):
        return x
    swapped = B == steps and (batch is None or T == batch)
    why = (f"; dim 1 has the {steps} steps: is it [batch, time, ...]? {hint}" if swapped
           else "")
    raise HebbtorchError(f"{name} must be [time, batch, ...] with {steps} time steps"
                         f"{'' if batch is None else f' and {batch} samples'}, got shape "
                         f"{tuple(x.shape)}{why}")
