"""Data-parallel training across processes (``torchrun``): process-group setup and teardown,
rank / world size, the per-rank shard of a global batch, and all-reduce of metrics.

``hebbtorch train`` runs unchanged under ``torchrun --nproc_per_node=N``: when the environment
says ``WORLD_SIZE > 1`` the trainer joins the process group (NCCL on CUDA, gloo on CPU), wraps
the model in :class:`~torch.nn.parallel.DistributedDataParallel`, and every rank takes its
contiguous slice of each *global* batch (``--batch-size`` stays the global batch, so the batches
seen are the same as in one process). Only rank 0 writes logs, progress bars, checkpoints and
reports. Each rank draws model noise (the seed's stochastic input) from its own generator, seeded
``seed + 1 + 1_000_003 * rank``: for such models the run differs from a single-process one; for
deterministic models (direct current input, no dropout) the averaged gradients are the
single-process gradients of the global batch (up to float rounding).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from hebbtorch.errors import HebbtorchError


class PeerFailed(HebbtorchError):
    """Raised on the healthy ranks when another rank failed inside :func:`fail_together`."""


@dataclass(frozen=True)
class DistInfo:
    """rank: this process (0 .. world_size - 1); local_rank: its index on this node (GPU id)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # True when setup() created the process group (teardown ends it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise HebbtorchError(f"WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") \
            from None


def current() -> DistInfo:
    """The running process group's rank and size (rank 0 of 1 when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def is_main_process() -> bool:
    """Rank 0 of the running group, or of the torchrun launch (``RANK`` in the environment),
    so it stays right after the group is gone; True for a plain single process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def setup(device: torch.device, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group when ``WORLD_SIZE > 1`` (torchrun sets WORLD_SIZE, RANK,
    LOCAL_RANK, MASTER_ADDR, MASTER_PORT); a no-op for one process or if already joined.
    Backend: NCCL when ``device`` is CUDA, gloo otherwise."""
    if dist.is_available() and dist.is_initialized():
        return current()
    if env_world_size() <= 1:
        return DistInfo()
    if not dist.is_available():
        raise HebbtorchError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise HebbtorchError(f"WORLD_SIZE > 1 but {var} is not set: launch with torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, owns_group=True)


def teardown(info: DistInfo) -> None:
    """Leave the process group if :func:`setup` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """On CUDA each rank uses GPU ``local_rank`` (``cuda`` -> ``cuda:LOCAL_RANK``)."""
    if info.enabled and device.type == "cuda" and device.index is None:
        return torch.device("cuda", info.local_rank)
    return device


def check_batch(batch_size: int, info: DistInfo) -> int:
    """Per-rank batch size = global batch / world size; the division must be exact."""
    if batch_size % info.world_size:
        raise HebbtorchError(
            f"--batch-size {batch_size} (the global batch) must be divisible by the number of "
            f"processes ({info.world_size}); use a multiple of {info.world_size}")
    return batch_size // info.world_size


def shard(indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's contiguous slice of a global batch's indices. A short last batch is split
    as evenly as possible (``tensor_split``), so slices may differ in size by one."""
    if not info.enabled:
        return indices
    return torch.tensor_split(indices, info.world_size)[info.rank]


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (in place, returned); identity for one process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_reduce_metrics(metrics: dict[str, float], device: torch.device | str = "cpu"
                       ) -> dict[str, float]:
    """Sum each named number over ranks (send sums and counts, then divide, for means)."""
    if not metrics:
        return {}
    keys = sorted(metrics)
    t = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=device)
    t = all_reduce_sum(t)
    return {k: float(v) for k, v in zip(keys, t.tolist(), strict=True)}


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj`` in rank order (on all ranks); ``[obj]`` for one process."""
    if not info.enabled:
        return [obj]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


@contextlib.contextmanager
def fail_together(info: DistInfo, where: str, device: torch.device | str = "cpu"
                  ) -> Iterator[None]:
    """Run the block on every rank, then all-reduce whether it failed anywhere: the failing
    rank re-raises its own error, every other rank raises :class:`PeerFailed` naming the ranks
    and ``where``. The block must hold no collective that a failing rank could skip (a peer
    would wait in it). ``device``: where the flag lives (the rank's GPU under NCCL). One tiny
    all-reduce per block; nothing for one process."""
    if not info.enabled:
        yield
        return
    failed: BaseException | None = None
    try:
        yield
    except Exception as e:  # KeyboardInterrupt / SystemExit end the process: torchrun reaps it
        failed = e
    flags = torch.zeros(info.world_size, dtype=torch.float32, device=device)
    flags[info.rank] = float(failed is not None)
    all_reduce_sum(flags)
    if failed is not None:
        raise failed
    bad = [r for r, f in enumerate(flags.tolist()) if f]
    if bad:
        raise PeerFailed(f"rank {', '.join(map(str, bad))} failed during {where} (its message "
                         "is in its own output); this rank stops too")
