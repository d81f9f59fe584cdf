"""Convolutional STDP (Kheradpisheh et al. 2018) on a data set, several seeds: test accuracy of a
linear readout on the learned spike features, and time per stage (wall and process CPU).

    python bench/bench_conv_stdp.py --dataset mnist-5k --seeds 0 1 2
    python bench/bench_conv_stdp.py --dataset fashion-mnist --seeds 0 --readout-shift 0
    python bench/bench_conv_stdp.py --dataset mnist-5k --ablation random   # kernels not learned

Ablations: ``random`` (initial kernels, no STDP), ``no-inhibition`` (no pointwise / lateral
inhibition during learning; k winners still one per map), ``no-dog`` (raw intensity as the one
input channel instead of DoG on/off). Writes
bench/results/conv-stdp-<dataset>[-<ablation>][-rule-<rule>][-shift<d>][-svm][-seed<s>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.data import load_dataset
from hebbtorch.io import write_json
from hebbtorch.learning.conv_stdp import ConvSTDPConfig, STDPSchedule, run_experiment
from hebbtorch.learning.conv_stdp_readout import LOSSES
from hebbtorch.networks.conv_stdp import ConvSTDPNet, ConvSTDPParameters

ABLATIONS = ("none", "random", "no-inhibition", "no-dog")


def params_for(ablation: str) -> ConvSTDPParameters:
    p = ConvSTDPParameters()
    if ablation == "no-dog":
        first = p.layers[0]._replace(in_channels=1)
        p = p._replace(dog=None, layers=(first, *p.layers[1:]))
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist-5k")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--layer-images", type=int, nargs="+", default=[2000, 2000])
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--double-every", type=int, default=100)
    ap.add_argument("--readout-images", type=int, default=None)
    ap.add_argument("--features", nargs="+", default=["spikes", "potential"])
    ap.add_argument("--l2-grid", type=float, nargs="+", default=[1e-4, 1e-2])
    ap.add_argument("--readout-iter", type=int, default=50, help="L-BFGS iterations per fit")
    ap.add_argument("--readout-loss", choices=LOSSES, default="logistic")
    ap.add_argument("--readout-shift", type=int, default=1,
                    help="also fit the readout on its images shifted by this many pixels "
                         "(4 shifts); 0: no shifted copies")
    ap.add_argument("--rule", default=None,
                    help="engine rule (registry name) instead of Kheradpisheh's eq. 3")
    ap.add_argument("--summarize", nargs="+", default=None, metavar="JSON",
                    help="merge the JSONs of runs that differ only in seed into --out")
    ap.add_argument("--ablation", choices=ABLATIONS, default="none")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.summarize:
        return summarize(args.summarize, args.out)
    torch.set_num_threads(args.threads)
    train, test = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    runs = []
    for seed in args.seeds:
        cfg = ConvSTDPConfig(
            dataset=args.dataset, seed=seed, layer_images=tuple(args.layer_images),
            batch_size=args.batch_size, schedule=STDPSchedule(double_every=args.double_every),
            inhibit=args.ablation != "no-inhibition", learn=args.ablation != "random",
            rule=args.rule, readout_images=args.readout_images, features=tuple(args.features),
            l2_grid=tuple(args.l2_grid), readout_iter=args.readout_iter,
            readout_loss=args.readout_loss, readout_shift=args.readout_shift)
        net = ConvSTDPNet(params_for(args.ablation), generator=torch.Generator().manual_seed(seed))
        t0 = time.perf_counter()
        r = run_experiment(net, cfg, train, test)
        r.update(seed=seed, wall_seconds=time.perf_counter() - t0)
        runs.append(r)
        acc = {k: round(v["test_accuracy"], 2) for k, v in r["readouts"].items()}
        print(f"seed {seed}: test {acc}, {r['wall_seconds']:.0f} s", flush=True)
    suffix = "" if args.ablation == "none" else f"-{args.ablation}"
    suffix += f"-rule-{args.rule}" if args.rule else ""
    suffix += f"-shift{args.readout_shift}" if args.readout_shift else ""
    suffix += "-svm" if args.readout_loss == "squared_hinge" else ""
    seeds = "" if args.seeds == [0, 1, 2] else "-seed" + "-".join(map(str, args.seeds))
    out = Path(args.out or f"bench/results/conv-stdp-{args.dataset}{suffix}{seeds}.json")
    write_json(out, {
        "command": "python " + " ".join(sys.argv),
        "dataset": args.dataset, "ablation": args.ablation,
        "rule": args.rule or "kheradpisheh",
        "readout": f"{args.readout_loss} linear classifier (full-batch L-BFGS, L2 penalty "
                   "picked on a validation part of the training images) on standardised pooled "
                   "last-layer binary spikes ('spikes') or end-of-window potentials "
                   "('potential'); fitted also on the fitting images shifted by "
                   f"{args.readout_shift} pixel(s) (4 shifts; 0: none)",
        **_stats(runs), "threads": args.threads,
        "machine": f"{os.cpu_count()} CPUs shared with other jobs; load average "
                   f"{os.getloadavg()[0]:.1f} at the end (timings measured under load)",
        "runs": runs})
    print(f"-> {out}")


def _stats(runs: list[dict]) -> dict:
    out = {}
    for kind in runs[0]["readouts"]:
        acc = [r["readouts"][kind]["test_accuracy"] for r in runs]
        out[f"{kind}_test_accuracy_mean"] = statistics.mean(acc)
        out[f"{kind}_test_accuracy_sd"] = statistics.stdev(acc) if len(acc) > 1 else None
    out["seeds"] = [r["seed"] for r in runs]
    return out


def summarize(paths: list[str], out: str | None) -> None:
    """One JSON with mean and sd over the runs of several per-seed JSONs, and a flat list
    ``stages`` (seed, stage, images, CPU and wall seconds, layer convergence) for tables."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    runs = [r for p in parts for r in p["runs"]]
    merged = {**parts[0], "command": [p["command"] for p in parts], **_stats(runs),
              "stages": [row for r in runs for row in _stages(r)], "runs": runs,
              "machine": [p["machine"] for p in parts]}
    if out is None:
        raise SystemExit("--summarize needs --out")
    write_json(out, merged)
    print(json.dumps(_stats(runs)))


def _stages(run: dict) -> list[dict]:
    rows = [{"seed": run["seed"], "stage": f"layer {i + 1}", "images": st["images"],
             "cpu_seconds": st["cpu_seconds"], "seconds": st["seconds"],
             "convergence": st["convergence"]} for i, st in enumerate(run["layers"])]
    for kind, r in run["readouts"].items():
        rows.append({"seed": run["seed"], "stage": f"{kind} features", "images": r["images"],
                     "cpu_seconds": r["features_cpu_seconds"], "seconds": r["features_seconds"]})
        rows.append({"seed": run["seed"], "stage": f"{kind} readout", "images": r["images"],
                     "cpu_seconds": r["fit_cpu_seconds"], "seconds": r["fit_seconds"],
                     **{f"validation_l2_{float(k):.0e}": v
                        for k, v in r["validation_accuracy"].items()},
                     "l2": r["l2"], "train_accuracy": r["train_accuracy"]})
    return rows


if __name__ == "__main__":
    main()
