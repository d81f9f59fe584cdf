"""Tutorial (e): the Diehl & Cook (2015) network, learning digits without labels.

784 Poisson inputs (rate = pixel / 4 Hz) drive ``n`` conductance-based excitatory neurons with
adaptive thresholds; each excitatory neuron excites one inhibitory neuron that inhibits all the
others (winner-take-all). The input weights learn by the paper's STDP (Diehl & Cook 2015,
Sec. 2.3); each image is shown for 350 ms, then 150 ms of rest. After training, every neuron is
labelled with the class it responds to most, and test images are classified by the labels of
the neurons that fire. Run: ``python tutorials/diehl_cook.py [--small]``.
"""

from __future__ import annotations

import torch
from _common import tutorial_args

from hebbtorch.data import load_dataset
from hebbtorch.networks.diehl_cook import DiehlCookNetwork
from hebbtorch.networks.readout import assign_labels, predict_all_activity
from hebbtorch.viz.fields import receptive_field_mosaic

args = tutorial_args("Diehl & Cook network", "docs/img/tutorials/diehl_cook")
# --small: 16 neurons, 40 training images (seconds); else 100 neurons, 1,000 images (minutes)
n, n_train, n_label, n_test = (16, 40, 40, 40) if args.small else (100, 1000, 1000, 1000)
torch.manual_seed(0)
train = load_dataset("mnist-5k", "train")
test = load_dataset("mnist-5k", "test")
pixels = train.images.flatten(1).float()  # [N, 784] in 0..255, as the network expects

# 1. Learn online, one image at a time (batch 1 = the paper's exact online mode).
net = DiehlCookNetwork(n, generator=torch.Generator().manual_seed(0))
for i in range(n_train):
    net.present(pixels[i:i + 1], learn=True, seed=i)


# 2. Freeze, record spike counts, label each neuron by its best class, classify test images.
def counts(images: torch.Tensor, seed: int) -> torch.Tensor:
    return torch.cat([net.present(images[i:i + 1], learn=False, seed=seed + i)[0]
                      for i in range(len(images))])


assignments, _ = assign_labels(counts(pixels[:n_label], 10_000), train.labels[:n_label])
pred = predict_all_activity(counts(test.images[:n_test].flatten(1).float(), 20_000),
                            assignments)
accuracy = float((pred == test.labels[:n_test]).float().mean())
print(f"{n} neurons, {n_train} training images: test accuracy {100 * accuracy:.1f} % "
      f"on {n_test} images (chance 10 %)")
fig = receptive_field_mosaic(net.weight, title=f"input weights after {n_train} images",
                             labels=assignments)
fig.savefig(args.out / "receptive_fields.png", bbox_inches="tight")
