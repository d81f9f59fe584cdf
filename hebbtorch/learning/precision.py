"""Precision of the synaptic matmuls during training and evaluation (``TrainConfig.precision``).

- ``fp32`` (default): exact float32 matmuls and convolutions; TF32 is switched *off* for the run
  even where the process had enabled it, so results do not depend on global torch settings.
- ``tf32``: CUDA matmuls and cuDNN convolutions may use TensorFloat-32 (10-bit mantissa,
  about 3e-4 relative error per matmul), as ``torch.set_float32_matmul_precision("high")``
  does. It is a no-op on CPU: there the run is the fp32 run, bit for bit (the oneDNN CPU
  matmuls are kept at full float32 as well).
- ``bf16``: the model's forward runs under ``torch.autocast(device_type, torch.bfloat16)``
  (CPU too), so the synaptic matmuls take bfloat16 inputs (8-bit mantissa, about 1e-3 .. 1e-2
  relative error). The loss is computed in fp32 on fp32 logits, the weights and optimizer state
  stay fp32, and the neurons keep their membrane state and spikes in fp32 (16-bit currents are
  integrated into an fp32 state), so the error does not accumulate over the time steps.

Both settings are global torch state: :func:`matmul_precision` sets them for the duration of a
run and restores exactly what was there before, also when the run fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

PRECISIONS = ("fp32", "tf32", "bf16")


def _new_api() -> bool:
    """torch >= 2.9 has per-backend ``fp32_precision`` flags; mixing them with the legacy
    ``allow_tf32`` flags makes torch raise on later reads, so use only one family."""
    return hasattr(torch.backends.cuda.matmul, "fp32_precision")


def _flags() -> list[tuple[object, str]]:
    """The (namespace, attribute) pairs that decide whether float32 ops may use TF32."""
    b = torch.backends
    if _new_api():
        return [(b.cuda.matmul, "fp32_precision"), (b.cudnn.conv, "fp32_precision"),
                (b.cudnn.rnn, "fp32_precision"), (b.mkldnn.matmul, "fp32_precision"),
                (b.mkldnn.conv, "fp32_precision"), (b.mkldnn.rnn, "fp32_precision")]
    return [(b.cuda.matmul, "allow_tf32"), (b.cudnn, "allow_tf32")]


def _wanted(precision: str) -> list[object]:
    """Values for :func:`_flags` under ``precision``: TF32 only for ``tf32``, only on CUDA."""
    tf32 = precision == "tf32"
    if _new_api():
        cuda = "tf32" if tf32 else "ieee"
        return [cuda, cuda, cuda, "ieee", "ieee", "ieee"]
    return [tf32, tf32]


def tf32_state() -> tuple:
    """The current TF32 flags (to check that a run restored them)."""
    return tuple(getattr(ns, attr) for ns, attr in _flags())


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Set the TF32 flags for ``precision`` (fp32/bf16: off, tf32: on for CUDA) and restore
    the previous values on exit."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    flags = _flags()
    saved = [getattr(ns, attr) for ns, attr in flags]
    try:
        for (ns, attr), value in zip(flags, _wanted(precision), strict=True):
            setattr(ns, attr, value)
        yield
    finally:
        for (ns, attr), value in zip(flags, saved, strict=True):
            setattr(ns, attr, value)


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """Context for a model forward: bf16 autocast for ``bf16``, nothing otherwise."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
