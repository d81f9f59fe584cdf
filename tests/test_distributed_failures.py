"""An error on one rank reaches every rank at once (hebbtorch.distributed.fail_together), instead
of leaving the others in their next collective until the process group's timeout: two gloo CPU
processes, a group timeout of 120 s, and each failure must be seen on both ranks within 30 s."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from gloo import run_gloo
from test_distributed import _cfg, _data

from hebbtorch import distributed as ddp
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning import bptt

GROUP_TIMEOUT_S = 120.0  # what a rank would wait for a lost peer without the fix
WITHIN_S = 30.0


def _record(tmp: str, rank: int, case: str, fn) -> None:
    """Run ``fn``; write which error it raised on this rank and how long it took."""
    t0 = time.perf_counter()
    try:
        fn()
        what = None
    except Exception as e:
        what = f"{type(e).__name__}: {e}"
    Path(tmp, f"{case}-{rank}.json").write_text(json.dumps(
        {"error": what, "seconds": time.perf_counter() - t0}))


def _worker(rank: int, tmp: str) -> None:
    info = ddp.current()

    def unit() -> None:  # rank 0 fails after a collective both ranks completed
        ddp.all_reduce_sum(torch.ones(3))
        with ddp.fail_together(info, "the unit block"):
            if rank == 0:
                raise HebbtorchError("rank 0 is broken (simulated)")
        ddp.all_reduce_sum(torch.ones(3))  # without the flag rank 1 would wait here

    def report_fails() -> None:  # rank 0's report after the epoch's collectives
        def broken(*a, **k):
            raise OSError("disk full (simulated)")
        real, bptt._report = bptt._report, broken if rank == 0 else bptt._report
        try:
            bptt.train(_cfg(epochs=2), f"{tmp}/report", quiet=True, data=_data())
        finally:
            bptt._report = real

    def forward_fails() -> None:  # a NaN in rank 1's shard only: its forward raises
        real = bptt._as_float

        def nan_on_rank1(images, device):
            x = real(images, device)
            return x.fill_(float("nan")) if rank == 1 else x
        bptt._as_float = nan_on_rank1
        os.environ["HEBBTORCH_BACKEND"] = "reference"  # no kernel build inside the forks
        try:
            bptt.train(_cfg(model="lif-mlp", num_steps=3), f"{tmp}/forward", quiet=True,
                       data=_data())
        finally:
            bptt._as_float = real
            del os.environ["HEBBTORCH_BACKEND"]

    for case, fn in (("unit", unit), ("report", report_fails), ("forward", forward_fails)):
        _record(tmp, rank, case, fn)


def _outcome(tmp: Path, case: str, rank: int) -> dict:
    return json.loads((tmp / f"{case}-{rank}.json").read_text())


def test_an_error_on_one_rank_stops_every_rank_at_once(tmp_path):
    t0 = time.perf_counter()
    run_gloo(_worker, str(tmp_path), timeout_s=GROUP_TIMEOUT_S)
    assert time.perf_counter() - t0 < 3 * WITHIN_S + 30  # nothing waited for a timeout
    expect = {  # case -> (failing rank, its own message)
        "unit": (0, "rank 0 is broken"), "report": (0, "disk full"),
        "forward": (1, "NaN or infinite")}
    for case, (bad, message) in expect.items():
        for rank in (0, 1):
            got = _outcome(tmp_path, case, rank)
            assert got["seconds"] < WITHIN_S, (case, rank, got)
            assert got["error"] is not None, (case, rank)
            if rank == bad:
                assert message in got["error"], (case, rank, got)
            else:
                assert got["error"].startswith("PeerFailed: rank "), (case, rank, got)
                assert f"rank {bad} failed" in got["error"]


def test_fail_together_is_transparent_in_one_process():
    info = ddp.DistInfo()
    with ddp.fail_together(info, "x"):
        pass
    try:
        with ddp.fail_together(info, "x"):
            raise HebbtorchError("own")
    except HebbtorchError as e:
        assert str(e) == "own"
