"""Frozen vs. learning-mode responses of a trained Diehl & Cook run (``hebbtorch unsupervised
--out DIR``): classify the first N test images (all-activity readout) from the responses of

* the frozen network (the original's test mode: weights and θ fixed), labelled by the run's
  last training block (the accuracy curve's assignment) and by a frozen pass over N training
  images (as the final evaluation labels);
* the network still learning, as during training (weights, θ and traces go on changing);
* the network in learning mode with a rule that changes nothing (``DiehlCookSTDP`` with zero
  rates): only θ adapts (+θ_plus per spike, within and across presentations) and the weights
  are normalised.

docs/unsupervised.md, "Why the frozen test falls below the training curve".

    .venv/bin/python scripts/readout_modes.py runs/dc/fmnist-triplet-n100 --images 2000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from hebbtorch.data import load_dataset
from hebbtorch.io import write_json
from hebbtorch.learning.unsupervised import make_rule, respond
from hebbtorch.networks.diehl_cook import (
    N_INPUT,
    DiehlCookNetwork,
)
from hebbtorch.networks.readout import assign_labels, predict_all_activity
from hebbtorch.plasticity import DiehlCookSTDP, DiehlCookSTDPParameters

ROOT = Path(__file__).resolve().parents[1]


def learning_responses(net: DiehlCookNetwork, x: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.cat([net.present(x[k:k + 1], learn=True, seed=seed + k)[0]
                      for k in range(len(x))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON (default bench/results/readout-modes-<run folder>.json)")
    args = ap.parse_args()
    out = args.out or ROOT / f"bench/results/readout-modes-{args.run.name}.json"
    ck = torch.load(args.run / "checkpoint.pt", weights_only=True, map_location="cpu")
    cfg = ck["config"]
    setup = make_rule(cfg["rule"], gb_calcium=cfg.get("gb_calcium"), gb_set=cfg.get("gb_set"),
                      gb_params=cfg.get("gb_params"))
    train = load_dataset(cfg["dataset"], split="train")
    test = load_dataset(cfg["dataset"], split="test")
    n, N = cfg["neurons"], args.images
    xtr, ytr = train.images.reshape(-1, N_INPUT)[:N].float(), train.labels[:N]
    xte, yte = test.images.reshape(-1, N_INPUT)[:N].float(), test.labels[:N]
    a_block = ck["run"]["assigned"][0]

    def net(rule=setup.rule, bounds=setup.bounds) -> DiehlCookNetwork:
        m = DiehlCookNetwork(n, rule, bounds=bounds, w_init=ck["weight"],
                             rate_normalised_calcium=cfg.get("gb_rate_normalised", False)
                             and rule is setup.rule)
        m.theta.copy_(ck["theta"])
        return m

    frozen = net()
    r_frozen = respond(frozen, xte, seed=2, desc="frozen test")
    a_frozen = assign_labels(respond(frozen, xtr, seed=1, desc="frozen label"), ytr)[0]
    learning = net()
    learning.load_dynamic_state(ck["dynamic"])
    r_learning = learning_responses(learning, xte, 10_000)
    still = DiehlCookSTDP(DiehlCookSTDPParameters(nu_pre=0.0, nu_post=0.0))
    r_theta = learning_responses(net(still, make_rule("dc").bounds), xte, 10_000)

    def acc(r: torch.Tensor, a: torch.Tensor) -> float:
        return float((predict_all_activity(r, a) == yte).float().mean())

    rows = {"frozen, frozen labels": acc(r_frozen, a_frozen),
            "frozen, training-block labels": acc(r_frozen, a_block),
            "learning, training-block labels": acc(r_learning, a_block),
            "learning, frozen labels": acc(r_learning, a_frozen),
            "theta only, training-block labels": acc(r_theta, a_block)}
    for k, v in rows.items():
        print(f"{k:36s} {100 * v:5.1f} %")
    write_json(out, {"run": str(args.run), "config": cfg, "images": N,
                     "accuracy_all_activity": rows})


if __name__ == "__main__":
    main()
