"""Tutorial: hybrid training -- a conv layer learning by STDP under a BPTT-trained readout.

An ordinary ``nn.Sequential``: rate-coded images -> ``nn.Conv2d`` -> ``nn.BatchNorm2d`` -> LIF
neurons -> ``nn.Linear`` -> leaky-integrator readout (logits: its membrane averaged over time).
:class:`hebbtorch.plasticity.Learner` attaches pair STDP to the conv layer: hooks record the
conv's input spikes and the LIF spikes, and after each forward call the rule's change (summed
over positions, averaged over the batch) goes into ``conv.weight.grad`` as ``-Δw``. One Adam
optimiser then applies both the rule (to the conv kernel, which backpropagation leaves alone:
``requires_grad=False``) and the surrogate gradients (BatchNorm and readout); after each step
the Learner clips the kernel back into its bounds. Run:
``python tutorials/hybrid_stdp_bptt.py [--small]`` (mnist-5k, which ships with hebbtorch).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hebbtorch.encoding import rate_encode
from hebbtorch.neurons import LI, LIF
from hebbtorch.plasticity import (
    Learner,
    PairSTDP,
    PairSTDPParameters,
    Spikes,
    TimeDistributed,
    WeightBounds,
)

STEPS = 20  # time steps per image (1 ms each)


def build(seed: int = 0) -> tuple[nn.Sequential, Learner, torch.optim.Optimizer]:
    """The model, the STDP learner on its conv layer and the optimiser of both."""
    torch.manual_seed(seed)
    conv = nn.Conv2d(1, 8, 5, stride=2, bias=False)  # 28x28 -> 8 x 12x12
    lif = Spikes(LIF(beta=0.9, threshold=1.0))
    model = nn.Sequential(TimeDistributed(conv), TimeDistributed(nn.BatchNorm2d(8)), lif,
                          nn.Flatten(2), nn.Linear(8 * 12 * 12, 10), LI(beta=0.9))
    conv.weight.requires_grad_(False)  # this layer learns by the rule only
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    rule = PairSTDP(PairSTDPParameters(tau_plus=10.0, tau_minus=10.0, A_plus=2e-3,
                                       A_minus=2.1e-3))
    learner = Learner(conv, rule, post=lif, dt=1.0, bounds=WeightBounds(-0.5, 0.5),
                      apply="grad", optimizer=opt)
    return model, learner, opt


def logits(model: nn.Module, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images [B, 28, 28] in [0, 1] -> rate code at up to 300 Hz -> readout membrane mean."""
    spikes = rate_encode(x.unsqueeze(1), STEPS, max_rate=300.0, dt=1.0, generator=generator)
    return model(spikes).mean(0)


def train(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
          steps: int, batch: int, seed: int = 0) -> list[float]:
    """``steps`` optimiser steps on random batches; returns the loss of each."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch,), generator=g)
        opt.zero_grad()  # before the forward call: the Learner writes its -Δw there
        loss = F.cross_entropy(logits(model, x[idx], g), y[idx])
        loss.backward()
        opt.step()  # rule + gradients; then the Learner clips the kernel to its bounds
        losses.append(float(loss.detach()))
    return losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true",
                    default=os.environ.get("HEBBTORCH_TUTORIAL_SMALL", "") not in ("", "0"))
    ap.add_argument("--out", type=Path, default=Path("docs/img/tutorials/hybrid_stdp_bptt"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from hebbtorch.data import load_dataset
    from hebbtorch.viz.style import figure

    tr, te = (load_dataset("mnist-5k", split=s) for s in ("train", "test"))
    x, y = tr.images.float() / 255.0, tr.labels
    model, learner, opt = build()
    w0 = learner.layer.weight.detach().clone()
    losses = train(model, opt, x, y, steps=60 if args.small else 200, batch=32)
    model.eval()
    with torch.no_grad():
        n = 500 if args.small else 1000
        pred = logits(model, te.images[:n].float() / 255.0,
                      torch.Generator().manual_seed(1)).argmax(1)
    acc = float((pred == te.labels[:n]).float().mean())
    moved = float((learner.layer.weight.detach() - w0).abs().mean())
    print(f"loss {sum(losses[:5]) / 5:.3f} -> {sum(losses[-5:]) / 5:.3f}; test accuracy "
          f"{100 * acc:.1f}% on {n} images; mean |Δw| of the STDP kernel {moved:.4f}")
    fig, axes = figure(1, 1, width=3.6, height=2.6)
    axes[0, 0].plot(losses)
    axes[0, 0].set(xlabel="optimiser step", ylabel="cross-entropy",
                   title="readout loss (conv layer learning by STDP)")
    fig.savefig(args.out / "loss.png")


if __name__ == "__main__":
    main()
