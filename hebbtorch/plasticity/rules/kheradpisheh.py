"""Kheradpisheh et al.'s simplified STDP for first-spike networks (Neural Networks 99:56, 2018,
eq. 3): ``Δw = a_plus w (1 - w)`` if the presynaptic neuron fired at or before the
postsynaptic one (``t_pre <= t_post``), else ``Δw = -a_minus w (1 - w)`` (a presynaptic
neuron that never fired counts as "after"). The exact time difference does
not matter, only the order, and the ``w (1 - w)`` factor keeps weights in [0, 1] and drives
them to the bounds.

Two forms of the same rule:

* :class:`KheradpishehSTDP`, an engine rule (:class:`~hebbtorch.plasticity.core.PlasticityRule`)
  for dense :class:`~hebbtorch.plasticity.connection.PlasticConnection`: the presynaptic trace is
  latched "has fired" (``nearest`` mode, tau = inf, so it never decays), and on a post spike
  LTP = ``a_plus x w`` and LTD = ``a_minus (1 - x)(1 - w)``; the engine's multiplicative bounds
  [0, 1] multiply them by ``(1 - w)`` and ``w``, giving eq. 3 exactly. Neurons must spike at
  most once per presentation (reset the connection state between presentations).
* :func:`conv_winner_update`, the convolutional form used for training (weight sharing, only
  the k-WTA winners learn), as in SpykeTorch's ``snn.STDP`` (Mozafari et al. 2019).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from hebbtorch.checks import check_range
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity import registry
from hebbtorch.plasticity.core import PlasticityRule, Traces, TraceSpec, Update, pre_side


class KheradpishehParameters(NamedTuple):
    """``a_plus``, ``a_minus``: learning rates (dimensionless, >= 0; depression is
    ``-a_minus``). Defaults: SpykeTorch's starting rates (0.004, 0.003), i.e. a_minus / a_plus =
    0.75; the schedule doubling a_plus is :class:`hebbtorch.learning.conv_stdp.STDPSchedule`."""

    a_plus: float = 0.004
    a_minus: float = 0.003


def kheradpisheh_dw(w: torch.Tensor, pre_first: torch.Tensor, a_plus: float, a_minus: float
                    ) -> torch.Tensor:
    """Eq. 3: ``a_plus w (1 - w)`` where ``pre_first`` (pre spiked at or before post), else
    ``-a_minus w (1 - w)``."""
    rate = torch.where(pre_first, torch.full_like(w, a_plus), torch.full_like(w, -a_minus))
    return rate * w * (1.0 - w)


class KheradpishehSTDP(PlasticityRule):
    """Eq. 3 as an engine rule; use it with ``bounds=WeightBounds(0.0, 1.0, "multiplicative")``
    (module docstring). Updates are full ``[batch, pre, post]`` tensors (the ``w`` factor is per
    synapse), so it runs on dense connections; conv layers use :func:`conv_winner_update`."""

    pre_traces = (TraceSpec(tau=math.inf, mode="nearest"),)  # "has fired": latched, no decay

    def __init__(self, params: KheradpishehParameters | None = None) -> None:
        self.params = params or KheradpishehParameters()
        check_range("a_plus", self.params.a_plus, 0.0)
        check_range("a_minus", self.params.a_minus, 0.0)

    def update(self, pre: torch.Tensor, post: torch.Tensor, x_pre: Traces, x_post: Traces,
               w: torch.Tensor, state: Any, dt: float) -> tuple[Update, Any]:
        if not bool(post.any()):
            return Update(None, None), state
        fired = pre_side(x_pre.after[0])  # pre at or before this (post) step
        on_post = post.unsqueeze(1)
        ltp = self.params.a_plus * fired * on_post * w
        ltd = self.params.a_minus * (1.0 - fired) * on_post * (1.0 - w)
        return Update(ltp, ltd), state


def conv_winner_update(
    weight: torch.Tensor, in_first: torch.Tensor, out_first: torch.Tensor,
    winners: torch.Tensor, a_plus: float, a_minus: float, reduce: str = "sum",
) -> torch.Tensor:
    """Eq. 3 on a shared conv kernel, learned only at the k-WTA winners.

    Args:
        weight: kernels ``[C_out, C_in, k, k]`` in [0, 1] (stride 1, input already padded).
        in_first: first-spike step of each input ``[B, C_in, H, W]`` (>= T: never).
        out_first: first-spike step of each output unit ``[B, C_out, H', W']``.
        winners: ``[B, n, 3]`` (map, row, col) per image, -1 rows = no winner.
        a_plus, a_minus: learning rates.
        reduce: how a map's updates from several images of the batch combine: ``"sum"`` (each
            image's own update, all computed from the batch's starting weights: online learning
            to first order in the rate) or ``"mean"`` (over the images where the map won).

    Returns:
        Δweight ``[C_out, C_in, k, k]``: eq. 3 on each winner's receptive field, combined per
        map by ``reduce`` (``B = 1``: exactly SpykeTorch's per-image update). The caller adds
        it and clips to [0, 1].
    """
    c_out, c_in, kh, kw = weight.shape
    b, n, _ = winners.shape
    if in_first.shape[0] != b or out_first.shape[:2] != (b, c_out):
        raise HebbtorchError("in_first, out_first and winners disagree on batch or maps")
    w_out = out_first.shape[-1]
    ok = winners[..., 0] >= 0
    if not bool(ok.any()):
        return torch.zeros_like(weight)
    bi = torch.arange(b, device=weight.device).unsqueeze(1).expand(b, n)[ok]
    f, y, x = winners[ok].unbind(1)
    cols = F.unfold(in_first, (kh, kw))  # [B, C_in kh kw, H' W']
    patch = cols[bi, :, y * w_out + x]  # [wins, C_in kh kw]
    t_post = out_first[bi, f, y, x].unsqueeze(1)
    dw = kheradpisheh_dw(weight[f].flatten(1), patch <= t_post, a_plus, a_minus)
    total = torch.zeros(c_out, c_in * kh * kw, dtype=weight.dtype, device=weight.device)
    total.index_add_(0, f, dw)
    if reduce == "mean":
        total /= torch.bincount(f, minlength=c_out).clamp_min(1).to(weight.dtype).unsqueeze(1)
    elif reduce != "sum":
        raise HebbtorchError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    return total.view_as(weight)


def _make(params: str | None) -> KheradpishehSTDP:
    registry.no_params("kheradpisheh", params)
    return KheradpishehSTDP()


registry.register(registry.RuleEntry(
    "kheradpisheh", "first-spike STDP with w(1-w) bounds (Kheradpisheh et al. 2018)", _make))
