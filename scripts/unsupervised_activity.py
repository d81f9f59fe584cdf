"""Network activity of the Diehl & Cook network while it learns online: per block of images the
retries and E spikes per image (the successful attempt), the adaptive thresholds θ (mean and
max, mV above θ's start), how many neurons fired, how alike the receptive fields are (mean
pairwise cosine of the mean-centred fields) and how much a neuron's input weights change in a
presentation by the number of spikes it fired -- the symptoms of a rule setting under which the
lateral inhibition stops picking one winner. Writes JSON. docs/unsupervised.md,
"Graupner-Brunel on Fashion-MNIST".

    OMP_NUM_THREADS=1 .venv/bin/python scripts/unsupervised_activity.py --dataset fashion-mnist \\
        --rule gb --gb-set cortical_slices --gb-calcium 0.25 1.2 --gb-rate-normalised
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hebbtorch.cli.unsupervised import gb_param
from hebbtorch.data import load_dataset
from hebbtorch.io import write_json
from hebbtorch.learning.unsupervised import make_rule
from hebbtorch.networks.diehl_cook import (
    N_INPUT,
    DiehlCookNetwork,
    DiehlCookParameters,
    normalize_columns,
)
from hebbtorch.plasticity import registry

ROOT = Path(__file__).resolve().parents[1]
SPIKE_BINS = ((0, 0), (1, 1), (2, 2), (3, 4), (5, None))  # spikes in a presentation


def field_similarity(w: torch.Tensor) -> float:
    """Mean cosine over all pairs of distinct neurons of their mean-centred input weights
    ``w`` ``[784, n]`` (0: unrelated fields, 1: all the same shape)."""
    c = w - w.mean(0, keepdim=True)
    c = c / c.norm(dim=0, keepdim=True).clamp_min(1e-12)
    n = w.shape[1]
    return float(((c.T @ c).sum() - n) / (n * (n - 1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="mnist-5k")
    ap.add_argument("--rule", choices=registry.names(), default="dc")
    ap.add_argument("--gb-set", default=None)
    ap.add_argument("--gb-calcium", type=float, nargs=2, default=None)
    ap.add_argument("--gb-param", type=gb_param, action="append", default=None,
                    metavar="NAME=VALUE")
    ap.add_argument("--gb-rate-normalised", action="store_true")
    ap.add_argument("--neurons", type=int, default=100)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--block", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON (default bench/results/activity-<rule>-<data>.json)")
    args = ap.parse_args()
    out = args.out or ROOT / f"bench/results/activity-{args.rule}-{args.data}.json"
    x = load_dataset(args.data, split="train").images.reshape(-1, N_INPUT).float()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    gb_params = dict(args.gb_param) if args.gb_param else None
    setup = make_rule(args.rule, gb_calcium=args.gb_calcium, gb_set=args.gb_set,
                      gb_params=gb_params)
    net = DiehlCookNetwork(args.neurons, setup.rule, bounds=setup.bounds,
                           w_init=setup.init(args.neurons,
                                             torch.Generator().manual_seed(args.seed)),
                           rate_normalised_calcium=args.gb_rate_normalised)
    theta0 = DiehlCookParameters().theta_init
    blocks, t0 = [], time.process_time()
    for start in range(0, args.images, args.block):
        retries, spikes, fired = 0.0, 0.0, torch.zeros(args.neurons, dtype=torch.bool)
        change = {b: [] for b in SPIKE_BINS}
        n = min(args.block, args.images - start)
        for k in range(start, start + n):
            # the weights as the presentation starts (present() normalises them first)
            before = normalize_columns(net.weight.clone(), net.params.norm)
            counts, used = net.present(x[order[k]:order[k] + 1], learn=True, seed=k)
            rel = (net.weight - before).abs().sum(0) / before.sum(0)
            for lo, hi in SPIKE_BINS:
                sel = (counts[0] >= lo) & (counts[0] <= (hi if hi is not None else 1e9))
                change[(lo, hi)] += rel[sel].tolist()
            retries += float(used[0]) - net.params.intensity
            spikes += float(counts.sum())
            fired |= counts[0] > 0
        b = {"images": start + n, "retries_per_image": retries / n,
             "spikes_per_image": spikes / n, "theta_mean_mV": float(net.theta.mean() - theta0),
             "theta_max_mV": float(net.theta.max() - theta0),
             "neurons_fired": int(fired.sum()),
             "field_similarity": field_similarity(net.weight),
             # mean over neurons and presentations of sum |Δw| / sum w, by spikes fired
             "weight_change_by_spikes": {
                 f"{lo}" if lo == hi else f"{lo}-{hi}" if hi else f">={lo}":
                     (sum(v) / len(v) if v else None, len(v))
                 for (lo, hi), v in change.items()},
             "cpu_s": time.process_time() - t0}
        blocks.append(b)
        print(" ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in b.items() if k != "weight_change_by_spikes"),
              " ".join(f"{k}:{v[0]:.4f}" for k, v in b["weight_change_by_spikes"].items()
                       if v[0] is not None), flush=True)
    write_json(out, {"data": args.data, "rule": args.rule, "gb_set": args.gb_set,
                     "gb_calcium": args.gb_calcium, "gb_params": gb_params,
                     "gb_rate_normalised": args.gb_rate_normalised, "neurons": args.neurons,
                     "seed": args.seed, "torch": torch.__version__, "blocks": blocks})


if __name__ == "__main__":
    main()
