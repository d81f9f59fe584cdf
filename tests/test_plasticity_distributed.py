"""Batched plasticity simulations split across 2 CPU processes (gloo on 127.0.0.1) against one
process: the same per-repetition weight changes, bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from gloo import WORLD, free_port, run_gloo

from hebbtorch import distributed as ddp
from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.plasticity.batched import entry_seed, run_trains, split_batch
from hebbtorch.studies.protocols import (
    learning_speed,
    make_rule,
    poisson_repetitions,
    rate_dependence,
)

# sparse trains (few entries per rank, low rates) so that ranks see different silent steps;
# odd repetition counts give uneven shares
RATE = dict(post_rates=[2.0, 40.0], pre_rate=10.0, duration_s=2.0, reps=3, correlation=0.5,
            seed=4)
SPEED = dict(rate_hz=10.0, duration_s=3.0, reps=5, seed=2)
PAIR = dict(post_rates=[5.0], reps=7, pre_rate=5.0, duration_s=2.0, correlation=0.5,
            lag_ms=5.0, seed=9, stream=0)


def _pair_dw() -> torch.Tensor:
    """Per-repetition Δw of pair STDP, repetitions split over the running group."""
    def simulate(idx: torch.Tensor) -> torch.Tensor:
        pre, post = poisson_repetitions(idx=idx, **PAIR)
        w = run_trains(make_rule("pair"), pre, post, w_init=1.0, bounds=None)
        return w[-1, :, 0, 0] - 1.0
    return split_batch(simulate, PAIR["reps"])


def _results() -> dict:
    return {"pair_dw": _pair_dw(),
            **{f"rate_{r}": rate_dependence(r, **RATE) for r in ("triplet", "calcium", "gb")},
            "speed": learning_speed(**SPEED)}


def _worker(rank: int, tmp: str) -> None:
    torch.save(_results(), f"{tmp}/rank{rank}.pt")


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plasticity_ddp")
    run_gloo(_worker, str(tmp))
    return [torch.load(tmp / f"rank{r}.pt") for r in range(WORLD)]


def test_split_repetitions_equal_single_process(split_run):
    single = _results()
    for rank_results in split_run:  # every rank holds the gathered results
        assert torch.equal(rank_results.pop("pair_dw"), single["pair_dw"])
        assert rank_results == {k: v for k, v in single.items() if k != "pair_dw"}
    assert float(single["pair_dw"].abs().min()) > 0  # every repetition learned something
    w_final = single["speed"]["correlated"]["w_final"]
    assert len(set(w_final)) == SPEED["reps"]  # repetitions differ: independent streams


def test_repetition_trains_do_not_depend_on_batch():
    """A repetition's trains are the same whichever others are drawn with it."""
    kw = dict(post_rates=[5.0, 30.0], reps=4, pre_rate=10.0, duration_s=1.0, correlation=0.5,
              lag_ms=5.0, seed=1, stream=1)
    pre, post = poisson_repetitions(idx=torch.arange(8), **kw)
    pre_b, post_b = poisson_repetitions(idx=torch.tensor([6, 1]), **kw)
    assert torch.equal(pre_b, pre[:, [6, 1]]) and torch.equal(post_b, post[:, [6, 1]])
    assert not torch.equal(pre[:, 0], pre[:, 1])
    # post rates follow the condition's rate (k // reps): 5 Hz vs 30 Hz over 4 x 1 s
    assert post[:, :4].sum() < post[:, 4:].sum()


def test_entry_seeds_are_distinct_and_checked():
    seeds = {entry_seed(0, s, k) for s in range(2) for k in range(100)}
    assert len(seeds) == 200 and entry_seed(3, 0, 5) == entry_seed(3, 0, 5)
    with pytest.raises(HebbtorchError, match=">= 0"):
        entry_seed(-1, 0)


def test_split_batch_needs_an_entry_per_process():
    with pytest.raises(HebbtorchError, match="cannot split 3 batch entries over 4"):
        split_batch(lambda idx: idx, 3, ddp.DistInfo(rank=0, world_size=4))
    with pytest.raises(HebbtorchError, match="2 results for 3"):
        split_batch(lambda idx: idx[:2], 3)


def test_run_trains_chunks_continue_the_run():
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(300, 4, 2, generator=g) < 0.05).float()
    post = (torch.rand(300, 4, 3, generator=g) < 0.05).float()
    whole = run_trains(make_rule("triplet"), pre, post, w_init=0.5)
    chunks = run_trains(make_rule("triplet"), pre, post, chunk=100, w_init=0.5)
    assert whole.shape == (1, 4, 2, 3) and chunks.shape == (3, 4, 2, 3)
    torch.testing.assert_close(chunks[-1], whole[0], rtol=0, atol=1e-6)
    assert not torch.equal(chunks[0], chunks[-1])
    with pytest.raises(HebbtorchError, match="differ"):
        run_trains(make_rule("pair"), pre, post[:, :3])


@pytest.mark.slow
def test_torchrun_protocol_cli_matches_single_process(tmp_path):
    """``hebbtorch protocol rate`` under torchrun writes once, the one-process numbers."""
    args = ["protocol", "rate", "--rule", "triplet", "--reps", "3", "--seed", "5"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}",
           "-m", "hebbtorch.cli.main", *args, "--out", str(tmp_path / "two")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("wrote") == 1  # rank 0 only
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    one, two = (json.loads((tmp_path / d / "rate_triplet.json").read_text())
                for d in ("one", "two"))
    one.pop("seconds"), two.pop("seconds")
    assert one == two
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "rate_triplet.json", "rate_triplet.png"]
