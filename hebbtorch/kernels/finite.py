"""NaN / infinity checks of the CUDA kernels' inputs, without stalling the host.

The Triton forwards count non-finite currents into a one-element device counter while they read
them (no extra pass). Reading the counter at once would make the host wait for the kernel, so it
could not queue the next work meanwhile: the stall that made the fp32 Open Neuromorphic workload
slower than SpikingJelly's (docs/benchmarks.md). So, as CUDA reports its own errors, the count is
copied to pinned host memory behind the kernel and looked at later: at the start of every later
fused CUDA call, in :func:`raise_pending` (the trainer calls it after each epoch), and at exit (a
warning). ``HEBBTORCH_SYNC_CHECKS=1`` in the environment raises at the call instead (one
synchronisation per call). Inside CUDA-graph capture nothing can be read back: no check there.
The CPU kernels always raise at the call (their count costs nothing).
"""

from __future__ import annotations

import atexit
import itertools
import os
import warnings
from typing import NamedTuple

import torch
from torch import Tensor

from hebbtorch.errors import HebbtorchError


class _Pending(NamedTuple):
    count: Tensor  # pinned host int32 [1], filled by a copy queued behind the kernel
    done: torch.cuda.Event
    op: str
    call: int


_pending: list[_Pending] = []
_calls = itertools.count(1)


def message(n: int) -> str:
    return f"currents contains {n} NaN or infinite value(s)"


def counter(device: torch.device) -> Tensor:
    """A zeroed device counter for one launch."""
    return torch.zeros(1, dtype=torch.int32, device=device)


def sync_checks() -> bool:
    return os.environ.get("HEBBTORCH_SYNC_CHECKS", "") not in ("", "0")


def check(bad: Tensor, op: str) -> None:
    """Check a launch's counter: now with ``HEBBTORCH_SYNC_CHECKS=1``, else after the kernel."""
    if sync_checks():
        n = int(bad.item())
        if n:
            raise HebbtorchError(message(n))
        return
    if torch.cuda.is_current_stream_capturing():
        return
    raise_pending(wait=False)  # earlier calls that have finished (never this one: no race)
    count = torch.empty(1, dtype=torch.int32, pin_memory=True)
    count.copy_(bad, non_blocking=True)
    done = torch.cuda.Event()
    done.record()
    _pending.append(_Pending(count, done, op, next(_calls)))


def raise_pending(wait: bool = True) -> None:
    """Raise HebbtorchError if a finished fused CUDA call saw NaN or infinite currents.
    ``wait``: wait for the calls still running (a synchronisation), else skip them."""
    if not _pending or torch.cuda.is_current_stream_capturing():
        return
    for p in list(_pending):
        if wait:
            p.done.synchronize()
        elif not p.done.query():
            continue
        _pending.remove(p)
        if n := int(p.count[0]):
            raise HebbtorchError(
                f"{message(n)} (CUDA call {p.op} #{p.call}, found after it "
                "returned: the fused CUDA kernels check without synchronising; "
                "HEBBTORCH_SYNC_CHECKS=1 raises at the call)")


@atexit.register
def _at_exit() -> None:
    try:
        raise_pending()
    except HebbtorchError as e:
        warnings.warn(str(e), RuntimeWarning, stacklevel=1)
