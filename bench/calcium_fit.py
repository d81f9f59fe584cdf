"""Fit the calcium-bistable rule to Sjöström et al. 2001 and Bi & Poo 1998 (three weightings of
Bi & Poo in the loss: 0 = Sjöström only, 1 = joint, 10 = mostly Bi & Poo) and run the rate
protocol for each fitted set. Writes bench/results/calcium-fit.json.

    nice -n 10 .venv/bin/python bench/calcium_fit.py      # ~5 CPU-minutes
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.io import write_json
from hebbtorch.studies.calcium_fit import fit

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench/results/calcium-fit.json")
    ap.add_argument("--n-random", type=int, default=400)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.process_time()
    runs = [fit(n_random=args.n_random, n_refine=4, w_bipoo=w, seed=0, log=print)
            for w in (0.0, 1.0, 10.0)]
    write_json(Path(args.out), {"fits": runs, "cpu_s": time.process_time() - t0,
                                "command": "nice -n 10 python bench/calcium_fit.py"})
    for r in runs:
        print(r["w_bipoo"], r["sjostrom"]["within_sem"], r["sjostrom"]["rmse_vs_data"],
              r["bi_poo"]["rmse_vs_data"], r["params"])
