"""``hebbtorch visualize``: the seed's pictures for one example — per-layer heat maps of inner
state (membrane) and output over time, and traces of single neurons."""

from __future__ import annotations

import argparse
from pathlib import Path

from hebbtorch.cli.common import ensure_out, seed_int
from hebbtorch.errors import HebbtorchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("visualize", help="heat maps and traces of neuron activity for one example")
    p.add_argument("--run", type=Path, required=True, help="a run folder (with checkpoint.pt)")
    p.add_argument("--index", type=int, default=0, help="test-set example to show (default 0)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the input noise")
    p.add_argument("--out", type=Path, default=None, help="default: RUN/pictures")
    p.set_defaults(func=run)


def visualize_run(run_dir: Path, out: Path, index: int = 0, seed: int = 0) -> list[Path]:
    import torch

    from hebbtorch.io import save_figure
    from hebbtorch.learning.bptt import load_split, load_trained
    from hebbtorch.networks.base import is_spiking
    from hebbtorch.viz.activity import layer_heatmap, neuron_trace, value_before_reset
    from hebbtorch.viz.encoding import image_figure

    model, cfg = load_trained(run_dir)
    if not is_spiking(model):
        raise HebbtorchError(f"model {cfg.model!r} is not spiking: nothing to show over time")
    images, labels = load_split(cfg, "test")
    if not 0 <= index < len(labels):
        raise HebbtorchError(f"--index must be in [0, {len(labels) - 1}], got {index}")
    ensure_out(out)  # only now: a bad --run must not leave an empty RUN/pictures behind
    x = images[index:index + 1].float() / 255.0
    label = int(labels[index])
    with torch.no_grad():
        rec = model.record(x, generator=torch.Generator().manual_seed(seed))
    paths = []
    paths.append(save_figure(image_figure(x[0].numpy(), f"input, label {label}"),
                             out / "input.png"))
    for name, values in rec.values.items():
        v = values[:, 0].reshape(values.shape[0], -1)
        paths.append(save_figure(layer_heatmap(v, f"{name} over time", label=name),
                                 out / f"{name}.png"))
    # one hidden neuron (the most active) and the output neuron of the label, as the seed shows
    names = list(rec.values)
    hidden_v, hidden_s = names[0], names[1]
    h = rec.values[hidden_s][:, 0].reshape(rec.values[hidden_s].shape[0], -1)
    n = int(h.sum(0).argmax())
    hv = rec.values[hidden_v][:, 0].reshape(h.shape)[:, n]
    # the seed neuron records its potential after the reset: draw the peak before it too
    penalty = getattr(getattr(model, "neuron", None), "penalty_threshold", None)
    peak = None if penalty is None else value_before_reset(hv, h[:, n], rec.threshold, penalty)
    paths.append(save_figure(
        neuron_trace(hv, f"{hidden_v} neuron {n} (most active)", threshold=rec.threshold,
                     spikes=h[:, n], ylabel=hidden_v, before_reset=peak),
        out / "trace_hidden.png"))
    out_name = [k for k in names if k.endswith((".inner", ".v"))][-1]
    ov = rec.values[out_name][:, 0].reshape(rec.values[out_name].shape[0], -1)[:, label]
    paths.append(save_figure(neuron_trace(ov, f"{out_name} of the label's neuron ({label})",
                                          ylabel=out_name), out / "trace_output.png"))
    return paths


def run(args: argparse.Namespace) -> int:
    out = args.out or args.run / "pictures"
    paths = visualize_run(args.run, out, args.index, args.seed)
    print(f"wrote {len(paths)} pictures to {out}")
    return 0
