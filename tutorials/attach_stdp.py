"""Tutorial (d): attach STDP to a layer of your own model.

A layer of your own model is a weight matrix between two spiking populations. To make it learn
by STDP, hold the weights in a :class:`hebbtorch.plasticity.PlasticConnection` with a rule and
call, each time step, ``propagate(pre)`` for the synaptic current and ``step(pre, post)`` to let
the rule update the weights from this step's spikes. Here 100 Poisson inputs drive 4 LIF
neurons; the first 20 inputs fire together (each also copies one shared 10 Hz event train)
and additive pair STDP (Song, Miller & Abbott 2000; LTD slightly stronger than LTP) selects
them: their weights grow, the others' shrink. Run: ``python tutorials/attach_stdp.py [--small]``.
"""

from __future__ import annotations

import torch
from _common import tutorial_args

from hebbtorch.neurons import LIFParameters, LIFState, lif_step
from hebbtorch.plasticity import PairSTDP, PairSTDPParameters, PlasticConnection, WeightBounds
from hebbtorch.viz.style import figure

args = tutorial_args("STDP on a layer of your own model", "docs/img/tutorials/attach_stdp")
torch.manual_seed(0)
n_pre, n_post, n_corr = 100, 4, 20
steps = 3000 if args.small else 20000  # 1 ms steps: 3 s or 20 s of simulated time
dt, rate = 1.0, 10.0  # ms, Hz

# 1. The plastic layer: weights [batch=1, pre, post] in [0, 1], additive pair STDP, hard bounds.
rule = PairSTDP(PairSTDPParameters(tau_plus=16.8, tau_minus=33.7, A_plus=0.02, A_minus=0.021))
layer = PlasticConnection(n_pre, n_post, rule, dt=dt, w_init=0.3,
                          bounds=WeightBounds(0.0, 1.0, "additive"))
# 2. Your neurons: LIF with tau_mem = 20 ms (beta = exp(-dt / tau)), threshold in weight units.
p = LIFParameters(beta=float(torch.exp(torch.tensor(-dt / 20.0))), threshold=3.0)
state = LIFState(torch.zeros(1, n_post), torch.zeros(1, n_post))

p_spike = rate * dt / 1000.0
w_corr, w_rest = [], []
current = torch.zeros(1, n_post)
for t in range(steps):
    shared = torch.rand(()) < p_spike                       # one event train for the group
    pre = (torch.rand(1, n_pre) < p_spike).float()
    pre[:, :n_corr] = torch.maximum(pre[:, :n_corr], shared.float().expand(1, n_corr))
    # the neurons integrate last step's current (a 1 ms synaptic latency, so that a pre spike
    # that causes a post spike precedes it: Δt = +1 ms)
    post, _, state = lif_step(current, state, p)
    current = layer.propagate(pre)                           # [1, post]
    layer.step(pre, post)                                    # STDP update, in place
    if t % 50 == 0:
        w = layer.weight[0]
        w_corr.append(float(w[:n_corr].mean()))
        w_rest.append(float(w[n_corr:].mean()))

print(f"mean weight after {steps} ms: correlated inputs {w_corr[-1]:.3f}, "
      f"independent inputs {w_rest[-1]:.3f}")
fig, axes = figure(1, 2, width=3.8, height=3.0)
t_s = [50 * k * dt / 1000 for k in range(len(w_corr))]
axes[0, 0].plot(t_s, w_corr, label=f"correlated inputs (0-{n_corr - 1})")
axes[0, 0].plot(t_s, w_rest, label="independent inputs")
axes[0, 0].set(xlabel="time (s)", ylabel="mean weight", title="weights under STDP")
axes[0, 0].legend(loc="best")
im = axes[0, 1].imshow(layer.weight[0].T.numpy(), aspect="auto", vmin=0, vmax=1,
                       interpolation="nearest")
axes[0, 1].set(xlabel="input neuron", ylabel="output neuron", title="final weights")
axes[0, 1].grid(False)
axes[0, 1].set_yticks(range(n_post))
fig.colorbar(im, ax=axes[0, 1], label="weight (w_max = 1)")
fig.savefig(args.out / "weights.png", bbox_inches="tight")
