"""The BPTT trainer: learning, exact resume, atomic checkpoints, reports, errors, schedules."""

from __future__ import annotations

import csv
import json
import math
import types
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from hebbtorch.errors import HebbtorchError
from hebbtorch.learning import TrainConfig, evaluate, train
from hebbtorch.learning import bptt as trainer_mod
from hebbtorch.learning import report as report_mod
from hebbtorch.learning.bptt import CHECKPOINT, load_trained
from hebbtorch.learning.run import LoopState, Trainer
from hebbtorch.networks import build_model

# seed-snn with 6 steps: layer 1 reaches threshold within the window, so the input noise and
# every parameter matter; 200 samples / batch 50 = 4 batches per epoch.
BASE = TrainConfig(model="seed-snn", num_steps=6, hidden=16, batch_size=50, epochs=2,
                   lr=0.1, device="cpu")


def _stub_figures(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(report_mod, "learning_curves", lambda runs: None)
    mp.setattr(report_mod, "save_figure", lambda fig, path: report_mod.write_text(path, "stub"))


@pytest.fixture
def fast_reports(monkeypatch):
    """Skip drawing learning_curves.png (matplotlib is most of a tiny run's time); CSVs and
    metrics.json are still written (the picture as a stub file)."""
    _stub_figures(monkeypatch)


def run_all(cfg, out, data, **kw):
    return train(cfg, out, quiet=True, data=data, **kw)


def state_of(out: Path) -> dict:
    return torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def strip_time(history):
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in history]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, separable_data):
    """Run A: BASE uninterrupted (2 epochs x 4 batches)."""
    out = tmp_path_factory.mktemp("run_a")
    with pytest.MonkeyPatch.context() as mp:
        _stub_figures(mp)
        res = run_all(BASE, out, separable_data)
    return out, res


def test_learning_curves_picture(reference_run, tmp_path):
    out, res = reference_run
    assert (out / "learning_curves.png").read_text() == "stub"  # the trainer asked for it
    batches = [{"epoch": int(r["epoch"]), "batch": int(r["batch"]), "loss": float(r["loss"]),
                "accuracy": float(r["accuracy"]), "lr": float(r["lr"])}
               for r in csv.DictReader(open(out / "batches.csv"))]
    report_mod.write_history(tmp_path, res.history, batches, title="seed-snn")
    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "metrics.csv").read_text() == (out / "metrics.csv").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_reports_written(reference_run):
    out, res = reference_run
    names = {p.name for p in out.iterdir()}
    assert {"metrics.json", "metrics.csv", "batches.csv", "learning_curves.png",
            CHECKPOINT} <= names
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")]  # atomic writes
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == "seed-snn"
    assert metrics["spiking"] is True
    assert metrics["parameters"] == 784 * 16 + 16 + 16 * 10 + 10
    assert len(metrics["history"]) == 2 and metrics["final"] == metrics["history"][-1]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    batches = list(csv.DictReader(open(out / "batches.csv")))
    assert len(batches) == 8
    assert [int(r["batch"]) for r in batches] == [0, 1, 2, 3] * 2
    # seed schedule: lr for epoch 1, lr / 2 for epoch 2
    assert [float(r["lr"]) for r in batches] == [0.1] * 4 + [0.05] * 4
    for row in metrics["history"]:
        assert 0 <= row["test_accuracy"] <= 1 and math.isfinite(row["test_loss"])
    # the per-epoch train loss is the mean of its batches
    ep1 = [float(r["loss"]) for r in batches[:4]]
    assert metrics["history"][0]["train_loss"] == pytest.approx(sum(ep1) / 4)


def test_checkpoint_holds_final_state(reference_run):
    out, res = reference_run
    st = state_of(out)
    assert st["epoch"] == 2 and st["batch"] == 0
    assert_same_state(st["model"], res.model.state_dict())
    model, cfg = load_trained(out)
    assert cfg == BASE
    assert_same_state(model.state_dict(), res.model.state_dict())
    # every layer was trained (the gradient reaches layer 1 through the refractory neurons)
    torch.manual_seed(BASE.seed)
    init = build_model("seed-snn", 6, 16)
    for k, v in init.state_dict().items():
        assert not torch.equal(v, st["model"][k]), k


@pytest.mark.parametrize("stops", [(3,), (4,), (3, 3)],
                         ids=["mid-epoch", "epoch-boundary", "twice-then-mid-epoch2"])
def test_exact_resume(stops, reference_run, separable_data, tmp_path, fast_reports):
    out_a, res_a = reference_run
    done = 0
    for i, n in enumerate(stops):
        # checkpoint_every may differ between a run and its resumption
        cfg = replace(BASE, checkpoint_every=i % 2)
        res = run_all(cfg, tmp_path, separable_data, resume=i > 0, stop_after_batches=n)
        done += n
        st = state_of(tmp_path)
        assert res.metrics["stopped_at"] == {"epoch": st["epoch"], "batch": st["batch"]}
        assert st["epoch"] * 4 + st["batch"] == done
    res_b = run_all(BASE, tmp_path, separable_data, resume=True)
    assert_same_state(res_b.model.state_dict(), res_a.model.state_dict())
    assert_same_state(state_of(tmp_path)["optimizer"]["state"][0],
                      state_of(out_a)["optimizer"]["state"][0])
    assert strip_time(res_b.history) == strip_time(res_a.history)
    metrics_b = json.loads((tmp_path / "metrics.json").read_text())
    metrics_a = json.loads((out_a / "metrics.json").read_text())
    assert strip_time(metrics_b["history"]) == strip_time(metrics_a["history"])
    assert (tmp_path / "batches.csv").read_text() == (out_a / "batches.csv").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_resume_finished_run_is_a_no_op(separable_data, tmp_path, fast_reports):
    cfg = replace(BASE, model="seed-ann", num_steps=None, epochs=1)
    first = run_all(cfg, tmp_path, separable_data)
    before = (tmp_path / CHECKPOINT).read_bytes()
    again = run_all(cfg, tmp_path, separable_data, resume=True)
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert_same_state(again.model.state_dict(), first.model.state_dict())
    assert strip_time(again.metrics["history"]) == strip_time(first.history)


def test_resume_without_checkpoint_is_an_error(separable_data, tmp_path):
    cfg = replace(BASE, model="seed-ann", num_steps=None, epochs=1)
    with pytest.raises(HebbtorchError, match="--resume: no checkpoint.pt"):
        run_all(cfg, tmp_path / "b", separable_data, resume=True)


def test_run_folder_is_not_clobbered(separable_data, tmp_path, fast_reports):
    """A different run, or a fresh start over an unfinished one, is refused; --overwrite
    replaces; the same finished run may be run again."""
    cfg = replace(BASE, model="seed-ann", num_steps=None, epochs=1)
    run_all(cfg, tmp_path, separable_data, stop_after_batches=1)
    before = (tmp_path / CHECKPOINT).read_bytes()
    with pytest.raises(HebbtorchError, match="unfinished run.*--resume.*--overwrite"):
        run_all(cfg, tmp_path, separable_data)
    with pytest.raises(HebbtorchError, match="other options \\(lr\\).*--overwrite"):
        run_all(replace(cfg, lr=0.2), tmp_path, separable_data)
    assert (tmp_path / CHECKPOINT).read_bytes() == before  # untouched
    (tmp_path / "pictures").mkdir()
    a = run_all(replace(cfg, lr=0.2), tmp_path, separable_data, overwrite=True)
    assert not (tmp_path / "pictures").exists()  # nothing of the old run is left
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "finished" and record["config"]["lr"] == 0.2
    assert record["command"] == "train" and record["hebbtorch"]
    b = run_all(replace(cfg, lr=0.2), tmp_path, separable_data)  # the same run again
    assert_same_state(a.model.state_dict(), b.model.state_dict())
    assert not (tmp_path / ".lock").exists()


def test_concurrent_run_is_refused_and_a_stale_lock_taken_over(separable_data, tmp_path,
                                                               fast_reports):
    import subprocess
    import sys

    cfg = replace(BASE, model="seed-ann", num_steps=None, epochs=1)
    tmp_path.mkdir(exist_ok=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(str(live.pid))
        with pytest.raises(HebbtorchError, match=f"in use by another run \\(pid {live.pid}"):
            run_all(cfg, tmp_path, separable_data)
    finally:
        live.kill()
        live.wait()
    run_all(cfg, tmp_path, separable_data)  # its process is gone: the lock is stale
    assert (tmp_path / "metrics.json").exists() and not (tmp_path / ".lock").exists()


def test_resume_with_different_config_raises(separable_data, tmp_path, fast_reports):
    cfg = replace(BASE, model="seed-ann", num_steps=None)
    run_all(cfg, tmp_path, separable_data, stop_after_batches=1)
    before = (tmp_path / CHECKPOINT).read_bytes()
    with pytest.raises(HebbtorchError, match="other options \\(lr\\)"):
        run_all(replace(cfg, lr=0.2), tmp_path, separable_data, resume=True)
    with pytest.raises(HebbtorchError, match="hidden"):
        run_all(replace(cfg, hidden=8), tmp_path, separable_data, resume=True)
    assert (tmp_path / CHECKPOINT).read_bytes() == before  # untouched


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_checkpoint_raises(content, separable_data, tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(content)
    with pytest.raises(HebbtorchError, match="unreadable"):
        run_all(BASE, tmp_path, separable_data, resume=True)
    with pytest.raises(HebbtorchError, match="unreadable"):
        load_trained(tmp_path)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_hand_made_checkpoints_are_refused_without_running_code(separable_data, tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"config": BASE.to_dict(), "model": _Evil(marker)}, tmp_path / CHECKPOINT)
    with pytest.raises(HebbtorchError, match="unreadable"):
        load_trained(tmp_path)
    with pytest.raises(HebbtorchError, match="unreadable"):
        run_all(BASE, tmp_path, separable_data, resume=True)
    assert not marker.exists()
    # loadable, but not a checkpoint of this command
    torch.save({"config": BASE.to_dict(), "model": {}}, tmp_path / CHECKPOINT)
    with pytest.raises(HebbtorchError, match="missing optimizer"):
        run_all(BASE, tmp_path, separable_data, resume=True)
    torch.save([1, 2], tmp_path / CHECKPOINT)
    with pytest.raises(HebbtorchError, match="unreadable"):
        load_trained(tmp_path)


def test_load_trained_without_checkpoint(tmp_path):
    with pytest.raises(HebbtorchError, match="no checkpoint.pt"):
        load_trained(tmp_path)


def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(separable_data, tmp_path,
                                                            monkeypatch, fast_reports):
    cfg = replace(BASE, model="seed-ann", num_steps=None, checkpoint_every=1)
    ref = run_all(cfg, tmp_path / "ref", separable_data, stop_after_batches=2)
    calls = {"n": 0}

    def nan_on_third(logits, y, **kw):
        calls["n"] += 1
        loss = F.cross_entropy(logits, y, **kw)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(trainer_mod, "F", types.SimpleNamespace(cross_entropy=nan_on_third))
    with pytest.raises(HebbtorchError, match="loss became nan at epoch 1, batch 2: the "
                       "learning rate .* last good checkpoint"):
        run_all(cfg, tmp_path / "nan", separable_data)
    st = state_of(tmp_path / "nan")
    assert (st["epoch"], st["batch"]) == (0, 2)
    assert_same_state(st["model"], ref.model.state_dict())
    assert len(st["batch_log"]) == 2
    assert not [p for p in (tmp_path / "nan").iterdir() if p.name.endswith(".tmp")]


def test_learns_separable_data(separable_data, tmp_path, fast_reports):
    cfg = replace(BASE, model="lif-mlp", num_steps=4, optimizer="adam", lr=0.01,
                  schedule="constant")
    res = run_all(cfg, tmp_path, separable_data)
    losses = [r["train_loss"] for r in res.history]
    assert losses[1] < losses[0]
    assert res.history[-1]["test_accuracy"] >= 0.5  # chance is 0.1
    ev = evaluate(res.model, separable_data[2], separable_data[3], batch_size=50)
    assert ev["accuracy"] >= 0.5
    # evaluation noise is seeded: repeatable
    assert ev == evaluate(res.model, separable_data[2], separable_data[3], batch_size=50)


def test_seed_snn_learns_separable_data(separable_data, tmp_path, fast_reports):
    cfg = replace(BASE, num_steps=8, optimizer="adam", lr=0.01, schedule="constant")
    res = run_all(cfg, tmp_path, separable_data)
    losses = [r["train_loss"] for r in res.history]
    assert losses[-1] < losses[0] - 0.15
    assert res.history[-1]["test_loss"] < res.history[0]["test_loss"]
    assert res.history[-1]["test_accuracy"] >= 0.3  # chance is 0.1


@pytest.mark.parametrize("change", [
    dict(epochs=0), dict(batch_size=0), dict(optimizer="rmsprop"), dict(schedule="step"),
    dict(lr=0.0), dict(lr=-1.0), dict(lr=float("nan")), dict(lr=float("inf")),
    dict(momentum=1.0), dict(momentum=-0.1), dict(weight_decay=-1e-4), dict(max_train=0),
    dict(max_test=0), dict(num_steps=0), dict(hidden=0), dict(checkpoint_every=-1),
    dict(model="nope"),
])
def test_config_validate_rejects(change):
    with pytest.raises(HebbtorchError):
        replace(BASE, **change).validate()


def test_config_validate_accepts_and_round_trips():
    cfg = replace(BASE, optimizer="adamw", schedule="cosine", momentum=0.0, max_train=10)
    assert cfg.validate() is cfg
    assert TrainConfig(**cfg.to_dict()) == cfg


def test_train_validates_before_work(tmp_path):
    with pytest.raises(HebbtorchError):
        train(replace(BASE, lr=-1.0), tmp_path / "x", quiet=True, data=())
    assert not (tmp_path / "x").exists()


def test_lr_schedules():
    seed = replace(BASE, lr=0.4, schedule="seed")
    assert [seed.lr_at(e, 0.5) for e in range(5)] == [0.4, 0.2, pytest.approx(0.04),
                                                        pytest.approx(0.04), pytest.approx(0.04)]
    const = replace(BASE, lr=0.3, schedule="constant")
    assert {const.lr_at(e, p) for e in range(3) for p in (0.0, 0.7)} == {0.3}
    cos = replace(BASE, lr=0.2, schedule="cosine")
    assert cos.lr_at(0, 0.0) == pytest.approx(0.2)
    assert cos.lr_at(1, 0.5) == pytest.approx(0.1)
    assert cos.lr_at(2, 1.0) == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------- the shared run loop
class _Counter(Trainer):
    """A toy trainer: its state is a running sum of numbers drawn from its own generator."""

    desc = "toy"

    def __init__(self, losses=None):
        self.g, self.total, self.losses = torch.Generator().manual_seed(0), 0.0, losses

    def train_step(self, step):
        self.total += float(torch.rand(1, generator=self.g))
        loss = self.losses[step] if self.losses else 1.0 / (step + 1)
        return {"step": step, "loss": loss, "total": self.total}

    def end_epoch(self, epoch, loop):
        return {"epoch": epoch, "total": self.total, "steps": loop.step}

    def state_dict(self, loop):
        return {"config": {}, "g": self.g.get_state(), "total": self.total, "step": loop.step,
                "history": loop.history, "log": loop.batch_log, "elapsed": loop.elapsed}

    def load_state_dict(self, state):
        self.g.set_state(state["g"])
        self.total = state["total"]
        return LoopState(state["step"], state["history"], state["log"],
                                     state["elapsed"])


def test_run_loop_stops_and_resumes_exactly(tmp_path):
    from hebbtorch.learning.run import RunFolder, Schedule, run_loop

    sched = Schedule(10, 4, checkpoint_every=3)  # epochs of 4 steps, the last one short
    with RunFolder(tmp_path / "a", "toy", {}) as f:
        whole = run_loop(f, _Counter(), sched, quiet=True)
    assert not whole.stopped and whole.loop.step == 10 and len(whole.loop.history) == 2
    for stop in (2, 3, 5):  # mid-epoch, at a checkpoint, past an epoch end
        out = tmp_path / f"b{stop}"
        with RunFolder(out, "toy", {}) as f:
            first = run_loop(f, _Counter(), sched, quiet=True, stop_after=stop)
        assert first.stopped and first.loop.step == stop
        with RunFolder(out, "toy", {}, resume=True) as f:
            rest = run_loop(f, _Counter(), sched, quiet=True)
        assert rest.loop.batch_log == whole.loop.batch_log
        assert rest.loop.history == whole.loop.history
        for name in ("batches.csv", "metrics.csv"):
            assert (out / name).read_text() == (tmp_path / "a" / name).read_text()


def test_run_loop_budget_and_divergence(tmp_path):
    from hebbtorch.learning.run import Divergence, RunFolder, Schedule, load_checkpoint, run_loop

    with RunFolder(tmp_path / "a", "toy", {}) as f:  # a budget already spent: one step
        end = run_loop(f, _Counter(), Schedule(5, 5), quiet=True, time_budget_s=1e-9)
    assert end.stopped and load_checkpoint(tmp_path / "a" / CHECKPOINT)["step"] == 1
    losses = [2.0, 2.1, 2.2, float("nan"), 1.0]
    with RunFolder(tmp_path / "b", "toy", {}) as f, \
            pytest.raises(HebbtorchError, match="loss became nan at epoch 1, batch 3.*"
                          "learning rate \\(0.5\\).*last good checkpoint is kept"):
        run_loop(f, _Counter(losses), Schedule(5, 5, checkpoint_every=2), quiet=True,
                 divergence=Divergence(0.5))
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT)["step"] == 2  # the last good one
    model_free = run_loop(None, _Counter(), Schedule(3, 1), quiet=True)  # in memory
    assert model_free.loop.step == 3 and len(model_free.loop.history) == 3
