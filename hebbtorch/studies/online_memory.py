"""Peak tensor memory of one training step, counted by torch operator: what BPTT, lean BPTT,
e-prop and OTTT hold at once, independent of the allocator.

:class:`LiveTensorBytes` is a ``TorchDispatchMode``: every operator output whose storage is not
one of the operator's inputs' (so not a view, not an in-place result) is a new allocation; its
bytes count from then until the storage is freed (``weakref.finalize`` on the storage). The
peak is the largest sum seen after any operator, forward or backward. Tensors that exist before
the mode starts (the input sequence, weights, ``.grad`` buffers) are not counted, nor are an
operator's internal workspaces, Python objects, or the allocator's caching and fragmentation:
what is measured is the algorithm's live tensor memory, which is what grows with T.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

SIZES, BATCH, CHUNK = (100, 256, 10), 16, 50
# Benchmark rows that run a rule on another network of the same sizes: method -> (rule, net).
VARIANTS = {"ottt-recurrent-alif": ("ottt", dict(neuron="alif", recurrent=True))}


class LiveTensorBytes(TorchDispatchMode):
    """``with LiveTensorBytes() as m: ...`` -> ``m.peak`` (bytes), ``m.current``, ``m.ops``."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = self.peak = self.ops = 0

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None) -> Any:
        inputs = {t.untyped_storage()._cdata for t in tree_leaves((args, kwargs))
                  if isinstance(t, torch.Tensor)}
        out = func(*args, **(kwargs or {}))
        self.ops += 1
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key = storage._cdata
            if key in inputs or key in self.live:
                continue
            self.live[key] = storage.nbytes()
            self.current += storage.nbytes()
            weakref.finalize(storage, self._free, key)
        self.peak = max(self.peak, self.current)
        return out


def one_step(method: str, T: int, *, device: str = "cpu", measure: bool = True,
             sizes: tuple = SIZES, batch: int = BATCH, chunk: int = CHUNK) -> dict:
    """One training step of ``method`` on a feed-forward LIF net with a leaky readout (kappa
    0.9), input spikes (p = 0.05) and loss weights made before the step: peak live tensor bytes
    of the step (``measure``) or its time, in a dict. A :data:`VARIANTS` name runs its rule on
    its network (e.g. OTTT on a recurrent ALIF layer of the same sizes)."""
    import time

    from hebbtorch.learning.online import grads
    from hebbtorch.learning.online_net import OnlineSNN

    rule, net_kw = VARIANTS.get(method, (method, {}))
    torch.manual_seed(0)
    net = OnlineSNN(sizes, kappa=0.9, **net_kw).to(device)
    x = (torch.rand(T, batch, sizes[0], device=device) < 0.05).float()
    labels = torch.randint(0, sizes[-1], (batch,), device=device)
    w = torch.full((T,), 1.0 / T, dtype=torch.float64)  # the dtype check_weights keeps: no copy
    grads(net, x[:5], labels, rule, w[:5], chunk=chunk)  # warm-up: lazy inits, .grad buffers
    if not measure:
        t0 = time.perf_counter()
        grads(net, x, labels, rule, w, chunk=chunk, keep_readout=False)
        return {"method": method, "T": T, "seconds_per_step": (time.perf_counter() - t0) / T}
    with LiveTensorBytes() as m:
        grads(net, x, labels, rule, w, chunk=chunk, keep_readout=False)
    return {"method": method, "T": T, "peak_bytes": m.peak, "left_bytes": m.current,
            "operators": m.ops}
