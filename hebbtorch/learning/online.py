"""One training step by BPTT, lean (chunked) BPTT, e-prop or OTTT on the same network and loss.

:func:`grads` is the common entry: it fills ``.grad`` of an :class:`OnlineSNN` for the per-step
loss ``E = sum_t w_t CE(y^t, label)`` and returns (E, readout). BPTT keeps the whole sequence's
graph (memory ~ T); lean BPTT recomputes it chunk by chunk (:mod:`hebbtorch.kernels.chunked`,
memory ~ T / chunk + chunk); e-prop (:mod:`~hebbtorch.learning.eprop`) and OTTT
(:mod:`~hebbtorch.learning.ottt`) hold one step (memory independent of T).

:func:`sequential_grads` runs the same rules on the trainer's ``lif-mlp`` models (the
``--learning`` option of ``hebbtorch train``).
"""

from __future__ import annotations

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels.chunked import chunked_bptt
from hebbtorch.learning.eprop import eprop_grads
from hebbtorch.learning.online_net import (
    OnlineSNN,
    RateReg,
    check_input,
    check_weights,
    rate_loss,
    sequence_loss,
)
from hebbtorch.learning.ottt import ottt_grads

LEARNING = ("bptt", "bptt-lean", "eprop", "eprop-random", "ottt")


def bptt_grads(net: OnlineSNN, x: torch.Tensor, labels: torch.Tensor,
               weights: torch.Tensor | None = None, *, chunk: int | None = None,
               keep_readout: bool = True, rate_reg: RateReg | None = None):
    """BPTT through the whole sequence (``chunk``: lean BPTT, recomputing chunks in backward)
    of E (+ R if ``rate_reg``); returns (E, readout)."""
    check_input(net, x)
    w = check_weights(weights, x.shape[0])
    reg = x.new_zeros(())
    if chunk is None and rate_reg is not None:
        y, _, counts = net.run(x, counts=True)
        reg = rate_loss(counts, x.shape[0], rate_reg)
    elif chunk is None:
        y = net(x)
    elif rate_reg is not None:
        raise HebbtorchError("lean BPTT does not take the firing-rate regularisation; use bptt")
    else:
        y, _ = chunked_bptt(net.run, x, net.initial_state(x.shape[1], x), chunk)
    loss = sequence_loss(y, labels, w)
    (loss + reg).backward()
    return loss.detach(), y.detach() if keep_readout else y.detach().mean(0)


def grads(net: OnlineSNN, x: torch.Tensor, labels: torch.Tensor, learning: str = "bptt",
          weights: torch.Tensor | None = None, *, chunk: int = 50,
          feedback_matrix: torch.Tensor | None = None, keep_readout: bool = True,
          rate_reg: RateReg | None = None):
    """Fill ``.grad`` by ``learning`` (one of :data:`LEARNING`) for E (+ the firing-rate
    regularisation R if ``rate_reg``); returns (E, readout ``[time, batch, out]``, or its time
    average if not ``keep_readout``)."""
    kw = dict(keep_readout=keep_readout, rate_reg=rate_reg)
    if learning == "bptt":
        return bptt_grads(net, x, labels, weights, **kw)
    if learning == "bptt-lean":
        return bptt_grads(net, x, labels, weights, chunk=chunk, **kw)
    if learning in ("eprop", "eprop-random"):
        fb = "symmetric" if learning == "eprop" else "random"
        return eprop_grads(net, x, labels, weights, feedback=fb, feedback_matrix=feedback_matrix,
                           **kw)
    if learning == "ottt":
        return ottt_grads(net, x, labels, weights, **kw)
    raise HebbtorchError(f"learning must be one of {LEARNING}, got {learning!r}")


def check_learning(learning: str) -> str:
    if learning not in LEARNING:
        raise HebbtorchError(f"learning must be one of {LEARNING}, got {learning!r}")
    return learning


def sequential_view(model: torch.nn.Module) -> OnlineSNN:
    """An :class:`OnlineSNN` sharing the Linear layers of a ``lif-mlp``
    (:class:`~hebbtorch.networks.builders.SpikingSequential` with LIF or ALIF neurons): same
    weights, neuron parameters and LI readout; the reset becomes a stop-gradient, as e-prop and
    OTTT need."""
    from hebbtorch.networks.builders import SpikingSequential
    from hebbtorch.neurons.alif import ALIFParameters
    from hebbtorch.neurons.lif import LIFParameters

    stages = getattr(model, "stages", None)
    p = getattr(model, "neuron", None)
    if not isinstance(model, SpikingSequential) or not isinstance(
            p, LIFParameters | ALIFParameters) or not all(
            isinstance(s, torch.nn.Linear) for s in stages):
        raise HebbtorchError("online learning (e-prop, OTTT) trains the lif-mlp model only "
                             f"(Linear layers, LIF or ALIF neurons), got {type(model).__name__}")
    if model.dropout or getattr(p, "refractory_steps", 0):
        raise HebbtorchError("online learning supports neither dropout nor refractory steps")
    sizes = [stages[0].in_features, *(s.out_features for s in stages)]
    kw = dict(beta=float(p.beta), threshold=float(p.threshold), surrogate=p.surrogate,
              slope=p.slope, kappa=float(model.readout.beta))
    if isinstance(p, ALIFParameters):
        kw.update(neuron="alif", rho=float(p.rho), adapt_scale=float(p.adapt_scale))
    net = OnlineSNN(sizes, **kw)
    net.params = net.params._replace(reset=p.reset)
    net.w_in = torch.nn.ModuleList(stages[:-1])  # shared, not copied
    net.readout = stages[-1]
    return net


def sequential_grads(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     learning: str, generator: torch.Generator | None = None):
    """Gradients of the mean per-step cross-entropy of a ``lif-mlp`` by ``learning`` (into
    ``.grad``); returns (loss, logits = readout averaged over time, as the model's forward)."""
    net = sequential_view(model)
    if model.encoder is None:
        flat = model.pre_stage(images)
        x = flat.unsqueeze(0).expand(model.num_steps, *flat.shape)
    else:
        enc = model.encoder(images, generator=generator)
        x = enc.reshape(enc.shape[0], enc.shape[1], -1)
    return grads(net, x, labels, learning, keep_readout=False)
