"""The one run folder (:mod:`hebbtorch.learning.run`) under every command that writes a run:
aSTDP and SpikeProp stopped by their time budget and resumed end where one uninterrupted run
ends; the ownership rules hold for each command alike."""

from __future__ import annotations

import json

import pytest
import torch

from hebbtorch.cli.main import main
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning.run import Budget, Divergence, RunFolder, load_checkpoint

ASTDP = ["astdp", "train", "--dataset", "mnist-5k", "--train-images", "60", "--test-images",
         "20", "--epochs", "2", "--batch-size", "20", "--hidden", "8", "--steps", "4",
         "--per-class", "1", "--eval-samples", "20", "--quiet"]
SPIKEPROP = ["spikeprop", "iris", "--epochs", "3", "--quiet"]


def _state(path):
    return load_checkpoint(path / "checkpoint.pt")


def _strip(history):
    return [{k: v for k, v in r.items() if "second" not in k} for r in history]


def _same_weights(wa, wb):
    if isinstance(wa, dict):
        return all(torch.equal(wa[k], wb[k]) for k in wa)
    return all(torch.equal(x, y) for x, y in zip(wa, wb, strict=True))


def test_spikeprop_budget_stop_then_resume_equals_one_run(tmp_path, capsys):
    assert main([*SPIKEPROP, "--out", str(tmp_path / "a")]) == 0
    # a budget that ends the run after its first epoch
    assert main([*SPIKEPROP, "--out", str(tmp_path / "b"), "--time-budget", "1e-9"]) == 0
    assert json.loads((tmp_path / "b" / "run.json").read_text())["status"] == "running"
    assert len(_state(tmp_path / "b")["history"]) == 1
    assert main([*SPIKEPROP, "--out", str(tmp_path / "b")]) == 2  # not silently redone
    assert "--resume" in capsys.readouterr().err
    assert main([*SPIKEPROP, "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert _same_weights(a["weights"], b["weights"]) and a["history"] == b["history"]
    assert json.loads((tmp_path / "b" / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_astdp_stopped_in_epoch_two_resumes_to_the_same_end(tmp_path, monkeypatch):
    assert main([*ASTDP, "--out", str(tmp_path / "a")]) == 0
    calls = {"n": 0}

    def exceeded(self) -> bool:  # the budget runs out at batch 2 of epoch 2 (3 per epoch)
        calls["n"] += 1
        return calls["n"] == 5

    monkeypatch.setattr(Budget, "exceeded", exceeded)
    assert main([*ASTDP, "--out", str(tmp_path / "b"), "--time-budget", "100"]) == 0
    assert len(_state(tmp_path / "b")["history"]) == 1  # epoch 1 is the resume point
    assert main([*ASTDP, "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert _same_weights(a["model"], b["model"])
    assert _strip(a["history"]) == _strip(b["history"])


def test_run_folder_rules(tmp_path):
    cfg = {"lr": 0.1}
    with RunFolder(tmp_path, "x", cfg) as run:
        assert not run.resuming
        run.save({"config": cfg, "n": 1})
    with pytest.raises(HebbtorchError, match="unfinished run; pass --resume.*--overwrite"):
        RunFolder(tmp_path, "x", cfg)
    with pytest.raises(HebbtorchError, match="holds a `x` run"):
        RunFolder(tmp_path, "y", cfg)
    with RunFolder(tmp_path, "x", cfg, resume=True) as run:
        assert run.load()["n"] == 1
        run.finish()
    with RunFolder(tmp_path, "x", cfg) as run:  # the same finished run: may run again
        assert not run.resuming and not run.checkpoint.exists()
    with pytest.raises(HebbtorchError, match="exclude each other"):
        RunFolder(tmp_path, "x", cfg, resume=True, overwrite=True)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(HebbtorchError, match="unreadable.*--overwrite"):
        RunFolder(tmp_path, "x", cfg)
    with RunFolder(tmp_path, "x", cfg, overwrite=True):
        pass


def test_budget_and_divergence():
    with pytest.raises(HebbtorchError, match="--time-budget"):
        Budget(float("nan"))
    assert not Budget(None).exceeded() and Budget(1e-9, spent=1.0).exceeded()
    d = Divergence(lr=0.5)
    d.check(2.3, "step 1", "kept")
    d.check(50.0, "step 2", "kept")  # 20x: noisy, not divergent
    with pytest.raises(HebbtorchError, match="learning rate \\(0.5\\)"):
        d.check(1e7, "step 3", "kept")
    with pytest.raises(HebbtorchError, match="loss became nan"):
        Divergence(lr=0.1).check(float("nan"), "step 1", "kept")
