"""``hebbtorch train``: train one model by BPTT; reports and checkpoints go to ``--out``."""

from __future__ import annotations

import argparse

from hebbtorch.cli.common import add_run
from hebbtorch.cli.train_args import add_train_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a network by backpropagation through time",
                       description="Train a spiking (or non-spiking) network by BPTT. Writes "
                       "metrics.json/.csv, batches.csv, learning_curves.png and checkpoint.pt.")
    add_train_args(p)
    add_run(p, "train")
    p.add_argument("--stop-after-batches", type=int, default=None, metavar="N",
                   help="stop after N optimizer steps (checkpointed; continue with --resume)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hebbtorch.distributed import is_main_process
    from hebbtorch.learning.bptt import train

    cfg = config_from_args(args)
    out = args.out
    result = train(cfg, out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet,
                   stop_after_batches=args.stop_after_batches, time_budget_s=args.time_budget)
    if not is_main_process():  # under torchrun only rank 0 reports
        return 0
    if "stopped_at" in result.metrics:
        s = result.metrics["stopped_at"]
        print(f"stopped at epoch {s['epoch'] + 1}, batch {s['batch']}; "
              f"continue with the same command plus --resume")
        return 0
    final = result.metrics["final"]
    print(f"{cfg.model} on {cfg.dataset}: test accuracy {100 * final['test_accuracy']:.2f}% "
          f"(loss {final['test_loss']:.4f}) after {final['epoch']} epochs; report in {out}")
    return 0
