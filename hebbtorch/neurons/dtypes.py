"""The neurons' dtype contract, one rule for every model and backend: 16-bit currents (fp16,
bf16, e.g. from autocast matmuls) are integrated into a float32 state, and every output (spikes,
membranes, state) is float32, so rounding does not accumulate over the time steps; float32 and
float64 currents keep their dtype. The gradient reaches 16-bit currents in their own dtype."""

from __future__ import annotations

import torch

LOW_PRECISION = (torch.bfloat16, torch.float16)


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of a neuron's state and outputs for currents of ``dtype``."""
    return torch.float32 if dtype in LOW_PRECISION else dtype


def promote(currents: torch.Tensor) -> torch.Tensor:
    """``currents`` in :func:`state_dtype` (a differentiable cast; no copy when already there)."""
    return currents.to(state_dtype(currents.dtype))
