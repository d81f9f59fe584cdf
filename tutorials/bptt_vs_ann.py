"""Tutorial (a): train a spiking network by BPTT and compare it with its ANN twin.

The seed network of Chevalier's "SNN with PyTorch where backpropagation engenders STDP"
(784-100-10 refractory ReLU-spike neurons, noisy-mask input, T = 128 steps) and a non-spiking
network of the same size, both trained by the same recipe on the MNIST digits bundled with the
project. Run: ``python tutorials/bptt_vs_ann.py [--small]``.
"""

from __future__ import annotations

from _common import tutorial_args

from hebbtorch.learning import TrainConfig, train
from hebbtorch.viz.style import figure

args = tutorial_args("seed SNN vs its ANN twin", "docs/img/tutorials/bptt_vs_ann")

# 1. One configuration for both networks; only the model name differs.
#    --small: 1,000 training images, 32 time steps, 2 epochs (seconds); else the full demo recipe.
base = dict(dataset="mnist-5k", batch_size=100, lr=0.1, momentum=0.5, schedule="seed", seed=0,
            device="cpu")
if args.small:
    base |= dict(epochs=2, max_train=1000, max_test=200, num_steps=32)
else:
    base |= dict(epochs=3)

# 2. Train each by backpropagation through time (surrogate gradient for the spiking one).
results = {}
for model in ("seed-snn", "seed-ann"):
    cfg = TrainConfig(model=model, **base)
    # metrics.json, checkpoints and learning curves of each run go to runs/ (not the pictures)
    results[model] = train(cfg, f"runs/tutorial-bptt-vs-ann/{model}", quiet=True)

# 3. Compare: test accuracy after each epoch.
fig, axes = figure(width=4.5, height=3.0)
ax = axes[0, 0]
for model, res in results.items():
    epochs = [row["epoch"] for row in res.history]
    acc = [100 * row["test_accuracy"] for row in res.history]
    ax.plot(epochs, acc, "o-", label=f"{model} ({res.metrics['parameters']:,} parameters)")
    print(f"{model}: test accuracy {acc[-1]:.2f} %")
ax.set_xlabel("epoch")
ax.set_ylabel("test accuracy (%)")
ax.set_title("spiking network vs its ANN twin (mnist-5k)")
ax.legend(loc="best")
fig.savefig(args.out / "accuracy.png", bbox_inches="tight")
