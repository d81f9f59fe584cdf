"""Supervised classification with the calcium-bistable rule alone: mnist-5k feed-forward and
recurrent, Fashion-MNIST feed-forward (a subset of its training set). Accuracy vs images seen,
rates and coding levels. Writes bench/results/calcium-supervised.json and
docs/img/calcium_learning.png.

    nice -n 10 .venv/bin/python bench/calcium_supervised.py     # ~10-15 CPU-minutes
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hebbtorch.io import write_json
from hebbtorch.studies.calcium_supervised import SupervisedConfig, load_flat, train
from hebbtorch.viz.calcium import plot_learning_curves

RUNS = [  # (name, dataset, train images, epochs, w_rec)
    ("mnist-5k feed-forward", "mnist-5k", None, 2, 0.0),
    ("mnist-5k recurrent", "mnist-5k", None, 2, 0.05),
    ("fashion-mnist feed-forward", "fashion-mnist", 16000, 1, 0.0),
]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results/calcium-supervised.json")
    ap.add_argument("--fig", default="docs/img/calcium_learning.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="run only the runs whose name contains this")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="combine the outputs of runs made separately (--only, in parallel)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = []
    if args.merge:
        results = [r for f in args.merge for r in json.loads(Path(f).read_text())["runs"]]
        RUNS = []
    for name, ds, n_train, epochs, w_rec in RUNS:
        if args.only and args.only not in name:
            continue
        xtr, ytr = load_flat(ds, "train", n_train)
        xte, yte = load_flat(ds, "test", 1000)
        t0 = time.process_time()
        r = train(xtr, ytr, xte, yte, config=SupervisedConfig(w_rec=w_rec), epochs=epochs,
                  seed=args.seed, eval_every=2000, log=lambda m, n=name: print(n, m, flush=True))
        results.append({"name": name, "dataset": ds, **r, "cpu_s": time.process_time() - t0})
    write_json(Path(args.out), {"runs": results, "threads": 1,
                                "command": "nice -n 10 python bench/calcium_supervised.py",
                                "note": "CPU time measured on a shared, loaded 2-core machine"})
    plot_learning_curves(results).savefig(args.fig, dpi=120, bbox_inches="tight")
    for r in results:
        f = r["final"]
        print(f"{r['name']}: {100 * f['accuracy']:.1f} % (by drive "
              f"{100 * f['accuracy_by_drive']:.1f} %), rate {f['mean_rate_hz']:.1f} Hz, coding "
              f"level out {f['coding_level_out']:.3f} in {f['coding_level_in']:.3f}, "
              f"{r['cpu_s']:.0f} CPU-s")
