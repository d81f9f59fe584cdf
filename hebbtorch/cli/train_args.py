"""Training options shared by ``train``, ``compare`` and ``demo``."""

from __future__ import annotations

import argparse

from hebbtorch.cli.common import (
    add_batch_size,
    add_data,
    add_renamed,
    add_subsets,
    add_time_budget,
    positive_float,
    positive_int,
)
from hebbtorch.encoding.registry import IMAGE_ENCODERS
from hebbtorch.learning.config import (
    LEARNING_RULES,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    TrainConfig,
)
from hebbtorch.networks.registry import MODELS
from hebbtorch.neurons.registry import NEURONS
from hebbtorch.neurons.surrogate import SURROGATES


def add_train_args(p: argparse.ArgumentParser, *, model: str = "seed-snn") -> None:
    p.add_argument("--model", default=model, choices=sorted(MODELS), help=f"default {model}")
    add_data(p, download=True)
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="time steps per sample (default: the model's own, 128 for the seed)",
    )
    p.add_argument("--hidden", type=positive_int, default=None, help="hidden layer size")
    p.add_argument(
        "--hidden-layers",
        type=positive_int,
        default=1,
        help="number of hidden layers of the MLP models (default 1)",
    )
    add_batch_size(p, 1000)
    p.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    p.add_argument("--lr", type=positive_float, default=0.1, help="learning rate")
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument(
        "--schedule",
        default="seed",
        choices=SCHEDULES,
        help="seed: lr, lr/2, lr/10 per epoch with a fresh optimizer (the seed's recipe)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=PRECISIONS,
        help="synaptic matmuls: fp32 (exact, TF32 off; default), tf32 (CUDA TF32 matmuls, "
        "~3e-4 relative error; same as fp32 on CPU) or bf16 (autocast, ~1e-3..1e-2; loss, "
        "weights and neuron state stay fp32)",
    )
    add_subsets(p)
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        metavar="N",
        help="also checkpoint every N batches (always at each epoch's end)",
    )
    p.add_argument(
        "--encoder",
        default=None,
        choices=sorted(IMAGE_ENCODERS),
        help="input stage of lif-mlp/lif-conv (default direct: the image as current); "
        "population, delta and dvs give several inputs per pixel, see docs/encoding.md",
    )
    p.add_argument("--surrogate", default="fast_sigmoid", choices=sorted(SURROGATES))
    p.add_argument("--slope", type=positive_float, default=None, help="surrogate slope")
    p.add_argument("--beta", type=float, default=0.9, help="LIF membrane decay per step")
    p.add_argument("--threshold", type=positive_float, default=1.0, help="LIF threshold")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout between hidden layers")
    p.add_argument("--batch-norm", action="store_true",
                   help="lif-conv/ann-conv: batch norm after each conv and the FC hidden layer")
    p.add_argument("--channels", type=positive_int, nargs="+", default=None, metavar="C",
                   help="lif-conv/ann-conv: channels of each conv layer (default 32 64)")
    p.add_argument("--learning", default="bptt", choices=LEARNING_RULES,
                   help="bptt, or online: e-prop (eprop-random: random feedback) or OTTT "
                   "(lif-mlp only; memory independent of --steps), see docs/online.md")
    p.add_argument("--neuron", default=None, choices=sorted(NEURONS),
                   help="hidden neurons of lif-mlp/lif-conv (default lif): " + "; ".join(
                       f"{k}: {m.help}" for k, m in NEURONS.items()))
    add_renamed(p, "--neuron")
    add_time_budget(p, "at a batch boundary")


def config_from_args(args: argparse.Namespace, **override) -> TrainConfig:
    options = {
        "surrogate": args.surrogate,
        "slope": args.slope,
        "beta": args.beta,
        "threshold": args.threshold,
        "dropout": args.dropout,
        "hidden_layers": args.hidden_layers,
        "encoder": args.encoder,
    }
    if args.batch_norm:  # only when set: configs of earlier runs stay equal for --resume
        options["batch_norm"] = True
    if args.channels:
        options["channels"] = list(args.channels)
    if args.neuron:  # only when set, as batch_norm
        options["neuron"] = args.neuron
    cfg = TrainConfig(
        model=args.model,
        dataset=args.dataset,
        data_root=args.data_root,
        epochs=args.epochs,
        num_steps=args.steps,
        hidden=args.hidden,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        seed=args.seed,
        device=args.device,
        max_train=args.train_images,
        max_test=args.test_images,
        checkpoint_every=args.checkpoint_every,
        download=args.download,
        precision=args.precision,
        model_options=options,
        learning=args.learning,
    )
    for k, v in override.items():
        setattr(cfg, k, v)
    return cfg.validate()
