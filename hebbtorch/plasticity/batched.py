"""Split batched plasticity simulations across processes (``torchrun`` or any process group).

The batch dim of :class:`~hebbtorch.plasticity.PlasticConnection` holds independent networks or
protocol repetitions, so N processes can each simulate a contiguous share of it -- the split the
trainer makes of a global batch (:func:`hebbtorch.distributed.shard`) -- and gather
the results in rank order. Without a process group (or with one process) everything runs
locally and nothing touches ``torch.distributed``.

Two rules make the union of the shares equal the one-process run bit for bit:

1. **Randomness per entry.** An entry that needs random input draws it from its own generator,
   :func:`entry_generator` ``(seed, stream, index)``; one generator for the whole batch would
   interleave the entries' draws, so an entry's input would depend on the batch it is drawn in.
2. **The same time steps.** :meth:`PlasticConnection.run` skips steps in which no entry of its
   batch spikes and decays the traces over the gap in one multiplication; ``x a^n`` and
   ``(x a^k) a^(n-k)`` round differently in float32, so a rank that skips other steps than the
   one-process run drifts from it by ~1e-7. :func:`run_trains` therefore appends one entry
   without presynaptic spikes that fires postsynaptically in every step in which any entry on
   any rank spikes (an all-reduce of ``[time]`` flags), and drops it afterwards: every rank
   visits exactly the steps of the one-process run. This is exact for connections without
   delays (all the protocols); with axonal or trace delays the engine's active steps are the
   delayed arrivals, and shares agree with one process only up to float rounding.

Lanes that *share* learned weights (a batch of network copies updated by the batch mean, as
:class:`~hebbtorch.networks.diehl_cook.DiehlCookNetwork`) split the same way, but must meet in
every step: :class:`LaneShare` places each rank's rows into the whole batch with a zero-padded
all-reduce, which is exact (every entry is ``x + 0 + ...``), and :func:`gather_update` uses it
to hand every rank the whole batch's rule update, so each rank applies the one-process update
bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from hebbtorch import distributed as ddp
from hebbtorch.checks import check_ndim
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.connection import PlasticConnection
from hebbtorch.plasticity.core import PlasticityRule, Update


def entry_seed(seed: int, *key: int) -> int:
    """A 64-bit seed for batch entry ``key`` (e.g. ``(stream, index)``) of a run seeded
    ``seed``, hashed by numpy's ``SeedSequence`` so that neighbouring keys give unrelated
    streams (``seed + index`` would make runs with nearby seeds share entries)."""
    if seed < 0 or any(k < 0 for k in key):
        raise HebbtorchError(f"seeds and entry keys must be >= 0, got seed {seed}, key {key}")
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0])


def entry_generator(seed: int, *key: int) -> torch.Generator:
    """A CPU generator seeded with :func:`entry_seed` ``(seed, *key)``."""
    return torch.Generator().manual_seed(entry_seed(seed, *key))


def split_batch(simulate: Callable[[torch.Tensor], torch.Tensor], n: int,
                info: ddp.DistInfo | None = None) -> torch.Tensor:
    """Results ``[n, ...]`` of ``n`` independent batch entries, each rank computing its share.

    ``simulate(idx)`` gets this rank's entry indices (a contiguous slice of ``0 .. n-1``) and
    returns their results ``[len(idx), ...]``. The shares are gathered in rank order, so every
    rank returns what ``simulate(torch.arange(n))`` returns in one process. A collective under a
    process group (default: the running one): all ranks must call it in the same order."""
    info = ddp.current() if info is None else info
    if info.enabled and n < info.world_size:
        raise HebbtorchError(
            f"cannot split {n} batch entries over {info.world_size} processes: use at most "
            f"{n} processes or more repetitions")
    idx = ddp.shard(torch.arange(n), info)
    part = simulate(idx)
    if part.shape[0] != len(idx):
        raise HebbtorchError(
            f"simulate returned {part.shape[0]} results for {len(idx)} batch entries")
    if not info.enabled:
        return part
    return torch.cat(ddp.gather_objects(part.cpu(), info)).to(part.device)


def global_activity(pre: torch.Tensor, post: torch.Tensor,
                    info: ddp.DistInfo | None = None) -> torch.Tensor:
    """``[time]`` bool: the steps in which any entry on any rank has a pre or post spike.
    Collective; the trains must have the same length on every rank (checked)."""
    info = ddp.current() if info is None else info
    active = (pre != 0).flatten(1).any(1) | (post != 0).flatten(1).any(1)
    if not info.enabled:
        return active
    lengths = ddp.gather_objects(active.shape[0], info)
    if len(set(lengths)) > 1:
        raise HebbtorchError(f"spike trains differ in length between ranks: {lengths} steps")
    return ddp.all_reduce_sum(active.to(torch.int32)) > 0


def run_trains(rule: PlasticityRule, pre: torch.Tensor, post: torch.Tensor, *,
               chunk: int | None = None, info: ddp.DistInfo | None = None,
               **connection: Any) -> torch.Tensor:
    """Drive a fresh ``PlasticConnection(n_pre, n_post, rule, batch=..., **connection)`` with
    this rank's trains ``pre [time, batch, n_pre]`` and ``post [time, batch, n_post]``; return
    the weights after every ``chunk`` steps, ``[n_chunks, batch, n_pre, n_post]`` (one chunk,
    the final weights, when None). Under a process group the steps are synchronised across
    ranks (see the module docstring), so it is a collective. ``w_init`` in ``connection`` must
    broadcast without a batch dim (the extra synchronising entry shares it)."""
    info = ddp.current() if info is None else info
    check_ndim("pre spike train", pre, 3, "[time, batch, neurons]")
    check_ndim("post spike train", post, 3, "[time, batch, neurons]")
    if pre.shape[:2] != post.shape[:2]:
        raise HebbtorchError(f"pre {tuple(pre.shape)} and post {tuple(post.shape)} trains "
                             "differ in time steps or batch entries")
    if chunk is not None and chunk <= 0:
        raise HebbtorchError(f"chunk must be a positive number of steps, got {chunk}")
    T, B = pre.shape[:2]
    if info.enabled:
        clock = post.new_zeros(T, 1, post.shape[2])
        clock[:, 0, 0] = global_activity(pre, post, info).to(post.dtype)
        pre = torch.cat([pre, pre.new_zeros(T, 1, pre.shape[2])], 1)
        post = torch.cat([post, clock], 1)
    conn = PlasticConnection(pre.shape[2], post.shape[2], rule, batch=pre.shape[1], **connection)
    step = chunk or T
    weights = []
    for t in range(0, T, step):
        conn.run(pre[t:t + step], post[t:t + step])
        weights.append(conn.weight.detach()[:B].clone())
    return torch.stack(weights)


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
