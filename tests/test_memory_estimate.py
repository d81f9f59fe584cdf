"""The preflight memory estimate of a training step (hebbtorch.networks.memory) against the
measured peak of that step, for the MLP, conv and seed models the trainer builds; and the
refusal, in one line before the first step, of a run that cannot fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hebbtorch.cli.main import main
from hebbtorch.networks.memory import ACCURACY, step_memory
from hebbtorch.networks.registry import build_model

# One step in a fresh process: the rise of the peak resident memory (VmHWM, reset through
# /proc/self/clear_refs just before the step) over the memory held before it.
PROBE = """
import gc, json, sys, torch
from torch.nn import functional as F
from hebbtorch.networks.registry import build_model
from hebbtorch.networks.memory import step_memory
def kib(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key))
name, hidden, steps, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
torch.manual_seed(0)
model = build_model(name, steps, hidden)
x, y = torch.rand(batch, 28, 28), torch.randint(0, 10, (batch,))
est = step_memory(model, x[0], batch, "adam")
F.cross_entropy(model(x[:1]), y[:1]).backward()  # load the kernels, make lazy state
model.zero_grad(set_to_none=True)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
gc.collect()
base = kib("VmRSS")
open("/proc/self/clear_refs", "w").write("5")
F.cross_entropy(model(x), y).backward()
opt.step()
print(json.dumps({"estimate": est.total, "measured": (kib("VmHWM") - base) * 1024.0}))
"""

CASES = [("lif-mlp", 200, 100, 128), ("lif-conv", 64, 8, 16), ("seed-snn", 100, 128, 64)]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux /proc needed")
@pytest.mark.parametrize("name, hidden, steps, batch", CASES)
def test_estimate_within_its_stated_factor_of_the_measured_peak(name, hidden, steps, batch):
    r = subprocess.run([sys.executable, "-c", PROBE, name, str(hidden), str(steps), str(batch)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["measured"] > 8 * 2**20, m  # large enough to be measured above the noise
    ratio = m["estimate"] / m["measured"]
    assert 1 / ACCURACY <= ratio <= ACCURACY, m


def test_estimate_grows_with_steps_and_batch():
    """time steps x batch: the saved tensors of a spiking net scale with both (doubling either
    nearly doubles them; the input and logits do not grow with the steps)."""
    def act(steps, batch):
        model = build_model("lif-mlp", steps, 64)
        return step_memory(model, torch.rand(28, 28), batch).activations
    a = act(10, 8)
    assert 1.5 * a < act(20, 8) <= 2 * a
    assert 1.9 * a < act(10, 16) <= 2 * a
    model = build_model("lif-mlp", 10, 64)  # online learning keeps one step: T times less
    online = step_memory(model, torch.rand(28, 28), 8, per_step_only=True).activations
    assert online == pytest.approx(a / 10)


def test_estimate_leaves_the_random_stream_alone():
    model, x = build_model("lif-mlp", 5, 16, encoder="poisson"), torch.rand(28, 28)
    torch.manual_seed(3)
    step_memory(model, x, 4)
    after = torch.rand(3)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(3))


@pytest.mark.parametrize("argv, names", [
    (["--steps", "20000", "--batch-size", "2000"], "--batch-size, --steps or --hidden"),
    (["--hidden", str(10**7)], "lower --hidden"),
])
def test_run_beyond_memory_is_refused_before_the_first_step(tmp_path, capsys, argv, names):
    from tests.conftest import idx_folder

    data = idx_folder(tmp_path / "idx", n_train=2000, n_test=20)
    out = tmp_path / "run"
    code = main(["train", "--model", "lif-mlp", "--dataset", str(data), "--epochs", "1",
                 "--device", "cpu", "--quiet", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "GiB" in lines[0] and names in lines[0], err
    assert not (out / "checkpoint.pt").exists()
