"""End to end time of the user command of issue 23 on two checkouts (a baseline and this one),
on a quiet machine and with one other busy process, and with the default threads against one:

    hebbtorch unsupervised --rule dc --neurons 100 --images 8000 --label-images 1000 \
        --test-images 1000            (mnist-5k, --eval-batch 50 by default)

Each run is a fresh process (``python -m hebbtorch.cli.main`` with the checkout first on
``PYTHONPATH``); the runs alternate between the checkouts so that a change in the machine's
other load hits both. Records wall seconds, training and evaluation images/s (from
metrics.json), the load average before each run and the busy process. Writes
bench/results/unsupervised-e2e.json.

    python bench/bench_unsupervised_e2e.py --baseline ../main
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"


def run(repo: Path, args: list[str], threads: int | None, busy: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    load = os.getloadavg()
    hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hebbtorch.cli.main", "unsupervised", *args,
                            "--out", out, "--quiet"], cwd=repo, env=env, check=True)
            wall = time.perf_counter() - t0
            m = json.loads((Path(out) / "metrics.json").read_text())
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    n_eval = m["label_images"] + m["test_images"]
    return {"repo": "this checkout" if repo == ROOT else "baseline", "busy_process": busy,
            "OMP_NUM_THREADS": threads if threads is not None else "default",
            "loadavg_before_1_5_15min": [round(x, 2) for x in load],
            "wall_seconds": round(wall, 1), "train_seconds": round(m["train_seconds"], 1),
            "train_images_per_second": round(m["train_images_per_second"], 1),
            "eval_seconds": round(m["eval_seconds"], 1),
            "eval_images_per_second": round(n_eval / m["eval_seconds"], 1),
            "accuracy_all_activity": m["final"]["all_activity"],
            "accuracy_proportion": m["final"]["proportion"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="checkout to compare against")
    ap.add_argument("--images", type=int, default=8000)
    ap.add_argument("--eval-images", type=int, default=1000, help="label and test images each")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/unsupervised-e2e.json")
    ap.add_argument("--baseline-busy", action="store_true",
                    help="also time the baseline beside a busy process (minutes: the old default "
                    "threads lose 2.6-4.5x there)")
    a = ap.parse_args()
    args = ["--rule", "dc", "--neurons", "100", "--images", str(a.images), "--label-images",
            str(a.eval_images), "--test-images", str(a.eval_images)]
    plan = [(busy, repo, threads) for busy in (False, True)
            for repo, threads in ((a.baseline.resolve(), None), (ROOT, None), (ROOT, 1))
            if not (busy and repo != ROOT and not a.baseline_busy)]
    runs = []
    for busy, repo, threads in plan:
        runs.append(run(repo, args, threads, busy))
        print(json.dumps(runs[-1]), flush=True)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({
            "command": "hebbtorch unsupervised " + " ".join(args), "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "note": "the machine is shared: loadavg_before is the other load at each start",
            "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
