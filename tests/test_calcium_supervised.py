"""Supervised learning with the calcium-bistable rule alone (teacher current, coding-level
inhibition, stop-learning): a separable toy task, bad input, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.studies.calcium_supervised import (
    SUPERVISED_RULE,
    SupervisedConfig,
    evaluate,
    predict,
    train,
)


def toy(n: int, seed: int, n_cls: int = 4, n_in: int = 100):
    """Noisy copies (5 % of pixels flipped) of one random 30 %-active pattern per class."""
    g = torch.Generator().manual_seed(123)
    protos = (torch.rand(n_cls, n_in, generator=g) < 0.3).float()
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_cls, (n,), generator=g)
    flip = (torch.rand(n, n_in, generator=g) < 0.05).float()
    return (protos[y] - flip).abs(), y


def test_rule_alone_learns_a_separable_task():
    xtr, ytr = toy(400, 0)
    xte, yte = toy(200, 1)
    cfg = SupervisedConfig(k=3, batch=20)
    untrained = evaluate(torch.full((100, 12), 0.5), xte, yte, cfg, SUPERVISED_RULE,
                         torch.Generator().manual_seed(0))
    r = train(xtr, ytr, xte, yte, n_classes=4, config=cfg, eval_every=200)
    assert r["final"]["accuracy"] >= 0.9 > untrained["accuracy"] + 0.4
    assert [e["images_seen"] for e in r["curve"]] == [200, 400]
    assert r["train_rate_target_hz"] > 5 * r["train_rate_other_hz"]  # the teacher's effect
    assert 0 < r["final"]["coding_level_out"] < 1


def test_predict_counts_then_drive():
    counts = torch.tensor([[0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    drive = torch.tensor([[9.0, 9.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]])
    assert predict(counts, drive, 2).tolist() == [1, 1]


def test_supervised_bad_input():
    x, y = toy(10, 0)
    with pytest.raises(HebbtorchError, match="p_connect"):
        train(x, y, x, y, n_classes=4, config=SupervisedConfig(p_connect=0.0))
    with pytest.raises(HebbtorchError, match="same n_in"):
        train(x, y, x[:, :50], y, n_classes=4)


def test_cli_calcium_train_writes_json(tmp_path, capsys):
    rc = main(["calcium", "train", "--dataset", "mnist-5k", "--train-images", "100",
               "--test-images", "50", "--k", "2", "--batch-size", "50", "--out", str(tmp_path),
               "--device", "cpu"])
    assert rc == 0
    data = json.loads((tmp_path / "calcium_train.json").read_text())
    assert data["n_train"] == 100 and data["n_test"] == 50
    assert 0.0 <= data["final"]["accuracy"] <= 1.0
    assert (tmp_path / "calcium_learning.png").stat().st_size > 1000
    assert "test accuracy" in capsys.readouterr().out
    assert main(["calcium", "train", "--dataset", "nope", "--out", str(tmp_path)]) == 2
