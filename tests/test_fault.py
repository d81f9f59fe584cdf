"""Kill a training run (SIGKILL, at random points) and continue it with ``--resume`` until it
ends: the result is the uninterrupted run's, byte for byte (batches.csv, metrics history) and
bit for bit (weights)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hebbtorch.cli.main import main
from tests.conftest import idx_folder

ARGS = ["train", "--model", "seed-snn", "--steps", "6", "--hidden", "16", "--epochs", "2",
        "--batch-size", "10", "--checkpoint-every", "1", "--lr", "0.1", "--quiet",
        "--device", "cpu"]


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "hebbtorch.cli.main", *argv]


def killed_and_resumed(data: Path, out: Path, kills: int, rng: random.Random) -> int:
    """Run to the end, killing the process ``kills`` times at random moments; returns the
    number of processes started."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    started = 0
    while True:
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        proc = subprocess.Popen(_cli(*ARGS, "--dataset", str(data), "--out", str(out), *resume),
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started += 1
        if kills:  # kill after a random number of checkpoint writes, at a random moment
            writes, target, last = 0, rng.randint(1, 4), _stamp(out)
            while proc.poll() is None and writes < target:
                time.sleep(0.01)
                if _stamp(out) != last:
                    writes, last = writes + 1, _stamp(out)
            time.sleep(rng.uniform(0.0, 0.3))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills -= 1
        err = proc.communicate(timeout=300)[1].decode()
        if proc.returncode == 0:
            return started
        assert proc.returncode == -signal.SIGKILL, err  # only our kills stop it


def _stamp(out: Path) -> int:
    try:
        return (out / "checkpoint.pt").stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _compare(a: Path, b: Path) -> None:
    assert (a / "batches.csv").read_text() == (b / "batches.csv").read_text()
    ha, hb = (json.loads((d / "metrics.json").read_text())["history"] for d in (a, b))
    strip = [{k: v for k, v in r.items() if k != "wall_time_s"} for r in ha]
    assert strip == [{k: v for k, v in r.items() if k != "wall_time_s"} for r in hb]
    ma, mb = (torch.load(d / "checkpoint.pt", weights_only=True)["model"] for d in (a, b))
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert json.loads((b / "run.json").read_text())["status"] == "finished"
    assert not (b / ".lock").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault")
    data = idx_folder(root / "idx", n_train=60, n_test=20)
    assert main([*ARGS, "--dataset", str(data), "--out", str(root / "ref")]) == 0
    return data, root / "ref"


def test_one_kill_then_resume_equals_the_uninterrupted_run(reference, tmp_path):
    data, ref = reference
    started = killed_and_resumed(data, tmp_path / "run", kills=1, rng=random.Random(1))
    assert started == 2  # killed once, mid-run, then resumed
    _compare(ref, tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_many_kills_then_resume_equals_the_uninterrupted_run(reference, tmp_path, seed):
    data, ref = reference
    killed_and_resumed(data, tmp_path / "run", kills=4, rng=random.Random(100 + seed))
    _compare(ref, tmp_path / "run")
