"""``hebbtorch demo``: the main job of the README — train the seed's SpikingNet and its
non-spiking twin on the MNIST digits that install with the project, print a side-by-side table,
and write a report folder (metrics, learning curves, neuron-activity pictures). ~5 min, 2 cores."""

from __future__ import annotations

import argparse

from hebbtorch.cli.common import add_run, ensure_out
from hebbtorch.cli.train_args import add_train_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="seed SNN vs its ANN twin on bundled MNIST digits, with pictures"
    )
    add_train_args(p)
    p.set_defaults(batch_size=100, epochs=3)
    add_run(p, "demo")
    p.set_defaults(func=run, seeds=None)


def run(args: argparse.Namespace) -> int:
    from hebbtorch.cli.compare import compare, comparison_table
    from hebbtorch.cli.visualize import visualize_run

    out = ensure_out(args.out)
    print(
        f"training {args.model} and its twin on {args.dataset} "
        f"({args.epochs} epochs, batch {args.batch_size}); report in {out}"
    )
    summary = compare(args, out)
    pictures = out / "pictures"
    visualize_run(out / f"{args.model}-seed{args.seed}", pictures)
    print(comparison_table(summary))
    print(f"report: {out}/comparison.json, comparison.md, comparison.png; pictures in {pictures}")
    return 0
