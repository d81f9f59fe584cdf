"""Export :class:`~hebbtorch.networks.SpikingSequential` networks to the Neuromorphic
Intermediate Representation (NIR, Pedersen et al. 2024) and import NIR graphs back.

Node mapping: ``nn.Linear`` -> ``nir.Affine`` (``nir.Linear`` without bias), ``nn.Conv2d`` ->
``nir.Conv2d``, ``nn.Flatten`` -> ``nir.Flatten``, ``nn.AvgPool2d`` -> ``nir.AvgPool2d``, LIF ->
``nir.LIF`` (``nir.IF`` when beta = 1), LI readout -> ``nir.LI`` (``nir.I`` when beta = 1).
Dropout is dropped (identity at inference). There is no NIR node for max pooling, for the
seed's refractory ReLU-spike neuron, for ALIF's adaptive threshold or for LIF refractory
steps: exporting those raises :class:`HebbtorchError`.

Time: NIR neurons are continuous, ``tau dv/dt = (v_leak - v) + r I``. Our discrete LIF
``v[t] = beta v[t-1] + I[t]`` is its forward-Euler step of length ``dt`` (ms, as everywhere in
hebbtorch; default 0.1 ms, snnTorch's NIR convention) with ``v_leak = 0`` and::

    tau = dt / (1 - beta)        r = tau / dt        (so  beta = 1 - dt / tau,  dt r / tau = 1)
    v_threshold = threshold      v_reset = 0

NIR graphs carry no time step: an importer must use the same ``dt`` (recorded in the graph's
metadata). NIR's unit of time is the second: ``tau`` and the metadata's ``dt`` are written and
read in seconds; the functions here take and return milliseconds. NIR's LIF resets to
``v_reset``; hebbtorch's default ``subtract`` reset (``v -=
threshold``) has no NIR field, so it is exported as ``v_reset = 0`` plus ``metadata["reset"] =
"subtract"``, which :func:`from_nir` honours and other tools ignore (export warns). The
network's logits (the LI membrane averaged over time) are a read-out of the graph's output,
not a node.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hebbtorch.checks import check_dt_ms
from hebbtorch.errors import HebbtorchError
from hebbtorch.networks.builders import SpikingSequential
from hebbtorch.neurons.lif import LIFParameters

DEFAULT_DT = 0.1  # ms per step (1e-4 s: what snnTorch's NIR export/import assume)
MS_PER_S = 1000.0  # NIR's unit of time is the second


def _nir():
    try:
        import nir
    except ImportError:
        raise HebbtorchError("NIR support needs the nir package: pip install 'hebbtorch[nir]'") \
            from None
    return nir


def beta_to_tau(beta: float, dt: float = DEFAULT_DT) -> float:
    """``tau = dt / (1 - beta)`` (forward Euler; ms, as ``dt``); ``inf`` for beta = 1."""
    if not 0.0 <= beta <= 1.0:
        raise HebbtorchError(f"beta must be in [0, 1], got {beta}")
    return math.inf if beta == 1.0 else dt / (1.0 - beta)


def tau_to_beta(tau: float, dt: float = DEFAULT_DT) -> float:
    """``beta = 1 - dt / tau`` (forward Euler; ``tau`` and ``dt`` in ms); needs ``tau >= dt``."""
    if not tau >= dt:
        raise HebbtorchError(f"tau ({tau:g}) must be >= dt ({dt:g}) for a stable Euler step")
    return 1.0 - dt / tau


def _scalar(name: str, value) -> float:
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if t.numel() == 0 or not bool((t == t.flatten()[0]).all()):
        raise HebbtorchError(f"{name} must be the same for every neuron to export, got {t}")
    return float(t.flatten()[0])


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for m in module for leaf in _leaves(m)]
    return [module]


def _synapse_node(m: nn.Module, in_shape: tuple[int, ...]):
    nir = _nir()
    if isinstance(m, nn.Linear):
        w = m.weight.detach().cpu().numpy()
        if m.bias is None:
            return nir.Linear(weight=w)
        return nir.Affine(weight=w, bias=m.bias.detach().cpu().numpy())
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str) or m.padding_mode != "zeros":
            raise HebbtorchError("only numeric zero padding of Conv2d can be exported")
        bias = (m.bias.detach().cpu().numpy() if m.bias is not None
                else np.zeros(m.out_channels, dtype=np.float32))
        return nir.Conv2d(input_shape=tuple(in_shape[-2:]), weight=m.weight.detach().cpu().numpy(),
                          stride=m.stride, padding=m.padding, dilation=m.dilation,
                          groups=m.groups, bias=bias)
    if isinstance(m, nn.Flatten):
        if m.start_dim < 1:
            raise HebbtorchError("a Flatten over the batch dimension cannot be exported")
        end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=m.start_dim - 1,
                           end_dim=end)
    if isinstance(m, nn.AvgPool2d):
        k = (m.kernel_size,) * 2 if isinstance(m.kernel_size, int) else m.kernel_size
        s = k if m.stride is None else ((m.stride,) * 2 if isinstance(m.stride, int) else m.stride)
        p = (m.padding,) * 2 if isinstance(m.padding, int) else m.padding
        return nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    if isinstance(m, nn.MaxPool2d | nn.MaxPool1d):
        raise HebbtorchError("NIR has no max-pooling node (only AvgPool2d / SumPool2d): a "
                             "network with MaxPool2d cannot be exported")
    raise HebbtorchError(f"no NIR node for {type(m).__name__}")


def to_nir(model: nn.Module, input_shape: tuple[int, ...] | None = None, *,
           dt: float = DEFAULT_DT, readout: bool = True):
    """Export a :class:`SpikingSequential` to a ``nir.NIRGraph``.

    input_shape: one sample's shape as the first stage takes it, without batch (default: the
    first Linear's ``in_features``; give ``(1, 28, 28)`` for a conv net). ``dt``: ms per step
    (see the module doc; written to the graph in seconds). ``readout=False`` stops at the
    readout's synapses (its currents are the output), for tools without an LI node.
    """
    nir = _nir()
    if not isinstance(model, SpikingSequential):
        kind = type(model).__name__
        why = {"SpikingNet": "the seed's refractory ReLU-spike neuron (graded output, one-step "
                             "delay, refractory dip) has no NIR node"}.get(kind, "")
        raise HebbtorchError(f"only SpikingSequential networks can be exported to NIR, not "
                             f"{kind}{': ' + why if why else ''}")
    p = model.neuron
    if not isinstance(p, LIFParameters):
        why = {"alif": "ALIF's adaptive threshold", "seed": "the seed's refractory ReLU-spike "
               "neuron (graded output, one-step delay, refractory dip)"}.get(model.neuron_name)
        raise HebbtorchError(f"NIR has no node for {why or model.neuron_name} neurons: only "
                             "networks of LIF neurons can be exported")
    if p.refractory_steps:
        raise HebbtorchError("NIR's LIF has no refractory period: refractory_steps must be 0")
    dt = check_dt_ms(dt) / MS_PER_S  # NIR's seconds from here on
    beta = _scalar("LIF beta", p.beta)
    thr = _scalar("LIF threshold", p.threshold)
    if p.reset == "subtract":
        warnings.warn("NIR's LIF resets to v_reset; the subtract reset is kept only in the "
                      "node metadata (hebbtorch honours it, other tools reset to 0)", stacklevel=2)
    if input_shape is None:
        first = next((m for m in _leaves(model.stages[0]) if isinstance(m, nn.Linear)), None)
        if first is None or not isinstance(_leaves(model.stages[0])[0], nn.Linear):
            raise HebbtorchError("give input_shape (one sample, no batch), e.g. (1, 28, 28)")
        input_shape = (first.in_features,)
    shape = tuple(int(s) for s in input_shape)
    nodes: dict = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges: list[tuple[str, str]] = []
    prev = "input"

    def add(name: str, node) -> None:
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    x = torch.zeros(1, *shape)
    for i, stage in enumerate(model.stages):
        for j, m in enumerate(_leaves(stage)):
            if isinstance(m, nn.Dropout | nn.Identity):
                continue
            add(f"stage{i}.{j}", _synapse_node(m, tuple(x.shape[1:])))
            with torch.no_grad():
                x = m(x)
        n_shape = np.array(x.shape[1:])
        ones = np.ones(n_shape)
        if i < len(model.stages) - 1:
            meta = {"reset": p.reset, "dt": dt}
            if beta == 1.0:
                node = nir.IF(r=ones, v_threshold=thr * ones, v_reset=0 * ones, metadata=meta)
            else:
                tau = beta_to_tau(beta, dt)
                node = nir.LIF(tau=tau * ones, r=tau / dt * ones, v_leak=0 * ones,
                               v_threshold=thr * ones, v_reset=0 * ones, metadata=meta)
            add(f"lif{i + 1}", node)
        elif readout:
            rb = _scalar("readout beta", model.readout.beta)
            if rb == 1.0:
                add("readout", nir.I(r=ones, metadata={"dt": dt}))
            else:
                tau = beta_to_tau(rb, dt)
                add("readout", nir.LI(tau=tau * ones, r=tau / dt * ones, v_leak=0 * ones,
                                      metadata={"dt": dt}))
    nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[1:])})
    edges.append((prev, "output"))
    meta = {"source": "hebbtorch", "dt": dt, "num_steps": model.num_steps,
            "input_shape": list(shape), "reset": p.reset,
            "input": "direct current (the same input every step)" if model.encoder is None
            else f"spikes from {type(model.encoder).__name__}",
            "logits": "mean over time of the readout (LI) membrane" if readout
            else "the readout currents per step"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def export_nir(model: nn.Module, path: str | Path, input_shape: tuple[int, ...] | None = None,
               *, dt: float = DEFAULT_DT):
    """:func:`to_nir` (``dt`` in ms) and write it to ``path`` (NIR's HDF5 format). Returns the
    graph."""
    graph = to_nir(model, input_shape, dt=dt)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _nir().write(str(path), graph)
    return graph


class ReshapeInput(nn.Module):
    """``[batch, ...] -> [batch, *shape]``: feeds images of any layout to an imported graph."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _chain(graph) -> list[str]:
    nxt: dict[str, str] = {}
    for a, b in graph.edges:
        if a in nxt:
            raise HebbtorchError(f"NIR node {a!r} has several outputs: only chains can be imported")
        nxt[a] = b
    nir = _nir()
    starts = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(starts) != 1:
        raise HebbtorchError(f"expected one Input node, found {len(starts)}")
    order, k = [], starts[0]
    while k in nxt:
        k = nxt[k]
        if k in order:
            raise HebbtorchError("NIR graph has a cycle (recurrence is not supported)")
        order.append(k)
    if not order or not isinstance(graph.nodes[order[-1]], nir.Output):
        raise HebbtorchError("the graph's chain does not end in an Output node")
    return order[:-1]


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def _torch_module(node) -> nn.Module:
    nir = _nir()
    if isinstance(node, nir.Affine | nir.Linear):
        w = torch.as_tensor(_arr(node.weight), dtype=torch.float32)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
        with torch.no_grad():
            lin.weight.copy_(w)
            if isinstance(node, nir.Affine):
                lin.bias.copy_(torch.as_tensor(_arr(node.bias), dtype=torch.float32))
        return lin
    if isinstance(node, nir.Conv2d):
        w = torch.as_tensor(_arr(node.weight), dtype=torch.float32)
        conv = nn.Conv2d(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[-2:]),
                         stride=tuple(np.broadcast_to(node.stride, 2).tolist()),
                         padding=tuple(np.broadcast_to(node.padding, 2).tolist()),
                         dilation=tuple(np.broadcast_to(node.dilation, 2).tolist()),
                         groups=int(node.groups))
        with torch.no_grad():
            conv.weight.copy_(w)
            conv.bias.copy_(torch.as_tensor(_arr(node.bias), dtype=torch.float32))
        return conv
    if isinstance(node, nir.Flatten):
        end = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim
        return nn.Flatten(node.start_dim + 1, end)
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(tuple(np.asarray(node.kernel_size).tolist()),
                            tuple(np.asarray(node.stride).tolist()),
                            tuple(np.asarray(node.padding).tolist()))
    raise HebbtorchError(f"cannot import NIR node {type(node).__name__}")


def _neuron(node, dt: float, name: str) -> tuple[float, float, float, str]:
    """(beta, threshold, input scale, reset) of a NIR LIF/IF/LI/I node."""
    nir = _nir()
    if hasattr(node, "v_leak") and not np.allclose(_arr(node.v_leak), 0.0):
        raise HebbtorchError(f"{name}: v_leak != 0 is not supported")
    if hasattr(node, "v_reset") and not np.allclose(_arr(node.v_reset), 0.0):
        raise HebbtorchError(f"{name}: v_reset != 0 is not supported")
    r = _scalar(f"{name} r", _arr(node.r))
    if isinstance(node, nir.LIF | nir.LI):
        tau = _scalar(f"{name} tau", _arr(node.tau))
        beta, scale = tau_to_beta(tau, dt), dt * r / tau
    else:  # IF / I: no leak
        beta, scale = 1.0, r
    thr = _scalar(f"{name} v_threshold", _arr(node.v_threshold)) if hasattr(node, "v_threshold") \
        else math.nan
    reset = (node.metadata or {}).get("reset", "zero")
    return beta, thr, scale, reset


def _scale_last(modules: list[nn.Module], scale: float, name: str) -> None:
    """Fold a neuron's input scale ``dt r / tau`` into the synapses before it."""
    if math.isclose(scale, 1.0, rel_tol=1e-6):
        return
    target = next((m for m in reversed(modules) if isinstance(m, nn.Linear | nn.Conv2d)), None)
    if target is None:
        raise HebbtorchError(f"{name}: input scale {scale:g} != 1 with no synapses before it")
    with torch.no_grad():
        target.weight.mul_(scale)
        if target.bias is not None:
            target.bias.mul_(scale)


def from_nir(graph, *, num_steps: int | None = None, dt: float | None = None,
             surrogate: str = "fast_sigmoid") -> SpikingSequential:
    """Build a :class:`SpikingSequential` from a NIR graph (or a ``.nir`` file path).

    The graph must be a chain Input -> (synapses -> LIF/IF)* -> synapses -> LI/I -> Output with
    one (beta, threshold, reset) for all spiking layers. ``dt`` (ms) and num_steps default to
    the graph's metadata (hebbtorch exports record them; NIR's ``dt`` is in seconds); else
    dt = 0.1 ms and num_steps is required. Neuron input scales ``dt r / tau`` other than 1 are
    folded into the weights.
    """
    nir = _nir()
    if isinstance(graph, str | Path):
        graph = nir.read(str(graph))
    meta = dict(graph.metadata or {})
    # NIR's seconds from here on (tau in the nodes is in seconds too)
    dt = (check_dt_ms(dt) / MS_PER_S if dt is not None
          else float(meta.get("dt", DEFAULT_DT / MS_PER_S)))
    steps = num_steps if num_steps is not None else meta.get("num_steps")
    if steps is None:
        raise HebbtorchError("the graph does not record num_steps: pass num_steps=")
    chain = _chain(graph)
    in_node = next(n for n in graph.nodes.values() if isinstance(n, nir.Input))
    in_shape = tuple(int(s) for s in np.asarray(in_node.input_type["input"]).tolist())
    stages: list[nn.Module] = []
    current: list[nn.Module] = []
    lif: tuple[float, float, str] | None = None
    readout_beta = None
    for k in chain:
        node = graph.nodes[k]
        if isinstance(node, nir.LIF | nir.IF):
            if readout_beta is not None:
                raise HebbtorchError("the LI readout must be the last node")
            beta, thr, scale, reset = _neuron(node, dt, k)
            if lif is not None and not np.allclose(lif[:2], (beta, thr)) or \
                    (lif is not None and lif[2] != reset):
                raise HebbtorchError("all spiking layers must share beta, threshold and reset")
            lif = (beta, thr, reset)
            _scale_last(current, scale, k)
            stages.append(nn.Sequential(*current) if len(current) != 1 else current[0])
            current = []
        elif isinstance(node, nir.LI | nir.I):
            readout_beta, _, scale, _ = _neuron(node, dt, k)
            _scale_last(current, scale, k)
            stages.append(nn.Sequential(*current) if len(current) != 1 else current[0])
            current = []
        elif isinstance(node, nir.CubaLIF | nir.CubaLI):
            raise HebbtorchError(f"{k}: current-based (CubaLIF/CubaLI) neurons are not supported")
        else:
            if readout_beta is not None:
                raise HebbtorchError("the LI readout must be the last node")
            current.append(_torch_module(node))
    if readout_beta is None or current:
        raise HebbtorchError("the graph must end with an LI (or I) readout before its Output")
    beta, thr, reset = lif if lif is not None else (0.9, 1.0, "zero")
    params = LIFParameters(beta=beta, threshold=thr, reset=reset, surrogate=surrogate)
    return SpikingSequential(stages, int(steps), params, readout_beta=readout_beta,
                             pre_stage=ReshapeInput(in_shape))


def import_nir(path: str | Path, **kw) -> SpikingSequential:
    """Read a ``.nir`` file and :func:`from_nir` it."""
    return from_nir(Path(path), **kw)
