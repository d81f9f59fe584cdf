"""Timing at fixed rates (issue 27, item 4) in the recurrent supervised calcium-bistable network
on mnist-5k, small scale: 1500 training images, 500 validation images (carved out of the
training set), evaluations every 250 images (in whole batches: after 300, 500, ...), 3 seeds
per condition (reset / oscillation / continuous presentation / the oscillation with the teacher
inhibition calibrated so that the non-target rate during training equals the reset condition's,
over the whole run or over the first 300 images). Writes
bench/results/calcium-timing.json and docs/img/calcium_timing.png.

    nice -n 10 python bench/calcium_timing.py          # ~4 CPU-minutes, 1 thread
    nice -n 10 python bench/calcium_timing.py --only oscillation --out /tmp/o.json  # in parallel
    python bench/calcium_timing.py --merge /tmp/r.json /tmp/o.json /tmp/c.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.io import write_json
from hebbtorch.studies.calcium_supervised import TASK_CONFIGS, load_flat, split_validation
from hebbtorch.studies.calcium_timing import (
    CONDITIONS,
    MATCHED,
    MATCHED_EARLY,
    aggregate,
    timing_study,
)
from hebbtorch.viz.calcium import plot_learning_curves

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/results/calcium-timing.json")
    ap.add_argument("--only", default=None,
                    help="one condition: " + ", ".join([*CONDITIONS, MATCHED, MATCHED_EARLY]))
    ap.add_argument("--train-images", type=int, default=1500)
    ap.add_argument("--fig", default="docs/img/calcium_timing.png",
                    help="validation learning curves per condition ('' for none)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="combine the outputs of conditions run separately (--only)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.merge:
        rows = [{**aggregate(r["condition"], r["change"], r["per_seed"]),
                 **{k: r[k] for k in ("calibration",) if k in r}}
                for f in args.merge for r in json.loads(Path(f).read_text())["rows"]]
        write_json(Path(args.out), {**json.loads(Path(args.merge[0]).read_text()), "rows": rows})
    else:
        x, y = load_flat("mnist-5k", "train")
        xtr, ytr, xva, yva = split_validation(x, y, 500)
        config, params = TASK_CONFIGS["mnist-recurrent"]
        conds = None if args.only is None else (
            {} if args.only in (MATCHED, MATCHED_EARLY) else {args.only: CONDITIONS[args.only]})
        rows = timing_study(xtr[:args.train_images], ytr[:args.train_images], xva, yva, config,
                            params, conditions=conds,
                            match_rates=args.only if args.only in (MATCHED, MATCHED_EARLY)
                            else args.only is None,
                            log=lambda m: print(m, flush=True))
        write_json(Path(args.out), {"rows": rows, "threads": 1,
                                    "train_images": args.train_images,
                                    "command": "nice -n 10 python bench/calcium_timing.py",
                                    "note": "small scale; CPU on a shared, loaded 2-core machine"})
    if args.fig:
        runs = [{"name": r["condition"], **r} for r in rows]
        plot_learning_curves(runs, title="recurrent, mnist-5k: timing conditions").savefig(
            args.fig, dpi=120, bbox_inches="tight")
    for r in rows:
        print(f"{r['condition']}: to 75 % in {r.get('images_to_75pct_mean', float('nan')):.0f} "
              f"images ({r['images_to_75pct_reached']} seeds); accuracy at the first evaluation "
              f"{r['accuracy_first_mean']:.3f}; |dX|/image "
              f"{r['abs_dX_first_mean']:.3g}; overlap {r['overlap_mean']:.3f}; rates in "
              f"{r['train_rate_input_hz_mean']:.2f} Hz, target {r['train_rate_target_hz_mean']:.0f}"
              f" Hz, others {r['train_rate_other_hz_mean']:.2f} Hz (whole training "
              f"{r['train_rate_other_all_hz_mean']:.2f} Hz)")
