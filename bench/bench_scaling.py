"""1 process vs 2 gloo processes (torchrun) on this machine, for docs/scaling.md.

Per setup: the command's wall time, each process's CPU time (user + system, `bench/cpu_time.py`;
it shows how the work is divided whatever else the machine runs), the result, and whether the
2-process result equals the 1-process one. The load average is recorded: wall times taken
beside other jobs are not speed-ups.

    python bench/bench_scaling.py --out bench/results/scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU = re.compile(r"rank (\d+): cpu ([\d.]+) s")


def run(args: list[str], procs: int, out: Path, port: int) -> dict:
    launch = [sys.executable, str(ROOT / "bench" / "cpu_time.py")]
    if procs > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}",
                  "--master_addr=127.0.0.1", f"--master_port={port}",
                  str(ROOT / "bench" / "cpu_time.py")]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t = time.perf_counter()
    p = subprocess.run([*launch, *args, "--out", str(out)], env=env, cwd=ROOT,
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    cpu = {int(r): float(s) for r, s in CPU.findall(p.stdout)}
    return {"processes": procs, "command_s": round(wall, 2),
            "cpu_s_per_rank": [cpu[r] for r in sorted(cpu)], "load_avg_1min": os.getloadavg()[0]}


def protocol_case(reps: int, tmp: Path) -> dict:
    """The `rate` protocol of Graupner-Brunel (cost per repetition): split across ranks."""
    args = ["protocol", "rate", "--rule", "gb", "--params", "cortical_slices",
            "--reps", str(reps)]
    rows, results = [], []
    for procs in (1, 2):
        out = tmp / f"protocol{procs}"
        rows.append(run(args, procs, out, 29571))
        res = json.loads(next(out.glob("*.json")).read_text())
        rows[-1]["protocol_s"] = res["seconds"]
        res.pop("seconds")
        results.append(res)
    return {"command": "hebbtorch " + " ".join(args), "runs": rows,
            "equal_results": results[0] == results[1]}


def train_case(tmp: Path) -> dict:
    """A small `lif-mlp` training run: data-parallel with gloo."""
    args = ["train", "--model", "lif-mlp", "--hidden", "128", "--steps", "10", "--epochs", "1",
            "--batch-size", "100", "--train-images", "2000", "--test-images", "500",
            "--schedule", "constant", "--device", "cpu", "--quiet"]
    rows = []
    for procs in (1, 2):
        out = tmp / f"train{procs}"
        rows.append(run(args, procs, out, 29572))
        m = json.loads((out / "metrics.json").read_text())["final"]
        rows[-1] |= {"train_loop_s": m["wall_time_s"], "test_accuracy": m["test_accuracy"]}
    return {"command": "hebbtorch " + " ".join(args), "runs": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--out", default="bench/results/scaling.json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        res = {"cores": os.cpu_count(), "note": "OMP_NUM_THREADS=1 in every process; "
               "wall times beside other jobs (see load_avg_1min)",
               "protocol": protocol_case(a.reps, Path(d)), "train": train_case(Path(d))}
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
