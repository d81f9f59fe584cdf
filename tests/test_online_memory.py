"""The live-tensor counter behind bench/bench_online_memory.py, and the property it measures:
e-prop and OTTT hold a fixed amount of memory whatever the sequence length; BPTT does not."""

import pytest
import torch

from hebbtorch.studies.online_memory import LiveTensorBytes, one_step


def test_counter_counts_new_storages_until_they_are_freed():
    x = torch.ones(1000)  # made before: not counted
    with LiveTensorBytes() as m:
        a = x * 2  # 4000 B
        b = a.view(10, 100)  # a view: nothing new
        a.mul_(3)  # in place: nothing new
        c = torch.zeros(500, dtype=torch.float64)  # 4000 B
        assert m.current == 8000 and m.peak == 8000
        del a, b
        assert m.current == 4000
        d = c + 1  # 4000 B: the peak stays 8000
        del c, d
    assert m.peak == 8000 and m.current == 0


@pytest.mark.parametrize("method", ["eprop", "ottt"])
def test_online_step_memory_does_not_grow_with_T(method):
    small = dict(sizes=(8, 12, 3), batch=2, chunk=5)
    short, long = one_step(method, 10, **small), one_step(method, 100, **small)
    assert long["peak_bytes"] <= 1.1 * short["peak_bytes"]
    assert long["left_bytes"] == short["left_bytes"]  # nothing kept per step


def test_bptt_step_memory_grows_with_T():
    small = dict(sizes=(8, 12, 3), batch=2, chunk=5)
    short, long = one_step("bptt", 10, **small), one_step("bptt", 100, **small)
    assert long["peak_bytes"] > 5 * short["peak_bytes"]
