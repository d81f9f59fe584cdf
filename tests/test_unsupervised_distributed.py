"""Batched Diehl & Cook training with its lanes split over 2 CPU processes (gloo on 127.0.0.1)
against one process: the same weights, theta, activity, traces and metrics, bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from gloo import WORLD, free_port, run_gloo

from hebbtorch import distributed as ddp
from hebbtorch.cli.main import main
from hebbtorch.data import write_idx
from hebbtorch.learning.unsupervised import make_rule, train_unsupervised
from hebbtorch.networks.diehl_cook import (
    N_INPUT,
    DiehlCookNetwork,
    DiehlCookParameters,
    initial_weights,
)
from hebbtorch.plasticity.batched import LaneShare, gather_update, lane_share
from hebbtorch.plasticity.core import Update

# 2 batches of 5 images (the lanes carry their activity from one to the next) in uneven shares
# (3 + 2 lanes); with 16 neurons MKL rounds the rows of 2- or 3-row products with the weights
# differently from those of the 5-row product (see LaneShare.pad)
RUN = dict(rule="dc", neurons=16, images=10, batch=5, update_interval=5, checkpoint_every=5,
           label_images=4, test_images=4, eval_batch=4, seed=1, quiet=True)


def _bright_images(folder: Path) -> str:
    """Noise images with ~12 input spikes per step, so that the input products of a rank's
    rows and of the whole batch sum enough terms to round differently (unpadded)."""
    g = torch.Generator().manual_seed(0)
    for stem, n in (("train", 20), ("t10k", 4)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte", images.numpy())
        labels = (torch.arange(n) % 10).to(torch.uint8)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels.numpy())
    return str(folder)


def _gb_weights() -> torch.Tensor:
    """Graupner-Brunel (dense updates, per-lane rho averaged) learning one batch of 3 images,
    its lanes split over the running group (if any)."""
    setup = make_rule("gb")
    share = lane_share(3)
    net = DiehlCookNetwork(4, setup.rule, bounds=setup.bounds, batch=share.count, share=share,
                           w_init=setup.init(4, torch.Generator().manual_seed(0)))
    img = torch.randint(0, 256, (3, N_INPUT), generator=torch.Generator().manual_seed(1))
    lanes = range(share.start, share.start + share.count)
    net.present(img[share.start:share.start + share.count].float(), learn=True, seed=list(lanes))
    return net.weight


def _worker(rank: int, data: str, tmp: str) -> None:
    """``data``: an IDX folder for the training run, or "gb" for :func:`_gb_weights`."""
    if data == "gb":
        torch.save(_gb_weights(), f"{tmp}/gb{rank}.pt")
        return
    share = lane_share(3)  # 2 + 1 lanes
    # a field that is None on one rank only: zero rows there, the other rank's rows kept
    mine = torch.full((share.count, 5), float(rank + 1))
    upd = Update((mine, mine[:, :2]) if rank == 0 else None, mine.unsqueeze(2).expand(-1, 5, 2))
    full = gather_update(upd, share, torch.zeros(5, 2))
    metrics = train_unsupervised(f"{tmp}/two", dataset=data, **RUN)
    torch.save({"share": share, "update": full, "metrics": metrics}, f"{tmp}/rank{rank}.pt")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unsupervised_ddp")
    data = _bright_images(tmp / "data")
    run_gloo(_worker, data, str(tmp))
    one = train_unsupervised(tmp / "one", dataset=data, **RUN)
    # the test's own files (metrics hold a TorchVersion): a full unpickle is safe here
    ranks = [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return tmp, one, ranks


def test_split_batches_learn_the_one_process_weights(runs):
    tmp, one, ranks = runs
    a = torch.load(tmp / "one" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp / "two" / "checkpoint.pt", weights_only=True)
    assert b["run"]["seen"] == a["run"]["seen"] == RUN["images"]
    assert torch.equal(a["weight"], b["weight"]) and torch.equal(a["theta"], b["theta"])
    # the whole batch's activity and traces, gathered by rank 0 (resumable with any split)
    for k, v in a["dynamic"]["state"].items():
        assert torch.equal(v, b["dynamic"]["state"][k]), k
    for k in ("pre", "post"):
        assert all(torch.equal(x, y) for x, y in
                   zip(a["dynamic"]["learner"][k], b["dynamic"]["learner"][k], strict=True))
    assert [r["images_seen"] for r in a["run"]["curve"]] == [10]
    assert all(torch.equal(x, y) for x, y in zip(a["run"]["assigned"], b["run"]["assigned"],
                                                 strict=True))
    # learning happened, and theta counted every lane's spikes on both ranks
    w0 = initial_weights(RUN["neurons"], DiehlCookParameters(),
                         torch.Generator().manual_seed(RUN["seed"]))
    assert not torch.allclose(a["weight"], w0 * (78.0 / w0.sum(0)), atol=1e-4)
    assert float(a["theta"].max()) > DiehlCookParameters().theta_init
    # rank 0 wrote and evaluated, rank 1 returned nothing; the metrics match one process
    assert ranks[1]["metrics"] == {}
    two = json.loads((tmp / "two" / "metrics.json").read_text())
    assert two["final"] == one["final"] and two["curve"] == one["curve"]
    assert two["confusion_all_activity"] == one["confusion_all_activity"]


@pytest.mark.slow
def test_split_dense_rule_learns_the_one_process_weights(tmp_path):
    run_gloo(_worker, "gb", str(tmp_path))
    one = _gb_weights()
    assert not torch.equal(one, make_rule("gb").init(4, torch.Generator().manual_seed(0)))
    for rank in range(WORLD):
        assert torch.equal(torch.load(tmp_path / f"gb{rank}.pt"), one)


def test_gathered_update_has_every_rank_s_lanes(runs):
    _, _, ranks = runs
    assert [r["share"] for r in ranks] == [LaneShare(0, 2, 3), LaneShare(2, 1, 3)]
    for r in ranks:  # identical on both ranks
        ltp, ltd = r["update"]
        assert ltp[0].tolist() == [[1.0] * 5] * 2 + [[0.0] * 5]  # rank 1 had none: zeros
        assert ltp[1].shape == (3, 2)
        assert ltd.shape == (3, 5, 2) and ltd[:, 0, 0].tolist() == [1.0, 1.0, 2.0]


def test_one_lane_seed_list_is_the_online_stream():
    """``seed=[s]`` for batch 1 draws what ``seed=s`` draws: online runs are unchanged."""
    img = torch.zeros(1, N_INPUT)
    img[0, 200:400] = 255.0

    def counts(seed) -> torch.Tensor:
        net = DiehlCookNetwork(6, generator=torch.Generator().manual_seed(0))
        return net.present(img, learn=True, seed=seed)[0]

    assert counts(12).sum() > 0 and torch.equal(counts([12]), counts(12))
    assert not torch.equal(counts([13]), counts(12))


def test_batch_must_cover_the_processes():
    from hebbtorch.errors import HebbtorchError

    with pytest.raises(HebbtorchError, match="cannot split a batch of 1 over 2"):
        lane_share(1, ddp.DistInfo(rank=0, world_size=2))
    with pytest.raises(HebbtorchError, match="2 seeds for a batch of 1"):
        DiehlCookNetwork(2).present(torch.zeros(1, N_INPUT), learn=False, seed=[1, 2])


@pytest.mark.slow
def test_torchrun_unsupervised_cli_matches_single_process(tmp_path):
    """``hebbtorch unsupervised --batch 4`` under torchrun: rank 0 writes the one-process run."""
    data = _bright_images(tmp_path / "data")
    args = ["unsupervised", "--dataset", data, "--neurons", "16", "--images", "8",
            "--batch-size", "4",
            "--update-interval", "4", "--checkpoint-every", "4", "--label-images", "4",
            "--test-images", "4", "--eval-batch", "4", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}",
           "-m", "hebbtorch.cli.main", *args, "--out", str(tmp_path / "two")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    one, two = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True)
                for d in ("one", "two"))
    assert torch.equal(one["weight"], two["weight"]) and torch.equal(one["theta"], two["theta"])
    m1, m2 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two"))
    assert m1["final"] == m2["final"] and m1["curve"] == m2["curve"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())
