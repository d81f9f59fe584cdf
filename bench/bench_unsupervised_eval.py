"""Speed of the parts of ``hebbtorch unsupervised --rule dc --neurons 100`` that issue 23 part 4
changes, before and after, with the default threads and with one, on the machine as it is and
with one other busy process (``python -c "while True: pass"``):

* frozen evaluation, images/s (mnist-5k training images; one network trained on --train images):
  ``loop-b50`` the PyTorch step loop at --eval-batch 50 (the default before; one chunk, and
  only without the busy process: it takes minutes on a loaded machine), ``fused-b1`` the
  batch-1 training kernel without learning (--eval-batch 1 before), ``fused-eval-b50`` the
  batched evaluation kernel (the default now);
* training, images/s of the exact online mode (fused kernel, which draws the input itself):
  2 threads (the default before) and 1 (the default now).

The configurations alternate (the thread counts in turn first), after a warm-up of every path,
so that a change in the machine's other load hits all of them; each row records the load
average before it and wall and CPU seconds; ``summary`` has the median images/s of each. Writes
bench/results/unsupervised-eval.json.

    nice -n 10 python bench/bench_unsupervised_eval.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.data import load_dataset
from hebbtorch.kernels import diehl_cook_eval as fused_eval
from hebbtorch.learning.unsupervised import make_rule, respond
from hebbtorch.networks.diehl_cook import N_INPUT, DiehlCookNetwork

ROOT = Path(__file__).resolve().parents[1]


def timed(fn) -> dict:
    load = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "loadavg_before": [round(x, 2) for x in load]}


def evaluation(trained: DiehlCookNetwork, x: torch.Tensor, path: str, threads: int) -> dict:
    batch = 1 if path == "fused-b1" else 50
    ev = DiehlCookNetwork(trained.n, batch=batch, w_init=trained.weight,
                          backend="reference" if path == "loop-b50" else "auto")
    ev.theta.copy_(trained.theta)
    use = fused_eval.use_fused
    if path == "fused-b1":  # the batch-1 kernel (--eval-batch 1)
        fused_eval.use_fused = lambda *a: False
    torch.set_num_threads(threads)
    try:
        r = timed(lambda: respond(ev, x, seed=1))
    finally:
        fused_eval.use_fused = use
    return {**r, "images_per_s": len(x) / r["wall_s"]}


def training(x: torch.Tensor, threads: int) -> dict:
    setup = make_rule("dc")
    net = DiehlCookNetwork(100, setup.rule, bounds=setup.bounds,
                           w_init=setup.init(100, torch.Generator().manual_seed(0)))
    torch.set_num_threads(threads)

    def run() -> None:
        for k, img in enumerate(x):
            net.present(img[None], learn=True, seed=k)

    r = timed(run)
    return {**r, "images_per_s": len(x) / r["wall_s"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=100, help="images to train the network on")
    ap.add_argument("--eval", type=int, default=100, help="images per evaluation measurement")
    ap.add_argument("--train-images", type=int, default=50,
                    help="images per training measurement")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the kernel rows")
    ap.add_argument("--no-loop", action="store_true", help="leave out the step loop's rows")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/unsupervised-eval.json")
    a = ap.parse_args()
    default_threads = torch.get_num_threads()
    x = load_dataset("mnist-5k", split="train").images.reshape(-1, N_INPUT).float()
    setup = make_rule("dc")
    net = DiehlCookNetwork(100, setup.rule, bounds=setup.bounds,
                           w_init=setup.init(100, torch.Generator().manual_seed(0)))
    torch.set_num_threads(1)
    for k in range(a.train):
        net.present(x[k:k + 1], learn=True, seed=k)
    xe = x[a.train:a.train + a.eval]
    for path in ("fused-b1", "fused-eval-b50"):  # warm-up: builds, first calls
        evaluation(net, xe[:2], path, 1)
    rows = []

    def record(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for path in ("loop-b50", "fused-b1", "fused-eval-b50"):
                # the slow loop once, on one chunk of 50 and not with the busy process (minutes
                # on a loaded machine); the kernels a.reps times, thread counts alternating
                if path == "loop-b50" and (busy or a.no_loop):
                    continue
                reps, xs = (1, xe[:50]) if path == "loop-b50" else (a.reps, xe)
                for r in range(reps):
                    order = (default_threads, 1) if r % 2 == 0 else (1, default_threads)
                    for threads in order:
                        record({"part": "evaluation", "path": path, "threads": threads,
                                "busy_process": busy, "images": len(xs),
                                **evaluation(net, xs, path, threads)})
            for r in range(a.reps):
                for threads in (default_threads, 1) if r % 2 == 0 else (1, default_threads):
                    record({"part": "training", "path": "fused-online", "threads": threads,
                            "busy_process": busy, "images": a.train_images,
                            **training(x[:a.train_images], threads)})
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    summary = {}
    for row in rows:
        key = f"{row['part']} {row['path']} threads={row['threads']} busy={row['busy_process']}"
        summary.setdefault(key, []).append(row["images_per_s"])
    summary = {k: {"median_images_per_s": round(statistics.median(v), 1), "runs": len(v)}
               for k, v in summary.items()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "network": "Diehl & Cook, dc rule, 100 neurons, mnist-5k", "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
        "niceness": os.nice(0),
        "note": "shared machine: loadavg_before is the other load when each row started",
        "summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
