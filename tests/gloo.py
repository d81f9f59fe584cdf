"""Run a function on local processes joined by gloo on loopback, as torchrun would."""

from __future__ import annotations

import os
import socket
import sys
import traceback
from collections.abc import Callable
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, fn: Callable, port: int, nprocs: int, args: tuple,
           timeout_s: float = 1800.0) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(nprocs),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    code = 0
    try:
        dist.init_process_group("gloo", rank=rank, world_size=nprocs,
                                timeout=timedelta(seconds=timeout_s))
        fn(rank, *args)
        dist.barrier()  # no rank tears down while another still talks to it
        dist.destroy_process_group()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip interpreter teardown: destructors of DDP/gloo objects still referenced here join
        # threads that can wait forever on a peer that has already exited.
        os._exit(code)


def run_gloo(fn: Callable, *args, nprocs: int = WORLD, timeout_s: float = 1800.0) -> None:
    """Call ``fn(rank, *args)`` on ``nprocs`` forked processes (fork: the children inherit the
    imported modules; spawn re-imports torch, ~10x slower). Raises if any rank fails.
    ``timeout_s``: the process group's timeout (how long a collective waits for a peer)."""
    mp.start_processes(_entry, args=(fn, free_port(), nprocs, args, timeout_s), nprocs=nprocs,
                       join=True, start_method="fork")
