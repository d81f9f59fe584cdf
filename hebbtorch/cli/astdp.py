"""``hebbtorch astdp train|generate``: approximate-STDP learning (Li 2022, arXiv 2206.14137) of a
spiking MLP with STDP only -- classification, auto-encoding and label-conditioned generation.
See docs/astdp.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbtorch.cli.common import (
    add_batch_size,
    add_data,
    add_run,
    add_subsets,
    add_time_budget,
    positive_float,
    positive_int,
    seed_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("astdp", help="approximate STDP: learn and generate with STDP only")
    asub = p.add_subparsers(dest="astdp_command", metavar="{train,generate}")
    asub.required = True

    t = asub.add_parser("train", help="train a spiking MLP by aSTDP; writes metrics.json, "
                        "learning_curve.png, checkpoint.pt, generated.png")
    add_data(t)
    t.add_argument("--hidden", type=positive_int, default=256, help="hidden layer size")
    t.add_argument("--hidden-layers", type=positive_int, default=1)
    t.add_argument("--epochs", type=positive_int, default=5)
    add_batch_size(t, 100)
    t.add_argument("--steps", type=positive_int, default=24, help="time steps per phase")
    t.add_argument("--lr", type=positive_float, default=1.0,
                   help="delta-rule learning rate the STDP contrast is scaled to")
    t.add_argument("--gen-lr", type=positive_float, default=1.0,
                   help="learning rate of the top-down (generative) synapses")
    t.add_argument("--mode", choices=("supervised", "unsupervised", "hybrid"), default="supervised",
                   help="hidden targets from the label error, the pixel reconstruction error, "
                   "or both")
    t.add_argument("--derivative", choices=("curve", "perturb"), default="curve",
                   help="numerical derivative from the rate-current curve or perturbed "
                   "re-simulation")
    t.add_argument("--noise", type=float, default=0.3, help="current noise std per step")
    add_subsets(t)
    t.add_argument("--eval-samples", type=positive_int, default=1000,
                   help="test samples for the per-epoch curve (final score uses all)")
    add_time_budget(t, "at a batch boundary")
    t.add_argument("--per-class", type=positive_int, default=10, help="generated images per label")
    t.add_argument("--classifier", type=Path, default=None,
                   help="a `hebbtorch train` run folder used to score the generated images")
    add_run(t, "astdp", device=False)  # CPU: the rate curves and updates are small
    t.set_defaults(func=run_train)

    g = asub.add_parser("generate", help="clamp each label of a trained run and write a grid")
    g.add_argument("--run", type=Path, required=True, help="folder of `hebbtorch astdp train`")
    g.add_argument("--per-class", type=positive_int, default=10)
    g.add_argument("--classifier", type=Path, default=None,
                   help="a `hebbtorch train` run folder used to score the generated images")
    g.add_argument("--seed", type=seed_int, default=0)
    g.add_argument("--out", type=Path, default=None, help="default: the run folder")
    g.set_defaults(func=run_generate)


def run_train(args: argparse.Namespace) -> int:
    from hebbtorch.data import load_dataset
    from hebbtorch.learning.astdp import make_config
    from hebbtorch.learning.astdp_run import train_astdp

    test = load_dataset(args.dataset, split="test", root=args.data_root)
    sizes = (test.images[0].numel(), *([args.hidden] * args.hidden_layers), test.num_classes)
    cfg = make_config(sizes, steps=args.steps, lr=args.lr, gen_lr=args.gen_lr, mode=args.mode,
                      derivative=args.derivative, noise=args.noise)
    m = train_astdp(cfg, args.out, dataset=args.dataset, epochs=args.epochs,
                    batch_size=args.batch_size, max_train=args.train_images,
                    max_test=args.test_images, resume=args.resume, overwrite=args.overwrite,
                    eval_every_epoch=args.eval_samples, time_budget_s=args.time_budget,
                    seed=args.seed, data_root=args.data_root, quiet=args.quiet,
                    per_class=args.per_class, classifier=args.classifier)
    sc = m["generation"].get("scores")
    if sc:
        print(f"generated images classified as the clamped label: "
              f"{100 * sc['fraction_as_clamped_label']:.1f}% ({sc['images']} images)")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from hebbtorch.learning.astdp_run import generate_command

    summary = generate_command(args.run, args.out, per_class=args.per_class,
                               classifier=args.classifier, seed=args.seed)
    print(f"grid: {summary['grid']}")
    if "scores" in summary:
        print(f"generated images classified as the clamped label: "
              f"{100 * summary['scores']['fraction_as_clamped_label']:.1f}%")
    return 0
