"""Data-parallel training: 2 CPU processes (gloo on 127.0.0.1) against one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from gloo import WORLD, free_port, run_gloo
from torch.nn import functional as F

from hebbtorch import distributed as ddp
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.bptt import train
from hebbtorch.learning.config import TrainConfig
from hebbtorch.networks.registry import build_model


def _data(n_train: int = 61, n_test: int = 16):
    g = torch.Generator().manual_seed(5)
    tr_x = torch.randint(0, 256, (n_train, 28, 28), generator=g, dtype=torch.uint8)
    te_x = torch.randint(0, 256, (n_test, 28, 28), generator=g, dtype=torch.uint8)
    return (tr_x, torch.randint(0, 10, (n_train,), generator=g),
            te_x, torch.randint(0, 10, (n_test,), generator=g))


def _cfg(**kw) -> TrainConfig:
    base = dict(model="ann-mlp", hidden=16, epochs=1, batch_size=16, lr=0.2,
                schedule="constant", device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def _global_batch():
    g = torch.Generator().manual_seed(11)
    return torch.rand(12, 28, 28, generator=g), torch.randint(0, 10, (12,), generator=g)


def _worker(rank: int, tmp: str) -> None:
    info = ddp.current()
    # 1. DDP-averaged gradients of the rank shards == one process's on the global batch
    torch.manual_seed(0)
    model = build_model("lif-mlp", 4, 16)
    net = torch.nn.parallel.DistributedDataParallel(model)
    x, y = _global_batch()
    idx = ddp.shard(torch.arange(len(y)), info)
    logits = net(x[idx])
    loss = F.cross_entropy(logits, y[idx], reduction="sum") * (WORLD / len(y))
    loss.backward()
    if rank == 0:
        torch.save({k: p.grad for k, p in model.named_parameters()}, f"{tmp}/grads.pt")
    # 2. the trainer, data-parallel (uneven last batch: 61 = 3 * 16 + 13)
    train(_cfg(), f"{tmp}/ddp", quiet=True, data=_data())
    # 3. exact resume: stop after 2 of the 4 steps, continue
    train(_cfg(), f"{tmp}/resumed", quiet=True, data=_data(), stop_after_batches=2)
    train(_cfg(), f"{tmp}/resumed", quiet=True, data=_data(), resume=True)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    run_gloo(_worker, str(tmp))
    return tmp


def _model_state(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def test_ddp_gradients_equal_single_process(ddp_run):
    torch.manual_seed(0)
    model = build_model("lif-mlp", 4, 16)
    x, y = _global_batch()
    F.cross_entropy(model(x), y).backward()
    grads = torch.load(ddp_run / "grads.pt")
    for k, p in model.named_parameters():
        torch.testing.assert_close(grads[k], p.grad, rtol=1e-5, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in grads.values())


def test_ddp_trainer_matches_single_process(ddp_run, tmp_path):
    single = train(_cfg(), tmp_path / "single", quiet=True, data=_data())
    par = _model_state(ddp_run / "ddp")
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(par[k], v, rtol=1e-4, atol=1e-5)
    m1 = json.loads((tmp_path / "single" / "metrics.json").read_text())
    m2 = json.loads((ddp_run / "ddp" / "metrics.json").read_text())
    assert m2["world_size"] == WORLD
    for a, b in zip(m1["history"], m2["history"], strict=True):
        assert a["test_accuracy"] == pytest.approx(b["test_accuracy"])
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_ddp_exact_resume(ddp_run):
    a, b = _model_state(ddp_run / "ddp"), _model_state(ddp_run / "resumed")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ck = torch.load(ddp_run / "resumed" / "checkpoint.pt", weights_only=True)
    assert ck["world_size"] == WORLD and len(ck["noise_rng_ranks"]) == WORLD


def test_batch_must_divide_world():
    with pytest.raises(HebbtorchError, match="divisible"):
        ddp.check_batch(15, ddp.DistInfo(rank=0, world_size=2))
    assert ddp.check_batch(16, ddp.DistInfo(rank=1, world_size=2)) == 8


def test_shard_covers_batch_once():
    idx = torch.arange(13)
    parts = [ddp.shard(idx, ddp.DistInfo(r, 3)) for r in range(3)]
    assert torch.equal(torch.cat(parts), idx)
    assert torch.equal(ddp.shard(idx, ddp.DistInfo()), idx)


@pytest.mark.slow
def test_torchrun_cli_end_to_end(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}",
           "-m", "hebbtorch.cli.main", "train", "--model", "lif-mlp", "--hidden", "32",
           "--steps", "4", "--epochs", "1", "--batch-size", "100", "--train-images", "400",
           "--test-images", "200", "--device", "cpu", "--quiet", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("test accuracy") == 1  # rank 0 only
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and len(metrics["history"]) == 1
    assert sorted(p.name for p in out.glob("metrics.json")) == ["metrics.json"]
