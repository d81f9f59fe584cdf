"""TrainConfig.precision: validation, CLI, bf16 autocast on CPU, fp32 unchanged, TF32 flags
set for the run and restored, old checkpoints without the field still resume exactly."""

from __future__ import annotations

import argparse
import json
import math
import types
from dataclasses import replace

import pytest
import torch
from test_training import _stub_figures, assert_same_state, run_all, state_of, strip_time
from torch import nn
from torch.nn import functional as F

from hebbtorch.cli.train_args import add_train_args, config_from_args
from hebbtorch.errors import HebbtorchError
from hebbtorch.learning import TrainConfig
from hebbtorch.learning import bptt as trainer_mod
from hebbtorch.learning.bptt import CHECKPOINT, load_trained
from hebbtorch.learning.config import PRECISIONS
from hebbtorch.learning.precision import matmul_precision, tf32_state

# lif-mlp, 4 steps, 64 train / 32 test samples in batches of 32: 2 batches, 1 epoch
TINY = TrainConfig(model="lif-mlp", num_steps=4, hidden=16, batch_size=32, epochs=1,
                   optimizer="adam", lr=0.01, schedule="constant", device="cpu")


@pytest.fixture(autouse=True)
def fast_reports(monkeypatch):
    _stub_figures(monkeypatch)


@pytest.fixture(scope="module")
def tiny_data(separable_data):
    tr_x, tr_y, te_x, te_y = separable_data
    return tr_x[:64], tr_y[:64], te_x[:32], te_y[:32]


@pytest.fixture
def spy(monkeypatch):
    """Record, for every Linear forward in the run, its output dtype and the TF32 flags then,
    and the dtype of the logits each loss is computed on."""
    seen = {"linear": [], "flags": [], "loss_logits": []}
    build = trainer_mod.build_model

    def hook(module, args, out):
        seen["linear"].append(out.dtype)
        seen["flags"].append(tf32_state())

    def build_spied(*a, **kw):
        model = build(*a, **kw)
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.register_forward_hook(hook)
        return model

    def cross_entropy(logits, y, **kw):
        seen["loss_logits"].append(logits.dtype)
        return F.cross_entropy(logits, y, **kw)

    monkeypatch.setattr(trainer_mod, "build_model", build_spied)
    monkeypatch.setattr(trainer_mod, "F", types.SimpleNamespace(cross_entropy=cross_entropy))
    return seen


@pytest.mark.parametrize("bad", ["fp16", "FP32", "", "float32"])
def test_config_rejects_unknown_precision(bad):
    with pytest.raises(HebbtorchError, match="precision must be one of"):
        replace(TINY, precision=bad).validate()


def test_config_default_and_round_trip():
    assert TrainConfig().precision == "fp32"
    assert PRECISIONS == ("fp32", "tf32", "bf16")
    cfg = replace(TINY, precision="bf16").validate()
    assert TrainConfig(**cfg.to_dict()) == cfg


def test_cli_option():
    p = argparse.ArgumentParser()
    add_train_args(p, model="lif-mlp")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    assert config_from_args(p.parse_args([])).precision == "fp32"
    assert config_from_args(p.parse_args(["--precision", "bf16"])).precision == "bf16"
    with pytest.raises(SystemExit):
        p.parse_args(["--precision", "fp16"])


def test_bf16_run_on_cpu(tiny_data, tmp_path, spy):
    res = run_all(replace(TINY, precision="bf16"), tmp_path, tiny_data)
    assert set(spy["linear"]) == {torch.bfloat16}  # the synaptic matmuls ran in bf16
    assert set(spy["loss_logits"]) == {torch.float32}  # training and evaluation losses in fp32
    assert len(spy["loss_logits"]) == 2 + 1  # 2 training batches, 1 evaluation batch
    for name, p in res.model.named_parameters():
        assert p.dtype == torch.float32, name
        assert torch.isfinite(p).all(), name
    row = res.history[-1]
    assert math.isfinite(row["train_loss"]) and math.isfinite(row["test_loss"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["precision"] == "bf16" and metrics["config"]["precision"] == "bf16"


def test_fp32_unchanged_and_tf32_is_a_no_op_on_cpu(tiny_data, tmp_path):
    default = TrainConfig(**{k: v for k, v in TINY.to_dict().items() if k != "precision"})
    a = run_all(default, tmp_path / "default", tiny_data)
    runs = {p: run_all(replace(TINY, precision=p), tmp_path / p, tiny_data) for p in PRECISIONS}
    for p in ("fp32", "tf32"):
        assert_same_state(runs[p].model.state_dict(), a.model.state_dict())
        assert strip_time(runs[p].history) == strip_time(a.history)
    # bf16 does change the numbers (a little)
    w16, w32 = runs["bf16"].model.state_dict(), a.model.state_dict()
    assert any(not torch.equal(w16[k], w32[k]) for k in w32)
    assert all(torch.allclose(w16[k], w32[k], atol=0.05) for k in w32)


@pytest.mark.parametrize("outer", [None, "tf32", "fp32"], ids=["default", "tf32-on", "tf32-off"])
def test_tf32_flags_set_for_the_run_and_restored(outer, tiny_data, tmp_path, spy):
    def runs():
        before = tf32_state()
        expected = {}
        for p in PRECISIONS:
            with matmul_precision(p):
                expected[p] = tf32_state()
            spy["flags"].clear()
            run_all(replace(TINY, precision=p), tmp_path / p, tiny_data)
            assert set(spy["flags"]) == {expected[p]}, p  # every forward saw the run's flags
            assert tf32_state() == before, p
        assert expected["fp32"] == expected["bf16"] != expected["tf32"]

    if outer is None:
        runs()
    else:  # the process had its own settings: they come back after each run
        with matmul_precision(outer):
            runs()


def test_flags_restored_when_the_run_fails(tiny_data, tmp_path, monkeypatch):
    before = tf32_state()

    def boom(*a, **kw):
        raise HebbtorchError("boom")

    monkeypatch.setattr(trainer_mod, "build_model", boom)
    with pytest.raises(HebbtorchError, match="boom"):
        run_all(replace(TINY, precision="tf32"), tmp_path, tiny_data)
    assert tf32_state() == before


def test_old_checkpoint_without_precision_resumes_exactly(tiny_data, tmp_path):
    ref = run_all(TINY, tmp_path / "ref", tiny_data)
    out = tmp_path / "old"
    run_all(TINY, out, tiny_data, stop_after_batches=1)
    st = state_of(out)
    del st["config"]["precision"]  # as written before the field existed
    torch.save(st, out / CHECKPOINT)
    model, cfg = load_trained(out)
    assert cfg.precision == "fp32"
    with pytest.raises(HebbtorchError, match=r"other options \(precision\)"):
        run_all(replace(TINY, precision="bf16"), out, tiny_data, resume=True)
    res = run_all(TINY, out, tiny_data, resume=True)
    assert_same_state(res.model.state_dict(), ref.model.state_dict())
    assert strip_time(res.history) == strip_time(ref.history)
