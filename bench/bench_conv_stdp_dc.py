"""The all-spiking pipeline: conv-STDP features (Kheradpisheh et al. 2018) read by a Diehl & Cook
(2015) layer that learns on them by its own STDP and votes (hebbtorch.learning.conv_stdp_dc).

    python bench/bench_conv_stdp_dc.py --dataset mnist-5k --seeds 0 1 2 --neurons 100 400

Writes bench/results/conv-stdp-dc-<dataset>.json (and, with --kernels-png, the picture of the
learned conv kernels of the first seed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.data import load_dataset
from hebbtorch.io import save_figure, write_json
from hebbtorch.learning.conv_stdp import ConvSTDPConfig, run_experiment
from hebbtorch.learning.conv_stdp_dc import conv_dc_experiment
from hebbtorch.networks.conv_stdp import ConvSTDPNet
from hebbtorch.viz.conv_stdp import plot_kernels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist-5k")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--layer-images", type=int, nargs="+", default=[2000, 2000])
    ap.add_argument("--neurons", type=int, nargs="+", default=[100])
    ap.add_argument("--images", type=int, default=None, help="DC training images (default all)")
    ap.add_argument("--kernels-png", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train, test = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    runs = []
    for seed in args.seeds:
        net = ConvSTDPNet(generator=torch.Generator().manual_seed(seed))
        cfg = ConvSTDPConfig(dataset=args.dataset, seed=seed,
                             layer_images=tuple(args.layer_images), features=())
        t0 = time.perf_counter()
        conv = run_experiment(net, cfg, train, test)
        if args.kernels_png and seed == args.seeds[0]:
            save_figure(plot_kernels(net), args.kernels_png)
        for n in args.neurons:
            r = conv_dc_experiment(net, train, test, neurons=n, images=args.images, seed=seed)
            r.update(seed=seed, layers=conv["layers"], wall_seconds=time.perf_counter() - t0)
            runs.append(r)
            print(f"seed {seed}, {n} neurons: {r['all_activity']:.2f} / {r['proportion']:.2f} %",
                  flush=True)
    summary = []
    for n in args.neurons:
        rs = [r for r in runs if r["neurons"] == n]
        row = {"neurons": n, "seeds": [r["seed"] for r in rs]}
        for k in ("all_activity", "proportion"):
            v = [r[k] for r in rs]
            row[f"{k}_mean"] = statistics.mean(v)
            row[f"{k}_sd"] = statistics.stdev(v) if len(v) > 1 else None
        summary.append(row)
    out = Path(args.out or f"bench/results/conv-stdp-dc-{args.dataset}.json")
    write_json(out, {
        "command": "python " + " ".join(sys.argv), "dataset": args.dataset,
        "readout": "Diehl & Cook layer (original rule, exact online, one epoch) on the "
                   "per-quadrant firing fractions of the pooled last-layer spikes; vote readout",
        "summary": summary, "threads": 1,
        "machine": f"{os.cpu_count()} CPUs shared with other jobs; load average "
                   f"{os.getloadavg()[0]:.1f} at the end (timings measured under load)",
        "runs": runs})
    print(f"-> {out}")


if __name__ == "__main__":
    main()
