"""Readouts of spike trains ``[time, batch, ...]``: spike counts and rates, first-spike times,
and population vectors. Idea: the standard rate / latency / population-vector readouts
(Georgopoulos et al. 1986 for the population vector)."""

from __future__ import annotations

import math

import torch

from hebbtorch.checks import check_dt_ms
from hebbtorch.encoding._checks import as_float_tensor
from hebbtorch.errors import HebbtorchError


def _check_spikes(spikes: object, min_dim: int = 1, name: str = "spikes") -> torch.Tensor:
    s = as_float_tensor(name, spikes)
    if s.dim() < min_dim or s.shape[0] == 0:
        raise HebbtorchError(
            f"{name} must have at least {min_dim} dimension(s) and a non-empty first dim "
            f"([time, batch, ...] for spikes), got shape {tuple(s.shape)}"
        )
    if bool((s < 0).any()) or not bool(torch.isfinite(s).all()):
        raise HebbtorchError(f"{name} must be finite and non-negative")
    return s


def spike_count(spikes: torch.Tensor) -> torch.Tensor:
    """Total spikes per input: ``[T, batch, ...]`` → ``[batch, ...]``."""
    return _check_spikes(spikes).sum(0)


def firing_rate(spikes: torch.Tensor, dt: float | None = None) -> torch.Tensor:
    """Mean rate per input ``[batch, ...]``: spikes per step, or in Hz when the step ``dt`` (ms)
    is given."""
    s = _check_spikes(spikes)
    rate = s.mean(0)
    if dt is not None:
        rate = rate / (check_dt_ms(dt) / 1000.0)
    return rate


def first_spike_time(spikes: torch.Tensor, *, fill: float = math.inf) -> torch.Tensor:
    """Step of each input's first spike ``[batch, ...]`` (float); ``fill`` where it never fires."""
    s = _check_spikes(spikes) > 0
    t = s.to(torch.uint8).argmax(0).to(torch.float32)
    return torch.where(s.any(0), t, torch.full_like(t, float(fill)))


def population_vector(
    counts: torch.Tensor, preferred: torch.Tensor, *, circular: bool = False
) -> torch.Tensor:
    """Population-vector estimate: preferred values weighted by each neuron's count.

    Args:
        counts: spike counts or activities ``[batch, ..., neurons]`` (sum spike trains over
            time first, e.g. ``spike_count(spikes)``).
        preferred: ``[neurons]`` preferred value of each neuron (radians if ``circular``).
        circular: average unit vectors ``exp(i * preferred)`` and return the angle in
            ``(-pi, pi]`` (Georgopoulos' direction decoder); otherwise the centre of mass.

    Returns:
        ``[batch, ...]`` estimates; NaN where no neuron fired.
    """
    counts = _check_spikes(counts, name="counts")
    pref = as_float_tensor("preferred", preferred).to(counts.device, counts.dtype)
    if pref.dim() != 1 or pref.shape[0] != counts.shape[-1]:
        raise HebbtorchError(
            f"preferred must be [neurons] with {counts.shape[-1]} entries (last dim of the "
            f"counts), got shape {tuple(pref.shape)}"
        )
    total = counts.sum(-1)
    if circular:
        c = (counts * torch.cos(pref)).sum(-1)
        sn = (counts * torch.sin(pref)).sum(-1)
        est = torch.atan2(sn, c)
    else:
        est = (counts * pref).sum(-1) / total.clamp_min(1e-12)
    return torch.where(total > 0, est, torch.full_like(est, math.nan))
