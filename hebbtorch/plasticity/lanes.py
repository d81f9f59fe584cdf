"""Lanes of a batch that share one learned weight, split over processes.

A batch of network copies updated by the batch mean of their rule updates (the shared-weight
mode of :class:`~hebbtorch.plasticity.connection.PlasticConnection`, used by the Diehl & Cook
network) can be split over ranks like independent entries, but the lanes must meet in every
step: :class:`LaneShare` places each rank's rows into the whole batch with a zero-padded
all-reduce, which is exact (every entry is ``x + 0 + ...``), and :func:`gather_update` uses it to
hand every rank the whole batch's rule update, so each rank applies the one-process update bit
for bit. :func:`batch_mean` and :func:`mean_state` reduce an update and a rule state over the
lanes. Without a process group nothing here touches ``torch.distributed``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from hebbtorch import distributed as ddp
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.core import LowRank, Update, dense


class LaneShare(NamedTuple):
    """This process's lanes ``start .. start + count - 1`` of a batch of ``total`` lanes (made by
    :func:`lane_share`). The methods are collectives when the batch is split over processes
    (all ranks must call them in the same order) and local no-ops otherwise."""

    start: int
    count: int
    total: int

    @property
    def split(self) -> bool:
        return self.count < self.total

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over the ranks (in place)."""
        return ddp.all_reduce_sum(t) if self.split else t

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on some rank."""
        return bool(self.sum(torch.tensor([float(flag)]))) if self.split else flag

    def pad(self, part: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """``part`` (``count`` along ``dim``) in its place in a zero tensor of the whole batch
        (local). A matrix product of the padded batch has the one-process shape, so its rows
        round as in one process; a product with fewer rows may take another BLAS kernel."""
        if not self.split:
            return part
        full = part.new_zeros(*part.shape[:dim], self.total, *part.shape[dim + 1:])
        full.narrow(dim, self.start, self.count).copy_(part)
        return full

    def gather(self, part: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """The whole batch (``total`` along ``dim``) from every rank's ``part`` (``count``
        along ``dim``), bit for bit: the sum of the padded parts (:meth:`pad`)."""
        return ddp.all_reduce_sum(self.pad(part, dim)) if self.split else part

    def local(self, full: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """This rank's lanes of a whole-batch tensor (the inverse of :meth:`gather`)."""
        return full.narrow(dim, self.start, self.count) if self.split else full


def lane_share(total: int, info: ddp.DistInfo | None = None) -> LaneShare:
    """This rank's contiguous share of ``total`` lanes, the split of
    :func:`~hebbtorch.distributed.shard` (all lanes without a process group)."""
    info = ddp.current() if info is None else info
    if info.enabled and total < info.world_size:
        raise HebbtorchError(f"cannot split a batch of {total} over {info.world_size} "
                             f"processes: use at most {total} processes or a larger batch")
    idx = ddp.shard(torch.arange(total), info)
    return LaneShare(int(idx[0]), len(idx), total)


def gather_update(upd: Update, share: LaneShare, weight: torch.Tensor) -> Update:
    """The whole batch's :class:`~hebbtorch.plasticity.core.Update` for the shared
    ``weight [pre, post]`` from every rank's ``upd`` of its lanes (collective when split). A
    field that is None on one rank (no spike among its lanes) but not on another contributes
    zero rows there, which add exactly nothing to the batch's sum or mean. Two all-reduces:
    the fields' kinds, then all their rows at once."""
    if not share.split:
        return upd
    fields = [None if u is None else (u,) if isinstance(u, torch.Tensor) else tuple(u)
              for u in upd]
    # per field, summed over ranks: [present, factor pair, dims of its first tensor]
    meta = share.sum(torch.tensor([[float(f is not None), float(f is not None and len(f) == 2),
                                    float(f[0].dim() if f else 0)] for f in fields]))
    n_pre, n_post = weight.shape
    shapes: list[list[tuple[int, ...]] | None] = []
    rows = []
    for f, (n, pair, dims) in zip(fields, meta.tolist(), strict=True):
        if n == 0:
            shapes.append(None)
            continue
        if pair not in (0, n) or dims not in (2 * n, 3 * n):
            raise HebbtorchError("ranks returned different kinds of plasticity update "
                                 "(factor pair vs full tensor) in the same step")
        first = (n_pre, n_post) if dims == 3 * n else (n_pre,)
        shapes.append([first, (n_post,)] if pair else [first])
        for k, shape in enumerate(shapes[-1]):
            rows.append(f[k].reshape(share.count, -1) if f else
                        weight.new_zeros(share.count, math.prod(shape)))
    if not rows:
        return Update(None, None)
    parts = iter(share.gather(torch.cat(rows, 1)).split([r.shape[1] for r in rows], 1))
    full = [None if sh is None else tuple(next(parts).reshape(share.total, *s) for s in sh)
            for sh in shapes]
    return Update(*(f if f is None or len(f) == 2 else f[0] for f in full))


def batch_mean(u: torch.Tensor | LowRank | None) -> torch.Tensor | None:
    """Mean over the lanes of an :class:`Update` field, as one ``[pre, post]`` tensor: a factor
    pair ``(a [B, pre], b [B, post])`` becomes ``a^T b / B`` (one matmul)."""
    if u is None:
        return None
    if isinstance(u, tuple) and u[0].dim() == 2:
        a, b = u
        return (a.T @ b).div_(a.shape[0])
    return dense(u).mean(0)


def mean_state(state: Any, share: LaneShare) -> Any:
    """Rule-state fields that came back per lane (``[B, pre, post]`` from a ``[1, pre, post]``
    state, e.g. Graupner-Brunel's ρ) averaged over the whole batch: one synapse per weight."""
    if share.total == 1 or not isinstance(state, tuple):
        return state
    return type(state)(*(share.gather(s).mean(0, keepdim=True)
                         if isinstance(s, torch.Tensor) and s.dim() == 3
                         and s.shape[0] == share.count else s for s in state))
