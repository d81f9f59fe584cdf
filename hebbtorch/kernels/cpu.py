"""The neurons' CPU kernel library (``lif_cpu.cpp``, ``alif_cpu.cpp``, ``refractory_cpu.cpp``,
built on first use) and what the fused neurons share: which calls they take, the surrogate ids,
the grads' layout for the CUDA kernels, their registration with :mod:`.dispatch`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import torch
from torch import Tensor

from hebbtorch.errors import HebbtorchError
from hebbtorch.kernels import dispatch
from hebbtorch.kernels.build import ExtensionLibrary
from hebbtorch.neurons.dtypes import LOW_PRECISION, state_dtype  # noqa: F401 (re-exported)
from hebbtorch.neurons.surrogate import SURROGATES, get_surrogate

FLOATS = (torch.float32, torch.float64)  # what the CPU kernels compute in
# 16-bit currents (bf16 matmuls): state and outputs in fp32 (hebbtorch.neurons.dtypes); the CUDA
# LIF kernel reads them as they are, the other kernels take them cast (see kernel_currents)
# the Surrogate enum of neuron_kernels.h
SURROGATE_IDS = {n: i for i, n in enumerate(("fast_sigmoid", "arctan", "triangle",
                                             "straight_through"))}
if set(SURROGATE_IDS) != set(SURROGATES):
    raise ImportError("neuron_kernels.h must know every surrogate in hebbtorch.neurons.surrogate")

# the neurons' operators (one *_cpu.cpp per neuron, added by hebbtorch.kernels.ops.neuron_ops):
# built together on first use (cached on disk) and loaded once per process
library = ExtensionLibrary("neurons_cpu", "fused CPU kernels", prepare=dispatch.load_providers)


def available() -> bool:
    """True if the CPU kernel library builds (or is cached) and loads on this machine."""
    try:
        library()
    except HebbtorchError:
        return False
    return True


def ptr(x: Tensor | None) -> int | None:
    return None if x is None or x.numel() == 0 else x.data_ptr()


def over_time(grad: Tensor | None, like: Tensor) -> tuple[Tensor, int]:
    """A ``[T, *S]`` grad as (data, time stride): a grad broadcast over time (``out.sum()``
    gives one) keeps stride 0 instead of being materialised as T copies; a missing one is
    zeros with stride 0 (the kernels have no branches for absent grads)."""
    if grad is None:
        return torch.zeros_like(like), 0
    if grad.stride(0) == 0:
        return grad[0].contiguous(), 0
    return grad.contiguous(), like.numel()


def per_step(grad: Tensor | None, like: Tensor) -> Tensor:
    """A grad of a ``[batch, ...]`` state, zeros if absent."""
    return torch.zeros_like(like) if grad is None else grad.contiguous()


def kernel_currents(currents: Tensor, native_16bit: bool = False) -> Tensor:
    """Contiguous currents as the kernel reads them: 16-bit ones cast to the fp32 of the state
    unless the kernel reads them natively (``native_16bit``: the CUDA LIF kernel)."""
    if currents.dtype in LOW_PRECISION and not native_16bit:
        currents = currents.float()
    return currents.contiguous()


def per_neuron(x: Tensor | float, shape: torch.Size, dtype: torch.dtype,
               device: torch.device | str = "cpu") -> Tensor:
    """A float, or a tensor broadcastable to ``shape``, as a contiguous ``shape`` tensor
    (differentiable: its grads sum back to x's shape)."""
    if not isinstance(x, Tensor):  # full, not tensor(x).to(device): no host-to-device copy
        return torch.full(shape, float(x), dtype=dtype, device=device)
    return x.to(device=device, dtype=dtype).expand(shape).contiguous()


def surrogate_slope(surrogate: str, slope: float | None) -> float:
    """The slope the reference's ``spike()`` would use (the surrogate's default if None)."""
    k = get_surrogate(surrogate).default_slope if slope is None else float(slope)
    if not k > 0:
        raise HebbtorchError(f"surrogate slope must be > 0, got {k:g}")
    return k


def triton_available() -> bool:
    """True if Triton (the CUDA kernels' compiler) is importable."""
    return importlib.util.find_spec("triton") is not None


def unsupported_common(currents: Tensor, tensors: list[Tensor], *, cuda: bool = False
                       ) -> str | None:
    """Why a fused kernel can't take these currents and per-neuron tensors (None if it can).
    ``cuda``: the op also has a CUDA (Triton) kernel. 16-bit currents are taken everywhere
    (cast by :func:`kernel_currents` where the kernel does not read them natively)."""
    device = currents.device.type
    dtypes = (*FLOATS, *LOW_PRECISION)
    if device == "cuda" and cuda:
        if not triton_available():
            return "Triton is not installed (it comes with CUDA builds of PyTorch)"
    elif device != "cpu":
        return f"device {device} (no fused kernel of this neuron there)"
    if currents.dtype not in dtypes:
        return f"dtype {currents.dtype} (supported: {', '.join(map(str, dtypes))})"
    # 0-dim CPU tensors are scalars, as in torch's own ops (a LIF module not moved to the GPU)
    if any(x.device != currents.device and x.dim() > 0 for x in tensors):
        return "parameters or state on another device than the currents"
    wanted = state_dtype(currents.dtype)
    if any(x.dtype != wanted and x.dim() > 0 for x in tensors):
        return f"parameters or state of another dtype than {wanted} (type promotion)"
    shape = currents.shape[1:]
    try:
        if torch.broadcast_shapes(shape, *(x.shape for x in tensors)) != shape:
            return "parameters or state broadcast beyond the currents' shape"
    except RuntimeError as e:
        return f"parameters or state do not broadcast: {e}"
    if torch._C._are_functorch_transforms_active():
        return "inside a torch.func transform"
    return None


def use_fused(backend: str, reason: str | None, device: torch.device | None = None,
              load: Callable[[], object] | None = None) -> bool:
    """Resolve ``backend`` ("auto", "fused" or "reference") for one call of a kernel that is not
    a registered neuron (Diehl & Cook): see :func:`hebbtorch.kernels.dispatch.resolve`. ``load``
    builds the CPU kernel (default: the neurons' library); CUDA kernels compile on first launch."""
    on_cpu = device is None or device.type == "cpu"
    return dispatch.resolve(backend, reason, (load or library) if on_cpu else None)
