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
