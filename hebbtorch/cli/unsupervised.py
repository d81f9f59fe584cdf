"""``hebbtorch unsupervised``: the Diehl & Cook (2015) network learning images without labels
with a local rule (original trace STDP, triplet STDP, Graupner-Brunel or the calcium-trace
rule); resumable. Under ``torchrun`` the lanes of ``--batch`` are split across the processes
(gloo), with the one-process result. See docs/unsupervised.md and docs/scaling.md."""

from __future__ import annotations

import argparse

from hebbtorch.cli.common import (
    add_batch_size,
    add_data,
    add_renamed,
    add_run,
    add_time_budget,
    device_name,
    positive_float,
    positive_int,
)
from hebbtorch.plasticity import registry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "unsupervised", help="Diehl & Cook 2015 unsupervised network with a local rule; "
        "writes metrics.json, checkpoint.pt and pictures; resumes from its checkpoint")
    p.add_argument("--rule", choices=registry.names(), default="dc",
                   help="dc: the original trace STDP (default); triplet: Pfister & Gerstner; "
                   "calcium: calcium-trace Hebbian; gb: Graupner & Brunel; pair: pair STDP "
                   "(every name of hebbtorch.plasticity.registry)")
    p.add_argument("--gb-calcium", type=positive_float, nargs=2, metavar=("C_PRE", "C_POST"),
                   default=None, help="gb only: calcium amplitudes instead of the set's "
                   "(DP: 1 and 2)")
    p.add_argument("--gb-set", choices=("DP", "cortical_slices", "hippocampal_slices",
                                        "hippocampal_cultures"), default=None,
                   help="gb only: Graupner & Brunel's fitted parameter set (default DP)")
    p.add_argument("--gb-param", type=gb_param, action="append", default=None,
                   metavar="NAME=VALUE", help="gb only: replace one Graupner-Brunel parameter "
                   "(e.g. tau_Ca=11.95, in the units of GraupnerBrunelParameters); repeatable")
    p.add_argument("--gb-rate-normalised", action="store_true",
                   help="gb only (exact online mode): scale C_pre down by a retry's intensity "
                   "increase (docs/unsupervised.md, 'Graupner-Brunel in the network')")
    p.add_argument("--gb-drift-every", type=positive_int, default=128, metavar="STEPS",
                   help="gb only: apply the slow bistable drift every STEPS steps (default 128; "
                   "1: every step, which float32 cannot resolve: see GraupnerBrunel)")
    p.add_argument("--neurons", type=positive_int, default=100,
                   help="excitatory (= inhibitory) neurons (default 100)")
    add_data(p)
    p.add_argument("--images", type=positive_int, default=1000,
                   help="training images shown (cycling through the training set)")
    add_batch_size(p, 1, "1: exact online learning (default); >1: that many images at once, "
                   "weight updates averaged over them (split across torchrun's processes)")
    p.add_argument("--label-images", type=positive_int, default=None,
                   help="training images used (frozen) to label the neurons (default 1000, or "
                   "all if fewer)")
    p.add_argument("--test-images", type=positive_int, default=None,
                   help="test images classified (default 1000, or all if fewer)")
    add_renamed(p, "--test-images")
    p.add_argument("--eval-batch", type=positive_int, default=50,
                   help="images simulated at once in the frozen evaluation")
    p.add_argument("--update-interval", type=positive_int, default=250,
                   help="images per block of the accuracy-vs-images curve")
    p.add_argument("--checkpoint-every", type=positive_int, default=250)
    add_time_budget(p, "then the evaluation runs")
    add_run(p, "unsupervised")  # on cuda the exact online mode with dc, triplet or calcium
    # (and frozen evaluation with --eval-batch 1) runs in a Triton kernel
    p.set_defaults(func=run)


def gb_param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import torch

    from hebbtorch import distributed as ddp
    from hebbtorch.learning.unsupervised import train_unsupervised

    device = device_name(args.device)
    info = ddp.setup(torch.device("cpu"))  # joins torchrun's group (gloo); no-op otherwise
    try:
        train_unsupervised(
            args.out, rule=args.rule, neurons=args.neurons, dataset=args.dataset,
            images=args.images, batch=args.batch_size, label_images=args.label_images,
            test_images=args.test_images, eval_batch=args.eval_batch,
            update_interval=args.update_interval, checkpoint_every=args.checkpoint_every,
            seed=args.seed, data_root=args.data_root, time_budget_s=args.time_budget,
            quiet=args.quiet, device=device, resume=args.resume, overwrite=args.overwrite,
            gb_calcium=args.gb_calcium, gb_set=args.gb_set,
            gb_rate_normalised=args.gb_rate_normalised, gb_drift_every=args.gb_drift_every,
            gb_params=dict(args.gb_param) if args.gb_param else None)
    finally:
        ddp.teardown(info)
    return 0
