"""Supervised classification with the calcium-bistable rule alone: mnist-5k and Fashion-MNIST
(a subset of its training set), feed-forward and recurrent, on pixels (the paper-like network)
and through a fixed front end (own choice: a global random expansion, or random local receptive
fields; or a conv-STDP network learned without labels), 3 seeds each.

Honest protocol: a validation split is carved out of the training set (the same images for
every seed, ``split_validation``); every choice of the task's parameters was made on it. The
test split is evaluated once per seed, after training. Reported: validation accuracy vs images
seen, final test accuracy / mean output rate / coding levels as mean ± sd over seeds. Writes
bench/results/calcium-supervised.json and docs/img/calcium_learning.png.

    nice -n 10 python bench/calcium_supervised.py              # ~135 CPU-minutes, 1 thread
    nice -n 10 python bench/calcium_supervised.py --only fashion --out /tmp/f.json
    nice -n 10 python bench/calcium_supervised.py --only vote --seeds 2 --out /tmp/v2.json
    python bench/calcium_supervised.py --merge /tmp/m.json /tmp/f.json   # combine parallel runs
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.io import write_json
from hebbtorch.studies.calcium_supervised import (
    TASK_CONFIGS,
    load_flat,
    load_split,
    summarize,
    train,
)
from hebbtorch.viz.calcium import plot_learning_curves

SEEDS = (0, 1, 2)
# (name, dataset, training images incl. validation, n_val, epochs, config name, eval every[,
# extra training images after those]);
# the expansion runs (own choice, a fixed random layer before the plastic one) are reported
# apart from the paper-like network.
RUNS = [
    ("mnist-5k feed-forward", "mnist-5k", None, 500, 2, "mnist", 1000),
    ("mnist-5k recurrent", "mnist-5k", None, 500, 2, "mnist-recurrent", 1000),
    ("fashion-mnist feed-forward", "fashion-mnist", 7000, 1000, 1, "fashion", 1000),
    ("fashion-mnist recurrent", "fashion-mnist", 7000, 1000, 1, "fashion-recurrent", 1000),
    ("mnist-5k expansion feed-forward", "mnist-5k", None, 500, 2, "mnist-expand", 1000),
    ("fashion-mnist expansion feed-forward", "fashion-mnist", 7000, 1000, 1, "fashion-expand",
     1000),
    ("mnist-5k expansion recurrent", "mnist-5k", None, 500, 2, "mnist-expand-recurrent", 1000),
    ("fashion-mnist expansion recurrent", "fashion-mnist", 7000, 1000, 1,
     "fashion-expand-recurrent", 1000),
    ("mnist-5k local fields feed-forward", "mnist-5k", None, 500, 2, "mnist-local", 1000),
    ("mnist-5k local fields recurrent", "mnist-5k", None, 500, 2, "mnist-local-recurrent", 1000),
    ("fashion-mnist local fields feed-forward", "fashion-mnist", 7000, 1000, 1, "fashion-local",
     1000),
    ("fashion-mnist local fields recurrent", "fashion-mnist", 7000, 1000, 1,
     "fashion-local-recurrent", 1000),
    ("fashion-mnist conv-STDP feed-forward", "fashion-mnist", 7000, 1000, 1, "fashion-conv",
     1000),
    ("fashion-mnist local fields vote feed-forward", "fashion-mnist", 7000, 1000, 1,
     "fashion-local-vote", 2000, 18000),
    ("fashion-mnist local fields vote recurrent", "fashion-mnist", 7000, 1000, 1,
     "fashion-local-vote-recurrent", 2000, 18000),
]
# reported apart from the paper-like network
FRONT_ENDS = ("expansion", "local fields", "conv-STDP")
COMMAND = "nice -n 10 python bench/calcium_supervised.py"


def run_one(name: str, ds: str, n_train: int | None, n_val: int, epochs: int, cfg: str,
            eval_every: int, n_extra: int = 0, seeds=SEEDS) -> dict:
    xtr, ytr, xva, yva = load_split(ds, n_train, n_val, n_extra)
    xte, yte = load_flat(ds, "test")
    config, params = TASK_CONFIGS[cfg]
    per_seed = []
    for seed in seeds:
        t0 = time.process_time()
        r = train(xtr, ytr, xva, yva, xte, yte, config=config, params=params, epochs=epochs,
                  seed=seed, eval_every=eval_every,
                  log=lambda m, n=name, s=seed: print(n, s, m, flush=True))
        per_seed.append({**r, "cpu_s": time.process_time() - t0})
    return summarize_run({"name": name, "dataset": ds, "task": cfg, "epochs": epochs,
                          "n_train": len(ytr), "n_val": len(yva), "n_test": len(yte)}, per_seed)


def summarize_run(head: dict, per_seed: list[dict]) -> dict:
    """One run's JSON entry: ``head`` (name, sizes) and the summaries over its seeds."""
    n = len(per_seed)
    return {**head, "seeds": [r["seed"] for r in per_seed],
            "test": summarize(per_seed, "test"), "validation": summarize(per_seed, "final"),
            "train_rate_target_hz": sum(r["train_rate_target_hz"] for r in per_seed) / n,
            "train_rate_other_hz": sum(r["train_rate_other_hz"] for r in per_seed) / n,
            "cpu_s_per_seed": sum(r["cpu_s"] for r in per_seed) / n,
            "per_seed": per_seed}


HEAD = ("name", "dataset", "task", "epochs", "n_train", "n_val", "n_test")


def merge(runs: list[dict]) -> list[dict]:
    """Runs of the same name (seeds run separately, ``--seeds``) joined into one entry, seeds
    in order. Refused (one clear line): a seed present twice, or parts that differ in their
    sizes or in the configuration / rule their seeds ran with (an older JSON beside a newer)."""
    by_name: dict[str, list[dict]] = {}
    for r in runs:
        by_name.setdefault(r["name"], []).append(r)
    out = []
    for name, parts in by_name.items():
        per_seed = sorted((s for r in parts for s in r["per_seed"]), key=lambda s: s["seed"])
        seeds = [s["seed"] for s in per_seed]
        if len(set(seeds)) != len(seeds):
            raise SystemExit(f"--merge: run {name!r} has seed(s) more than once: {seeds}")
        for key in HEAD:
            if len({str(r[key]) for r in parts}) > 1:
                raise SystemExit(f"--merge: run {name!r} differs in {key} between its parts")
        if len({json.dumps([s["config"], s["rule"]], sort_keys=True) for s in per_seed}) > 1:
            raise SystemExit(f"--merge: run {name!r} has seeds run with different settings")
        head = {k: parts[0][k] for k in HEAD}
        out.append(summarize_run(head, per_seed) if len(parts) > 1 else parts[0])
    return out


def save(results: list[dict], out: str) -> None:
    write_json(Path(out), {"runs": results, "threads": 1, "command": COMMAND,
                           "note": "CPU time measured on a shared, loaded 2-core machine"})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/results/calcium-supervised.json")
    ap.add_argument("--fig", default="docs/img/calcium_learning.png")
    ap.add_argument("--only", nargs="+", default=None,
                    help="run only the runs whose name contains one of these")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="combine the outputs of runs made separately (--only, --seeds, in "
                         "parallel)")
    ap.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS),
                    help="the seeds to run (default: 0 1 2)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.merge:
        results = merge([r for f in args.merge for r in json.loads(Path(f).read_text())["runs"]])
    else:
        results = []
        for spec in RUNS:
            if not args.only or any(o in spec[0] for o in args.only):
                results.append(run_one(*spec, seeds=args.seeds))
                save(results, args.out)  # after every run: a stopped job keeps what it made
    save(results, args.out)
    if args.fig:  # the paper-like network and the front-end runs in two figures
        front = [r for r in results if any(f in r["name"] for f in FRONT_ENDS)]
        for tag, runs in (("", [r for r in results if r not in front]), ("_expand", front)):
            if runs:
                plot_learning_curves(runs).savefig(args.fig.replace(".png", f"{tag}.png"),
                                                   dpi=120, bbox_inches="tight")
    for r in results:
        t = r["test"]
        print(f"{r['name']}: test {100 * t['accuracy_mean']:.1f} ± {100 * t['accuracy_sd']:.1f} "
              f"% (validation {100 * r['validation']['accuracy_mean']:.1f} %), rate "
              f"{t['mean_rate_hz_mean']:.1f} Hz, coding level out {t['coding_level_out_mean']:.3f}"
              f", {r['cpu_s_per_seed']:.0f} CPU-s per seed")
