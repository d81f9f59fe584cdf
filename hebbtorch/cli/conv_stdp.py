"""``hebbtorch conv-stdp``: convolutional STDP (Kheradpisheh et al. 2018) -- DoG on/off input,
latency coding, IF conv layers with k-WTA and lateral inhibition, layer-wise STDP, then a linear
readout on the frozen spike features. Writes metrics.json, kernels.png and kernels.pt. See
docs/conv-stdp.md."""

from __future__ import annotations

import argparse
import json

import torch

from hebbtorch.cli.common import add_batch_size, add_data, add_run, ensure_out, positive_int
from hebbtorch.learning.conv_stdp_readout import LOSSES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("conv-stdp", help="convolutional STDP features (Kheradpisheh et al. "
                       "2018) + linear readout; writes metrics.json and kernel pictures")
    add_data(p)
    p.add_argument("--layer-images", type=positive_int, nargs="+", default=[2000, 2000],
                   metavar="N", help="training images learned per layer (default 2000 2000)")
    add_batch_size(p, 8, "images learned at once (1: online, SpykeTorch's order; default 8: "
                   "the per-image updates summed)")
    p.add_argument("--double-every", type=positive_int, default=100,
                   help="images between doublings of a_plus (KheradpishehDeep.py: 500)")
    p.add_argument("--readout-images", type=positive_int, default=None,
                   help="training images the readout is fitted on (default all)")
    p.add_argument("--readout-shift", type=int, default=1, metavar="D",
                   help="also fit the readout on its images shifted by D pixels up, down, "
                        "left and right (default 1; 0: unshifted images only)")
    p.add_argument("--readout-loss", choices=LOSSES, default="logistic",
                   help="readout: multinomial logistic regression (default) or a one-vs-rest "
                        "squared-hinge linear SVM")
    add_run(p, "conv-stdp", resume=False, quiet=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hebbtorch.data import load_dataset
    from hebbtorch.io import save_figure, write_json
    from hebbtorch.learning.conv_stdp import ConvSTDPConfig, STDPSchedule, run_experiment
    from hebbtorch.networks.conv_stdp import ConvSTDPNet
    from hebbtorch.seed import resolve_device, seed_everything
    from hebbtorch.viz.conv_stdp import plot_kernels

    out = ensure_out(args.out)
    device = resolve_device(args.device)
    gen = seed_everything(args.seed)
    train = load_dataset(args.dataset, "train", root=args.data_root)
    test = load_dataset(args.dataset, "test", root=args.data_root)
    cfg = ConvSTDPConfig(
        dataset=args.dataset, seed=args.seed, layer_images=tuple(args.layer_images),
        batch_size=args.batch_size, schedule=STDPSchedule(double_every=args.double_every),
        readout_images=args.readout_images, readout_shift=args.readout_shift,
        readout_loss=args.readout_loss)
    net = ConvSTDPNet(generator=gen, device=device)
    res = run_experiment(net, cfg, train, test)
    res.update(config=cfg._asdict(), device=str(device))
    write_json(out / "metrics.json", res)
    torch.save([w.detach().cpu() for w in net.weights], out / "kernels.pt")
    save_figure(plot_kernels(net), out / "kernels.png")
    print(json.dumps({k: {"train": round(v["train_accuracy"], 2),
                          "test": round(v["test_accuracy"], 2)}
                      for k, v in res["readouts"].items()} | {"out": str(out)}))
    return 0
