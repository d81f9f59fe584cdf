"""The time-loop modules' input layout. Every neuron runs on ``[time, batch, ...]`` (time first,
as Norse and PyTorch's RNNs by default); ``time_first=False`` takes and returns ``[batch, time,
...]`` instead. Given ``steps`` (the number of time steps the caller means to run), a module
refuses input whose time dimension holds another count, naming the transposition when the other
dimension holds it: the one case a neuron cannot otherwise tell from a right input."""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import torch

from hebbtorch.errors import HebbtorchError

Out = TypeVar("Out", bound=tuple)


class TimeLayout(NamedTuple):
    """steps: expected time steps (None: any); time_first: ``[time, batch, ...]`` (True) or
    ``[batch, time, ...]`` (False)."""

    steps: int | None = None
    time_first: bool = True

    def check(self) -> TimeLayout:
        if self.steps is not None and (int(self.steps) != self.steps or self.steps < 1):
            raise HebbtorchError(f"steps must be an integer >= 1 or None, got {self.steps}")
        if not isinstance(self.time_first, bool):
            raise HebbtorchError(f"time_first must be True or False, got {self.time_first!r}")
        return self

    def inward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as ``[time, batch, ...]`` (checked against ``steps`` when given)."""
        layout = "[time, batch, ...]" if self.time_first else "[batch, time, ...]"
        if x.dim() < 2:
            raise HebbtorchError(f"currents must be {layout}, got shape {tuple(x.shape)}")
        t = 0 if self.time_first else 1  # the time dimension in the caller's layout
        if self.steps is not None and x.shape[t] != self.steps:
            swapped = x.shape[1 - t] == self.steps
            fix = ("transpose it (x.transpose(0, 1)) or make the module with time_first="
                   f"{not self.time_first}")
            raise HebbtorchError(
                f"currents must be {layout} with {self.steps} time steps, got shape "
                f"{tuple(x.shape)}" + (f": the steps are on dim {1 - t}, {fix}" if swapped else ""))
        return x if self.time_first else x.transpose(0, 1)

    def outward(self, out: Out) -> Out:
        """The output's ``[time, batch, ...]`` fields in the module's layout (state unchanged)."""
        if self.time_first:
            return out
        if isinstance(out, torch.Tensor):
            return out.transpose(0, 1)
        return out._replace(**{f: getattr(out, f).transpose(0, 1) for f in out._fields
                               if f != "state"})
