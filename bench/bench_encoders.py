"""One-epoch mnist-5k accuracy of `lif-mlp` with each input encoder (docs/encoding.md).

Each run is the documented command with ``--encoder NAME`` (seed 0, 25 steps, 4,000 training
and 1,000 test images, one epoch of Adam, one thread); the LIF threshold variants add
``--threshold 0.1``. Writes the test accuracy and the command of every run::

    python bench/bench_encoders.py --out bench/results/encoders-mnist5k.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENCODERS = ["direct", "rate", "poisson", "noisy-mask", "latency", "rank-order", "population",
            "delta", "dvs"]
EXTRA = {"latency": ["--threshold", "0.1"], "rank-order": ["--threshold", "0.1"]}
ARGS = ["train", "--model", "lif-mlp", "--epochs", "1", "--hidden", "128", "--batch-size", "100",
        "--optimizer", "adam", "--lr", "1e-3", "--schedule", "constant", "--device", "cpu",
        "--quiet"]


def run(encoder: str, extra: list[str], tmp: Path) -> dict:
    args = [*ARGS, "--encoder", encoder, *extra]
    out = tmp / "-".join([encoder, *extra])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "hebbtorch.cli.main", *args, "--out", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    final = json.loads((out / "metrics.json").read_text())["final"]
    return {"encoder": encoder, "threshold": float(extra[1]) if extra else None,
            "test_accuracy": final["test_accuracy"], "command": "hebbtorch " + " ".join(args)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results/encoders-mnist5k.json")
    ap.add_argument("--encoders", nargs="+", default=ENCODERS)
    a = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for enc in a.encoders:
            for extra in ([[]] + ([EXTRA[enc]] if enc in EXTRA else [])):
                runs.append(run(enc, extra, Path(d)))
                print(json.dumps(runs[-1]), flush=True)
    Path(a.out).write_text(json.dumps({"dataset": "mnist-5k", "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
