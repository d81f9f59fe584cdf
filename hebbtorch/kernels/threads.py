"""Thread counts for work whose parallel steps are short.

OpenMP threads wait for each other at the end of every parallel region (and torch's intra-op
pool at the end of every parallel operation). When another process runs on the same cores, a
thread that the OS has taken off its core holds everyone up: on 2 cores with one other busy
process, the Diehl & Cook training (one image at a time: each step's operations are tiny) ran
2.6-4.5x slower with 2 threads than with 1 (issue 23). Work of many short regions therefore runs
on one thread unless it is large enough to pay for the waits; work split into few long, dynamically
scheduled pieces (the batched frozen evaluation) uses all threads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

# synapses (inputs x neurons) from which the training kernel's per-step row updates
# (Graupner-Brunel) are split over threads: 784 x 400 and up
LARGE_LAYER = 784 * 400


def layer_threads(synapses: int) -> int:
    """Threads for a fused training step over ``synapses`` weights: 1 below
    :data:`LARGE_LAYER`, else ``torch.get_num_threads()``."""
    return torch.get_num_threads() if synapses >= LARGE_LAYER else 1


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at ``threads`` (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def runnable_others(loadavg: str = "/proc/loadavg") -> int:
    """Threads of other processes runnable right now (Linux: the running count of
    ``/proc/loadavg`` less the caller); 0 where that file is missing or unreadable."""
    try:
        with open(loadavg) as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return 0
    return max(0, running - 1)


def idle_threads(top: int) -> int:
    """At most ``top`` threads, one per core not taken by another runnable thread (at least 1):
    beside a busy process on 2 cores, the evaluation's second thread lost ~10 % against one
    (bench/results/unsupervised-e2e.json); a snapshot, taken once per call."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(top, (cores or 1) - runnable_others()))
