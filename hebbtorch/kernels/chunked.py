"""Chunked (checkpointed) BPTT: peak memory that grows much more slowly than the sequence.

Plain BPTT keeps every intermediate of every time step until backward. Here the sequence is run
in chunks of ``chunk`` steps; forward keeps only each chunk's input (a view of the caller's
input, so no copy), the state at the chunk boundaries (``T / chunk`` states) and the output
itself, and backward re-runs one chunk at a time before differentiating it (Chen et al. 2016,
"Training deep nets with sublinear memory cost"; over time as in Gruslys et al. 2016,
"Memory-efficient backpropagation through time"). The extra cost is one more forward pass; the
results and gradients are those of plain BPTT. Wrap the synapses together with the neurons,
since a synaptic layer's input and output are what plain BPTT keeps most of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from hebbtorch.errors import HebbtorchError


class _WriteChunk(torch.autograd.Function):
    """``out[t0:t0 + len(chunk)] = chunk`` in place; backward hands the chunk its slice of the
    grad. Writing each chunk into the output as it is made, instead of ``torch.cat`` at the end,
    means the chunks and the output never coexist: peak one output plus one chunk."""

    @staticmethod
    def forward(ctx, out: Tensor, chunk: Tensor, t0: int) -> Tensor:
        out[t0:t0 + chunk.shape[0]] = chunk
        ctx.mark_dirty(out)
        ctx.span = (t0, chunk.shape[0])
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        t0, n = ctx.span
        # the grad passed on to earlier chunks is read only at their own (disjoint) slices
        return grad, grad[t0:t0 + n], None


def chunked_bptt(
    fn: Callable[[Tensor, Any], tuple[Tensor, Any]],
    inputs: Tensor,
    state: Any = None,
    chunk: int = 50,
) -> tuple[Tensor, Any]:
    """Run ``fn(x_chunk, state) -> (out_chunk, new_state)`` over ``inputs`` ``[time, ...]`` in
    chunks of ``chunk`` steps, recomputing each chunk in backward instead of keeping it.

    ``state`` is whatever ``fn`` threads through (a NamedTuple of tensors such as ``LIFState``, or
    None at the start). ``fn`` must be deterministic (it runs twice). Returns the outputs
    ``[time, ...]`` and the final state. Without autograd it just loops over the chunks.
    """
    if int(chunk) != chunk or chunk < 1:
        raise HebbtorchError(f"chunk must be an integer >= 1, got {chunk}")
    if inputs.dim() < 1 or inputs.shape[0] == 0:
        raise HebbtorchError(
            f"inputs must be [time, ...] with time >= 1, got {tuple(inputs.shape)}"
        )
    out, t0 = None, 0
    for x in inputs.split(int(chunk), dim=0):
        if torch.is_grad_enabled():
            y, state = checkpoint(fn, x, state, use_reentrant=False)
        else:
            y, state = fn(x, state)
        if out is None:
            out = y.new_empty((inputs.shape[0], *y.shape[1:]))
        if y.requires_grad:
            out = _WriteChunk.apply(out, y, t0)
        else:
            out[t0:t0 + y.shape[0]] = y
        t0 += y.shape[0]
    return out, state
