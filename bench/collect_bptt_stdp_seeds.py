"""Collect the trained-network window fits of several `hebbtorch bptt-stdp --only-run` runs
(one per training seed) into one JSON, for docs/bptt-stdp.md:

    for s in 0 1 2; do
      hebbtorch train --model seed-snn --dataset mnist-5k --epochs 1 --batch-size 100 --seed $s \
          --out runs/seed5k-s$s --quiet
      hebbtorch bptt-stdp --only-run --run runs/seed5k-s$s --seed $s --out runs/bptt-s$s
    done
    python bench/collect_bptt_stdp_seeds.py runs/seed5k-s{0,1,2} --analyses runs/bptt-s{0,1,2} \
        --out bench/results/bptt-stdp-trained-mnist5k.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LAYERS = ("layer1", "layer2", "layer2_target", "layer2_other")


def summary(run: Path, analysis: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    study = json.loads((analysis / "bptt_stdp.json").read_text())["run"]
    layers = {}
    for name in LAYERS:
        fit = study["layers"][name]["fit_mean_update"]
        layers[name] = {
            "tau_causal_ms": fit["causal"]["tau_ms"], "tau_acausal_ms": fit["acausal"]["tau_ms"],
            "pearson_reference": fit["pearson_reference"], "ltp_branch": fit["ltp_branch"],
            "ltd_branch": fit["ltd_branch"]}
    errors = [c[k]["rel_error"] for c in study["batch_checks"] for k in ("layer1", "layer2")]
    return {"seed": metrics["config"]["seed"], "run": run.name,
            "test_accuracy": metrics["final"]["test_accuracy"],
            "attribution_max_rel_error": max(errors), "layers": layers}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--analyses", nargs="+", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if len(a.runs) != len(a.analyses):
        raise SystemExit("give one --analyses folder per run")
    seeds = [summary(r, s) for r, s in zip(a.runs, a.analyses, strict=True)]
    a.out.write_text(json.dumps({"model": "seed-snn", "dataset": "mnist-5k", "epochs": 1,
                                 "seeds": seeds}, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
