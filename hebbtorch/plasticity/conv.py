"""Convolutional plastic synapses: the engine's rules on a weight-shared (conv2d) connection.

A conv layer is a dense connection whose unrolled weight ``W[pre, post]`` repeats one kernel
entry ``k[o, c, u, v]`` at every output position. The rules stay as they are: they see the
traces of every input pixel (presynaptic neuron ``(c, y, x)``) and every output unit
(postsynaptic neuron ``(o, y', x')``) exactly as in a dense connection, and return low-rank
updates ``a [batch, pre] x b [batch, post]`` of the unrolled weight. Weight sharing folds them
onto the kernel by summing over the positions that share an entry,

    Δk[o, c, u, v] = Σ_(y', x') a[c, y' s + u - p, x' s + v - p] · b[o, y', x'],

computed with ``unfold`` (never materialising the dense weight); the weight dependence then acts
on the kernel (soft bounds: ``Σ ltp · (w_max - k) - Σ ltd · (k - w_min)``), which is what the
dense rule would give an unrolled weight whose shared entries all equal ``k``. Rules with
per-synapse state (Graupner & Brunel's ρ) have no natural shared form and are refused.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.connection import PlasticConnection
from hebbtorch.plasticity.core import DEFAULT_BOUNDS, LowRank, PlasticityRule, WeightBounds


def _pair(name: str, v: int | tuple[int, int], low: int) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or any(int(x) != x or x < low for x in t):
        raise HebbtorchError(f"{name} must be an int >= {low} or a pair of them, got {v!r}")
    return int(t[0]), int(t[1])


class PlasticConv2d(PlasticConnection):
    """Plastic 2-D convolution: kernel ``weight`` ``[batch, C_out, C_in, kh, kw]`` (one kernel
    per batch entry -- independent networks), presynaptic neurons = the ``C_in x H x W`` input
    pixels, postsynaptic neurons = the ``C_out x H_out x W_out`` output units, both flattened
    channel-major (``tensor.flatten(1)`` of ``[batch, C, H, W]``). Spikes, traces, ``step``,
    ``run``, bounds, ``normalize`` (per output channel: the kernel sums to this value) and
    ``apply`` work as in :class:`PlasticConnection`; the delay must be one scalar (ms).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: as ``conv2d``; likewise ``stride`` and ``padding``.
        input_size: (H, W) of the presynaptic layer.
        rule: a stateless :class:`PlasticityRule` whose updates are low rank (pair, triplet,
            calcium-trace). The other arguments are those of :class:`PlasticConnection`.
    """

    fast_path = False
    norm_dims = (2, 3, 4)

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
        input_size: tuple[int, int], rule: PlasticityRule, *, stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0, batch: int = 1, dt: float = 1.0,
        w_init: float | torch.Tensor = 0.5, bounds: WeightBounds | None = DEFAULT_BOUNDS,
        delay: float = 0.0, normalize: float | None = None, apply: str = "direct",
        device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
    ) -> None:
        self.c_in, self.c_out = _pair("channels", (in_channels, out_channels), 1)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        self.padding = _pair("padding", padding, 0)
        self.input_size = _pair("input_size", input_size, 1)
        self.output_size = tuple(
            (n + 2 * p - k) // s + 1 for n, k, s, p in
            zip(self.input_size, self.kernel_size, self.stride, self.padding, strict=True))
        if min(self.output_size) < 1:
            raise HebbtorchError(
                f"kernel {self.kernel_size} does not fit the padded input {self.input_size} "
                f"(padding {self.padding})")
        if type(rule).init_state is not PlasticityRule.init_state:
            raise HebbtorchError(
                f"{type(rule).__name__} keeps per-synapse state, which has no weight-shared "
                "(convolutional) form; use a dense PlasticConnection")
        if torch.as_tensor(delay).numel() != 1:
            raise HebbtorchError("a convolutional connection takes one scalar delay (ms)")
        h, w = self.input_size
        n_pre = self.c_in * h * w
        n_post = self.c_out * self.output_size[0] * self.output_size[1]
        super().__init__(n_pre, n_post, rule, batch=batch, dt=dt, w_init=w_init, bounds=bounds,
                         delay=delay, normalize=normalize, apply=apply, device=device,
                         dtype=dtype)

    def weight_shape(self) -> tuple[int, ...]:
        return (self.batch, self.c_out, self.c_in, *self.kernel_size)

    def full_update(self, u: torch.Tensor | LowRank | None) -> torch.Tensor | None:
        """Fold a low-rank update of the unrolled weight onto the kernel (module docstring)."""
        if u is None:
            return None
        if not isinstance(u, tuple) or u[0].dim() != 2:
            raise HebbtorchError(
                f"a convolutional connection needs low-rank pre x post updates; "
                f"{type(self.rule).__name__} returned a full [batch, pre, post] tensor")
        a, b = u
        cols = F.unfold(a.reshape(self.batch, self.c_in, *self.input_size), self.kernel_size,
                        padding=self.padding, stride=self.stride)  # [batch, C_in kh kw, L]
        k = torch.einsum("bkl,bol->bok", cols, b.reshape(self.batch, self.c_out, -1))
        return k.reshape(self.weight_shape())

    def _conv(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Per-batch-entry convolution (grouped): x ``[batch, pre]`` -> ``[batch, post]``."""
        y = F.conv2d(x.reshape(1, -1, *self.input_size),
                     kernel.reshape(-1, self.c_in, *self.kernel_size),
                     stride=self.stride, padding=self.padding, groups=self.batch)
        return y.reshape(self.batch, self.n_post)

    @torch.no_grad()
    def propagate(self, pre: torch.Tensor) -> torch.Tensor:
        """Synaptic input ``[batch, post]`` (flattened ``[C_out, H_out, W_out]``) from this
        step's presynaptic spikes ``[batch, pre]``, after the delay."""
        pre = self._check_spikes("pre spikes", pre, self.n_pre, 2)
        return self._conv(self.delay_line.step(self.state.history, pre)[0], self.weight.detach())

    @torch.no_grad()
    def unrolled_weight(self) -> torch.Tensor:
        """The equivalent dense weight ``[batch, pre, post]`` (for checks and small layers:
        it has pre x post entries)."""
        eye = torch.eye(self.n_pre, dtype=self.weight.dtype, device=self.weight.device)
        cols = [F.conv2d(eye.reshape(self.n_pre, self.c_in, *self.input_size), k,
                         stride=self.stride, padding=self.padding).reshape(self.n_pre, -1)
                for k in self.weight.detach()]
        return torch.stack(cols)
