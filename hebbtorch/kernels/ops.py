"""The per-neuron operator boilerplate, written once.

A neuron with fused kernels is two PyTorch operators, ``hebbtorch::<neuron>_forward`` and
``hebbtorch::<neuron>_backward``. :func:`neuron_ops` defines both from their schemas (typed:
the dispatcher refuses, at load time, a C++ implementation whose signature differs), adds the
neuron's C++ source (``<neuron>_cpu.cpp``, whose ``TORCH_LIBRARY_IMPL`` registers the CPU
implementations) to the CPU library, and registers the fake (meta) implementations, the CUDA
ones (Python/Triton) and the forward's autograd formula. :func:`register_neuron` then offers the
fused sequence function to :mod:`.dispatch`. A new neuron with a fused CPU path is its physics
file (``hebbtorch/neurons/<neuron>.py``), its kernel source (``<neuron>_cpu.cpp`` and
``<neuron>.py`` here, listed in ``hebbtorch.kernels.PROVIDERS``) and its tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import cpu, dispatch

_LIB = torch.library.Library("hebbtorch", "FRAGMENT")  # kept alive: the registrations live in it


class Op(NamedTuple):
    """schema: arguments and results, e.g. ``"(Tensor x, float k) -> (Tensor, Tensor)"``;
    fake: the results' shapes and dtypes from the arguments' (torch.compile, opcheck);
    cuda: the CUDA implementation (Python launching Triton), None if there is none."""

    schema: str
    fake: Callable[..., Any]
    cuda: Callable[..., Any] | None = None


def neuron_ops(neuron: str, forward: Op, backward: Op, *, grad: Callable[..., Any],
               setup_context: Callable[..., None], source: Path | None = None
               ) -> tuple[Any, Any]:
    """Define ``hebbtorch::<neuron>_forward`` / ``_backward``; the forward's autograd is
    ``grad(ctx, *grad_outputs)`` after ``setup_context(ctx, inputs, output)`` (as
    :func:`torch.library.register_autograd`). ``source``: the C++ (default
    ``<neuron>_cpu.cpp`` beside this module; it may ``#include "neuron_kernels.h"``). Returns
    the two operators."""
    cpu.library.add(source or Path(__file__).with_name(f"{neuron}_cpu.cpp"))
    ops = []
    for name, op in ((f"{neuron}_forward", forward), (f"{neuron}_backward", backward)):
        _LIB.define(name + op.schema)
        torch.library.register_fake(f"hebbtorch::{name}", op.fake, lib=_LIB)
        if op.cuda is not None:
            torch.library.register_kernel(f"hebbtorch::{name}", "cuda", op.cuda, lib=_LIB)
        ops.append(getattr(torch.ops.hebbtorch, name))
    torch.library.register_autograd(f"hebbtorch::{neuron}_forward", grad,
                                    setup_context=setup_context, lib=_LIB)
    return ops[0], ops[1]


def call(op: Any, *args: Any) -> Any:
    """``op(*args)``, a kernel's ValueError (NaN or infinite currents) as HebbtorchError."""
    try:
        return op(*args)
    except HebbtorchError:
        raise
    except ValueError as e:  # TORCH_CHECK_VALUE in the C++; the first line is the message
        raise HebbtorchError(str(e).strip().splitlines()[0]) from None


def register_neuron(name: str, run: Callable[..., Any],
                    unsupported: Callable[..., str | None]) -> None:
    """Offer a neuron's fused sequence function to :mod:`.dispatch` on the CPU (built from the
    CPU library on first use) and on CUDA (Triton compiles on first launch; ``unsupported``
    checks that Triton is there)."""
    dispatch.register(name, "cpu", run, unsupported=unsupported, load=lambda: cpu.library())
    dispatch.register(name, "cuda", run, unsupported=unsupported)
