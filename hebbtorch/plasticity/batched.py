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

Lanes that *share* learned weights split the same way: :mod:`hebbtorch.plasticity.lanes`
(re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hebbtorch import distributed as ddp
from hebbtorch.checks import check_ndim
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.connection import PlasticConnection
from hebbtorch.plasticity.core import PlasticityRule
from hebbtorch.plasticity.lanes import LaneShare, gather_update, lane_share

__all__ = ["LaneShare", "entry_generator", "entry_seed", "gather_update", "global_activity",
           "lane_share", "run_trains", "split_batch"]


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
