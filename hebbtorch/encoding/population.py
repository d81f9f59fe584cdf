"""Population coding with Gaussian receptive fields: a scalar ``v`` in ``[low, high]`` drives
``num_neurons`` neurons with centres evenly spaced over the range and activity
``a_i = exp(-(v - c_i)^2 / (2 * width^2))`` in [0, 1]; the activity is then sent as rate-coded
spikes. Decoding is maximum likelihood over a fine grid (treating spike counts as a multinomial
over the neurons) or a centre-of-mass population vector. Idea: Bohte, Kok & La Poutré (2002),
"Error-backpropagation in temporally encoded networks of spiking neurons", Gaussian RFs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hebbtorch.checks import check_finite, check_range
from hebbtorch.encoding._checks import as_float_tensor, check_steps
from hebbtorch.encoding.decode import population_vector
from hebbtorch.encoding.latency import latency_decode, latency_encode
from hebbtorch.encoding.rate import rate_encode
from hebbtorch.errors import HebbtorchError


def _centres_width(
    num_neurons: int, low: float, high: float, width: float | None,
) -> tuple[torch.Tensor, float]:
    if int(num_neurons) != num_neurons or num_neurons < 2:
        raise HebbtorchError(f"num_neurons must be an integer >= 2, got {num_neurons!r}")
    check_range("low", low)
    check_range("high", high)
    if not high > low:
        raise HebbtorchError(f"high must be > low, got low={low:g}, high={high:g}")
    spacing = (high - low) / (num_neurons - 1)
    w = spacing if width is None else check_range("width", width, 0.0, low_open=True)
    return torch.linspace(low, high, int(num_neurons), dtype=torch.float64), float(w)


def receptive_field_centres(num_neurons: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """``[num_neurons]`` centres evenly spaced over ``[low, high]`` (ends included)."""
    return _centres_width(num_neurons, low, high, None)[0].to(torch.float32)


def gaussian_receptive_fields(
    values: torch.Tensor, num_neurons: int, *, low: float = 0.0, high: float = 1.0,
    width: float | None = None,
) -> torch.Tensor:
    """Activities in [0, 1] of Gaussian receptive fields.

    Args:
        values: scalars ``[batch, ...]`` (any real; the fields cover ``[low, high]``).
        num_neurons: neurons per scalar (>= 2).
        low: lower end of the range covered by the centres (unit of ``values``).
        high: upper end of that range.
        width: standard deviation of each field (unit of ``values``); default the centre
            spacing ``(high - low) / (num_neurons - 1)``.

    Returns:
        ``[batch, ..., num_neurons]`` activities.
    """
    v = as_float_tensor("values", values)
    check_finite("values", v)
    centres, w = _centres_width(num_neurons, low, high, width)
    c = centres.to(v.device, v.dtype)
    return torch.exp(-((v.unsqueeze(-1) - c) ** 2) / (2.0 * w * w))


def population_encode(
    values: torch.Tensor, num_steps: int, num_neurons: int, *, low: float = 0.0,
    high: float = 1.0, width: float | None = None, method: str = "rate", max_rate: float = 1000.0,
    dt: float = 1.0, generator: torch.Generator | None = None, channels_first: bool = False,
) -> torch.Tensor:
    """Spikes ``[T, batch, ..., num_neurons]`` from :func:`gaussian_receptive_fields`.

    ``method="rate"``: Bernoulli spikes with ``p = activity * max_rate * dt`` per step (Hz, ms);
    ``method="latency"``: one linear-latency spike per neuron (strong activity fires early,
    activity <= 0.01 stays silent), as in Bohte et al. (2002). ``channels_first``: put the
    neurons right after the batch, ``[T, batch, num_neurons, ...]`` — the channel layout of an
    image ``[T, batch, C, H, W]`` that conv layers expect.
    """
    a = gaussian_receptive_fields(values, num_neurons, low=low, high=high, width=width)
    if channels_first:
        if a.dim() < 2:
            raise HebbtorchError("channels_first needs values [batch, ...], got a scalar")
        a = a.movedim(-1, 1)
    if method == "rate":
        return rate_encode(a, num_steps, max_rate=max_rate, dt=dt, generator=generator)
    if method == "latency":
        return latency_encode(a, num_steps, method="linear", threshold=0.01)
    raise HebbtorchError(f"method must be 'rate' or 'latency', got {method!r}")


def population_decode(
    counts: torch.Tensor, *, low: float = 0.0, high: float = 1.0, width: float | None = None,
    method: str = "ml", resolution: int = 2001,
) -> torch.Tensor:
    """Estimate the encoded scalar from counts or activities ``[batch, ..., num_neurons]``.

    Sum spikes over time first (``spikes.sum(0)``). ``method="ml"`` (default): the grid value
    ``v`` in ``[low, high]`` (``resolution`` points) maximising ``sum_i n_i log p_i(v)`` with
    ``p_i(v) = a_i(v) / sum_j a_j(v)`` — exact (to the grid) on noise-free activities and
    unbiased near the ends of the range. ``method="vector"``: centre of mass of the centres
    (biased towards the middle near the ends). Returns ``[batch, ...]``; NaN where all counts
    are zero.
    """
    n = as_float_tensor("counts", counts)
    if n.dim() < 1:
        raise HebbtorchError("counts must be [batch, ..., num_neurons]")
    if bool((n < 0).any()) or not bool(torch.isfinite(n).all()):
        raise HebbtorchError("counts must be finite and non-negative")
    centres, w = _centres_width(n.shape[-1], low, high, width)
    c = centres.to(n.device, n.dtype)
    if method == "vector":
        return population_vector(n, c)
    if method != "ml":
        raise HebbtorchError(f"method must be 'ml' or 'vector', got {method!r}")
    if int(resolution) != resolution or resolution < 2:
        raise HebbtorchError(f"resolution must be an integer >= 2, got {resolution!r}")
    grid = torch.linspace(low, high, int(resolution), device=n.device, dtype=n.dtype)
    log_a = -((grid.unsqueeze(1) - c) ** 2) / (2.0 * w * w)  # [grid, neurons]
    log_p = log_a - torch.logsumexp(log_a, dim=1, keepdim=True)
    flat = n.reshape(-1, n.shape[-1])
    est = grid[(flat @ log_p.T).argmax(1)].reshape(n.shape[:-1])
    total = n.sum(-1)
    return torch.where(total > 0, est, torch.full_like(est, math.nan))


class PopulationEncoder(nn.Module):
    """Module form of :func:`population_encode`: ``[batch, ...]`` scalars →
    ``[T, batch, ..., num_neurons]`` spikes (``[T, batch, num_neurons, ...]`` with
    ``channels_first``); :meth:`decode` inverts it. ``out_channels`` (= ``num_neurons``) tells a
    network how many inputs each scalar becomes."""

    def __init__(
        self, num_steps: int, num_neurons: int, low: float = 0.0, high: float = 1.0,
        width: float | None = None, method: str = "rate", max_rate: float = 1000.0,
        dt: float = 1.0, channels_first: bool = False,
    ) -> None:
        super().__init__()
        self.num_steps = check_steps(num_steps)
        _, w = _centres_width(num_neurons, low, high, width)
        if method not in ("rate", "latency"):
            raise HebbtorchError(f"method must be 'rate' or 'latency', got {method!r}")
        self.num_neurons, self.low, self.high, self.width = int(num_neurons), low, high, w
        self.method, self.max_rate, self.dt = method, float(max_rate), float(dt)
        self.channels_first = bool(channels_first)

    @property
    def out_channels(self) -> int:
        """Spike trains per encoded scalar."""
        return self.num_neurons

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return population_encode(
            x, self.num_steps, self.num_neurons, low=self.low, high=self.high, width=self.width,
            method=self.method, max_rate=self.max_rate, dt=self.dt, generator=generator,
            channels_first=self.channels_first,
        )

    def decode(self, spikes: torch.Tensor) -> torch.Tensor:
        """``[T, batch, ..., num_neurons]`` spikes (or this encoder's channels-first layout) →
        ``[batch, ...]`` estimates (ML decoder on the spike counts, or on the activities read
        back from spike times for ``latency``)."""
        if self.channels_first:
            spikes = as_float_tensor("spikes", spikes)
            if spikes.dim() < 3:
                raise HebbtorchError(f"spikes must be [T, batch, num_neurons, ...] (channels "
                                     f"first), got shape {tuple(spikes.shape)}")
            spikes = spikes.movedim(2, -1)
        evidence = (latency_decode(spikes, method="linear", threshold=0.01)
                    if self.method == "latency" else spikes.sum(0))
        return population_decode(evidence, low=self.low, high=self.high, width=self.width)

    def extra_repr(self) -> str:
        return (f"num_steps={self.num_steps}, num_neurons={self.num_neurons}, "
                f"range=[{self.low:g}, {self.high:g}], width={self.width:g}, "
                f"method={self.method!r}, channels_first={self.channels_first}")
