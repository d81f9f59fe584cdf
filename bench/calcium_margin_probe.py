"""Rate abstraction of the supervised calcium network: why the rule stays below a linear layer.

Each output neuron becomes a one-vs-rest perceptron on the same binary local-field features as
``fashion-local`` (front end from seed 0, the same training / validation images): efficacies X in
[0, 1], input u = s x (X - 0.5) . f in units of the firing threshold, with s the mean synaptic
current per unit of summed (X - 0.5) (from g_exc, g_inh, the input rate and tau_syn of the task).
A right-class neuron potentiates its active inputs by ``a`` while u < ``stop_right``; a
wrong-class neuron depresses them by ``b`` while u > ``stop_wrong``. The network's own stops,
estimated from its currents (docs/calcium-results.md): stop_right ≈ 0.9 (LTP stops at ~145 Hz,
teacher 2.5), stop_wrong ≈ 1.3 (a non-target neuron fires against the teacher's -0.3). Reported:
validation accuracy (argmax of u) after two passes, per pair of stops, 3 seeds (initial X and
order). Writes bench/results/calcium-margin-probe.json.

    nice -n 10 python bench/calcium_margin_probe.py      # ~1 CPU-minute
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import _checkout  # noqa: F401  (this checkout's hebbtorch, not the venv's)
import torch

from hebbtorch.io import write_json
from hebbtorch.studies.calcium_supervised import (
    TASK_CONFIGS,
    front_end,
    load_split,
)

STOPS = ((0.9, 1.3), (0.9, 0.9), (0.9, 0.5), (0.9, 0.0), (0.9, -1.0))  # (right, wrong)
SEEDS, PASSES, STEP = (0, 1, 2), 2, 0.01


def current_scale(c) -> float:
    """Mean synaptic current per unit of summed (X - 0.5) over active features: each active
    feature spikes with probability max_rate dt per step, each spike adds g_exc X - g_inh
    (= g_exc (X - 0.5) at g_inh = g_exc / 2), and the current sums it over ~1 / (1 - e^(-dt/tau))
    steps."""
    p_spike = c.max_rate * c.dt / 1000.0
    return c.g_exc * p_spike / (1.0 - math.exp(-c.dt / c.tau_syn))


def perceptron(ftr, ytr, fva, yva, stop_right, stop_wrong, seed, scale) -> float:
    g = torch.Generator().manual_seed(seed)
    X = (0.5 + 0.01 * torch.randn(ftr.shape[1], 10, generator=g)).clamp(0, 1)
    for _ in range(PASSES):
        for i in torch.randperm(len(ytr), generator=g):
            f = ftr[i]
            u = scale * (f @ (X - 0.5))
            right = torch.arange(10) == ytr[i]
            up = (right & (u < stop_right)).float()
            down = (~right & (u > stop_wrong)).float()
            X += STEP * f[:, None] * (up - down)[None]
            X.clamp_(0, 1)
    return float(((fva @ (X - 0.5)).argmax(1) == yva).float().mean())


if __name__ == "__main__":
    torch.set_num_threads(1)
    c = TASK_CONFIGS["fashion-local"][0]
    assert c.g_inh == c.g_exc / 2, "the abstraction assumes net weight g_exc (X - 0.5)"
    xtr, ytr, xva, yva = load_split("fashion-mnist", 7000, 1000)
    ftr, fva = front_end(c, 0, xtr, xva)
    scale = current_scale(c)
    rows = []
    for right, wrong in STOPS:
        acc = [perceptron(ftr, ytr, fva, yva, right, wrong, s, scale) for s in SEEDS]
        rows.append({"stop_right": right, "stop_wrong": wrong, "per_seed": acc,
                     "validation_accuracy_mean": statistics.mean(acc),
                     "validation_accuracy_sd": statistics.stdev(acc)})
        print(rows[-1], flush=True)
    write_json(Path("bench/results/calcium-margin-probe.json"),
               {"rows": rows, "current_per_unit": scale, "passes": PASSES, "step": STEP,
                "n_train": len(ytr), "n_val": len(yva),
                "command": "nice -n 10 python bench/calcium_margin_probe.py"})
